//! Aggregation requests: Elasticsearch syntax parsed into tantivy's own request type, and
//! the check that every aggregated field is a fast (non-text) field of the schema
//! (tantivy would answer others with empty buckets, hiding the mistake).

use tantivy::aggregation::agg_req::{Aggregations, get_fast_field_names};

use crate::error::ContractError;
use crate::schema::{FieldKind, IndexSchema};

/// Parses an aggregation request; None for "".
pub fn parse_aggregations(json: &str) -> Result<Option<Aggregations>, ContractError> {
    if json.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(json)
        .map(Some)
        .map_err(|err| ContractError::InvalidRequest(format!("invalid aggregations: {err}")))
}

/// Refuses aggregations over fields that do not exist or are not fast.
pub fn check_aggregated_fields(aggregations: &Aggregations, schema: &IndexSchema) -> Result<(), ContractError> {
    let mut names: Vec<String> = get_fast_field_names(aggregations).into_iter().collect();
    names.sort();
    for name in names {
        let fast = name == schema.id_field_name()
            || schema.fields.iter().any(|(spec, _)| spec.name == name && spec.kind != FieldKind::Text);
        if !fast {
            let known = schema.fields.iter().any(|(spec, _)| spec.name == name);
            return Err(ContractError::InvalidRequest(if known {
                format!("cannot aggregate on text field `{name}`: use a keyword, numeric, date or bool field")
            } else {
                format!("cannot aggregate on unknown field `{name}`")
            }));
        }
    }
    Ok(())
}
