//! The Elasticsearch API against the single-index reference and fanout's own API, on
//! 20,000 Hacker News stories in 3 shards: every query DSL clause with a tantivy
//! equivalent gives the reference's ids, order, scores and totals (the reference queries
//! are built here from tantivy's primitives, not by fanout's translation); the same query
//! through both APIs gives the same answer; `search_after` pages, `_count`, `_msearch`,
//! `_doc`, aggregations, highlights, the response headers and the error shapes; and a
//! shard with no live replica shows in `_shards`.

use fanout_proto::v1::Faults;
use fanout_proto::v1::leaf_admin_client::LeafAdminClient;
use fanout_tests::datasets::{dataset_file, schema_file, write_first_lines};
use fanout_tests::elastic::{Clauses, clauses, es_hits, tolerance_of};
use fanout_tests::metrics::sample_sum;
use fanout_tests::{Reference, Sandbox, ScoreTolerance, assert_same_aggregations, assert_same_ranking, hits_of};
use serde_json::{Value, json};
use tantivy::Term;
use tantivy::query::PhraseQuery;

const STORIES: usize = 20_000;

struct Api {
    sandbox: Sandbox,
    http: reqwest::Client,
}

impl Api {
    /// A request to the Elasticsearch API: status, headers and JSON body.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = self.sandbox.url(&format!("/_elastic{path}"));
        let mut request = self.http.request(method.parse().unwrap(), url);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, headers, body)
    }

    async fn search(&self, body: &Value) -> Value {
        let (status, _, answer) = self.call("POST", "/sandbox/_search", Some(body)).await;
        assert_eq!(status, 200, "{body}: {answer}");
        answer
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_elasticsearch_api_answers_as_one_index_and_as_fanouts_own_api() {
    let dir = tempfile::tempdir().unwrap();
    let stories = dir.path().join("stories.jsonl");
    write_first_lines(&dataset_file("hackernews/stories.jsonl.gz"), STORIES, &stories);
    let schema_path = schema_file("hackernews/schema.toml");
    let reference = Reference::from_files(&stories, &schema_path);
    let sandbox = Sandbox::builder().dataset(&stories).schema(&schema_path).shards(3).replicas(2).start().await;
    let api = Api { sandbox, http: reqwest::Client::new() };
    let title = reference.field("title");
    let top_author = {
        let answer = api.search(&json!({"size": 0, "aggs": {"a": {"terms": {"field": "by", "size": 1}}}})).await;
        answer["aggregations"]["a"]["buckets"][0]["key"].as_str().unwrap().to_string()
    };
    let Clauses { ranked: cases, counted: counts } = clauses(&reference, &top_author);
    let mut matched = 0;
    for (query, expected_query) in &cases {
        for (from, size) in [(0, 10), (10, 20)] {
            let context = format!("{query} from {from}");
            let answer = api.search(&json!({"query": query, "from": from, "size": size})).await;
            let (hits, total) = es_hits(&answer);
            let expected = reference.expected_query(expected_query.as_ref(), from, size);
            assert_same_ranking(&context, &hits, total, &expected, tolerance_of(query));
            assert_eq!(answer["hits"]["total"]["relation"], "eq", "{context}");
            assert_eq!(answer["_shards"], json!({"total": 3, "successful": 3, "skipped": 0, "failed": 0}), "{context}");
            assert_eq!(answer["timed_out"], false);
            matched += usize::from(total > 0);
            if from == 0 && !hits.is_empty() {
                let best = hits.iter().map(|(_, score)| *score).fold(f32::MIN, f32::max);
                assert_eq!(answer["hits"]["max_score"].as_f64().map(|s| s as f32), Some(best), "{context}: max_score");
            }
        }
    }
    assert!(matched >= 2 * (cases.len() - 2), "most cases must match something, {matched} did");

    // Constant-score clauses alone: their totals (their order is a tie).
    for (query, expected_query) in &counts {
        let (_, expected_total) = reference.search_query(expected_query.as_ref(), 1);
        let (status, _, answer) = api.call("POST", "/sandbox/_count", Some(&json!({"query": query}))).await;
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(answer["count"].as_u64(), Some(expected_total as u64), "{query}: _count");
        let answer = api.search(&json!({"query": query, "size": 3})).await;
        assert_eq!(es_hits(&answer).1, expected_total as u64, "{query}: hits.total");
    }
    let two = api.search(&json!({"query": {"match": {"title": "google"}}, "size": 2})).await;
    let mut expected_ids: Vec<String> = es_hits(&two).0.into_iter().map(|(id, _)| id).collect();
    let ids =
        api.search(&json!({"query": {"ids": {"values": [expected_ids[0], expected_ids[1], "no-such-id"]}}})).await;
    let mut found: Vec<String> =
        ids["hits"]["hits"].as_array().unwrap().iter().map(|hit| hit["_id"].as_str().unwrap().to_string()).collect();
    found.sort();
    expected_ids.sort();
    assert_eq!(found, expected_ids, "ids");

    // The same query through both APIs: the same answer.
    for text in ["google", "rust programming language", "title:apple AND body:iphone"] {
        let es = api.search(&json!({"query": {"query_string": {"query": text}}, "size": 15})).await;
        let (status, native) = api.sandbox.search(&json!({"query": text, "limit": 15})).await;
        assert_eq!(status, 200, "{native}");
        let (es_pairs, es_total) = es_hits(&es);
        assert_eq!(es_pairs, hits_of(&native), "{text}: the same ids, order and scores");
        assert_eq!(es_total, native["total_hits"].as_u64().unwrap(), "{text}: the same total");
        let expected = reference.expected(text, 0, 15);
        assert_same_ranking(text, &es_pairs, es_total, &expected, ScoreTolerance::DOCUMENT);
        let (status, _, by_url) =
            api.call("GET", &format!("/sandbox/_search?q={}&size=15", url_encode(text)), None).await;
        assert_eq!(status, 200, "{by_url}");
        assert_eq!(es_hits(&by_url).0, es_pairs, "{text}: q= in the URL");
    }

    // search_after pages equal from/size pages, for a field and for relevance.
    for sort in [json!([{"score": "desc"}]), json!(["_score"]), json!([{"time": {"order": "asc"}}, "_doc"])] {
        let query = json!({"match": {"title": "startup"}});
        let whole = api.search(&json!({"query": query, "sort": sort, "size": 30})).await;
        let whole_ids: Vec<&Value> = whole["hits"]["hits"].as_array().unwrap().iter().map(|hit| &hit["_id"]).collect();
        let mut paged = Vec::new();
        let mut after: Option<Value> = None;
        for _ in 0..3 {
            let mut request = json!({"query": query, "sort": sort, "size": 10});
            if let Some(after) = &after {
                request["search_after"] = after.clone();
            }
            let page = api.search(&request).await;
            let hits = page["hits"]["hits"].as_array().unwrap().clone();
            after = hits.last().map(|hit| hit["sort"].clone());
            paged.extend(hits.into_iter().map(|hit| hit["_id"].clone()));
        }
        assert_eq!(paged.iter().collect::<Vec<_>>(), whole_ids, "{sort}: search_after pages");
        let first = &whole["hits"]["hits"][0];
        assert_eq!(first["sort"].as_array().unwrap().len(), 2, "{first}: the value and fanout's cursor");
        if sort[0].get("time").is_some() {
            assert!(first["_score"].is_null(), "sorted by a field: no score");
            assert!(first["sort"][0].as_i64().unwrap() > 1_000_000_000_000, "dates sort in epoch milliseconds");
        }
    }

    // Aggregations as tantivy (Elasticsearch's syntax and shape) gives them.
    let aggs = json!({"authors": {"terms": {"field": "by", "size": 5, "segment_size": 100000}},
                      "points": {"stats": {"field": "score"}}});
    let answer =
        api.search(&json!({"query": {"query_string": {"query": "google"}}, "size": 0, "aggregations": aggs})).await;
    assert_same_aggregations("aggregations", &answer["aggregations"], &reference.aggregate("google", &aggs));

    // Highlights with Elasticsearch's tags, as arrays of fragments.
    let answer = api.search(&json!({"query": {"match": {"title": "google"}}, "highlight": {"fields": {"title": {}}}, "_source": ["title"]})).await;
    let hit = &answer["hits"]["hits"][0];
    assert!(hit["highlight"]["title"][0].as_str().unwrap().contains("<em>"), "{hit}");
    assert_eq!(hit["_source"].as_object().unwrap().keys().collect::<Vec<_>>(), ["title"], "{hit}: _source filtered");
    for (source, keys) in [
        (json!({"includes": ["ti*"], "excludes": ["time"]}), vec!["title"]),
        (json!({"excludes": ["*"]}), vec![]),
        (json!(["by", "score"]), vec!["by", "score"]),
    ] {
        let answer = api.search(&json!({"query": {"match": {"title": "google"}}, "_source": source, "size": 3})).await;
        for hit in answer["hits"]["hits"].as_array().unwrap() {
            let mut got: Vec<&str> = hit["_source"].as_object().unwrap().keys().map(String::as_str).collect();
            got.sort();
            assert_eq!(got, keys, "_source {source}: {hit}");
        }
    }
    let answer = api.search(&json!({"query": {"match": {"title": "google"}}, "_source": false, "size": 3})).await;
    assert!(answer["hits"]["hits"][0].get("_source").is_none(), "_source false: {answer}");

    // _msearch: each answer as its own search gives it.
    let ndjson = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        json!({}),
        json!({"query": {"match": {"title": "apple"}}, "size": 5}),
        json!({"index": "sandbox"}),
        json!({"query": {"match_phrase": {"title": "open source"}}}),
        json!({"index": "elsewhere"}),
        json!({"query": {"match_all": {}}}),
    );
    let response = api
        .http
        .post(api.sandbox.url("/_elastic/_msearch"))
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let multi: Value = response.json().await.unwrap();
    let single = api.search(&json!({"query": {"match": {"title": "apple"}}, "size": 5})).await;
    assert_eq!(es_hits(&multi["responses"][0]), es_hits(&single), "the first search of _msearch");
    assert_eq!(multi["responses"][0]["status"], 200);
    let phrase = PhraseQuery::new(vec![Term::from_field_text(title, "open"), Term::from_field_text(title, "source")]);
    assert_eq!(multi["responses"][1]["hits"]["total"]["value"], json!(reference.search_query(&phrase, 1).1));
    assert_eq!(multi["responses"][2]["status"], 404, "an unknown index fails alone: {}", multi["responses"][2]);

    // _doc, _mapping, _cat/indices, info, health.
    let some_id = single["hits"]["hits"][0]["_id"].as_str().unwrap().to_string();
    let (status, _, document) = api.call("GET", &format!("/sandbox/_doc/{some_id}"), None).await;
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["found"], true);
    assert_eq!(document["_source"]["title"], single["hits"]["hits"][0]["_source"]["title"]);
    let (status, _, missing) = api.call("GET", "/sandbox/_doc/no-such-story", None).await;
    assert_eq!((status, &missing["found"]), (404, &json!(false)), "{missing}");
    let (_, _, mapping) = api.call("GET", "/sandbox/_mapping", None).await;
    assert_eq!(mapping["sandbox"]["mappings"]["properties"]["time"]["type"], "date");
    assert_eq!(mapping["sandbox"]["mappings"]["properties"]["by"]["type"], "keyword");
    assert_eq!(mapping["sandbox"]["mappings"]["properties"]["score"]["type"], "long");
    let (_, _, cat) = api.call("GET", "/_cat/indices?format=json", None).await;
    assert_eq!(cat[0]["docs.count"], STORIES.to_string(), "{cat}");
    assert_eq!((cat[0]["pri"].as_str(), cat[0]["rep"].as_str()), (Some("3"), Some("1")));
    let (status, headers, info) = api.call("GET", "/", None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-elastic-product"], "Elasticsearch");
    assert_eq!(info["version"]["number"], "8.17.0");
    assert_eq!(info["tagline"], "You Know, for Search");
    let (_, _, health) = api.call("GET", "/_cluster/health", None).await;
    assert_eq!(health["status"], "green", "{health}");

    // Vendored media types are read and answered in kind.
    let response = api
        .http
        .post(api.sandbox.url("/_elastic/sandbox/_search"))
        .header("content-type", "application/vnd.elasticsearch+json; compatible-with=8")
        .header("accept", "application/vnd.elasticsearch+json; compatible-with=8")
        .body(json!({"query": {"match": {"title": "apple"}}, "size": 5}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/vnd.elasticsearch+json;compatible-with=8");
    assert_eq!(response.headers()["x-elastic-product"], "Elasticsearch");

    // Errors in Elasticsearch's shape, naming what is wrong.
    let (status, headers, error) = api
        .call("POST", "/sandbox/_search", Some(&json!({"query": {"bool": {"must": [{"fuzzy": {"title": "gogle"}}]}}})))
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(headers["x-elastic-product"], "Elasticsearch", "errors carry the header too");
    assert_eq!(error["status"], 400);
    assert_eq!(error["error"]["type"], "parsing_exception");
    assert_eq!(error["error"]["root_cause"][0]["type"], "parsing_exception");
    assert!(
        error["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("[query.bool.must[0].fuzzy] fanout does not support the [fuzzy] query"),
        "{error}"
    );
    let (status, _, error) =
        api.call("POST", "/sandbox/_search", Some(&json!({"query": {"match": {"titel": "x"}}}))).await;
    assert_eq!(status, 400);
    assert!(error["error"]["reason"].as_str().unwrap().contains("unknown field `titel`"), "{error}");
    let (status, _, error) = api.call("GET", "/nowhere/_search", None).await;
    assert_eq!((status, error["error"]["type"].as_str()), (404, Some("index_not_found_exception")), "{error}");
    let response = api
        .http
        .post(api.sandbox.url("/_elastic/sandbox/_search"))
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "x_content_parse_exception", "{error}");
    let (status, _, error) = api.call("GET", "/_nodes/stats", None).await;
    assert_eq!(status, 400, "{error}");
    assert!(error["error"]["reason"].as_str().unwrap().contains("no handler found for uri [/_elastic/_nodes/stats]"));

    // Counted by route and status class.
    let metrics = api.sandbox.http_text("/metrics").await;
    let searches = sample_sum(
        &metrics,
        "fanout_root_elastic_requests_total",
        &[("endpoint", "/{index}/_search"), ("status", "2xx")],
    );
    assert!(searches >= 30.0, "{searches} searches counted");
    let refused = sample_sum(
        &metrics,
        "fanout_root_elastic_requests_total",
        &[("endpoint", "/{index}/_search"), ("status", "4xx")],
    );
    assert!(refused >= 3.0, "{refused} refusals counted");

    // A shard that misses the deadline: timed out, and counted failed with its reason.
    let delay = Faults { delay_fraction: 1.0, delay_us: 400_000, error_fraction: 0.0 };
    set_faults(&api.sandbox, 2, delay).await;
    let (status, _, late) = api
        .call(
            "POST",
            "/sandbox/_search?request_cache=false",
            Some(&json!({"query": {"match": {"title": "apple"}}, "timeout": "100ms"})),
        )
        .await;
    assert_eq!(status, 200, "{late}");
    assert_eq!(late["timed_out"], true, "{late}");
    assert_eq!(
        (late["_shards"]["successful"].as_u64(), late["_shards"]["failed"].as_u64()),
        (Some(2), Some(1)),
        "{late}"
    );
    assert_eq!(late["_shards"]["failures"][0]["shard"], 2, "{late}");
    assert_eq!(late["_shards"]["failures"][0]["reason"]["type"], "timeout_exception", "{late}");
    set_faults(&api.sandbox, 2, Faults::default()).await;

    // A shard without a live replica: partial, and said so in _shards; refused when
    // partial results are not allowed.
    let Api { mut sandbox, http } = api;
    sandbox.cluster.stop_leaf(1, 0).await;
    sandbox.cluster.stop_leaf(1, 1).await;
    let api = Api { sandbox, http };
    let (status, _, partial) = api
        .call("POST", "/sandbox/_search?request_cache=false", Some(&json!({"query": {"match": {"title": "google"}}})))
        .await;
    assert_eq!(status, 200, "{partial}");
    assert_eq!(partial["_shards"]["failed"], 1, "{partial}");
    assert_eq!(partial["_shards"]["successful"], 2);
    assert_eq!(partial["_shards"]["failures"][0]["shard"], 1);
    let (status, _, refused) = api
        .call(
            "POST",
            "/sandbox/_search?allow_partial_search_results=false&request_cache=false",
            Some(&json!({"query": {"match": {"title": "google"}}})),
        )
        .await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"]["type"], "search_phase_execution_exception");
    let (_, _, health) = api.call("GET", "/_cluster/health", None).await;
    assert_eq!(health["status"], "red", "{health}");
    api.sandbox.stop().await;
}

/// Sets the faults of every replica of `shard`.
async fn set_faults(sandbox: &Sandbox, shard: u32, faults: Faults) {
    for replica in 0..2 {
        let address = sandbox.cluster.leaf_address(shard, replica);
        let mut admin = LeafAdminClient::connect(format!("http://{address}")).await.expect("the leaf's admin service");
        admin.set_faults(faults).await.expect("faults set");
    }
}

/// Percent-encodes a query for a URL.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
