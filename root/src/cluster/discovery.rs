//! Leaves found by DNS, as a Kubernetes headless Service provides them: one A record per
//! ready leaf pod. Every interval the name is resolved again (hickory-resolver); each new
//! address is asked `Info` and joins the replica set of the shard it reports, if it serves
//! this index with this shard count; an address that left DNS is removed from its set,
//! drains (calls under way finish with it) and is dropped. Replicas that stay keep their
//! state: health, latency estimates, hedging windows.
//!
//! Refused addresses (another index, another shard count, no answer) are asked again at
//! every round, and shown with their reason in `/api/v1/cluster` and `/readyz`. A failed
//! resolution (a timeout, an unreachable DNS server) keeps the current members; a name
//! with no records (NXDOMAIN: no leaf pod is ready) in two rounds in a row empties the
//! discovered members.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fanout_proto::v1::{InfoRequest, ShardIdentity};
use futures::future::BoxFuture;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ServerOrderingStrategy};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use serde::Serialize;
use tokio::sync::watch;

use super::Cluster;
use super::replica::Replica;
use super::replica_set::{LeafConnector, ReplicaSet};
use super::rpc::Identified as _;
use crate::config::DiscoveryConfig;
use crate::error::RootError;

/// Rounds in a row of "no records" after which discovered members are removed.
const NO_RECORDS_ROUNDS: u32 = 2;

/// How long a new address may take to answer `Info`.
const INFO_TIMEOUT: Duration = Duration::from_secs(1);

/// What resolving the discovery name gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The addresses the name resolves to.
    Found(Vec<IpAddr>),
    /// The name exists nowhere or has no address records (no leaf is ready).
    NoRecords(String),
    /// Resolution failed (timeout, unreachable server): nothing is known.
    Failed(String),
}

/// Resolves the discovery name. [`DnsResolver`] in production; tests may script one.
pub trait Resolve: Send + Sync + std::fmt::Debug {
    /// Resolves `name`.
    fn resolve<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Resolution>;
}

/// hickory-resolver over the system's configuration (`/etc/resolv.conf`, hosts file) or
/// one given DNS server, with its cache bounded by the discovery interval so that every
/// round sees what DNS says now.
#[derive(Debug)]
pub struct DnsResolver {
    resolver: TokioResolver,
}

impl DnsResolver {
    /// A resolver for `config` (its `nameserver`, if any, otherwise the system's).
    pub fn new(config: &DiscoveryConfig) -> Result<DnsResolver, RootError> {
        let mut builder = match &config.nameserver {
            Some(address) => {
                let address: SocketAddr = address.parse().map_err(|_| {
                    RootError::Config(format!("discovery.nameserver {address:?} is not an ip:port address"))
                })?;
                let mut server = NameServerConfig::udp_and_tcp(address.ip());
                for connection in &mut server.connections {
                    connection.port = address.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio()
                .map_err(|err| RootError::Config(format!("cannot read the system's DNS configuration: {err}")))?,
        };
        let options = builder.options_mut();
        let fresh = Duration::from_millis(config.interval_ms / 2);
        options.positive_max_ttl = Some(fresh);
        options.negative_max_ttl = Some(fresh);
        options.timeout = Duration::from_millis(config.interval_ms.clamp(500, 5_000));
        options.attempts = 2;
        // The servers one at a time, in the configured order, as glibc asks them: hickory's
        // default asks two at once and takes the first answer, and where resolv.conf lists
        // the cluster's DNS then the host's (podman, compose), the host's "no such name"
        // would now and then empty the cluster.
        options.num_concurrent_reqs = 1;
        options.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
        options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
        let resolver =
            builder.build().map_err(|err| RootError::Config(format!("cannot build the DNS resolver: {err}")))?;
        Ok(DnsResolver { resolver })
    }
}

impl Resolve for DnsResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Resolution> {
        Box::pin(async move {
            match self.resolver.lookup_ip(name).await {
                Ok(lookup) => Resolution::Found(lookup.iter().collect()),
                Err(err) if err.is_no_records_found() || err.is_nx_domain() => {
                    Resolution::NoRecords(format!("{name} has no address records: {err}"))
                }
                Err(err) => Resolution::Failed(format!("cannot resolve {name}: {err}")),
            }
        })
    }
}

/// The discovery of one cluster: its settings, resolver and what it found.
#[derive(Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    resolver: Arc<dyn Resolve>,
    index: String,
    shard_count: u32,
    /// Addresses listed in the cluster file: never added again by discovery.
    listed: HashSet<String>,
    /// How found leaves are dialled.
    connector: LeafConnector,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Members placed by discovery, and their shard.
    placed: BTreeMap<SocketAddr, u32>,
    /// Addresses found but not used, and why.
    refused: BTreeMap<SocketAddr, String>,
    /// Removed members some call may still be using.
    draining: Vec<(u32, Arc<Replica>)>,
    resolutions: u64,
    error: Option<String>,
    /// Rounds in a row whose answer was "no records".
    empty_rounds: u32,
}

