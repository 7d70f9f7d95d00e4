//! `overhead`: the cost of the network hops. The same queries, one at a time, on
//! - a single in-process tantivy index over all the documents (search, then load the top
//!   hits' stored fields);
//! - an in-process scatter over the shards: the same statistics, search, merge and fetch
//!   steps as the root, called directly (shards in parallel on the rayon pool);
//! - the root over HTTP, with real gRPC leaves on loopback, three ways, one row per
//!   round trip saved: statistics asked of the shards for every search and the page
//!   fetched in a second phase (three round trips per shard, as before the root kept
//!   statistics); statistics kept per term at the root (two); and the shallow page
//!   fetched with the query phase too (one); and small searches run inline at the leaves,
//!   without the hand-off to a search thread (the default);
//! - the default root again with TLS on: HTTPS at the edge and mutual TLS between root and
//!   leaves (a throwaway CA), against the plain-text row above in the same run.
//!
//! The result cache is off throughout: the rows measure the fan-out. Warm-up queries are
//! distinct from the measured ones; the rows that keep statistics first run every
//! measured query once, so that they measure the steady state of a root that has seen
//! the vocabulary (every term known; the first row never keeps any).
//!
//! `--inline-limits` adds, per page size, the root with the page fetched with the query
//! phase and in a second phase: the measurement behind `fetch.inline_max_hits`.

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
use fanout_root::config::{CacheConfig, FetchConfig, StatisticsConfig};
use fanout_root::search::merge::{ShardHit, merge_top_k, shard_list};
use fanout_root::search::stats::sum_shares;
use fanout_transport::pki::LocalPki;
use hdrhistogram::Histogram;
use rayon::prelude::*;
use serde_json::json;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::QueryParser;
use tantivy::{Index, TantivyDocument};

use super::breakdown::Breakdown;
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
    /// Page sizes at which to compare one round trip against two phases (statistics
    /// kept), e.g. `10,20,50,100`; none by default.
    #[arg(long, value_delimiter = ',')]
    inline_limits: Vec<u32>,
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
    let shards = args.shards;
    let (pool, inline) = (Some(0), None);
    let rows = [
        (format!("root over {shards} shards: statistics asked, two phases (3 round trips)"), false, 0, pool),
        (format!("root over {shards} shards: statistics kept, two phases (2 round trips)"), true, 0, pool),
        (format!("root over {shards} shards: page with the query (1 round trip)"), true, args.limit, pool),
        (
            format!("root over {shards} shards: 1 round trip, small searches inline at the leaves"),
            true,
            args.limit,
            inline,
        ),
    ];
    for (label, cached, inline_max_hits, leaf_inline_max_postings) in rows {
        let root = RootRow {
            index: &sharded,
            limit: args.limit,
            cached,
            inline_max_hits,
            leaf_inline_max_postings,
            tls: false,
        };
        report.measurements.push(runtime.block_on(root.measure(&label, measured, warmup))?);
    }
    let tls_root = RootRow {
        index: &sharded,
        limit: args.limit,
        cached: true,
        inline_max_hits: args.limit,
        leaf_inline_max_postings: None,
        tls: true,
    };
    let label =
        format!("root over {shards} shards: 1 round trip, inline, TLS at the edge and mutual TLS to the leaves");
    report.measurements.push(runtime.block_on(tls_root.measure(&label, measured, warmup))?);
    for &limit in &args.inline_limits {
        for (how, inline_max_hits) in [("page with the query", limit), ("two phases", 0)] {
            let root = RootRow {
                index: &sharded,
                limit,
                cached: true,
                inline_max_hits,
                leaf_inline_max_postings: None,
                tls: false,
            };
            let label = format!("limit {limit}: {how}");
            let mut measurement = runtime.block_on(root.measure(&label, measured, warmup))?;
            measurement.x = Some(f64::from(limit));
            report.measurements.push(measurement);
        }
    }
    let root = RootRow {
        index: &sharded,
        limit: args.limit,
        cached: true,
        inline_max_hits: args.limit,
        leaf_inline_max_postings: None,
        tls: false,
    };
    let breakdown = runtime.block_on(root.breakdown(measured, warmup))?;
    println!("{}", breakdown.markdown());
    let p = |i: usize| &report.measurements[i].result.latency;
    report.summary = json!({
        "breakdown_ms": breakdown,
        "root_over_single_p50": p(5).p50_ms / p(0).p50_ms, "root_over_single_p99": p(5).p99_ms / p(0).p99_ms,
        "root_over_scatter_p50": p(5).p50_ms / p(1).p50_ms, "root_over_scatter_p99": p(5).p99_ms / p(1).p99_ms,
        "one_round_trip_pool_over_scatter_p50": p(4).p50_ms / p(1).p50_ms,
        "one_round_trip_pool_over_scatter_p99": p(4).p99_ms / p(1).p99_ms,
        "three_round_trips_over_scatter_p50": p(2).p50_ms / p(1).p50_ms,
        "three_round_trips_over_scatter_p99": p(2).p99_ms / p(1).p99_ms,
        "two_round_trips_over_scatter_p50": p(3).p50_ms / p(1).p50_ms,
        "two_round_trips_over_scatter_p99": p(3).p99_ms / p(1).p99_ms,
        "saved_by_kept_statistics_p50_ms": p(2).p50_ms - p(3).p50_ms,
        "saved_by_one_round_trip_p50_ms": p(3).p50_ms - p(4).p50_ms,
        "saved_by_inline_leaf_work_p50_ms": p(4).p50_ms - p(5).p50_ms,
        "network_cost_p50_ms": p(5).p50_ms - p(1).p50_ms,
        "tls_over_plain_p50": p(6).p50_ms / p(5).p50_ms, "tls_over_plain_p99": p(6).p99_ms / p(5).p99_ms,
        "tls_cost_p50_ms": p(6).p50_ms - p(5).p50_ms,
        "targets": {"root_p50_at_most_2x_scatter": p(5).p50_ms <= 2.0 * p(1).p50_ms,
                    "root_p99_at_most_1_5x_scatter": p(5).p99_ms <= 1.5 * p(1).p99_ms},
    });
    args.output.finish(&report, &[])
}

