//! One shard of a fanout index, opened for serving: query parsing, search with global
//! statistics, statistics for the root, and fetching stored fields.

use std::path::Path;

use fanout_contracts::aggregations::{check_aggregated_fields, parse_aggregations};
use fanout_contracts::filters::{parse_filters, with_filters};
use fanout_contracts::limits::MAX_WINDOW;
use fanout_contracts::manifest::shard_dir;
use fanout_contracts::schema::FieldSpec;
use fanout_contracts::structured::{QueryBuilder, reads_beyond_scored_terms};
use fanout_contracts::term_layout::{POSTINGS_DIR, STORE_DIR, store_schema};
use fanout_contracts::{FieldKind, IndexSchema, Layout, Manifest, Position};
use fanout_proto::v1::{
    self as wire, DocAddress as WireAddress, FetchRequest, FetchResponse, FetchedDoc, GetRequest, GetResponse,
    GlobalStats, Highlight, InfoResponse, LeafSearchRequest, LeafSearchResponse, PostingsRequest, PostingsResponse,
    ScoredDoc, ShardIdentity, StatsRequest, StatsResponse,
};
use serde_json::{Map, Value as Json};
use tantivy::aggregation::{AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector};
use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::query::{Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value as _};
use tantivy::time::format_description::well_known::Rfc3339;
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, TantivyError, Term};

use crate::cancel::{CancelFlag, CancellableCollector, is_cancellation};
use crate::error::LeafError;
use crate::postings::PostingsIndex;
use crate::ranking::{Ranking, key_source};
use crate::snippets::Highlighter;
use crate::statistics::{GlobalStatistics, decode_terms, local_statistics, query_terms};

/// A shard opened for serving.
pub struct Shard {
    shard_id: u32,
    manifest: Manifest,
    schema: IndexSchema,
    reader: IndexReader,
    parser: QueryParser,
    /// The fields BM25 scores terms of (text and keyword), whose token totals the
    /// statistics carry.
    scored_fields: Vec<Field>,
    index: Index,
    /// The term layout's postings index and the store's ordinal field.
    term: Option<(PostingsIndex, Field)>,
}

impl Shard {
    /// Opens shard `shard_id` of the index directory `index_dir`, refusing anything that
    /// is not a complete shard of a fanout index.
    pub fn open(index_dir: &Path, shard_id: u32) -> Result<Shard, LeafError> {
        let manifest = Manifest::read(index_dir).map_err(|err| LeafError::Open(err.to_string()))?;
        if shard_id >= manifest.shard_count {
            return Err(LeafError::Open(format!(
                "shard {shard_id} does not exist: {} has {} shards (0 to {})",
                index_dir.display(),
                manifest.shard_count,
                manifest.shard_count - 1
            )));
        }
        let schema = IndexSchema::build(manifest.schema.clone()).map_err(|err| LeafError::Open(err.to_string()))?;
        let (dir, expected_schema, term) = match manifest.layout {
            Layout::Document => (shard_dir(index_dir, shard_id), schema.schema.clone(), None),
            Layout::Term => {
                let dir = shard_dir(index_dir, shard_id);
                let postings = PostingsIndex::open(&dir.join(POSTINGS_DIR), shard_id, &manifest, &schema)?;
                let (store, ordinal) = store_schema(&schema);
                (dir.join(STORE_DIR), store, Some((postings, ordinal)))
            }
        };
        let index = crate::read_only::open_index(&dir)
            .map_err(|err| LeafError::Open(format!("{} is not a tantivy index: {err}", dir.display())))?;
        if index.schema() != expected_schema {
            return Err(LeafError::Open(format!(
                "the schema of {} differs from the one in fanout.json",
                dir.display()
            )));
        }
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let num_docs = reader.searcher().num_docs();
        let expected = manifest.shard_doc_counts[shard_id as usize];
        if num_docs != expected {
            return Err(LeafError::Open(format!(
                "{} holds {num_docs} documents but fanout.json records {expected}",
                dir.display()
            )));
        }
        let parser = QueryParser::for_index(&index, schema.default_search_fields.clone());
        let scored_fields = (schema.fields.iter())
            .filter(|(spec, _)| matches!(spec.kind, FieldKind::Text | FieldKind::Keyword))
            .map(|(_, field)| *field)
            .collect();
        Ok(Shard { shard_id, manifest, schema, reader, parser, scored_fields, index, term })
    }

