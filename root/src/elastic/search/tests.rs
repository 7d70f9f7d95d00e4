use std::collections::BTreeMap;

use fanout_contracts::schema::SchemaFile;
use serde_json::json;

use super::*;

fn schema() -> IndexSchema {
    let text = "id_field = \"id\"\n[[field]]\nname = \"title\"\ntype = \"text\"\n[[field]]\nname = \"body\"\ntype = \"text\"\nstored = false\n[[field]]\nname = \"by\"\ntype = \"keyword\"\n[[field]]\nname = \"time\"\ntype = \"date\"\n[[field]]\nname = \"score\"\ntype = \"i64\"\n";
    IndexSchema::build(SchemaFile::parse(text).unwrap()).unwrap()
}

fn parse(body: serde_json::Value, params: &[(&str, &str)]) -> Result<ElasticSearch, ElasticError> {
    let params: BTreeMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    parse_search(&body, &params, &schema(), "hn")
}

#[test]
fn a_body_becomes_fanouts_request() {
    let search = parse(
        json!({"query": {"match": {"title": "rust"}}, "from": 10, "size": 5, "sort": [{"time": {"order": "desc"}}, "_doc"],
               "track_total_hits": true, "_source": ["ti*", "by"], "timeout": "1.5s",
               "aggs": {"authors": {"terms": {"field": "by"}}}, "version": false}),
        &[],
    )
    .unwrap();
    assert_eq!((search.request.offset, search.request.limit), (Some(10), Some(5)));
    let sort = search.request.sort.as_ref().unwrap();
    assert_eq!((sort.field.as_str(), sort.order.as_deref()), ("time", Some("desc")));
    assert_eq!(search.order, Order::Field { date: true });
    assert_eq!(
        search.request.fields,
        Some(vec!["title".to_string(), "by".to_string(), "time".to_string()]),
        "ti* is title and time"
    );
    assert_eq!(search.request.timeout_ms, Some(1500));
    assert!(search.request.aggs.is_some());
    assert!(search.request.structured_query.is_some());
    assert!(search.request.query.is_empty(), "the query is the tree, never text");
}

#[test]
fn url_parameters_and_defaults() {
    let search = parse(
        json!({}),
        &[
            ("q", "title:rust"),
            ("size", "3"),
            ("sort", "score:asc"),
            ("_source", "false"),
            ("allow_partial_search_results", "false"),
            ("rest_total_hits_as_int", "true"),
            ("request_cache", "false"),
        ],
    )
    .unwrap();
    let Some(Kind::QueryString(query)) = search.request.structured_query.unwrap().kind else {
        panic!("q is a query string")
    };
    assert_eq!(query.query, "title:rust");
    assert_eq!(search.request.limit, Some(3));
    assert_eq!(search.request.sort.unwrap().order.as_deref(), Some("asc"));
    assert_eq!(search.source, SourceFilter::None);
    assert_eq!(search.request.allow_partial, Some(false));
    assert_eq!(search.total, TotalHits::Integer);
    assert_eq!(search.request.cache, Some(false));
    let all = parse(json!({}), &[]).unwrap();
    assert!(matches!(all.request.structured_query.unwrap().kind, Some(Kind::MatchAll(_))), "no query: match_all");
    let excluded = parse(json!({"_source": {"excludes": ["title"]}}), &[]).unwrap();
    assert_eq!(excluded.request.fields, Some(vec!["by".to_string(), "time".to_string(), "score".to_string()]));
    let nothing = parse(json!({"_source": {"excludes": ["*"]}}), &[]).unwrap();
    assert_eq!(nothing.request.fields, Some(vec!["title".to_string()]), "one field fetched, none shown");
    let none = parse(json!({"_source": false}), &[]).unwrap();
    assert_eq!(none.request.fields, Some(vec!["title".to_string()]), "_source false fetches one field only");
    let field_sort = parse(json!({"sort": ["score"]}), &[]).unwrap();
    assert_eq!(field_sort.request.sort.unwrap().order.as_deref(), Some("asc"), "fields sort ascending unless told");
}

