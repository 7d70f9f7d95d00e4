//! The storage crate against a `file://` store: publish, download only one shard's files,
//! reuse a verified cache, refuse corrupted and missing files by name, keep N generations,
//! and publish a scaled build's manifest only once its parts cover every shard.

use std::path::Path;

use fanout_contracts::files::list_files;
use fanout_contracts::{Manifest, SchemaFile};
use fanout_storage::{Finalized, IndexStore, InputFingerprint, PartManifest, StoreOptions, generation_dir};

fn schema() -> SchemaFile {
    SchemaFile::parse("id_field = \"id\"\n[[field]]\nname = \"title\"\ntype = \"text\"\n").unwrap()
}

/// A fake built index of `shards` shards in `dir` (files of distinct sizes), listed.
fn built_index(dir: &Path, shards: u32, generation: u64, salt: &str) -> Manifest {
    for shard in 0..shards {
        let shard_dir = dir.join(format!("shard-{shard:04}"));
        std::fs::create_dir_all(&shard_dir).unwrap();
        std::fs::write(shard_dir.join("meta.json"), format!("{{\"shard\": {shard}, \"salt\": \"{salt}\"}}")).unwrap();
        std::fs::write(shard_dir.join("segment.store"), vec![b'a' + shard as u8; 1000 * (shard as usize + 1)]).unwrap();
    }
    let manifest = Manifest::new("test", schema(), vec![10; shards as usize], generation);
    let manifest = manifest.with_files(list_files(dir).unwrap());
    manifest.write(dir).unwrap();
    manifest
}

