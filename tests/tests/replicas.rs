//! Replicas as users see them: faults injected at run time through the admin RPC, a
//! shard failing and coming back, the cluster view, and metrics on root and leaves.

use fanout_proto::v1::Faults;
use fanout_proto::v1::leaf_admin_client::LeafAdminClient;
use fanout_tests::Sandbox;
use fanout_tests::datasets::{dataset_file, schema_file};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_are_reported_measured_and_recovered_from() {
    let sandbox = Sandbox::builder()
        .dataset(dataset_file("cranfield/docs.jsonl"))
        .schema(schema_file("cranfield/schema.toml"))
        .shards(2)
        .replicas(2)
        .start()
        .await;
    let broken = [sandbox.cluster.leaf_address(1, 0), sandbox.cluster.leaf_address(1, 1)];
    let mut admins = Vec::new();
    for address in broken {
        admins.push(LeafAdminClient::connect(format!("http://{address}")).await.unwrap());
    }
    let refused = admins[0].set_faults(Faults { delay_fraction: 2.0, ..Faults::default() }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("delay_fraction must be between 0 and 1"), "{}", refused.message());
    for admin in &mut admins {
        let set = admin.set_faults(Faults { error_fraction: 1.0, ..Faults::default() }).await.unwrap().into_inner();
        assert_eq!(set.error_fraction, 1.0);
    }

    // Every search of shard 1 fails on both replicas: reported, not hidden.
    let (status, answer) = sandbox.search(&json!({"query": "boundary layer"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["partial"], true, "{answer}");
    let reason = answer["failures"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("injected fault")
            && reason.contains(&broken[0].to_string())
            && reason.contains(&broken[1].to_string()),
        "{reason}"
    );
    let (_, view) = sandbox.get("/api/v1/cluster").await;
    for replica in view["shards"][1]["replicas"].as_array().unwrap() {
        assert!(replica["errors"].as_u64().unwrap() > 0, "{view}");
    }
    assert_eq!(view["hedging"]["enabled"], true);

    // Faults off: the shard comes back (ejected replicas return after a health check).
    for admin in &mut admins {
        admin.set_faults(Faults::default()).await.unwrap();
    }
    let started = std::time::Instant::now();
    loop {
        let (status, answer) = sandbox.search(&json!({"query": "wing"})).await;
        if status == 200 && answer["partial"] == false {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "shard 1 never came back: {answer}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let root_metrics = sandbox.http_text("/metrics").await;
    for name in ["fanout_root_requests_total", "fanout_root_request_duration_seconds", "fanout_root_leaf_errors_total"]
    {
        assert!(root_metrics.contains(name), "root /metrics lacks {name}");
    }
    let leaf_metrics = reqwest::get(format!("http://{}/metrics", broken[0])).await.unwrap().text().await.unwrap();
    for name in ["fanout_leaf_injected_faults_total", "fanout_leaf_requests_total", "fanout_leaf_run_seconds"] {
        assert!(leaf_metrics.contains(name), "leaf /metrics lacks {name}");
    }
    sandbox.stop().await;
}
