//! fanout's gRPC contract: package `fanout.v1`, services `Leaf`, `LeafAdmin` and `Root`.
//! What else the roles must agree on (schema, manifest, sharding, the order of hits)
//! lives beside it in `fanout-contracts` (`proto/contracts/`).
//!
//! # Layout
//! - `proto/fanout/v1/leaf.proto`: the shard server: `Leaf` (Search, Fetch, Stats, Info,
//!   Get, Postings; every answer carries its `ShardIdentity`) and `LeafAdmin` (fault
//!   injection, served only with `--enable-fault-injection`).
//! - `proto/fanout/v1/root.proto`: the user-facing service `Root` (Search, Get, Cluster).
//! - [`v1`]: the code tonic and prost generate from them at build time.
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for gRPC server reflection.

/// Generated messages, clients and servers of package `fanout.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("fanout.v1");
}

/// The encoded `FileDescriptorSet` of every fanout proto, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fanout_descriptor.bin"));
