//! Leaves found by DNS, with real leaf processes on loopback addresses (127.0.0.N, one
//! port for all, as pods behind a headless Service) and a root whose resolver the test
//! scripts, so that membership changes happen exactly when the test says: leaves join the
//! shard they report without a restart and take traffic; a leaf of another index or shard
//! count is refused with the reason; a leaf that leaves DNS is removed with no failed
//! query while the others keep their state; a failed resolution keeps the members; a name
//! with no records empties the cluster and readiness says why. (The real resolver against
//! real DNS is the deployment test's: containers under one network alias.)

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fanout_root::cluster::discovery::{Resolution, Resolve};
use fanout_root::config::DiscoveryConfig;
use fanout_root::{ClusterConfig, RootServerHandle};
use serde_json::{Value, json};
use support::cluster::spawn_leaf_at;
use support::reference::Reference;
use support::{
    Running, cranfield_docs, cranfield_schema, fanout, free_port, index_cranfield, text, write_cranfield_prefix,
};

const LIMIT: usize = 10;
/// Queries the stream sends at least, however fast membership changes.
const STREAM_MIN: usize = 200;

/// DNS as the test says it is now.
#[derive(Debug)]
struct ScriptedDns(Mutex<Resolution>);

impl ScriptedDns {
    fn set(&self, resolution: Resolution) {
        *self.0.lock().unwrap() = resolution;
    }

    fn hosts(&self, hosts: &[u8]) {
        self.set(Resolution::Found(hosts.iter().map(|host| IpAddr::V4(Ipv4Addr::new(127, 0, 0, *host))).collect()));
    }
}

impl Resolve for ScriptedDns {
    fn resolve<'a>(&'a self, _name: &'a str) -> Pin<Box<dyn Future<Output = Resolution> + Send + 'a>> {
        let now = self.0.lock().unwrap().clone();
        Box::pin(async move { now })
    }
}

fn leaf_at(index: &Path, shard: u32, host: u8, port: u16) -> Running {
    spawn_leaf_at(index, shard, &format!("127.0.0.{host}:{port}"))
}

struct Root {
    client: reqwest::Client,
    http: u16,
}

