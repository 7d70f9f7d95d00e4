//! Reports: a JSON file per run (machine, git commit, full configuration, every figure)
//! and markdown tables on standard output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use crate::load::LoadResult;

/// The machine a run was measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPUs available to the process.
    pub cpus: usize,
    /// CPU model, from /proc/cpuinfo where there is one.
    pub cpu_model: Option<String>,
    /// Memory, from /proc/meminfo where there is one.
    pub memory_mib: Option<u64>,
    /// Operating system and architecture.
    pub os: String,
}

impl Machine {
    /// Describes this machine.
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split(':').nth(1))
                .map(|v| v.trim().to_string())
        };
        Machine {
            cpus: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            cpu_model: field(&cpuinfo, "model name"),
            memory_mib: field(&meminfo, "MemTotal")
                .and_then(|kb| kb.trim_end_matches(" kB").parse::<u64>().ok())
                .map(|kb| kb / 1024),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

/// One labelled measurement of a scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    /// What was measured ("hedging on", "400 q/s", "8 shards"…).
    pub label: String,
    /// The scenario-specific setting that varies (a rate, a shard count), if any.
    pub x: Option<f64>,
    /// The figures.
    pub result: LoadResult,
}

/// Everything a scenario run produced.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// When it ran, in unix seconds.
    pub unix_time: u64,
    /// The git commit of the code measured.
    pub git_commit: String,
    /// The machine.
    pub machine: Machine,
    /// The full configuration (command-line arguments and derived settings).
    pub config: Value,
    /// The measurements, in order.
    pub measurements: Vec<Measurement>,
    /// Scenario-specific conclusions (a saturation rate, ratios).
    pub summary: Value,
}

impl RunReport {
    /// A report for `scenario` with its configuration.
    pub fn new(scenario: &str, config: Value) -> RunReport {
        RunReport {
            scenario: scenario.to_string(),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            git_commit: git_commit(),
            machine: Machine::describe(),
            config,
            measurements: Vec::new(),
            summary: Value::Null,
        }
    }

    /// Writes `<dir>/<scenario>-<unix time>.json`; returns its path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}-{}.json", self.scenario, self.unix_time));
        std::fs::write(&path, serde_json::to_string_pretty(self)?)?;
        Ok(path)
    }

    /// The measurements as a markdown table.
    pub fn markdown(&self) -> String {
        let mut table = String::from(
            "| run | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | partial | overflow | hedged | leaf req/query | extra leaf req | leaf KiB/query |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for measurement in &self.measurements {
            let r = &measurement.result;
            let errors: u64 = r.errors.values().sum();
            let optional = |value: Option<f64>, unit: &str| value.map_or("-".to_string(), |v| format!("{v:.2}{unit}"));
            table.push_str(&format!(
                "| {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {} |\n",
                measurement.label,
                r.offered_rate,
                r.achieved_rate,
                r.latency.p50_ms,
                r.latency.p90_ms,
                r.latency.p99_ms,
                r.latency.p999_ms,
                r.latency.max_ms,
                errors,
                r.partial,
                r.overflow,
                r.hedged,
                optional(r.leaf_requests_per_query, ""),
                optional(r.extra_leaf_requests_percent, "%"),
                optional(r.leaf_response_bytes_per_query.map(|bytes| bytes / 1024.0), ""),
            ));
        }
        let kinds: Vec<String> = self
            .measurements
            .iter()
            .filter(|m| !m.result.errors.is_empty())
            .map(|m| format!("{}: {:?}", m.label, m.result.errors))
            .collect();
        if !kinds.is_empty() {
            table.push_str(&format!("\nerrors by kind: {}\n", kinds.join("; ")));
        }
        table
    }
}

/// The commit of the working tree, or "unknown".
fn git_commit() -> String {
    let output = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output();
    match output {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).trim().to_string(),
        _ => "unknown".into(),
    }
}

/// A latency histogram's percentile spectrum: (percentile, milliseconds) from p0 to the
/// maximum, for plots.
pub fn spectrum(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    histogram
        .iter_quantiles(2)
        .map(|step| (step.quantile_iterated_to() * 100.0, step.value_iterated_to() as f64 / 1000.0))
        .collect()
}

/// Seconds as a `Duration` (clap helper).
pub fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s >= 0.0 && s.is_finite())
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("expected seconds, got {text:?}"))
}
