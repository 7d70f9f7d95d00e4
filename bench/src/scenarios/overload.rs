//! `overload`: what the root does when offered more than it can serve. Its capacity is
//! measured first (closed loop, one client per admission slot, so every slot is busy and
//! none is refused), then
//! the same cluster is offered 0.5×, 1×, 2× and 3× of it, open loop. The same steps run
//! against a root with admission control effectively off (a bound no load reaches), the
//! collapse the bound exists to prevent, in the same run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fanout_root::config::AdmissionConfig;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;

use super::common::{RunArgs, measure};
use super::corpus::QueryCorpus;
use crate::cluster::{BenchCluster, ClusterArgs, ClusterSpec};
use crate::load::LoadConfig;
use crate::plot::{Chart, Series, draw};
use crate::report::{Measurement, RunReport};
use crate::target::{HttpTarget, Target};

/// Arguments of `overload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: QueryCorpus,
    /// Shards.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Leaf servers per shard.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Offered load as multiples of the measured capacity.
    #[arg(long, value_delimiter = ',', default_value = "0.5,1,2,3")]
    factors: Vec<f64>,
    /// Skip measuring capacity: use this many queries per second.
    #[arg(long)]
    capacity: Option<f64>,
    /// Clients of the closed-loop capacity measurement (default: the admission bound, so
    /// that every slot is busy and none is refused).
    #[arg(long)]
    capacity_clients: Option<usize>,
    /// Seconds of the capacity measurement (after one second of warm-up).
    #[arg(long, default_value_t = 5.0)]
    capacity_seconds: f64,
    /// The admission bound under test: searches in flight at the root.
    #[arg(long, default_value_t = AdmissionConfig::default().max_in_flight)]
    admission_in_flight: usize,
    /// The admission bound under test: searches waiting at the root.
    #[arg(long, default_value_t = AdmissionConfig::default().max_queue)]
    admission_queue: usize,
    /// The admission bound under test: how long a search may wait, in milliseconds.
    #[arg(long, default_value_t = AdmissionConfig::default().queue_timeout_ms)]
    admission_queue_timeout_ms: u64,
    /// Leave out the run without admission control.
    #[arg(long)]
    skip_unbounded: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    run: RunArgs,
}

/// One step's figures as the overload table shows them.
#[derive(Debug, Serialize)]
struct Step {
    admission: &'static str,
    factor: f64,
    offered_per_sec: f64,
    admitted_p50_ms: f64,
    admitted_p99_ms: f64,
    admitted_p999_ms: f64,
    rejected_percent: f64,
    goodput_per_sec: f64,
    goodput_percent_of_capacity: f64,
    rejection_p99_ms: f64,
    /// The p99 of the root's own time to refuse (its histogram's bucket bound).
    root_refusal_p99_ms: Option<f64>,
    partial: u64,
    other_errors: u64,
    peak_rss_mib: Option<f64>,
}

