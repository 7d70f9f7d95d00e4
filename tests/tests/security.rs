//! A cluster that is safe to expose: TLS at the root's edge, mutual TLS between root and
//! leaves, API keys with roles over HTTP and gRPC, and every input bounded, each refusal
//! naming its limit. Real servers on 127.0.0.1 with a throwaway CA.

use std::sync::Arc;
use std::time::Duration;

use fanout_proto::v1::leaf_client::LeafClient;
use fanout_proto::v1::root_client::RootClient;
use fanout_proto::v1::{ClusterRequest, InfoRequest, SearchRequest};
use fanout_root::auth::key_digest;
use fanout_root::config::{ApiKeyEntry, AuthConfig, InputLimits, Role};
use fanout_tests::Sandbox;
use fanout_tests::datasets::{dataset_file, schema_file};
use fanout_transport::pki::{Authority, LOCAL_LEAF_NAME, LocalPki, Usage, Validity};
use fanout_transport::{ClientTls, ClientTlsFiles};
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::transport::{Channel, Endpoint};

const SEARCH_KEY: &str = "fo_search_key_for_tests";
const ADMIN_KEY: &str = "fo_admin_key_for_tests";

fn keys() -> AuthConfig {
    let entry = |name: &str, role, key| ApiKeyEntry { name: name.into(), role, sha256: key_digest(key), tier: None };
    AuthConfig {
        keys: vec![entry("app", Role::Search, SEARCH_KEY), entry("ops", Role::Admin, ADMIN_KEY)],
        ..AuthConfig::default()
    }
}

fn limits() -> InputLimits {
    InputLimits {
        max_body_bytes: 4_096,
        max_headers: 24,
        max_header_bytes: 4_096,
        read_timeout_ms: 500,
        ..InputLimits::default()
    }
}

async fn secured() -> Sandbox {
    Sandbox::builder()
        .dataset(dataset_file("cranfield/docs.jsonl"))
        .schema(schema_file("cranfield/schema.toml"))
        .shards(2)
        .tls()
        .auth(keys())
        .limits(limits())
        .start()
        .await
}

