//! Admission control: a burst far beyond the root's bound gets 429 with `Retry-After`
//! (gRPC RESOURCE_EXHAUSTED with `retry-after`) in the usual error JSON, while every
//! search admitted is answered completely and exactly.
//!
//! Every leaf delays its searches by 200 ms (injected), so the 2 admitted searches and
//! the 2 queued ones (queue timeout 20 ms) hold the bound for the whole burst: which
//! requests are refused is decided by the bound, not by the machine's speed. The burst
//! skips the result cache, which would answer the repeated query without fan-out.
//!
//! Per-client rate limits: one client over its burst gets 429 `rate_limited` with the
//! `Retry-After` of its next allowed request, over HTTP and gRPC, while another client
//! (a different address, as a trusted proxy forwards it) is still served.

use fanout_proto::v1::Faults;
use fanout_proto::v1::leaf_admin_client::LeafAdminClient;
use fanout_root::config::{AdmissionConfig, ClientKeySource, RateLimitConfig};
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
            let response = client
                .post(url)
                .json(&json!({"query": "boundary layer", "limit": 10, "cache": false}))
                .send()
                .await
                .unwrap();
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
                bypass_cache: true,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_gets_its_own_rate_limit() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema = schema_file("cranfield/schema.toml");
    // One request per 10 s sustained, bursts of 3: the fourth within the test is refused.
    let rate_limit =
        RateLimitConfig { per_second: 0.1, burst: 3, client: ClientKeySource::Forwarded, ..RateLimitConfig::default() };
    let sandbox = Sandbox::builder().dataset(&docs).schema(&schema).shards(SHARDS).rate_limit(rate_limit).start().await;
    let client = reqwest::Client::new();
    let search = |from: &'static str| {
        let request = client
            .post(sandbox.url("/api/v1/search"))
            .header("x-forwarded-for", format!("{from}, 10.0.0.1"))
            .json(&json!({"query": "boundary layer", "limit": 10}));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").map(|value| value.to_str().unwrap().to_string());
            (status, retry_after, response.json::<Value>().await.unwrap())
        }
    };
    for _ in 0..3 {
        let (status, _, body) = search("203.0.113.1").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, retry_after, body) = search("203.0.113.1").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["kind"], "rate_limited", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("rate limited: "), "{body}");
    let retry_after: u64 = retry_after.expect("a Retry-After header").parse().unwrap();
    assert!((9..=10).contains(&retry_after), "the next request is allowed in about 10 s, not {retry_after}");
    // Another client is not held back by the first one's use; gets count too.
    let (status, _, body) = search("203.0.113.2").await;
    assert_eq!(status, 200, "{body}");
    let refused =
        client.get(sandbox.url("/api/v1/docs/1")).header("x-forwarded-for", "203.0.113.1").send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);

    // gRPC: the same client, by the same metadata, is over its limit too; a new one is not.
    let mut grpc = sandbox.grpc().await;
    let request = |from: &str| {
        let mut request = tonic::Request::new(fanout_proto::v1::SearchRequest {
            query: "boundary layer".into(),
            limit: Some(10),
            ..Default::default()
        });
        request.metadata_mut().insert("x-forwarded-for", from.parse().unwrap());
        request
    };
    let status = grpc.search(request("203.0.113.1")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().starts_with("rate limited"), "{status:?}");
    assert!(status.metadata().get("retry-after").is_some());
    grpc.search(request("203.0.113.3")).await.expect("a new client is served");

    let metrics = sandbox.http_text("/metrics").await;
    assert!(metrics.contains("# HELP fanout_root_rate_limited_total "), "{metrics}");
    assert!(fanout_tests::metrics::sample_sum(&metrics, "fanout_root_rate_limited_total", &[]) >= 3.0, "{metrics}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloaded_leaves_make_a_429_never_a_partial_answer_nor_a_retry_storm() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema = schema_file("cranfield/schema.toml");
    // Leaves whose search queue holds nothing: every search they get is refused at once
    // with RESOURCE_EXHAUSTED, as a leaf with a full queue refuses it.
    let sandbox =
        Sandbox::builder().dataset(&docs).schema(&schema).shards(SHARDS).replicas(2).leaf_max_queue(0).start().await;
    const SEARCHES: u64 = 20;
    for n in 0..SEARCHES {
        let (status, body) = sandbox.search(&json!({"query": format!("boundary layer {n}"), "limit": 10})).await;
        assert_eq!(status, 429, "overload must not become a partial answer: {body}");
        assert_eq!(body["error"]["kind"], "overloaded", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("full search queues") && message.contains("search queue is full"), "{message}");
    }
    let (_, view) = sandbox.get("/api/v1/cluster").await;
    for shard in view["shards"].as_array().unwrap() {
        let requests: u64 = shard["replicas"].as_array().unwrap().iter().map(|r| r["requests"].as_u64().unwrap()).sum();
        // The first phase asks each shard: one replica, and the other only when the hedge
        // budget allows; never more than one try per replica, and no phase after it.
        assert!(requests <= 2 * SEARCHES, "shard {}: {requests} leaf requests for {SEARCHES} searches", shard["shard"]);
        for replica in shard["replicas"].as_array().unwrap() {
            assert_eq!(replica["state"], "healthy", "a busy replica is not ejected: {replica}");
            assert!(replica["overloaded"].as_u64().unwrap() <= replica["requests"].as_u64().unwrap());
        }
    }
    let metrics = sandbox.http_text("/metrics").await;
    assert!(metrics.contains("# HELP fanout_root_leaf_overloaded_total "), "{metrics}");
    assert!(fanout_tests::metrics::sample_sum(&metrics, "fanout_root_leaf_overloaded_total", &[]) >= SEARCHES as f64);
    sandbox.stop().await;
}
