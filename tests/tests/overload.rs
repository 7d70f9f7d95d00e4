//! Admission control: a burst far beyond the root's bound gets 429 with `Retry-After`
//! (gRPC RESOURCE_EXHAUSTED with `retry-after`) in the usual error JSON, while every
//! search admitted is answered completely and exactly.
//!
//! Every leaf delays its searches by 200 ms (injected), so the 2 admitted searches and
//! the 2 queued ones (queue timeout 20 ms) hold the bound for the whole burst: which
//! requests are refused is decided by the bound, not by the machine's speed.

use fanout_proto::v1::Faults;
use fanout_proto::v1::leaf_admin_client::LeafAdminClient;
use fanout_root::config::AdmissionConfig;
use fanout_tests::datasets::{dataset_file, schema_file};
use fanout_tests::{Reference, Sandbox, ScoreTolerance, assert_same_answer};
use serde_json::{Value, json};

const SHARDS: u32 = 2;
const BURST: usize = 40;
const DELAY: Faults = Faults { delay_fraction: 1.0, delay_us: 200_000, error_fraction: 0.0 };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_bound_gets_429_with_retry_after_and_admitted_answers_stay_complete() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema = schema_file("cranfield/schema.toml");
    let reference = Reference::from_files(&docs, &schema);
    let admission = AdmissionConfig { max_in_flight: 2, max_queue: 2, queue_timeout_ms: 20, retry_after_secs: 3 };
    let sandbox = Sandbox::builder().dataset(&docs).schema(&schema).shards(SHARDS).admission(admission).start().await;
    for shard in 0..SHARDS {
        let address = sandbox.cluster.leaf_address(shard, 0);
        let mut admin = LeafAdminClient::connect(format!("http://{address}")).await.unwrap();
        admin.set_faults(DELAY).await.unwrap();
    }

    let client = reqwest::Client::new();
    let url = sandbox.url("/api/v1/search");
    let burst = (0..BURST).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let response =
                client.post(url).json(&json!({"query": "boundary layer", "limit": 10})).send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").map(|value| value.to_str().unwrap().to_string());
            let body: Value = response.json().await.unwrap();
            (status, retry_after, body)
        }
    });
    let answers = futures::future::join_all(burst).await;

    let expected = reference.expected("boundary layer", 0, 10);
    let (mut admitted, mut refused) = (0, 0);
    for (status, retry_after, body) in &answers {
        match status {
            200 => {
                admitted += 1;
                assert_eq!(body["partial"], false, "{body}");
                assert_same_answer("admitted", body, &expected, ScoreTolerance::DOCUMENT);
                assert_eq!(retry_after, &None);
            }
            429 => {
                refused += 1;
                assert_eq!(retry_after.as_deref(), Some("3"), "{body}");
                assert_eq!(body["error"]["kind"], "overloaded", "{body}");
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.starts_with("overloaded: "), "{message}");
            }
            other => panic!("status {other}: {body}"),
        }
    }
    // At most 2 run and 2 wait at a time, each for 200 ms or more: of 40 at once, most
    // are refused, and at least the first 2 are admitted.
    assert!(admitted >= 2, "{admitted} admitted, {refused} refused");
    assert!(refused >= BURST / 2, "{admitted} admitted, {refused} refused");

    // gRPC alike.
    let grpc = sandbox.grpc().await;
    let calls = (0..BURST).map(|_| {
        let mut grpc = grpc.clone();
        async move {
            grpc.search(fanout_proto::v1::SearchRequest {
                query: "boundary layer".into(),
                limit: Some(10),
                ..Default::default()
            })
            .await
        }
    });
    let results = futures::future::join_all(calls).await;
    let exhausted: Vec<_> = results.iter().filter_map(|result| result.as_ref().err()).collect();
    assert!(exhausted.len() >= BURST / 2, "{} of {BURST} refused over gRPC", exhausted.len());
    for status in &exhausted {
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert_eq!(status.metadata().get("retry-after").unwrap(), "3");
    }

    // Metrics count the refusals.
    let metrics = sandbox.http_text("/metrics").await;
    assert!(metrics.contains("# HELP fanout_root_admissions_total "), "{metrics}");
    assert!(metrics.lines().any(|line| line.starts_with("fanout_root_admissions_total{outcome=\"rejected\"}")));
    sandbox.stop().await;
}
