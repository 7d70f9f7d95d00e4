//! The HTTP and gRPC APIs: the same answers over both, bad input as 400 with the
//! parser's message, bounds, health and readiness.

use fanout_proto::v1::SearchRequest;
use fanout_tests::datasets::{dataset_file, schema_file};
use fanout_tests::{Sandbox, hits_of};
use serde_json::json;

async fn cranfield(shards: u32) -> Sandbox {
    Sandbox::builder()
        .dataset(dataset_file("cranfield/docs.jsonl"))
        .schema(schema_file("cranfield/schema.toml"))
        .shards(shards)
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_get_post_and_grpc_agree() {
    let sandbox = cranfield(3).await;
    let (status, post) = sandbox.search(&json!({"query": "shock wave", "limit": 7, "fields": ["title"]})).await;
    assert_eq!(status, 200, "{post}");
    let (status, get) = sandbox.get("/api/v1/search?q=shock+wave&limit=7&fields=title").await;
    assert_eq!(status, 200, "{get}");
    assert_eq!(hits_of(&post), hits_of(&get));
    assert_eq!(post["total_hits"], get["total_hits"]);
    assert_eq!(post["shards"], json!({"total": 3, "successful": 3, "failed": 0, "timed_out": 0, "hedged": 0}));
    let first = &post["hits"][0];
    assert!(first["fields"]["title"].as_str().unwrap().len() > 5, "{first}");
    assert!(first["fields"].get("body").is_none(), "only the requested fields: {first}");

    let (status, count_only) = sandbox.search(&json!({"query": "shock wave", "limit": 0, "offset": 40})).await;
    assert_eq!(status, 200, "{count_only}");
    assert_eq!(count_only["hits"], json!([]));
    assert_eq!(count_only["total_hits"], post["total_hits"]);

    let mut grpc = sandbox.grpc().await;
    let request = SearchRequest {
        query: "shock wave".into(),
        limit: Some(7),
        fields: vec!["title".into()],
        ..Default::default()
    };
    let answer = grpc.search(request).await.unwrap().into_inner();
    let grpc_hits: Vec<(String, f32)> = answer.hits.iter().map(|hit| (hit.id.clone(), hit.score)).collect();
    assert_eq!(grpc_hits, hits_of(&post));
    assert_eq!(answer.total_hits, post["total_hits"].as_u64().unwrap());
    let fields: serde_json::Value = serde_json::from_str(&answer.hits[0].fields_json).unwrap();
    assert_eq!(fields, first["fields"]);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_400_naming_the_problem() {
    let sandbox = cranfield(2).await;
    let cases = [
        (json!({"query": "title:"}), "invalid query"),
        (json!({"query": "nosuchfield:wing"}), "nosuchfield"),
        (json!({"query": "wing", "offset": 9995, "limit": 10}), "offset + limit must be at most 10000"),
        (json!({"query": "  "}), "query must not be empty"),
        (json!({"query": "wing", "fields": ["colour"]}), "unknown field `colour`"),
        (json!({"query": "wing", "limt": 3}), "unknown field `limt`"),
        (json!({"query": "wing", "timeout_ms": 0}), "timeout_ms"),
    ];
    for (body, expected) in cases {
        let (status, answer) = sandbox.search(&body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["kind"], "invalid_argument", "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message:?} should mention {expected:?}");
    }
    let (status, answer) = sandbox.get("/api/v1/search?limit=3").await;
    assert_eq!((status, answer["error"]["message"].as_str()), (400, Some("missing query parameter `q`")));
    let (status, answer) = sandbox.get("/api/v1/search?q=wing&limit=lots").await;
    assert_eq!(status, 400, "{answer}");

    let mut grpc = sandbox.grpc().await;
    let error = grpc.search(SearchRequest { query: "title:".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let sandbox = cranfield(2).await;
    let (status, health) = sandbox.get("/healthz").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, readiness) = sandbox.get("/readyz").await;
    assert_eq!(status, 200, "{readiness}");
    assert_eq!(readiness["ready"], true);
    assert_eq!(readiness["shards"].as_array().unwrap().len(), 2);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_breaks_took_into_phases_and_names_the_slowest_shard() {
    let sandbox = cranfield(3).await;
    let body = json!({"query": "transonic flutter", "profile": true});
    let (status, first) = sandbox.search(&body).await;
    assert_eq!(status, 200, "{first}");
    let profile = &first["profile"];
    for phase in ["statistics_ms", "query_ms", "merge_ms", "fetch_ms"] {
        assert!(profile[phase].as_f64().unwrap() >= 0.0, "{phase}: {profile}");
    }
    assert_eq!(profile["statistics_cached"], false);
    assert_eq!(profile["shards"].as_array().unwrap().len(), 3);
    let slowest = profile["slowest_shard"]["shard"].as_u64().unwrap();
    let times: Vec<f64> =
        profile["shards"].as_array().unwrap().iter().map(|s| s["query_ms"].as_f64().unwrap()).collect();
    assert_eq!(profile["slowest_shard"]["query_ms"].as_f64().unwrap(), times.iter().copied().fold(0.0, f64::max));
    assert!(slowest < 3);
    let (_, again) = sandbox.search(&body).await;
    assert_eq!(again["profile"]["statistics_cached"], true, "the second time the statistics are cached");
    let (_, plain) = sandbox.search(&json!({"query": "transonic flutter"})).await;
    assert!(plain.get("profile").is_none(), "no profile unless asked");
    sandbox.stop().await;
}

/// The services a gRPC server's reflection (v1) lists, sorted.
async fn listed_services(address: std::net::SocketAddr) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let answer = answers.message().await.unwrap().expect("an answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else { panic!("{answer:?}") };
    let mut services: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    services.sort();
    services
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_only_what_each_process_serves() {
    let sandbox = cranfield(1).await;
    assert_eq!(
        listed_services(sandbox.cluster.grpc_address).await,
        ["fanout.v1.Root", "grpc.health.v1.Health"],
        "the root"
    );
    assert_eq!(
        listed_services(sandbox.cluster.leaf_address(0, 0)).await,
        ["fanout.v1.Leaf", "fanout.v1.LeafAdmin", "grpc.health.v1.Health"],
        "a leaf"
    );
    sandbox.stop().await;
}
