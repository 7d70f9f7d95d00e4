use fanout_contracts::schema::SchemaFile;
use serde_json::json;

use super::*;

fn schema() -> IndexSchema {
    let text = r#"
id_field = "id"
default_search_fields = ["title", "body"]
[[field]]
name = "title"
type = "text"
[[field]]
name = "body"
type = "text"
[[field]]
name = "by"
type = "keyword"
[[field]]
name = "score"
type = "i64"
[[field]]
name = "time"
type = "date"
"#;
    IndexSchema::build(SchemaFile::parse(text).unwrap()).unwrap()
}

fn translate(query: serde_json::Value) -> Result<wire::Query, ElasticError> {
    let schema = schema();
    Dsl::new(&schema).translate(&query, "query")
}

fn reason(query: serde_json::Value) -> String {
    translate(query).unwrap_err().reason
}

fn text(value: &str) -> Option<wire::Value> {
    Some(wire::Value { kind: Some(value::Kind::Text(value.into())) })
}

#[test]
fn match_in_both_forms_with_its_options() {
    let short = translate(json!({"match": {"title": "rust search"}})).unwrap();
    let expected = wire::MatchQuery { field: "title".into(), text: "rust search".into(), ..Default::default() };
    assert_eq!(short, node(Kind::Match(expected.clone()), None));
    let long = translate(json!({"match": {"title": {
        "query": "rust search", "operator": "AND", "minimum_should_match": "75%", "zero_terms_query": "all", "boost": 2
    }}}))
    .unwrap();
    let options = wire::MatchQuery {
        all_terms: true,
        minimum_should_match: "75%".into(),
        zero_terms_match_all: true,
        ..expected
    };
    assert_eq!(long, node(Kind::Match(options), Some(2.0)));
}

#[test]
fn multi_match_types_keep_their_semantics() {
    let best = translate(json!({"multi_match": {"query": "rust", "fields": ["title^3", "body"], "tie_breaker": 0.3}}))
        .unwrap();
    let Some(Kind::DisMax(dis_max)) = best.kind else { panic!("best_fields is a dis_max: {best:?}") };
    assert_eq!(dis_max.queries.len(), 2);
    assert_eq!(dis_max.queries[0].boost, Some(3.0));
    assert!((dis_max.tie_breaker - 0.3).abs() < 1e-6);
    let most = translate(json!({"multi_match": {"query": "rust", "fields": ["title", "body"], "type": "most_fields"}}))
        .unwrap();
    let Some(Kind::Bool(sum)) = most.kind else { panic!("most_fields sums: {most:?}") };
    assert_eq!(sum.should.len(), 2);
    let phrase =
        translate(json!({"multi_match": {"query": "rust belt", "type": "phrase", "fields": ["ti*"]}})).unwrap();
    let Some(Kind::DisMax(phrases)) = phrase.kind else { panic!("{phrase:?}") };
    assert!(matches!(&phrases.queries[0].kind, Some(Kind::MatchPhrase(p)) if p.field == "title"), "ti* is title");
    let defaults = translate(json!({"multi_match": {"query": "rust"}})).unwrap();
    let Some(Kind::DisMax(defaults)) = defaults.kind else { panic!() };
    assert_eq!(defaults.queries.len(), 2, "the default search fields");
    assert!(
        reason(json!({"multi_match": {"query": "x", "type": "cross_fields"}}))
            .contains("does not support multi_match type [cross_fields]")
    );
}

#[test]
fn bool_takes_one_clause_or_many() {
    let query = translate(json!({"bool": {
        "must": {"match": {"title": "rust"}},
        "filter": [{"term": {"by": "pg"}}, {"range": {"score": {"gte": 10}}}],
        "must_not": [{"exists": {"field": "body"}}],
        "should": [],
        "minimum_should_match": 1,
        "boost": 1.5
    }}))
    .unwrap();
    let Some(Kind::Bool(bool_query)) = &query.kind else { panic!("{query:?}") };
    assert_eq!((bool_query.must.len(), bool_query.filter.len(), bool_query.must_not.len()), (1, 2, 1));
    assert_eq!(bool_query.minimum_should_match, "1");
    assert_eq!(query.boost, Some(1.5));
}

