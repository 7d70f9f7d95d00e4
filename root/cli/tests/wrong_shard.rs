//! Leaves that serve something else than the cluster file says, with real processes: a
//! replica of shard 0 replaced under load by a leaf serving shard 1 on the same address
//! (its answers must never be taken for shard 0's), and a cluster file that lists only 2
//! of an index's 3 shards (searches, gets and readiness must refuse, in both layouts).

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fanout_indexer::shard_for_id;
use serde_json::{Value, json};
use support::cluster::ProcessCluster;
use support::reference::Reference;
use support::{Running, cranfield_docs, cranfield_schema, free_port, index_cranfield_as, text};

const LIMIT: usize = 10;

#[test]
fn a_replica_serving_another_shard_is_never_believed() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut cluster = ProcessCluster::start(2, 2).await;
        let reference = Reference::build(&cranfield_docs(), &cranfield_schema());
        let stream = cluster.background(20, LIMIT, 1_000);
        tokio::time::sleep(Duration::from_millis(1_500)).await;

        cluster.kill(0, 0);
        cluster.restart_as(0, 0, 1);
        cluster.wait_for_leaf(0, 0, 1, Duration::from_secs(15)).await;
        let view = cluster
            .wait_for_view(
                Duration::from_secs(10),
                |view| {
                    let replica = &view["shards"][0]["replicas"][0];
                    replica["state"] == "misplaced"
                        && replica["reason"].as_str().is_some_and(|reason| reason.contains("serves shard 1 of 2"))
                },
                "shard 0 replica 0 misplaced",
            )
            .await;
        assert_eq!(view["shards"][0]["replicas"][1]["state"], "healthy", "{view}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let outcomes = stream.finish().await;

        for (number, outcome) in outcomes.iter().enumerate() {
            let context = format!("query {number} {:?}", outcome.query);
            let answer = &outcome.answer;
            assert_eq!(outcome.status, 200, "{context}: {answer}");
            assert_eq!(answer["partial"], false, "{context}: {answer}");
            assert_eq!(answer["shards"]["successful"], 2, "{context}: {answer}");
            let mut ids = HashSet::new();
            for hit in answer["hits"].as_array().unwrap() {
                let id = hit["id"].as_str().unwrap();
                assert_eq!(
                    hit["shard"],
                    shard_for_id(id, 2),
                    "{context}: {id} attributed to the wrong shard: {answer}"
                );
                assert!(ids.insert(id), "{context}: {id} twice: {answer}");
            }
            if let Err(why) = reference.check(&outcome.query, outcome.limit, answer) {
                panic!("{context}: not the single index's answer: {why}: {answer}");
            }
        }
        assert!(outcomes.len() >= 80, "a steady stream ({} queries)", outcomes.len());

        // Still out of rotation, and the shard still ready through its other replica.
        let view = cluster.view().await;
        let misplaced = &view["shards"][0]["replicas"][0];
        assert_eq!(misplaced["state"], "misplaced", "{view}");
        let (status, readiness) = cluster.get("/readyz").await.unwrap();
        assert_eq!(status, 200, "{readiness}");
        let problems = readiness["shards"][0]["problems"].to_string();
        assert!(problems.contains("misplaced"), "{readiness}");
        println!("{} queries answered; misplaced replica: {misplaced}", outcomes.len());
    });
}

/// Leaves of shards 0 and 1 of a 3-shard index in `layout`, and a root whose cluster file
/// lists only those two shards.
struct Mismatched {
    _dir: tempfile::TempDir,
    _leaves: Vec<Running>,
    _root: Running,
    http: u16,
}

