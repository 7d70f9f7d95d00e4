//! Builds a term-partitioned index: every document goes whole to its store shard (by
//! id), and each of its tokens goes to the postings index of the shard that owns the
//! token's term (by field and term), with the document's true field lengths beside it.
//! See [`crate::term_layout`] for the layout itself.

use std::path::Path;

use rayon::prelude::*;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::tokenizer::{MAX_TOKEN_LEN, PreTokenizedString, TextAnalyzer, Token, TokenizerManager};
use tantivy::{IndexWriter, TantivyDocument};

use crate::builder::{BuildOptions, commit_all, open_writer};
use crate::error::{IndexerError, io_error};
use crate::manifest::shard_dir;
use crate::pipeline::{ReadReport, read_documents};
use crate::progress::BuildProgress;
use crate::schema::IndexSchema;
use crate::sharding::shard_for_id;
use crate::source::Dataset;
use crate::term_layout::{
    POSTINGS_DIR, PostingsSchema, STORE_DIR, TERM_SHARDING_FUNCTION, TermRouter, TermStatistics, ordinal, store_schema,
};

/// What a term-layout build produced besides the shards themselves.
pub(crate) struct TermBuild {
    /// What reading the dataset found.
    pub report: ReadReport,
    /// Documents in each store shard.
    pub store_docs: Vec<u64>,
    /// The whole index's statistics, for `fanout.json`.
    pub statistics: TermStatistics,
}

/// Builds the postings and store indexes of every shard of a term-partitioned index in
/// `staged`.
pub(crate) fn build_term_shards(
    dataset: &Dataset,
    schema: &IndexSchema,
    staged: &Path,
    options: &BuildOptions,
) -> Result<TermBuild, IndexerError> {
    let shards = options.shards;
    let postings_schema = PostingsSchema::new(schema);
    let (store_schema, store_ordinal) = store_schema(schema);
    // Two writers per shard built share the threads and the memory; the shards of other
    // parts get none (their documents and tokens are still read and counted).
    let built = options.built_shards();
    let writers = 2 * built.len();
    let threads = options.threads.div_ceil(writers).max(1);
    let budget = options.memory_budget_bytes / writers;
    let mut postings_writers = Vec::with_capacity(shards as usize);
    let mut store_writers = Vec::with_capacity(shards as usize);
    for shard in 0..shards {
        if !built.contains(&shard) {
            postings_writers.push(None);
            store_writers.push(None);
            continue;
        }
        let dir = shard_dir(staged, shard);
        std::fs::create_dir(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        postings_writers.push(Some(open_writer(&dir.join(POSTINGS_DIR), &postings_schema.schema, threads, budget)?));
        store_writers.push(Some(open_writer(&dir.join(STORE_DIR), &store_schema, threads, budget)?));
    }
    let splitter = DocumentSplitter::new(&postings_schema, shards)?;
    let progress = BuildProgress::new(dataset.total_bytes, options.progress);
    let mut batch =
        Batch { documents: Vec::with_capacity(BATCH_DOCS), total_tokens: vec![0; postings_schema.fields.len()] };
    let mut store_docs = vec![0u64; shards as usize];
    let mut position = 0u64;
    let report = read_documents(dataset, schema, options.skip_errors, &progress, |document| {
        let store_shard = shard_for_id(&document.id, shards);
        let ordinal = ordinal(position, store_shard);
        position += 1;
        let mut stored = document.document;
        stored.add_u64(store_ordinal, ordinal);
        store_docs[store_shard as usize] += 1;
        batch.documents.push((stored, ordinal, store_shard));
        if batch.documents.len() == BATCH_DOCS {
            batch.flush(&splitter, &postings_writers, &store_writers)?;
        }
        Ok(())
    });
    let report =
        report.and_then(|report| batch.flush(&splitter, &postings_writers, &store_writers).map(|()| report))?;
    if report.docs == 0 {
        progress.finish();
        return Err(IndexerError::Empty(dataset.files[0].clone()));
    }
    progress.phase("committing shards");
    let committed = commit_all(postings_writers.into_iter().chain(store_writers).flatten().collect());
    progress.finish();
    committed?;
    let total_tokens = postings_schema.fields.iter().map(|field| field.name.clone()).zip(batch.total_tokens).collect();
    let statistics = TermStatistics {
        term_sharding_function: TERM_SHARDING_FUNCTION.to_string(),
        total_docs: report.docs,
        total_tokens,
    };
    Ok(TermBuild { report, store_docs, statistics })
}

/// Documents split in parallel per batch; the rest of the build is in input order.
const BATCH_DOCS: usize = 1024;

/// Documents waiting to be split, with their ordinal and store shard.
struct Batch {
    documents: Vec<(TantivyDocument, u64, u32)>,
    /// Tokens indexed so far, per searchable field.
    total_tokens: Vec<u64>,
}

impl Batch {
    /// Splits the batch's documents in parallel, then hands every postings document and
    /// every stored document to its writer in input order.
    fn flush(
        &mut self,
        splitter: &DocumentSplitter<'_>,
        postings_writers: &[Option<IndexWriter<TantivyDocument>>],
        store_writers: &[Option<IndexWriter<TantivyDocument>>],
    ) -> Result<(), IndexerError> {
        let split: Vec<SplitDocument> = self
            .documents
            .par_iter()
            .map_init(
                || splitter.analyzers.clone(),
                |analyzers, (document, ordinal, _)| splitter.split(analyzers, document, *ordinal),
            )
            .collect();
        for (split, (stored, _, store_shard)) in split.into_iter().zip(self.documents.drain(..)) {
            for (total, length) in self.total_tokens.iter_mut().zip(&split.lengths) {
                *total += u64::from(*length);
            }
            for (shard, postings) in split.postings {
                if let Some(writer) = &postings_writers[shard as usize] {
                    writer.add_document(postings)?;
                }
            }
            if let Some(writer) = &store_writers[store_shard as usize] {
                writer.add_document(stored)?;
            }
        }
        Ok(())
    }
}

/// One document's postings documents, by shard, and its field lengths.
struct SplitDocument {
    postings: Vec<(u32, TantivyDocument)>,
    lengths: Vec<u32>,
}

/// Splits a document's tokens by the shard that owns each term, and counts field lengths
/// the way tantivy's indexer does.
struct DocumentSplitter<'a> {
    schema: &'a PostingsSchema,
    analyzers: Vec<TextAnalyzer>,
    shards: u32,
}

