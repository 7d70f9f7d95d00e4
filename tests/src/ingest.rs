//! The reference's own ingestion, independent of the project's: the schema file read with
//! `toml` into this module's structs, the tantivy schema built from it directly, and each
//! JSON line turned into a tantivy document here, with the types checked as README.md
//! ("Indexing your own data") documents them. Nothing of `fanout_indexer` or
//! `fanout_contracts` schema or document code is used, so an ingestion bug shared by the
//! shards cannot hide in the reference. Only reading the dataset's files (decompression)
//! goes through `fanout_indexer::source`.

use std::collections::HashSet;
use std::io::BufRead as _;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};
use tantivy::schema::{
    DateOptions, FAST, Field, INDEXED, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions,
};
use tantivy::time::OffsetDateTime;
use tantivy::time::format_description::well_known::Rfc3339;
use tantivy::{DateTime, TantivyDocument};

/// The tokenizers a text field may name: tantivy's built-in ones, registered by every
/// tantivy index under these names.
const TOKENIZERS: &[&str] = &["default", "en_stem", "whitespace", "raw"];

/// A schema file as README.md documents it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaToml {
    id_field: String,
    #[serde(default)]
    default_search_fields: Vec<String>,
    #[serde(rename = "field", default)]
    fields: Vec<FieldToml>,
}

/// One `[[field]]` of a schema file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldToml {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    stored: Option<bool>,
    tokenizer: Option<String>,
}

/// The documented field types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Keyword,
    I64,
    U64,
    F64,
    Date,
    Bool,
}

impl Kind {
    fn parse(name: &str, field: &str) -> Kind {
        match name {
            "text" => Kind::Text,
            "keyword" => Kind::Keyword,
            "i64" => Kind::I64,
            "u64" => Kind::U64,
            "f64" => Kind::F64,
            "date" => Kind::Date,
            "bool" => Kind::Bool,
            other => panic!("schema: field `{field}` has type `{other}`, which README.md does not document"),
        }
    }
}

/// The reference's schema: a tantivy schema of its own, and how to read documents into it.
#[derive(Clone, Debug)]
pub struct ReferenceSchema {
    /// The tantivy schema.
    pub schema: Schema,
    /// The id field (untokenized, stored).
    pub id_field: Field,
    /// Its name in the JSON lines.
    pub id_name: String,
    /// Fields a query searches when it names none.
    pub default_search_fields: Vec<Field>,
    fields: Vec<(String, Kind, Field)>,
}

impl ReferenceSchema {
    /// Reads a schema file.
    pub fn read(path: &Path) -> ReferenceSchema {
        let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
        ReferenceSchema::parse(&text)
    }

    /// Builds the tantivy schema from a schema file's text: the id field (a raw string,
    /// stored), then each declared field with the options README.md gives its type.
    /// Field ids need not match the shards': the reference is compared by document id and
    /// score only.
    pub fn parse(text: &str) -> ReferenceSchema {
        let file: SchemaToml = toml::from_str(text).unwrap_or_else(|err| panic!("schema file: {err}"));
        let mut builder = Schema::builder();
        let id_field = builder.add_text_field(&file.id_field, STRING | STORED);
        let mut fields = Vec::new();
        for spec in &file.fields {
            let kind = Kind::parse(&spec.kind, &spec.name);
            let stored = spec.stored.unwrap_or(true);
            assert!(
                spec.tokenizer.is_none() || kind == Kind::Text,
                "schema: field `{}`: only text fields take a tokenizer",
                spec.name
            );
            let name = spec.name.as_str();
            let field = match kind {
                // Tokenized, BM25-scored, with positions for phrase queries.
                Kind::Text => {
                    let tokenizer = spec.tokenizer.as_deref().unwrap_or("default");
                    assert!(TOKENIZERS.contains(&tokenizer), "schema: field `{name}`: unknown tokenizer `{tokenizer}`");
                    let indexing = TextFieldIndexing::default()
                        .set_tokenizer(tokenizer)
                        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
                    let options = TextOptions::default().set_indexing_options(indexing);
                    builder.add_text_field(name, if stored { options.set_stored() } else { options })
                }
                // An exact string, fast (filters, facets).
                Kind::Keyword => {
                    let options = STRING | FAST;
                    builder.add_text_field(name, if stored { options.set_stored() } else { options })
                }
                // Indexed and fast.
                Kind::I64 => builder.add_i64_field(name, numeric(stored)),
                Kind::U64 => builder.add_u64_field(name, numeric(stored)),
                Kind::F64 => builder.add_f64_field(name, numeric(stored)),
                Kind::Bool => builder.add_bool_field(name, numeric(stored)),
                Kind::Date => {
                    let options: DateOptions = (INDEXED | FAST).into();
                    builder.add_date_field(name, if stored { options.set_stored() } else { options })
                }
            };
            fields.push((spec.name.clone(), kind, field));
        }
        let text_fields: Vec<(&str, Field)> = fields
            .iter()
            .filter(|(_, kind, _)| *kind == Kind::Text)
            .map(|(name, _, field)| (name.as_str(), *field))
            .collect();
        // Without default_search_fields, a query without field names searches every text
        // field.
        let default_search_fields = if file.default_search_fields.is_empty() {
            text_fields.iter().map(|(_, field)| *field).collect()
        } else {
            file.default_search_fields
                .iter()
                .map(|name| {
                    text_fields
                        .iter()
                        .find(|(text, _)| text == name)
                        .unwrap_or_else(|| panic!("schema: default search field `{name}` is not a text field"))
                        .1
                })
                .collect()
        };
        ReferenceSchema { schema: builder.build(), id_field, id_name: file.id_field, default_search_fields, fields }
    }

