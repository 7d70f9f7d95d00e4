//! The engine against a real root (in-process leaves, real gRPC) over HTTP and gRPC:
//! every scheduled request answered, leaf counters read, a report written. Outcomes
//! only, never timings.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fanout_bench::load::{LoadConfig, run_load};
use fanout_bench::report::{Measurement, RunReport};
use fanout_bench::schedule::Arrivals;
use fanout_bench::target::{Target, open};
use fanout_cli::local::{LocalCluster, LocalOptions};
use fanout_indexer::{BuildOptions, IndexSchema, build_index};
use fanout_root::config::CacheConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_a_real_root_over_http_and_grpc() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let schema = IndexSchema::read(&repo.join("datasets/cranfield/schema.toml")).unwrap();
    let index = dir.path().join("index");
    let options = BuildOptions { shards: 2, progress: false, ..BuildOptions::default() };
    build_index(&repo.join("../shared/datasets/cranfield/docs.jsonl"), &schema, &index, &options).unwrap();
    // The result cache would answer the four repeated queries without the leaves.
    let cache = CacheConfig { enabled: false, ..CacheConfig::default() };
    let cluster =
        LocalCluster::start(&index, &LocalOptions { replicas: 2, cache, ..LocalOptions::default() }).await.unwrap();
    let queries: Vec<String> = ["boundary layer", "shock wave", "heat transfer", "wing"].map(String::from).to_vec();
    let config = LoadConfig {
        rate: 50.0,
        arrivals: Arrivals::Poisson,
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(1),
        max_in_flight: 64,
        seed: 3,
        in_order: false,
    };
    let mut report = RunReport::new("test", serde_json::json!({"rate": 50}));
    for url in [format!("http://{}", cluster.http_address), format!("grpc://{}", cluster.grpc_address)] {
        let target: Arc<dyn Target> = Arc::from(open(&url, 5).await.unwrap());
        let result = run_load(target.clone(), &queries, &config, None).await;
        assert!(result.scheduled > 20, "{url}: {result:?}");
        assert_eq!(result.completed + result.overflow, result.scheduled, "{url}");
        assert!(result.errors.is_empty() && result.partial == 0, "{url}: {:?}", result.errors);
        let per_query = result.leaf_requests_per_query.expect("the root reports leaf counters");
        assert!(per_query > 0.0, "{url}: {per_query}");
        assert_eq!(result.cache_hits, 0, "{url}");
        report.measurements.push(Measurement { label: target.describe(), x: None, result });
    }
    let path = report.write(dir.path()).unwrap();
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(written["measurements"].as_array().unwrap().len(), 2);
    assert!(written["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert!(report.markdown().contains("| gRPC "), "{}", report.markdown());
    cluster.shutdown().await.unwrap();
}