/// What `/api/v1/cluster` shows of discovery.
#[derive(Clone, Debug, Serialize)]
pub struct DiscoverySnapshot {
    /// The DNS name resolved.
    pub name: String,
    /// The leaves' port.
    pub port: u16,
    /// How often it is resolved, in milliseconds.
    pub interval_ms: u64,
    /// Resolutions so far.
    pub resolutions: u64,
    /// Why the last resolution found no leaf, if it did not.
    pub error: Option<String>,
    /// Addresses serving as replicas, with their shard.
    pub discovered: Vec<DiscoveredLeaf>,
    /// Addresses found and not used, with the reason.
    pub refused: Vec<RefusedLeaf>,
    /// Addresses that left DNS and still finish calls under way.
    pub draining: Vec<DiscoveredLeaf>,
}

/// A discovered replica.
#[derive(Clone, Debug, Serialize)]
pub struct DiscoveredLeaf {
    /// `ip:port`.
    pub address: String,
    /// The shard it serves.
    pub shard: u32,
}

/// A discovered address that is not used.
#[derive(Clone, Debug, Serialize)]
pub struct RefusedLeaf {
    /// `ip:port`.
    pub address: String,
    /// Why it is not used.
    pub reason: String,
}

impl Discovery {
    /// Discovery of the leaves of `index` (`shard_count` shards) under `config`'s name;
    /// `listed` are the addresses the cluster file already names.
    pub fn new(
        config: DiscoveryConfig,
        resolver: Arc<dyn Resolve>,
        index: String,
        shard_count: u32,
        listed: HashSet<String>,
    ) -> Discovery {
        fanout_contracts::telemetry::register_root_discovery();
        let connector = LeafConnector::default();
        Discovery { config, resolver, index, shard_count, listed, connector, state: Mutex::default() }
    }

    /// The same discovery, dialling the leaves it finds with `connector` (mutual TLS).
    pub fn dialling(self, connector: LeafConnector) -> Discovery {
        Discovery { connector, ..self }
    }

    /// The settings.
    pub fn config(&self) -> &DiscoveryConfig {
        &self.config
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("discovery state lock")
    }

    /// Why no leaf was found, when the last resolution found none.
    pub fn error(&self) -> Option<String> {
        self.state().error.clone()
    }

    /// The shard an identity may serve as, or why it may not serve here.
    fn place(&self, identity: &ShardIdentity) -> Result<u32, String> {
        if identity.index_name != self.index {
            return Err(format!("serves index {:?}, not {:?}", identity.index_name, self.index));
        }
        if identity.shard_count != self.shard_count {
            return Err(format!(
                "index {:?} has {} shards there, the cluster expects {}",
                self.index, identity.shard_count, self.shard_count
            ));
        }
        if identity.shard_id >= self.shard_count {
            return Err(format!("reports shard {} of {}", identity.shard_id, identity.shard_count));
        }
        Ok(identity.shard_id)
    }

