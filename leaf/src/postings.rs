//! The postings half of a term-partitioned shard: for each requested term this shard
//! owns, every document holding it and the term's exact BM25 contribution to the
//! document's score, computed as tantivy's `TermScorer` would in a single index (the
//! term's doc frequency is complete here; the document count and average field length
//! are the whole index's, from `fanout.json`; the field length is the document's true
//! one, from a fast column).

use std::path::Path;

use fanout_contracts::limits::MAX_TERMS;
use fanout_contracts::term_layout::{ORDINAL_FIELD, PostingsSchema, TermStatistics, shard_for_term};
use fanout_contracts::{IndexSchema, Manifest};
use fanout_proto::v1::{PostingsRequest, PostingsResponse, TermKey, TermPostings};
use tantivy::columnar::Column;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::Postings as _;
use tantivy::query::Bm25Weight;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet as _, IndexReader, ReloadPolicy, Searcher, TERMINATED, Term};

use crate::cancel::CancelFlag;
use crate::error::LeafError;

/// A term shard's postings index, opened for serving.
pub struct PostingsIndex {
    shard_id: u32,
    shard_count: u32,
    generation: u64,
    schema: PostingsSchema,
    statistics: TermStatistics,
    reader: IndexReader,
}

impl PostingsIndex {
    /// Opens the postings index in `dir` of shard `shard_id`, checking its schema against
    /// the one `manifest` implies.
    pub fn open(dir: &Path, shard_id: u32, manifest: &Manifest, schema: &IndexSchema) -> Result<Self, LeafError> {
        let statistics = manifest
            .term_statistics
            .clone()
            .ok_or_else(|| LeafError::Open("fanout.json of a term-partitioned index lacks term_statistics".into()))?;
        let index = crate::read_only::open_index(dir)
            .map_err(|err| LeafError::Open(format!("{} is not a tantivy index: {err}", dir.display())))?;
        let schema = PostingsSchema::new(schema);
        if index.schema() != schema.schema {
            return Err(LeafError::Open(format!(
                "the schema of {} differs from the postings schema fanout.json implies",
                dir.display()
            )));
        }
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(PostingsIndex {
            shard_id,
            shard_count: manifest.shard_count,
            generation: manifest.generation,
            schema,
            statistics,
            reader,
        })
    }

    /// The postings of every requested term, in request order.
    pub fn postings(&self, request: &PostingsRequest, cancel: &CancelFlag) -> Result<PostingsResponse, LeafError> {
        if request.terms.len() > MAX_TERMS {
            return Err(LeafError::InvalidArgument(format!(
                "a postings request may carry at most {MAX_TERMS} terms, got {}",
                request.terms.len()
            )));
        }
        let searcher = self.reader.searcher();
        let postings =
            request.terms.iter().map(|key| self.term_postings(&searcher, key, cancel)).collect::<Result<_, _>>()?;
        Ok(PostingsResponse { postings, generation: self.generation, identity: None })
    }

    fn term_postings(
        &self,
        searcher: &Searcher,
        key: &TermKey,
        cancel: &CancelFlag,
    ) -> Result<TermPostings, LeafError> {
        let field = self.schema.field(&key.field).ok_or_else(|| {
            LeafError::InvalidArgument(format!("field `{}` is not a text or keyword field of this index", key.field))
        })?;
        let owner = shard_for_term(&key.field, &key.text, self.shard_count);
        if owner != self.shard_id {
            return Err(LeafError::InvalidArgument(format!(
                "term {}:{:?} belongs to shard {owner}, not to shard {}",
                key.field, key.text, self.shard_id
            )));
        }
        let term = Term::from_field_text(field.postings, &key.text);
        let doc_freq = searcher.doc_freq(&term)?;
        let average = self.statistics.average_field_length(&field.name);
        let bm25 = Bm25Weight::for_one_term_without_explain(doc_freq, self.statistics.total_docs, average);
        let option = if field.has_freqs { IndexRecordOption::WithFreqs } else { IndexRecordOption::Basic };
        // A field without norms is scored as if every document had length 1, as tantivy does.
        let constant_norm = FieldNormReader::fieldnorm_to_id(1);
        let mut scored: Vec<(u64, f32)> = Vec::with_capacity(doc_freq as usize);
        for segment in searcher.segment_readers() {
            if cancel.is_cancelled() {
                return Err(LeafError::Cancelled);
            }
            let Some(mut postings) = segment.inverted_index(field.postings)?.read_postings(&term, option)? else {
                continue;
            };
            let fast = segment.fast_fields();
            let ordinals: Column<u64> = fast.u64(ORDINAL_FIELD)?;
            let norms: Option<Column<u64>> =
                field.norm.map(|norm| fast.u64(self.schema.schema.get_field_name(norm))).transpose()?;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                let term_freq = if field.has_freqs { postings.term_freq() } else { 1 };
                let norm = match &norms {
                    Some(norms) => norms.first(doc).unwrap_or_default() as u8,
                    None => constant_norm,
                };
                scored.push((ordinals.first(doc).unwrap_or_default(), bm25.score(norm, term_freq)));
                doc = postings.advance();
            }
        }
        scored.sort_unstable_by_key(|(ordinal, _)| *ordinal);
        let mut previous = 0;
        let mut ordinal_deltas = Vec::with_capacity(scored.len());
        let mut scores = Vec::with_capacity(scored.len());
        for (ordinal, score) in scored {
            ordinal_deltas.push(ordinal - previous);
            previous = ordinal;
            scores.push(score);
        }
        Ok(TermPostings { doc_freq, ordinal_deltas, scores })
    }
}
