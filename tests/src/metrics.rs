//! Values read out of Prometheus text (`/metrics`, or `fanout_contracts::telemetry::render`).

/// The sum of every sample of `name` whose labels include all of `labels`; 0 when there
/// is none (a series not yet created counts nothing).
pub fn sample_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let has = |(key, wanted): &(&str, &str)| {
                series_labels.split(',').any(|pair| pair == format!("{key}=\"{wanted}\""))
            };
            labels.iter().all(has).then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_matching_series() {
        let text = "# HELP x_total help\n# TYPE x_total counter\nx_total{shard=\"0\",stage=\"queued\"} 2\n\
                    x_total{shard=\"0\",stage=\"running\"} 3\nx_total{shard=\"1\",stage=\"queued\"} 5\ny 7\n";
        assert_eq!(sample_sum(text, "x_total", &[("shard", "0"), ("stage", "queued")]), 2.0);
        assert_eq!(sample_sum(text, "x_total", &[("shard", "0")]), 5.0);
        assert_eq!(sample_sum(text, "x_total", &[]), 10.0);
        assert_eq!(sample_sum(text, "y", &[]), 7.0);
        assert_eq!(sample_sum(text, "z", &[]), 0.0);
    }
}
