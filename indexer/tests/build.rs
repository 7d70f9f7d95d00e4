//! Index builds end to end: shard routing, the manifest, failed builds that must leave
//! the previous index untouched, and skipped lines.

use std::path::Path;

use fanout_indexer::manifest::shard_dir;
use fanout_indexer::{BuildOptions, IndexSchema, IndexerError, Manifest, SchemaFile, build_index, shard_for_id};
use tantivy::Index;

const SCHEMA: &str = r#"
id_field = "id"
[[field]]
name = "title"
type = "text"
[[field]]
name = "score"
type = "i64"
"#;

fn schema() -> IndexSchema {
    IndexSchema::build(SchemaFile::parse(SCHEMA).unwrap()).unwrap()
}

fn options(shards: u32) -> BuildOptions {
    BuildOptions { shards, index_name: "test".into(), threads: 2, progress: false, ..BuildOptions::default() }
}

fn lines(count: usize) -> String {
    (0..count).map(|i| format!("{{\"id\": \"doc-{i}\", \"title\": \"title number {i}\", \"score\": {i}}}\n")).collect()
}

fn shard_docs(index: &Path, shard: u32) -> u64 {
    Index::open_in_dir(shard_dir(index, shard)).unwrap().reader().unwrap().searcher().num_docs()
}

#[test]
fn routes_documents_with_the_sharding_function() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    std::fs::write(&data, lines(500)).unwrap();
    let out = dir.path().join("index");
    let summary = build_index(&data, &schema(), &out, &options(3)).unwrap();
    assert_eq!(summary.docs, 500);
    let mut expected = [0u64; 3];
    for i in 0..500 {
        expected[shard_for_id(&format!("doc-{i}"), 3) as usize] += 1;
    }
    assert_eq!(summary.shard_docs, expected);
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.shard_doc_counts, expected);
    assert_eq!(manifest.generation, 1);
    for shard in 0..3 {
        assert_eq!(shard_docs(&out, shard), expected[shard as usize]);
    }
    let rebuilt = build_index(&data, &schema(), &out, &options(3)).unwrap();
    assert_eq!(rebuilt.generation, 2);
}

#[test]
fn a_bad_line_names_file_line_and_field_and_keeps_the_previous_index() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    std::fs::write(&data, lines(100)).unwrap();
    let out = dir.path().join("index");
    build_index(&data, &schema(), &out, &options(2)).unwrap();
    let before = Manifest::read(&out).unwrap();

    let mut broken = lines(4000);
    broken.push_str("{\"id\": \"late\", \"title\": \"x\", \"score\": \"high\"}\n");
    std::fs::write(&data, &broken).unwrap();
    let err = build_index(&data, &schema(), &out, &options(2)).unwrap_err();
    assert!(matches!(err, IndexerError::Line(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.ends_with("data.jsonl:4001: field `score`: expected an integer (i64), found string \"high\""),
        "{message}"
    );
    assert_eq!(Manifest::read(&out).unwrap(), before);
    assert_eq!(shard_docs(&out, 0) + shard_docs(&out, 1), 100);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "the staging directory is removed: {leftovers:?}");
}

#[test]
fn skip_errors_counts_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    let mut text = lines(10);
    text.push_str("not json\n\n{\"title\": \"no id\"}\n{\"id\": \"doc-3\", \"title\": \"again\"}\n");
    std::fs::write(&data, text).unwrap();
    let options = BuildOptions { skip_errors: true, ..options(2) };
    let summary = build_index(&data, &schema(), &dir.path().join("index"), &options).unwrap();
    assert_eq!(summary.docs, 10);
    assert_eq!(summary.skipped, 3);
    let reported: Vec<(u64, Option<String>)> = summary.first_errors.iter().map(|e| (e.line, e.field.clone())).collect();
    assert_eq!(reported, vec![(11, None), (13, Some("id".into())), (14, Some("id".into()))]);
    assert!(summary.first_errors[2].message.contains("appears more than once"));
}

#[test]
fn refuses_to_replace_a_directory_that_is_not_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    std::fs::write(&data, lines(5)).unwrap();
    let out = dir.path().join("precious");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let err = build_index(&data, &schema(), &out, &options(1)).unwrap_err();
    assert!(err.to_string().contains("not a fanout index"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "keep me");
}

#[test]
fn a_dataset_with_no_documents_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    std::fs::write(&data, "\n\n").unwrap();
    let err = build_index(&data, &schema(), &dir.path().join("index"), &options(1)).unwrap_err();
    assert!(err.to_string().starts_with("no documents found"), "{err}");
    assert!(!dir.path().join("index").exists());
}

