use fanout_proto::v1::query::Kind;
use fanout_proto::v1::{self as wire, value};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::Value as _;
use tantivy::{DateTime, Index, TantivyDocument};

use super::*;
use crate::schema::SchemaFile;

const SCHEMA: &str = r#"
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

/// id, title, body, by, score (None: absent), time (unix seconds)
type Doc = (&'static str, &'static str, &'static str, &'static str, Option<i64>, i64);

const DOCS: &[Doc] = &[
    ("a", "rust search engine", "fast search in rust", "pg", Some(10), 1_500_000_000),
    ("b", "search engines compared", "lucene and tantivy", "dang", Some(50), 1_600_000_000),
    ("c", "the engine room", "", "pg", None, 1_700_000_000),
    ("d", "rust belt", "an engine of growth in the rust belt", "tptacek", Some(5), 1_400_000_000),
    ("e", "cooking with cast iron", "rust removal tips", "patio11", Some(99), 1_650_000_000),
];

struct Fixture {
    schema: IndexSchema,
    index: Index,
}

fn fixture() -> Fixture {
    let schema = IndexSchema::build(SchemaFile::parse(SCHEMA).unwrap()).unwrap();
    let index = Index::create_in_ram(schema.schema.clone());
    let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
    let field = |name: &str| schema.schema.get_field(name).unwrap();
    for (id, title, body, by, score, time) in DOCS {
        let mut doc = TantivyDocument::new();
        doc.add_text(field("id"), id);
        doc.add_text(field("title"), title);
        if !body.is_empty() {
            doc.add_text(field("body"), body);
        }
        doc.add_text(field("by"), by);
        if let Some(score) = score {
            doc.add_i64(field("score"), *score);
        }
        doc.add_date(field("time"), DateTime::from_timestamp_secs(*time));
        writer.add_document(doc).unwrap();
    }
    writer.commit().unwrap();
    Fixture { schema, index }
}

impl Fixture {
    fn build(&self, query: &wire::Query) -> Result<Box<dyn Query>, ContractError> {
        QueryBuilder::new(&self.schema, self.index.tokenizers()).build(query)
    }

    /// The ids a query matches with their scores, best first then by id.
    fn run(&self, query: &dyn Query) -> Vec<(String, f32)> {
        let searcher = self.index.reader().unwrap().searcher();
        let hits = searcher.search(query, &TopDocs::with_limit(100).order_by_score()).unwrap();
        let mut found: Vec<(String, f32)> = hits
            .into_iter()
            .map(|(score, address)| {
                let doc: TantivyDocument = searcher.doc(address).unwrap();
                let id = doc.get_first(self.schema.id_field).and_then(|v| v.as_str()).unwrap().to_string();
                (id, score)
            })
            .collect();
        found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        found
    }

    fn ids(&self, query: wire::Query) -> Vec<String> {
        let mut ids: Vec<String> =
            self.run(self.build(&query).unwrap().as_ref()).into_iter().map(|(id, _)| id).collect();
        ids.sort();
        ids
    }

    /// The query parser's answer for `text` over `fields` (the single-index reference).
    fn parsed(&self, fields: &[&str], text: &str, conjunction: bool) -> Vec<(String, f32)> {
        let fields = fields.iter().map(|name| self.schema.schema.get_field(name).unwrap()).collect();
        let mut parser = QueryParser::for_index(&self.index, fields);
        if conjunction {
            parser.set_conjunction_by_default();
        }
        self.run(parser.parse_query(text).unwrap().as_ref())
    }

    fn error(&self, query: wire::Query) -> String {
        self.build(&query).err().map(|err| err.to_string()).unwrap_or_else(|| "built".into())
    }
}

fn node(kind: Kind) -> wire::Query {
    wire::Query { kind: Some(kind), boost: None }
}

fn matching(field: &str, text: &str) -> wire::MatchQuery {
    wire::MatchQuery { field: field.into(), text: text.into(), ..Default::default() }
}

fn text(value: &str) -> Option<wire::Value> {
    Some(wire::Value { kind: Some(value::Kind::Text(value.into())) })
}

fn integer(value: i64) -> Option<wire::Value> {
    Some(wire::Value { kind: Some(value::Kind::Integer(value)) })
}

fn assert_same(left: &[(String, f32)], right: &[(String, f32)]) {
    assert_eq!(left.len(), right.len(), "{left:?} against {right:?}");
    for ((id, score), (other, expected)) in left.iter().zip(right) {
        assert_eq!(id, other, "{left:?} against {right:?}");
        assert!((score - expected).abs() <= 1e-5 * expected.abs().max(1.0), "{id}: {score} against {expected}");
    }
}

