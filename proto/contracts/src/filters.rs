//! Filters: exact conditions on keyword, numeric, date and bool fields, ANDed with the
//! text query. They select documents and never change scores (each is a constant score of
//! zero), so filtered results rank exactly as the text query ranks them.
//!
//! The syntax is Elasticsearch's, one field per filter:
//! `{"term": {"by": "pg"}}`, `{"terms": {"by": ["pg", "dang"]}}`,
//! `{"range": {"score": {"gte": 100, "lt": 500}}}`, `{"range": {"time": {"gte": "2019-01-01T00:00:00Z"}}}`.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::schema::{FieldKind, IndexSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::time::OffsetDateTime;
use tantivy::time::format_description::well_known::Rfc3339;
use tantivy::{DateTime, Term};

use crate::error::ContractError;

/// One filter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Filter {
    /// The field holds this value.
    Term(BTreeMap<String, Json>),
    /// The field holds one of these values.
    Terms(BTreeMap<String, Vec<Json>>),
    /// The field's value lies within these bounds.
    Range(BTreeMap<String, Bounds>),
}

/// Bounds of a range filter; at least one is needed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Greater than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<Json>,
    /// Greater than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<Json>,
    /// Less than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<Json>,
    /// Less than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<Json>,
}

fn invalid(message: String) -> ContractError {
    ContractError::InvalidRequest(message)
}

/// Parses a JSON array of filters (an empty string means none).
pub fn parse_filters(json: &str) -> Result<Vec<Filter>, ContractError> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(json).map_err(|err| invalid(format!("invalid filters: {err}")))
}

/// `query` ANDed with every filter; `query` itself when there are none.
pub fn with_filters(
    query: Box<dyn Query>,
    filters: &[Filter],
    schema: &IndexSchema,
) -> Result<Box<dyn Query>, ContractError> {
    if filters.is_empty() {
        return Ok(query);
    }
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, query)];
    for filter in filters {
        clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(filter.to_query(schema)?, 0.0))));
    }
    Ok(Box::new(BooleanQuery::new(clauses)))
}

impl Filter {
    fn name(&self) -> &'static str {
        match self {
            Filter::Term(_) => "term",
            Filter::Terms(_) => "terms",
            Filter::Range(_) => "range",
        }
    }

    /// The tantivy query selecting what this filter keeps.
    pub fn to_query(&self, schema: &IndexSchema) -> Result<Box<dyn Query>, ContractError> {
        let one = |count: usize| {
            if count == 1 {
                Ok(())
            } else {
                Err(invalid(format!("a `{}` filter names exactly one field, got {count}", self.name())))
            }
        };
        match self {
            Filter::Term(fields) => {
                one(fields.len())?;
                let (name, value) = fields.iter().next().expect("one field");
                let (field, kind) = filterable(schema, name, self.name())?;
                Ok(Box::new(TermQuery::new(value_term(field, kind, name, value)?, IndexRecordOption::Basic)))
            }
            Filter::Terms(fields) => {
                one(fields.len())?;
                let (name, values) = fields.iter().next().expect("one field");
                let (field, kind) = filterable(schema, name, self.name())?;
                let terms =
                    values.iter().map(|value| value_term(field, kind, name, value)).collect::<Result<Vec<_>, _>>()?;
                Ok(Box::new(TermSetQuery::new(terms)))
            }
            Filter::Range(fields) => {
                one(fields.len())?;
                let (name, bounds) = fields.iter().next().expect("one field");
                let (field, kind) = filterable(schema, name, self.name())?;
                range_query(
                    field,
                    kind,
                    name,
                    &[bounds.gt.clone(), bounds.gte.clone(), bounds.lt.clone(), bounds.lte.clone()],
                )
            }
        }
    }
}

/// The range of `field`'s values within `[gt, gte, lt, lte]` (at least one given, not
/// both of gt and gte nor of lt and lte).
pub(crate) fn range_query(
    field: Field,
    kind: FieldKind,
    name: &str,
    [gt, gte, lt, lte]: &[Option<Json>; 4],
) -> Result<Box<dyn Query>, ContractError> {
    let bound =
        |inclusive: &Option<Json>, exclusive: &Option<Json>, which: &str| -> Result<Bound<Term>, ContractError> {
            match (inclusive, exclusive) {
                (Some(_), Some(_)) => Err(invalid(format!("range on `{name}`: give {which}e or {which}, not both"))),
                (Some(value), None) => Ok(Bound::Included(value_term(field, kind, name, value)?)),
                (None, Some(value)) => Ok(Bound::Excluded(value_term(field, kind, name, value)?)),
                (None, None) => Ok(Bound::Unbounded),
            }
        };
    let lower = bound(gte, gt, "gt")?;
    let upper = bound(lte, lt, "lt")?;
    if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
        return Err(invalid(format!("range on `{name}` needs at least one of gt, gte, lt, lte")));
    }
    Ok(Box::new(RangeQuery::new(lower, upper)))
}