impl Mismatched {
    fn start(layout: &str) -> Mismatched {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("cranfield");
        let built = index_cranfield_as(&index, 3, layout);
        assert!(built.status.success(), "{}", text(&built.stderr));
        let ports = [free_port(), free_port()];
        let leaves = ports
            .iter()
            .enumerate()
            .map(|(shard, port)| support::cluster::spawn_leaf(&index, shard as u32, *port))
            .collect();
        let cluster = dir.path().join("cluster.toml");
        let shards: String =
            ports.iter().map(|port| format!("[[shard]]\nreplicas = [\"127.0.0.1:{port}\"]\n")).collect();
        std::fs::write(&cluster, format!("index = \"cranfield\"\n{shards}")).unwrap();
        let (http, grpc) = (free_port(), free_port());
        let root = Running::spawn(&[
            "root",
            "--cluster",
            cluster.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{http}"),
            "--grpc-listen",
            &format!("127.0.0.1:{grpc}"),
        ]);
        Mismatched { _dir: dir, _leaves: leaves, _root: root, http }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    /// Waits until the root answers and has heard from every leaf (`/readyz` reports what
    /// each serves or that it is misplaced, rather than a connection error).
    async fn wait_for_leaves(&self, client: &reqwest::Client) -> (u16, Value) {
        let started = Instant::now();
        loop {
            if let Ok(response) = client.get(self.url("/readyz")).send().await {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                let body: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|err| panic!("/readyz answers JSON ({err}): {status} {text:?}"));
                let answered = |shard: usize| {
                    let problems = body["shards"][shard]["problems"].to_string();
                    problems.contains("serves") || problems.contains("misplaced")
                };
                if status == 200 || (answered(0) && answered(1)) {
                    return (status, body);
                }
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the leaves and root did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn check_refused(layout: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let cluster = Mismatched::start(layout);
        let client = reqwest::Client::new();
        let (status, readiness) = cluster.wait_for_leaves(&client).await;
        assert_eq!(status, 503, "{layout}: /readyz: {readiness}");
        assert_eq!(readiness["ready"], false, "{layout}: {readiness}");
        for _ in 0..3 {
            let search = client
                .post(cluster.url("/api/v1/search"))
                .json(&json!({"query": "boundary layer", "limit": 5}))
                .send()
                .await
                .unwrap_or_else(|err| panic!("{layout}: the search gets an HTTP answer: {err}"));
            let status = search.status().as_u16();
            let body = search.text().await.unwrap();
            assert_eq!(status, 503, "{layout}: a search over a mismatched cluster: {body}");
            assert!(body.contains("serves shard 0 of 3, not shard 0 of 2"), "{layout}: the error says why: {body}");
            println!("{layout}: search: 503 {body}");
            let get = client
                .get(cluster.url("/api/v1/docs/1"))
                .send()
                .await
                .unwrap_or_else(|err| panic!("{layout}: the get gets an HTTP answer: {err}"));
            let status = get.status().as_u16();
            let body = get.text().await.unwrap();
            assert_eq!(status, 503, "{layout}: a get over a mismatched cluster: {body}");
            println!("{layout}: get: 503 {body}");
        }
        // By now the root has certainly taken both replicas out of rotation as misplaced,
        // and says why in the cluster view; readiness must say why too.
        let view: Value = client.get(cluster.url("/api/v1/cluster")).send().await.unwrap().json().await.unwrap();
        for shard in 0..2 {
            let replica = &view["shards"][shard]["replicas"][0];
            assert_eq!(replica["state"], "misplaced", "{layout}: {view}");
            let expected = format!("serves shard {shard} of 3, not shard {shard} of 2");
            assert!(replica["reason"].as_str().unwrap_or_default().contains(&expected), "{layout}: {view}");
        }
        let (status, readiness) = cluster.wait_for_leaves(&client).await;
        assert_eq!(status, 503, "{layout}: still not ready: {readiness}");
        for shard in 0..2 {
            let problems = readiness["shards"][shard]["problems"].to_string();
            let expected = format!("serves shard {shard} of 3, not shard {shard} of 2");
            assert!(problems.contains(&expected), "{layout}: /readyz names the mismatch ({expected}): {readiness}");
        }
    });
}

#[test]
fn a_cluster_file_listing_two_of_three_shards_is_refused() {
    check_refused("document");
}

#[test]
fn a_cluster_file_listing_two_of_three_term_shards_is_refused() {
    check_refused("term");
}
