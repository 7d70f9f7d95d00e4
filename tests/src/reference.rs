//! The correctness reference: one tantivy index over the same documents as the shards,
//! built by the reference's own ingestion ([`crate::ingest`]: the schema file and the
//! JSON lines read without the project's schema or document code), searched with tantivy
//! alone; and the comparison of a distributed answer with it.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use fanout_indexer::Layout;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggContextParams, AggregationCollector, AggregationLimitsGuard};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value as _};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, TantivyDocument, Term};

use crate::ingest::ReferenceSchema;

/// Extra reference hits beyond the page, to hold ties at the page's end.
pub const TIE_MARGIN: usize = 50;

/// A single in-memory tantivy index over a whole dataset.
pub struct Reference {
    index: Index,
    reader: IndexReader,
    parser: QueryParser,
    schema: ReferenceSchema,
}

/// What the reference answers for one page of one query.
#[derive(Clone, Debug)]
pub struct Expected {
    /// The page itself: (id, score), best first.
    pub hits: Vec<(String, f32)>,
    /// Every matching document.
    pub total: usize,
    /// The reference score of every document ranked up to [`TIE_MARGIN`] past the page's
    /// end, for documents of a tie the distributed page orders differently.
    scores: HashMap<String, f32>,
}

impl Expected {
    /// The page at `offset`, `limit` long, of a ranking (best first, at least
    /// `offset + limit + TIE_MARGIN` long unless it holds every match) of `total` matches.
    fn from_ranking(ranking: Vec<(String, f32)>, total: usize, offset: usize, limit: usize) -> Expected {
        let scores = ranking.iter().take(offset + limit + TIE_MARGIN).cloned().collect();
        let hits = ranking.into_iter().skip(offset).take(limit).collect();
        Expected { hits, total, scores }
    }
}

impl Reference {
    /// Indexes every document of `dataset` with the schema file at `schema_path`.
    pub fn from_files(dataset: &Path, schema_path: &Path) -> Reference {
        Reference::build(dataset, ReferenceSchema::read(schema_path))
    }

    /// Indexes every document of `dataset` into one index.
    pub fn build(dataset: &Path, schema: ReferenceSchema) -> Reference {
        let index = Index::create_in_ram(schema.schema.clone());
        let mut writer = index.writer_with_num_threads(2, 200 << 20).expect("a writer");
        schema.read_dataset(dataset, |_, document| {
            writer.add_document(document).expect("indexing the reference");
        });
        writer.commit().expect("committing the reference");
        let reader = index.reader().expect("a reader");
        let parser = QueryParser::for_index(&index, schema.default_search_fields.clone());
        Reference { index, reader, parser, schema }
    }

    /// Aggregations (Elasticsearch JSON) over the documents matching `query`, computed by
    /// tantivy's own `AggregationCollector` on the single index.
    pub fn aggregate(&self, query: &str, aggregations: &serde_json::Value) -> serde_json::Value {
        let request: Aggregations = serde_json::from_value(aggregations.clone()).expect("a valid aggregation request");
        let context = AggContextParams::new(AggregationLimitsGuard::default(), self.index.tokenizers().clone());
        let collector = AggregationCollector::from_aggs(request, context);
        let results = self.reader.searcher().search(self.parse(query).as_ref(), &collector).expect("aggregating");
        serde_json::to_value(results).expect("results serialize")
    }

    /// The single index's own snippet of `field` for the document `id` under `query`
    /// (tantivy's SnippetGenerator with its own statistics), with the given tags.
    pub fn snippet(&self, query: &str, field: &str, id: &str, tags: (&str, &str), max_chars: usize) -> String {
        let searcher = self.reader.searcher();
        let parsed = self.parse(query);
        let mut generator =
            SnippetGenerator::create(&searcher, parsed.as_ref(), self.field(field)).expect("a generator");
        generator.set_max_num_chars(max_chars);
        let by_id = TermQuery::new(Term::from_field_text(self.schema.id_field, id), IndexRecordOption::Basic);
        let found = searcher.search(&by_id, &TopDocs::with_limit(1).order_by_score()).expect("a lookup");
        let document: TantivyDocument = searcher.doc(found[0].1).expect("a stored document");
        let mut snippet = generator.snippet_from_doc(&document);
        snippet.set_snippet_prefix_postfix(tags.0, tags.1);
        snippet.to_html()
    }

    /// Whether the reference's parser accepts the query.
    pub fn accepts(&self, query: &str) -> bool {
        self.parser.parse_query(query).is_ok()
    }

