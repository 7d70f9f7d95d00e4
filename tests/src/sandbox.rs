//! A sandbox cluster for a test: index a dataset into a temporary directory and serve it
//! with real leaf and root servers on ephemeral loopback ports.
//!
//! `Sandbox::builder().dataset(path).schema(path).shards(4).replicas(2).start().await`

use std::path::{Path, PathBuf};

use fanout_cli::local::{LocalCluster, LocalOptions};
use fanout_indexer::{BuildOptions, BuildSummary, IndexSchema, Layout, build_index};
use fanout_proto::v1::root_client::RootClient;
use fanout_root::config::{
    AdmissionConfig, AuthConfig, CacheConfig, FetchConfig, InputLimits, RateLimitConfig, StatisticsConfig,
};
use fanout_transport::pki::LocalPki;
use serde_json::Value;
use tempfile::TempDir;

/// How to build a [`Sandbox`].
#[derive(Clone, Debug)]
pub struct SandboxBuilder {
    dataset: Option<PathBuf>,
    schema: Option<PathBuf>,
    shards: u32,
    replicas: u32,
    layout: Layout,
    admission: AdmissionConfig,
    rate_limit: RateLimitConfig,
    cache: CacheConfig,
    statistics: StatisticsConfig,
    fetch: FetchConfig,
    leaf_max_queue: Option<usize>,
    tls: bool,
    auth: AuthConfig,
    limits: InputLimits,
}

/// A running cluster over a freshly built index, removed when dropped.
pub struct Sandbox {
    /// The temporary directory holding the index.
    pub dir: TempDir,
    /// The index directory.
    pub index_dir: PathBuf,
    /// The schema the index was built with.
    pub schema: IndexSchema,
    /// How the index is partitioned.
    pub layout: Layout,
    /// The running servers.
    pub cluster: LocalCluster,
    http: reqwest::Client,
    shards: u32,
    /// The throwaway CA and certificates, when the cluster speaks TLS (its root's HTTP
    /// port is then HTTPS: [`Sandbox::url`] and the plain clients do not apply).
    pub pki: Option<LocalPki>,
}