    /// This shard's number.
    pub fn shard_id(&self) -> u32 {
        self.shard_id
    }

    /// The manifest of the index this shard belongs to.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Parses a query in tantivy's syntax over the default search fields.
    pub fn parse_query(&self, query: &str) -> Result<Box<dyn Query>, LeafError> {
        self.parser
            .parse_query(query)
            .map_err(|err| LeafError::InvalidArgument(format!("invalid query {query:?}: {err}")))
    }

    /// The query a request carries: its structured query (a `fanout.v1.Query` tree, built
    /// with this index's tokenizers), or else its query text in tantivy's syntax.
    pub fn query_of(&self, text: &str, structured: Option<&wire::Query>) -> Result<Box<dyn Query>, LeafError> {
        match structured {
            Some(_) if !text.is_empty() => {
                Err(LeafError::InvalidArgument("a request carries a query text or a structured query, not both".into()))
            }
            Some(tree) => Ok(QueryBuilder::new(&self.schema, self.index.tokenizers()).build(tree)?),
            None => self.parse_query(text),
        }
    }

    /// Refuses a document-layout RPC on a term-partitioned shard.
    fn require_document_layout(&self, rpc: &str) -> Result<(), LeafError> {
        match self.term {
            None => Ok(()),
            Some(_) => Err(LeafError::InvalidArgument(format!(
                "shard {} is term-partitioned: it answers Postings, not {rpc}",
                self.shard_id
            ))),
        }
    }

    /// Term layout: the postings of the requested terms, each with its BM25 contribution.
    pub fn postings(&self, request: &PostingsRequest, cancel: &CancelFlag) -> Result<PostingsResponse, LeafError> {
        match &self.term {
            Some((postings, _)) => {
                self.check_generation(request.generation)?;
                let response = postings.postings(request, cancel)?;
                Ok(PostingsResponse { identity: Some(self.identity()), ..response })
            }
            None => Err(LeafError::InvalidArgument(format!(
                "shard {} is document-partitioned: it answers Stats and Search, not Postings",
                self.shard_id
            ))),
        }
    }

    /// This shard's share of the BM25 statistics of a query.
    pub fn stats(&self, request: &StatsRequest) -> Result<StatsResponse, LeafError> {
        self.require_document_layout("Stats")?;
        self.check_generation(request.generation)?;
        let terms = if request.by_terms {
            decode_terms(&request.terms)?
        } else {
            query_terms(self.parse_query(&request.query)?.as_ref())
        };
        let share = local_statistics(&self.searcher(), &terms, &self.scored_fields)?;
        Ok(StatsResponse { generation: self.manifest.generation, identity: Some(self.identity()), ..share })
    }

