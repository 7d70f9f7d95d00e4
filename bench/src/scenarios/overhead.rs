//! `overhead`: the cost of the network hops. The same queries, one at a time, on
//! - a single in-process tantivy index over all the documents (search, then load the top
//!   hits' stored fields);
//! - an in-process scatter over the shards: the same statistics, search, merge and fetch
//!   steps as the root, called directly (shards in parallel on the rayon pool);
//! - the root over HTTP, with real gRPC leaves on loopback.
//!
//! Warm-up queries are distinct from the measured ones, so the root's statistics cache
//! never holds a measured query.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use fanout_cli::local::{LocalCluster, LocalOptions};
use fanout_indexer::IndexSchema;
use fanout_indexer::manifest::shard_dir;
use fanout_leaf::Shard;
use fanout_leaf::cancel::CancelFlag;
use fanout_proto::v1::{DocAddress, FetchRequest, LeafSearchRequest, StatsRequest};
use fanout_root::search::merge::{ShardHit, merge_top_k, shard_list};
use fanout_root::search::stats::sum_shares;
use hdrhistogram::Histogram;
use rayon::prelude::*;
use serde_json::json;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::QueryParser;
use tantivy::{Index, TantivyDocument};

use super::common::OutputArgs;
use super::corpus::QueryCorpus;
use crate::load::LoadResult;
use crate::report::{Measurement, RunReport};
use crate::stats::{histogram, record};
use crate::target::{HttpTarget, Target};

/// Arguments of `overhead`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: QueryCorpus,
    /// Shards behind the root and in the in-process scatter.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Measured queries.
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

/// Runs `overhead`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = args.input.prepare(args.count + args.warmup)?;
    let (queries, empty, schema, data) = (&input.queries, input.empty, &input.schema, &args.input.corpus.data);
    let sharded = input.index(args.shards)?;
    let single = input.index(1)?;
    anyhow::ensure!(queries.len() > args.warmup, "{} has too few queries", args.input.queries.display());
    let (measured, warmup) = queries.split_at(args.count.min(queries.len() - args.warmup));

    let mut report = RunReport::new(
        "overhead",
        json!({"data": data, "queries": args.input.queries, "queries_empty_after_escaping": empty, "shards": args.shards,
               "count": measured.len(), "warmup": warmup.len(), "limit": args.limit, "mode": "closed loop, one query at a time"}),
    );
    let single_index = single_index(&single, schema, args.limit as usize)?;
    report.measurements.push(closed_loop("single in-process index", measured, warmup, single_index)?);
    let scatter = InProcessScatter::open(&sharded, args.shards, args.limit)?;
    report.measurements.push(closed_loop("in-process scatter", measured, warmup, |q| scatter.search(q))?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let root = runtime.block_on(async {
        let cluster = LocalCluster::start(&sharded, &LocalOptions::default()).await?;
        let target = HttpTarget::new(&format!("http://{}", cluster.http_address), args.limit)?;
        let mut latencies = histogram();
        let mut errors = BTreeMap::new();
        for query in warmup {
            let _ = target.search(query.clone()).await;
        }
        let started = Instant::now();
        for query in measured {
            let sent = Instant::now();
            let outcome = target.search(query.clone()).await;
            record(&mut latencies, sent.elapsed());
            if let Err(kind) = outcome {
                *errors.entry(kind).or_default() += 1;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        cluster.shutdown().await?;
        anyhow::Ok(LoadResult::closed_loop(latencies, errors, seconds))
    })?;
    report.measurements.push(Measurement {
        label: format!("root over {} shards (HTTP, gRPC)", args.shards),
        x: None,
        result: root,
    });
    let p = |i: usize| &report.measurements[i].result.latency;
    report.summary = json!({
        "root_over_single_p50": p(2).p50_ms / p(0).p50_ms, "root_over_single_p99": p(2).p99_ms / p(0).p99_ms,
        "root_over_scatter_p50": p(2).p50_ms / p(1).p50_ms, "root_over_scatter_p99": p(2).p99_ms / p(1).p99_ms,
        "network_cost_p50_ms": p(2).p50_ms - p(1).p50_ms,
    });
    args.output.finish(&report, &[])
}

fn closed_loop(
    label: &str,
    measured: &[String],
    warmup: &[String],
    search: impl Fn(&str) -> anyhow::Result<()>,
) -> anyhow::Result<Measurement> {
    for query in warmup {
        search(query)?;
    }
    let mut latencies: Histogram<u64> = histogram();
    let started = Instant::now();
    for query in measured {
        let sent = Instant::now();
        search(query)?;
        record(&mut latencies, sent.elapsed());
    }
    let result = LoadResult::closed_loop(latencies, BTreeMap::new(), started.elapsed().as_secs_f64());
    eprintln!("{label}: p50 {:.3} ms, p99 {:.3} ms", result.latency.p50_ms, result.latency.p99_ms);
    Ok(Measurement { label: label.to_string(), x: None, result })
}

/// One tantivy index over everything: search, then load the top hits' stored fields.
fn single_index(dir: &Path, schema: &IndexSchema, limit: usize) -> anyhow::Result<impl Fn(&str) -> anyhow::Result<()>> {
    let index = Index::open_in_dir(shard_dir(dir, 0))?;
    let searcher = index.reader()?.searcher();
    let parser = QueryParser::for_index(&index, schema.default_search_fields.clone());
    Ok(move |query: &str| {
        let parsed = parser.parse_query(query)?;
        let (top, _count) = searcher.search(&parsed, &(TopDocs::with_limit(limit).order_by_score(), Count))?;
        for (_, address) in top {
            let _doc: TantivyDocument = searcher.doc(address)?;
        }
        Ok(())
    })
}

/// The root's steps without the network: statistics, search, merge, fetch.
struct InProcessScatter {
    shards: Vec<Arc<Shard>>,
    limit: u32,
}

impl InProcessScatter {
    fn open(dir: &Path, shards: u32, limit: u32) -> anyhow::Result<InProcessScatter> {
        let shards = (0..shards).map(|shard| Shard::open(dir, shard).map(Arc::new)).collect::<Result<Vec<_>, _>>()?;
        Ok(InProcessScatter { shards, limit })
    }

    fn search(&self, query: &str) -> anyhow::Result<()> {
        let flag = CancelFlag::default();
        let shares = self
            .shards
            .par_iter()
            .map(|shard| shard.stats(&StatsRequest { query: query.to_string(), ..StatsRequest::default() }))
            .collect::<Result<Vec<_>, _>>()?;
        let request = LeafSearchRequest {
            query: query.to_string(),
            limit: self.limit,
            offset: 0,
            stats: Some(sum_shares(shares)),
            ..LeafSearchRequest::default()
        };
        let answers =
            self.shards.par_iter().map(|shard| shard.search(&request, &flag)).collect::<Result<Vec<_>, _>>()?;
        let lists: Vec<Vec<ShardHit>> =
            answers.into_iter().enumerate().map(|(shard, answer)| shard_list(shard as u32, answer.hits)).collect();
        let mut by_shard: HashMap<u32, Vec<DocAddress>> = HashMap::new();
        for hit in merge_top_k(&lists, 0, self.limit as usize) {
            by_shard
                .entry(hit.position.shard)
                .or_default()
                .push(DocAddress { segment_ord: hit.position.segment_ord, doc_id: hit.position.doc_id });
        }
        by_shard.into_par_iter().try_for_each(|(shard, addresses)| {
            self.shards[shard as usize].fetch(&FetchRequest { addresses, ..FetchRequest::default() }, &flag).map(|_| ())
        })?;
        Ok(())
    }
}
