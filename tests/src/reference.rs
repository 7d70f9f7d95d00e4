//! The correctness reference: one tantivy index over the same documents as the shards,
//! built through the same parser, searched with tantivy alone.

use std::collections::HashMap;
use std::path::Path;

use fanout_indexer::IndexSchema;
use fanout_indexer::pipeline::read_documents;
use fanout_indexer::progress::BuildProgress;
use fanout_indexer::source::Dataset;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggContextParams, AggregationCollector, AggregationLimitsGuard};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value as _};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, TantivyDocument, Term};

/// A single in-memory tantivy index over a whole dataset.
pub struct Reference {
    index: Index,
    reader: IndexReader,
    parser: QueryParser,
    schema: IndexSchema,
}

impl Reference {
    /// Indexes every document of `dataset` into one index.
    pub fn build(dataset: &Path, schema: &IndexSchema) -> Reference {
        let index = Index::create_in_ram(schema.schema.clone());
        let mut writer = index.writer_with_num_threads(2, 200 << 20).expect("a writer");
        let dataset = Dataset::open(dataset).expect("the dataset");
        read_documents(&dataset, schema, false, &BuildProgress::new(0, false), |document| {
            writer.add_document(document.document)?;
            Ok(())
        })
        .expect("indexing the reference");
        writer.commit().expect("committing the reference");
        let reader = index.reader().expect("a reader");
        let parser = QueryParser::for_index(&index, schema.default_search_fields.clone());
        Reference { index, reader, parser, schema: schema.clone() }
    }

    /// Indexes every document of `dataset` with the schema file at `schema_path`.
    pub fn from_files(dataset: &Path, schema_path: &Path) -> Reference {
        Reference::build(dataset, &IndexSchema::read(schema_path).expect("a valid schema file"))
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

    /// Ids of every document matching a query.
    pub fn matching_ids(&self, query: &str) -> Vec<String> {
        let (_, count) = self.search(query, 1);
        self.search(query, count).0.into_iter().map(|(id, _)| id).collect()
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

/// Whether two scores agree within 1e-4 relative.
pub fn scores_agree(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1e-6)
}

/// Asserts that `distributed` is the reference's top `distributed.len()` hits: the same
/// scores position by position (1e-4 relative), and each hit a document whose reference
/// score is its own. Among documents of exactly equal score the order may differ (the
/// root breaks ties by shard, one index by document address), nothing else may.
/// `reference` must extend past the page far enough to hold every tie at its end.
pub fn assert_same_ranking(context: &str, distributed: &[(String, f32)], reference: &[(String, f32)]) {
    assert!(
        distributed.len() <= reference.len(),
        "{context}: {} hits, reference has {}",
        distributed.len(),
        reference.len()
    );
    let reference_scores: HashMap<&str, f32> = reference.iter().map(|(id, score)| (id.as_str(), *score)).collect();
    let mut seen = std::collections::HashSet::new();
    for (position, ((id, score), (reference_id, reference_score))) in distributed.iter().zip(reference).enumerate() {
        assert!(
            scores_agree(*score, *reference_score),
            "{context}: position {position}: score {score} (id {id}) but the reference has {reference_score} (id {reference_id})"
        );
        let own = reference_scores
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{context}: position {position}: id {id} is not among the reference's top hits"));
        assert!(
            scores_agree(*score, *own),
            "{context}: position {position}: id {id} scored {score}, the reference scores it {own}"
        );
        assert!(seen.insert(id.clone()), "{context}: id {id} appears twice");
    }
}
