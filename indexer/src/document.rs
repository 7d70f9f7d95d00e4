//! Turns one JSON line into a tantivy document, checking every declared field's type.

use serde_json::{Map, Value};
use tantivy::schema::Field;
use tantivy::time::OffsetDateTime;
use tantivy::time::format_description::well_known::Rfc3339;
use tantivy::{DateTime, TantivyDocument};

use crate::schema::{FieldKind, IndexSchema};

/// A parsed document with its id.
#[derive(Debug)]
pub struct ParsedDocument {
    /// The document's id as a string (integer ids are written in decimal).
    pub id: String,
    /// The document, ready for an `IndexWriter`.
    pub document: TantivyDocument,
}

/// Why a line cannot be indexed, before the file and line number are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentError {
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl DocumentError {
    fn field(name: &str, message: String) -> DocumentError {
        DocumentError { field: Some(name.to_string()), message }
    }
}

/// Parses a JSON object line into a document of `schema`.
///
/// Fields that the schema does not declare are ignored; `null` counts as absent; an
/// array gives a multi-valued field. The id must be a non-empty string or an integer.
pub fn parse_document(schema: &IndexSchema, line: &str) -> Result<ParsedDocument, DocumentError> {
    let object: Map<String, Value> = serde_json::from_str(line).map_err(|err| DocumentError {
        field: None,
        message: if err.is_data() { "not a JSON object".to_string() } else { format!("not valid JSON: {err}") },
    })?;
    let id_name = schema.id_field_name();
    let id = match object.get(id_name) {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(number)) if number.is_i64() || number.is_u64() => number.to_string(),
        None | Some(Value::Null) => {
            return Err(DocumentError::field(id_name, "the id is missing".into()));
        }
        Some(other) => {
            return Err(DocumentError::field(
                id_name,
                format!("the id must be a non-empty string or an integer, found {}", describe(other)),
            ));
        }
    };
    let mut document = TantivyDocument::new();
    document.add_text(schema.id_field, &id);
    for (spec, field) in &schema.fields {
        match object.get(&spec.name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => {
                for value in values {
                    add_value(&mut document, *field, spec.kind, value)
                        .map_err(|message| DocumentError::field(&spec.name, message))?;
                }
            }
            Some(value) => add_value(&mut document, *field, spec.kind, value)
                .map_err(|message| DocumentError::field(&spec.name, message))?,
        }
    }
    Ok(ParsedDocument { id, document })
}

fn add_value(document: &mut TantivyDocument, field: Field, kind: FieldKind, value: &Value) -> Result<(), String> {
    let wrong = || format!("expected {}, found {}", expected(kind), describe(value));
    match (kind, value) {
        (FieldKind::Text | FieldKind::Keyword, Value::String(text)) => document.add_text(field, text),
        (FieldKind::I64, Value::Number(number)) => document.add_i64(field, number.as_i64().ok_or_else(wrong)?),
        (FieldKind::U64, Value::Number(number)) => document.add_u64(field, number.as_u64().ok_or_else(wrong)?),
        (FieldKind::F64, Value::Number(number)) => document.add_f64(field, number.as_f64().ok_or_else(wrong)?),
        (FieldKind::Bool, Value::Bool(flag)) => document.add_bool(field, *flag),
        (FieldKind::Date, Value::Number(number)) => {
            let seconds = number.as_i64().ok_or_else(wrong)?;
            OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| format!("unix time {seconds} is out of range"))?;
            document.add_date(field, DateTime::from_timestamp_secs(seconds));
        }
        (FieldKind::Date, Value::String(text)) => {
            let parsed = OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|err| format!("expected an RFC 3339 date, found {text:?} ({err})"))?;
            document.add_date(field, DateTime::from_utc(parsed));
        }
        _ => return Err(wrong()),
    }
    Ok(())
}

fn expected(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text | FieldKind::Keyword => "a string",
        FieldKind::I64 => "an integer (i64)",
        FieldKind::U64 => "a non-negative integer (u64)",
        FieldKind::F64 => "a number",
        FieldKind::Date => "an RFC 3339 string or unix seconds",
        FieldKind::Bool => "true or false",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => format!("boolean {flag}"),
        Value::Number(number) => format!("number {number}"),
        Value::String(text) if text.chars().count() > 40 => {
            format!("string {:?}…", text.chars().take(40).collect::<String>())
        }
        Value::String(text) => format!("string {text:?}"),
        Value::Array(_) => "a nested array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use tantivy::schema::Value as _;

    use super::*;
    use crate::schema::SchemaFile;

    fn schema() -> IndexSchema {
        IndexSchema::build(
            SchemaFile::parse(
                r#"
                id_field = "id"
                [[field]]
                name = "title"
                type = "text"
                [[field]]
                name = "score"
                type = "i64"
                [[field]]
                name = "views"
                type = "u64"
                [[field]]
                name = "time"
                type = "date"
                [[field]]
                name = "tags"
                type = "keyword"
                [[field]]
                name = "dead"
                type = "bool"
                "#,
            )
            .unwrap(),
        )
        .unwrap()
    }

    fn error(line: &str) -> DocumentError {
        parse_document(&schema(), line).unwrap_err()
    }

    #[test]
    fn parses_every_type_and_arrays() {
        let schema = schema();
        let parsed = parse_document(
            &schema,
            r#"{"id": 7, "title": "hello", "score": -3, "views": 9, "time": "2020-01-02T03:04:05Z", "tags": ["a", "b"], "dead": false, "extra": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(parsed.id, "7");
        let tags = schema.fields[4].1;
        assert_eq!(parsed.document.get_all(tags).count(), 2);
        let time = schema.fields[3].1;
        let date = parsed.document.get_first(time).unwrap().as_datetime().unwrap();
        assert_eq!(date.into_timestamp_secs(), 1_577_934_245);
        let unix = parse_document(&schema, r#"{"id": "x", "time": 1577934245}"#).unwrap();
        assert_eq!(unix.document.get_first(time).unwrap().as_datetime(), Some(date));
    }

    #[test]
    fn names_the_field_and_the_problem() {
        assert_eq!(error("{\"title\": \"x\"}"), DocumentError::field("id", "the id is missing".into()));
        assert_eq!(error("{\"id\": \"\"}").field.as_deref(), Some("id"));
        let wrong = error(r#"{"id": "1", "score": "12"}"#);
        assert_eq!(wrong.field.as_deref(), Some("score"));
        assert_eq!(wrong.message, "expected an integer (i64), found string \"12\"");
        let negative = error(r#"{"id": "1", "views": -1}"#);
        assert_eq!(negative.message, "expected a non-negative integer (u64), found number -1");
        let date = error(r#"{"id": "1", "time": "yesterday"}"#);
        assert!(date.message.starts_with("expected an RFC 3339 date, found \"yesterday\""), "{date:?}");
        let flag = error(r#"{"id": "1", "dead": 1}"#);
        assert_eq!(flag.message, "expected true or false, found number 1");
    }

    #[test]
    fn rejects_lines_that_are_not_json_objects() {
        assert_eq!(error("[1, 2]").message, "not a JSON object");
        let broken = error("{\"id\": 1,");
        assert!(broken.message.starts_with("not valid JSON: EOF while parsing"), "{broken:?}");
        assert_eq!(broken.field, None);
    }
}
