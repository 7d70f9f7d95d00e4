//! The query DSL cases the Elasticsearch API tests share (`tests/elastic.rs`, and
//! `tests/elastic_clients.rs` with the real Python clients): each clause as
//! Elasticsearch's JSON and as the reference query built from tantivy's own primitives
//! (not by fanout's translation), over the Hacker News schema.

use std::ops::Bound;

use serde_json::{Value, json};
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, EmptyQuery, Occur, PhraseQuery, Query,
    RangeQuery, RegexQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use crate::{Reference, ScoreTolerance};

/// One DSL clause and its reference.
pub type Case = (Value, Box<dyn Query>);

/// The clauses whose ranking is checked, and the constant-score ones whose totals are.
pub struct Clauses {
    /// Ranked: ids, order and scores against the reference.
    pub ranked: Vec<Case>,
    /// Constant scores (their order is a tie): totals against the reference.
    pub counted: Vec<Case>,
}

/// A text term query, scored.
pub fn text_term(field: Field, word: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, word), IndexRecordOption::WithFreqs))
}

/// `match` OR over lowercase words: one should clause per word.
pub fn any_of(field: Field, words: &str) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(words.split(' ').map(|word| (Occur::Should, text_term(field, word))).collect()))
}

fn constant(query: Box<dyn Query>, score: f32) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, score))
}

/// The score tolerance of a clause: with minimum_should_match above 1, tantivy's scorer
/// adds a document's term scores in the order its heap of term scorers yields them,
/// which depends on the segment, so (as for the term layout) the sum may differ in the
/// last bits; everything else is exact.
pub fn tolerance_of(query: &Value) -> ScoreTolerance {
    if query.to_string().contains("minimum_should_match") { ScoreTolerance::TERM } else { ScoreTolerance::DOCUMENT }
}

/// The (id, score) pairs and the total of an Elasticsearch answer.
pub fn es_hits(answer: &Value) -> (Vec<(String, f32)>, u64) {
    let hits = answer["hits"]["hits"].as_array().unwrap_or_else(|| panic!("no hits in {answer}"));
    let pairs = hits
        .iter()
        .map(|hit| (hit["_id"].as_str().unwrap().to_string(), hit["_score"].as_f64().unwrap_or(0.0) as f32))
        .collect();
    (pairs, answer["hits"]["total"]["value"].as_u64().unwrap_or_else(|| panic!("no total in {answer}")))
}

