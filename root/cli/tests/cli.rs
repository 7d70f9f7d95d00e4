//! The `fanout` binary as users run it: `fanout index` errors and atomic replacement,
//! `fanout leaf` refusing what is not a shard, and leaf and root as separate processes.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use support::{Running, fanout, free_port, repo, text};

fn write_schema(dir: &Path) -> PathBuf {
    let schema = dir.join("schema.toml");
    std::fs::write(&schema, "id_field = \"id\"\n[[field]]\nname = \"title\"\ntype = \"text\"\n[[field]]\nname = \"score\"\ntype = \"i64\"\n").unwrap();
    schema
}

fn index(data: &Path, schema: &Path, out: &Path, extra: &[&str]) -> Output {
    fanout()
        .args(["index", "--shards", "2", "--no-progress", "--data"])
        .arg(data)
        .arg("--schema")
        .arg(schema)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn index_reports_the_bad_line_and_keeps_the_previous_index() {
    let dir = tempfile::tempdir().unwrap();
    let schema = write_schema(dir.path());
    let data = dir.path().join("docs.jsonl");
    std::fs::write(
        &data,
        "{\"id\": \"a\", \"title\": \"first\", \"score\": 1}\n{\"id\": \"b\", \"title\": \"second\", \"score\": 2}\n",
    )
    .unwrap();
    let out = dir.path().join("index");
    let built = index(&data, &schema, &out, &[]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    assert!(
        text(&built.stdout).contains("indexed 2 documents into 2 document-partitioned shards"),
        "{}",
        text(&built.stdout)
    );
    let unknown_layout = index(&data, &schema, &out, &["--layout", "diagonal"]);
    assert!(!unknown_layout.status.success());
    assert!(text(&unknown_layout.stderr).contains("unknown layout `diagonal`"), "{}", text(&unknown_layout.stderr));
    let manifest_before = std::fs::read(out.join("fanout.json")).unwrap();

    std::fs::write(
        &data,
        "{\"id\": \"a\", \"title\": \"first\", \"score\": 1}\n{\"id\": \"c\", \"title\": \"third\", \"score\": 3.5}\n",
    )
    .unwrap();
    let failed = index(&data, &schema, &out, &[]);
    assert!(!failed.status.success());
    let stderr = text(&failed.stderr);
    assert!(stderr.contains("docs.jsonl:2: field `score`: expected an integer (i64), found number 3.5"), "{stderr}");
    assert_eq!(std::fs::read(out.join("fanout.json")).unwrap(), manifest_before, "the previous index is untouched");
    let failed_term = index(&data, &schema, &out, &["--layout", "term"]);
    assert!(!failed_term.status.success());
    assert!(text(&failed_term.stderr).contains("docs.jsonl:2: field `score`"), "{}", text(&failed_term.stderr));
    assert_eq!(std::fs::read(out.join("fanout.json")).unwrap(), manifest_before, "a failed term build changes nothing");

    let skipped = index(&data, &schema, &out, &["--skip-errors"]);
    assert!(skipped.status.success(), "{}", text(&skipped.stderr));
    let stdout = text(&skipped.stdout);
    assert!(stdout.contains("skipped 1 bad lines") && stdout.contains("docs.jsonl:2"), "{stdout}");
    assert!(stdout.contains("generation 2"), "{stdout}");
}

#[test]
fn index_names_a_bad_schema() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.toml");
    std::fs::write(&schema, "id_field = \"id\"\n[[field]]\nname = \"title\"\ntype = \"txt\"\n").unwrap();
    let data = dir.path().join("docs.jsonl");
    std::fs::write(&data, "{\"id\": \"a\"}\n").unwrap();
    let failed = index(&data, &schema, &dir.path().join("index"), &[]);
    assert!(!failed.status.success());
    let stderr = text(&failed.stderr);
    assert!(stderr.contains("invalid schema") && stderr.contains("schema.toml") && stderr.contains("txt"), "{stderr}");
}

#[test]
fn leaf_refuses_what_is_not_a_shard() {
    let dir = tempfile::tempdir().unwrap();
    let not_an_index =
        fanout().args(["leaf", "--shard", "0", "--listen", "127.0.0.1:0", "--index"]).arg(dir.path()).output().unwrap();
    assert!(!not_an_index.status.success());
    assert!(
        text(&not_an_index.stderr).contains("not a fanout index (no fanout.json)"),
        "{}",
        text(&not_an_index.stderr)
    );

    let schema = write_schema(dir.path());
    let data = dir.path().join("docs.jsonl");
    std::fs::write(&data, "{\"id\": \"a\", \"title\": \"first\"}\n").unwrap();
    let out = dir.path().join("index");
    assert!(index(&data, &schema, &out, &[]).status.success());
    let no_such_shard =
        fanout().args(["leaf", "--shard", "5", "--listen", "127.0.0.1:0", "--index"]).arg(&out).output().unwrap();
    assert!(!no_such_shard.status.success());
    let stderr = text(&no_such_shard.stderr);
    assert!(stderr.contains("shard 5 does not exist") && stderr.contains("has 2 shards"), "{stderr}");
}

#[test]
fn root_and_leaf_flags_for_discovery_name_what_is_missing() {
    let err = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = fanout();
        command.args(args).env_remove("FANOUT_CLUSTER").env_remove("FANOUT_POD_NAME");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        text(&output.stderr)
    };
    let root = err(&["root", "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"], &[]);
    assert!(root.contains("--index-name, --shards and --discover"), "{root}");
    let root = err(&["root", "--index-name", "x", "--shards", "2", "--discover", "fanout-leaf"], &[]);
    assert!(root.contains("--discover (FANOUT_DISCOVER) must be NAME:PORT, got \"fanout-leaf\""), "{root}");
    let root = err(&["root", "--index-name", "x", "--discover", "fanout-leaf:7001"], &[]);
    assert!(root.contains("--index-name, --shards and --discover"), "{root}");

    let dir = tempfile::tempdir().unwrap();
    let schema = write_schema(dir.path());
    let data = dir.path().join("docs.jsonl");
    std::fs::write(&data, "{\"id\": \"a\", \"title\": \"first\"}\n").unwrap();
    let out = dir.path().join("index");
    assert!(index(&data, &schema, &out, &[]).status.success());
    let leaf = |pod: &str| {
        err(
            &["leaf", "--shard-from-ordinal", "--listen", "127.0.0.1:0", "--index", out.to_str().unwrap()],
            &[("FANOUT_POD_NAME", pod)],
        )
    };
    let unnumbered = leaf("fanout-leaf");
    assert!(unnumbered.contains("pod name \"fanout-leaf\" does not end in -N"), "{unnumbered}");
    let both = err(&["leaf", "--shard", "0", "--shard-from-ordinal", "--index", out.to_str().unwrap()], &[]);
    assert!(both.contains("cannot be used with"), "{both}");
}