#[test]
fn search_after_takes_the_cursor_fanout_put_last() {
    let cursor = fanout_contracts::Position { key: 7, shard: 1, segment_ord: 0, doc_id: 3 }.encode_cursor();
    let search = parse(json!({"sort": ["_score"], "search_after": [1.5, cursor]}), &[]).unwrap();
    assert_eq!(search.request.search_after.as_deref(), Some(cursor.as_str()));
    assert_eq!(search.order, Order::Score);
    let refused = parse(json!({"sort": ["_score"], "search_after": [1.5]}), &[]).unwrap_err();
    assert!(refused.reason.contains("its last value is fanout's cursor"), "{refused:?}");
    let unsorted = parse(json!({"search_after": [cursor]}), &[]).unwrap_err();
    assert!(unsorted.reason.contains("search_after needs a sort"), "{unsorted:?}");
}

#[test]
fn highlight_defaults_to_elasticsearchs_tags() {
    let search = parse(json!({"highlight": {"fields": {"title": {}}}}), &[]).unwrap();
    let highlight = search.request.highlight.unwrap();
    assert_eq!((highlight.pre_tag.as_str(), highlight.post_tag.as_str(), highlight.max_chars), ("<em>", "</em>", 100));
    assert_eq!(highlight.fields, ["title"]);
    let tagged = parse(
        json!({"highlight": {"pre_tags": ["<b>"], "post_tags": ["</b>"], "fields": [{"t*": {"fragment_size": 50}}]}}),
        &[],
    )
    .unwrap();
    let tagged = tagged.request.highlight.unwrap();
    assert_eq!((tagged.pre_tag.as_str(), tagged.max_chars), ("<b>", 50));
    assert_eq!(tagged.fields, ["title"], "t* is the stored text fields starting with t");
    assert!(
        parse(json!({"highlight": {"fields": {"title": {"boundary_scanner": "word"}}}}), &[])
            .unwrap_err()
            .reason
            .contains("[boundary_scanner]")
    );
}

#[test]
fn what_fanout_cannot_do_is_refused_by_name() {
    let error = |body: serde_json::Value, params: &[(&str, &str)]| parse(body, params).unwrap_err().reason;
    assert!(error(json!({"post_filter": {}}), &[]).contains("fanout does not support [post_filter]"));
    assert!(error(json!({"explain": true}), &[]).contains("[explain]"));
    assert!(error(json!({"sort": ["by", "score"]}), &[]).contains("fanout sorts by one key"));
    assert!(error(json!({"sort": [{"score": {"order": "desc", "missing": "_last"}}]}), &[]).contains("[missing]"));
    assert!(error(json!({"sort": [{"_score": "asc"}]}), &[]).contains("_score descending only"));
    assert!(error(json!({}), &[("filter_path", "hits")]).contains("unrecognized parameter: [filter_path]"));
    assert!(error(json!({"timeout": "soon"}), &[]).contains("time value"));
    assert!(error(json!({"query": {"match_all": {}}}), &[("q", "x")]).contains("not both"));
    assert!(error(json!([1]), &[]).contains("must be a JSON object"));
}

#[test]
fn time_values_and_globs() {
    assert_eq!(parse_timeout("500ms").unwrap(), 500);
    assert_eq!(parse_timeout("2s").unwrap(), 2000);
    assert_eq!(parse_timeout("1m").unwrap(), 60_000);
    assert_eq!(parse_timeout("100micros").unwrap(), 1);
    assert!(parse_timeout("2 weeks").is_err());
    assert!(glob("ti*", "title") && glob("*le", "title") && glob("t*t*e", "title") && glob("title", "title"));
    assert!(!glob("b*", "title") && !glob("tit", "title") && !glob("t*x*e", "title"));
}