fn filterable(schema: &IndexSchema, name: &str, filter: &str) -> Result<(Field, FieldKind), ContractError> {
    if name == schema.id_field_name() {
        return Ok((schema.id_field, FieldKind::Keyword));
    }
    match schema.fields.iter().find(|(spec, _)| spec.name == name) {
        None => Err(invalid(format!("`{filter}` filter on unknown field `{name}`"))),
        Some((spec, _)) if spec.kind == FieldKind::Text => Err(invalid(format!(
            "`{filter}` filter on text field `{name}`: filters apply to keyword, numeric, date and bool fields; search text with the query"
        ))),
        Some((spec, field)) => Ok((*field, spec.kind)),
    }
}

/// `value` as a term of `field`, read as the field's type reads it (dates: RFC 3339 text or
/// unix seconds).
pub(crate) fn value_term(field: Field, kind: FieldKind, name: &str, value: &Json) -> Result<Term, ContractError> {
    let wrong = || invalid(format!("field `{name}` ({}): unexpected value {value}", kind.name()));
    Ok(match kind {
        FieldKind::Keyword | FieldKind::Text => Term::from_field_text(field, value.as_str().ok_or_else(wrong)?),
        FieldKind::I64 => Term::from_field_i64(field, value.as_i64().ok_or_else(wrong)?),
        FieldKind::U64 => Term::from_field_u64(field, value.as_u64().ok_or_else(wrong)?),
        FieldKind::F64 => Term::from_field_f64(field, value.as_f64().ok_or_else(wrong)?),
        FieldKind::Bool => Term::from_field_bool(field, value.as_bool().ok_or_else(wrong)?),
        FieldKind::Date => {
            let date = match value {
                Json::Number(seconds) => DateTime::from_timestamp_secs(seconds.as_i64().ok_or_else(wrong)?),
                Json::String(text) => DateTime::from_utc(OffsetDateTime::parse(text, &Rfc3339).map_err(|_| wrong())?),
                _ => return Err(wrong()),
            };
            Term::from_field_date_for_search(field, date)
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::schema::SchemaFile;

    use super::*;

    fn schema() -> IndexSchema {
        let text = "id_field = \"id\"\n[[field]]\nname = \"title\"\ntype = \"text\"\n[[field]]\nname = \"by\"\ntype = \"keyword\"\n[[field]]\nname = \"score\"\ntype = \"i64\"\n[[field]]\nname = \"time\"\ntype = \"date\"\n";
        IndexSchema::build(SchemaFile::parse(text).unwrap()).unwrap()
    }

    fn error(json: &str) -> String {
        let filters = match parse_filters(json) {
            Ok(filters) => filters,
            Err(err) => return err.to_string(),
        };
        filters.iter().map(|f| f.to_query(&schema()).err().map(|e| e.to_string())).find_map(|e| e).unwrap_or_default()
    }

    #[test]
    fn builds_every_kind() {
        let filters = parse_filters(
            r#"[{"term": {"by": "pg"}}, {"terms": {"score": [1, 2]}}, {"range": {"time": {"gte": "2019-01-01T00:00:00Z", "lt": 1600000000}}}]"#,
        )
        .unwrap();
        assert_eq!(filters.len(), 3);
        for filter in &filters {
            filter.to_query(&schema()).unwrap();
        }
        assert!(parse_filters("").unwrap().is_empty());
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(error(r#"[{"term": {"colour": "red"}}]"#).contains("unknown field `colour`"));
        assert!(error(r#"[{"term": {"title": "x"}}]"#).contains("text field `title`"));
        assert!(error(r#"[{"term": {"score": "high"}}]"#).contains("field `score` (i64): unexpected value \"high\""));
        assert!(error(r#"[{"range": {"score": {}}}]"#).contains("needs at least one of"));
        assert!(error(r#"[{"range": {"score": {"gt": 1, "gte": 2}}}]"#).contains("not both"));
        assert!(error(r#"[{"term": {"by": "a", "score": 1}}]"#).contains("exactly one field, got 2"));
        assert!(error(r#"[{"match": {"by": "a"}}]"#).starts_with("invalid filters: unknown variant `match`"));
        assert!(error(r#"[{"range": {"time": {"gte": "yesterday"}}}]"#).contains("field `time` (date)"));
    }
}
