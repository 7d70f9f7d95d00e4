//! TLS servers and clients over real sockets on 127.0.0.1: who is let in, and rotation of
//! certificates without a restart.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fanout_transport::pki::{Authority, Issued, Usage, Validity};
use fanout_transport::{ClientTls, ClientTlsFiles, ConnectionLimits, ServerTls, ServerTlsFiles};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A gRPC health service served by `fanout_transport::serve` with `tls`.
async fn health_server(tls: Option<Arc<ServerTls>>) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (_, health) = tonic_health::server::health_reporter();
    let mut routes = tonic::service::Routes::builder();
    routes.add_service(health);
    let app = routes.routes().into_axum_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        fanout_transport::serve(listener, app, tls, &ConnectionLimits::default(), async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (address, stop)
}

/// Whether a health check over a new connection with `tls` (None: plain text) succeeds.
async fn check(address: std::net::SocketAddr, tls: Option<&Arc<ClientTls>>) -> Result<(), String> {
    let endpoint = Endpoint::from_shared(format!("http://{address}")).unwrap().connect_timeout(Duration::from_secs(5));
    let channel: Channel = match tls {
        Some(tls) => endpoint.connect_with_connector_lazy(tls.connector("127.0.0.1").map_err(|err| err.to_string())?),
        None => endpoint.connect_lazy(),
    };
    let mut client = HealthClient::new(channel);
    let call = client.check(HealthCheckRequest { service: String::new() });
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) => Err(format!("{status}")),
        Err(_) => Err("no answer within 10 s".into()),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn client(
    dir: &Path,
    stem: &str,
    ca: &Authority,
    identity: Option<&Issued>,
    server_name: Option<&str>,
) -> Arc<ClientTls> {
    let ca_path = write(dir, &format!("{stem}-ca.crt"), ca.cert_pem());
    let (cert, key) = match identity {
        Some(issued) => {
            let (cert, key) = issued.write(dir, stem).unwrap();
            (Some(cert), Some(key))
        }
        None => (None, None),
    };
    ClientTls::load(ClientTlsFiles { ca: ca_path, cert, key, server_name: server_name.map(str::to_string) }).unwrap()
}

#[tokio::test]
async fn a_mutual_tls_server_lets_in_only_the_clusters_clients() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Authority::new("cluster CA").unwrap();
    let other = Authority::new("another CA").unwrap();
    let server = cluster.issue(&["fanout-leaf", "127.0.0.1"], Usage::Server, Validity::Current).unwrap();
    let (cert, key) = server.write(dir.path(), "server").unwrap();
    let client_ca = write(dir.path(), "client-ca.crt", cluster.cert_pem());
    let tls = ServerTls::load("test", ServerTlsFiles { cert, key, client_ca: Some(client_ca) }).unwrap();
    assert!(tls.is_mutual());
    let (address, _stop) = health_server(Some(tls)).await;

    let member = cluster.issue(&["fanout-root"], Usage::Client, Validity::Current).unwrap();
    check(address, Some(&client(dir.path(), "member", &cluster, Some(&member), Some("fanout-leaf"))))
        .await
        .expect("a client with a certificate from the cluster's CA is let in");
    check(address, Some(&client(dir.path(), "by-ip", &cluster, Some(&member), None)))
        .await
        .expect("the certificate is also valid for 127.0.0.1, the host dialled");

    // Each is refused for its own reason, as the handshake's alert or the client's
    // verifier says it.
    let refused = |what: &str, outcome: Result<(), String>, reason: &str| match outcome {
        Ok(()) => panic!("{what} was let in"),
        Err(error) => assert!(error.contains(reason), "{what}: refused for another reason than {reason:?}: {error}"),
    };
    refused("a plain-text client", check(address, None).await, "transport error");
    refused(
        "a client without a certificate",
        check(address, Some(&client(dir.path(), "anonymous", &cluster, None, None))).await,
        "CertificateRequired",
    );
    let outsider = other.issue(&["fanout-root"], Usage::Client, Validity::Current).unwrap();
    refused(
        "a client with a certificate from another CA",
        check(address, Some(&client(dir.path(), "outsider", &cluster, Some(&outsider), None))).await,
        "UnknownCA",
    );
    let expired = cluster.issue(&["fanout-root"], Usage::Client, Validity::Expired).unwrap();
    refused(
        "a client with an expired certificate",
        check(address, Some(&client(dir.path(), "expired", &cluster, Some(&expired), None))).await,
        "CertificateExpired",
    );
    let server_cert_as_client = cluster.issue(&["fanout-root"], Usage::Server, Validity::Current).unwrap();
    refused(
        "a client presenting a server-only certificate",
        check(address, Some(&client(dir.path(), "wrong-usage", &cluster, Some(&server_cert_as_client), None))).await,
        "UnsupportedCertificate",
    );
    refused(
        "a client that does not trust the server's CA",
        check(address, Some(&client(dir.path(), "distrustful", &other, Some(&member), None))).await,
        "UnknownIssuer",
    );
    refused(
        "a client verifying another server name",
        check(address, Some(&client(dir.path(), "misnamed", &cluster, Some(&member), Some("elsewhere")))).await,
        "not valid for name",
    );
}

