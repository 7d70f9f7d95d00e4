//! The term-partitioned layout's contracts, shared by the indexer, the leaf and the root.
//!
//! In this layout shard `i` holds two tantivy indexes:
//! - `postings/`: the complete postings of every term (field and term) the term sharding
//!   function assigns to shard `i`, over *all* documents, with term frequencies, plus each
//!   document's true field lengths (as tantivy's one-byte fieldnorm ids) in fast columns,
//!   so that the leaf scores every posting exactly as a single index would;
//! - `store/`: the documents whose id the document sharding function assigns to shard
//!   `i`, indexed as in the document layout, plus their [ordinal](ordinal), so that
//!   stored fields, snippets and lookups by id work as they do for document shards.
//!
//! A document is known everywhere by its ordinal: its position in the input times
//! 1024, plus its store shard. Ordinals order documents as the input did, and the root
//! reads the store shard of a hit from its ordinal without asking anyone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tantivy::schema::{FAST, Field, FieldEntry, FieldType, INDEXED, IndexRecordOption, Schema};
use tantivy::schema::{TextFieldIndexing, TextOptions};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::schema::IndexSchema;
use crate::sharding::jump_consistent_hash;

/// The name of the ordinal field in both indexes of a term shard.
pub const ORDINAL_FIELD: &str = "__ordinal";
/// Directory of a term shard's postings index, inside `shard-NNNN/`.
pub const POSTINGS_DIR: &str = "postings";
/// Directory of a term shard's store index, inside `shard-NNNN/`.
pub const STORE_DIR: &str = "store";
/// The term sharding function's name, recorded in `fanout.json`.
pub const TERM_SHARDING_FUNCTION: &str = "jump_consistent_hash(xxh3_64(field \\0 term))";

/// Bits of an ordinal that hold the store shard (so at most 1024 shards).
const STORE_SHARD_BITS: u32 = 10;

/// The ordinal of the document at `position` in the input, stored in `store_shard`.
pub fn ordinal(position: u64, store_shard: u32) -> u64 {
    debug_assert!(store_shard < 1 << STORE_SHARD_BITS);
    (position << STORE_SHARD_BITS) | u64::from(store_shard)
}

/// The store shard of the document with this ordinal.
pub fn store_shard_of(ordinal: u64) -> u32 {
    (ordinal & ((1 << STORE_SHARD_BITS) - 1)) as u32
}

/// The shard that owns the postings of `term` in `field`, among `shard_count` shards:
/// `jump_consistent_hash(xxh3_64(field ‖ 0x00 ‖ term))`.
pub fn shard_for_term(field: &str, term: &str, shard_count: u32) -> u32 {
    let mut hasher = Xxh3::new();
    hasher.update(field.as_bytes());
    hasher.update(&[0]);
    hasher.update(term.as_bytes());
    jump_consistent_hash(hasher.digest(), shard_count)
}

/// [`shard_for_term`] for many terms, reusing one key buffer.
#[derive(Clone, Debug)]
pub struct TermRouter {
    shard_count: u32,
    key: Vec<u8>,
}

impl TermRouter {
    /// A router over `shard_count` shards.
    pub fn new(shard_count: u32) -> TermRouter {
        TermRouter { shard_count, key: Vec::new() }
    }

    /// The shard that owns `term` in `field`; equal to [`shard_for_term`].
    pub fn shard(&mut self, field: &str, term: &str) -> u32 {
        self.key.clear();
        self.key.extend_from_slice(field.as_bytes());
        self.key.push(0);
        self.key.extend_from_slice(term.as_bytes());
        jump_consistent_hash(xxh3_64(&self.key), self.shard_count)
    }
}

/// What the term layout records in `fanout.json` for BM25: the statistics of the whole
/// index that no single term shard can count by itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermStatistics {
    /// The term sharding function's name; see [`TERM_SHARDING_FUNCTION`].
    pub term_sharding_function: String,
    /// Documents in the index.
    pub total_docs: u64,
    /// Tokens indexed per searchable field over all documents (tantivy's
    /// `total_num_tokens`); the average field length is this over `total_docs`.
    pub total_tokens: BTreeMap<String, u64>,
}

impl TermStatistics {
    /// BM25's average field length of `field`, as tantivy computes it.
    pub fn average_field_length(&self, field: &str) -> f32 {
        let tokens = self.total_tokens.get(field).copied().unwrap_or_default();
        tokens as f32 / self.total_docs.max(1) as f32
    }
}

/// A field whose terms the term layout partitions: a text, keyword or id field.
#[derive(Clone, Debug)]
pub struct SearchableField {
    /// The field's name (the same in the original schema and in the postings index).
    pub name: String,
    /// The field in the original schema.
    pub source: Field,
    /// The field in the postings index.
    pub postings: Field,
    /// The fast column with the field length's fieldnorm id, when the field has norms.
    pub norm: Option<Field>,
    /// Whether postings carry term frequencies (otherwise every frequency is 1).
    pub has_freqs: bool,
    /// The tokenizer the original schema names.
    pub tokenizer: String,
}

