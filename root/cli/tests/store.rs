//! Index generations through a real S3-compatible server (moto's, on 127.0.0.1): 4 shards
//! × 2 replicas of `fanout leaf --index s3://…` and a `fanout root`, under a steady stream
//! of distinct queries, while new generations are published.
//!
//! - Every leaf downloads exactly its own shard's files (names and bytes counted).
//! - A new generation (different documents) reaches every replica by hot reload: no
//!   query fails or comes back partial, every answer equals a single index's answer over
//!   the old documents or over the new ones, never a mix, and after the cutover only the
//!   new one.
//! - A generation with a corrupted file of one shard: that shard's leaves refuse it,
//!   naming the file, and keep serving; the root keeps every shard on the previous
//!   generation and says which shard holds it back and why.
//! - A manifest published without its files: every leaf refuses it, naming a missing
//!   file, and the root stays where it was.
//! - Separately, a generation rolled out by restarting the replicas one at a time (leaves
//!   that never poll): the same guarantees.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fanout_contracts::Manifest;
use fanout_contracts::manifest::shard_dir_name;
use support::cluster::{ProcessCluster, judge_rollout, leaf_cache};
use support::reference::Reference;
use support::s3::S3Server;
use support::{cranfield_docs, cranfield_schema, index_to_store, write_cranfield_prefix};
use tokio::time::Instant;

const SHARDS: u32 = 4;
const REPLICAS: u32 = 2;
const LOCATION: &str = "s3://fanout/cranfield";
const NEW_DOCS: usize = 1_350;
const RATE: u32 = 20;
const LIMIT: usize = 10;
/// How often the leaves look for a new generation.
const POLL_MS: u64 = 300;
/// How long a cutover or a refusal may take to show.
const WITHIN: Duration = Duration::from_secs(30);

/// The tests of this file run one at a time: each runs 8 leaves, a root and a server.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Publishes `data` as a new generation of `location` with `flags` (and `extra`).
fn publish(data: &Path, location: &str, flags: &[String], extra: &[&str]) -> String {
    index_to_store(data, SHARDS, location, flags, extra)
}

/// The cache directory of generation `generation` of the leaf on `port`.
fn cached_generation(caches: &Path, port: u16, generation: u64) -> std::path::PathBuf {
    leaf_cache(caches, port).join(format!("generation-{generation:020}"))
}

/// Every file below `dir` (relative, `/`-separated) with its size.
fn files_below(dir: &Path) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                let relative = entry.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                found.push((relative, entry.metadata().unwrap().len()));
            }
        }
    }
    found.sort();
    found
}

/// Uploads generation `generation` of the `file://` store at `local` to the S3 server by
/// plain PUTs, files first and manifest last, corrupting `corrupt` (a file path of the
/// generation) on the way if given: a store damaged the way a bad disk or a bad copy
/// damages one.
async fn copy_generation(s3: &S3Server, local: &Path, generation: u64, corrupt: Option<&str>) {
    let client = reqwest::Client::new();
    let folder = format!("generations/{generation:020}");
    for (file, _) in files_below(&local.join(&folder)) {
        let mut bytes = std::fs::read(local.join(&folder).join(&file)).unwrap();
        if corrupt == Some(file.as_str()) {
            bytes.iter_mut().for_each(|byte| *byte = !*byte);
        }
        let key = format!("cranfield/{folder}/{file}");
        let response = client.put(s3.object_url(&key)).body(bytes).send().await.unwrap();
        assert!(response.status().is_success(), "PUT {key}: {}", response.status());
    }
    let manifest = format!("manifests/generation-{generation:020}.json");
    let bytes = std::fs::read(local.join(&manifest)).unwrap();
    let response = client.put(s3.object_url(&format!("cranfield/{manifest}"))).body(bytes).send().await.unwrap();
    assert!(response.status().is_success(), "PUT {manifest}: {}", response.status());
}

/// Generation `generation`'s manifest in the `file://` store at `local`.
fn published_manifest(local: &Path, generation: u64) -> Manifest {
    let path = local.join(format!("manifests/generation-{generation:020}.json"));
    Manifest::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
}

/// A leaf's `/metrics` counter `fanout_leaf_download_bytes_total{from="store"}`.
async fn downloaded_from_store(port: u16) -> u64 {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .find(|line| line.starts_with("fanout_leaf_download_bytes_total{from=\"store\"}"))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no download counter in:\n{text}"))
}

async fn leaf_info(port: u16) -> fanout_proto::v1::InfoResponse {
    let mut client =
        fanout_proto::v1::leaf_client::LeafClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();
    client.info(fanout_proto::v1::InfoRequest {}).await.unwrap().into_inner()
}

