//! Schema files: the TOML a user writes to declare a dataset's id and typed fields,
//! and the tantivy schema built from it.
//!
//! ```toml
//! id_field = "id"
//! default_search_fields = ["title", "body"]
//!
//! [[field]]
//! name = "title"
//! type = "text"
//!
//! [[field]]
//! name = "by"
//! type = "keyword"
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, NumericOptions, STORED, STRING, Schema,
    SchemaBuilder, TextFieldIndexing, TextOptions,
};

use crate::error::ContractError;

/// Tokenizers a text field may name: tantivy's built-in ones.
pub const TOKENIZERS: &[&str] = &["default", "en_stem", "whitespace", "raw"];

/// A schema file as written by the user (and recorded in `fanout.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    /// The field holding each document's unique id (a string or an integer in the data).
    pub id_field: String,
    /// Text fields a query searches when it names no field; empty means every text field.
    #[serde(default)]
    pub default_search_fields: Vec<String>,
    /// The typed fields, in order; fields of the data not listed here are ignored.
    #[serde(rename = "field", default)]
    pub fields: Vec<FieldSpec>,
}

/// One declared field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's name, as it appears in the JSON lines.
    pub name: String,
    /// The field's type.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// Whether the original value is kept to be returned with hits (default true).
    #[serde(default = "default_true")]
    pub stored: bool,
    /// The tokenizer of a text field (default `default`); see [`TOKENIZERS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
}

fn default_true() -> bool {
    true
}

/// The type of a declared field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// Tokenized full text, scored with BM25.
    Text,
    /// An exact string, indexed untokenized and fast (filters, facets, sorting).
    Keyword,
    /// A signed 64-bit integer, indexed and fast.
    I64,
    /// An unsigned 64-bit integer, indexed and fast.
    U64,
    /// A 64-bit float, indexed and fast.
    F64,
    /// A timestamp: an RFC 3339 string or unix seconds in the data.
    Date,
    /// `true` or `false`.
    Bool,
}

impl FieldKind {
    /// The name used in schema files and error messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Keyword => "keyword",
            FieldKind::I64 => "i64",
            FieldKind::U64 => "u64",
            FieldKind::F64 => "f64",
            FieldKind::Date => "date",
            FieldKind::Bool => "bool",
        }
    }
}

/// A validated schema: the tantivy schema and where each declared field went.
#[derive(Clone, Debug)]
pub struct IndexSchema {
    /// The declaration it was built from.
    pub file: SchemaFile,
    /// The tantivy schema every shard uses (field ids are identical on every shard).
    pub schema: Schema,
    /// The id field: untokenized, stored and fast.
    pub id_field: Field,
    /// Declared fields with their tantivy field, in declaration order.
    pub fields: Vec<(FieldSpec, Field)>,
    /// Fields a query searches when it names none.
    pub default_search_fields: Vec<Field>,
}

impl SchemaFile {
    /// Reads and parses a schema file.
    pub fn read(path: &Path) -> Result<SchemaFile, ContractError> {
        let text = std::fs::read_to_string(path).map_err(|source| ContractError::Io {
            context: format!("reading schema file {}", path.display()),
            source,
        })?;
        Self::parse(&text).map_err(|err| match err {
            ContractError::Schema(message) => ContractError::Schema(format!("{}: {message}", path.display())),
            other => other,
        })
    }

    /// Parses a schema file's text.
    pub fn parse(text: &str) -> Result<SchemaFile, ContractError> {
        toml::from_str(text).map_err(|err| ContractError::Schema(err.to_string().trim().to_string()))
    }
}

impl IndexSchema {
    /// Validates a schema file and builds the tantivy schema.
    pub fn build(file: SchemaFile) -> Result<IndexSchema, ContractError> {
        let invalid = |message: String| Err(ContractError::Schema(message));
        if file.id_field.is_empty() {
            return invalid("id_field must not be empty".into());
        }
        let mut builder = Schema::builder();
        let id_field = builder.add_text_field(&file.id_field, STRING | STORED | FAST);
        let mut fields = Vec::with_capacity(file.fields.len());
        for spec in &file.fields {
            if spec.name.is_empty() {
                return invalid("a field has an empty name".into());
            }
            if spec.name == file.id_field {
                return invalid(format!(
                    "field `{}` is the id field; it is added automatically and must not be declared",
                    spec.name
                ));
            }
            if fields.iter().any(|(other, _): &(FieldSpec, Field)| other.name == spec.name) {
                return invalid(format!("field `{}` is declared twice", spec.name));
            }
            if spec.tokenizer.is_some() && spec.kind != FieldKind::Text {
                return invalid(format!("field `{}`: only text fields take a tokenizer", spec.name));
            }
            let field = add_field(&mut builder, spec)?;
            fields.push((spec.clone(), field));
        }
        let text_fields: Vec<&(FieldSpec, Field)> =
            fields.iter().filter(|(spec, _)| spec.kind == FieldKind::Text).collect();
        let default_search_fields = if file.default_search_fields.is_empty() {
            text_fields.iter().map(|(_, field)| *field).collect()
        } else {
            let mut chosen = Vec::new();
            for name in &file.default_search_fields {
                match text_fields.iter().find(|(spec, _)| &spec.name == name) {
                    Some((_, field)) => chosen.push(*field),
                    None => {
                        return invalid(format!(
                            "default_search_fields names `{name}`, which is not a declared text field"
                        ));
                    }
                }
            }
            chosen
        };
        Ok(IndexSchema { schema: builder.build(), file, id_field, fields, default_search_fields })
    }