/// Runs `overload`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = args.input.prepare(100_000)?;
    let index = input.index(args.shards)?;
    let bounded = AdmissionConfig {
        max_in_flight: args.admission_in_flight,
        max_queue: args.admission_queue,
        queue_timeout_ms: args.admission_queue_timeout_ms,
        ..AdmissionConfig::default()
    };
    let unbounded = AdmissionConfig { max_in_flight: 1 << 20, max_queue: 0, ..AdmissionConfig::default() };
    let mut configurations = vec![("on", bounded.clone())];
    if !args.skip_unbounded {
        configurations.push(("off", unbounded));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut capacity = args.capacity;
    let mut steps = Vec::new();
    let mut measurements = Vec::new();
    for (name, admission) in &configurations {
        let spec = ClusterSpec { replicas: args.replicas, admission: admission.clone(), ..ClusterSpec::default() };
        runtime.block_on(async {
            let cluster = BenchCluster::start(&index, &spec, &args.cluster).await?;
            let target: Arc<dyn Target> = Arc::new(HttpTarget::new(&cluster.url(), args.run.limit)?);
            let capacity = match capacity {
                Some(capacity) => capacity,
                None => {
                    let measured = closed_loop_capacity(target.clone(), &input.queries, &args).await;
                    eprintln!("capacity: {measured:.0} complete answers/s ({} clients)", capacity_clients(&args));
                    *capacity.get_or_insert(measured)
                }
            };
            for factor in &args.factors {
                let rate = factor * capacity;
                // The client bound must not hide a collapse: far above what the root admits.
                let config = LoadConfig { max_in_flight: 16_384, ..args.run.load.config(rate) };
                reset_peak_rss();
                let label = format!("admission {name}, {factor}× capacity");
                let before = refusal_buckets(&cluster.url()).await;
                let result = measure(target.clone(), &input.queries, &config, &label).await;
                let after = refusal_buckets(&cluster.url()).await;
                let rejected = result.rejected;
                let other_errors = result.errors.values().sum::<u64>() - rejected;
                steps.push(Step {
                    admission: name,
                    factor: *factor,
                    offered_per_sec: rate,
                    admitted_p50_ms: result.answered_latency.p50_ms,
                    admitted_p99_ms: result.answered_latency.p99_ms,
                    admitted_p999_ms: result.answered_latency.p999_ms,
                    rejected_percent: 100.0 * rejected as f64 / result.completed.max(1) as f64,
                    goodput_per_sec: result.goodput,
                    goodput_percent_of_capacity: 100.0 * result.goodput / capacity,
                    rejection_p99_ms: result.rejection_latency.p99_ms,
                    root_refusal_p99_ms: bucket_quantile(&before, &after, 0.99).map(|seconds| seconds * 1000.0),
                    partial: result.partial,
                    other_errors,
                    peak_rss_mib: peak_rss_mib(),
                });
                measurements.push(Measurement { label, x: Some(*factor), result });
                // Let a collapsed root drain before the next step.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            cluster.shutdown().await
        })?;
    }
    let capacity = capacity.unwrap_or_default();
    let mut report = RunReport::new(
        "overload",
        json!({"data": args.input.corpus.data, "queries": args.input.queries, "queries_empty_after_escaping": input.empty,
               "shards": args.shards, "replicas": args.replicas, "factors": args.factors, "capacity_per_sec": capacity,
               "capacity_measured": args.capacity.is_none(), "capacity_clients": capacity_clients(&args),
               "admission": bounded, "cluster": args.cluster, "run": args.run,
               "memory": "peak resident set of the bench process, which runs root and leaves in process (cleared before each step)"}),
    );
    report.measurements = measurements;
    let on: Vec<&Step> = steps.iter().filter(|step| step.admission == "on").collect();
    let at = |factor: f64| on.iter().find(|step| (step.factor - factor).abs() < 1e-9);
    let targets = match (at(0.5), on.iter().max_by(|a, b| a.factor.total_cmp(&b.factor))) {
        (Some(calm), Some(worst)) => json!({
            "admitted_p99_ratio_worst_to_half": worst.admitted_p99_ms / calm.admitted_p99_ms.max(f64::MIN_POSITIVE),
            "goodput_percent_of_capacity_at_worst": worst.goodput_percent_of_capacity,
            "rejection_p99_ms_at_worst": worst.rejection_p99_ms,
            "partial_at_worst": worst.partial,
            "worst_factor": worst.factor,
        }),
        _ => serde_json::Value::Null,
    };
    println!("{}", table(&steps));
    report.summary = json!({"capacity_per_sec": capacity, "steps": steps, "targets": targets});
    let series: Vec<Series> = configurations
        .iter()
        .map(|(name, _)| Series {
            label: format!("admitted p99, admission {name}"),
            points: steps
                .iter()
                .filter(|step| step.admission == *name)
                .map(|step| (step.factor, step.admitted_p99_ms.max(0.001)))
                .collect(),
        })
        .collect();
    let chart = Chart {
        title: "admitted p99 against offered load",
        x_label: "offered load (× capacity)",
        y_label: "p99 of complete answers (ms)",
        nines: false,
        log_y: true,
    };
    let plots = draw(&args.run.output.out.join(format!("overload-{}", report.unix_time)), &chart, &series)?;
    args.run.output.finish(&report, &plots)
}

/// Complete answers per second with `capacity_clients` clients each sending its next
/// query as soon as the last one is answered.
async fn closed_loop_capacity(target: Arc<dyn Target>, queries: &[String], args: &Args) -> f64 {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let queries: Arc<[String]> = queries.into();
    let clients: Vec<_> = (0..capacity_clients(args))
        .map(|client| {
            let (target, measuring, stop, answered) =
                (target.clone(), measuring.clone(), stop.clone(), answered.clone());
            let queries = queries.clone();
            let mut sample = ChaCha8Rng::seed_from_u64(args.run.load.seed ^ client as u64);
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let query = queries[sample.random_range(0..queries.len())].clone();
                    if let Ok(reply) = target.search(query).await
                        && !reply.partial
                        && measuring.load(Ordering::Relaxed)
                    {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.capacity_seconds)).await;
    let count = answered.load(Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let _ = client.await;
    }
    count as f64 / seconds
}

/// Clients of the capacity measurement.
fn capacity_clients(args: &Args) -> usize {
    args.capacity_clients.unwrap_or(args.admission_in_flight)
}

/// The overload table in markdown.
fn table(steps: &[Step]) -> String {
    let mut table = String::from(
        "| admission | offered | offered/s | admitted p50 ms | p99 ms | p99.9 ms | rejected | goodput/s | goodput/capacity | rejection p99 ms | at the root ≤ ms | partial | other errors | peak RSS MiB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for step in steps {
        table.push_str(&format!(
            "| {} | {}× | {:.0} | {:.2} | {:.2} | {:.2} | {:.1}% | {:.0} | {:.0}% | {:.3} | {} | {} | {} | {} |\n",
            step.admission,
            step.factor,
            step.offered_per_sec,
            step.admitted_p50_ms,
            step.admitted_p99_ms,
            step.admitted_p999_ms,
            step.rejected_percent,
            step.goodput_per_sec,
            step.goodput_percent_of_capacity,
            step.rejection_p99_ms,
            step.root_refusal_p99_ms.map_or("-".into(), |ms| format!("{ms}")),
            step.partial,
            step.other_errors,
            step.peak_rss_mib.map_or("-".into(), |mib| format!("{mib:.0}")),
        ));
    }
    table
}

/// The cumulative buckets of the root's refusal-time histogram: (upper bound in
/// seconds, count), from its `/metrics`.
async fn refusal_buckets(base: &str) -> Vec<(f64, u64)> {
    let Ok(response) = reqwest::get(format!("{base}/metrics")).await else { return Vec::new() };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("fanout_root_refusal_duration_seconds_bucket{le=\"")?;
            let (bound, count) = rest.split_once("\"}")?;
            let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

/// The bucket bound under which `quantile` of the samples between two readings fall.
fn bucket_quantile(before: &[(f64, u64)], after: &[(f64, u64)], quantile: f64) -> Option<f64> {
    let deltas: Vec<(f64, u64)> = after
        .iter()
        .map(|(bound, count)| {
            let earlier = before.iter().find(|(b, _)| b == bound).map_or(0, |(_, c)| *c);
            (*bound, count.saturating_sub(earlier))
        })
        .collect();
    let total = deltas.iter().map(|(_, count)| *count).max()?;
    if total == 0 {
        return None;
    }
    deltas.iter().find(|(_, count)| *count as f64 >= quantile * total as f64).map(|(bound, _)| *bound)
}

/// Clears the process's peak resident set (Linux: `/proc/self/clear_refs`), so the next
/// reading covers one step.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident set since the last reset, in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::bucket_quantile;

    #[test]
    fn the_quantile_of_a_histogram_between_two_readings_is_its_bucket_bound() {
        let before = [(0.0001, 10), (0.001, 10), (0.01, 10), (f64::INFINITY, 10)];
        // 100 new samples: 98 under 100 µs, 1 more under 1 ms, 1 more under 10 ms.
        let after = [(0.0001, 108), (0.001, 109), (0.01, 110), (f64::INFINITY, 110)];
        assert_eq!(bucket_quantile(&before, &after, 0.5), Some(0.0001));
        assert_eq!(bucket_quantile(&before, &after, 0.99), Some(0.001));
        assert_eq!(bucket_quantile(&before, &after, 1.0), Some(0.01));
        assert_eq!(bucket_quantile(&after, &after, 0.99), None, "no samples in between");
    }
}