    /// The top `offset + limit` hits of a query (the first `offset` skipped) and the
    /// number of matching documents, scored with the request's global statistics.
    pub fn search(&self, request: &LeafSearchRequest, cancel: &CancelFlag) -> Result<LeafSearchResponse, LeafError> {
        self.require_document_layout("Search")?;
        self.check_generation(request.generation)?;
        let wanted = request.offset.saturating_add(request.limit);
        if wanted > MAX_WINDOW {
            return Err(LeafError::InvalidArgument(format!(
                "offset + limit must be at most {MAX_WINDOW}, got {wanted}"
            )));
        }
        let parsed = self.query_of(&request.query, request.structured_query.as_ref())?;
        let query = with_filters(parsed.box_clone(), &parse_filters(&request.filters_json)?, &self.schema)?;
        let searcher = self.searcher();
        // Checked before searching: a bad field or highlight fails fast.
        let inline = match &request.fetch {
            Some(fetch) => Some(self.document_loader(
                &fetch.fields,
                fetch.highlight.as_ref(),
                request.stats.as_ref(),
                Some(parsed.as_ref()),
                &searcher,
            )?),
            None => None,
        };
        let statistics = request.stats.as_ref().map(|stats| GlobalStatistics::decode(stats, &searcher)).transpose()?;
        let statistics = statistics.as_ref();
        let source = key_source(&self.schema, &request.sort_field, request.ascending)?;
        let after = request.after.map(Position::from);
        let limit = request.offset as usize + request.limit as usize;
        let top = (request.limit > 0).then_some(Ranking { source, after, shard: self.shard_id, limit });
        let aggregations = parse_aggregations(&request.aggs_json)?;
        if let Some(aggregations) = &aggregations {
            check_aggregated_fields(aggregations, &self.schema)?;
        }
        let aggregations = aggregations.map(|aggregations| {
            let context = AggContextParams::new(AggregationLimitsGuard::default(), self.index.tokenizers().clone());
            DistributedAggregationCollector::from_aggs(aggregations, context)
        });
        let collector = CancellableCollector::new((top, Count, aggregations), cancel.clone());
        let (top, total_hits, aggregations) = collect(&searcher, query.as_ref(), &collector, statistics)?;
        let hits: Vec<ScoredDoc> = top
            .unwrap_or_default()
            .into_iter()
            .skip(request.offset as usize)
            .map(|hit| ScoredDoc {
                score: hit.score,
                address: Some(WireAddress { segment_ord: hit.position.segment_ord, doc_id: hit.position.doc_id }),
                key: hit.position.key,
                sort_value: hit.sort_value,
            })
            .collect();
        let docs = match inline {
            Some(loader) => {
                let addresses: Vec<DocAddress> = (hits.iter())
                    .filter_map(|hit| hit.address)
                    .map(|address| DocAddress::new(address.segment_ord, address.doc_id))
                    .collect();
                loader.load(&searcher, &addresses, cancel)?
            }
            None => Vec::new(),
        };
        let intermediate_aggs = aggregations
            .map(|intermediate| postcard::to_allocvec(&intermediate))
            .transpose()
            .map_err(|err| LeafError::Internal(format!("cannot encode aggregation results: {err}")))?
            .unwrap_or_default();
        Ok(LeafSearchResponse {
            hits,
            total_hits: total_hits as u64,
            generation: self.manifest.generation,
            intermediate_aggs,
            docs,
            identity: Some(self.identity()),
        })
    }

    /// The postings a search reads, estimated from the global statistics it carries
    /// (each term's share of this shard's documents); None when it carries none or
    /// aggregates (whose cost is not the postings').
    pub fn estimated_postings(&self, request: &LeafSearchRequest) -> Option<u64> {
        let stats = request.stats.as_ref().filter(|_| request.aggs_json.is_empty())?;
        if request.structured_query.as_ref().is_some_and(reads_beyond_scored_terms) {
            return None;
        }
        let share = self.reader.searcher().num_docs() as f64 / stats.total_num_docs.max(1) as f64;
        let global: u64 = stats.doc_freqs.iter().map(|entry| entry.doc_freq).sum();
        Some((global as f64 * share).ceil() as u64)
    }

    /// The id and requested stored fields of documents found by an earlier search.
    pub fn fetch(&self, request: &FetchRequest, cancel: &CancelFlag) -> Result<FetchResponse, LeafError> {
        self.check_generation(request.generation)?;
        let searcher = self.searcher();
        let query = match &request.highlight {
            Some(highlight) if !highlight.fields.is_empty() => {
                Some(self.query_of(&highlight.query, highlight.structured_query.as_ref())?)
            }
            _ => None,
        };
        let stats = request.highlight.as_ref().and_then(|highlight| highlight.stats.as_ref());
        let loader =
            self.document_loader(&request.fields, request.highlight.as_ref(), stats, query.as_deref(), &searcher)?;
        let addresses: Vec<DocAddress> = match &self.term {
            Some((_, ordinal_field)) if request.addresses.is_empty() => request
                .ordinals
                .iter()
                .map(|ordinal| self.find_ordinal(&searcher, *ordinal_field, *ordinal))
                .collect::<Result<_, _>>()?,
            _ if !request.ordinals.is_empty() => {
                return Err(LeafError::InvalidArgument(
                    "a fetch names documents by address or (term layout only) by ordinal, not both".into(),
                ));
            }
            _ => request
                .addresses
                .iter()
                .map(|address| self.check_address(&searcher, address))
                .collect::<Result<_, _>>()?,
        };
        let docs = loader.load(&searcher, &addresses, cancel)?;
        Ok(FetchResponse { docs, identity: Some(self.identity()) })
    }