    /// One JSON line as a document: the id (a non-empty string, or an integer written in
    /// decimal) and every declared field, each value checked against its type; fields
    /// not declared are ignored. README.md says nothing of `null` or arrays (the shared
    /// datasets hold neither): `null` is taken as absent and an array as several values.
    /// A value of the wrong type panics: the reference indexes only valid datasets.
    pub fn document(&self, line: &str) -> (String, TantivyDocument) {
        let object: Map<String, Value> =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not a JSON object: {err}: {line:.80}"));
        let id = match object.get(&self.id_name) {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::Number(number)) if number.is_i64() || number.is_u64() => number.to_string(),
            other => panic!("the id `{}` must be a non-empty string or an integer, found {other:?}", self.id_name),
        };
        let mut document = TantivyDocument::new();
        document.add_text(self.id_field, &id);
        for (name, kind, field) in &self.fields {
            let values = match object.get(name) {
                None | Some(Value::Null) => continue,
                Some(Value::Array(values)) => values.iter().collect(),
                Some(value) => vec![value],
            };
            for value in values {
                add_value(&mut document, *field, *kind, value)
                    .unwrap_or_else(|| panic!("document {id}: field `{name}`: {kind:?} cannot hold {value}"));
            }
        }
        (id, document)
    }

    /// Every document of a dataset (a file or a directory of files, plain, gzip or zstd),
    /// in input order; blank lines are skipped and a repeated id panics.
    pub fn read_dataset(&self, dataset: &Path, mut each: impl FnMut(String, TantivyDocument)) {
        let files = fanout_indexer::source::Dataset::open(dataset).expect("the dataset").files;
        let mut ids = HashSet::new();
        for file in files {
            let reader = fanout_indexer::source::open_lines(&file, Default::default()).expect("a dataset file");
            for line in reader.lines() {
                let line = line.unwrap_or_else(|err| panic!("reading {}: {err}", file.display()));
                if line.trim().is_empty() {
                    continue;
                }
                let (id, document) = self.document(&line);
                assert!(ids.insert(id.clone()), "{}: id {id} appears twice", file.display());
                each(id, document);
            }
        }
    }
}

fn numeric(stored: bool) -> NumericOptions {
    let options: NumericOptions = (INDEXED | FAST).into();
    if stored { options.set_stored() } else { options }
}

/// Adds one JSON value as the type allows it, or None when the type does not.
fn add_value(document: &mut TantivyDocument, field: Field, kind: Kind, value: &Value) -> Option<()> {
    match (kind, value) {
        (Kind::Text | Kind::Keyword, Value::String(text)) => document.add_text(field, text),
        // An integer in i64's range; 3.0 is not an integer.
        (Kind::I64, Value::Number(number)) => document.add_i64(field, number.as_i64()?),
        // A non-negative integer.
        (Kind::U64, Value::Number(number)) => document.add_u64(field, number.as_u64()?),
        // Any number.
        (Kind::F64, Value::Number(number)) => document.add_f64(field, number.as_f64()?),
        (Kind::Bool, Value::Bool(flag)) => document.add_bool(field, *flag),
        // Unix seconds...
        (Kind::Date, Value::Number(number)) => {
            let seconds = number.as_i64()?;
            OffsetDateTime::from_unix_timestamp(seconds).ok()?;
            document.add_date(field, DateTime::from_timestamp_secs(seconds));
        }
        // ...or an RFC 3339 string.
        (Kind::Date, Value::String(text)) => {
            document.add_date(field, DateTime::from_utc(OffsetDateTime::parse(text, &Rfc3339).ok()?))
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use tantivy::schema::Value as _;

    use super::*;

    #[test]
    fn reads_every_documented_type() {
        let schema = ReferenceSchema::parse(
            r#"
            id_field = "id"
            default_search_fields = ["title"]
            [[field]]
            name = "title"
            type = "text"
            tokenizer = "en_stem"
            [[field]]
            name = "body"
            type = "text"
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
        );
        assert_eq!(schema.schema.fields().count(), 9);
        assert_eq!(schema.default_search_fields.len(), 1);
        let body = schema.schema.get_field("body").unwrap();
        assert!(!schema.schema.get_field_entry(body).is_stored());
        let (id, document) = schema.document(
            r#"{"id": 7, "title": "Hello", "score": -3, "views": 9, "rating": 4, "time": "2020-01-02T03:04:05Z",
                "by": ["a", "b"], "dead": null, "extra": {"x": 1}}"#,
        );
        assert_eq!(id, "7");
        let time = schema.schema.get_field("time").unwrap();
        let date = document.get_first(time).unwrap().as_datetime().unwrap();
        assert_eq!(date.into_timestamp_secs(), 1_577_934_245);
        let (_, unix) = schema.document(r#"{"id": "x", "time": 1577934245}"#);
        assert_eq!(unix.get_first(time).unwrap().as_datetime(), Some(date));
        assert_eq!(document.get_all(schema.schema.get_field("by").unwrap()).count(), 2);
        assert_eq!(document.get_first(schema.schema.get_field("rating").unwrap()).unwrap().as_f64(), Some(4.0));
        assert!(document.get_first(schema.schema.get_field("dead").unwrap()).is_none());
    }

    #[test]
    fn refuses_values_of_the_wrong_type() {
        let schema = ReferenceSchema::parse(
            "id_field = \"id\"\n[[field]]\nname = \"n\"\ntype = \"i64\"\n[[field]]\nname = \"u\"\ntype = \"u64\"\n",
        );
        for line in [r#"{"id": "1", "n": "12"}"#, r#"{"id": "1", "n": 1.5}"#, r#"{"id": "1", "u": -1}"#, r#"{"n": 1}"#]
        {
            let refused = std::panic::catch_unwind(|| schema.document(line));
            assert!(refused.is_err(), "{line} should be refused");
        }
    }
}
