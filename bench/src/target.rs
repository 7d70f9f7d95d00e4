//! What a benchmark sends queries to: a running root over HTTP or gRPC (or, in tests, a
//! mock with a known latency distribution).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use fanout_proto::v1::root_client::RootClient;
use fanout_proto::v1::{ClusterRequest, SearchRequest};
use serde_json::{Value, json};
use tonic::transport::Channel;

/// A boxed future, so that targets can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A successful answer, as far as a benchmark cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// Some shard was missing.
    pub partial: bool,
    /// Shards for which a hedge was sent.
    pub hedged_shards: u32,
    /// The root's result cache gave the answer.
    pub cache_hit: bool,
}

/// Leaf requests and hedges so far, over every replica (the root's cluster view).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeafCounters {
    /// Leaf requests sent, hedges included.
    pub requests: u64,
    /// Hedges sent.
    pub hedges: u64,
    /// Bytes of leaf answers the root used.
    pub response_bytes: u64,
}

/// Something queries can be sent to.
pub trait Target: Send + Sync {
    /// Sends one query; an error is its kind (`http_503`, `grpc_unavailable`, `transport`…).
    fn search(&self, query: String) -> BoxFuture<'_, Result<Reply, String>>;
    /// The root's leaf counters, when it exposes them.
    fn leaf_counters(&self) -> BoxFuture<'_, Option<LeafCounters>>;
    /// A short description for reports.
    fn describe(&self) -> String;
}

/// A root's HTTP API (HTTPS too).
pub struct HttpTarget {
    base: String,
    client: reqwest_rustls::Client,
    limit: u32,
    bypass_cache: bool,
}

impl HttpTarget {
    /// Queries `base` (`http://host:port`) for `limit` hits each.
    pub fn new(base: &str, limit: u32) -> anyhow::Result<HttpTarget> {
        HttpTarget::trusting(base, limit, None)
    }

    /// Queries `base` (`https://host:port` when `ca` is given: the CA certificates, PEM,
    /// the root's certificate must chain to) for `limit` hits each.
    pub fn trusting(base: &str, limit: u32, ca: Option<&std::path::Path>) -> anyhow::Result<HttpTarget> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).map_err(|err| anyhow::anyhow!("{}: {err}", ca.display()))?;
            for certificate in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
                roots.add(certificate?)?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest_rustls::Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .tls_backend_preconfigured(tls)
            .build()?;
        Ok(HttpTarget { base: base.trim_end_matches('/').to_string(), client, limit, bypass_cache: false })
    }
}

impl Target for HttpTarget {
    fn search(&self, query: String) -> BoxFuture<'_, Result<Reply, String>> {
        Box::pin(async move {
            let response = self
                .client
                .post(format!("{}/api/v1/search", self.base))
                .json(&if self.bypass_cache {
                    json!({"query": query, "limit": self.limit, "cache": false})
                } else {
                    json!({"query": query, "limit": self.limit})
                })
                .send()
                .await
                .map_err(|err| if err.is_timeout() { "client_timeout".to_string() } else { "transport".to_string() })?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("http_{}", status.as_u16()));
            }
            let answer: Value = response.json().await.map_err(|_| "invalid_answer".to_string())?;
            Ok(Reply {
                partial: answer["partial"] == true,
                hedged_shards: answer["shards"]["hedged"].as_u64().unwrap_or(0) as u32,
                cache_hit: answer["cache"] == "hit",
            })
        })
    }

    fn leaf_counters(&self) -> BoxFuture<'_, Option<LeafCounters>> {
        Box::pin(async move {
            let view: Value =
                self.client.get(format!("{}/api/v1/cluster", self.base)).send().await.ok()?.json().await.ok()?;
            Some(counters_of(&view))
        })
    }

    fn describe(&self) -> String {
        format!("HTTP {}", self.base)
    }
}

/// A root's gRPC API.
pub struct GrpcTarget {
    address: String,
    client: RootClient<Channel>,
    limit: u32,
    bypass_cache: bool,
}