/// A rustls client configuration trusting only `ca`.
fn trusting(ca: &std::path::Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// An HTTPS client trusting only `ca`.
fn https(ca: &std::path::Path) -> reqwest_rustls::Client {
    reqwest_rustls::Client::builder().tls_backend_preconfigured(trusting(ca)).build().unwrap()
}

/// Sends a request; the status and the JSON answer (Null when the body is not JSON).
async fn send(request: reqwest_rustls::RequestBuilder) -> (u16, Value, reqwest_rustls::header::HeaderMap) {
    let response = request.send().await.expect("the root answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
}

fn url(sandbox: &Sandbox, path: &str) -> String {
    format!("https://localhost:{}{path}", sandbox.cluster.http_address.port())
}

/// A gRPC channel to the root over TLS, trusting `ca`.
fn grpc_channel(sandbox: &Sandbox, ca: &std::path::Path) -> Channel {
    let tls =
        ClientTls::load(ClientTlsFiles { ca: ca.into(), cert: None, key: None, server_name: Some("localhost".into()) })
            .unwrap();
    Endpoint::from_shared(format!("http://{}", sandbox.cluster.grpc_address))
        .unwrap()
        .connect_with_connector_lazy(tls.connector("127.0.0.1").unwrap())
}

fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_roles_over_https_and_grpc_over_tls() {
    let sandbox = secured().await;
    let pki = sandbox.pki.clone().unwrap();
    let client = https(&pki.ca);

    // Plain text reaches nothing: not the root's HTTP port ...
    let plain = reqwest::Client::new().get(format!("http://{}/healthz", sandbox.cluster.http_address)).send().await;
    assert!(plain.is_err() || plain.unwrap().status().as_u16() >= 400, "plain HTTP answered on the HTTPS port");

    // ... probes are open, everything else needs a key of the right role.
    for path in ["/healthz", "/readyz"] {
        let (status, answer, _) = send(client.get(url(&sandbox, path))).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let search = || client.get(url(&sandbox, "/api/v1/search?q=boundary+layer&limit=5"));
    let (status, answer, headers) = send(search()).await;
    assert_eq!((status, answer["error"]["kind"].as_str()), (401, Some("unauthenticated")), "{answer}");
    assert_eq!(headers.get("www-authenticate").map(|value| value.to_str().unwrap()), Some("Bearer"));
    let (status, wrong, _) = send(search().bearer_auth("fo_not_a_key")).await;
    assert_eq!((status, wrong["error"]["message"].as_str()), (401, Some("the API key is not valid")));
    let (status, found, _) = send(search().bearer_auth(SEARCH_KEY)).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"].as_array().unwrap().len(), 5, "{found}");
    let (status, as_admin, _) = send(search().bearer_auth(ADMIN_KEY)).await;
    assert_eq!((status, &as_admin["hits"]), (200, &found["hits"]), "an admin key may search too");

    for path in ["/api/v1/cluster", "/metrics"] {
        let (status, answer, _) = send(client.get(url(&sandbox, path)).bearer_auth(SEARCH_KEY)).await;
        assert_eq!((status, answer["error"]["kind"].as_str()), (403, Some("permission_denied")), "{path}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("needs the admin role"), "{answer}");
        let response = client.get(url(&sandbox, path)).bearer_auth(ADMIN_KEY).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    let (_, view, _) = send(client.get(url(&sandbox, "/api/v1/cluster")).bearer_auth(ADMIN_KEY)).await;
    let states: Vec<&str> = view["shards"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|shard| shard["replicas"].as_array().unwrap())
        .map(|replica| replica["state"].as_str().unwrap())
        .collect();
    assert!(states.iter().all(|state| *state == "healthy"), "the root reaches its leaves over mutual TLS: {view}");

    // gRPC over TLS: the same keys and roles, the same answer.
    let mut grpc = RootClient::new(grpc_channel(&sandbox, &pki.ca));
    let request = || SearchRequest { query: "boundary layer".into(), limit: Some(5), ..Default::default() };
    let refused = grpc.search(tonic::Request::new(request())).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let answer = grpc.search(with_key(request(), SEARCH_KEY)).await.unwrap().into_inner();
    let ids: Vec<&str> = answer.hits.iter().map(|hit| hit.id.as_str()).collect();
    let http_ids: Vec<&str> = found["hits"].as_array().unwrap().iter().map(|hit| hit["id"].as_str().unwrap()).collect();
    assert_eq!(ids, http_ids);
    let forbidden = grpc.cluster(with_key(ClusterRequest {}, SEARCH_KEY)).await.unwrap_err();
    assert_eq!(forbidden.code(), tonic::Code::PermissionDenied, "{forbidden:?}");
    grpc.cluster(with_key(ClusterRequest {}, ADMIN_KEY)).await.expect("admin sees the cluster");
    let plaintext = RootClient::connect(format!("http://{}", sandbox.cluster.grpc_address)).await;
    let plaintext_failed = match plaintext {
        Err(_) => true,
        Ok(mut client) => client.search(with_key(request(), SEARCH_KEY)).await.is_err(),
    };
    assert!(plaintext_failed, "plain-text gRPC answered on the TLS port");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_admit_only_the_clusters_roots() {
    let sandbox = secured().await;
    let pki = sandbox.pki.clone().unwrap();
    let leaf = sandbox.cluster.leaf_address(0, 0);
    let info = |tls: Option<Arc<ClientTls>>| async move {
        let endpoint = Endpoint::from_shared(format!("http://{leaf}")).unwrap().connect_timeout(Duration::from_secs(5));
        let channel = match tls {
            Some(tls) => endpoint.connect_with_connector_lazy(tls.connector("127.0.0.1").unwrap()),
            None => endpoint.connect_lazy(),
        };
        tokio::time::timeout(Duration::from_secs(10), LeafClient::new(channel).info(InfoRequest {}))
            .await
            .expect("an answer or a refusal within 10 s")
            .map(|_| ())
    };
    let client = |ca: &std::path::Path, identity: Option<(std::path::PathBuf, std::path::PathBuf)>| {
        let (cert, key) = identity.map_or((None, None), |(cert, key)| (Some(cert), Some(key)));
        ClientTls::load(ClientTlsFiles { ca: ca.into(), cert, key, server_name: Some(LOCAL_LEAF_NAME.into()) }).unwrap()
    };
    info(Some(client(&pki.ca, Some(pki.root_client.clone())))).await.expect("the root's certificate is let in");

    // LeafAdmin (fault injection is on in sandboxes) needs the cluster's certificate too.
    let admin = |tls: Option<Arc<ClientTls>>| async move {
        let endpoint = Endpoint::from_shared(format!("http://{leaf}")).unwrap().connect_timeout(Duration::from_secs(5));
        let channel = match tls {
            Some(tls) => endpoint.connect_with_connector_lazy(tls.connector("127.0.0.1").unwrap()),
            None => endpoint.connect_lazy(),
        };
        let mut admin = fanout_proto::v1::leaf_admin_client::LeafAdminClient::new(channel);
        tokio::time::timeout(Duration::from_secs(10), admin.reload(fanout_proto::v1::ReloadRequest {}))
            .await
            .expect("an answer or a refusal within 10 s")
            .map(|_| ())
    };
    admin(Some(client(&pki.ca, Some(pki.root_client.clone()))))
        .await
        .expect("LeafAdmin with the cluster's certificate");
    assert!(admin(None).await.is_err(), "LeafAdmin answered a plain-text client");
    assert!(info(None).await.is_err(), "a plain-text client was let in");
    assert!(info(Some(client(&pki.ca, None))).await.is_err(), "a client without a certificate was let in");
    let other = LocalPki::create(&sandbox.dir.path().join("other")).unwrap();
    // Another run's CA has the same name as this one: only its signature tells them apart.
    let outsider = info(Some(client(&pki.ca, Some(other.root_client.clone())))).await;
    assert!(outsider.is_err(), "a certificate of another CA was let in");
    let ca = Authority::new("cluster CA, but another key").unwrap();
    let expired = ca
        .issue(&["fanout-root"], Usage::Client, Validity::Expired)
        .unwrap()
        .write(sandbox.dir.path(), "expired")
        .unwrap();
    assert!(
        info(Some(client(&pki.ca, Some(expired)))).await.is_err(),
        "an expired certificate of another CA was let in"
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_is_bounded_and_nothing_is_a_5xx() {
    let sandbox = secured().await;
    let pki = sandbox.pki.clone().unwrap();
    let client = https(&pki.ca);
    let post = |body: String| {
        client
            .post(url(&sandbox, "/api/v1/search"))
            .bearer_auth(SEARCH_KEY)
            .header("content-type", "application/json")
            .body(body)
    };
    let (status, answer, _) = send(post(format!("{{\"query\": \"{}\"}}", "wing ".repeat(1_000)))).await;
    assert_eq!((status, answer["error"]["kind"].as_str()), (413, Some("payload_too_large")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("limits.max_body_bytes"), "{answer}");
    let mut many = client.get(url(&sandbox, "/api/v1/search?q=wing")).bearer_auth(SEARCH_KEY);
    for header in 0..30 {
        many = many.header(format!("x-filler-{header}"), "1");
    }
    let (status, answer, _) = send(many).await;
    assert_eq!((status, answer["error"]["kind"].as_str()), (431, Some("headers_too_large")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("limits.max_headers"), "{answer}");
    let long_query = format!("/api/v1/search?q={}", "wing+".repeat(1_000));
    let (status, answer, _) = send(client.get(url(&sandbox, &long_query)).bearer_auth(SEARCH_KEY)).await;
    assert_eq!(status, 431, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("limits.max_header_bytes"), "{answer}");
    let many_terms = (0..300).map(|term| format!("w{term}")).collect::<Vec<_>>().join(" ");
    let (status, answer, _) = send(post(json!({"query": many_terms}).to_string())).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("limits.max_query_terms"), "{answer}");

    // A slow client: a body that never arrives gets 408, headers that never end get the
    // connection closed.
    let tls = tls_connector(&pki.ca);
    let port = sandbox.cluster.http_address.port();
    let mut slow = tls
        .connect("localhost".try_into().unwrap(), tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap())
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/search HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {SEARCH_KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"query\""
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("limits.read_timeout_ms"), "{answer}");
    let mut stalled = tls
        .connect("localhost".try_into().unwrap(), tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap())
        .await
        .unwrap();
    stalled.write_all(b"GET /healthz HTTP/1.1\r\nhost: local").await.unwrap();
    let answer = read_until_closed(&mut stalled).await;
    assert!(!answer.contains("200 OK"), "unfinished headers were answered: {answer}");

    // Hostile and malformed input, with a valid key: 4xx, never 5xx.
    let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(15);
    let mut bodies: Vec<String> = [
        "",
        "{",
        "null",
        "[]",
        "\"query\"",
        "{\"query\": 3}",
        "{\"query\": \"title:\"}",
        "{\"query\": \"wing\", \"limit\": -1}",
        "{\"query\": \"wing\", \"limit\": 99999999999}",
        "{\"query\": \"wing\", \"aggs\": []}",
        "{\"query\": \"wing\", \"aggs\": {\"a\": {\"terms\": {\"field\": \"nosuch\"}}}}",
        "{\"query\": \"wing\", \"filters\": [{\"range\": {\"x\": {\"gte\": \"a\"}}}]}",
        "{\"query\": \"wing\", \"sort\": {\"field\": \"\"}}",
        "{\"query\": \"wing\", \"search_after\": \"%%%\"}",
        "{\"query\": \"\\u0000\"}",
        "{\"query\": \"((((((((((((((((((((wing\"}",
        "{\"query\": \"wing\", \"highlight\": {\"fields\": [\"nosuch\"]}}",
    ]
    .iter()
    .map(|body| body.to_string())
    .collect();
    for _ in 0..20 {
        let length = random.random_range(1..200);
        bodies.push((0..length).map(|_| random.random_range(b' '..=b'~') as char).collect());
    }
    for body in bodies {
        let (status, answer, _) = send(post(body.clone())).await;
        assert!((200..500).contains(&status), "{body:?}: {status} {answer}");
    }
    for path in [
        "/api/v1/search?q=%FF",
        "/api/v1/search?q=wing&limit=x",
        "/api/v1/docs/%00",
        "/api/v1/search?q=wing&sort=:asc&offset=-3",
    ] {
        let (status, answer, _) = send(client.get(url(&sandbox, path)).bearer_auth(SEARCH_KEY)).await;
        assert!((200..500).contains(&status), "{path}: {status} {answer}");
    }
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_certificate_rotates_without_a_restart() {
    let sandbox = secured().await;
    let pki = sandbox.pki.clone().unwrap();
    let renewed = Authority::new("renewed CA").unwrap();
    let renewed_ca = sandbox.dir.path().join("renewed-ca.crt");
    std::fs::write(&renewed_ca, renewed.cert_pem()).unwrap();
    let issued = renewed.issue(&["localhost", "127.0.0.1"], Usage::Server, Validity::Current).unwrap();
    // Written aside and renamed into place, as a Secret volume swaps its files.
    let staged = sandbox.dir.path().join("staged");
    std::fs::create_dir_all(&staged).unwrap();
    let (cert, key) = issued.write(&staged, "edge").unwrap();
    std::fs::rename(key, &pki.edge.1).unwrap();
    std::fs::rename(cert, &pki.edge.0).unwrap();
    let renewed_client = https(&renewed_ca);
    let mut picked_up = false;
    for _ in 0..75 {
        if renewed_client.get(url(&sandbox, "/healthz")).send().await.is_ok() {
            picked_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(picked_up, "the renewed certificate was not served within 15 s");
    assert!(
        https(&pki.ca).get(url(&sandbox, "/healthz")).send().await.is_err(),
        "new connections get the new certificate"
    );
    sandbox.stop().await;
}

fn tls_connector(ca: &std::path::Path) -> tokio_rustls::TlsConnector {
    let mut config = trusting(ca);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// What the server sends until it closes the connection (at most 15 s).
async fn read_until_closed(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a slow client's connection open for 15 s");
    String::from_utf8_lossy(&answer).into_owned()
}
