//! Searching a term-partitioned index: analyze the query with the index's own
//! tokenizers, ask each term's shard for its postings (one request per shard, carrying
//! all of that shard's terms), combine them by the query's boolean tree at the root,
//! take the top hits and fetch them from the store shards.
//!
//! - [`plan`]: the parsed query as a boolean tree over terms, or a clear refusal.
//! - [`evaluate`](mod@evaluate): intersection, union and exclusion of scored postings; the top hits.

pub mod evaluate;
pub mod plan;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use fanout_indexer::IndexSchema;
use fanout_indexer::schema::SchemaFile;
use fanout_indexer::term_layout::store_shard_of;
use fanout_leaf::postings::MAX_TERMS;
use fanout_leaf::statistics::encode_term;
use fanout_proto::v1::{GlobalStats, InfoRequest, InfoResponse, PostingsRequest, TermDocFreq, TermKey, TermPostings};
use tantivy::Index;
use tantivy::query::QueryParser;
use tokio::time::Instant;

use super::outcome::ShardOutcomes;
use super::profile::{PhaseClock, Profile};
use super::{Locator, PageHit, RootSearcher, SearchResponse, ValidRequest, answer, missing_shards_error, rejected};
use crate::cluster::{CallKind, Cluster, ShardFailure, with_deadline};
use crate::error::RootError;
use evaluate::{Scored, evaluate, top};
use plan::QueryPlan;

/// How the served index is partitioned, as its leaves describe it.
#[derive(Debug)]
pub enum IndexLayout {
    /// By document: every shard scores its own documents.
    Document,
    /// By term: every shard holds whole postings lists.
    Term(Box<TermLayout>),
}

/// What the root needs to search a term-partitioned index.
pub struct TermLayout {
    parser: QueryParser,
    index: Index,
    shard_count: u32,
    generation: u64,
}

impl std::fmt::Debug for TermLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermLayout")
            .field("shard_count", &self.shard_count)
            .field("generation", &self.generation)
            .finish()
    }
}

impl IndexLayout {
    /// The layout a leaf's `Info` describes.
    pub fn from_info(info: &InfoResponse) -> Result<IndexLayout, RootError> {
        match info.layout.as_str() {
            "document" => Ok(IndexLayout::Document),
            "term" => {
                let file: SchemaFile = serde_json::from_str(&info.schema_json)
                    .map_err(|err| RootError::Internal(format!("shard {}: invalid schema: {err}", info.shard_id)))?;
                let schema = IndexSchema::build(file)
                    .map_err(|err| RootError::Internal(format!("shard {}: {err}", info.shard_id)))?;
                // A tantivy index in memory carries the same built-in tokenizers, by the same
                // names, as the shards' indexes: the root analyzes exactly as they did.
                let index = Index::create_in_ram(schema.schema.clone());
                let parser = QueryParser::for_index(&index, schema.default_search_fields.clone());
                Ok(IndexLayout::Term(Box::new(TermLayout {
                    parser,
                    index,
                    shard_count: info.shard_count,
                    generation: info.generation,
                })))
            }
            other => Err(RootError::Internal(format!("shard {}: unknown index layout {other:?}", info.shard_id))),
        }
    }
}

impl TermLayout {
    /// Parses and plans a query.
    pub fn plan(&self, query: &str) -> Result<QueryPlan, RootError> {
        let parsed = self
            .parser
            .parse_query(query)
            .map_err(|err| RootError::InvalidArgument(format!("invalid query {query:?}: {err}")))?;
        let plan = QueryPlan::new(parsed.as_ref(), &self.index.schema(), self.shard_count)?;
        if plan.terms.len() > MAX_TERMS {
            return Err(RootError::InvalidArgument(format!(
                "the query has {} distinct terms; the term-partitioned layout answers at most {MAX_TERMS}",
                plan.terms.len()
            )));
        }
        Ok(plan)
    }
}

/// The layout learned from the leaves, asked once and again after a rebuild.
#[derive(Default)]
pub struct LayoutCache {
    known: RwLock<Option<Arc<IndexLayout>>>,
}

