//! A cluster of separate processes: `shards × replicas` leaves and a root, and bounded
//! open-loop query streams to run while a test breaks things.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use fanout_proto::v1::InfoRequest;
use fanout_proto::v1::leaf_client::LeafClient;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::time::Instant;

use super::reference::Reference;
use super::{Running, cranfield_docs, free_port, index_data, query_pool, text};

/// The request deadline every stream query carries.
pub const TIMEOUT_MS: u64 = 2_000;

/// Distinct queries the streams of one cluster go through before any repeats.
pub const POOL: usize = 1_500;

/// One leaf process and the port it serves on (kept across restarts).
pub struct LeafProcess {
    /// Its port.
    pub port: u16,
    /// The process, while it runs.
    pub process: Option<Running>,
}

/// Leaves and a root as separate `fanout` processes.
pub struct ProcessCluster {
    dir: TempDir,
    index: PathBuf,
    /// What every leaf is started with besides its shard and port (`--index …`).
    leaf_args: Vec<String>,
    /// Leaves by shard, then replica.
    pub leaves: Vec<Vec<LeafProcess>>,
    /// The root process.
    pub root: Running,
    /// The root's HTTP port.
    pub http: u16,
    client: reqwest::Client,
    queries: Arc<Vec<String>>,
    next_query: Arc<AtomicUsize>,
}