    /// What loads documents for a fetch, or for a search that fetches inline: the stored
    /// `fields` (all when empty) and, when `highlight` names fields, snippets of `query`
    /// weighted with `stats`.
    fn document_loader(
        &self,
        fields: &[String],
        highlight: Option<&Highlight>,
        stats: Option<&GlobalStats>,
        query: Option<&dyn Query>,
        searcher: &Searcher,
    ) -> Result<DocumentLoader<'_>, LeafError> {
        let fields = self.fields_to_return(fields)?;
        let highlighter = match (highlight, query) {
            (Some(highlight), Some(query)) if !highlight.fields.is_empty() => {
                Some(Highlighter::new(highlight, stats, query, &self.schema, &self.index, searcher)?)
            }
            _ => None,
        };
        Ok(DocumentLoader { shard: self, fields, highlighter })
    }

    /// The document with this id, if this shard has it.
    pub fn get(&self, request: &GetRequest) -> Result<GetResponse, LeafError> {
        let fields = self.fields_to_return(&request.fields)?;
        let searcher = self.searcher();
        let query = TermQuery::new(Term::from_field_text(self.schema.id_field, &request.id), IndexRecordOption::Basic);
        let found = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        let doc = match found.first() {
            Some((_, address)) => Some(self.fetched_doc(&searcher.doc(*address)?, &fields)),
            None => None,
        };
        Ok(GetResponse { doc, identity: Some(self.identity()) })
    }

    /// The id and the given stored fields of a document, as the wire carries them.
    fn fetched_doc(&self, document: &TantivyDocument, fields: &[(String, Field, FieldKind)]) -> FetchedDoc {
        let id = document.get_first(self.schema.id_field).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let mut object = Map::new();
        for (name, field, kind) in fields {
            let mut values: Vec<Json> = document.get_all(*field).filter_map(|v| to_json(v, *kind)).collect();
            match values.len() {
                0 => {}
                1 => {
                    object.insert(name.clone(), values.pop().expect("one value"));
                }
                _ => {
                    object.insert(name.clone(), Json::Array(values));
                }
            }
        }
        FetchedDoc { id, fields_json: Json::Object(object).to_string(), highlights: Default::default() }
    }

    fn fields_to_return(&self, names: &[String]) -> Result<Vec<(String, Field, FieldKind)>, LeafError> {
        let stored = |spec: &FieldSpec| spec.stored;
        if names.is_empty() {
            return Ok(self
                .schema
                .fields
                .iter()
                .filter(|(spec, _)| stored(spec))
                .map(|(spec, field)| (spec.name.clone(), *field, spec.kind))
                .collect());
        }
        names
            .iter()
            .map(|name| match self.schema.fields.iter().find(|(spec, _)| &spec.name == name) {
                Some((spec, field)) if stored(spec) => Ok((spec.name.clone(), *field, spec.kind)),
                Some(_) => Err(LeafError::InvalidArgument(format!("field `{name}` is not stored"))),
                None => Err(LeafError::InvalidArgument(format!("unknown field `{name}`"))),
            })
            .collect()
    }

    fn check_address(&self, searcher: &Searcher, address: &WireAddress) -> Result<DocAddress, LeafError> {
        let segments = searcher.segment_readers();
        match segments.get(address.segment_ord as usize) {
            Some(segment) if address.doc_id < segment.max_doc() => {
                Ok(DocAddress::new(address.segment_ord, address.doc_id))
            }
            _ => Err(LeafError::NotFound(format!(
                "no document at segment {} doc {} in shard {}",
                address.segment_ord, address.doc_id, self.shard_id
            ))),
        }
    }

    /// The address of the stored document with this ordinal (term layout).
    fn find_ordinal(&self, searcher: &Searcher, field: Field, ordinal: u64) -> Result<DocAddress, LeafError> {
        let term = Term::from_field_u64(field, ordinal);
        for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
            let postings = segment.inverted_index(field)?.read_postings(&term, IndexRecordOption::Basic)?;
            if let Some(postings) = postings {
                let doc = tantivy::DocSet::doc(&postings);
                if doc != tantivy::TERMINATED {
                    return Ok(DocAddress::new(segment_ord as u32, doc));
                }
            }
        }
        Err(LeafError::NotFound(format!("no document with ordinal {ordinal} in shard {}", self.shard_id)))
    }

    /// What this shard is, as every answer carries it.
    pub fn identity(&self) -> ShardIdentity {
        ShardIdentity {
            index_name: self.manifest.index_name.clone(),
            shard_id: self.shard_id,
            shard_count: self.manifest.shard_count,
            generation: self.manifest.generation,
            generations: Vec::new(),
        }
    }

    /// Refuses a request pinned to another generation (0 pins none).
    pub fn check_generation(&self, requested: u64) -> Result<(), LeafError> {
        let served = self.manifest.generation;
        if requested != 0 && requested != served {
            return Err(LeafError::GenerationMismatch { requested, served: vec![served] });
        }
        Ok(())
    }

    /// What this shard is.
    pub fn info(&self) -> InfoResponse {
        InfoResponse {
            index_name: self.manifest.index_name.clone(),
            shard_id: self.shard_id,
            shard_count: self.manifest.shard_count,
            num_docs: self.searcher().num_docs(),
            generation: self.manifest.generation,
            schema_json: serde_json::to_string(&self.manifest.schema).expect("a schema always serializes"),
            layout: self.manifest.layout.name().into(),
            generations: vec![self.manifest.generation],
            reload_error: String::new(),
            source: String::new(),
        }
    }
}

