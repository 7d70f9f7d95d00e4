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

/// gRPC server reflection in both protocols that clients speak, advertising only the
/// services a process serves: `grpc.reflection.v1` (grpcurl, current tools) and
/// `grpc.reflection.v1alpha` (grpcio-reflection's client, Postman, evans, grpcui and older
/// grpcurl). The descriptors include `grpc.health.v1`, so health can be resolved too.
pub mod reflection {
    use tonic_reflection::server::{Builder, Error, v1, v1alpha};

    fn builder(services: &[&str]) -> Builder<'static> {
        let builder = Builder::configure()
            .register_encoded_file_descriptor_set(crate::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        services.iter().fold(builder, |builder, service| builder.with_service_name(*service))
    }

    /// Reflection v1 over `services` (fully qualified names, e.g. `fanout.v1.Root`).
    pub fn v1(services: &[&str]) -> Result<v1::ServerReflectionServer<impl v1::ServerReflection>, Error> {
        builder(services).build_v1()
    }

    /// Reflection v1alpha over `services`.
    pub fn v1alpha(
        services: &[&str],
    ) -> Result<v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>, Error> {
        builder(services).build_v1alpha()
    }
}
