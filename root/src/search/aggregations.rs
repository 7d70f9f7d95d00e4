//! Aggregations across shards: every leaf returns tantivy's intermediate results; the root
//! merges them (`merge_fruits`, which pairs results by name) and finalizes once, so the
//! result is what one index over all the documents would give.

use tantivy::aggregation::AggregationLimitsGuard;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;

use crate::error::RootError;

/// Merges the shards' intermediate results and finalizes them, creating at most
/// `max_buckets` buckets; None when the request asked for no aggregations.
pub fn finalize(
    request: Option<&Aggregations>,
    shards: Vec<Vec<u8>>,
    max_buckets: u32,
) -> Result<Option<serde_json::Value>, RootError> {
    let Some(request) = request.cloned() else {
        return Ok(None);
    };
    let mut merged: Option<IntermediateAggregationResults> = None;
    for bytes in shards {
        let intermediate: IntermediateAggregationResults = postcard::from_bytes(&bytes)
            .map_err(|err| RootError::Internal(format!("invalid intermediate aggregation results: {err}")))?;
        match &mut merged {
            Some(merged) => merged.merge_fruits(intermediate).map_err(|err| RootError::Internal(err.to_string()))?,
            None => merged = Some(intermediate),
        }
    }
    let merged = merged.unwrap_or_default();
    let results = merged.into_final_result(request, AggregationLimitsGuard::new(None, Some(max_buckets))).map_err(
        |err| match err {
            tantivy::TantivyError::AggregationError(tantivy::aggregation::AggregationError::BucketLimitExceeded {
                ..
            }) => RootError::InvalidArgument(format!(
                "the aggregations create more than {max_buckets} buckets (limits.max_aggregation_buckets)"
            )),
            other => RootError::InvalidArgument(format!("aggregations: {other}")),
        },
    )?;
    serde_json::to_value(results).map(Some).map_err(|err| RootError::Internal(err.to_string()))
}
