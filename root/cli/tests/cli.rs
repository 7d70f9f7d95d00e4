//! The `fanout` binary as users run it: `fanout index` errors and atomic replacement,
//! `fanout leaf` refusing what is not a shard, leaf and root as separate processes, and
//! the same over TLS with API keys, set by flags and environment.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use support::{Running, cranfield_docs, cranfield_schema, fanout, free_port, repo, text};

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
    assert_eq!(stderr.matches("docs.jsonl:2").count(), 1, "each cause is printed once: {stderr}");
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
fn a_byte_order_mark_before_the_first_line_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let schema = write_schema(dir.path());
    let data = dir.path().join("docs.jsonl");
    let lines =
        "{\"id\": \"a\", \"title\": \"first\", \"score\": 1}\n{\"id\": \"b\", \"title\": \"second\", \"score\": 2}\n";
    std::fs::write(&data, [b"\xEF\xBB\xBF".as_slice(), lines.as_bytes()].concat()).unwrap();
    let built = index(&data, &schema, &dir.path().join("index"), &[]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    assert!(text(&built.stdout).contains("indexed 2 documents"), "{}", text(&built.stdout));
    // Only the file's start may carry one: elsewhere it is a bad line, named.
    let second =
        format!("{}\u{feff}{}", lines.lines().next().unwrap().to_string() + "\n", lines.lines().nth(1).unwrap());
    std::fs::write(&data, second).unwrap();
    let refused = index(&data, &schema, &dir.path().join("index2"), &[]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("docs.jsonl:2"), "{}", text(&refused.stderr));
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

#[test]
fn tls_and_api_keys_through_the_flags() {
    use fanout_proto::v1::SearchRequest;
    use fanout_proto::v1::root_client::RootClient;
    use fanout_transport::pki::LocalPki;
    use fanout_transport::{ClientTls, ClientTlsFiles};

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cranfield");
    let built = index(&cranfield_docs(), &cranfield_schema(), &out, &[]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let pki = LocalPki::create(&dir.path().join("tls")).unwrap();
    let path = |path: &std::path::Path| path.to_str().unwrap().to_string();

    // `fanout api-key` prints the key alone on stdout, and the entry with its SHA-256.
    let made = fanout().args(["api-key", "--name", "app"]).output().unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let key = text(&made.stdout).trim().to_string();
    let digest = fanout_root::auth::key_digest(&key);
    assert!(text(&made.stderr).contains(&format!("app:search:{digest}")), "{}", text(&made.stderr));

    let (leaf_ports, probe_port) = ([free_port(), free_port()], free_port());
    let _leaves: Vec<Running> = leaf_ports
        .iter()
        .enumerate()
        .map(|(shard, port)| {
            let probes = format!("127.0.0.1:{}", if shard == 0 { probe_port } else { free_port() });
            Running::spawn(&[
                "leaf",
                "--index",
                &path(&out),
                "--shard",
                &shard.to_string(),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--tls-cert",
                &path(&pki.leaf.0),
                "--tls-key",
                &path(&pki.leaf.1),
                "--tls-client-ca",
                &path(&pki.ca),
                "--probe-listen",
                &probes,
            ])
        })
        .collect();
    let cluster = dir.path().join("cluster.toml");
    let replicas = |port: u16| format!("[[shard]]\nreplicas = [\"127.0.0.1:{port}\"]\n");
    std::fs::write(&cluster, format!("index = \"cranfield\"\n{}{}", replicas(leaf_ports[0]), replicas(leaf_ports[1])))
        .unwrap();
    let (http, grpc) = (free_port(), free_port());
    let root = fanout()
        .args([
            "root",
            "--cluster",
            &path(&cluster),
            "--listen",
            &format!("127.0.0.1:{http}"),
            "--grpc-listen",
            &format!("127.0.0.1:{grpc}"),
            "--tls-cert",
            &path(&pki.edge.0),
            "--tls-key",
            &path(&pki.edge.1),
            "--leaf-tls-ca",
            &path(&pki.ca),
            "--leaf-tls-cert",
            &path(&pki.root_client.0),
            "--leaf-tls-key",
            &path(&pki.root_client.1),
            "--leaf-tls-server-name",
            "fanout-leaf",
        ])
        .env("FANOUT_API_KEYS", format!("app:search:{digest}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut root = Running(root);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let tls = ClientTls::load(ClientTlsFiles {
            ca: pki.ca.clone(),
            cert: None,
            key: None,
            server_name: Some("localhost".into()),
        })
        .unwrap();
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc}"))
            .unwrap()
            .connect_with_connector_lazy(tls.connector("127.0.0.1").unwrap());
        let mut client = RootClient::new(channel);
        let search = |key: Option<&str>| {
            let mut request = tonic::Request::new(SearchRequest {
                query: "boundary layer".into(),
                limit: Some(3),
                ..Default::default()
            });
            if let Some(key) = key {
                request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
            }
            request
        };
        let started = Instant::now();
        let answer = loop {
            match client.search(search(Some(&key))).await {
                Ok(answer) if answer.get_ref().shards.as_ref().is_some_and(|shards| shards.successful == 2) => {
                    break answer.into_inner();
                }
                _ => {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "the TLS cluster never answered from both shards"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        assert_eq!(answer.hits.len(), 3);
        let refused = client.search(search(None)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

        // The probe port answers health in plain text; the leaf's own port does not.
        let probe = |port: u16| async move {
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect_lazy();
            let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
            let check = client.check(tonic_health::pb::HealthCheckRequest { service: "fanout.v1.Leaf".into() });
            tokio::time::timeout(Duration::from_secs(10), check)
                .await
                .expect("an answer within 10 s")
                .map(|answer| answer.into_inner().status)
        };
        assert_eq!(
            probe(probe_port).await.unwrap(),
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
        assert!(probe(leaf_ports[0]).await.is_err(), "the mutual-TLS port answered plain text");
    });
    assert!(root.terminate(), "the root exits cleanly on SIGTERM");
}
