//! A scaled-out build: three `fanout index --only-shards` workers (as a Kubernetes
//! Indexed Job runs them) publish one generation of Cranfield in 4 shards to a real
//! S3-compatible server; no manifest appears until the last part is in, and the
//! generation equals a single build's: the same documents in every shard and the same
//! answers, score for score.

mod support;

use std::path::Path;
use std::time::Instant;

use fanout_contracts::Manifest;
use fanout_storage::IndexStore;
use support::s3::S3Server;
use support::{cranfield_docs, cranfield_queries, index_to_store};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::Value as _;
use tantivy::{Index, TantivyDocument};

const SHARDS: u32 = 4;

fn build(location: &str, flags: &[String], extra: &[&str]) -> String {
    index_to_store(&cranfield_docs(), SHARDS, location, flags, extra)
}

/// Every shard of the newest generation at `location`, downloaded into `cache`.
async fn download(location: &str, s3: &S3Server, cache: &Path) -> Manifest {
    let store = IndexStore::open(location, &s3.options()).unwrap();
    let manifest = store.newest().await.unwrap().expect("a published generation");
    for shard in 0..SHARDS {
        store.download_shard(&manifest, shard, cache).await.unwrap();
    }
    manifest
}

/// A shard's ids, and for every query its hits as (id, score), by id.
fn shard_contents(dir: &Path) -> (Vec<String>, Vec<Vec<(String, f32)>>) {
    let index = Index::open_in_dir(dir).unwrap();
    let schema = index.schema();
    let id = schema.get_field("id").unwrap();
    let fields = vec![schema.get_field("title").unwrap(), schema.get_field("body").unwrap()];
    let searcher = index.reader().unwrap().searcher();
    let id_of = |address| {
        let document: TantivyDocument = searcher.doc(address).unwrap();
        document.get_first(id).and_then(|value| value.as_str().map(String::from)).unwrap()
    };
    let mut ids: Vec<String> = Vec::new();
    for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
        for doc in segment.doc_ids_alive() {
            ids.push(id_of(tantivy::DocAddress::new(ordinal as u32, doc)));
        }
    }
    ids.sort();
    let parser = QueryParser::for_index(&index, fields);
    let answers = cranfield_queries()
        .iter()
        .take(40)
        .map(|query| {
            let query = parser.parse_query(query).unwrap();
            let mut hits: Vec<(String, f32)> = searcher
                .search(&query, &TopDocs::with_limit(20).order_by_score())
                .unwrap()
                .into_iter()
                .map(|(score, address)| (id_of(address), score))
                .collect();
            hits.sort_by(|a, b| a.0.cmp(&b.0));
            hits
        })
        .collect();
    (ids, answers)
}

#[test]
fn a_three_part_build_equals_a_single_build() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let s3 = S3Server::start().await;
        let flags = s3.flags();
        let scratch = tempfile::tempdir().unwrap();

        let started = Instant::now();
        build("s3://fanout/single", &flags, &[]);
        let single_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let first = build("s3://fanout/parts", &flags, &["--parts", "3", "--part", "0"]);
        assert!(first.contains("uploaded shards 0..2 of generation 1"), "{first}");
        assert!(first.contains("generation 1 waits for shards 2..4"), "{first}");
        let last = build("s3://fanout/parts", &flags, &["--parts", "3", "--part", "2"]);
        assert!(last.contains("waits for shards 2..3"), "{last}");
        let middle = build("s3://fanout/parts", &flags, &["--parts", "3", "--part", "1"]);
        assert!(middle.contains("published generation 1: every part is in"), "{middle}");
        let parts_seconds = started.elapsed().as_secs_f64();

        let single = download("s3://fanout/single", &s3, &scratch.path().join("single")).await;
        let parts = download("s3://fanout/parts", &s3, &scratch.path().join("parts")).await;
        assert_eq!(parts.shard_doc_counts, single.shard_doc_counts);
        assert_eq!((parts.generation, parts.schema.clone()), (single.generation, single.schema.clone()));
        for shard in 0..SHARDS {
            let dir = |name: &str| scratch.path().join(name).join(format!("generation-{:020}/shard-{shard:04}", 1));
            let (single_ids, single_answers) = shard_contents(&dir("single"));
            let (parts_ids, parts_answers) = shard_contents(&dir("parts"));
            assert_eq!(parts_ids, single_ids, "shard {shard} holds the same documents");
            // Scores agree to float tolerance: a part's writer may cut segments differently,
            // and BM25's average field length is summed over segments.
            for (query, (parts_hits, single_hits)) in parts_answers.iter().zip(&single_answers).enumerate() {
                let ids = |hits: &[(String, f32)]| hits.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
                assert_eq!(ids(parts_hits), ids(single_hits), "shard {shard}, query {query}: the same hits");
                for ((id, a), (_, b)) in parts_hits.iter().zip(single_hits) {
                    assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "shard {shard}, query {query}, {id}: {a} against {b}");
                }
            }
        }
        println!(
            "3-part build (one after another on this machine): {parts_seconds:.2} s; single build: {single_seconds:.2} s; \
             documents per shard {:?}",
            single.shard_doc_counts
        );
    });
}