impl<'a> DocumentSplitter<'a> {
    fn new(schema: &'a PostingsSchema, shards: u32) -> Result<DocumentSplitter<'a>, IndexerError> {
        let tokenizers = TokenizerManager::default();
        let analyzers = schema
            .fields
            .iter()
            .map(|field| {
                tokenizers.get(&field.tokenizer).ok_or_else(|| {
                    IndexerError::Contract(fanout_contracts::ContractError::Schema(format!(
                        "field `{}`: unknown tokenizer `{}`",
                        field.name, field.tokenizer
                    )))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(DocumentSplitter { schema, analyzers, shards })
    }

    /// The postings documents of every shard that owns one of the document's terms.
    fn split(&self, analyzers: &mut [TextAnalyzer], document: &TantivyDocument, ordinal: u64) -> SplitDocument {
        let fields = self.schema.fields.len();
        let mut router = TermRouter::new(self.shards);
        let mut tokens: Vec<Vec<Vec<Token>>> = vec![vec![Vec::new(); fields]; self.shards as usize];
        let mut lengths = vec![0u32; fields];
        for (index, field) in self.schema.fields.iter().enumerate() {
            for value in document.get_all(field.source) {
                let Some(text) = tantivy::schema::Value::as_str(&value) else { continue };
                let mut stream = analyzers[index].token_stream(text);
                while let Some(token) = stream.next() {
                    // tantivy drops tokens this long without counting them.
                    if token.text.len() > MAX_TOKEN_LEN {
                        continue;
                    }
                    lengths[index] += 1;
                    let shard = router.shard(&field.name, &token.text);
                    tokens[shard as usize][index].push(token.clone());
                }
            }
        }
        let mut postings = Vec::new();
        for (shard, fields) in tokens.into_iter().enumerate() {
            if fields.iter().all(Vec::is_empty) {
                continue;
            }
            let mut document = TantivyDocument::new();
            document.add_u64(self.schema.ordinal, ordinal);
            for ((field, tokens), length) in self.schema.fields.iter().zip(fields).zip(&lengths) {
                if let Some(norm) = field.norm {
                    document.add_u64(norm, u64::from(FieldNormReader::fieldnorm_to_id(*length)));
                }
                if !tokens.is_empty() {
                    document.add_pre_tokenized_text(field.postings, PreTokenizedString { text: String::new(), tokens });
                }
            }
            postings.push((shard as u32, document));
        }
        SplitDocument { postings, lengths }
    }
}