fn store_at(dir: &Path) -> IndexStore {
    IndexStore::create(&format!("file://{}", dir.display()), &StoreOptions::default()).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_published_generation_downloads_one_shard_verified_and_reuses_the_cache() {
    let scratch = tempfile::tempdir().unwrap();
    let (built, remote, cache) =
        (scratch.path().join("built"), scratch.path().join("remote"), scratch.path().join("cache"));
    let manifest = built_index(&built, 3, 1, "one");
    let store = store_at(&remote);
    runtime().block_on(async {
        assert_eq!(store.newest().await.unwrap(), None);
        let report = store.publish(&built, &manifest).await.unwrap();
        assert_eq!((report.generation, report.files), (1, 6));
        assert_eq!(store.published().await.unwrap(), [1]);
        let again = store.publish(&built, &manifest).await.unwrap_err().to_string();
        assert!(again.contains("generation 1 is already published"), "{again}");

        let newest = store.newest().await.unwrap().unwrap();
        assert_eq!(newest, manifest);
        let shard_bytes: u64 = manifest.shard_files(1).map(|file| file.size).sum();
        let cached = store.download_shard(&newest, 1, &cache).await.unwrap();
        assert_eq!((cached.files, cached.downloaded_bytes, cached.reused_bytes), (2, shard_bytes, 0));
        assert_eq!(cached.dir, generation_dir(&cache, 1));
        assert!(cached.dir.join("shard-0001/segment.store").exists());
        assert!(!cached.dir.join("shard-0000").exists(), "only its own shard is downloaded");
        assert_eq!(Manifest::read(&cached.dir).unwrap(), manifest);

        let reused = store.download_shard(&newest, 1, &cache).await.unwrap();
        assert_eq!((reused.downloaded_bytes, reused.reused_bytes), (0, shard_bytes));
        // A damaged cached file is fetched again; the others are kept.
        std::fs::write(cached.dir.join("shard-0001/segment.store"), vec![b'x'; 2000]).unwrap();
        let repaired = store.download_shard(&newest, 1, &cache).await.unwrap();
        assert_eq!(repaired.downloaded_bytes, 2000);
        assert_eq!(repaired.reused_bytes, shard_bytes - 2000);
    });
}

#[test]
fn corrupted_and_missing_files_are_refused_by_name() {
    let scratch = tempfile::tempdir().unwrap();
    let (built, remote, cache) =
        (scratch.path().join("built"), scratch.path().join("remote"), scratch.path().join("cache"));
    let manifest = built_index(&built, 2, 1, "one");
    let store = store_at(&remote);
    runtime().block_on(async {
        store.publish(&built, &manifest).await.unwrap();
        let stored = remote.join("generations/00000000000000000001/shard-0000/segment.store");
        std::fs::write(&stored, vec![b'z'; 1000]).unwrap();
        let error = store.download_shard(&manifest, 0, &cache).await.unwrap_err().to_string();
        assert!(error.contains("generations/00000000000000000001/shard-0000/segment.store: checksum "), "{error}");
        assert!(!generation_dir(&cache, 1).join("fanout.json").exists(), "an unverified shard is never complete");
        assert!(!generation_dir(&cache, 1).join("shard-0000/segment.store").exists());

        std::fs::write(&stored, vec![b'a'; 999]).unwrap();
        let error = store.download_shard(&manifest, 0, &cache).await.unwrap_err().to_string();
        assert!(error.contains("shard-0000/segment.store: 999 bytes, the manifest lists 1000"), "{error}");

        std::fs::remove_file(&stored).unwrap();
        let error = store.download_shard(&manifest, 0, &cache).await.unwrap_err().to_string();
        assert!(error.contains("shard-0000/segment.store is missing from the store"), "{error}");

        let error = store.download_shard(&manifest, 5, &cache).await.unwrap_err().to_string();
        assert!(error.contains("lists no file of shard-0005"), "{error}");
    });
}

#[test]
fn old_generations_are_collected_manifest_first() {
    let scratch = tempfile::tempdir().unwrap();
    let remote = scratch.path().join("remote");
    let store = store_at(&remote);
    runtime().block_on(async {
        for generation in 1..=4 {
            let built = scratch.path().join(format!("built-{generation}"));
            let manifest = built_index(&built, 2, generation, &generation.to_string());
            assert_eq!(store.next_generation().await.unwrap(), generation);
            store.publish(&built, &manifest).await.unwrap();
        }
        // An abandoned build of generation 1's time (files, no manifest) would be removed too.
        let report = store.collect_garbage(2).await.unwrap();
        assert_eq!(report.removed, [1, 2]);
        assert_eq!(store.published().await.unwrap(), [3, 4]);
        assert!(!remote.join("generations/00000000000000000001").join("shard-0000").exists());
        assert!(remote.join("generations/00000000000000000003/shard-0000/meta.json").exists());
        assert_eq!(store.collect_garbage(2).await.unwrap(), Default::default());
    });
}

fn part(built: &Path, shards: std::ops::Range<u32>, shard_count: u32, generation: u64, checksum: &str) -> PartManifest {
    let whole = built_index(built, shard_count, generation, "same");
    for shard in 0..shard_count {
        if !shards.contains(&shard) {
            std::fs::remove_dir_all(built.join(format!("shard-{shard:04}"))).unwrap();
        }
    }
    let files = list_files(built).unwrap();
    PartManifest {
        shards,
        input: InputFingerprint { docs: 40, skipped: 0, input_bytes: 4000, checksum: checksum.into() },
        manifest: whole.with_files(files),
    }
}

#[test]
fn parts_publish_the_manifest_once_they_cover_every_shard_and_agree() {
    let scratch = tempfile::tempdir().unwrap();
    let remote = scratch.path().join("remote");
    let store = store_at(&remote);
    let whole = built_index(&scratch.path().join("whole"), 4, 1, "same");
    runtime().block_on(async {
        let first = part(&scratch.path().join("a"), 0..1, 4, 1, "c0ffee");
        store.upload_part(&scratch.path().join("a"), &first).await.unwrap();
        assert_eq!(store.finalize(1).await.unwrap(), Finalized::Waiting { missing: std::iter::once(1..4).collect() });
        assert_eq!(store.published().await.unwrap(), Vec::<u64>::new(), "no manifest before every part is in");

        let third = part(&scratch.path().join("c"), 3..4, 4, 1, "c0ffee");
        store.upload_part(&scratch.path().join("c"), &third).await.unwrap();
        assert_eq!(store.finalize(1).await.unwrap(), Finalized::Waiting { missing: std::iter::once(1..3).collect() });

        // A part built from other input is refused, by name.
        let other = part(&scratch.path().join("x"), 1..3, 4, 1, "bad");
        store.upload_part(&scratch.path().join("x"), &other).await.unwrap();
        let error = store.finalize(1).await.unwrap_err().to_string();
        assert!(error.contains("were not built alike: the input differs"), "{error}");
        assert!(error.contains("parts/shards-0001-0003.json"), "{error}");

        let second = part(&scratch.path().join("b"), 1..3, 4, 1, "c0ffee");
        store.upload_part(&scratch.path().join("b"), &second).await.unwrap();
        let Finalized::Published(published) = store.finalize(1).await.unwrap() else { panic!("not published") };
        assert_eq!(published.files, whole.files, "the parts' files are the whole build's");
        assert_eq!(published.shard_doc_counts, whole.shard_doc_counts);
        assert_eq!(store.published().await.unwrap(), [1]);
        assert!(matches!(store.finalize(1).await.unwrap(), Finalized::AlreadyPublished(_)));
        let late = store.upload_part(&scratch.path().join("b"), &second).await.unwrap_err().to_string();
        assert!(late.contains("generation 1 is already published"), "{late}");
    });
}