#[test]
fn leaves_and_root_as_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cranfield");
    let data = repo().join("../shared/datasets/cranfield/docs.jsonl");
    let built = index(&data, &repo().join("datasets/cranfield/schema.toml"), &out, &[]);
    assert!(built.status.success(), "{}", text(&built.stderr));

    let leaf_ports = [free_port(), free_port()];
    let mut leaves: Vec<Running> = leaf_ports
        .iter()
        .enumerate()
        .map(|(shard, port)| {
            Running::spawn(&[
                "leaf",
                "--index",
                out.to_str().unwrap(),
                "--shard",
                &shard.to_string(),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
        })
        .collect();
    let cluster = dir.path().join("cluster.toml");
    std::fs::write(
        &cluster,
        format!(
            "index = \"cranfield\"\n[[shard]]\nreplicas = [\"127.0.0.1:{}\"]\n[[shard]]\nreplicas = [\"127.0.0.1:{}\"]\n",
            leaf_ports[0], leaf_ports[1]
        ),
    )
    .unwrap();
    let (http, grpc) = (free_port(), free_port());
    let mut root = Running::spawn(&[
        "root",
        "--cluster",
        cluster.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{http}"),
        "--grpc-listen",
        &format!("127.0.0.1:{grpc}"),
    ]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let ready = format!("http://127.0.0.1:{http}/readyz");
        let started = Instant::now();
        loop {
            let answer = client.get(&ready).send().await;
            if answer.map(|r| r.status().is_success()).unwrap_or(false) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the cluster never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let answer: serde_json::Value = client
            .get(format!("http://127.0.0.1:{http}/api/v1/search?q=boundary+layer&limit=3"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["shards"]["successful"], 2, "{answer}");
        assert_eq!(answer["hits"].as_array().unwrap().len(), 3, "{answer}");
    });
    assert!(root.terminate(), "the root exits cleanly on SIGTERM");
    for leaf in &mut leaves {
        assert!(leaf.terminate(), "a leaf exits cleanly on SIGTERM");
    }
}