impl LayoutCache {
    /// The layout, asking the shards' `Info` (the first that answers) if not yet known.
    pub async fn get(&self, cluster: &Cluster, deadline: Instant) -> Result<Arc<IndexLayout>, RootError> {
        if let Some(known) = self.known.read().expect("layout lock").clone() {
            return Ok(known);
        }
        let mut problems = Vec::new();
        for set in &cluster.shards {
            let answer = set
                .call(CallKind::Info, deadline, |attempt| {
                    let request = with_deadline(InfoRequest {}, attempt.left);
                    let mut client = attempt.client;
                    async move { client.info(request).await }
                })
                .await;
            match answer {
                Ok(answer) => {
                    let layout = Arc::new(IndexLayout::from_info(&answer.value)?);
                    *self.known.write().expect("layout lock") = Some(layout.clone());
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

    /// Forgets the layout, so that the next search asks again (the index was rebuilt).
    pub fn forget(&self) {
        *self.known.write().expect("layout lock") = None;
    }
}

impl RootSearcher {
    /// A search over a term-partitioned index.
    pub(super) async fn execute_term(
        &self,
        layout: &TermLayout,
        request: ValidRequest,
        started: Instant,
        deadline: Instant,
    ) -> Result<SearchResponse, RootError> {
        refuse_document_only_features(&request)?;
        let shard_count = self.cluster.shards.len();
        let mut outcomes = ShardOutcomes::new(shard_count);
        let mut clock = PhaseClock::start();
        let plan = layout.plan(&request.query)?;
        let (postings, doc_freqs, generations, shard_times) =
            self.postings_phase(&plan, deadline, &mut outcomes).await?;
        if generations.iter().any(|generation| *generation != 0 && *generation != layout.generation) {
            // Rebuilt since the layout was learned: learn it again next time.
            self.layout.forget();
        }
        let query_ms = clock.lap();
        let matched = evaluate(&plan.root, &postings);
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
            })
            .collect();
        let statistics = GlobalStats {
            doc_freqs: plan
                .terms
                .iter()
                .zip(&doc_freqs)
                .map(|(term, doc_freq)| TermDocFreq { term: encode_term(&term.term), doc_freq: *doc_freq })
                .collect(),
            ..GlobalStats::default()
        };
        let fetch_generation = generations.iter().copied().find(|generation| *generation != 0).unwrap_or_default();
        let hits = self
            .fetch_phase(&request, &page, &vec![fetch_generation; shard_count], &statistics, deadline, &mut outcomes)
            .await?;
        let fetch_ms = clock.lap();
        let profile = request.profile.then(|| Profile::new(0.0, false, query_ms, merge_ms, fetch_ms, shard_times));
        Ok(SearchResponse { profile, ..answer(&outcomes, request.allow_partial, started, hits, total_hits)? })
    }

    /// Asks each shard that owns some of the plan's terms for their postings. Returns
    /// each term's postings and doc frequency, each shard's generation (0: not asked) and
    /// each asked shard's time. Every term is needed: a missing shard fails the search.
    async fn postings_phase(
        &self,
        plan: &QueryPlan,
        deadline: Instant,
        outcomes: &mut ShardOutcomes,
    ) -> Result<(Vec<Scored>, Vec<u64>, Vec<u64>, Vec<(u32, f64)>), RootError> {
        let mut by_shard: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (index, term) in plan.terms.iter().enumerate() {
            by_shard.entry(term.shard).or_default().push(index);
        }
        let calls = by_shard.iter().map(|(shard, indexes)| {
            let set = &self.cluster.shards[*shard as usize];
            let request = PostingsRequest {
                terms: indexes
                    .iter()
                    .map(|index| TermKey {
                        field: plan.terms[*index].field.clone(),
                        text: plan.terms[*index].text.clone(),
                    })
                    .collect(),
                generation: 0,
            };
            async move {
                let started = Instant::now();
                let answer = set
                    .call(CallKind::Postings, deadline, |attempt| {
                        let request = with_deadline(request.clone(), attempt.left);
                        let mut client = attempt.client;
                        async move { client.postings(request).await }
                    })
                    .await;
                (*shard, answer, started.elapsed().as_secs_f64() * 1000.0)
            }
        });
        let answers = futures::future::join_all(calls).await;
        let mut postings = vec![Scored::new(); plan.terms.len()];
        let mut doc_freqs = vec![0; plan.terms.len()];
        let mut generations = vec![0; self.cluster.shards.len()];
        let mut shard_times = Vec::with_capacity(answers.len());
        for (shard, answer, elapsed_ms) in answers {
            match answer {
                Ok(answer) if answer.value.postings.len() == by_shard[&shard].len() => {
                    outcomes.note_hedge(shard, answer.hedged);
                    self.cluster.record_response(CallKind::Postings, &answer.value);
                    shard_times.push((shard, elapsed_ms));
                    generations[shard as usize] = answer.value.generation;
                    for (index, term) in by_shard[&shard].iter().zip(answer.value.postings) {
                        doc_freqs[*index] = term.doc_freq;
                        postings[*index] = decode(term);
                    }
                }
                Ok(answer) => outcomes.fail(
                    shard,
                    ShardFailure::Unavailable(format!(
                        "postings for {} terms returned {}",
                        by_shard[&shard].len(),
                        answer.value.postings.len()
                    )),
                ),
                Err(ShardFailure::Rejected(status)) => rejected(shard, &status, outcomes)?,
                Err(failure) => outcomes.fail(shard, failure),
            }
        }
        if outcomes.is_partial() {
            let error = missing_shards_error(outcomes);
            let message = format!("the term-partitioned layout needs every queried term's shard: {error}");
            return Err(match error {
                RootError::DeadlineExceeded(_) => RootError::DeadlineExceeded(message),
                _ => RootError::Unavailable(message),
            });
        }
        Ok((postings, doc_freqs, generations, shard_times))
    }
}

/// Turns a term's wire postings (ordinal deltas and scores) back into a scored list.
fn decode(term: TermPostings) -> Scored {
    let mut ordinal = 0u64;
    term.ordinal_deltas
        .into_iter()
        .zip(term.scores)
        .map(|(delta, score)| {
            ordinal += delta;
            (ordinal, score)
        })
        .collect()
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
