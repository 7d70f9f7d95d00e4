//! The cluster file (TOML): which index the root serves and each shard's replicas.
//!
//! ```toml
//! index = "hackernews"     # the index name every leaf must report
//! timeout_ms = 5000        # default deadline of a search (optional)
//!
//! [[shard]]
//! replicas = ["127.0.0.1:7001", "127.0.0.1:7002"]
//!
//! [[shard]]
//! replicas = ["127.0.0.1:7003", "127.0.0.1:7004"]
//! ```
//!
//! Shards are numbered in file order: the first `[[shard]]` is shard 0.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::RootError;

/// Default deadline of a search.
pub const DEFAULT_TIMEOUT_MS: u32 = 5_000;
/// The longest deadline a request may ask for.
pub const MAX_TIMEOUT_MS: u32 = 60_000;

/// A parsed and validated cluster file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The index name; a leaf reporting another name is not used.
    pub index: String,
    /// Default deadline of a search in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// The shards, in shard-number order.
    #[serde(rename = "shard")]
    pub shards: Vec<ShardConfig>,
}

/// One shard's replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    /// `host:port` of each leaf serving this shard.
    pub replicas: Vec<String>,
}

fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_MS
}

impl ClusterConfig {
    /// Reads and validates a cluster file.
    pub fn read(path: &Path) -> Result<ClusterConfig, RootError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| RootError::Config(format!("cannot read {}: {err}", path.display())))?;
        Self::parse(&text).map_err(|err| match err {
            RootError::Config(message) => {
                RootError::Config(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Parses and validates a cluster file's text.
    pub fn parse(text: &str) -> Result<ClusterConfig, RootError> {
        let config: ClusterConfig = toml::from_str(text)
            .map_err(|err| RootError::Config(err.to_string().trim().to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), RootError> {
        if self.shards.is_empty() {
            return Err(RootError::Config("at least one [[shard]] is needed".into()));
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            return Err(RootError::Config(format!(
                "timeout_ms must be between 1 and {MAX_TIMEOUT_MS}, got {}",
                self.timeout_ms
            )));
        }
        for (shard, config) in self.shards.iter().enumerate() {
            if config.replicas.is_empty() {
                return Err(RootError::Config(format!(
                    "shard {shard} lists no replicas"
                )));
            }
            for replica in &config.replicas {
                if replica.parse::<std::net::SocketAddr>().is_err() && !replica.contains(':') {
                    return Err(RootError::Config(format!(
                        "shard {shard}: replica {replica:?} is not a host:port address"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shards_in_order() {
        let config = ClusterConfig::parse(
            "index = \"x\"\n[[shard]]\nreplicas = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n[[shard]]\nreplicas = [\"localhost:3\"]\n",
        )
        .unwrap();
        assert_eq!(config.shards.len(), 2);
        assert_eq!(config.shards[0].replicas[1], "127.0.0.1:2");
        assert_eq!(config.timeout_ms, DEFAULT_TIMEOUT_MS);
    }

    #[test]
    fn names_what_is_wrong() {
        let err = |text: &str| ClusterConfig::parse(text).unwrap_err().to_string();
        assert!(err("index = \"x\"\nshard = []\n").contains("at least one [[shard]]"));
        assert!(
            err("index = \"x\"\n[[shard]]\nreplicas = []\n").contains("shard 0 lists no replicas")
        );
        assert!(
            err("index = \"x\"\n[[shard]]\nreplicas = [\"nowhere\"]\n")
                .contains("\"nowhere\" is not a host:port")
        );
        assert!(
            err("index = \"x\"\nshards = 3\n[[shard]]\nreplicas = [\"a:1\"]\n").contains("shards")
        );
        assert!(
            err("index = \"x\"\ntimeout_ms = 0\n[[shard]]\nreplicas = [\"a:1\"]\n")
                .contains("timeout_ms")
        );
    }
}