#[test]
fn match_equals_the_query_parser_over_one_field() {
    let f = fixture();
    for text in ["rust engine", "search", "the rust belt engine", "nothing here"] {
        let any = f.run(f.build(&node(Kind::Match(matching("title", text)))).unwrap().as_ref());
        assert_same(&any, &f.parsed(&["title"], text, false));
        let all = node(Kind::Match(wire::MatchQuery { all_terms: true, ..matching("title", text) }));
        assert_same(&f.run(f.build(&all).unwrap().as_ref()), &f.parsed(&["title"], text, true));
    }
}

#[test]
fn match_counts_terms_and_handles_text_without_any() {
    let f = fixture();
    let at_least_two = node(Kind::Match(wire::MatchQuery {
        minimum_should_match: "2".into(),
        ..matching("title", "rust search belt")
    }));
    assert_eq!(f.ids(at_least_two), ["a", "d"], "b has only `search`");
    let too_many = node(Kind::Match(wire::MatchQuery {
        minimum_should_match: "4".into(),
        ..matching("title", "rust search engine")
    }));
    assert!(f.ids(too_many).is_empty());
    assert!(f.ids(node(Kind::Match(matching("title", " ... ")))).is_empty(), "no terms: none");
    let all = node(Kind::Match(wire::MatchQuery { zero_terms_match_all: true, ..matching("title", "!!") }));
    assert_eq!(f.ids(all).len(), DOCS.len(), "no terms with zero_terms_query all: every document");
    // On a keyword field the text is the value.
    assert_eq!(f.ids(node(Kind::Match(matching("by", "pg")))), ["a", "c"]);
}

#[test]
fn minimum_should_match_reads_elasticsearch_forms() {
    let cases = [("2", 5, 2), ("-1", 5, 4), ("75%", 5, 3), ("-25%", 5, 4), ("100%", 3, 3), ("-9", 3, 0), ("0", 4, 0)];
    for (spec, optional, expected) in cases {
        assert_eq!(minimum_should_match(spec, optional).unwrap(), expected, "{spec} of {optional}");
    }
    assert!(minimum_should_match("3<90%", 5).unwrap_err().contains("expected N, -N, P% or -P%"));
    assert!(minimum_should_match("150%", 5).unwrap_err().contains("at most 100%"));
    let f = fixture();
    let most = node(Kind::Match(wire::MatchQuery {
        minimum_should_match: "-1".into(),
        ..matching("title", "rust search belt")
    }));
    assert_eq!(f.ids(most), ["a", "d"]);
}

#[test]
fn phrases_keep_their_order_and_slop() {
    let f = fixture();
    let phrase = |text: &str, slop| {
        node(Kind::MatchPhrase(wire::MatchPhraseQuery {
            field: "body".into(),
            text: text.into(),
            slop,
            ..Default::default()
        }))
    };
    assert_same(
        &f.run(f.build(&phrase("rust belt", 0)).unwrap().as_ref()),
        &f.parsed(&["body"], "\"rust belt\"", false),
    );
    assert!(f.ids(phrase("belt rust", 0)).is_empty());
    assert_eq!(f.ids(phrase("engine growth", 0)), Vec::<String>::new());
    assert_eq!(f.ids(phrase("engine growth", 1)), ["d"]);
    assert_eq!(f.ids(phrase("removal", 0)), ["e"], "one term is a term query");
}

#[test]
fn bool_combines_as_elasticsearch_does() {
    let f = fixture();
    let title = |text: &str| node(Kind::Match(matching("title", text)));
    let by = |value: &str| node(Kind::Term(wire::TermQuery { field: "by".into(), value: text(value) }));
    // must + filter: the filter selects without scoring.
    let filtered =
        node(Kind::Bool(wire::BoolQuery { must: vec![title("engine")], filter: vec![by("pg")], ..Default::default() }));
    let scored = f.run(f.build(&filtered).unwrap().as_ref());
    let alone: Vec<_> = f
        .run(f.build(&title("engine")).unwrap().as_ref())
        .into_iter()
        .filter(|(id, _)| id == "a" || id == "c")
        .collect();
    assert_same(&scored, &alone);
    // Only should: one must match; with must, should only adds to the score.
    let should =
        node(Kind::Bool(wire::BoolQuery { should: vec![title("rust"), title("cooking")], ..Default::default() }));
    assert_eq!(f.ids(should), ["a", "d", "e"]);
    let optional = node(Kind::Bool(wire::BoolQuery {
        must: vec![title("engine")],
        should: vec![title("rust")],
        ..Default::default()
    }));
    assert_eq!(f.ids(optional), ["a", "c"], "b's title has `engines`, not `engine`");
    let required = node(Kind::Bool(wire::BoolQuery {
        must: vec![title("engine")],
        should: vec![title("rust")],
        minimum_should_match: "1".into(),
        ..Default::default()
    }));
    assert_eq!(f.ids(required), ["a"]);
    // Only must_not: everything else, scored 0.
    let negative = node(Kind::Bool(wire::BoolQuery { must_not: vec![title("rust")], ..Default::default() }));
    let rest = f.run(f.build(&negative).unwrap().as_ref());
    assert_eq!(rest.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["b", "c", "e"]);
    assert!(rest.iter().all(|(_, score)| *score == 0.0));
    // should + must_not: a should clause is still required.
    let excluded = node(Kind::Bool(wire::BoolQuery {
        should: vec![title("search")],
        must_not: vec![by("pg")],
        ..Default::default()
    }));
    assert_eq!(f.ids(excluded), ["b"]);
    // The empty bool matches everything.
    assert_eq!(f.ids(node(Kind::Bool(wire::BoolQuery::default()))).len(), DOCS.len());
}

