//! Unmodified official clients against a real fanout cluster: the `elasticsearch` Python
//! client 8.x and 9.x and `opensearch-py`, each driven by `tests/python/elastic_clients.py`
//! from its own virtual environment (`tests/python/setup.sh` makes them; `.ci/run` runs
//! it). What each client got is held here against the single-index reference: every
//! DSL clause's ids, order, scores and totals, `_count`, aggregations; the script itself
//! checks what only the client can tell (search_after paging, msearch, get, its exception
//! types). Then a shard loses every replica and each client sees `_shards.failed`, and a
//! 503 when partial results are not allowed. The clients never skip: a missing one fails
//! the test with how to install it.

use std::path::{Path, PathBuf};

use fanout_tests::datasets::{dataset_file, repo_dir, schema_file, write_first_lines};
use fanout_tests::elastic::{Clauses, clauses, tolerance_of};
use fanout_tests::{Reference, Sandbox, assert_same_aggregations, assert_same_ranking};
use serde_json::{Value, json};

const STORIES: usize = 20_000;

/// The clients, as (virtual environment, client).
const CLIENTS: &[(&str, &str)] =
    &[("python8", "elasticsearch"), ("python9", "elasticsearch"), ("python8", "opensearch")];

/// The Python of a virtual environment that `tests/python/setup.sh` made.
fn python(environment: &str) -> PathBuf {
    let base = std::env::var_os("FANOUT_PYTHON_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("target/ci-tools"));
    let python = base.join(environment).join("bin/python");
    assert!(
        python.exists(),
        "the client tests need {} (the Python clients): run tests/python/setup.sh (.ci/run does)",
        python.display()
    );
    python
}

/// Runs the client script and returns what it reported, one JSON object per check.
async fn run_client(environment: &str, client: &str, url: &str, cases: &Path, phase: &str) -> Vec<Value> {
    let mut command = std::process::Command::new(python(environment));
    command
        .arg(repo_dir().join("tests/python/elastic_clients.py"))
        .args(["--url", url, "--client", client, "--phase", phase])
        .arg("--cases")
        .arg(cases);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("the client script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{client} ({environment}), {phase}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.lines().map(|line| serde_json::from_str(line).expect("a JSON report line")).collect()
}

fn reported<'a>(reports: &'a [Value], check: &str) -> Vec<&'a Value> {
    reports.iter().filter(|report| report["check"] == check).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmodified_python_clients_search_fanout_exactly() {
    for (environment, _) in CLIENTS {
        python(environment);
    }
    let dir = tempfile::tempdir().unwrap();
    let stories = dir.path().join("stories.jsonl");
    write_first_lines(&dataset_file("hackernews/stories.jsonl.gz"), STORIES, &stories);
    let schema_path = schema_file("hackernews/schema.toml");
    let reference = Reference::from_files(&stories, &schema_path);
    let mut sandbox = Sandbox::builder().dataset(&stories).schema(&schema_path).shards(3).replicas(2).start().await;
    let url = sandbox.url("/_elastic");
    let (_, native) =
        sandbox.search(&json!({"query": "*", "limit": 0, "aggs": {"a": {"terms": {"field": "by", "size": 1}}}})).await;
    let top_author = native["aggregations"]["a"]["buckets"][0]["key"].as_str().unwrap().to_string();
    let Clauses { ranked, counted } = clauses(&reference, &top_author);
    let cases = dir.path().join("cases.json");
    let file = json!({
        "index": "sandbox",
        "ranked": ranked.iter().map(|(query, _)| query).collect::<Vec<_>>(),
        "counted": counted.iter().map(|(query, _)| query).collect::<Vec<_>>(),
    });
    std::fs::write(&cases, file.to_string()).unwrap();
    let aggs = json!({"authors": {"terms": {"field": "by", "size": 5, "segment_size": 100000}}, "points": {"stats": {"field": "score"}}});

    for (environment, client) in CLIENTS {
        let reports = run_client(environment, client, &url, &cases, "full").await;
        let who = format!("{client} ({environment}, {})", reported(&reports, "client")[0]["version"]);
        assert_eq!(reported(&reports, "info")[0]["version"], "8.17.0", "{who}");
        let answers = reported(&reports, "ranked");
        assert_eq!(answers.len(), ranked.len(), "{who}: every ranked clause answered");
        for (answer, (query, expected_query)) in answers.iter().zip(&ranked) {
            let context = format!("{who}: {query}");
            let hits: Vec<(String, f32)> = (answer["hits"].as_array().unwrap().iter())
                .map(|pair| (pair[0].as_str().unwrap().to_string(), pair[1].as_f64().unwrap() as f32))
                .collect();
            let expected = reference.expected_query(expected_query.as_ref(), 0, 10);
            assert_same_ranking(&context, &hits, answer["total"].as_u64().unwrap(), &expected, tolerance_of(query));
        }
        let counts = reported(&reports, "counted");
        assert_eq!(counts.len(), counted.len(), "{who}: every counted clause answered");
        for (count, (query, expected_query)) in counts.iter().zip(&counted) {
            let (_, total) = reference.search_query(expected_query.as_ref(), 1);
            assert_eq!(count["count"].as_u64(), Some(total as u64), "{who}: _count of {query}");
        }
        assert_eq!(reported(&reports, "paged")[0]["hits"], 30, "{who}: search_after pages");
        assert_eq!(reported(&reports, "msearch")[0]["responses"], 2, "{who}");
        assert_eq!(reported(&reports, "get")[0]["missing_status"], 404, "{who}");
        let aggregations = &reported(&reports, "aggregations")[0]["aggregations"];
        assert_same_aggregations(&who, aggregations, &reference.aggregate("google", &aggs));
        assert!(reported(&reports, "highlight")[0]["fragment"].as_str().unwrap().contains("<em>"), "{who}");
        let indices = reported(&reports, "indices")[0];
        assert_eq!(indices["docs"], STORIES.to_string(), "{who}: _cat/indices");
        assert_eq!(indices["types"], json!({"type": "date"}), "{who}: _mapping");
        let unsupported = reported(&reports, "unsupported")[0];
        assert_eq!((&unsupported["status"], &unsupported["type"]), (&json!(400), &json!("parsing_exception")), "{who}");
    }

    sandbox.cluster.stop_leaf(1, 0).await;
    sandbox.cluster.stop_leaf(1, 1).await;
    for (environment, client) in CLIENTS {
        let reports = run_client(environment, client, &url, &cases, "partial").await;
        let partial = reported(&reports, "partial")[0];
        assert_eq!(partial["shards"]["failed"], 1, "{client} ({environment}): {partial}");
        assert_eq!(partial["shards"]["successful"], 2, "{client} ({environment}): {partial}");
        assert_eq!(partial["shards"]["failures"][0]["shard"], 1, "{client} ({environment}): {partial}");
        let refused = reported(&reports, "refused")[0];
        assert_eq!(refused["status"], 503, "{client} ({environment}): {refused}");
        assert_eq!(refused["type"], "search_phase_execution_exception", "{client} ({environment}): {refused}");
    }
    sandbox.stop().await;
}
