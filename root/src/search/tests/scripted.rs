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
    StatsResponse,
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
}

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
        Ok(Response::new(LeafSearchResponse {
            hits: if request.limit == 0 { vec![] } else { hits },
            total_hits: 1,
            generation: identity.generation,
            intermediate_aggs: vec![],
            identity: Some(identity),
        }))
    }

    async fn fetch(&self, request: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        let request = request.into_inner();
        let identity = self.check(request.generation)?;
        let docs = request
            .addresses
            .iter()
            .map(|_| FetchedDoc {
                id: doc_id(identity.shard_id, identity.generation),
                fields_json: "{}".into(),
                highlights: Default::default(),
            })
            .collect();
        Ok(Response::new(FetchResponse { docs, identity: Some(identity) }))
    }

    async fn stats(&self, request: Request<StatsRequest>) -> Result<Response<StatsResponse>, Status> {
        let identity = self.check(request.get_ref().generation)?;
        Ok(Response::new(StatsResponse {
            total_num_docs: 1,
            generation: identity.generation,
            identity: Some(identity),
            ..StatsResponse::default()
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
            schema_json: String::new(),
            layout: "document".into(),
            ..InfoResponse::default()
        }))
    }

    async fn get(&self, _: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let identity = self.check(0)?;
        let doc = FetchedDoc {
            id: doc_id(identity.shard_id, identity.generation),
            fields_json: "{}".into(),
            highlights: Default::default(),
        };
        Ok(Response::new(GetResponse { doc: Some(doc), identity: Some(identity) }))
    }

    async fn postings(&self, _: Request<PostingsRequest>) -> Result<Response<PostingsResponse>, Status> {
        Err(Status::invalid_argument("a document-partitioned shard answers no Postings"))
    }
}