#[test]
fn dis_max_takes_the_best_field_and_bool_sums_them() {
    let f = fixture();
    let fields =
        |text: &str| vec![node(Kind::Match(matching("title", text))), node(Kind::Match(matching("body", text)))];
    let best = f.run(
        f.build(&node(Kind::DisMax(wire::DisMaxQuery { queries: fields("rust"), tie_breaker: 0.0 }))).unwrap().as_ref(),
    );
    let summed = f.run(
        f.build(&node(Kind::Bool(wire::BoolQuery { should: fields("rust"), ..Default::default() }))).unwrap().as_ref(),
    );
    let title = f.run(f.build(&node(Kind::Match(matching("title", "rust")))).unwrap().as_ref());
    let body = f.run(f.build(&node(Kind::Match(matching("body", "rust")))).unwrap().as_ref());
    let score = |list: &[(String, f32)], id: &str| list.iter().find(|(hit, _)| hit == id).map_or(0.0, |(_, s)| *s);
    for id in ["a", "d", "e"] {
        let (t, b) = (score(&title, id), score(&body, id));
        assert!((score(&best, id) - t.max(b)).abs() < 1e-5, "dis_max of {id}");
        assert!((score(&summed, id) - (t + b)).abs() < 1e-5, "sum of {id}");
    }
}

#[test]
fn exact_clauses_select_and_score_one() {
    let f = fixture();
    let terms = node(Kind::Terms(wire::TermsQuery {
        field: "by".into(),
        values: vec![text("pg").unwrap(), text("dang").unwrap()],
    }));
    assert_eq!(f.ids(terms.clone()), ["a", "b", "c"]);
    assert!(f.run(f.build(&terms).unwrap().as_ref()).iter().all(|(_, score)| *score == 1.0));
    let range = |gte, lt| node(Kind::Range(wire::RangeQuery { field: "score".into(), gte, lt, ..Default::default() }));
    assert_eq!(f.ids(range(integer(10), integer(99))), ["a", "b"]);
    let dates = node(Kind::Range(wire::RangeQuery {
        field: "time".into(),
        gt: text("2020-06-01T00:00:00Z"),
        ..Default::default()
    }));
    assert_eq!(f.ids(dates), ["b", "c", "e"]);
    let exists = |field: &str| node(Kind::Exists(wire::ExistsQuery { field: field.into() }));
    assert_eq!(f.ids(exists("score")), ["a", "b", "d", "e"]);
    assert_eq!(f.ids(exists("body")), ["a", "b", "d", "e"]);
    let prefix = |field: &str, prefix: &str| {
        node(Kind::Prefix(wire::PrefixQuery { field: field.into(), prefix: prefix.into() }))
    };
    assert_eq!(f.ids(prefix("title", "engine")), ["a", "b", "c"]);
    assert_eq!(f.ids(prefix("by", "p")), ["a", "c", "e"]);
    assert_eq!(f.ids(prefix("by", "")).len(), DOCS.len());
    assert_eq!(f.ids(node(Kind::Ids(wire::IdsQuery { ids: vec!["b".into(), "e".into(), "zz".into()] }))), ["b", "e"]);
    let number = node(Kind::Term(wire::TermQuery { field: "score".into(), value: integer(50) }));
    assert_eq!(f.run(f.build(&number).unwrap().as_ref()), [("b".to_string(), 1.0)]);
    let keyword = node(Kind::Term(wire::TermQuery { field: "by".into(), value: text("pg") }));
    assert!(f.run(f.build(&keyword).unwrap().as_ref()).iter().all(|(_, score)| *score > 0.0), "a keyword term scores");
}