impl GrpcTarget {
    /// Queries `address` (`host:port`) for `limit` hits each.
    pub async fn connect(address: &str, limit: u32) -> anyhow::Result<GrpcTarget> {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{address}"))?.tcp_nodelay(true).connect().await?;
        Ok(GrpcTarget { address: address.to_string(), client: RootClient::new(channel), limit, bypass_cache: false })
    }
}

impl Target for GrpcTarget {
    fn search(&self, query: String) -> BoxFuture<'_, Result<Reply, String>> {
        let mut client = self.client.clone();
        let request = SearchRequest {
            query,
            limit: Some(self.limit),
            bypass_cache: self.bypass_cache,
            ..SearchRequest::default()
        };
        Box::pin(async move {
            let answer = client.search(request).await.map_err(|status| grpc_kind(status.code()))?.into_inner();
            Ok(Reply {
                partial: answer.partial,
                hedged_shards: answer.shards.map(|s| s.hedged).unwrap_or(0),
                cache_hit: answer.cache == "hit",
            })
        })
    }

    fn leaf_counters(&self) -> BoxFuture<'_, Option<LeafCounters>> {
        let mut client = self.client.clone();
        Box::pin(async move {
            let view = client.cluster(ClusterRequest {}).await.ok()?.into_inner();
            Some(counters_of(&serde_json::from_str(&view.cluster_json).ok()?))
        })
    }

    fn describe(&self) -> String {
        format!("gRPC {}", self.address)
    }
}

fn grpc_kind(code: tonic::Code) -> String {
    let name = format!("{code:?}");
    let mut kind = String::from("grpc");
    for c in name.chars() {
        if c.is_uppercase() {
            kind.push('_');
        }
        kind.push(c.to_ascii_lowercase());
    }
    kind
}

/// Sums every replica's requests and hedges in a cluster view.
pub fn counters_of(view: &Value) -> LeafCounters {
    let mut counters =
        LeafCounters { response_bytes: view["leaf_response_bytes"].as_u64().unwrap_or(0), ..LeafCounters::default() };
    for shard in view["shards"].as_array().into_iter().flatten() {
        for replica in shard["replicas"].as_array().into_iter().flatten() {
            counters.requests += replica["requests"].as_u64().unwrap_or(0);
            counters.hedges += replica["hedges"].as_u64().unwrap_or(0);
        }
    }
    counters
}

/// Opens `http://host:port` or `grpc://host:port`.
pub async fn open(url: &str, limit: u32) -> anyhow::Result<Box<dyn Target>> {
    open_with(url, limit, false).await
}

/// Opens `http://host:port` or `grpc://host:port`; with `bypass_cache`, every query asks
/// the root not to use its result cache.
pub async fn open_with(url: &str, limit: u32, bypass_cache: bool) -> anyhow::Result<Box<dyn Target>> {
    if let Some(address) = url.strip_prefix("grpc://") {
        let mut target = GrpcTarget::connect(address, limit).await?;
        target.bypass_cache = bypass_cache;
        return Ok(Box::new(target));
    }
    anyhow::ensure!(url.starts_with("http://"), "--target must start with http:// or grpc://, got {url:?}");
    let mut target = HttpTarget::new(url, limit)?;
    target.bypass_cache = bypass_cache;
    Ok(Box::new(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_grpc_errors() {
        assert_eq!(grpc_kind(tonic::Code::Unavailable), "grpc_unavailable");
        assert_eq!(grpc_kind(tonic::Code::DeadlineExceeded), "grpc_deadline_exceeded");
    }

    #[test]
    fn sums_the_cluster_view() {
        let view = json!({"leaf_response_bytes": 1234, "shards": [{"replicas": [{"requests": 10, "hedges": 1}, {"requests": 5, "hedges": 0}]},
                                     {"replicas": [{"requests": 7, "hedges": 2}]}]});
        assert_eq!(counters_of(&view), LeafCounters { requests: 22, hedges: 3, response_bytes: 1234 });
    }
}
