//! The deployment, end to end, with real containers (podman): the image built from
//! deploy/Containerfile (`prebuilt` stage, around the binary cargo just built, on a local
//! Debian base), the Cranfield index built by the image's `index` role into a volume,
//! 2 shards × 2 replicas of leaf containers under one network alias (a Kubernetes
//! headless Service, emulated on a podman network with DNS), and a root container that
//! knows only that name. From the host, through ports published on 127.0.0.1 only:
//!
//! - steady: the 225 Cranfield queries, every answer the single-index reference's;
//! - kill: a leaf is killed (SIGKILL) under a query stream: no query fails;
//! - scale up: one more leaf joins under the alias: the root finds it without a restart
//!   and sends it traffic (timed);
//! - scale down: a leaf is stopped and removed: it leaves the root's cluster view;
//! - /readyz, /metrics and grpc.health.v1 answer from outside the containers.
//!
//! Needs podman, runc, netavark (with iptables), aardvark-dns and (once, for the base
//! image) debootstrap; it fails, not skips, without them. Every container, network,
//! volume and image tag is named after the run (`fanout-e2e-PID-XXXXX-…`,
//! `localhost/fanout:test-PID-XXXXX`) and removed at the end, also when the test fails
//! (and by the next run when a run was killed); the base image
//! `localhost/debian:bookworm-slim` is kept for the next run.
//!
//! The index volume is mounted at the image's /var/lib/fanout (owned by its user, 10001),
//! not at the index directory itself: a new named volume takes the ownership of the
//! directory it is first mounted on, so the indexer, running as 10001, can write it
//! without `:U`; and the indexer swaps a finished build in with a rename beside the
//! index, which a mount point could not take. Leaves mount it read-only.
//!
//! `cargo test -p fanout-cli --test deploy -- --nocapture` prints the timings and counts.

#[path = "../support/mod.rs"]
mod support;

mod deployment;
mod image;
mod podman;
mod stream;

use std::time::Duration;

use deployment::{ALIAS, Deployment, Leaf, Root, SHARDS, replica, replicas, wait_serving};
use podman::Podman;
use stream::Tally;
use support::reference::Reference;
use support::{cranfield_docs, cranfield_queries, cranfield_schema, query_pool};
use tokio::time::Instant;

const REPLICAS: usize = 2;
/// Queries per second of the streams that run while containers come and go.
const RATE: u32 = 25;
/// How long the root may take to find a new leaf and send it traffic, or to drop one
/// that is gone (it resolves the name every 500 ms).
const DISCOVERY_WITHIN: Duration = Duration::from_secs(30);

