//! The deployment under test: leaf containers under one network alias (the Kubernetes
//! headless Service, emulated), a root container that knows only that name, and the host's
//! view of both through ports published on 127.0.0.1. Every fanout container runs as the
//! Kubernetes manifests' pods do (readOnlyRootFilesystem, every capability dropped,
//! allowPrivilegeEscalation: false): `--read-only --cap-drop=all
//! --security-opt=no-new-privileges`.

use std::process::Child;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::podman::{Podman, wait_bounded};
use super::support::repo;

/// The alias every leaf answers under (the headless Service's name).
pub const ALIAS: &str = "fanout-leaf";
/// The leaves' gRPC port (the image's FANOUT_LISTEN).
pub const LEAF_PORT: u16 = 7001;
/// Where the index volume is mounted: the image's one writable directory (owned by the
/// image's user, 10001); the index is its `index` subdirectory (the image's FANOUT_INDEX).
pub const VOLUME_AT: &str = "/var/lib/fanout";
pub const INDEX: &str = "/var/lib/fanout/index";
/// The index name and shard count.
pub const NAME: &str = "cranfield";
pub const SHARDS: u32 = 2;

/// How long a container may take to serve.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Bound of one podman command that starts or stops something.
const PODMAN_LIMIT: Duration = Duration::from_secs(90);

/// One leaf container.
pub struct Leaf {
    pub name: String,
    pub shard: u32,
    /// Its address on the network.
    pub ip: String,
    /// Its gRPC port on the host.
    pub published: String,
    /// Just before `podman run`.
    pub started: Instant,
    /// How long `podman run -d` took.
    pub run_took: Duration,
}

impl Leaf {
    /// The address the root's discovery gives it.
    pub fn address(&self) -> String {
        format!("{}:{LEAF_PORT}", self.ip)
    }
}

/// The root container.
pub struct Root {
    pub name: String,
    /// `127.0.0.1:PORT` of its HTTP and gRPC ports.
    pub http: String,
    pub grpc: String,
    pub started: Instant,
}

/// Images, volume, network and the containers on it.
pub struct Deployment<'a> {
    pub podman: &'a Podman,
    pub image: String,
    pub network: String,
    pub volume: String,
    pub client: reqwest::Client,
}

