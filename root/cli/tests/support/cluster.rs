//! A cluster of separate processes: `shards × replicas` leaves and a root, and a bounded
//! open-loop query stream to run while a test breaks things.

use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::time::Instant;

use super::{Running, free_port, index_cranfield_as, text};

/// The request deadline every stream query carries.
pub const TIMEOUT_MS: u64 = 2_000;

/// One leaf process and the port it serves on (kept across restarts).
pub struct LeafProcess {
    /// Its port.
    pub port: u16,
    /// The process, while it runs.
    pub process: Option<Running>,
}

/// Leaves and a root as separate `fanout` processes.
pub struct ProcessCluster {
    _dir: TempDir,
    index: String,
    /// Leaves by shard, then replica.
    pub leaves: Vec<Vec<LeafProcess>>,
    /// The root process.
    pub root: Running,
    /// The root's HTTP port.
    pub http: u16,
    client: reqwest::Client,
}

/// What one query of a stream got.
#[derive(Debug)]
pub struct Outcome {
    /// HTTP status.
    pub status: u16,
    /// The JSON answer.
    pub answer: Value,
}

impl ProcessCluster {
    /// Indexes Cranfield into `shards` document-partitioned shards and starts `replicas`
    /// leaves per shard and a root, then waits until the root is ready.
    pub async fn start(shards: u32, replicas: u32) -> ProcessCluster {
        Self::start_with_layout(shards, replicas, "document").await
    }

    /// [`ProcessCluster::start`] with the index in `layout` (`document` or `term`).
    pub async fn start_with_layout(shards: u32, replicas: u32, layout: &str) -> ProcessCluster {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("cranfield");
        let built = index_cranfield_as(&index, shards, layout);
        assert!(built.status.success(), "{}", text(&built.stderr));
        let index = index.to_str().unwrap().to_string();
        let mut leaves = Vec::new();
        let mut cluster = String::from("index = \"cranfield\"\n[hedging]\nmin_samples = 10\n");
        for shard in 0..shards {
            let mut replicas_of_shard = Vec::new();
            for _ in 0..replicas {
                let port = free_port();
                let process = Some(spawn_leaf(&index, shard, port));
                replicas_of_shard.push(LeafProcess { port, process });
            }
            let addresses: Vec<String> =
                replicas_of_shard.iter().map(|leaf| format!("\"127.0.0.1:{}\"", leaf.port)).collect();
            cluster.push_str(&format!("[[shard]]\nreplicas = [{}]\n", addresses.join(", ")));
            leaves.push(replicas_of_shard);
        }
        let cluster_file = dir.path().join("cluster.toml");
        std::fs::write(&cluster_file, cluster).unwrap();
        let (http, grpc) = (free_port(), free_port());
        let root = Running::spawn(&[
            "root",
            "--cluster",
            cluster_file.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{http}"),
            "--grpc-listen",
            &format!("127.0.0.1:{grpc}"),
        ]);
        let cluster = ProcessCluster { _dir: dir, index, leaves, root, http, client: reqwest::Client::new() };
        cluster.wait_until(Duration::from_secs(30), |_| true, "ready").await;
        cluster
    }

    /// Polls `/readyz` and `/api/v1/cluster` until `condition` holds on the cluster view.
    pub async fn wait_until(&self, limit: Duration, condition: impl Fn(&Value) -> bool, what: &str) -> Value {
        let started = Instant::now();
        loop {
            let ready = self.get("/readyz").await.map(|(status, _)| status == 200).unwrap_or(false);
            if ready
                && let Some((_, view)) = self.get("/api/v1/cluster").await
                && condition(&view)
            {
                return view;
            }
            assert!(started.elapsed() < limit, "the cluster did not get {what} within {limit:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let response = self.client.get(format!("http://127.0.0.1:{}{path}", self.http)).send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.ok()?))
    }

    /// The root's `/api/v1/cluster` view.
    pub async fn view(&self) -> Value {
        self.get("/api/v1/cluster").await.expect("the root answers").1
    }

    /// Sends a signal to one leaf.
    pub fn signal(&self, shard: usize, replica: usize, signal: &str) {
        self.leaves[shard][replica].process.as_ref().expect("a running leaf").signal(signal);
    }

    /// kill -9 one leaf.
    pub fn kill(&mut self, shard: usize, replica: usize) {
        if let Some(mut process) = self.leaves[shard][replica].process.take() {
            process.kill();
        }
    }

    /// Starts a killed leaf again on its port.
    pub fn restart(&mut self, shard: usize, replica: usize) {
        let port = self.leaves[shard][replica].port;
        self.leaves[shard][replica].process = Some(spawn_leaf(&self.index, shard as u32, port));
    }

    /// One search.
    pub async fn search(&self, body: Value) -> Outcome {
        search(&self.client, self.http, body).await
    }

    /// `rate` queries per second for `duration`, each sent at its scheduled time whatever
    /// the others are doing (open loop), each with a deadline of [`TIMEOUT_MS`]. `during`
    /// runs `after` into the stream.
    pub async fn stream(&self, rate: u32, duration: Duration, after: Duration, during: impl FnOnce()) -> Vec<Outcome> {
        let queries: Vec<String> =
            (0..200).map(|i| WORDS[i % WORDS.len()].to_string() + " " + WORDS[(i * 7 + 3) % WORDS.len()]).collect();
        let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(total);
        let mut during = Some(during);
        let fault_at = started.checked_add(after);
        for i in 0..total {
            let at = started + interval * i as u32;
            if let Some(fault_at) = fault_at
                && at >= fault_at
                && let Some(fault) = during.take()
            {
                tokio::time::sleep_until(fault_at).await;
                fault();
            }
            tokio::time::sleep_until(at).await;
            let body = json!({"query": queries[i % queries.len()], "limit": 5, "timeout_ms": TIMEOUT_MS});
            let client = self.client.clone();
            let http = self.http;
            tasks.push(tokio::spawn(async move { search(&client, http, body).await }));
        }
        let mut outcomes = Vec::with_capacity(total);
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }
}

/// Words of the Cranfield collection, for queries that find something.
const WORDS: &[&str] = &[
    "boundary",
    "layer",
    "flow",
    "pressure",
    "wing",
    "supersonic",
    "heat",
    "transfer",
    "shock",
    "wave",
    "mach",
    "number",
    "laminar",
    "turbulent",
    "plate",
    "cylinder",
    "nozzle",
    "jet",
    "buckling",
    "shell",
    "panel",
    "flutter",
];

async fn search(client: &reqwest::Client, http: u16, body: Value) -> Outcome {
    let response = client
        .post(format!("http://127.0.0.1:{http}/api/v1/search"))
        .json(&body)
        .send()
        .await
        .expect("the root answers");
    let status = response.status().as_u16();
    Outcome { status, answer: response.json().await.expect("a JSON answer") }
}

fn spawn_leaf(index: &str, shard: u32, port: u16) -> Running {
    Running::spawn(&[
        "leaf",
        "--index",
        index,
        "--shard",
        &shard.to_string(),
        "--threads",
        "1",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
}