/// One row of the root: a cluster of real leaves in this process, measured one query at
/// a time over HTTP.
struct RootRow<'a> {
    index: &'a Path,
    limit: u32,
    /// Whether the root keeps statistics per term.
    cached: bool,
    /// `fetch.inline_max_hits`.
    inline_max_hits: u32,
    /// The leaves' `inline_max_postings` (None: their default; 0: always the pool).
    leaf_inline_max_postings: Option<u64>,
    /// TLS at the root's edge and mutual TLS to the leaves.
    tls: bool,
}

impl RootRow<'_> {
    /// The cluster, warmed: the warm-up queries, and the measured ones too when the root
    /// keeps statistics.
    async fn start(
        &self,
        measured: &[String],
        warmup: &[String],
    ) -> anyhow::Result<(LocalCluster, HttpTarget, Option<tempfile::TempDir>)> {
        let certificates = if self.tls { Some(tempfile::tempdir()?) } else { None };
        let pki = match &certificates {
            Some(dir) => Some(LocalPki::create(dir.path()).map_err(|err| anyhow::anyhow!("certificates: {err}"))?),
            None => None,
        };
        let options = LocalOptions {
            cache: CacheConfig { enabled: false, ..CacheConfig::default() },
            statistics: StatisticsConfig { cached: self.cached, ..StatisticsConfig::default() },
            fetch: FetchConfig { inline_max_hits: self.inline_max_hits },
            leaf_inline_max_postings: self.leaf_inline_max_postings,
            tls: pki.clone(),
            ..LocalOptions::default()
        };
        let cluster = LocalCluster::start(self.index, &options).await?;
        let target = match &pki {
            Some(pki) => HttpTarget::trusting(
                &format!("https://localhost:{}", cluster.http_address.port()),
                self.limit,
                Some(&pki.ca),
            )?,
            None => HttpTarget::new(&format!("http://{}", cluster.http_address), self.limit)?,
        };
        let warm = if self.cached { [warmup, measured].concat() } else { warmup.to_vec() };
        for query in warm {
            let _ = target.search(query).await;
        }
        Ok((cluster, target, certificates))
    }

    /// Where a query's time goes ([`breakdown`](super::breakdown)).
    async fn breakdown(&self, measured: &[String], warmup: &[String]) -> anyhow::Result<Breakdown> {
        let (cluster, _, _certificates) = self.start(measured, warmup).await?;
        let base = format!("http://{}", cluster.http_address);
        let breakdown = super::breakdown::measure(&base, &cluster.leaf_addresses(), measured, self.limit).await;
        cluster.shutdown().await?;
        breakdown
    }

    async fn measure(&self, label: &str, measured: &[String], warmup: &[String]) -> anyhow::Result<Measurement> {
        let (cluster, target, _certificates) = self.start(measured, warmup).await?;
        let mut latencies = histogram();
        let mut errors = BTreeMap::new();
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
        let result = LoadResult::closed_loop(latencies, errors, seconds);
        eprintln!("{label}: p50 {:.3} ms, p99 {:.3} ms", result.latency.p50_ms, result.latency.p99_ms);
        Ok(Measurement { label: label.to_string(), x: None, result })
    }
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