#[test]
fn the_image_serves_a_discovered_cluster_through_kills_and_scaling() {
    let started = std::time::Instant::now();
    let podman = Podman::new();
    let mut report = Vec::new();
    note(&mut report, format!("run {}", podman.prefix()));

    let base = image::ensure_base(&podman);
    note(
        &mut report,
        match base {
            Some(took) => format!("base image {} made with debootstrap in {:.1} s", image::BASE, took.as_secs_f64()),
            None => format!("base image {} reused", image::BASE),
        },
    );
    let tag = format!("localhost/fanout:test-{}", podman.prefix().trim_start_matches("fanout-e2e-"));
    let built = image::build(&podman, &tag);
    let size = image::size(&podman, &tag);
    note(
        &mut report,
        format!(
            "image {tag}: built in {:.1} s, size {size} bytes ({:.1} MB; the binary is cargo's debug build, {:.1} MB)",
            built.as_secs_f64(),
            size as f64 / 1e6,
            std::fs::metadata(env!("CARGO_BIN_EXE_fanout")).map(|meta| meta.len()).unwrap_or_default() as f64 / 1e6
        ),
    );

    let volume = podman.volume("index");
    let indexing = Instant::now();
    let network = podman.network("net");
    let deployment = Deployment::new(&podman, tag.clone(), network, volume);
    let summary = deployment.index();
    note(
        &mut report,
        format!(
            "indexer container: {:.1} s: {}",
            indexing.elapsed().as_secs_f64(),
            summary.lines().last().unwrap_or_default().trim()
        ),
    );
    let reference = Reference::build(&cranfield_docs(), &cranfield_schema());

    let mut phases = Vec::new();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // Leaves: ordinal i serves shard i mod 2, all under the alias.
        // One at a time, so that each one's time to SERVING is its own.
        let mut leaves: Vec<Leaf> = Vec::new();
        for ordinal in 0..SHARDS as usize * REPLICAS {
            let leaf = deployment.start_leaf(ordinal);
            let serving = deployment.leaf_serving(&leaf).await;
            note(&mut report, format!(
                "leaf {} (shard {}, {}): gRPC health SERVING {:.2} s after `podman run` began (which took {:.2} s)",
                leaf.name,
                leaf.shard,
                leaf.address(),
                serving.as_secs_f64(),
                leaf.run_took.as_secs_f64()
            ));
            leaves.push(leaf);
        }
        let mut expected: Vec<String> = leaves.iter().map(|leaf| leaf.ip.clone()).collect();
        expected.sort();
        assert_eq!(deployment.resolve_alias(), expected, "{ALIAS} resolves to every leaf on the network");
        let root = deployment.start_root();
        let ready = deployment.root_ready(&root).await;
        note(&mut report, format!("root: /readyz 200 {:.2} s after `podman run` began", ready.as_secs_f64()));
        let all = |view: &serde_json::Value| {
            leaves.iter().all(|leaf| replica(view, &leaf.address()).is_some_and(|(_, seen)| seen["state"] == "healthy"))
        };
        let found = deployment.wait_for_view(&root, root.started, DISCOVERY_WITHIN, "every leaf healthy", all).await;
        note(&mut report, format!("root: every leaf healthy in its view {:.2} s after its start", found.as_secs_f64()));
        let view = deployment.view(&root).await;
        for leaf in &leaves {
            let (shard, _) = replica(&view, &leaf.address()).unwrap();
            assert_eq!(shard, u64::from(leaf.shard), "{} is placed in the shard it serves: {view}", leaf.name);
        }

        // Every later stream asks queries the earlier ones did not (after the 225 real
        // ones, pairs and triples of Cranfield title words), so that cached statistics do
        // not spare the leaves.
        let mut pool = query_pool(2_000).into_iter().skip(cranfield_queries().len());
        let mut take = |count: usize| pool.by_ref().take(count).collect::<Vec<_>>();

        // Steady: the Cranfield queries, each the reference's answer.
        let steady = stream::start(&deployment.client, &root.http, cranfield_queries(), RATE * 2).complete().await;
        let tally = Tally::of(&steady, &reference);
        note(&mut phases, tally.line("steady"));
        tally.assert_clean("steady");

        // Kill: SIGKILL one replica of shard 0 two seconds into a stream.
        let stream = stream::start(&deployment.client, &root.http, take(RATE as usize * 10), RATE);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let killed = leaves.remove(0);
        let kill_at = Instant::now();
        deployment.kill(&killed.name);
        tokio::time::sleep(Duration::from_secs(6)).await;
        let after_kill = stream.finish().await;
        let tally = Tally::of(&after_kill, &reference);
        let after: Vec<_> = after_kill.iter().filter(|outcome| outcome.sent >= kill_at).collect();
        note(&mut phases, format!("{} ({} sent after the kill)", tally.line("kill"), after.len()));
        let view = deployment.view(&root).await;
        note(&mut report, format!(
            "killed {} ({}): {:.1} s after the kill the root shows it as {}",
            killed.name,
            killed.address(),
            kill_at.elapsed().as_secs_f64(),
            replica(&view, &killed.address()).map_or("gone".to_string(), |(_, seen)| seen["state"].to_string())
        ));
        tally.assert_clean("kill");

        // Scale up: one more leaf (ordinal 4: shard 0) under the alias, while a stream runs.
        let stream = stream::start(&deployment.client, &root.http, take(RATE as usize * 40), RATE);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let added = deployment.start_leaf(SHARDS as usize * REPLICAS);
        let address = added.address();
        // All three watched at once, each timed from the container's start.
        let seen = |view: &serde_json::Value| replica(view, &address).is_some();
        let busy = |view: &serde_json::Value| {
            replica(view, &address).is_some_and(|(shard, seen)| {
                shard == u64::from(added.shard) && seen["state"] == "healthy" && seen["requests"].as_u64() > Some(0)
            })
        };
        let (serving, discovered, traffic) = tokio::join!(
            deployment.leaf_serving(&added),
            deployment.wait_for_view(&root, added.started, DISCOVERY_WITHIN, "the new leaf", seen),
            deployment.wait_for_view(&root, added.started, DISCOVERY_WITHIN, "traffic to the new leaf", busy),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let scaled_up = stream.finish().await;
        let view = deployment.view(&root).await;
        note(&mut report, format!(
            "added {} ({address}, shard {}): `podman run` {:.2} s, gRPC SERVING {:.2} s, in the root's view {:.2} s, \
             first traffic {:.2} s after `podman run` began; {} requests by the end of the stream",
            added.name,
            added.shard,
            added.run_took.as_secs_f64(),
            serving.as_secs_f64(),
            discovered.as_secs_f64(),
            traffic.as_secs_f64(),
            replica(&view, &address).map_or(0, |(_, seen)| seen["requests"].as_u64().unwrap_or(0))
        ));
        let tally = Tally::of(&scaled_up, &reference);
        note(&mut phases, tally.line("scale up"));
        tally.assert_clean("scale up");
        leaves.push(added);

        // Scale down: stop a leaf for good (SIGTERM, then removed) under a stream.
        let stream = stream::start(&deployment.client, &root.http, take(RATE as usize * 40), RATE);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stopped = leaves.pop().unwrap();
        let address = stopped.address();
        let stop_at = Instant::now();
        let stopping = deployment.begin_stop(&stopped.name);
        let gone = |view: &serde_json::Value| replica(view, &address).is_none();
        let left = deployment.wait_for_view(&root, stop_at, DISCOVERY_WITHIN, "the stopped leaf gone", gone).await;
        let stop_took = deployment.finish_stop(&stopped.name, stopping, stop_at);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let scaled_down = stream.finish().await;
        note(&mut report, format!(
            "stopped {} ({address}): `podman stop` done {:.2} s after it began, gone from the root's view after {:.2} s \
             (then `podman rm`)",
            stopped.name,
            stop_took.as_secs_f64(),
            left.as_secs_f64()
        ));
        let tally = Tally::of(&scaled_down, &reference);
        note(&mut phases, tally.line("scale down"));
        tally.assert_clean("scale down");

        check_endpoints(&deployment, &root).await;
        let view = deployment.view(&root).await;
        let killed_now = replica(&view, &killed.address()).map(|(_, seen)| seen["state"].to_string());
        note(&mut report, format!(
            "final view: {} replicas ({}), the killed leaf {}; discovery: {}",
            replicas(&view).len(),
            replicas(&view)
                .iter()
                .map(|(shard, seen)| format!("shard {shard} {} {} requests {}", seen["address"], seen["state"], seen["requests"]))
                .collect::<Vec<_>>()
                .join(", "),
            killed_now.map_or("gone".to_string(), |state| format!("still listed as {state}")),
            view.get("discovery").map_or("(none)".to_string(), |discovery| discovery.to_string())
        ));
    });
    note(&mut report, format!("total {:.1} s", started.elapsed().as_secs_f64()));
    println!("\n== deployment test: phases (sent, ok, failed, partial, wrong: not the reference's answer)");
    for phase in &phases {
        println!("{phase}");
    }
    println!("== timings");
    for line in &report {
        println!("{line}");
    }
    drop(podman);
    let limit = Duration::from_secs(300) + base.unwrap_or_default();
    assert!(started.elapsed() < limit, "the deployment test took {:?}", started.elapsed());
}

/// /readyz, /metrics and the gRPC health service, from the host.
async fn check_endpoints(deployment: &Deployment<'_>, root: &Root) {
    let (status, body) = deployment.get(root, "/readyz").await.expect("/readyz answers");
    assert_eq!(status, 200, "/readyz: {body}");
    let (status, metrics) = deployment.get(root, "/metrics").await.expect("/metrics answers");
    assert_eq!(status, 200, "/metrics");
    assert!(
        metrics.lines().any(|line| line.starts_with("# HELP fanout_")),
        "/metrics has fanout_ metrics with HELP: {}",
        metrics.chars().take(500).collect::<String>()
    );
    for service in ["", "fanout.v1.Root"] {
        wait_serving(&root.grpc, service, Instant::now(), Duration::from_secs(5))
            .await
            .unwrap_or_else(|err| panic!("the root's gRPC health service: {err}"));
    }
}

/// Prints a line of the report at once (so that a failing run shows what it measured) and
/// keeps it for the summary.
fn note(lines: &mut Vec<String>, line: String) {
    println!("deploy: {line}");
    lines.push(line);
}
