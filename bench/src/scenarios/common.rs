//! What every load scenario shares: the load settings, where reports go, the progress bar.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::load::{LoadConfig, LoadResult, run_load};
use crate::report::{RunReport, seconds};
use crate::schedule::Arrivals;
use crate::target::Target;

/// Load settings.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct LoadArgs {
    /// Offered queries per second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Measured seconds per run.
    #[arg(long, default_value = "8", value_parser = seconds)]
    pub duration: Duration,
    /// Warm-up seconds per run, excluded from the figures.
    #[arg(long, default_value = "2", value_parser = seconds)]
    pub warmup: Duration,
    /// Spacing of arrivals.
    #[arg(long, value_enum, default_value_t = Arrivals::Poisson)]
    pub arrivals: Arrivals,
    /// Requests in flight at most; more are counted as overflow.
    #[arg(long, default_value_t = 512)]
    pub max_in_flight: usize,
    /// Seed of arrivals and query sampling.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

impl LoadArgs {
    /// The engine's configuration at `rate`.
    pub fn config(&self, rate: f64) -> LoadConfig {
        LoadConfig {
            rate,
            arrivals: self.arrivals,
            warmup: self.warmup,
            duration: self.duration,
            max_in_flight: self.max_in_flight,
            seed: self.seed,
            in_order: false,
        }
    }
}

/// What every open-loop scenario takes: hits per query, the load, where results go.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct RunArgs {
    /// Hits per query.
    #[arg(long, default_value_t = 10)]
    pub limit: u32,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    #[serde(skip)]
    pub output: OutputArgs,
}

/// Where results go.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct OutputArgs {
    /// Directory for the JSON report and the plots.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

impl OutputArgs {
    /// Writes the report, prints the table, and says where the files are.
    pub fn finish(&self, report: &RunReport, plots: &[PathBuf]) -> anyhow::Result<()> {
        let path = report.write(&self.out)?;
        println!("{}", report.markdown());
        if !report.summary.is_null() {
            println!("summary: {}", serde_json::to_string_pretty(&report.summary)?);
        }
        eprintln!("report: {}", path.display());
        for plot in plots {
            eprintln!("plot: {}", plot.display());
        }
        Ok(())
    }
}

/// Runs one load with a progress bar labelled `label`.
pub async fn measure(target: Arc<dyn Target>, queries: &[String], config: &LoadConfig, label: &str) -> LoadResult {
    let total = (config.rate * (config.warmup + config.duration).as_secs_f64()).round() as u64;
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:28} [{bar:30}] {pos}/{len} requests ({elapsed})")
            .expect("a template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    let result = run_load(target, queries, config, Some(&bar)).await;
    bar.finish_and_clear();
    eprintln!(
        "{label}: p50 {:.2} ms, p99 {:.2} ms, {:.1}/s achieved",
        result.latency.p50_ms, result.latency.p99_ms, result.achieved_rate
    );
    result
}