impl<'a> Deployment<'a> {
    pub fn new(podman: &'a Podman, image: String, network: String, volume: String) -> Deployment<'a> {
        // Nothing but loopback: no proxy, whatever the environment says.
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
        Deployment { podman, image, network, volume, client }
    }

    /// Builds the Cranfield index into the volume with the image's `index` role, the
    /// dataset and schema mounted read-only; returns the summary it printed.
    pub fn index(&self) -> String {
        let data = repo().join("../shared/datasets/cranfield").canonicalize().expect("../shared/datasets/cranfield");
        let schema = repo().join("datasets/cranfield/schema.toml");
        let volume = format!("{}:{VOLUME_AT}", self.volume);
        let data = format!("{}:/data/cranfield:ro", data.display());
        let schema = format!("{}:/etc/fanout/schema.toml:ro", schema.display());
        let shards = SHARDS.to_string();
        let (_, ran) = self.podman.run_container(
            "indexer",
            &[
                "--rm",
                "--network",
                "none",
                "-v",
                &volume,
                "-v",
                &data,
                "-v",
                &schema,
                &self.image,
                "index",
                "--no-progress",
                "--data",
                "/data/cranfield/docs.jsonl",
                "--schema",
                "/etc/fanout/schema.toml",
                "--out",
                INDEX,
                "--shards",
                &shards,
                "--name",
                NAME,
            ],
            Duration::from_secs(180),
        );
        assert!(ran.status.success(), "the indexer container failed ({}):\n{}{}", ran.status, ran.stdout, ran.stderr);
        ran.stdout
    }

    /// Starts leaf `ordinal` (pod name `fanout-leaf-ORDINAL`, shard ORDINAL mod SHARDS)
    /// under the alias, the index volume read-only, its gRPC port published on loopback.
    pub fn start_leaf(&self, ordinal: usize) -> Leaf {
        let shard = ordinal as u32 % SHARDS;
        let pod = format!("FANOUT_POD_NAME={ALIAS}-{ordinal}");
        let volume = format!("{}:{VOLUME_AT}:ro", self.volume);
        let publish = format!("127.0.0.1::{LEAF_PORT}");
        let args = vec![
            "-d",
            "--network",
            &self.network,
            "--network-alias",
            ALIAS,
            "-e",
            &pod,
            "-v",
            &volume,
            "-p",
            &publish,
            &self.image,
            "leaf",
            "--index",
            INDEX,
            "--threads",
            "1",
            "--shard-from-ordinal",
        ];
        let started = Instant::now();
        let (name, ran) = self.podman.run_container(&format!("leaf-{ordinal}"), &args, PODMAN_LIMIT);
        let run_took = started.elapsed();
        assert!(ran.status.success(), "starting leaf {ordinal} failed ({}): {}", ran.status, ran.stderr);
        let ip = self.podman.address(&name, &self.network);
        let published = self.podman.published(&name, LEAF_PORT);
        Leaf { name, shard, ip, published, started, run_took }
    }

    /// Waits until a leaf answers gRPC health SERVING on its published port; the time from
    /// its start.
    pub async fn leaf_serving(&self, leaf: &Leaf) -> Duration {
        wait_serving(&leaf.published, "fanout.v1.Leaf", leaf.started, READY_WITHIN)
            .await
            .unwrap_or_else(|err| panic!("leaf {}: {err}\n{}", leaf.name, self.podman.logs(&leaf.name)))
    }

    /// `podman kill` (SIGKILL) a container; it stays (stopped) until cleanup.
    pub fn kill(&self, name: &str) {
        self.podman.ok(&["kill", name], PODMAN_LIMIT);
    }

    /// Starts `podman stop` (SIGTERM, then SIGKILL after 10 s) without waiting.
    pub fn begin_stop(&self, name: &str) -> Child {
        self.podman.spawn(&["stop", "-t", "10", name])
    }

    /// Waits for a [`Deployment::begin_stop`], then `podman rm`; how long the stop took
    /// from `since`.
    pub fn finish_stop(&self, name: &str, stopping: Child, since: Instant) -> Duration {
        let stopped = wait_bounded(stopping, PODMAN_LIMIT).unwrap_or_else(|err| panic!("podman stop {name}: {err}"));
        assert!(stopped.status.success(), "podman stop {name} failed: {}", stopped.stderr);
        let took = since.elapsed();
        self.podman.ok(&["rm", name], PODMAN_LIMIT);
        took
    }

    /// What every address `ALIAS` resolves to on the network, asked from a container there.
    pub fn resolve_alias(&self) -> Vec<String> {
        let (_, ran) = self.podman.run_container(
            "resolver",
            &["--rm", "--network", &self.network, "--entrypoint", "getent", &self.image, "ahostsv4", ALIAS],
            PODMAN_LIMIT,
        );
        assert!(ran.status.success(), "getent ahostsv4 {ALIAS} on the network failed: {}{}", ran.stdout, ran.stderr);
        let mut addresses: Vec<String> =
            ran.stdout.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_string).collect();
        addresses.sort();
        addresses.dedup();
        addresses
    }

    /// Starts the root: it knows the index name, the shard count and the alias, nothing
    /// else; its HTTP and gRPC ports published on loopback.
    pub fn start_root(&self) -> Root {
        let shards = SHARDS.to_string();
        let discover = format!("{ALIAS}:{LEAF_PORT}");
        let started = Instant::now();
        let (name, ran) = self.podman.run_container(
            "root",
            &[
                "-d",
                "--network",
                &self.network,
                "-p",
                "127.0.0.1::8080",
                "-p",
                "127.0.0.1::8081",
                &self.image,
                "root",
                "--index-name",
                NAME,
                "--shards",
                &shards,
                "--discover",
                &discover,
                "--discovery-interval-ms",
                "500",
            ],
            PODMAN_LIMIT,
        );
        assert!(ran.status.success(), "starting the root failed ({}): {}", ran.status, ran.stderr);
        let http = self.podman.published(&name, 8080);
        let grpc = self.podman.published(&name, 8081);
        Root { name, http, grpc, started }
    }