    /// The top `limit` (id, score) and the total number of matches of a query.
    pub fn search(&self, query: &str, limit: usize) -> (Vec<(String, f32)>, usize) {
        self.search_query(self.parse(query).as_ref(), limit)
    }

    /// The expected page at `offset`, `limit` long, of a query.
    pub fn expected(&self, query: &str, offset: usize, limit: usize) -> Expected {
        self.expected_query(self.parse(query).as_ref(), offset, limit)
    }

    /// The expected page at `offset`, `limit` long, of a built query.
    pub fn expected_query(&self, query: &dyn Query, offset: usize, limit: usize) -> Expected {
        let (top, total) = self.search_query(query, offset + limit + TIE_MARGIN);
        Expected::from_ranking(top, total, offset, limit)
    }

    /// The expected page of a query over only the documents whose id `keep` accepts
    /// (those of the shards that answered), scored as in the whole index: the root sums
    /// the statistics of every shard, so the missing shards' documents still count in
    /// them.
    pub fn expected_among(&self, query: &str, offset: usize, limit: usize, keep: impl Fn(&str) -> bool) -> Expected {
        let ranking: Vec<(String, f32)> =
            self.ranking(self.parse(query).as_ref()).into_iter().filter(|(id, _)| keep(id)).collect();
        let total = ranking.len();
        Expected::from_ranking(ranking, total, offset, limit)
    }

    /// A query parsed by the reference's own parser.
    pub fn parse(&self, query: &str) -> Box<dyn Query> {
        self.parser.parse_query(query).expect("a valid query")
    }

    /// A field of the schema by name.
    pub fn field(&self, name: &str) -> Field {
        self.schema.schema.get_field(name).expect("a field of the schema")
    }

    /// The top `limit` (id, score) and the total number of matches of a built query.
    pub fn search_query(&self, query: &dyn Query, limit: usize) -> (Vec<(String, f32)>, usize) {
        let searcher = self.reader.searcher();
        let (top, count) = searcher
            .search(query, &(TopDocs::with_limit(limit.max(1)).order_by_score(), Count))
            .expect("searching the reference");
        let hits = top
            .into_iter()
            .map(|(score, address)| {
                let doc: TantivyDocument = searcher.doc(address).expect("a stored document");
                let id = doc.get_first(self.schema.id_field).and_then(|v| v.as_str()).expect("an id").to_string();
                (id, score)
            })
            .collect();
        (hits, count)
    }

    /// Every match of a built query, best first.
    fn ranking(&self, query: &dyn Query) -> Vec<(String, f32)> {
        let count = self.reader.searcher().search(query, &Count).expect("counting");
        let (hits, total) = self.search_query(query, count);
        assert_eq!(hits.len(), total, "every match ranked");
        hits
    }

    /// Ids of every document matching a query.
    pub fn matching_ids(&self, query: &str) -> Vec<String> {
        self.ranking(self.parse(query).as_ref()).into_iter().map(|(id, _)| id).collect()
    }
}

/// How far a distributed score may be from the reference's, in units in the last place
/// of an f32 (the distance between the two scores' positions among all f32 values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreTolerance {
    /// At most this many f32 steps apart; 0 is bit-for-bit equality.
    pub max_ulps: u32,
}

impl ScoreTolerance {
    /// Document layout: exact. Every leaf scores its documents with tantivy's own BM25
    /// (`TermScorer`, summed by tantivy's own boolean scorers) under the root's sums of
    /// the shards' statistics, which are the same integers (document count, token counts,
    /// document frequencies) the single index sums over its segments; the same f32
    /// operations on the same inputs give the same bits. Measured: every comparison of
    /// Cranfield (225 queries on 1, 3 and 7 shards) and Hacker News (1,000 TREC queries,
    /// filters, deep pages) agrees bit for bit.
    pub const DOCUMENT: ScoreTolerance = ScoreTolerance { max_ulps: 0 };

    /// Term layout: 2 ulps (about 1.5e-7 relative). The leaves compute each term's
    /// contribution as tantivy's `TermScorer` would (the same `Bm25Weight` from complete
    /// statistics), but the root adds the contributions of a document's terms (and of a
    /// word's fields) in its own order, not in the order tantivy's boolean scorers add
    /// them, and f32 addition is not associative: each reordered addition may round
    /// differently by half an ulp. Measured: at most 1 ulp on Cranfield (1 and 5 term
    /// shards, every query as a disjunction, a conjunction and with an exclusion) and at
    /// most 2 ulps on Hacker News (4 term shards, 400 TREC queries in the three forms,
    /// deep pages); 2 is the smallest tolerance that passes. No near-tie was reordered:
    /// the order still differs only among exactly equal reference scores.
    pub const TERM: ScoreTolerance = ScoreTolerance { max_ulps: 2 };