    /// One round: resolve, remove who left (or answers as another shard now), ask every
    /// new address who it is and place it, forget drained members.
    pub async fn refresh(&self, shards: &[ReplicaSet]) {
        let name = &self.config.name;
        let found: BTreeSet<SocketAddr> = match self.resolver.resolve(name).await {
            Resolution::Found(ips) => {
                metrics::counter!("fanout_root_discovery_resolutions_total", "outcome" => "found").increment(1);
                let mut state = self.state();
                state.resolutions += 1;
                state.empty_rounds = 0;
                state.error = ips.is_empty().then(|| format!("{name} resolved to no address"));
                ips.into_iter().map(|ip| SocketAddr::new(ip, self.config.port)).collect()
            }
            Resolution::NoRecords(why) => {
                metrics::counter!("fanout_root_discovery_resolutions_total", "outcome" => "no_records").increment(1);
                let mut state = self.state();
                state.resolutions += 1;
                state.empty_rounds += 1;
                if state.error.as_deref() != Some(why.as_str()) {
                    tracing::warn!(%why, "discovery: no leaf under the name");
                }
                state.error = Some(why);
                // One such answer among good ones is more likely a stray server than every
                // leaf gone at once: members leave only when it is said twice in a row.
                if state.empty_rounds < NO_RECORDS_ROUNDS && !state.placed.is_empty() {
                    return;
                }
                BTreeSet::new()
            }
            Resolution::Failed(why) => {
                metrics::counter!("fanout_root_discovery_resolutions_total", "outcome" => "failed").increment(1);
                let mut state = self.state();
                state.resolutions += 1;
                if state.error.as_deref() != Some(why.as_str()) {
                    tracing::warn!(%why, "discovery: resolution failed; keeping the current members");
                }
                state.error = Some(why);
                return;
            }
        };
        let found: BTreeSet<SocketAddr> =
            found.into_iter().filter(|address| !self.listed.contains(&address.to_string())).collect();
        let new = self.remove_departed(shards, &found);
        let answers = futures::future::join_all(new.into_iter().map(|address| async move {
            let answer = match self.connector.client(0, &address.to_string()) {
                Ok(client) => match client.info(InfoRequest {}, INFO_TIMEOUT).await {
                    Ok(info) => match info.identity() {
                        Some(identity) => self.place(&identity).map(|shard| (client, shard, identity)),
                        None => Err("answered Info without an identity".to_string()),
                    },
                    Err(status) => Err(format!("did not answer Info: {}", status.message())),
                },
                Err(err) => Err(err.to_string()),
            };
            (address, answer)
        }))
        .await;
        let mut state = self.state();
        for (address, answer) in answers {
            match answer {
                Ok((client, shard, identity)) => {
                    let generation = identity.generation;
                    if let Some(replica) = shards[shard as usize].add(address.to_string(), client) {
                        replica.saw_identity(&identity);
                    }
                    tracing::info!(%address, shard, generation, "discovery: leaf joins its shard");
                    state.placed.insert(address, shard);
                    state.refused.remove(&address);
                }
                Err(reason) => {
                    if state.refused.get(&address) != Some(&reason) {
                        tracing::warn!(%address, %reason, "discovery: leaf not used");
                    }
                    state.refused.insert(address, reason);
                }
            }
        }
        state.refused.retain(|address, _| found.contains(address));
        state.draining.retain(|(_, replica)| Arc::strong_count(replica) > 1);
        metrics::gauge!("fanout_root_discovered_leaves", "state" => "serving").set(state.placed.len() as f64);
        metrics::gauge!("fanout_root_discovered_leaves", "state" => "refused").set(state.refused.len() as f64);
        metrics::gauge!("fanout_root_discovered_leaves", "state" => "draining").set(state.draining.len() as f64);
    }