/// The cases over the Hacker News schema; `top_author` is an author with stories.
pub fn clauses(reference: &Reference, top_author: &str) -> Clauses {
    let (title, body, by, score, time) = (
        reference.field("title"),
        reference.field("body"),
        reference.field("by"),
        reference.field("score"),
        reference.field("time"),
    );
    let top_author = top_author.to_string();
    let date = |text: &str| {
        let parsed =
            tantivy::time::OffsetDateTime::parse(text, &tantivy::time::format_description::well_known::Rfc3339)
                .unwrap();
        Term::from_field_date_for_search(time, tantivy::DateTime::from_utc(parsed))
    };
    let ranked: Vec<Case> = vec![
        (json!({"match": {"title": "google android"}}), any_of(title, "google android")),
        (
            json!({"match": {"title": {"query": "google android", "operator": "and"}}}),
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_term(title, "google")),
                (Occur::Must, text_term(title, "android")),
            ])),
        ),
        (
            json!({"match": {"title": {"query": "apple google microsoft", "minimum_should_match": 2}}}),
            Box::new(BooleanQuery::with_minimum_required_clauses(
                ["apple", "google", "microsoft"].iter().map(|word| (Occur::Should, text_term(title, word))).collect(),
                2,
            )),
        ),
        (
            json!({"match_phrase": {"title": "open source"}}),
            Box::new(PhraseQuery::new(vec![
                Term::from_field_text(title, "open"),
                Term::from_field_text(title, "source"),
            ])),
        ),
        (
            json!({"multi_match": {"query": "python programming", "fields": ["title^2", "body"]}}),
            Box::new(DisjunctionMaxQuery::new(vec![
                Box::new(BoostQuery::new(any_of(title, "python programming"), 2.0)),
                any_of(body, "python programming"),
            ])),
        ),
        (
            json!({"multi_match": {"query": "python programming", "fields": ["title", "body"], "type": "most_fields", "tie_breaker": 0.5}}),
            Box::new(BooleanQuery::new(vec![
                (Occur::Should, any_of(title, "python programming")),
                (Occur::Should, any_of(body, "python programming")),
            ])),
        ),
        (
            json!({"multi_match": {"query": "python programming", "fields": ["title", "body"], "tie_breaker": 0.3}}),
            Box::new(DisjunctionMaxQuery::with_tie_breaker(
                vec![any_of(title, "python programming"), any_of(body, "python programming")],
                0.3,
            )),
        ),
        (
            json!({"bool": {
                "must": {"match": {"title": "startup"}},
                "should": [{"term": {"by": top_author}}],
                "filter": [{"range": {"score": {"gte": 5}}}, {"range": {"time": {"lt": 1_400_000_000_000_i64}}}],
                "must_not": {"match": {"title": "funding"}}
            }}),
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_term(title, "startup")),
                (
                    Occur::Should,
                    Box::new(TermQuery::new(Term::from_field_text(by, &top_author), IndexRecordOption::Basic)),
                ),
                (
                    Occur::Must,
                    constant(
                        Box::new(RangeQuery::new(Bound::Included(Term::from_field_i64(score, 5)), Bound::Unbounded)),
                        0.0,
                    ),
                ),
                (
                    Occur::Must,
                    constant(
                        Box::new(RangeQuery::new(Bound::Unbounded, Bound::Excluded(date("2014-05-13T16:53:20Z")))),
                        0.0,
                    ),
                ),
                (Occur::MustNot, text_term(title, "funding")),
            ])),
        ),
        (
            json!({"bool": {"must": [{"match": {"title": "google"}}, {"prefix": {"title": "andr"}}]}}),
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_term(title, "google")),
                (Occur::Must, constant(Box::new(RegexQuery::from_pattern("andr.*", title).unwrap()), 1.0)),
            ])),
        ),
        (
            json!({"bool": {"must": {"match": {"title": "facebook"}}, "filter": {"terms": {"by": [top_author, "nobody-at-all"]}}, "should": {"exists": {"field": "body"}}}}),
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_term(title, "facebook")),
                (Occur::Must, constant(Box::new(TermSetQuery::new([Term::from_field_text(by, &top_author)])), 0.0)),
                (Occur::Should, constant(Box::new(RegexQuery::from_pattern(".*", body).unwrap()), 1.0)),
            ])),
        ),
        (
            json!({"query_string": {"query": "+title:google -android", "default_field": "body"}}),
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_term(title, "google")),
                (Occur::MustNot, text_term(body, "android")),
            ])),
        ),
        (
            json!({"simple_query_string": {"query": "\"open source\" +linux", "fields": ["title"]}}),
            Box::new(BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(PhraseQuery::new(vec![
                        Term::from_field_text(title, "open"),
                        Term::from_field_text(title, "source"),
                    ])) as Box<dyn Query>,
                ),
                (Occur::Must, text_term(title, "linux")),
            ])),
        ),
        (
            json!({"bool": {"must": {"match": {"title": "apple"}}, "must_not": {"ids": {"values": []}}}}),
            text_term(title, "apple"),
        ),
    ];
    let counted: Vec<Case> = vec![
        (
            json!({"term": {"by": top_author}}),
            Box::new(TermQuery::new(Term::from_field_text(by, &top_author), IndexRecordOption::Basic)),
        ),
        (
            json!({"range": {"time": {"gte": "2014-01-01", "lt": "2014-02-01T00:00:00Z"}}}),
            Box::new(RangeQuery::new(
                Bound::Included(date("2014-01-01T00:00:00Z")),
                Bound::Excluded(date("2014-02-01T00:00:00Z")),
            )),
        ),
        (json!({"exists": {"field": "body"}}), Box::new(RegexQuery::from_pattern(".*", body).unwrap())),
        (json!({"prefix": {"title": "goog"}}), Box::new(RegexQuery::from_pattern("goog.*", title).unwrap())),
        (json!({"match_all": {}}), Box::new(AllQuery)),
        (json!({"match_none": {}}), Box::new(EmptyQuery)),
    ];
    Clauses { ranked, counted }
}
