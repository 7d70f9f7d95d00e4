//! The gRPC API: `fanout.v1.Root`, a thin adapter over the same searcher as HTTP, with
//! the same API keys (`authorization: Bearer <key>` metadata) and roles.

use std::net::SocketAddr;
use std::sync::Arc;

use fanout_proto::v1 as wire;
use fanout_proto::v1::root_server::Root;
use tonic::{Request, Response, Status};

use crate::auth::Authenticator;
use crate::config::Role;
use crate::rate_limit::ClientKey;
use crate::search::request::{HighlightSpec, Sort};
use crate::search::{RootSearcher, SearchRequest};

/// Serves `fanout.v1.Root`.
pub struct RootService {
    searcher: Arc<RootSearcher>,
    auth: Arc<Authenticator>,
}

impl RootService {
    /// A service over `searcher`, admitting the keys of `auth`.
    pub fn new(searcher: Arc<RootSearcher>, auth: Arc<Authenticator>) -> RootService {
        RootService { searcher, auth }
    }

    /// Checks `request`'s key for `role` and tells who sent it, as the rate limit tells
    /// clients apart (its key; else its address, or `x-forwarded-for` metadata behind a
    /// trusted proxy).
    fn client<T>(&self, request: &Request<T>, role: Role, what: &str) -> Result<ClientKey, Status> {
        let authorization = request.metadata().get("authorization").and_then(|value| value.to_str().ok());
        let principal = self.auth.check(authorization, role, what)?;
        let forwarded = request.metadata().get("x-forwarded-for").and_then(|value| value.to_str().ok());
        // Served through axum (fanout-transport), the peer is axum's ConnectInfo.
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0)
            .or_else(|| request.remote_addr());
        Ok(ClientKey::of_request(&principal, self.searcher.client_key_source(), peer.map(|addr| addr.ip()), forwarded))
    }
}

#[tonic::async_trait]
impl Root for RootService {
    async fn search(&self, request: Request<wire::SearchRequest>) -> Result<Response<wire::SearchResponse>, Status> {
        let client = self.client(&request, Role::Search, "Search")?;
        let request = request.into_inner();
        let request = SearchRequest {
            query: request.query,
            limit: request.limit,
            offset: request.offset,
            fields: Some(request.fields),
            timeout_ms: request.timeout_ms,
            allow_partial: request.allow_partial,
            sort: (!request.sort_field.is_empty()).then(|| Sort {
                field: request.sort_field.clone(),
                order: Some(if request.ascending { "asc" } else { "desc" }.to_string()),
            }),
            search_after: (!request.search_after.is_empty()).then(|| request.search_after.clone()),
            highlight: (!request.highlight_fields.is_empty()).then(|| HighlightSpec {
                fields: request.highlight_fields.clone(),
                pre_tag: request.highlight_pre_tag.clone(),
                post_tag: request.highlight_post_tag.clone(),
                max_chars: 0,
            }),
            profile: Some(request.profile),
            aggs: optional_json(&request.aggs_json, "aggs_json")?,
            filters: optional_json(&request.filters_json, "filters_json")?,
            cache: request.bypass_cache.then_some(false),
            structured_query: request.structured_query,
        };
        let response = self.searcher.search_for(&client, request).await?;
        Ok(Response::new(response.into()))
    }

    async fn get(&self, request: Request<wire::GetDocRequest>) -> Result<Response<wire::GetDocResponse>, Status> {
        let client = self.client(&request, Role::Search, "Get")?;
        let request = request.into_inner();
        let document = self.searcher.get_for(&client, &request.id, request.fields).await?;
        Ok(Response::new(wire::GetDocResponse {
            id: document.id,
            shard: document.shard,
            fields_json: document.fields.get().to_string(),
        }))
    }

    async fn cluster(&self, request: Request<wire::ClusterRequest>) -> Result<Response<wire::ClusterResponse>, Status> {
        self.client(&request, Role::Admin, "Cluster")?;
        let snapshot = self.searcher.cluster().snapshot();
        let cluster_json = serde_json::to_string(&snapshot).map_err(|err| Status::internal(err.to_string()))?;
        Ok(Response::new(wire::ClusterResponse { cluster_json }))
    }
}

/// A JSON field of a gRPC request: None when empty, InvalidArgument when not valid JSON.
fn optional_json<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Result<Option<T>, Status> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|err| Status::invalid_argument(format!("invalid {name}: {err}")))
}