    /// Removes members that left DNS or now answer as another shard (they are asked
    /// again at once); returns the addresses to ask `Info`.
    fn remove_departed(&self, shards: &[ReplicaSet], found: &BTreeSet<SocketAddr>) -> Vec<SocketAddr> {
        let mut state = self.state();
        let placed: Vec<(SocketAddr, u32)> = state.placed.iter().map(|(address, shard)| (*address, *shard)).collect();
        for (address, shard) in placed {
            let set = &shards[shard as usize];
            let name = address.to_string();
            let misplaced = set
                .replicas()
                .iter()
                .any(|replica| replica.address == name && replica.state() == super::ReplicaState::Misplaced);
            if found.contains(&address) && !misplaced {
                continue;
            }
            state.placed.remove(&address);
            if let Some(replica) = set.remove(&name) {
                let why = if misplaced { "answers as another shard" } else { "left DNS" };
                tracing::info!(%address, shard, why, in_flight = replica.counters.in_flight.load(std::sync::atomic::Ordering::Relaxed), "discovery: leaf removed, draining");
                state.draining.push((shard, replica));
            }
        }
        found.iter().filter(|address| !state.placed.contains_key(address)).copied().collect()
    }

    /// What discovery knows now.
    pub fn snapshot(&self) -> DiscoverySnapshot {
        let state = self.state();
        DiscoverySnapshot {
            name: self.config.name.clone(),
            port: self.config.port,
            interval_ms: self.config.interval_ms,
            resolutions: state.resolutions,
            error: state.error.clone(),
            discovered: state
                .placed
                .iter()
                .map(|(address, shard)| DiscoveredLeaf { address: address.to_string(), shard: *shard })
                .collect(),
            refused: state
                .refused
                .iter()
                .map(|(address, reason)| RefusedLeaf { address: address.to_string(), reason: reason.clone() })
                .collect(),
            draining: state
                .draining
                .iter()
                .filter(|(_, replica)| Arc::strong_count(replica) > 1)
                .map(|(shard, replica)| DiscoveredLeaf { address: replica.address.clone(), shard: *shard })
                .collect(),
        }
    }
}

/// Resolves the cluster's discovery name at once and then every interval, until `stop`
/// changes; returns at once when the cluster has no discovery.
pub async fn run(cluster: Arc<Cluster>, mut stop: watch::Receiver<()>) {
    let Some(discovery) = cluster.discovery() else { return };
    let mut ticker = tokio::time::interval(Duration::from_millis(discovery.config.interval_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        tokio::select! {
            () = discovery.refresh(&cluster.shards) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, UdpSocket};

    use super::*;

    #[tokio::test]
    async fn the_system_resolver_finds_localhost_without_asking_a_server() {
        let resolver = DnsResolver::new(&DiscoveryConfig::from_address("localhost:7001").unwrap()).unwrap();
        match resolver.resolve("localhost").await {
            Resolution::Found(ips) => assert!(ips.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{ips:?}"),
            other => panic!("localhost: {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unreachable_dns_server_is_a_failure_not_an_empty_answer() {
        // A loopback port nothing listens on.
        let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut config = DiscoveryConfig::from_address("fanout-leaf:7001").unwrap();
        config.nameserver = Some(format!("127.0.0.1:{port}"));
        config.interval_ms = 500;
        let resolver = DnsResolver::new(&config).unwrap();
        match resolver.resolve("fanout-leaf.").await {
            Resolution::Failed(why) => assert!(why.contains("cannot resolve fanout-leaf"), "{why}"),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn identities_are_placed_or_refused_with_the_reason() {
        #[derive(Debug)]
        struct Nowhere;
        impl Resolve for Nowhere {
            fn resolve<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, Resolution> {
                Box::pin(async { Resolution::NoRecords("none".into()) })
            }
        }
        let config = DiscoveryConfig::from_address("fanout-leaf:7001").unwrap();
        let discovery = Discovery::new(config, Arc::new(Nowhere), "hn".into(), 4, HashSet::new());
        let identity = |index: &str, shard_id, shard_count| ShardIdentity {
            index_name: index.into(),
            shard_id,
            shard_count,
            generation: 7,
            generations: vec![7],
        };
        assert_eq!(discovery.place(&identity("hn", 3, 4)), Ok(3));
        assert!(discovery.place(&identity("wiki", 3, 4)).unwrap_err().contains("serves index \"wiki\", not \"hn\""));
        assert!(discovery.place(&identity("hn", 1, 2)).unwrap_err().contains("2 shards there, the cluster expects 4"));
        assert!(discovery.place(&identity("hn", 4, 4)).unwrap_err().contains("reports shard 4 of 4"));
    }
}