impl Root {
    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(format!("http://127.0.0.1:{}{path}", self.http)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn search(&self, query: &str) -> (u16, Value) {
        let body = json!({"query": query, "limit": LIMIT, "timeout_ms": 3_000});
        let url = format!("http://127.0.0.1:{}/api/v1/search", self.http);
        match self.client.post(url).json(&body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(err) => (0, json!({"transport_error": err.to_string()})),
        }
    }

    /// Polls the cluster view until `condition` holds; panics after `limit` with the view.
    async fn wait_for_view(&self, what: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (_, view) = self.get("/api/v1/cluster").await;
            if condition(&view) {
                return view;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {what}: {view:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The addresses of a shard's replicas in the view.
fn members(view: &Value, shard: usize) -> Vec<String> {
    view["shards"][shard]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|replica| replica["address"].as_str().unwrap().to_string())
        .collect()
}

fn requests(view: &Value, address: &str) -> u64 {
    view["shards"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|shard| shard["replicas"].as_array().unwrap())
        .find(|replica| replica["address"] == address)
        .map_or(0, |replica| replica["requests"].as_u64().unwrap())
}

fn refusal(view: &Value, address: &str) -> Option<String> {
    view["discovery"]["refused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|refused| refused["address"] == address)
        .map(|refused| refused["reason"].as_str().unwrap().to_string())
}

#[test]
fn leaves_join_and_leave_by_dns_without_a_failed_query() {
    let scratch = tempfile::tempdir().unwrap();
    let cranfield = scratch.path().join("cranfield");
    let built = index_cranfield(&cranfield, 2);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let three = scratch.path().join("three");
    let built = index_cranfield(&three, 3);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let prefix = scratch.path().join("prefix.jsonl");
    write_cranfield_prefix(&prefix, 200);
    let other = scratch.path().join("other");
    let built = fanout()
        .args(["index", "--no-progress", "--name", "other", "--shards", "2", "--data"])
        .arg(&prefix)
        .arg("--schema")
        .arg(cranfield_schema())
        .arg("--out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));

    // 127.0.0.1-4: shards 0, 1, 0, 1 of cranfield; .5: a 3-shard cranfield; .6: another index.
    let port = free_port();
    let _leaves = [
        leaf_at(&cranfield, 0, 1, port),
        leaf_at(&cranfield, 1, 2, port),
        leaf_at(&cranfield, 0, 3, port),
        leaf_at(&cranfield, 1, 4, port),
        leaf_at(&three, 0, 5, port),
        leaf_at(&other, 0, 6, port),
    ];
    let address = |host: u8| format!("127.0.0.{host}:{port}");
    let reference = Reference::build(&cranfield_docs(), &cranfield_schema());
    let queries = support::cranfield_queries();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let dns = Arc::new(ScriptedDns(Mutex::new(Resolution::NoRecords("not yet".into()))));
        dns.hosts(&[1, 2, 5, 6]);
        let mut discovery = DiscoveryConfig::from_address(&format!("fanout-leaf:{port}")).unwrap();
        discovery.interval_ms = 100;
        let config = ClusterConfig::discovered("cranfield".into(), 2, discovery);
        let handle = RootServerHandle::with_resolver(&config, dns.clone()).unwrap();
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = Root { client: reqwest::Client::new(), http: http.local_addr().unwrap().port() };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(handle.serve(http, grpc, async {
            let _ = stopped.await;
        }));

        // The right leaves are placed in the shard they report; the others are refused, and say why.
        let view = root
            .wait_for_view("two leaves placed and two refused", |view| {
                members(view, 0) == [address(1)]
                    && members(view, 1) == [address(2)]
                    && refusal(view, &address(5))
                        .is_some_and(|why| why.contains("3 shards there, the cluster expects 2"))
                    && refusal(view, &address(6)).is_some_and(|why| why.contains("serves index \"other\""))
            })
            .await;
        assert_eq!(view["discovery"]["discovered"].as_array().unwrap().len(), 2, "{view:#}");
        let (status, ready) = root.get("/readyz").await;
        assert_eq!(status, 200, "{ready:#}");
        for query in queries.iter().take(40) {
            let (status, answer) = root.search(query).await;
            assert_eq!(status, 200, "{query}: {answer:#}");
            reference.check(query, LIMIT, &answer).unwrap_or_else(|why| panic!("{query}: {why}"));
        }

        // A query stream runs while leaves join and leave.
        let stream_root = Root { client: root.client.clone(), http: root.http };
        let stream_queries = queries.clone();
        let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let keep_going = running.clone();
        let stream = tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for query in stream_queries.iter().cycle() {
                if !keep_going.load(std::sync::atomic::Ordering::Relaxed) && outcomes.len() >= STREAM_MIN {
                    break;
                }
                outcomes.push(stream_root.search(query).await);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            outcomes
        });

        // New replicas take traffic without a restart.
        dns.hosts(&[1, 2, 3, 4, 5, 6]);
        let view = root
            .wait_for_view("the new leaves placed and asked", |view| {
                members(view, 0).contains(&address(3))
                    && members(view, 1).contains(&address(4))
                    && requests(view, &address(3)) > 0
                    && requests(view, &address(4)) > 0
            })
            .await;
        let before = requests(&view, &address(2));

        // A leaf that leaves DNS is removed; the one that stays keeps its counters.
        dns.hosts(&[2, 3, 4, 5, 6]);
        let view = root.wait_for_view("127.0.0.1 removed", |view| members(view, 0) == [address(3)]).await;
        assert!(requests(&view, &address(2)) >= before, "a replica that stays keeps its state: {view:#}");
        let view = root.wait_for_view("shard 0 answers from .3", |view| requests(view, &address(3)) > 20).await;
        assert!(!members(&view, 0).contains(&address(1)));

        // A failed resolution keeps the members.
        dns.set(Resolution::Failed("cannot resolve fanout-leaf: timed out".into()));
        let view = root
            .wait_for_view("the failure reported", |view| {
                view["discovery"]["error"].as_str().is_some_and(|error| error.contains("timed out"))
            })
            .await;
        assert_eq!(members(&view, 0), [address(3)]);
        assert_eq!(members(&view, 1), [address(2), address(4)]);
        tokio::time::sleep(Duration::from_millis(300)).await;

        running.store(false, std::sync::atomic::Ordering::Relaxed);
        let outcomes = stream.await.unwrap();
        let failed: Vec<&(u16, Value)> =
            outcomes.iter().filter(|(status, answer)| *status != 200 || answer["partial"] != false).collect();
        println!("stream while leaves joined and left: {} queries, {} failed or partial", outcomes.len(), failed.len());
        assert!(failed.is_empty(), "failed or partial answers: {:#?}", &failed[..failed.len().min(3)]);

        // No records (no leaf is ready): every discovered leaf leaves, readiness says why.
        dns.set(Resolution::NoRecords("fanout-leaf has no address records".into()));
        root.wait_for_view("every discovered leaf removed", |view| {
            members(view, 0).is_empty() && members(view, 1).is_empty()
        })
        .await;
        let (status, ready) = root.get("/readyz").await;
        assert_eq!(status, 503, "{ready:#}");
        let problems = ready["shards"][0]["problems"].to_string();
        assert!(problems.contains("no replica discovered under fanout-leaf"), "{ready:#}");
        let (status, answer) = root.search("boundary layer").await;
        assert_eq!(status, 503, "{answer:#}");

        // They come back when DNS lists them again.
        dns.hosts(&[1, 2]);
        root.wait_for_view("back", |view| members(view, 0) == [address(1)] && members(view, 1) == [address(2)]).await;
        let (status, answer) = root.search("boundary layer").await;
        assert_eq!(status, 200, "{answer:#}");
        let metrics = root.client.get(format!("http://127.0.0.1:{}/metrics", root.http)).send().await.unwrap();
        let metrics = metrics.text().await.unwrap();
        assert!(metrics.contains("# HELP fanout_root_discovered_leaves"), "{metrics}");
        assert!(metrics.contains("fanout_root_discovery_resolutions_total{outcome=\"no_records\"}"), "{metrics}");

        let _ = stop.send(());
        server.await.unwrap().unwrap();
    });
}