#[test]
fn values_are_read_as_their_fields_type() {
    let term = translate(json!({"term": {"by": {"value": "pg", "boost": 2.0}}})).unwrap();
    assert_eq!(term, node(Kind::Term(wire::TermQuery { field: "by".into(), value: text("pg") }), Some(2.0)));
    let number = translate(json!({"term": {"score": "42"}})).unwrap();
    let Some(Kind::Term(number)) = number.kind else { panic!() };
    assert_eq!(
        number.value,
        Some(wire::Value { kind: Some(value::Kind::Integer(42)) }),
        "a numeric string on a number field"
    );
    let keyword = translate(json!({"terms": {"by": ["pg", 7], "boost": 3}})).unwrap();
    let Some(Kind::Terms(terms)) = &keyword.kind else { panic!() };
    assert_eq!(terms.values, vec![text("pg").unwrap(), text("7").unwrap()], "numbers on a keyword field are text");
    assert_eq!(keyword.boost, Some(3.0));
    // Dates: epoch milliseconds, YYYY-MM-DD and RFC 3339.
    let range =
        translate(json!({"range": {"time": {"gte": 1_500_000_000_000_i64, "lt": "2020-01-01", "lte": null}}})).unwrap();
    let Some(Kind::Range(range)) = range.kind else { panic!() };
    assert_eq!(range.gte, text("2017-07-14T02:40:00Z"));
    assert_eq!(range.lt, text("2020-01-01T00:00:00Z"));
    assert!(reason(json!({"range": {"time": {"gte": "now-1d"}}})).contains("date math"));
    assert!(reason(json!({"range": {"time": {"gte": "yesterday"}}})).contains("cannot read \"yesterday\""));
    assert!(
        reason(json!({"range": {"time": {"gte": "2020-01-01", "format": "yyyy"}}})).contains("the date format [yyyy]")
    );
    // The formats dashboards send.
    let grafana =
        translate(json!({"range": {"time": {"gte": 1_500_000_000_000_i64, "format": "epoch_millis"}}})).unwrap();
    let Some(Kind::Range(grafana)) = grafana.kind else { panic!() };
    assert_eq!(grafana.gte, text("2017-07-14T02:40:00Z"));
    let seconds = translate(json!({"range": {"time": {"lt": 1_500_000_000, "format": "epoch_second"}}})).unwrap();
    let Some(Kind::Range(seconds)) = seconds.kind else { panic!() };
    assert_eq!(seconds.lt, text("2017-07-14T02:40:00Z"));
    let either = translate(
        json!({"range": {"time": {"gte": "2020-01-01", "format": "strict_date_optional_time||epoch_millis"}}}),
    );
    assert!(either.is_ok(), "{either:?}");
}

#[test]
fn the_other_clauses() {
    assert_eq!(translate(json!({"match_all": {}})).unwrap(), node(Kind::MatchAll(wire::MatchAll {}), None));
    assert_eq!(translate(json!({"match_none": {}})).unwrap(), node(Kind::MatchNone(wire::MatchNone {}), None));
    let phrase = translate(json!({"match_phrase": {"title": {"query": "rust belt", "slop": 2}}})).unwrap();
    assert!(matches!(phrase.kind, Some(Kind::MatchPhrase(ref p)) if p.slop == 2 && p.text == "rust belt"));
    let exists = translate(json!({"exists": {"field": "body"}})).unwrap();
    assert_eq!(exists, node(Kind::Exists(wire::ExistsQuery { field: "body".into() }), None));
    let prefix = translate(json!({"prefix": {"by": {"value": "p"}}})).unwrap();
    assert_eq!(prefix, node(Kind::Prefix(wire::PrefixQuery { field: "by".into(), prefix: "p".into() }), None));
    let ids = translate(json!({"ids": {"values": ["1", 2]}})).unwrap();
    assert_eq!(ids, node(Kind::Ids(wire::IdsQuery { ids: vec!["1".into(), "2".into()] }), None));
    let query_string = translate(
        json!({"query_string": {"query": "rust AND title:belt", "default_field": "*", "default_operator": "and"}}),
    )
    .unwrap();
    let expected = wire::QueryStringQuery { query: "rust AND title:belt".into(), fields: vec![], all_terms: true };
    assert_eq!(query_string, node(Kind::QueryString(expected), None));
    let simple = translate(json!({"simple_query_string": {"query": "rust -belt", "fields": ["title"]}})).unwrap();
    assert!(matches!(simple.kind, Some(Kind::Bool(_))), "{simple:?}");
}

#[test]
fn what_is_not_supported_is_named_with_its_place() {
    let fuzzy = reason(json!({"bool": {"must": [{"match_all": {}}, {"fuzzy": {"title": "rsut"}}]}}));
    assert!(fuzzy.starts_with("[query.bool.must[1].fuzzy] fanout does not support the [fuzzy] query"), "{fuzzy}");
    assert!(reason(json!({"frobnicate": {}})).contains("unknown query [frobnicate]"));
    assert!(
        reason(json!({"match": {"title": {"query": "x", "fuzziness": "AUTO"}}}))
            .contains("does not support [fuzziness] in a [match] query")
    );
    assert!(reason(json!({"match": {"title": "x", "body": "y"}})).contains("doesn't support multiple fields"));
    assert!(reason(json!({"match_all": {}, "match_none": {}})).contains("must name one clause"));
    assert!(reason(json!({"match": {"title": {"operator": "xor", "query": "x"}}})).contains("must be OR or AND"));
    assert!(
        reason(json!({"terms": {"by": {"index": "users", "id": "1", "path": "x"}}}))
            .contains("terms lookup is not supported")
    );
    assert!(reason(json!({"term": {"by": {"value": "pg", "case_insensitive": true}}})).contains("case_insensitive"));
    assert!(reason(json!("rust")).contains("a query must be an object"));
    assert!(reason(json!({"match_phrase": {"title": {"query": "a b", "slop": -1}}})).contains("non-negative integer"));
}