impl Sandbox {
    /// A builder: 1 document-partitioned shard, 1 replica until told otherwise.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            dataset: None,
            schema: None,
            shards: 1,
            replicas: 1,
            layout: Layout::Document,
            admission: AdmissionConfig::default(),
            rate_limit: RateLimitConfig::default(),
            cache: CacheConfig::default(),
            statistics: StatisticsConfig::default(),
            fetch: FetchConfig::default(),
            leaf_max_queue: None,
            tls: false,
            auth: AuthConfig::default(),
            limits: InputLimits::default(),
        }
    }

    /// Waits (up to 10 s) until the root pins searches to `generation`; whether it did.
    pub async fn wait_until_serving(&self, generation: u64) -> bool {
        for _ in 0..100 {
            let (_, view) = self.get("/api/v1/cluster").await;
            if view["generations"]["serving"].as_u64() == Some(generation) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    }

    /// The root's HTTP URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.cluster.http_address)
    }

    /// POSTs a search body; returns the status and the JSON answer.
    pub async fn search(&self, body: &Value) -> (u16, Value) {
        let response = self.http.post(self.url("/api/v1/search")).json(body).send().await.expect("the root answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// GETs a path of the root; returns the status and the JSON answer.
    pub async fn get(&self, path_and_query: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path_and_query)).send().await.expect("the root answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// GETs a path of the root as text.
    pub async fn http_text(&self, path: &str) -> String {
        self.http.get(self.url(path)).send().await.expect("the root answers").text().await.expect("a text answer")
    }

    /// A gRPC client of the root.
    pub async fn grpc(&self) -> RootClient<tonic::transport::Channel> {
        RootClient::connect(format!("http://{}", self.cluster.grpc_address)).await.expect("the root's gRPC port")
    }

    /// Rebuilds the index in place from `dataset` (the next generation, as `fanout index`
    /// over an existing directory makes it) and tells every leaf to look for it.
    pub async fn rebuild(&self, dataset: &Path) -> u64 {
        let summary = build(dataset, &self.schema, &self.index_dir, self.layout, self.shards).await;
        for address in self.cluster.leaf_addresses() {
            let mut admin = fanout_proto::v1::leaf_admin_client::LeafAdminClient::connect(format!("http://{address}"))
                .await
                .expect("the leaf's admin service");
            admin.reload(fanout_proto::v1::ReloadRequest {}).await.expect("the leaf reloads");
        }
        summary.generation
    }

    /// Stops everything.
    pub async fn stop(self) {
        self.cluster.shutdown().await.expect("a clean shutdown");
    }
}

impl SandboxBuilder {
    /// The JSON-lines dataset to index.
    pub fn dataset(mut self, path: impl AsRef<Path>) -> Self {
        self.dataset = Some(path.as_ref().to_path_buf());
        self
    }

    /// Its schema file.
    pub fn schema(mut self, path: impl AsRef<Path>) -> Self {
        self.schema = Some(path.as_ref().to_path_buf());
        self
    }

    /// Number of shards.
    pub fn shards(mut self, shards: u32) -> Self {
        self.shards = shards;
        self
    }

    /// How the index is partitioned.
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Leaf servers per shard.
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// The root's admission limits.
    pub fn admission(mut self, admission: AdmissionConfig) -> Self {
        self.admission = admission;
        self
    }

    /// The root's per-client rate limits.
    pub fn rate_limit(mut self, rate_limit: RateLimitConfig) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// The root's result cache.
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// The root's per-term statistics.
    pub fn statistics(mut self, statistics: StatisticsConfig) -> Self {
        self.statistics = statistics;
        self
    }

    /// When the root fetches pages with the query phase.
    pub fn fetch(mut self, fetch: FetchConfig) -> Self {
        self.fetch = fetch;
        self
    }

    /// Searches each leaf lets wait for a search thread (0: it refuses every search, as
    /// a leaf whose queue is full does).
    pub fn leaf_max_queue(mut self, max_queue: usize) -> Self {
        self.leaf_max_queue = Some(max_queue);
        self
    }

    /// TLS everywhere: the root's HTTPS and gRPC, mutual TLS to the leaves, with a
    /// throwaway CA in the sandbox's directory.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// The root's API keys.
    pub fn auth(mut self, auth: AuthConfig) -> Self {
        self.auth = auth;
        self
    }

    /// The root's input limits.
    pub fn limits(mut self, limits: InputLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Builds the index and starts the servers.
    pub async fn start(self) -> Sandbox {
        let dataset = self.dataset.expect("a dataset");
        let schema = IndexSchema::read(&self.schema.expect("a schema")).expect("a valid schema");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let index_dir = dir.path().join("index");
        build(&dataset, &schema, &index_dir, self.layout, self.shards).await;
        let pki = self.tls.then(|| LocalPki::create(&dir.path().join("tls")).expect("throwaway certificates"));
        let options = LocalOptions {
            replicas: self.replicas,
            leaf_threads: 2,
            leaf_fault_injection: true,
            admission: self.admission.clone(),
            rate_limit: self.rate_limit.clone(),
            cache: self.cache.clone(),
            statistics: self.statistics.clone(),
            fetch: self.fetch.clone(),
            leaf_max_queue: self.leaf_max_queue,
            tls: pki.clone(),
            auth: self.auth.clone(),
            limits: self.limits.clone(),
            ..LocalOptions::default()
        };
        let cluster = LocalCluster::start(&index_dir, &options).await.expect("the cluster starts");
        Sandbox {
            dir,
            index_dir,
            schema,
            layout: self.layout,
            cluster,
            http: reqwest::Client::new(),
            shards: self.shards,
            pki,
        }
    }
}

/// Builds the sandbox's index from `dataset` into `dir` (replacing what is there, as the
/// next generation).
async fn build(dataset: &Path, schema: &IndexSchema, dir: &Path, layout: Layout, shards: u32) -> BuildSummary {
    let options =
        BuildOptions { layout, shards, index_name: "sandbox".into(), progress: false, ..BuildOptions::default() };
    let (dataset, schema, dir) = (dataset.to_path_buf(), schema.clone(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || build_index(&dataset, &schema, &dir, &options))
        .await
        .expect("the build does not panic")
        .expect("the index builds")
}

/// The (id, score) pairs of a search answer's hits.
pub fn hits_of(answer: &Value) -> Vec<(String, f32)> {
    answer["hits"]
        .as_array()
        .expect("a hits array")
        .iter()
        .map(|hit| (hit["id"].as_str().expect("an id").to_string(), hit["score"].as_f64().expect("a score") as f32))
        .collect()
}
