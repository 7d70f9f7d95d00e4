//! The answer a single index gives: one in-memory tantivy index over the same JSON lines,
//! parsed by the indexer's own pipeline (so the same field types and tokenizers), searched
//! with tantivy's `QueryParser` over the schema's default search fields, `TopDocs + Count`.
//! Distributed answers (the root's JSON) are held to it.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use fanout_indexer::IndexSchema;
use fanout_indexer::pipeline::read_documents;
use fanout_indexer::progress::BuildProgress;
use fanout_indexer::source::Dataset;
use serde_json::Value;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::QueryParser;
use tantivy::schema::Value as _;
use tantivy::{Index, IndexReader, TantivyDocument};

/// Hits past the page the reference looks at, so that a tie at the end of a page is whole.
const TIE_MARGIN: usize = 50;

/// Relative tolerance of score comparisons (the root and one index compute the same BM25
/// from the same statistics; only summation order may differ).
pub const SCORE_TOLERANCE: f32 = 1e-5;

/// A single tantivy index over a dataset.
pub struct Reference {
    reader: IndexReader,
    parser: QueryParser,
    schema: IndexSchema,
}

impl Reference {
    /// Indexes every document of `data` with the schema file `schema`.
    pub fn build(data: &Path, schema: &Path) -> Reference {
        Reference::build_where(data, schema, |_| true)
    }

    /// Indexes the documents of `data` whose id satisfies `keep`.
    pub fn build_where(data: &Path, schema: &Path, keep: impl Fn(&str) -> bool) -> Reference {
        let schema = IndexSchema::read(schema).expect("a valid schema file");
        let index = Index::create_in_ram(schema.schema.clone());
        let mut writer = index.writer_with_num_threads(1, 50 << 20).expect("a writer");
        let dataset = Dataset::open(data).expect("the dataset");
        read_documents(&dataset, &schema, false, &BuildProgress::new(0, false), |document| {
            if keep(&document.id) {
                writer.add_document(document.document)?;
            }
            Ok(())
        })
        .expect("indexing the reference");
        writer.commit().expect("committing the reference");
        let reader = index.reader().expect("a reader");
        let parser = QueryParser::for_index(&index, schema.default_search_fields.clone());
        Reference { reader, parser, schema }
    }

    /// The top `limit` (id, score) and the number of matches of `query`.
    pub fn search(&self, query: &str, limit: usize) -> (Vec<(String, f32)>, u64) {
        let parsed = self.parser.parse_query(query).unwrap_or_else(|err| panic!("{query:?}: {err}"));
        let searcher = self.reader.searcher();
        let (top, count) = searcher
            .search(parsed.as_ref(), &(TopDocs::with_limit(limit.max(1)).order_by_score(), Count))
            .expect("searching the reference");
        let hits = top
            .into_iter()
            .map(|(score, address)| {
                let document: TantivyDocument = searcher.doc(address).expect("a stored document");
                let id = document.get_first(self.schema.id_field).and_then(|v| v.as_str()).expect("an id");
                (id.to_string(), score)
            })
            .collect();
        (hits, count as u64)
    }

    /// Whether a root's JSON answer to `query` (asking for `limit` hits from offset 0) is
    /// this index's: the same total, as many hits as it has (up to `limit`), position by
    /// position the same scores, each hit a document whose own score is that one (so ties
    /// may be permuted among themselves, nothing else), no id twice. The error says what
    /// differs first.
    pub fn check(&self, query: &str, limit: usize, answer: &Value) -> Result<(), String> {
        let (expected, total) = self.search(query, limit + TIE_MARGIN);
        let got_total = answer["total_hits"].as_u64().ok_or("no total_hits")?;
        if got_total != total {
            return Err(format!("total_hits {got_total}, the reference has {total}"));
        }
        let hits = answer["hits"].as_array().ok_or("no hits")?;
        let want = expected.len().min(limit);
        if hits.len() != want {
            return Err(format!("{} hits, the reference has {want}", hits.len()));
        }
        let own: HashMap<&str, f32> = expected.iter().map(|(id, score)| (id.as_str(), *score)).collect();
        let mut seen = HashSet::new();
        for (position, (hit, (expected_id, expected_score))) in hits.iter().zip(&expected).enumerate() {
            let id = hit["id"].as_str().ok_or("a hit without an id")?;
            let score = hit["score"].as_f64().ok_or("a hit without a score")? as f32;
            if !agree(score, *expected_score) {
                return Err(format!(
                    "position {position}: {id} scored {score}, the reference has {expected_id} scored {expected_score}"
                ));
            }
            match own.get(id) {
                Some(own) if agree(score, *own) => {}
                Some(own) => {
                    return Err(format!("position {position}: {id} scored {score}, the reference scores it {own}"));
                }
                None => return Err(format!("position {position}: {id} is not among the reference's top hits")),
            }
            if !seen.insert(id) {
                return Err(format!("position {position}: {id} appears twice"));
            }
        }
        Ok(())
    }
}

/// Scores equal within [`SCORE_TOLERANCE`] relative.
pub fn agree(a: f32, b: f32) -> bool {
    (a - b).abs() <= SCORE_TOLERANCE * a.abs().max(b.abs()).max(1e-6)
}
