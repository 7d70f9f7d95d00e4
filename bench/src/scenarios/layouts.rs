//! `layouts`: the document-partitioned and the term-partitioned layout of the same
//! corpus, under the same queries: latency at a fixed rate, leaf requests and bytes of
//! leaf answers per query, and the highest rate each sustains under a p99 bound. Two
//! query sets: every word of each query (a disjunction) and its first two words both
//! required (a conjunction).

use std::sync::Arc;

use fanout_indexer::Layout;
use fanout_indexer::builder::dir_size;
use fanout_root::search::free_text::default_tokens;
use serde_json::json;

use super::common::{RunArgs, measure};
use super::corpus::QueryCorpus;
use crate::cluster::{BenchCluster, ClusterArgs, ClusterSpec};
use crate::load::LoadResult;
use crate::plot::{Chart, Series, draw};
use crate::report::{Measurement, RunReport};
use crate::target::HttpTarget;

/// Arguments of `layouts`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: QueryCorpus,
    /// Shards of each layout.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Leaf servers per shard.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Offered rates of the throughput sweep, in queries per second, increasing.
    #[arg(long, value_delimiter = ',', default_value = "200,400,800,1600")]
    rates: Vec<f64>,
    /// The p99 bound, in milliseconds, that the best rate must keep.
    #[arg(long, default_value_t = 20.0)]
    p99_bound_ms: f64,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    run: RunArgs,
}

const LAYOUTS: [Layout; 2] = [Layout::Document, Layout::Term];

/// Runs `layouts`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = args.input.prepare(100_000)?;
    let (any_word, both_words) = query_sets(&input.queries);
    let mut report = RunReport::new(
        "layouts",
        json!({"data": args.input.corpus.data, "queries": args.input.queries, "queries_empty_after_escaping": input.empty,
               "disjunctive_queries": any_word.len(), "conjunctive_queries": both_words.len(),
               "shards": args.shards, "replicas": args.replicas, "rates": args.rates, "p99_bound_ms": args.p99_bound_ms,
               "cluster": args.cluster, "run": args.run}),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut summary = serde_json::Map::new();
    let mut series = Vec::new();
    for layout in LAYOUTS {
        let index = input.index_in(args.shards, layout)?;
        let index_mib = dir_size(&index)? as f64 / 1048576.0;
        let spec = ClusterSpec { replicas: args.replicas, ..ClusterSpec::default() };
        let (fixed, sweep) = runtime.block_on(async {
            let cluster = BenchCluster::start(&index, &spec, &args.cluster).await?;
            let target = Arc::new(HttpTarget::new(&cluster.url(), args.run.limit)?);
            let rate = args.run.load.rate;
            let mut fixed = Vec::new();
            for (set, queries) in [("any word", &any_word), ("two words required", &both_words)] {
                let label = format!("{layout}: {set} at {rate} q/s");
                fixed.push((set, measure(target.clone(), queries, &args.run.load.config(rate), &label).await));
            }
            let mut sweep = Vec::new();
            for rate in &args.rates {
                let label = format!("{layout}: any word at {rate} q/s");
                let result = measure(target.clone(), &any_word, &args.run.load.config(*rate), &label).await;
                let saturated = result.achieved_rate < 0.9 * rate || result.overflow > 0;
                sweep.push((*rate, result));
                if saturated {
                    break;
                }
            }
            cluster.shutdown().await?;
            anyhow::Ok((fixed, sweep))
        })?;
        let best_rate = sweep
            .iter()
            .filter(|(rate, r)| r.latency.p99_ms <= args.p99_bound_ms && r.achieved_rate >= 0.9 * rate)
            .map(|(rate, _)| *rate)
            .fold(None, |best: Option<f64>, rate| Some(best.map_or(rate, |b| b.max(rate))));
        summary.insert(layout.name().to_string(), layout_summary(&fixed, best_rate, index_mib));
        series.push(Series {
            label: layout.name().to_string(),
            points: sweep.iter().map(|(rate, r)| (*rate, r.latency.p99_ms)).collect(),
        });
        for (set, result) in fixed {
            report.measurements.push(Measurement { label: format!("{layout}: {set}"), x: None, result });
        }
        for (rate, result) in sweep {
            report.measurements.push(Measurement {
                label: format!("{layout}: any word, sweep"),
                x: Some(rate),
                result,
            });
        }
    }
    report.summary = serde_json::Value::Object(summary);
    let title = format!("{} shards x {} replicas: p99 against offered rate", args.shards, args.replicas);
    let chart = Chart { title: &title, x_label: "offered rate (q/s)", y_label: "p99 (ms)", nines: false, log_y: true };
    let plots = draw(&args.run.output.out.join(format!("layouts-{}", report.unix_time)), &chart, &series)?;
    args.run.output.finish(&report, &plots)
}

/// Each query's words as the default tokenizer cuts them (so that no query holds a
/// phrase the term layout would refuse): all of them, and the first two both required.
fn query_sets(queries: &[String]) -> (Vec<String>, Vec<String>) {
    let mut any_word = Vec::new();
    let mut both_words = Vec::new();
    for query in queries {
        let words = default_tokens(query);
        if words.is_empty() {
            continue;
        }
        if words.len() >= 2 {
            both_words.push(format!("+{} +{}", words[0], words[1]));
        }
        any_word.push(words.join(" "));
    }
    (any_word, both_words)
}

fn layout_summary(fixed: &[(&str, LoadResult)], best_rate: Option<f64>, index_mib: f64) -> serde_json::Value {
    let sets: serde_json::Map<String, serde_json::Value> = fixed
        .iter()
        .map(|(set, r)| {
            let figures = json!({
                "p50_ms": r.latency.p50_ms,
                "p99_ms": r.latency.p99_ms,
                "leaf_requests_per_query": r.leaf_requests_per_query,
                "leaf_response_kib_per_query": r.leaf_response_bytes_per_query.map(|bytes| bytes / 1024.0),
                "errors": r.errors.values().sum::<u64>(),
            });
            (set.to_string(), figures)
        })
        .collect();
    json!({"index_mib": index_mib, "max_rate_under_p99_bound": best_rate, "at_fixed_rate": sets})
}
