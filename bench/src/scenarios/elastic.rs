//! `elastic`: what the Elasticsearch API costs over fanout's own. One cluster of real gRPC
//! leaves in this process (result cache off), the same queries one at a time through
//! both APIs, interleaved query by query (which API goes first alternates), so both see
//! the same machine: the native `POST /api/v1/search {"query": …}` and
//! `POST /_elastic/bench/_search {"query": {"query_string": {"query": …}}}`, the same
//! query in both. Each pair of answers is compared (ids and total), so the figures are of
//! equal work.

use std::collections::BTreeMap;
use std::time::Instant;

use fanout_cli::local::{LocalCluster, LocalOptions};
use fanout_root::config::CacheConfig;
use serde_json::{Value, json};

use super::common::OutputArgs;
use super::corpus::QueryCorpus;
use crate::load::LoadResult;
use crate::report::{Measurement, RunReport};
use crate::stats::{histogram, record};

/// Arguments of `elastic`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: QueryCorpus,
    /// Shards behind the root.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Measured queries (each asked through both APIs).
    #[arg(long, default_value_t = 2000)]
    count: usize,
    /// Warm-up queries (taken after the measured ones, never measured).
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Hits per query.
    #[arg(long, default_value_t = 10)]
    limit: u32,
    #[command(flatten)]
    output: OutputArgs,
}

/// The two ways to ask.
#[derive(Clone, Copy)]
enum Api {
    Native,
    Elastic,
}

/// One answer reduced to what both APIs must agree on.
#[derive(Debug, PartialEq)]
struct Answer {
    ids: Vec<String>,
    total: u64,
}

async fn ask(client: &reqwest::Client, base: &str, api: Api, query: &str, limit: u32) -> Result<Answer, String> {
    let (url, body) = match api {
        Api::Native => (format!("{base}/api/v1/search"), json!({"query": query, "limit": limit})),
        Api::Elastic => (
            format!("{base}/_elastic/bench/_search"),
            json!({"query": {"query_string": {"query": query}}, "size": limit}),
        ),
    };
    let response = client.post(url).json(&body).send().await.map_err(|_| "transport".to_string())?;
    if !response.status().is_success() {
        return Err(format!("http_{}", response.status().as_u16()));
    }
    let answer: Value = response.json().await.map_err(|_| "invalid_answer".to_string())?;
    Ok(match api {
        Api::Native => Answer {
            ids: answer["hits"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|hit| hit["id"].as_str())
                .map(String::from)
                .collect(),
            total: answer["total_hits"].as_u64().unwrap_or_default(),
        },
        Api::Elastic => Answer {
            ids: (answer["hits"]["hits"].as_array().into_iter().flatten())
                .filter_map(|hit| hit["_id"].as_str())
                .map(String::from)
                .collect(),
            total: answer["hits"]["total"]["value"].as_u64().unwrap_or_default(),
        },
    })
}

/// Runs `elastic`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = args.input.prepare(args.count + args.warmup)?;
    let index = input.index(args.shards)?;
    let queries = &input.queries;
    anyhow::ensure!(queries.len() > args.warmup, "{} has too few queries", args.input.queries.display());
    let (measured, warmup) = queries.split_at(args.count.min(queries.len() - args.warmup));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (native, elastic, disagreements) = runtime.block_on(async {
        let options =
            LocalOptions { cache: CacheConfig { enabled: false, ..CacheConfig::default() }, ..LocalOptions::default() };
        let cluster = LocalCluster::start(&index, &options).await?;
        let base = format!("http://{}", cluster.http_address);
        let client = reqwest::Client::new();
        // Warm both paths, and the root's statistics for every measured query.
        for query in warmup.iter().chain(measured) {
            let _ = ask(&client, &base, Api::Native, query, args.limit).await;
            let _ = ask(&client, &base, Api::Elastic, query, args.limit).await;
        }
        let mut latencies = [histogram(), histogram()];
        let mut errors: [BTreeMap<String, u64>; 2] = Default::default();
        let mut seconds = [0.0; 2];
        let mut disagreements = 0u64;
        for (n, query) in measured.iter().enumerate() {
            let order = if n % 2 == 0 { [Api::Native, Api::Elastic] } else { [Api::Elastic, Api::Native] };
            let mut answers: [Option<Answer>; 2] = [None, None];
            for api in order {
                let slot = matches!(api, Api::Elastic) as usize;
                let sent = Instant::now();
                let outcome = ask(&client, &base, api, query, args.limit).await;
                let elapsed = sent.elapsed();
                record(&mut latencies[slot], elapsed);
                seconds[slot] += elapsed.as_secs_f64();
                match outcome {
                    Ok(answer) => answers[slot] = Some(answer),
                    Err(kind) => *errors[slot].entry(kind).or_default() += 1,
                }
            }
            if let [Some(native), Some(elastic)] = &answers
                && native != elastic
            {
                disagreements += 1;
            }
        }
        cluster.shutdown().await?;
        let [native_latency, elastic_latency] = latencies;
        let [native_errors, elastic_errors] = errors;
        anyhow::Ok((
            LoadResult::closed_loop(native_latency, native_errors, seconds[0]),
            LoadResult::closed_loop(elastic_latency, elastic_errors, seconds[1]),
            disagreements,
        ))
    })?;
    let mut report = RunReport::new(
        "elastic",
        json!({"data": args.input.corpus.data, "queries": args.input.queries, "queries_empty_after_escaping": input.empty,
               "shards": args.shards, "count": measured.len(), "warmup": warmup.len(), "limit": args.limit,
               "mode": "closed loop, one query at a time, the two APIs interleaved", "result_cache": false}),
    );
    let summary = json!({
        "elastic_over_native_p50": elastic.latency.p50_ms / native.latency.p50_ms,
        "elastic_over_native_p99": elastic.latency.p99_ms / native.latency.p99_ms,
        "elastic_cost_p50_ms": elastic.latency.p50_ms - native.latency.p50_ms,
        "answers_that_differ": disagreements,
    });
    eprintln!(
        "native p50 {:.3} ms p99 {:.3} ms; Elasticsearch API p50 {:.3} ms p99 {:.3} ms; {disagreements} answers differ",
        native.latency.p50_ms, native.latency.p99_ms, elastic.latency.p50_ms, elastic.latency.p99_ms
    );
    report.measurements.push(Measurement { label: "native API (/api/v1/search)".into(), x: None, result: native });
    report.measurements.push(Measurement {
        label: "Elasticsearch API (/_elastic/bench/_search, query_string)".into(),
        x: None,
        result: elastic,
    });
    report.summary = summary;
    args.output.finish(&report, &[])
}