/// What one query of a stream got.
#[derive(Debug)]
pub struct Outcome {
    /// The query text.
    pub query: String,
    /// The number of hits asked for.
    pub limit: usize,
    /// When it was sent.
    pub sent: Instant,
    /// How long the answer took.
    pub latency: Duration,
    /// HTTP status (0: no HTTP answer at all; the error is in `answer`).
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
        Self::start_over(&cranfield_docs(), shards, replicas, layout).await
    }

    /// [`ProcessCluster::start`] over `data` (Cranfield's schema) in `layout`.
    pub async fn start_over(data: &Path, shards: u32, replicas: u32, layout: &str) -> ProcessCluster {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("cranfield");
        let built = index_data(data, &index, shards, layout);
        assert!(built.status.success(), "{}", text(&built.stderr));
        // Directory leaves in tests load a new generation only when restarted.
        let leaf_args = ["--index", index.to_str().unwrap(), "--poll-interval-ms", "0"].map(String::from).to_vec();
        Self::start_leaves(dir, index, leaf_args, shards, replicas).await
    }

    /// `shards × replicas` leaves of an index store (`location`, reached with `flags`)
    /// that look for new generations every `poll_ms`, each with its own cache, and a root.
    pub async fn start_from_store(
        location: &str,
        flags: &[String],
        poll_ms: u64,
        shards: u32,
        replicas: u32,
    ) -> ProcessCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut leaf_args: Vec<String> =
            ["--index", location, "--poll-interval-ms", &poll_ms.to_string()].map(String::from).to_vec();
        leaf_args.extend(flags.iter().cloned());
        let index = dir.path().join("caches");
        Self::start_leaves(dir, index, leaf_args, shards, replicas).await
    }

    async fn start_leaves(
        dir: TempDir,
        index: PathBuf,
        leaf_args: Vec<String>,
        shards: u32,
        replicas: u32,
    ) -> ProcessCluster {
        let mut leaves = Vec::new();
        let mut cluster = String::from("index = \"cranfield\"\n[hedging]\nmin_samples = 10\n");
        for shard in 0..shards {
            let mut replicas_of_shard = Vec::new();
            for _ in 0..replicas {
                let port = free_port();
                let process = Some(spawn_leaf_with(&leaf_args, &index, shard, port));
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
        let cluster = ProcessCluster {
            dir,
            index,
            leaf_args,
            leaves,
            root,
            http,
            client: reqwest::Client::new(),
            queries: Arc::new(query_pool(POOL)),
            next_query: Arc::new(AtomicUsize::new(0)),
        };
        cluster.wait_until(Duration::from_secs(30), |_| true, "ready").await;
        cluster
    }

    /// The index directory the leaves serve.
    pub fn index_dir(&self) -> &Path {
        &self.index
    }

    /// A scratch directory that lives as long as the cluster.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
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

    /// Polls `/api/v1/cluster` (ready or not) until `condition` holds on it.
    pub async fn wait_for_view(&self, limit: Duration, condition: impl Fn(&Value) -> bool, what: &str) -> Value {
        let started = Instant::now();
        loop {
            if let Some((_, view)) = self.get("/api/v1/cluster").await
                && condition(&view)
            {
                return view;
            }
            assert!(
                started.elapsed() < limit,
                "the cluster did not get {what} within {limit:?}: {}",
                self.view().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A GET on the root: status and JSON body.
    pub async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let response = self.client.get(format!("http://127.0.0.1:{}{path}", self.http)).send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.ok()?))
    }

    /// The root's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.http);
        self.client.get(url).send().await.unwrap().text().await.unwrap()
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

    /// SIGTERM one leaf and wait for it to exit; whether it exited cleanly.
    pub fn terminate(&mut self, shard: usize, replica: usize) -> bool {
        let mut process = self.leaves[shard][replica].process.take().expect("a running leaf");
        process.terminate()
    }

    /// Starts a killed leaf again on its port.
    pub fn restart(&mut self, shard: usize, replica: usize) {
        self.restart_as(shard, replica, shard as u32);
    }

    /// Starts a leaf serving shard `serves` on the port of a killed replica of `shard`.
    pub fn restart_as(&mut self, shard: usize, replica: usize, serves: u32) {
        assert!(self.leaves[shard][replica].process.is_none(), "the replica was stopped first");
        let port = self.leaves[shard][replica].port;
        self.leaves[shard][replica].process = Some(spawn_leaf_with(&self.leaf_args, &self.index, serves, port));
    }

    /// Waits until the leaf on a replica's port answers `Info` with `generation`.
    pub async fn wait_for_leaf(&self, shard: usize, replica: usize, generation: u64, limit: Duration) {
        let address = format!("http://127.0.0.1:{}", self.leaves[shard][replica].port);
        let started = Instant::now();
        loop {
            if let Ok(mut client) = LeafClient::connect(address.clone()).await
                && let Ok(info) = client.info(InfoRequest {}).await
                && info.get_ref().generation == generation
            {
                return;
            }
            assert!(started.elapsed() < limit, "{address} did not serve generation {generation} within {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One search.
    pub async fn search(&self, body: Value) -> Outcome {
        search(&self.client, self.http, body).await
    }

    /// The next `count` queries of the cluster's pool (each stream continues where the last
    /// one stopped, so statistics are rarely cached).
    fn take_queries(&self, count: usize) -> Vec<String> {
        let first = self.next_query.fetch_add(count, Ordering::Relaxed);
        (first..first + count).map(|i| self.queries[i % self.queries.len()].clone()).collect()
    }

    /// `rate` queries per second for `duration`, each sent at its scheduled time whatever
    /// the others are doing (open loop), each with a deadline of [`TIMEOUT_MS`] and a limit
    /// of 5. `during` runs `after` into the stream.
    pub async fn stream(&self, rate: u32, duration: Duration, after: Duration, during: impl FnOnce()) -> Vec<Outcome> {
        let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
        let queries = self.take_queries(total);
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(total);
        let mut during = Some(during);
        let fault_at = started.checked_add(after);
        for (i, query) in queries.into_iter().enumerate() {
            let at = started + interval * i as u32;
            if let Some(fault_at) = fault_at
                && at >= fault_at
                && let Some(fault) = during.take()
            {
                tokio::time::sleep_until(fault_at).await;
                fault();
            }
            tokio::time::sleep_until(at).await;
            let (client, http) = (self.client.clone(), self.http);
            tasks.push(tokio::spawn(async move { stream_query(&client, http, query, 5).await }));
        }
        let mut outcomes = Vec::with_capacity(total);
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }

    /// Starts an open-loop stream of `rate` queries per second asking `limit` hits each,
    /// in the background, until [`Background::finish`] (or at most `max` queries).
    pub fn background(&self, rate: u32, limit: usize, max: usize) -> Background {
        background(&self.client, self.http, self.take_queries(max), rate, limit)
    }
}

/// Starts an open-loop stream of `queries` at `rate` per second, `limit` hits each, to the
/// root on 127.0.0.1:`http`, each sent at its scheduled time whatever the others are doing,
/// until [`Background::finish`] or the queries run out.
pub fn background(client: &reqwest::Client, http: u16, queries: Vec<String>, rate: u32, limit: usize) -> Background {
    let stop = Arc::new(AtomicBool::new(false));
    let (client, flag) = (client.clone(), stop.clone());
    let sender = tokio::spawn(async move {
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (i, query) in queries.into_iter().enumerate() {
            tokio::time::sleep_until(started + interval * i as u32).await;
            if flag.load(Ordering::Relaxed) {
                break;
            }
            let client = client.clone();
            tasks.push(tokio::spawn(async move { stream_query(&client, http, query, limit).await }));
        }
        tasks
    });
    Background { stop, sender }
}

/// A query stream running in the background.
pub struct Background {
    stop: Arc<AtomicBool>,
    sender: tokio::task::JoinHandle<Vec<tokio::task::JoinHandle<Outcome>>>,
}

impl Background {
    /// Stops sending and waits for every answer, in sending order.
    pub async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        self.complete().await
    }

    /// Sends every query, then waits for every answer, in sending order.
    pub async fn complete(self) -> Vec<Outcome> {
        let tasks = self.sender.await.unwrap();
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }
}

async fn stream_query(client: &reqwest::Client, http: u16, query: String, limit: usize) -> Outcome {
    search(client, http, json!({"query": query, "limit": limit, "timeout_ms": TIMEOUT_MS})).await
}

/// One search, `POST /api/v1/search` on 127.0.0.1:`http`; transport errors are in the answer.
pub async fn search(client: &reqwest::Client, http: u16, body: Value) -> Outcome {
    let sent = Instant::now();
    let query = body["query"].as_str().unwrap_or_default().to_string();
    let limit = body["limit"].as_u64().unwrap_or(10) as usize;
    let request = client.post(format!("http://127.0.0.1:{http}/api/v1/search")).json(&body);
    let (status, answer) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.text().await {
                Ok(body) => (status, serde_json::from_str(&body).unwrap_or_else(|_| json!({"not_json": body}))),
                Err(err) => (0, json!({"transport_error": err.to_string()})),
            }
        }
        Err(err) => (0, json!({"transport_error": err.to_string()})),
    };
    Outcome { query, limit, sent, latency: sent.elapsed(), status, answer }
}

/// Starts `fanout leaf` with `source` (`--index …` and its flags) for `shard` on `port`,
/// one search thread, caching below `caches` (a directory per port) when the source is a store.
fn spawn_leaf_with(source: &[String], caches: &Path, shard: u32, port: u16) -> Running {
    let cache = caches.join(format!("leaf-{port}"));
    let mut args: Vec<String> = vec!["leaf".into()];
    args.extend(source.iter().cloned());
    let shard = shard.to_string();
    let listen = format!("127.0.0.1:{port}");
    args.extend(
        ["--cache-dir", cache.to_str().unwrap(), "--shard", &shard, "--threads", "1", "--listen", &listen]
            .map(String::from),
    );
    Running::spawn(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The cache directory of the store leaf on `port` below `caches`.
pub fn leaf_cache(caches: &Path, port: u16) -> PathBuf {
    caches.join(format!("leaf-{port}"))
}

/// Starts `fanout leaf` for `shard` of `index` on `port`, one search thread.
pub fn spawn_leaf(index: &Path, shard: u32, port: u16) -> Running {
    spawn_leaf_at(index, shard, &format!("127.0.0.1:{port}"))
}

/// Starts `fanout leaf` for `shard` of `index` listening on `address`, one search thread.
pub fn spawn_leaf_at(index: &Path, shard: u32, address: &str) -> Running {
    Running::spawn(&[
        "leaf",
        "--index",
        index.to_str().unwrap(),
        "--poll-interval-ms",
        "0",
        "--shard",
        &shard.to_string(),
        "--threads",
        "1",
        "--listen",
        address,
    ])
}

/// Judges a stream's answers during a rollout from `old` to `new` documents: every query
/// answered (200, not partial) with exactly one generation's single-index answer, never a
/// mix; those sent before `old_until` the old one's, those sent after `new_from` the new
/// one's. Returns how many matched only the old and only the new generation.
pub fn judge_rollout(
    outcomes: &[Outcome],
    old: &Reference,
    new: &Reference,
    old_until: Instant,
    new_from: Instant,
) -> (usize, usize) {
    let (mut as_old, mut as_new) = (0, 0);
    for (number, outcome) in outcomes.iter().enumerate() {
        let context = format!("query {number} {:?}", outcome.query);
        assert_eq!(outcome.status, 200, "{context}: {}", outcome.answer);
        assert_eq!(outcome.answer["partial"], false, "{context}: {}", outcome.answer);
        let old_answer = old.check(&outcome.query, outcome.limit, &outcome.answer);
        let new_answer = new.check(&outcome.query, outcome.limit, &outcome.answer);
        match (&old_answer, &new_answer) {
            (Err(old), Err(new)) => {
                panic!(
                    "{context}: neither generation's answer (a mix?): old: {old}; new: {new}; got {}",
                    outcome.answer
                )
            }
            (Ok(()), Err(_)) => as_old += 1,
            (Err(_), Ok(())) => as_new += 1,
            (Ok(()), Ok(())) => {}
        }
        if outcome.sent < old_until {
            assert!(old_answer.is_ok(), "{context}: sent before the rollout began but {old_answer:?}");
        }
        if outcome.sent > new_from {
            assert!(new_answer.is_ok(), "{context}: sent after the rollout ended but {new_answer:?}");
        }
    }
    (as_old, as_new)
}