#[tokio::test]
async fn a_server_with_an_expired_certificate_is_refused_by_its_clients() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("cluster CA").unwrap();
    let (cert, key) =
        ca.issue(&["127.0.0.1"], Usage::Server, Validity::Expired).unwrap().write(dir.path(), "server").unwrap();
    let (address, _stop) =
        health_server(Some(ServerTls::load("test", ServerTlsFiles { cert, key, client_ca: None }).unwrap())).await;
    let error = check(address, Some(&client(dir.path(), "client", &ca, None, None))).await.unwrap_err();
    assert!(error.contains("certificate expired"), "{error}");
}

#[tokio::test]
async fn certificates_rotate_without_a_restart_and_bad_files_keep_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let first = Authority::new("first CA").unwrap();
    let second = Authority::new("second CA").unwrap();
    let (cert, key) =
        first.issue(&["127.0.0.1"], Usage::Server, Validity::Current).unwrap().write(dir.path(), "server").unwrap();
    let tls =
        ServerTls::load("test", ServerTlsFiles { cert: cert.clone(), key: key.clone(), client_ca: None }).unwrap();
    let (address, _stop) = health_server(Some(tls.clone())).await;
    let trusts_first = client(dir.path(), "first", &first, None, None);
    let trusts_second = client(dir.path(), "second", &second, None, None);
    check(address, Some(&trusts_first)).await.unwrap();
    assert!(check(address, Some(&trusts_second)).await.is_err());

    // A half-written rotation (a key that does not fit) is refused and changes nothing.
    let rotated = second.issue(&["127.0.0.1"], Usage::Server, Validity::Current).unwrap();
    std::fs::write(&cert, &rotated.cert_pem).unwrap();
    let error = tls.reload().unwrap_err().to_string();
    assert!(error.contains("server.crt") && error.contains("key does not fit"), "{error}");
    check(address, Some(&trusts_first)).await.expect("the old certificate still serves");

    // The whole rotation is picked up by the server's own watch, without a restart.
    std::fs::write(&key, &rotated.key_pem).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while check(address, Some(&trusts_second)).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the rotated certificate was not picked up within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(check(address, Some(&trusts_first)).await.is_err(), "new connections get the new certificate");
    assert!(!tls.reload().unwrap(), "nothing changed since the watch reloaded");
}

#[test]
fn unusable_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.crt");
    let garbage = write(dir.path(), "garbage.crt", "not a certificate");
    let load = |cert: &Path, key: &Path| {
        ServerTls::load("test", ServerTlsFiles { cert: cert.into(), key: key.into(), client_ca: None })
            .unwrap_err()
            .to_string()
    };
    let error = load(&missing, &garbage);
    assert!(error.contains("missing.crt") && error.contains("cannot read"), "{error}");
    let error = load(&garbage, &garbage);
    assert!(error.contains("garbage.crt") && error.contains("no certificate"), "{error}");
    let ca = Authority::new("ca").unwrap();
    let (cert, _) = ca.issue(&["x"], Usage::Server, Validity::Current).unwrap().write(dir.path(), "x").unwrap();
    let error = load(&cert, &garbage);
    assert!(error.contains("garbage.crt") && error.contains("private key"), "{error}");
    let error = ClientTls::load(ClientTlsFiles { ca: garbage.clone(), cert: Some(cert), key: None, server_name: None })
        .unwrap_err()
        .to_string();
    assert!(error.contains("garbage.crt"), "{error}");
}