    /// A GET on the root: status and body.
    pub async fn get(&self, root: &Root, path: &str) -> Option<(u16, String)> {
        let response = self.client.get(format!("http://{}{path}", root.http)).send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    /// Waits until `/readyz` answers 200; the time from the root's start.
    pub async fn root_ready(&self, root: &Root) -> Duration {
        let limit = Instant::now() + READY_WITHIN;
        loop {
            if let Some((200, _)) = self.get(root, "/readyz").await {
                return root.started.elapsed();
            }
            if Instant::now() > limit {
                let readyz = self.get(root, "/readyz").await;
                panic!(
                    "the root was not ready within {READY_WITHIN:?}: /readyz {readyz:?}\n{}",
                    self.podman.logs(&root.name)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The root's `/api/v1/cluster`.
    pub async fn view(&self, root: &Root) -> Value {
        let (status, body) = self.get(root, "/api/v1/cluster").await.expect("the root answers /api/v1/cluster");
        assert_eq!(status, 200, "/api/v1/cluster: {body}");
        serde_json::from_str(&body).expect("/api/v1/cluster is JSON")
    }

    /// Polls the cluster view until `condition` holds, at most `limit`; the time from
    /// `since` until it did.
    pub async fn wait_for_view(
        &self,
        root: &Root,
        since: Instant,
        limit: Duration,
        what: &str,
        condition: impl Fn(&Value) -> bool,
    ) -> Duration {
        let deadline = Instant::now() + limit;
        loop {
            let view = self.view(root).await;
            if condition(&view) {
                return since.elapsed();
            }
            assert!(Instant::now() < deadline, "the root's cluster view did not show {what} within {limit:?}: {view}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every replica of the cluster view, with its shard.
pub fn replicas(view: &Value) -> Vec<(u64, &Value)> {
    view["shards"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|shard| {
            let number = shard["shard"].as_u64().unwrap_or(u64::MAX);
            shard["replicas"].as_array().into_iter().flatten().map(move |replica| (number, replica))
        })
        .collect()
}

/// The replica at `address` in the cluster view, and its shard.
pub fn replica<'v>(view: &'v Value, address: &str) -> Option<(u64, &'v Value)> {
    replicas(view).into_iter().find(|(_, replica)| replica["address"] == address)
}

/// Polls grpc.health.v1.Health/Check for `service` at `address` (127.0.0.1:PORT) until
/// SERVING; the time since `since`.
pub async fn wait_serving(address: &str, service: &str, since: Instant, limit: Duration) -> Result<Duration, String> {
    let deadline = Instant::now() + limit;
    loop {
        let last = match health(address, service).await {
            Ok(ServingStatus::Serving) => return Ok(since.elapsed()),
            Ok(status) => format!("{status:?}"),
            Err(err) => err,
        };
        if Instant::now() > deadline {
            return Err(format!("{address} not SERVING {service:?} within {limit:?}: {last}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One health check, bounded to 2 s.
pub async fn health(address: &str, service: &str) -> Result<ServingStatus, String> {
    let check = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .map_err(|err| err.to_string())?
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .await
            .map_err(|err| format!("connect: {err}"))?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest { service: service.to_string() })
            .await
            .map_err(|status| format!("{}: {}", status.code(), status.message()))?;
        Ok(answer.into_inner().status())
    };
    tokio::time::timeout(Duration::from_secs(2), check).await.unwrap_or_else(|_| Err("no answer within 2 s".into()))
}
