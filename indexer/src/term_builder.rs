//! Builds a term-partitioned index: every document goes whole to its store shard (by
//! id), and each of its tokens goes to the postings index of the shard that owns the
//! token's term (by field and term), with the document's true field lengths beside it.
//! See [`crate::term_layout`] for the layout itself.

use std::path::Path;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::tokenizer::{MAX_TOKEN_LEN, PreTokenizedString, TextAnalyzer, Token, TokenizerManager};
use tantivy::{Index, IndexWriter, TantivyDocument};

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
    // Two writers per shard share the threads and the memory.
    let writers = 2 * shards as usize;
    let threads = options.threads.div_ceil(writers).max(1);
    let budget = options.memory_budget_bytes / writers;
    let mut postings_writers = Vec::with_capacity(shards as usize);
    let mut store_writers = Vec::with_capacity(shards as usize);
    for shard in 0..shards {
        let dir = shard_dir(staged, shard);
        std::fs::create_dir(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        postings_writers.push(open_writer(&dir.join(POSTINGS_DIR), &postings_schema.schema, threads, budget)?);
        store_writers.push(open_writer(&dir.join(STORE_DIR), &store_schema, threads, budget)?);
    }
    let mut splitter = DocumentSplitter::new(&postings_schema, shards)?;
    let progress = BuildProgress::new(dataset.total_bytes, options.progress);
    let mut store_docs = vec![0u64; shards as usize];
    let mut position = 0u64;
    let report = read_documents(dataset, schema, options.skip_errors, &progress, |document| {
        let store_shard = shard_for_id(&document.id, shards);
        let ordinal = ordinal(position, store_shard);
        position += 1;
        splitter.split(&document.document, ordinal, &postings_writers)?;
        let mut stored = document.document;
        stored.add_u64(store_ordinal, ordinal);
        store_writers[store_shard as usize].add_document(stored)?;
        store_docs[store_shard as usize] += 1;
        Ok(())
    })?;
    if report.docs == 0 {
        progress.finish();
        return Err(IndexerError::Empty(dataset.files[0].clone()));
    }
    progress.phase("committing shards");
    let committed = commit_all(postings_writers.into_iter().chain(store_writers).collect());
    progress.finish();
    committed?;
    let total_tokens =
        postings_schema.fields.iter().map(|field| field.name.clone()).zip(splitter.total_tokens).collect();
    let statistics = TermStatistics {
        term_sharding_function: TERM_SHARDING_FUNCTION.to_string(),
        total_docs: report.docs,
        total_tokens,
    };
    Ok(TermBuild { report, store_docs, statistics })
}

/// Splits one document's tokens by the shard that owns each term, and counts field
/// lengths the way tantivy's indexer does.
struct DocumentSplitter<'a> {
    schema: &'a PostingsSchema,
    analyzers: Vec<TextAnalyzer>,
    router: TermRouter,
    /// Tokens of the current document, per shard, per searchable field.
    tokens: Vec<Vec<Vec<Token>>>,
    /// Fieldnorm ids of the current document, per searchable field.
    norms: Vec<u8>,
    /// Tokens indexed so far, per searchable field.
    total_tokens: Vec<u64>,
}

impl<'a> DocumentSplitter<'a> {
    fn new(schema: &'a PostingsSchema, shards: u32) -> Result<DocumentSplitter<'a>, IndexerError> {
        let tokenizers = TokenizerManager::default();
        let analyzers = schema
            .fields
            .iter()
            .map(|field| {
                tokenizers.get(&field.tokenizer).ok_or_else(|| {
                    IndexerError::Schema(format!("field `{}`: unknown tokenizer `{}`", field.name, field.tokenizer))
                })
            })
            .collect::<Result<_, _>>()?;
        let fields = schema.fields.len();
        Ok(DocumentSplitter {
            schema,
            analyzers,
            router: TermRouter::new(shards),
            tokens: vec![vec![Vec::new(); fields]; shards as usize],
            norms: vec![0; fields],
            total_tokens: vec![0; fields],
        })
    }

    /// Adds the document's postings to every shard that owns one of its terms.
    fn split(
        &mut self,
        document: &TantivyDocument,
        ordinal: u64,
        writers: &[IndexWriter<TantivyDocument>],
    ) -> Result<(), IndexerError> {
        for (index, field) in self.schema.fields.iter().enumerate() {
            let mut length = 0u32;
            for value in document.get_all(field.source) {
                let Some(text) = tantivy::schema::Value::as_str(&value) else { continue };
                let mut stream = self.analyzers[index].token_stream(text);
                while let Some(token) = stream.next() {
                    // tantivy drops tokens this long without counting them.
                    if token.text.len() > MAX_TOKEN_LEN {
                        continue;
                    }
                    length += 1;
                    let shard = self.router.shard(&field.name, &token.text);
                    self.tokens[shard as usize][index].push(token.clone());
                }
            }
            self.norms[index] = FieldNormReader::fieldnorm_to_id(length);
            self.total_tokens[index] += u64::from(length);
        }
        for (shard, fields) in self.tokens.iter_mut().enumerate() {
            if fields.iter().all(Vec::is_empty) {
                continue;
            }
            let mut postings = TantivyDocument::new();
            postings.add_u64(self.schema.ordinal, ordinal);
            for (index, field) in self.schema.fields.iter().enumerate() {
                if let Some(norm) = field.norm {
                    postings.add_u64(norm, u64::from(self.norms[index]));
                }
                let tokens = std::mem::take(&mut fields[index]);
                if !tokens.is_empty() {
                    postings.add_pre_tokenized_text(field.postings, PreTokenizedString { text: String::new(), tokens });
                }
            }
            writers[shard].add_document(postings)?;
        }
        Ok(())
    }
}

/// Opens the tantivy index of a term shard part (postings or store) for serving.
pub fn open_part(shard_dir: &Path, part: &str) -> Result<Index, String> {
    let dir = shard_dir.join(part);
    Index::open_in_dir(&dir).map_err(|err| format!("{} is not a tantivy index: {err}", dir.display()))
}