/// Cranfield published as generation 1 to a fresh S3 server, `SHARDS × REPLICAS` leaves
/// of it looking for new generations every `poll_ms` (0: never) and a root, the other
/// documents a test publishes next, and both document sets' single-index references.
struct Rollout {
    s3: S3Server,
    flags: Vec<String>,
    cluster: ProcessCluster,
    new_data: PathBuf,
    old: Reference,
    new: Reference,
}

impl Rollout {
    async fn start(poll_ms: u64) -> Rollout {
        let s3 = S3Server::start().await;
        let flags = s3.flags();
        publish(&cranfield_docs(), LOCATION, &flags, &[]);
        let cluster = ProcessCluster::start_from_store(LOCATION, &flags, poll_ms, SHARDS, REPLICAS).await;
        let new_data = cluster.scratch().join("subset.jsonl");
        write_cranfield_prefix(&new_data, NEW_DOCS);
        let old = Reference::build(&cranfield_docs(), &cranfield_schema());
        let new = Reference::build(&new_data, &cranfield_schema());
        Rollout { s3, flags, cluster, new_data, old, new }
    }
}

#[test]
fn generations_roll_out_through_s3_with_no_failed_partial_or_mixed_answer() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let Rollout { s3, flags, cluster, new_data, old, new } = Rollout::start(POLL_MS).await;
        let caches = cluster.index_dir().to_path_buf();
        let scratch = cluster.scratch().to_path_buf();

        // Every leaf holds exactly its shard's files of generation 1.
        let first = Manifest::read(&cached_generation(&caches, cluster.leaves[0][0].port, 1)).unwrap();
        for (shard, replicas) in cluster.leaves.iter().enumerate() {
            let expected: Vec<(String, u64)> =
                first.shard_files(shard as u32).map(|file| (file.path.clone(), file.size)).collect();
            for leaf in replicas {
                let mut cached = files_below(&cached_generation(&caches, leaf.port, 1));
                cached.retain(|(path, _)| path != "fanout.json");
                assert_eq!(cached, expected, "the cache of shard {shard} on port {} holds its files only", leaf.port);
                assert!(
                    expected.iter().all(|(path, _)| path.starts_with(&format!("{}/", shard_dir_name(shard as u32))))
                );
            }
        }
        let shard_bytes: Vec<u64> =
            (0..SHARDS).map(|shard| first.shard_files(shard).map(|file| file.size).sum()).collect();
        let total: u64 = first.files.iter().map(|file| file.size).sum();

        let stream = cluster.background(RATE, LIMIT, 4_000);
        tokio::time::sleep(Duration::from_secs(2)).await;

        // Generation 2: other documents, hot reloaded by every leaf.
        let publishing = Instant::now();
        publish(&new_data, LOCATION, &flags, &[]);
        let published = Instant::now();
        cluster.wait_for_view(WITHIN, |view| view["generations"]["serving"] == 2, "searches on generation 2").await;
        let cutover = Instant::now();
        // The root moves once one replica per shard serves generation 2; the others follow
        // within a poll.
        for leaf in cluster.leaves.iter().flatten() {
            let started = Instant::now();
            while !leaf_info(leaf.port).await.generations.contains(&2) {
                assert!(started.elapsed() < WITHIN, "the leaf on port {} loads generation 2", leaf.port);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let second = Manifest::read(&cached_generation(&caches, cluster.leaves[0][0].port, 2)).unwrap();
        for (shard, replicas) in cluster.leaves.iter().enumerate() {
            let expected: u64 = second.shard_files(shard as u32).map(|file| file.size).sum();
            for leaf in replicas {
                assert_eq!(
                    downloaded_from_store(leaf.port).await,
                    expected,
                    "shard {shard} on port {} downloaded its shard of generation 2",
                    leaf.port
                );
            }
        }

        // Generation 3 with a corrupted file of shard 1, copied into the store by hand.
        let local = scratch.join("local-store");
        let local_location = format!("file://{}", local.display());
        publish(&cranfield_docs(), &local_location, &[], &["--generation", "3"]);
        let third = published_manifest(&local, 3);
        let broken = third.shard_files(1).max_by_key(|file| file.size).unwrap().path.clone();
        copy_generation(&s3, &local, 3, Some(&broken)).await;
        let view = cluster
            .wait_for_view(
                WITHIN,
                |view| {
                    let waiting = &view["generations"]["waiting"];
                    view["generations"]["newest"] == 3
                        && waiting.as_array().is_some_and(|shards| shards.len() == 1 && shards[0]["shard"] == 1)
                        && waiting[0]["replicas"].as_array().is_some_and(|replicas| {
                            replicas.len() == 2 && replicas.iter().all(|r| r.as_str().unwrap_or("").contains(&broken))
                        })
                },
                "shard 1 holding the cluster on generation 2, naming the corrupted file",
            )
            .await;
        assert_eq!(view["generations"]["serving"], 2, "{}", view["generations"]);
        for leaf in &cluster.leaves[1] {
            let info = leaf_info(leaf.port).await;
            // Generation 1 may still be open: a generation retires a minute after its last use.
            assert!(info.generations.ends_with(&[2]), "shard 1 keeps serving what it served: {:?}", info.generations);
            assert!(
                info.reload_error.contains(&broken) && info.reload_error.contains("checksum"),
                "{}",
                info.reload_error
            );
        }
        for shard in [0, 2, 3] {
            for leaf in &cluster.leaves[shard] {
                let generations = leaf_info(leaf.port).await.generations;
                assert!(generations.ends_with(&[2, 3]), "shard {shard} prepared generation 3: {generations:?}");
            }
        }

        // Generation 4: a manifest published without its files.
        let orphan = Manifest { generation: 4, ..third.clone() };
        let response = reqwest::Client::new()
            .put(s3.object_url(&format!("cranfield/manifests/generation-{:020}.json", 4)))
            .body(orphan.to_json())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let started = Instant::now();
        'refused: loop {
            let mut refused = 0;
            for leaf in cluster.leaves.iter().flatten() {
                let info = leaf_info(leaf.port).await;
                if info.reload_error.contains("generations/00000000000000000004/")
                    && info.reload_error.contains("is missing from the store")
                {
                    refused += 1;
                }
            }
            if refused == SHARDS * REPLICAS {
                break 'refused;
            }
            assert!(started.elapsed() < WITHIN, "every leaf refuses generation 4, whose files are missing");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let view = cluster.view().await;
        assert_eq!(view["generations"]["serving"], 2, "{}", view["generations"]);

        let outcomes = stream.finish().await;
        let (as_old, as_new) = judge_rollout(&outcomes, &old, &new, publishing, cutover + Duration::from_millis(500));
        println!(
            "store rollout: shard bytes {shard_bytes:?} of {total}; publish took {:.2} s; every query on generation 2 \
             {:.2} s after the publish finished; {} queries: {as_old} only the old generation's answer, {as_new} only \
             the new one's, 0 failed, 0 partial",
            (published - publishing).as_secs_f64(),
            (cutover - published).as_secs_f64(),
            outcomes.len()
        );
        assert!(outcomes.len() >= 100, "a steady stream ({} queries)", outcomes.len());
        assert!(as_old > 0 && as_new > 0, "the stream saw both generations");
    });
}

