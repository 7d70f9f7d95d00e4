//! A gRPC client that no one here wrote finds its way by reflection alone:
//! grpcio-reflection's v1alpha client (`tests/python/reflection_client.py`, from the
//! virtual environment `tests/python/setup.sh` makes) lists the root's services (only
//! those the root serves), resolves `fanout.v1.Root/Search` from the descriptors it
//! fetched, and calls it: the hits are the single-index reference's.

use fanout_tests::datasets::{dataset_file, repo_dir, schema_file};
use fanout_tests::{Reference, Sandbox, ScoreTolerance, assert_same_ranking};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_reflections_v1alpha_client_lists_resolves_and_calls_search() {
    let base = std::env::var_os("FANOUT_PYTHON_CLIENTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("target/ci-tools"));
    let python = base.join("python8/bin/python");
    assert!(
        python.exists(),
        "this test needs {} (grpcio-reflection): run tests/python/setup.sh (.ci/run does)",
        python.display()
    );
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema_path = schema_file("cranfield/schema.toml");
    let reference = Reference::from_files(&docs, &schema_path);
    let sandbox = Sandbox::builder().dataset(&docs).schema(&schema_path).shards(3).start().await;
    let query = "boundary layer transition";
    let mut command = std::process::Command::new(python);
    command.arg(repo_dir().join("tests/python/reflection_client.py")).args([
        "--target",
        &sandbox.cluster.grpc_address.to_string(),
        "--query",
        query,
    ]);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("the client runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("the client's JSON");
    assert_eq!(answer["services"], serde_json::json!(["fanout.v1.Root", "grpc.health.v1.Health"]), "{answer}");
    assert_eq!(
        (answer["input"].as_str(), answer["output"].as_str()),
        (Some("fanout.v1.SearchRequest"), Some("fanout.v1.SearchResponse"))
    );
    let hits: Vec<(String, f32)> = (answer["hits"].as_array().unwrap().iter())
        .map(|pair| (pair[0].as_str().unwrap().to_string(), pair[1].as_f64().unwrap() as f32))
        .collect();
    let expected = reference.expected(query, 0, 10);
    assert_same_ranking(
        "grpcio-reflection",
        &hits,
        answer["total"].as_u64().unwrap(),
        &expected,
        ScoreTolerance::DOCUMENT,
    );
    sandbox.stop().await;
}