    /// Reads, validates and builds a schema file.
    pub fn read(path: &Path) -> Result<IndexSchema, ContractError> {
        Self::build(SchemaFile::read(path)?)
    }

    /// The name of the id field.
    pub fn id_field_name(&self) -> &str {
        &self.file.id_field
    }
}

fn add_field(builder: &mut SchemaBuilder, spec: &FieldSpec) -> Result<Field, ContractError> {
    let name = spec.name.as_str();
    let field = match spec.kind {
        FieldKind::Text => {
            let tokenizer = spec.tokenizer.as_deref().unwrap_or("default");
            if !TOKENIZERS.contains(&tokenizer) {
                return Err(ContractError::Schema(format!(
                    "field `{name}`: unknown tokenizer `{tokenizer}` (expected one of {})",
                    TOKENIZERS.join(", ")
                )));
            }
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions);
            let mut options = TextOptions::default().set_indexing_options(indexing);
            if spec.stored {
                options = options.set_stored();
            }
            builder.add_text_field(name, options)
        }
        FieldKind::Keyword => {
            let options = if spec.stored { STRING | STORED | FAST } else { STRING | FAST };
            builder.add_text_field(name, options)
        }
        FieldKind::I64 => builder.add_i64_field(name, numeric_options(spec.stored)),
        FieldKind::U64 => builder.add_u64_field(name, numeric_options(spec.stored)),
        FieldKind::F64 => builder.add_f64_field(name, numeric_options(spec.stored)),
        FieldKind::Bool => builder.add_bool_field(name, numeric_options(spec.stored)),
        FieldKind::Date => {
            let mut options = DateOptions::from(INDEXED).set_fast().set_precision(DateTimePrecision::Seconds);
            if spec.stored {
                options = options.set_stored();
            }
            builder.add_date_field(name, options)
        }
    };
    Ok(field)
}

fn numeric_options(stored: bool) -> NumericOptions {
    let options = NumericOptions::from(INDEXED).set_fast();
    if stored { options.set_stored() } else { options }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> Result<IndexSchema, ContractError> {
        IndexSchema::build(SchemaFile::parse(text)?)
    }

    #[test]
    fn builds_every_type() {
        let built = schema(
            r#"
            id_field = "id"
            default_search_fields = ["title"]
            [[field]]
            name = "title"
            type = "text"
            [[field]]
            name = "body"
            type = "text"
            tokenizer = "en_stem"
            stored = false
            [[field]]
            name = "by"
            type = "keyword"
            [[field]]
            name = "score"
            type = "i64"
            [[field]]
            name = "views"
            type = "u64"
            [[field]]
            name = "rating"
            type = "f64"
            [[field]]
            name = "time"
            type = "date"
            [[field]]
            name = "dead"
            type = "bool"
            "#,
        )
        .unwrap();
        assert_eq!(built.fields.len(), 8);
        assert_eq!(built.schema.fields().count(), 9);
        assert_eq!(built.default_search_fields.len(), 1);
        assert!(!built.schema.get_field_entry(built.fields[1].1).is_stored());
    }

    #[test]
    fn defaults_to_every_text_field() {
        let built = schema(
            "id_field = \"id\"\n[[field]]\nname = \"a\"\ntype = \"text\"\n[[field]]\nname = \"b\"\ntype = \"text\"\n[[field]]\nname = \"n\"\ntype = \"u64\"\n",
        )
        .unwrap();
        assert_eq!(built.default_search_fields.len(), 2);
    }

    fn error_of(text: &str) -> String {
        schema(text).unwrap_err().to_string()
    }

    #[test]
    fn names_what_is_wrong() {
        let unknown_type = error_of("id_field = \"id\"\n[[field]]\nname = \"a\"\ntype = \"txt\"\n");
        assert!(unknown_type.contains("txt") && unknown_type.contains("line 4"), "{unknown_type}");
        let duplicate = error_of(
            "id_field = \"id\"\n[[field]]\nname = \"a\"\ntype = \"text\"\n[[field]]\nname = \"a\"\ntype = \"u64\"\n",
        );
        assert!(duplicate.contains("field `a` is declared twice"), "{duplicate}");
        let id = error_of("id_field = \"id\"\n[[field]]\nname = \"id\"\ntype = \"keyword\"\n");
        assert!(id.contains("field `id` is the id field"), "{id}");
        let tokenizer =
            error_of("id_field = \"id\"\n[[field]]\nname = \"a\"\ntype = \"text\"\ntokenizer = \"klingon\"\n");
        assert!(tokenizer.contains("unknown tokenizer `klingon`"), "{tokenizer}");
        let default =
            error_of("id_field = \"id\"\ndefault_search_fields = [\"n\"]\n[[field]]\nname = \"n\"\ntype = \"u64\"\n");
        assert!(default.contains("`n`, which is not a declared text field"), "{default}");
        let unknown_key = error_of("id_field = \"id\"\nshards = 3\n");
        assert!(unknown_key.contains("shards"), "{unknown_key}");
        let missing_id = error_of("[[field]]\nname = \"a\"\ntype = \"text\"\n");
        assert!(missing_id.contains("id_field"), "{missing_id}");
    }
}