#[test]
fn a_term_layout_holds_each_terms_postings_in_its_shard_and_the_whole_indexs_statistics() {
    use fanout_indexer::Layout;
    use fanout_indexer::term_layout::{POSTINGS_DIR, STORE_DIR, shard_for_term};
    use tantivy::Term;
    use tantivy::query::Bm25StatisticsProvider as _;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    let text: String = (0..300)
        .map(|i| {
            format!(
                "{{\"id\": \"doc-{i}\", \"title\": \"word{} word{} common {}\", \"score\": {i}}}\n",
                i % 7,
                i % 11,
                "x ".repeat(i % 5)
            )
        })
        .collect();
    std::fs::write(&data, text).unwrap();
    let out = dir.path().join("index");
    let schema = schema();
    let summary = build_index(&data, &schema, &out, &BuildOptions { layout: Layout::Term, ..options(3) }).unwrap();
    assert_eq!(summary.docs, 300);

    // The whole index's statistics equal those of one tantivy index over the same data.
    let single = dir.path().join("single");
    build_index(&data, &schema, &single, &options(1)).unwrap();
    let searcher = Index::open_in_dir(shard_dir(&single, 0)).unwrap().reader().unwrap().searcher();
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.layout, Layout::Term);
    let statistics = manifest.term_statistics.unwrap();
    assert_eq!(statistics.total_docs, 300);
    let title = schema.schema.get_field("title").unwrap();
    assert_eq!(statistics.total_tokens["title"], searcher.total_num_tokens(title).unwrap());

    // Every term's postings are whole in the shard that owns it, and nowhere else.
    for word in ["word3", "common", "x"] {
        let owner = shard_for_term("title", word, 3);
        let expected = searcher.doc_freq(&Term::from_field_text(title, word)).unwrap();
        assert!(expected > 0);
        for shard in 0..3 {
            let postings = Index::open_in_dir(shard_dir(&out, shard).join(POSTINGS_DIR)).unwrap();
            let field = postings.schema().get_field("title").unwrap();
            let found = postings.reader().unwrap().searcher().doc_freq(&Term::from_field_text(field, word)).unwrap();
            assert_eq!(found, if shard == owner { expected } else { 0 }, "{word} in shard {shard}");
        }
    }
    // Documents are stored by id, as in the document layout.
    for shard in 0..3 {
        let store = Index::open_in_dir(shard_dir(&out, shard).join(STORE_DIR)).unwrap();
        let stored = store.reader().unwrap().searcher().num_docs();
        assert_eq!(stored, manifest.shard_doc_counts[shard as usize]);
        let expected = (0..300).filter(|i| shard_for_id(&format!("doc-{i}"), 3) == shard).count() as u64;
        assert_eq!(stored, expected);
    }
}

#[test]
fn parts_build_only_their_shards_and_agree_with_a_whole_build_in_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.jsonl");
    std::fs::write(&data, lines(600)).unwrap();
    for layout in [fanout_indexer::Layout::Document, fanout_indexer::Layout::Term] {
        let whole_dir = dir.path().join(format!("{layout}-whole"));
        let whole = build_index(&data, &schema(), &whole_dir, &BuildOptions { layout, ..options(4) }).unwrap();
        let whole_manifest = Manifest::read(&whole_dir).unwrap();
        for part in [0..1, 1..4] {
            let out = dir.path().join(format!("{layout}-{}-{}", part.start, part.end));
            let options = BuildOptions { layout, only_shards: Some(part.clone()), generation: Some(7), ..options(4) };
            let summary = build_index(&data, &schema(), &out, &options).unwrap();
            assert_eq!(summary.input_checksum, whole.input_checksum, "{layout}: the same input");
            let manifest = Manifest::read(&out).unwrap();
            assert_eq!(manifest.generation, 7);
            assert_eq!(manifest.shard_doc_counts, whole_manifest.shard_doc_counts, "{layout}: every shard counted");
            assert_eq!(manifest.term_statistics, whole_manifest.term_statistics, "{layout}: whole-index statistics");
            for shard in 0..4 {
                let built = shard_dir(&out, shard).exists();
                assert_eq!(built, part.contains(&shard), "{layout}: shard {shard} built only by its part");
                assert_eq!(
                    manifest.shard_files(shard).next().is_some(),
                    built,
                    "{layout}: files listed for built shards"
                );
            }
            if layout == fanout_indexer::Layout::Document {
                for shard in part.clone() {
                    assert_eq!(shard_docs(&out, shard), shard_docs(&whole_dir, shard));
                }
            }
        }
        let error = build_index(
            &data,
            &schema(),
            &dir.path().join("bad"),
            &BuildOptions { layout, only_shards: Some(3..5), ..options(4) },
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("--only-shards 3..5 is not a non-empty range of the 4 shards"), "{error}");
    }
}