    /// The tolerance of an index layout.
    pub fn of(layout: Layout) -> ScoreTolerance {
        match layout {
            Layout::Document => ScoreTolerance::DOCUMENT,
            Layout::Term => ScoreTolerance::TERM,
        }
    }

    /// Whether two scores agree.
    pub fn agree(self, a: f32, b: f32) -> bool {
        ulps_apart(a, b) <= u64::from(self.max_ulps)
    }
}

/// How many f32 values lie between `a` and `b` (0 when equal; NaN is infinitely far).
pub fn ulps_apart(a: f32, b: f32) -> u64 {
    if a.is_nan() || b.is_nan() {
        return u64::MAX;
    }
    // The bits of a float, mapped so that integer order is float order (and -0 == +0).
    let ordered = |x: f32| {
        let bits = x.to_bits() as i64;
        if bits & 0x8000_0000 != 0 { -(bits & 0x7fff_ffff) } else { bits }
    };
    ordered(a).abs_diff(ordered(b))
}

/// Asserts that a JSON search answer is the expected page: the same total hits, the same
/// number of hits, and the same ranking ([`assert_same_ranking`]).
pub fn assert_same_answer(context: &str, answer: &serde_json::Value, expected: &Expected, tolerance: ScoreTolerance) {
    let hits = crate::sandbox::hits_of(answer);
    let total = answer["total_hits"].as_u64().unwrap_or_else(|| panic!("{context}: no total_hits in {answer}"));
    assert_same_ranking(context, &hits, total, expected, tolerance);
}

/// Asserts that `distributed` (with its total) is the reference's page: the same total,
/// the same length, position by position a score within `tolerance` of the reference's,
/// and each hit a document whose reference score is its own (within `tolerance`) and is
/// exactly the reference's score at that position. So the order may differ only among
/// documents of exactly equal reference score (the root breaks ties by shard, one index
/// by document address), and nothing else may.
pub fn assert_same_ranking(
    context: &str,
    distributed: &[(String, f32)],
    distributed_total: u64,
    expected: &Expected,
    tolerance: ScoreTolerance,
) {
    assert_eq!(distributed_total, expected.total as u64, "{context}: total hits");
    assert_eq!(
        distributed.len(),
        expected.hits.len(),
        "{context}: {} hits, the reference has {}",
        distributed.len(),
        expected.hits.len()
    );
    let mut seen = HashSet::new();
    for (position, ((id, score), (reference_id, reference_score))) in distributed.iter().zip(&expected.hits).enumerate()
    {
        assert!(
            tolerance.agree(*score, *reference_score),
            "{context}: position {position}: score {score} (id {id}) but the reference has {reference_score} (id {reference_id}), {} ulps apart",
            ulps_apart(*score, *reference_score)
        );
        let own = expected
            .scores
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{context}: position {position}: id {id} is not among the reference's top hits"));
        assert!(
            tolerance.agree(*score, *own),
            "{context}: position {position}: id {id} scored {score}, the reference scores it {own}"
        );
        assert!(
            own.to_bits() == reference_score.to_bits(),
            "{context}: position {position}: id {id} (reference score {own}) where the reference has {reference_id} (score {reference_score}): only documents of equal scores may trade places"
        );
        assert!(seen.insert(id.clone()), "{context}: id {id} appears twice");
    }
}

/// Asserts that two aggregation results are the same: the same keys, bucket keys and
/// counts exactly, metrics within 1e-6 relative (summation order differs across shards).
pub fn assert_same_aggregations(context: &str, got: &serde_json::Value, expected: &serde_json::Value) {
    use serde_json::Value;
    match (got, expected) {
        (Value::Object(a), Value::Object(b)) => {
            let (mut keys_a, mut keys_b): (Vec<_>, Vec<_>) = (a.keys().collect(), b.keys().collect());
            keys_a.sort();
            keys_b.sort();
            assert_eq!(keys_a, keys_b, "{context}: keys");
            for (key, value) in a {
                assert_same_aggregations(&format!("{context}.{key}"), value, &b[key]);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{context}: bucket count");
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same_aggregations(&format!("{context}[{index}]"), x, y);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0), "{context}: {x} vs {y}");
        }
        _ => assert_eq!(got, expected, "{context}"),
    }
}