#[test]
fn query_strings_are_the_users_syntax_and_boosts_multiply() {
    let f = fixture();
    let clause = |query: &str, fields: &[&str]| {
        node(Kind::QueryString(wire::QueryStringQuery {
            query: query.into(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
            all_terms: false,
        }))
    };
    assert_same(
        &f.run(f.build(&clause("rust -belt", &[])).unwrap().as_ref()),
        &f.parsed(&["title", "body"], "rust -belt", false),
    );
    assert_same(&f.run(f.build(&clause("engine", &["body"])).unwrap().as_ref()), &f.parsed(&["body"], "engine", false));
    let plain = f.run(f.build(&node(Kind::Match(matching("title", "rust")))).unwrap().as_ref());
    let boosted = f.run(
        f.build(&wire::Query { boost: Some(2.0), ..node(Kind::Match(matching("title", "rust"))) }).unwrap().as_ref(),
    );
    let doubled: Vec<_> = plain.iter().map(|(id, score)| (id.clone(), score * 2.0)).collect();
    assert_same(&boosted, &doubled);
}

#[test]
fn errors_name_the_clause() {
    let f = fixture();
    let deep = node(Kind::Bool(wire::BoolQuery {
        must: vec![node(Kind::MatchAll(wire::MatchAll {})), node(Kind::Match(matching("titel", "x")))],
        ..Default::default()
    }));
    let message = f.error(deep);
    assert!(message.starts_with("query.bool.must[1].match: unknown field `titel`"), "{message}");
    assert!(f.error(wire::Query::default()).starts_with("query: empty clause"));
    let on_text = node(Kind::Range(wire::RangeQuery { field: "title".into(), gte: text("a"), ..Default::default() }));
    assert!(f.error(on_text).contains("query.range: `title` is a text field"));
    let no_bound = node(Kind::Range(wire::RangeQuery { field: "score".into(), ..Default::default() }));
    assert!(f.error(no_bound).contains("needs at least one of gt, gte, lt, lte"));
    let wrong_type = node(Kind::Term(wire::TermQuery { field: "score".into(), value: text("high") }));
    assert!(f.error(wrong_type).contains("query.term: field `score` (i64): unexpected value \"high\""));
    let prefix = node(Kind::Prefix(wire::PrefixQuery { field: "score".into(), prefix: "1".into() }));
    assert!(f.error(prefix).contains("prefixes apply to text and keyword fields"));
    let bad_syntax = node(Kind::QueryString(wire::QueryStringQuery { query: "title:(".into(), ..Default::default() }));
    assert!(f.error(bad_syntax).starts_with("query.query_string: cannot parse"));
    let negative = wire::Query { boost: Some(-1.0), ..node(Kind::MatchAll(wire::MatchAll {})) };
    assert!(f.error(negative).contains("boost must be a non-negative number"));
    let mut nested = node(Kind::MatchAll(wire::MatchAll {}));
    for _ in 0..MAX_QUERY_DEPTH {
        nested = node(Kind::Bool(wire::BoolQuery { must: vec![nested], ..Default::default() }));
    }
    assert!(f.error(nested).contains("nests deeper than 32 levels"));
    let wide = node(Kind::Bool(wire::BoolQuery {
        should: vec![node(Kind::MatchAll(wire::MatchAll {})); MAX_QUERY_CLAUSES],
        ..Default::default()
    }));
    assert!(f.error(wide).contains("more than 1024 clauses"));
}

#[test]
fn scored_terms_are_those_of_the_scoring_clauses() {
    let f = fixture();
    let query = node(Kind::Bool(wire::BoolQuery {
        must: vec![node(Kind::Match(matching("title", "rust engine")))],
        filter: vec![node(Kind::Term(wire::TermQuery { field: "by".into(), value: text("pg") }))],
        ..Default::default()
    }));
    let builder = QueryBuilder::new(&f.schema, f.index.tokenizers());
    let title = f.schema.schema.get_field("title").unwrap();
    let expected = vec![Term::from_field_text(title, "engine"), Term::from_field_text(title, "rust")];
    assert_eq!(builder.scored_terms(&query).unwrap(), expected, "the filter's term scores nothing");
    let many = node(Kind::Terms(wire::TermsQuery { field: "by".into(), values: vec![text("pg").unwrap(); 500] }));
    assert!(builder.scored_terms(&many).unwrap().is_empty(), "terms score 1");
    assert!(!reads_beyond_scored_terms(&query));
    assert!(reads_beyond_scored_terms(&node(Kind::MatchAll(wire::MatchAll {}))));
    let negative = node(Kind::Bool(wire::BoolQuery {
        must_not: vec![node(Kind::Match(matching("title", "x")))],
        ..Default::default()
    }));
    assert!(reads_beyond_scored_terms(&negative));
}
