//! Bounds on what one connection may cost a server: header sizes, HTTP/2 streams, and
//! how long a slow client may take to send its headers or finish a TLS handshake.

use std::time::Duration;

/// Hard bounds a server applies to every connection (hyper's and rustls' own refusals:
/// a connection beyond them is closed or the stream reset, without a body). The root
/// refuses requests beyond its configured input limits earlier, with a clear 4xx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// HTTP/1: the most bytes of request line and headers buffered; HTTP/2: the most
    /// bytes of a header list.
    pub max_header_bytes: usize,
    /// HTTP/1: the most header fields of a request.
    pub max_headers: usize,
    /// HTTP/2: the most streams (requests) open at once on one connection.
    pub max_concurrent_streams: u32,
    /// HTTP/1: a request's headers must arrive within this time.
    pub header_read_timeout: Duration,
    /// TLS: the handshake must finish within this time.
    pub handshake_timeout: Duration,
    /// HTTP/2: ping an idle connection this often, and drop it when the ping is not
    /// answered within as long again (clients that vanished).
    pub keep_alive_interval: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_header_bytes: 64 << 10,
            max_headers: 100,
            max_concurrent_streams: 200,
            header_read_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            keep_alive_interval: Duration::from_secs(30),
        }
    }
}
