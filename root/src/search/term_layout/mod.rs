//! Searching a term-partitioned index: analyze the query with the index's own
//! tokenizers, ask each term's shard for its postings (one request per shard, carrying
//! all of that shard's terms), combine them by the query's boolean tree at the root,
//! take the top hits and fetch them from the store shards.
//!
//! - [`plan`]: the parsed query as a boolean tree over terms, or a clear refusal.
//! - [`postings`]: the postings phase, one request per owning shard.
//! - [`evaluate`](mod@evaluate): intersection, union and exclusion of scored postings; the top hits.
//!
//! The root learns the layout from the leaves' `Info` ([`LayoutCache`], per generation)
//! and calls [`search`] for a term-partitioned index instead of the document layout's
//! query path; both share the fetch phase and the answer assembly.

pub mod evaluate;
pub mod plan;
pub mod postings;

use fanout_contracts::IndexSchema;
use std::sync::{Arc, RwLock};

use fanout_contracts::limits::MAX_TERMS;
use fanout_contracts::term_layout::store_shard_of;
use fanout_contracts::terms::encode_term;
use fanout_proto::v1::{GlobalStats, InfoRequest, InfoResponse, TermDocFreq};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::error::RootError;
use crate::search::analyzer::QueryAnalyzer;
use crate::search::answer::{Gathered, Locator, PageHit, missing_shards_error};
use crate::search::fetch::{fetch_phase, gather_deadline};
use crate::search::outcome::ShardOutcomes;
use crate::search::profile::{PhaseClock, Profile, StatisticsProfile};
use crate::search::request::ValidRequest;
use evaluate::{evaluate, top};
use plan::QueryPlan;

/// How the served index is partitioned, as its leaves describe it.
#[derive(Debug)]
pub enum IndexLayout {
    /// By document: every shard scores its own documents.
    Document(Box<QueryAnalyzer>),
    /// By term: every shard holds whole postings lists.
    Term(Box<TermLayout>),
}

/// What the root needs to search a term-partitioned index.
#[derive(Debug)]
pub struct TermLayout {
    analyzer: QueryAnalyzer,
    shard_count: u32,
}

impl IndexLayout {
    /// The served schema.
    pub fn schema(&self) -> &IndexSchema {
        match self {
            IndexLayout::Document(analyzer) => analyzer.index_schema(),
            IndexLayout::Term(layout) => layout.analyzer.index_schema(),
        }
    }

    /// The layout a leaf's `Info` describes.
    pub fn from_info(info: &InfoResponse) -> Result<IndexLayout, RootError> {
        match info.layout.as_str() {
            "document" => Ok(IndexLayout::Document(Box::new(QueryAnalyzer::from_info(info)?))),
            "term" => Ok(IndexLayout::Term(Box::new(TermLayout {
                analyzer: QueryAnalyzer::from_info(info)?,
                shard_count: info.shard_count,
            }))),
            other => Err(RootError::Internal(format!("shard {}: unknown index layout {other:?}", info.shard_id))),
        }
    }
}

impl TermLayout {
    /// Parses (or builds, for a structured query) and plans a request's query.
    pub fn plan(&self, request: &ValidRequest) -> Result<QueryPlan, RootError> {
        let parsed = match &request.structured {
            Some(tree) => self.analyzer.build(tree)?,
            None => self.analyzer.parse(&request.query)?,
        };
        let plan = QueryPlan::new(parsed.as_ref(), &self.analyzer.schema(), self.shard_count)?;
        if plan.terms.len() > MAX_TERMS {
            return Err(RootError::InvalidArgument(format!(
                "the query has {} distinct terms; the term-partitioned layout answers at most {MAX_TERMS}",
                plan.terms.len()
            )));
        }
        Ok(plan)
    }
}

/// The layout learned from the leaves, per generation: asked once, and again when
/// searches move to another generation.
#[derive(Default)]
pub struct LayoutCache {
    known: RwLock<Option<(u64, Arc<IndexLayout>)>>,
}

