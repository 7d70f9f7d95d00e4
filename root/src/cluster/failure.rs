//! Why a shard gave no answer, and which leaf errors another replica can fix.

use tonic::{Code, Status};

/// Why a shard gave no answer.
#[derive(Clone, Debug)]
pub enum ShardFailure {
    /// The deadline passed before any replica answered.
    TimedOut,
    /// Every replica failed with an error another replica could have fixed.
    Unavailable(String),
    /// No replica serves the generation the request is pinned to (a rollout is under way:
    /// the root starts the search again on a generation every shard serves).
    GenerationUnavailable {
        /// The pinned generation.
        generation: u64,
        /// What the replicas said.
        reason: String,
    },
    /// The replicas asked said their search queue is full, and the hedge budget allowed
    /// no further try: the whole request is refused (429), never answered partially.
    Overloaded(String),
    /// A replica answered with an error no other replica can fix (a bad query, say).
    Rejected(Status),
}

impl ShardFailure {
    /// A one-line description for the response's failure list.
    pub fn reason(&self) -> String {
        match self {
            ShardFailure::TimedOut => "deadline exceeded".into(),
            ShardFailure::Unavailable(message) => message.clone(),
            ShardFailure::GenerationUnavailable { generation, reason } => {
                format!("no replica serves index generation {generation} ({reason})")
            }
            ShardFailure::Overloaded(message) => format!("overloaded ({message})"),
            ShardFailure::Rejected(status) => status.message().to_string(),
        }
    }

    /// Whether the shard missed the deadline (as opposed to failing).
    pub fn is_timeout(&self) -> bool {
        matches!(self, ShardFailure::TimedOut)
    }
}

/// Whether another replica may succeed where one failed: transport errors, a closed
/// connection, an overloaded or shutting-down leaf. A bad query fails everywhere alike.
/// (An overloaded leaf's RESOURCE_EXHAUSTED is retried only within the hedge budget.)
pub fn is_retryable(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::Unknown | Code::ResourceExhausted | Code::Aborted | Code::Cancelled)
}

/// The generations a leaf serves (oldest first), when it refused a request pinned to
/// another one: `fanout-generations`, or the single `fanout-generation` of older leaves.
pub fn served_generations(status: &Status) -> Option<Vec<u64>> {
    if status.code() != Code::FailedPrecondition {
        return None;
    }
    let metadata = status.metadata();
    if let Some(list) = metadata.get(GENERATIONS_METADATA).and_then(|value| value.to_str().ok()) {
        let parsed: Result<Vec<u64>, _> = list.split(',').map(str::parse).collect();
        if let Ok(generations) = parsed
            && !generations.is_empty()
        {
            return Some(generations);
        }
    }
    Some(vec![metadata.get(GENERATION_METADATA)?.to_str().ok()?.parse().ok()?])
}

/// The metadata key a leaf names its newest generation under when it refuses a request
/// pinned to another one (the leaf's `LeafError::GenerationMismatch`).
pub const GENERATION_METADATA: &str = "fanout-generation";
/// The metadata key of every generation such a leaf serves, comma-separated.
pub const GENERATIONS_METADATA: &str = "fanout-generations";