/// The schema of a term shard's postings index, and where each searchable field went.
#[derive(Clone, Debug)]
pub struct PostingsSchema {
    /// The tantivy schema.
    pub schema: Schema,
    /// The ordinal fast column.
    pub ordinal: Field,
    /// The partitioned fields, in the original schema's order.
    pub fields: Vec<SearchableField>,
}

impl PostingsSchema {
    /// The postings schema for an index schema: every indexed string field becomes a
    /// pre-tokenized field with the same record option and no norms (the true lengths
    /// live in `__norm_N` fast columns), and `__ordinal` is a fast column.
    pub fn new(schema: &IndexSchema) -> PostingsSchema {
        let mut builder = Schema::builder();
        let ordinal = builder.add_u64_field(ORDINAL_FIELD, FAST);
        let mut fields = Vec::new();
        for (source, entry) in schema.schema.fields() {
            let FieldType::Str(options) = entry.field_type() else { continue };
            let Some(indexing) = options.get_indexing_options() else { continue };
            let record = indexing.index_option();
            let has_freqs = record.has_freq();
            let postings_record = if has_freqs { IndexRecordOption::WithFreqs } else { IndexRecordOption::Basic };
            let postings_options = TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_index_option(postings_record)
                    .set_fieldnorms(false),
            );
            let postings = builder.add_text_field(entry.name(), postings_options);
            let norm = entry.has_fieldnorms().then(|| builder.add_u64_field(&format!("__norm_{}", fields.len()), FAST));
            fields.push(SearchableField {
                name: entry.name().to_string(),
                source,
                postings,
                norm,
                has_freqs,
                tokenizer: indexing.tokenizer().to_string(),
            });
        }
        PostingsSchema { schema: builder.build(), ordinal, fields }
    }

    /// The searchable field called `name`.
    pub fn field(&self, name: &str) -> Option<&SearchableField> {
        self.fields.iter().find(|field| field.name == name)
    }
}

/// The schema of a term shard's store index: the index schema with the same field ids,
/// plus `__ordinal`, indexed (to find a document by ordinal) and fast.
pub fn store_schema(schema: &IndexSchema) -> (Schema, Field) {
    let mut builder = Schema::builder();
    for (_, entry) in schema.schema.fields() {
        builder.add_field(entry.clone());
    }
    let ordinal = builder.add_field(FieldEntry::new_u64(ORDINAL_FIELD.to_string(), (INDEXED | FAST).into()));
    (builder.build(), ordinal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaFile;

    fn schema() -> IndexSchema {
        IndexSchema::build(
            SchemaFile::parse(
                "id_field = \"id\"\n[[field]]\nname = \"title\"\ntype = \"text\"\n[[field]]\nname = \"by\"\ntype = \"keyword\"\n[[field]]\nname = \"score\"\ntype = \"i64\"\n",
            )
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn ordinals_carry_position_and_store_shard() {
        for (position, shard) in [(0, 0), (1, 1023), (123_456_789, 7)] {
            let ordinal = ordinal(position, shard);
            assert_eq!(store_shard_of(ordinal), shard);
            assert_eq!(ordinal >> STORE_SHARD_BITS, position);
        }
        assert!(ordinal(1, 1023) < ordinal(2, 0), "ordinals keep the input order");
    }

    #[test]
    fn term_sharding_is_pinned_and_depends_on_the_field() {
        // Computed with python-xxhash and the paper's jump hash; changing them would move
        // every term of every term-layout index.
        assert_eq!(shard_for_term("title", "rust", 1), 0);
        let golden: Vec<u32> = ["rust", "go", "search", "the"].iter().map(|t| shard_for_term("title", t, 16)).collect();
        assert_eq!(golden, [8, 5, 4, 15]);
        let mut router = TermRouter::new(16);
        let differing = (0..200).filter(|i| {
            let term = format!("t{i}");
            assert_eq!(router.shard("title", &term), shard_for_term("title", &term, 16));
            shard_for_term("title", &term, 16) != shard_for_term("text", &term, 16)
        });
        assert!(differing.count() > 150, "the field is part of the key");
    }

    #[test]
    fn postings_schema_keeps_string_fields_and_their_options() {
        let schema = schema();
        let postings = PostingsSchema::new(&schema);
        let names: Vec<&str> = postings.fields.iter().map(|field| field.name.as_str()).collect();
        assert_eq!(names, ["id", "title", "by"]);
        let title = postings.field("title").unwrap();
        assert!(title.has_freqs && title.norm.is_some());
        assert_eq!(title.tokenizer, "default");
        let by = postings.field("by").unwrap();
        assert!(!by.has_freqs);
        assert_eq!(by.tokenizer, "raw");
        let (store, ordinal) = store_schema(&schema);
        assert_eq!(store.get_field_name(ordinal), ORDINAL_FIELD);
        for (field, entry) in schema.schema.fields() {
            assert_eq!(store.get_field_entry(field), entry, "store field ids match the index schema");
        }
    }
}
