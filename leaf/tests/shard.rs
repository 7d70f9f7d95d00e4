//! A shard opened for serving: searches with and without global statistics, fetch,
//! cancellation between segments, and refusals.

use fanout_indexer::{BuildOptions, IndexSchema, SchemaFile, build_index};
use fanout_leaf::cancel::CancelFlag;
use fanout_leaf::{LeafError, Shard};
use fanout_proto::v1::{FetchRequest, LeafSearchRequest};

fn build(dir: &std::path::Path, shards: u32) -> std::path::PathBuf {
    let schema = IndexSchema::build(
        SchemaFile::parse("id_field = \"id\"\n[[field]]\nname = \"title\"\ntype = \"text\"\n[[field]]\nname = \"n\"\ntype = \"u64\"\n")
            .unwrap(),
    )
    .unwrap();
    let data = dir.join("data.jsonl");
    let lines: String = (0..300)
        .map(|i| {
            format!(
                "{{\"id\": \"d{i}\", \"title\": \"apple {}\", \"n\": {i}}}\n",
                if i % 3 == 0 { "pie" } else { "tree" }
            )
        })
        .collect();
    std::fs::write(&data, lines).unwrap();
    let out = dir.join("index");
    let options = BuildOptions { shards, progress: false, ..BuildOptions::default() };
    build_index(&data, &schema, &out, &options).unwrap();
    out
}

#[test]
fn searches_fetches_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let index = build(dir.path(), 2);
    let shard = Shard::open(&index, 1).unwrap();
    let request = LeafSearchRequest { query: "pie".into(), limit: 5, offset: 0, stats: None, ..Default::default() };
    let response = shard.search(&request, &CancelFlag::default()).unwrap();
    assert!(response.total_hits > 0 && response.total_hits < 100);
    assert_eq!(response.hits.len(), 5);
    assert!(response.hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
    let fetched = shard
        .fetch(
            &FetchRequest {
                addresses: response.hits.iter().map(|h| h.address.unwrap()).collect(),
                fields: vec!["n".into()],
                generation: 1,
                ..Default::default()
            },
            &CancelFlag::default(),
        )
        .unwrap();
    for doc in &fetched.docs {
        let fields: serde_json::Value = serde_json::from_str(&doc.fields_json).unwrap();
        assert_eq!(format!("d{}", fields["n"]), doc.id);
        assert_eq!(fields["n"].as_u64().unwrap() % 3, 0, "a pie document");
    }
}

#[test]
fn a_raised_cancel_flag_stops_the_search() {
    let dir = tempfile::tempdir().unwrap();
    let index = build(dir.path(), 1);
    let shard = Shard::open(&index, 0).unwrap();
    let flag = CancelFlag::default();
    flag.cancel();
    let request = LeafSearchRequest { query: "apple".into(), limit: 10, offset: 0, stats: None, ..Default::default() };
    assert!(matches!(shard.search(&request, &flag), Err(LeafError::Cancelled)));
    let fetch =
        FetchRequest { addresses: vec![Default::default()], fields: vec![], generation: 0, ..Default::default() };
    assert!(matches!(shard.fetch(&fetch, &flag), Err(LeafError::Cancelled)));
}

#[test]
fn bad_requests_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let index = build(dir.path(), 1);
    let shard = Shard::open(&index, 0).unwrap();
    let flag = CancelFlag::default();
    let bad_query =
        LeafSearchRequest { query: "title:(".into(), limit: 1, offset: 0, stats: None, ..Default::default() };
    assert!(shard.search(&bad_query, &flag).unwrap_err().to_string().starts_with("invalid query \"title:(\""));
    let too_deep =
        LeafSearchRequest { query: "apple".into(), limit: 10, offset: 9_995, stats: None, ..Default::default() };
    assert_eq!(
        shard.search(&too_deep, &flag).unwrap_err().to_string(),
        "offset + limit must be at most 10000, got 10005"
    );
    let unknown =
        FetchRequest { addresses: vec![], fields: vec!["colour".into()], generation: 0, ..Default::default() };
    assert_eq!(shard.fetch(&unknown, &flag).unwrap_err().to_string(), "unknown field `colour`");
    let stale = FetchRequest { addresses: vec![], fields: vec![], generation: 7, ..Default::default() };
    assert!(shard.fetch(&stale, &flag).unwrap_err().to_string().contains("generation 7"));
    let missing = FetchRequest {
        addresses: vec![fanout_proto::v1::DocAddress { segment_ord: 9, doc_id: 0 }],
        ..Default::default()
    };
    assert!(matches!(shard.fetch(&missing, &flag), Err(LeafError::NotFound(_))));
    assert!(Shard::open(&index, 1).err().unwrap().to_string().contains("shard 1 does not exist"));
}
