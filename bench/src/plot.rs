//! Plots as SVG and PNG (plotters). Text uses DejaVu Sans, embedded in the binary and
//! registered at run time, so plots need no system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
];

fn register() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        if register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_err() {
            eprintln!("warning: the embedded font could not be registered; plot text may be missing");
        }
    });
}

/// One line of a chart.
pub struct Series {
    /// Its legend.
    pub label: String,
    /// Its points.
    pub points: Vec<(f64, f64)>,
}

/// How a chart's axes are laid out.
pub struct Chart<'a> {
    /// Title above the chart.
    pub title: &'a str,
    /// X axis label.
    pub x_label: &'a str,
    /// Y axis label.
    pub y_label: &'a str,
    /// X axis in "nines" (0 → p0, 1 → p90, 2 → p99, 3 → p99.9): a latency spectrum.
    pub nines: bool,
    /// Logarithmic Y axis.
    pub log_y: bool,
}

/// Draws `series` into `<stem>.svg` and `<stem>.png`; returns both paths.
pub fn draw(stem: &Path, chart: &Chart<'_>, series: &[Series]) -> anyhow::Result<Vec<PathBuf>> {
    register();
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    render(SVGBackend::new(&svg, (900, 560)).into_drawing_area(), chart, series).map_err(|e| anyhow::anyhow!("{e}"))?;
    render(BitMapBackend::new(&png, (900, 560)).into_drawing_area(), chart, series)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(vec![svg, png])
}

/// A percentile on the "nines" axis: 90% → 1, 99% → 2, 99.9% → 3.
pub fn nines(percentile: f64) -> f64 {
    -(1.0 - percentile / 100.0).max(1e-6).log10()
}

fn render<DB: DrawingBackend>(area: DrawingArea<DB, Shift>, chart: &Chart<'_>, series: &[Series]) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(|e| e.to_string())?;
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_min, mut y_max) = (f64::MIN, f64::MAX, f64::MIN);
    let mut x_min = f64::MAX;
    for (x, y) in points {
        x_min = x_min.min(*x);
        x_max = x_max.max(*x);
        y_min = y_min.min(*y);
        y_max = y_max.max(*y);
    }
    if x_min > x_max {
        return Err("nothing to plot".into());
    }
    if x_min == x_max {
        x_max = x_min + 1.0;
    }
    if chart.nines {
        // Whole nines: ticks at 0%, 90%, 99%, 99.9%…
        x_min = 0.0;
        x_max = x_max.ceil().max(1.0);
    }
    let y_low = if chart.log_y { (y_min.max(0.001)) * 0.8 } else { 0.0 };
    let y_high = y_max * if chart.log_y { 1.5 } else { 1.1 };
    let mut builder = ChartBuilder::on(&area);
    builder.caption(chart.title, ("sans-serif", 22)).margin(15).x_label_area_size(45).y_label_area_size(70);
    let nines_format = |x: &f64| {
        let percentile = 100.0 * (1.0 - 10f64.powf(-x));
        if percentile < 99.0 { format!("{percentile:.0}%") } else { format!("{percentile:.1}%") }
    };
    macro_rules! finish {
        ($context:expr) => {{
            let mut context = $context;
            let mut mesh = context.configure_mesh();
            mesh.x_desc(chart.x_label).y_desc(chart.y_label).label_style(("sans-serif", 14)).y_labels(12);
            if chart.nines {
                mesh.x_labels(x_max as usize + 1).x_label_formatter(&nines_format);
            }
            mesh.draw().map_err(|e| e.to_string())?;
            for (index, line) in series.iter().enumerate() {
                let color = COLORS[index % COLORS.len()];
                context
                    .draw_series(LineSeries::new(line.points.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(line.label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
            context
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(|e| e.to_string())?;
        }};
    }
    if chart.log_y {
        finish!(builder.build_cartesian_2d(x_min..x_max, (y_low..y_high).log_scale()).map_err(|e| e.to_string())?);
    } else {
        finish!(builder.build_cartesian_2d(x_min..x_max, y_low..y_high).map_err(|e| e.to_string())?);
    }
    area.present().map_err(|e| e.to_string())
}

/// Each measurement's latency spectrum, p0 to p99.99, on a "nines" axis: one series per
/// measurement, labelled as it is.
pub fn spectra(measurements: &[crate::report::Measurement]) -> Vec<Series> {
    measurements
        .iter()
        .map(|m| Series {
            label: m.label.clone(),
            points: crate::report::spectrum(&m.result.histogram)
                .into_iter()
                .map(|(p, ms)| (nines(p), ms))
                .filter(|(x, _)| *x <= 4.0)
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_svg_and_png_with_text() {
        let dir = tempfile::tempdir().unwrap();
        let series = vec![
            Series { label: "hedging off".into(), points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 50.0), (3.0, 55.0)] },
            Series { label: "hedging on".into(), points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (3.0, 7.0)] },
        ];
        let chart = Chart { title: "latency", x_label: "percentile", y_label: "ms", nines: true, log_y: true };
        let files = draw(&dir.path().join("spectrum"), &chart, &series).unwrap();
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.contains("hedging on") && svg.contains("99.0%"), "legend and nines labels in the SVG");
        let png = std::fs::read(&files[1]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
    }
}
