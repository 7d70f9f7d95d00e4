//! Scripted in-process leaves: each answers as a shard of a tiny index (one hit per
//! shard, fixed statistics), and can be told to fail, stall, refuse, or serve another
//! shard or generation; the root reaches them through `LeafClient::Local`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fanout_proto::v1::leaf_server::Leaf;
use fanout_proto::v1::{
    DocAddress, FetchRequest, FetchResponse, FetchedDoc, GetRequest, GetResponse, InfoRequest, InfoResponse,
    LeafSearchRequest, LeafSearchResponse, PostingsRequest, PostingsResponse, ScoredDoc, ShardIdentity, StatsRequest,
    StatsResponse, TermDocFreq,
};
use tonic::{Request, Response, Status};

use crate::cluster::failure::GENERATION_METADATA;

/// What a scripted leaf does with the next requests.
#[derive(Clone, Debug)]
pub enum Script {
    /// Answers at once.
    Answer,
    /// Fails every request with this status.
    Fail(Status),
    /// Never answers a search.
    HangSearch,
    /// Answers everything but fetches, which fail with this status.
    FailFetch(Status),
    /// The first search to take the shared token (of any leaf holding it) stalls for the
    /// duration; every other answers at once.
    StallFirst(Arc<std::sync::atomic::AtomicBool>, Duration),
}

/// One scripted leaf.
pub struct ScriptedLeaf {
    identity: Mutex<ShardIdentity>,
    script: Mutex<Script>,
    /// Searches it was asked (answered or not).
    pub searches: AtomicUsize,
    /// Fetches it was asked.
    pub fetches: AtomicUsize,
    /// The terms of every statistics request it was asked, in order.
    pub stats_asked: Mutex<Vec<Vec<Vec<u8>>>>,
}

/// The schema every scripted shard serves: one text field searched by default.
pub const SCHEMA_JSON: &str =
    r#"{"id_field": "id", "default_search_fields": ["title"], "field": [{"name": "title", "type": "text"}]}"#;

impl ScriptedLeaf {
    /// A leaf serving `shard` of `shard_count` of index "test" at `generation`.
    pub fn new(shard: u32, shard_count: u32, generation: u64) -> Arc<ScriptedLeaf> {
        Arc::new(ScriptedLeaf {
            identity: Mutex::new(ShardIdentity {
                index_name: "test".into(),
                shard_id: shard,
                shard_count,
                generation,
                generations: Vec::new(),
            }),
            script: Mutex::new(Script::Answer),
            searches: AtomicUsize::new(0),
            fetches: AtomicUsize::new(0),
            stats_asked: Mutex::new(Vec::new()),
        })
    }

    /// Changes what it does next.
    pub fn script(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }

    /// Serves another shard or generation from now on (a redeployment).
    pub fn become_(&self, shard: u32, generation: u64) {
        let mut identity = self.identity.lock().unwrap();
        identity.shard_id = shard;
        identity.generation = generation;
    }

    fn identity(&self) -> ShardIdentity {
        self.identity.lock().unwrap().clone()
    }

    /// Refuses a request pinned to another generation, as a real leaf does.
    fn check(&self, generation: u64) -> Result<ShardIdentity, Status> {
        let identity = self.identity();
        if generation != 0 && generation != identity.generation {
            let mut status = Status::failed_precondition("another generation");
            status.metadata_mut().insert(GENERATION_METADATA, identity.generation.into());
            return Err(status);
        }
        if let Script::Fail(status) = &*self.script.lock().unwrap() {
            return Err(status.clone());
        }
        Ok(identity)
    }
}

/// The document a shard holds, named after its shard and generation so that a test can
/// tell where every hit came from.
pub fn doc_id(shard: u32, generation: u64) -> String {
    format!("s{shard}-g{generation}")
}

/// The one document of the shard `identity` names.
fn scripted_doc(identity: &ShardIdentity) -> FetchedDoc {
    FetchedDoc {
        id: doc_id(identity.shard_id, identity.generation),
        fields_json: "{}".into(),
        highlights: Default::default(),
    }
}

#[tonic::async_trait]
impl Leaf for ScriptedLeaf {
    async fn search(&self, request: Request<LeafSearchRequest>) -> Result<Response<LeafSearchResponse>, Status> {
        self.searches.fetch_add(1, Ordering::SeqCst);
        let request = request.into_inner();
        let identity = self.check(request.generation)?;
        let script = self.script.lock().unwrap().clone();
        match script {
            Script::HangSearch => std::future::pending::<()>().await,
            Script::StallFirst(token, delay) if token.swap(false, Ordering::SeqCst) => tokio::time::sleep(delay).await,
            _ => {}
        }
        // Shard n's hit scores n + 1: the merged order is known in advance.
        let score = identity.shard_id as f32 + 1.0;
        let hits = vec![ScoredDoc {
            score,
            address: Some(DocAddress { segment_ord: 0, doc_id: identity.shard_id }),
            key: fanout_contracts::position::score_key(score),
            sort_value: None,
        }];
        let hits = if request.limit == 0 { vec![] } else { hits };
        let docs = match request.fetch {
            Some(_) => hits.iter().map(|_| scripted_doc(&identity)).collect(),
            None => vec![],
        };
        Ok(Response::new(LeafSearchResponse {
            hits,
            total_hits: 1,
            generation: identity.generation,
            intermediate_aggs: vec![],
            docs,
            identity: Some(identity),
        }))
    }

    async fn fetch(&self, request: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let request = request.into_inner();
        let identity = self.check(request.generation)?;
        if let Script::FailFetch(status) = &*self.script.lock().unwrap() {
            return Err(status.clone());
        }
        let docs = request.addresses.iter().map(|_| scripted_doc(&identity)).collect();
        Ok(Response::new(FetchResponse { docs, identity: Some(identity) }))
    }

    async fn stats(&self, request: Request<StatsRequest>) -> Result<Response<StatsResponse>, Status> {
        let request = request.into_inner();
        let identity = self.check(request.generation)?;
        self.stats_asked.lock().unwrap().push(request.terms.clone());
        // Every term is in this shard's one document.
        let doc_freqs = request.terms.into_iter().map(|term| TermDocFreq { term, doc_freq: 1 }).collect();
        Ok(Response::new(StatsResponse {
            total_num_docs: 1,
            total_num_tokens: [(1, 1)].into(),
            doc_freqs,
            generation: identity.generation,
            identity: Some(identity),
        }))
    }

    async fn info(&self, _: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let identity = self.check(0)?;
        Ok(Response::new(InfoResponse {
            index_name: identity.index_name,
            shard_id: identity.shard_id,
            shard_count: identity.shard_count,
            num_docs: 1,
            generation: identity.generation,
            schema_json: SCHEMA_JSON.into(),
            layout: "document".into(),
            ..InfoResponse::default()
        }))
    }

    async fn get(&self, _: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let identity = self.check(0)?;
        Ok(Response::new(GetResponse { doc: Some(scripted_doc(&identity)), identity: Some(identity) }))
    }

    async fn postings(&self, _: Request<PostingsRequest>) -> Result<Response<PostingsResponse>, Status> {
        Err(Status::invalid_argument("a document-partitioned shard answers no Postings"))
    }
}
