//! Get by id: routed to the one shard that owns the id (the sharding function), across
//! that shard's replicas; the stored fields as indexed; 404 for an unknown id.

use std::collections::HashMap;

use fanout_indexer::shard_for_id;
use fanout_proto::v1::GetDocRequest;
use fanout_tests::Sandbox;
use fanout_tests::datasets::{dataset_file, schema_file};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_come_from_the_shard_that_owns_them() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let originals: HashMap<String, Value> = std::fs::read_to_string(&docs)
        .unwrap()
        .lines()
        .map(|line| {
            let doc: Value = serde_json::from_str(line).unwrap();
            (doc["id"].as_str().unwrap().to_string(), doc)
        })
        .collect();
    let sandbox = Sandbox::builder()
        .dataset(&docs)
        .schema(schema_file("cranfield/schema.toml"))
        .shards(3)
        .replicas(2)
        .start()
        .await;
    let mut grpc = sandbox.grpc().await;
    for id in (1..=1400).step_by(37).map(|n| n.to_string()) {
        let (status, answer) = sandbox.get(&format!("/api/v1/docs/{id}")).await;
        assert_eq!(status, 200, "{id}: {answer}");
        assert_eq!(answer["id"], id.as_str());
        assert_eq!(answer["shard"], shard_for_id(&id, 3), "{id}");
        let original = &originals[&id];
        for field in ["title", "body", "authors", "biblio"] {
            assert_eq!(answer["fields"][field], original[field], "{id}: {field}");
        }
        let title_only =
            grpc.get(GetDocRequest { id: id.clone(), fields: vec!["title".into()] }).await.unwrap().into_inner();
        let fields: Value = serde_json::from_str(&title_only.fields_json).unwrap();
        assert_eq!(fields.as_object().unwrap().len(), 1);
        assert_eq!(fields["title"], original["title"]);
        assert_eq!(title_only.shard, shard_for_id(&id, 3));
    }
    let (status, answer) = sandbox.get("/api/v1/docs/99999").await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["message"], "no document with id \"99999\"");
    let (status, answer) = sandbox.get("/api/v1/docs/1?fields=colour").await;
    assert_eq!(status, 400, "{answer}");
    let missing = grpc.get(GetDocRequest { id: "nope".into(), fields: vec![] }).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    sandbox.stop().await;
}