/// How long a restarted leaf may take to serve, and the root to use it again.
const BACK_WITHIN: Duration = Duration::from_secs(20);

#[test]
fn a_generation_rolled_out_by_restarting_replicas_one_at_a_time_loses_no_query() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // Leaves that never look for a new generation: only a restart brings one in.
        let Rollout { s3: _s3, flags, mut cluster, new_data, old, new } = Rollout::start(0).await;
        let caches = cluster.index_dir().to_path_buf();

        let stream = cluster.background(RATE, LIMIT, 4_000);
        tokio::time::sleep(Duration::from_secs(2)).await;
        publish(&new_data, LOCATION, &flags, &[]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let first_restart = Instant::now();
        let order: Vec<(usize, usize)> =
            (0..REPLICAS as usize).flat_map(|replica| (0..SHARDS as usize).map(move |shard| (shard, replica))).collect();
        for (shard, replica) in order {
            assert!(cluster.terminate(shard, replica), "shard {shard} replica {replica} exits cleanly on SIGTERM");
            cluster.restart(shard, replica);
            cluster.wait_for_leaf(shard, replica, 2, BACK_WITHIN).await;
            cluster
                .wait_for_view(
                    BACK_WITHIN,
                    |view| {
                        let seen = &view["shards"][shard]["replicas"][replica];
                        seen["state"] == "healthy" && seen["generation"] == 2
                    },
                    "the restarted replica back in rotation on generation 2",
                )
                .await;
            let port = cluster.leaves[shard][replica].port;
            assert!(!cached_generation(&caches, port, 1).exists(), "the restarted leaf dropped generation 1 from its cache");
        }
        let all_new = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let outcomes = stream.finish().await;
        let (as_old, as_new) = judge_rollout(&outcomes, &old, &new, first_restart, all_new);
        println!(
            "store rolling restart: {} queries: {as_old} only the old generation's answer, {as_new} only the new one's, \
             0 failed, 0 partial",
            outcomes.len()
        );
        assert!(outcomes.len() >= 100, "a steady stream ({} queries)", outcomes.len());
        assert!(as_old > 0 && as_new > 0, "the stream saw both generations");
    });
}
