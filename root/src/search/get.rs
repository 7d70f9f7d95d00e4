//! Get by id: no fan-out. The sharding function names the one shard that can hold the
//! id (the ambassador pattern), and only that shard's replica set is asked.

use fanout_proto::v1::GetRequest;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::cluster::{Cluster, ShardFailure};
use crate::error::RootError;

/// A document found by id.
#[derive(Debug, serde::Serialize)]
pub struct Document {
    /// Its id.
    pub id: String,
    /// The shard that owns it.
    pub shard: u32,
    /// Its requested stored fields.
    pub fields: Box<RawValue>,
}

/// The document with `id`, from the shard that owns it, across that shard's replicas,
/// at the generation searches are answered from (so that a document a search returns can
/// be read, and one it cannot return is not, during a rollout).
pub async fn get(cluster: &Cluster, id: &str, fields: Vec<String>, deadline: Instant) -> Result<Document, RootError> {
    if id.is_empty() {
        return Err(RootError::InvalidArgument("the id must not be empty".into()));
    }
    let shard = fanout_contracts::shard_for_id(id, cluster.shards.len() as u32);
    let request = GetRequest { id: id.to_string(), fields, generation: 0 };
    let generation = cluster.serving_generation().unwrap_or(0);
    let response = match cluster.shards[shard as usize].call(request, generation, deadline).await {
        Ok(answer) => answer.value,
        Err(ShardFailure::Rejected(status)) => return Err(RootError::from_leaf_status(shard, &status)),
        Err(ShardFailure::TimedOut) => {
            return Err(RootError::DeadlineExceeded(format!("shard {shard}: deadline exceeded")));
        }
        Err(ShardFailure::Overloaded(message)) => {
            return Err(crate::search::answer::leaf_overload_error(shard, &message));
        }
        Err(failure) => return Err(RootError::Unavailable(format!("shard {shard}: {}", failure.reason()))),
    };
    let doc = response.doc.ok_or_else(|| RootError::NotFound(format!("no document with id {id:?}")))?;
    let fields = RawValue::from_string(doc.fields_json)
        .map_err(|err| RootError::Internal(format!("shard {shard}: invalid fields JSON: {err}")))?;
    Ok(Document { id: doc.id, shard, fields })
}
