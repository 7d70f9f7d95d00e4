//! Serving an axum router (HTTP, gRPC through tonic's routes, or both on one port) on a
//! listener the caller bound, plain or over TLS, until a shutdown future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::RustlsAcceptor;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;

use crate::limits::ConnectionLimits;
use crate::server_tls::ServerTls;

/// Serves `app` on `listener` until `shutdown` completes; requests in flight then
/// finish before this returns. With `tls`, every connection is TLS (mutual when its
/// files name a client CA) and the files are read again every [`crate::RELOAD_EVERY`].
/// Handlers see the peer's address as `axum::extract::ConnectInfo<SocketAddr>`, and
/// every accepted socket has `TCP_NODELAY` (small answers do not wait for Nagle).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerTls>>,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle: Handle<SocketAddr> = Handle::new();
    let stopping = handle.clone();
    let stop = tokio::spawn(async move {
        shutdown.await;
        stopping.graceful_shutdown(None);
    });
    let make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let served = match tls {
        None => {
            let mut server = axum_server::Server::from_listener(listener).acceptor(NoDelayAcceptor::new());
            apply(server.http_builder(), limits);
            server.handle(handle).serve(make_service).await
        }
        Some(tls) => {
            let watch = {
                let tls = tls.clone();
                crate::files::spawn_watch(crate::RELOAD_EVERY, move || tls.reload_logged())
            };
            tracing::debug!(listener = tls.listener(), mutual = tls.is_mutual(), "serving over TLS");
            let acceptor = RustlsAcceptor::new(tls.rustls())
                .handshake_timeout(limits.handshake_timeout)
                .acceptor(NoDelayAcceptor::new());
            let mut server = axum_server::Server::from_listener(listener).acceptor(acceptor);
            apply(server.http_builder(), limits);
            let served = server.handle(handle).serve(make_service).await;
            watch.abort();
            served
        }
    };
    stop.abort();
    served
}

/// hyper's bounds for HTTP/1 and HTTP/2 connections.
fn apply(builder: &mut Builder<TokioExecutor>, limits: &ConnectionLimits) {
    builder
        .http1()
        .max_buf_size(limits.max_header_bytes.max(8 << 10))
        .max_headers(limits.max_headers)
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(limits.keep_alive_interval)
        .keep_alive_timeout(limits.keep_alive_interval);
}