impl LayoutCache {
    /// The layout of `generation`, asking the shards' `Info` (the first that answers at
    /// that generation) if not yet known.
    pub async fn get(
        &self,
        cluster: &Cluster,
        generation: u64,
        deadline: Instant,
    ) -> Result<Arc<IndexLayout>, RootError> {
        if let Some((known, layout)) = self.known.read().expect("layout lock").clone()
            && (known == generation || generation == 0)
        {
            return Ok(layout);
        }
        let mut problems = Vec::new();
        for set in &cluster.shards {
            match set.call(InfoRequest {}, generation, deadline).await {
                Ok(answer) => {
                    let layout = Arc::new(IndexLayout::from_info(&answer.value)?);
                    *self.known.write().expect("layout lock") = Some((answer.value.generation, layout.clone()));
                    return Ok(layout);
                }
                Err(failure) => problems.push(format!("shard {}: {}", set.shard(), failure.reason())),
            }
        }
        Err(RootError::Unavailable(format!(
            "cannot learn the index layout: no shard answered ({})",
            problems.join("; ")
        )))
    }
}

/// A search over a term-partitioned index at `generation`.
pub async fn search(
    cluster: &Cluster,
    layout: &TermLayout,
    request: &ValidRequest,
    generation: u64,
    deadline: Instant,
    outcomes: &mut ShardOutcomes,
) -> Result<Gathered, RootError> {
    refuse_document_only_features(request)?;
    let mut clock = PhaseClock::start();
    let plan = layout.plan(request)?;
    super::query::check_term_count(plan.terms.len(), request.max_query_terms)?;
    let gather = gather_deadline(request, deadline);
    let gathered = postings::postings_phase(cluster, &plan, generation, gather, outcomes).await?;
    if outcomes.is_partial() {
        if outcomes.lacks_generation() {
            // A rollout is under way: the caller starts again on another generation.
            return Ok(Gathered::default());
        }
        let error = missing_shards_error(outcomes);
        let message = format!("the term-partitioned layout needs every queried term's shard: {error}");
        return Err(match error {
            RootError::DeadlineExceeded(_) => RootError::DeadlineExceeded(message),
            _ => RootError::Unavailable(message),
        });
    }
    let query_ms = clock.lap();
    let matched = evaluate(&plan.root, &gathered.postings);
    let total_hits = matched.len() as u64;
    let page = top(matched, request.offset as usize, request.limit as usize);
    let merge_ms = clock.lap();
    let page: Vec<PageHit> = page
        .into_iter()
        .map(|(ordinal, score)| PageHit {
            shard: store_shard_of(ordinal),
            score,
            sort_value: None,
            locator: Locator::Ordinal(ordinal),
            cursor: None,
        })
        .collect();
    let statistics = GlobalStats {
        doc_freqs: plan
            .terms
            .iter()
            .zip(&gathered.doc_freqs)
            .map(|(term, doc_freq)| TermDocFreq { term: encode_term(&term.term), doc_freq: *doc_freq })
            .collect(),
        ..GlobalStats::default()
    };
    let hits = fetch_phase(cluster, request, &page, generation, &statistics, deadline, outcomes).await?;
    let fetch_ms = clock.lap();
    let profile = request
        .profile
        .then(|| Profile::new(StatisticsProfile::default(), query_ms, merge_ms, fetch_ms, false, gathered.shard_times));
    Ok(Gathered { hits, total_hits, profile, ..Gathered::default() })
}

/// Filters, aggregations, field sorting and cursors need per-document values the term
/// shards do not hold.
fn refuse_document_only_features(request: &ValidRequest) -> Result<(), RootError> {
    let refused = [
        (!request.filters_json.is_empty(), "filters"),
        (request.aggregations.is_some(), "aggregations"),
        (!request.sort_field.is_empty(), "sorting by a field"),
        (request.after.is_some(), "search_after"),
    ];
    match refused.iter().find(|(present, _)| *present) {
        Some((_, feature)) => Err(RootError::InvalidArgument(format!(
            "the term-partitioned layout does not support {feature}; use a document-partitioned index"
        ))),
        None => Ok(()),
    }
}