/// Loads documents' stored fields and snippets, as a fetch asked for them.
struct DocumentLoader<'a> {
    shard: &'a Shard,
    fields: Vec<(String, Field, FieldKind)>,
    highlighter: Option<Highlighter>,
}

impl DocumentLoader<'_> {
    /// The documents at `addresses`, in their order.
    fn load(
        &self,
        searcher: &Searcher,
        addresses: &[DocAddress],
        cancel: &CancelFlag,
    ) -> Result<Vec<FetchedDoc>, LeafError> {
        let mut docs = Vec::with_capacity(addresses.len());
        for &address in addresses {
            if cancel.is_cancelled() {
                return Err(LeafError::Cancelled);
            }
            let document: TantivyDocument = searcher.doc(address)?;
            let mut fetched = self.shard.fetched_doc(&document, &self.fields);
            if let Some(highlighter) = &self.highlighter {
                fetched.highlights = highlighter.highlight(&document);
            }
            docs.push(fetched);
        }
        Ok(docs)
    }
}

/// Runs a collector, with the root's statistics when there are some.
fn collect<C: Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    collector: &C,
    statistics: Option<&GlobalStatistics<'_>>,
) -> Result<C::Fruit, LeafError> {
    let result = match statistics {
        Some(statistics) => searcher.search_with_statistics_provider(query, collector, statistics),
        None => searcher.search(query, collector),
    };
    result.map_err(|err| match err {
        err if is_cancellation(&err) => LeafError::Cancelled,
        // A request naming a missing field or a bad aggregation is the caller's mistake.
        TantivyError::AggregationError(_)
        | TantivyError::FieldNotFound(_)
        | TantivyError::InvalidArgument(_)
        | TantivyError::SchemaError(_) => LeafError::InvalidArgument(err.to_string()),
        err => err.into(),
    })
}

fn to_json<'a>(value: impl tantivy::schema::Value<'a>, kind: FieldKind) -> Option<Json> {
    Some(match kind {
        FieldKind::Text | FieldKind::Keyword => Json::String(value.as_str()?.to_string()),
        FieldKind::I64 => Json::from(value.as_i64()?),
        FieldKind::U64 => Json::from(value.as_u64()?),
        FieldKind::F64 => Json::from(value.as_f64()?),
        FieldKind::Bool => Json::Bool(value.as_bool()?),
        FieldKind::Date => Json::String(value.as_datetime()?.into_utc().format(&Rfc3339).ok()?),
    })
}
