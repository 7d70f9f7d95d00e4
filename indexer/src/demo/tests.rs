//! Tests of the demo corpus: determinism, field types, prose, and example queries.
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tantivy::time::OffsetDateTime;
use tantivy::time::format_description::well_known::Rfc3339;

use super::*;
use crate::document::parse_document;
use crate::schema::{IndexSchema, SchemaFile};

/// Documents in the shared sample; counts in it are scaled to 100,000 documents.
const SAMPLE_DOCS: usize = 20_000;
const SAMPLE_SEED: u64 = 42;

fn generate(docs: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_demo_corpus(&mut out, docs, seed).unwrap();
    out
}

/// A parsed document with its text fields lower-cased for matching.
struct SampleDoc {
    object: Map<String, Value>,
    title: String,
    body: String,
}

impl SampleDoc {
    fn str(&self, field: &str) -> &str {
        self.object[field].as_str().unwrap_or_else(|| panic!("{field} is not a string"))
    }
}

fn sample() -> &'static [SampleDoc] {
    static SAMPLE: OnceLock<Vec<SampleDoc>> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let bytes = generate(SAMPLE_DOCS, SAMPLE_SEED);
        let text = String::from_utf8(bytes).expect("output is UTF-8");
        assert!(text.ends_with('\n'), "the last line is not terminated");
        text.lines()
            .enumerate()
            .map(|(number, line)| {
                let object: Map<String, Value> = serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("line {}: not a JSON object: {err}\n{line}", number + 1));
                let lower = |field: &str| object[field].as_str().unwrap_or_default().to_ascii_lowercase();
                let (title, body) = (lower("title"), lower("body"));
                SampleDoc { object, title, body }
            })
            .collect()
    })
}

#[test]
fn word_lists_and_templates_load() {
    let model = Model::load().unwrap();
    assert!((10..=14).contains(&model.categories.len()), "{} categories", model.categories.len());
    assert!((80..=150).contains(&model.topics.len()), "{} topics", model.topics.len());
    assert!(model.first_names.items.len() >= 35 && model.last_names.items.len() >= 35);
    for templates in [&model.titles, &model.intros, &model.secondaries, &model.details, &model.closings] {
        assert!(templates.len() >= 10);
    }
    assert!(Template::parse("a {bogus} slot.").is_err());
    assert!(Template::parse("an {a} {n} slot.").is_err());
    assert!(Template::parse("an {a}{adj} slot.").is_err());
    assert!(Template::parse("unclosed {topic.").is_err());
}

#[test]
fn articles_follow_the_sound_of_the_next_word() {
    for word in ["in-memory", "asynchronous", "SSD", "HTTP router", "LSM tree", "RAID array", "8", "18", "hour"] {
        assert!(takes_an(word), "an {word}");
    }
    for word in ["legacy", "TLS handshake", "gRPC gateway", "unique", "one-off", "100", "user"] {
        assert!(!takes_an(word), "a {word}");
    }
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_differs() {
    let first = generate(1_000, 7);
    assert_eq!(first, generate(1_000, 7));
    assert_ne!(first, generate(1_000, 8));
    assert_eq!(first.iter().filter(|&&b| b == b'\n').count(), 1_000);
    let shorter = generate(300, 7);
    assert!(first.starts_with(&shorter), "a shorter corpus is not a prefix of a longer one");
    assert!(generate(0, 7).is_empty());
}

#[test]
fn every_document_has_every_field_with_the_right_type() {
    let model = Model::load().unwrap();
    let categories: HashSet<&str> = model.categories.iter().map(|c| c.name).collect();
    let first_names: HashSet<&str> = model.first_names.items.iter().copied().collect();
    let last_names: HashSet<&str> = model.last_names.items.iter().copied().collect();
    let expected_keys = ["id", "title", "body", "category", "author", "published", "views", "rating", "featured"];
    let mut featured = 0;
    let mut views = Vec::new();
    for doc in sample() {
        let keys: Vec<&str> = doc.object.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), expected_keys.len(), "{keys:?}");
        assert!(expected_keys.iter().all(|key| doc.object.contains_key(*key)), "{keys:?}");
        assert!(!doc.str("title").is_empty());
        assert!(categories.contains(doc.str("category")), "{}", doc.str("category"));
        let (first, last) = doc.str("author").split_once(' ').expect("author is `First Last`");
        assert!(first_names.contains(first) && last_names.contains(last), "{first} {last}");
        let year: i32 = doc.str("published")[..4].parse().unwrap();
        assert!((2010..=2025).contains(&year), "{}", doc.str("published"));
        let view_count = doc.object["views"].as_u64().expect("views is a u64");
        views.push(view_count);
        let rating = &doc.object["rating"];
        assert!(rating.is_f64(), "rating {rating} is not a float");
        let rating_text = rating.to_string();
        let decimals = rating_text.split_once('.').map(|(_, decimals)| decimals.len());
        assert_eq!(decimals, Some(1), "rating {rating_text} has not exactly one decimal");
        assert!((1.0..=5.0).contains(&rating.as_f64().unwrap()), "rating {rating_text}");
        featured += usize::from(doc.object["featured"].as_bool().expect("featured is a bool"));
    }
    let share = featured as f64 / SAMPLE_DOCS as f64;
    assert!((0.04..=0.06).contains(&share), "featured share {share}");
    views.sort_unstable();
    let median = views[views.len() / 2];
    let max = views[views.len() - 1];
    assert!(max >= 100 * median, "views are not heavy-tailed: median {median}, max {max}");
}

#[test]
fn published_dates_are_rfc3339_and_correct() {
    let mut text = String::new();
    for (seconds, expected) in [
        (0, "1970-01-01T00:00:00Z"),
        (PUBLISHED_FROM, "2010-01-01T00:00:00Z"),
        (951_782_400 + 3661, "2000-02-29T01:01:01Z"),
        (PUBLISHED_UNTIL - 1, "2025-12-31T23:59:59Z"),
    ] {
        text.clear();
        write_rfc3339(&mut text, seconds);
        assert_eq!(text, expected);
    }
    for doc in sample().iter().step_by(7) {
        let published = doc.str("published");
        let parsed = OffsetDateTime::parse(published, &Rfc3339).unwrap_or_else(|err| panic!("{published}: {err}"));
        let seconds = parsed.unix_timestamp() as u64;
        assert!((PUBLISHED_FROM..PUBLISHED_UNTIL).contains(&seconds), "{published}");
        text.clear();
        write_rfc3339(&mut text, seconds);
        assert_eq!(text, published);
    }
}

#[test]
fn schema_declares_exactly_the_generated_fields() {
    let schema: toml::Table = toml::from_str(DEMO_SCHEMA).unwrap();
    assert_eq!(schema["id_field"].as_str(), Some("id"));
    let defaults: Vec<&str> =
        schema["default_search_fields"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(defaults, ["title", "body"]);
    let fields = schema["field"].as_array().unwrap();
    let doc = &sample()[0].object;
    assert_eq!(fields.len() + 1, doc.len(), "every generated field but the id is declared");
    for field in fields {
        let name = field["name"].as_str().unwrap();
        let kind = field["type"].as_str().unwrap();
        let value = doc.get(name).unwrap_or_else(|| panic!("declared field {name} is not generated"));
        let matches = match kind {
            "text" | "keyword" | "date" => value.is_string(),
            "u64" => value.is_u64(),
            "f64" => value.is_f64(),
            "bool" => value.is_boolean(),
            other => panic!("field {name} has unexpected type {other}"),
        };
        assert!(matches, "field {name} declared {kind} but generated as {value}");
    }
}

#[test]
fn documents_index_with_the_crate_schema_and_parser() {
    let schema = IndexSchema::build(SchemaFile::parse(DEMO_SCHEMA).unwrap()).unwrap();
    let text = String::from_utf8(generate(2_000, 3)).unwrap();
    for line in text.lines() {
        let parsed = parse_document(&schema, line).unwrap_or_else(|err| panic!("{err:?}: {line}"));
        assert!(parsed.id.starts_with("demo-"));
    }
}

/// The example queries through tantivy itself: they parse, and find hits in an index of
/// a small demo corpus.
#[test]
fn example_queries_parse_and_hit_in_tantivy() {
    let schema = IndexSchema::build(SchemaFile::parse(DEMO_SCHEMA).unwrap()).unwrap();
    let index = tantivy::Index::create_in_ram(schema.schema.clone());
    let mut writer: tantivy::IndexWriter = index.writer(50_000_000).unwrap();
    let text = String::from_utf8(generate(5_000, 11)).unwrap();
    for line in text.lines() {
        writer.add_document(parse_document(&schema, line).unwrap().document).unwrap();
    }
    writer.commit().unwrap();
    let searcher = index.reader().unwrap().searcher();
    let parser = tantivy::query::QueryParser::for_index(&index, schema.default_search_fields.clone());
    for query in EXAMPLE_QUERIES {
        let parsed = parser.parse_query(query).unwrap_or_else(|err| panic!("`{query}`: {err}"));
        let hits = searcher.search(&parsed, &tantivy::collector::Count).unwrap();
        assert!(hits * 100_000 / 5_000 >= 100, "`{query}` has {hits} hits in 5,000 documents");
    }
    let nothing = parser.parse_query("\"load balancer\" AND zebra").unwrap();
    assert_eq!(searcher.search(&nothing, &tantivy::collector::Count).unwrap(), 0);
}

#[test]
fn ids_are_unique_and_numbered() {
    let mut seen = HashSet::new();
    for (index, doc) in sample().iter().enumerate() {
        let id = doc.str("id");
        assert_eq!(id, format!("demo-{:06}", index + 1));
        assert!(seen.insert(id), "duplicate id {id}");
    }
}

#[test]
fn bodies_read_like_prose_about_their_topics() {
    let model = Model::load().unwrap();
    let mut total_words = 0;
    for doc in sample() {
        let body = doc.str("body");
        let sentences = body.matches('.').count();
        let mut distinct = HashSet::new();
        assert!(body.split(". ").all(|sentence| distinct.insert(sentence)), "repeated sentence: {body}");
        assert!((3..=MAX_SENTENCES).contains(&sentences), "{sentences} sentences: {body}");
        assert!(body.ends_with('.'), "{body}");
        let words = body.split_ascii_whitespace().count();
        assert!((55..=175).contains(&words), "{words} words: {body}");
        total_words += words;
        for text in [doc.str("title"), body] {
            assert!(!text.contains(['{', '}']), "unexpanded placeholder: {text}");
            assert!(text.starts_with(|c: char| c.is_ascii_uppercase()), "not capitalised: {text}");
            for sentence in text.split(". ") {
                assert!(sentence.starts_with(|c: char| c.is_ascii_uppercase()), "not capitalised: {sentence}");
            }
            let words: Vec<&str> = text.split(' ').collect();
            for pair in words.windows(2) {
                let article = pair[0].to_ascii_lowercase();
                if article == "a" || article == "an" {
                    assert_eq!(article == "an", takes_an(pair[1]), "`{} {}` in {text}", pair[0], pair[1]);
                }
            }
        }
        // The main topic, of the document's category, is in both title and body, and
        // the body names at least one more topic.
        let category = doc.str("category");
        let in_both = model.topics.iter().any(|topic| {
            let phrase = topic.phrase.to_ascii_lowercase();
            model.categories[topic.category].name == category
                && doc.title.contains(&phrase)
                && doc.body.contains(&phrase)
        });
        assert!(in_both, "no topic of {category} in both title and body: {} / {}", doc.title, doc.body);
        let topics_in_body =
            model.topics.iter().filter(|topic| doc.body.contains(&topic.phrase.to_ascii_lowercase())).count();
        assert!(topics_in_body >= 2, "no secondary topic: {body}");
    }
    let mean = total_words / SAMPLE_DOCS;
    assert!((80..=125).contains(&mean), "mean body length {mean} words");
}

#[test]
fn term_statistics_are_skewed() {
    let model = Model::load().unwrap();
    let mut per_category: BTreeMap<&str, usize> = BTreeMap::new();
    for doc in sample() {
        *per_category.entry(doc.str("category")).or_default() += 1;
    }
    assert_eq!(per_category.len(), model.categories.len(), "{per_category:?}");
    let most = per_category.values().max().unwrap();
    let least = per_category.values().min().unwrap();
    assert!(*most >= 3 * least, "categories too even: {per_category:?}");

    let mut title_counts: Vec<usize> = model
        .topics
        .iter()
        .map(|topic| {
            let phrase = topic.phrase.to_ascii_lowercase();
            sample().iter().filter(|doc| doc.title.contains(&phrase)).count()
        })
        .collect();
    title_counts.sort_unstable();
    assert!(title_counts[0] > 0, "a topic never is a title's topic");
    assert!(title_counts[title_counts.len() - 1] >= 20 * title_counts[0], "topics too even: {title_counts:?}");
}

/// A clause of a query: every clause must match (so plain multi-word queries, which
/// tantivy reads as OR by default, are counted conservatively).
#[derive(Debug)]
struct Clause {
    field: Option<String>,
    /// The phrase as written, and its lower-case words.
    raw: String,
    words: Vec<String>,
}

/// Parses the query syntax the examples use: words, "phrases", `field:` prefixes and AND.
fn parse_query(query: &str) -> Vec<Clause> {
    let mut clauses = Vec::new();
    let mut rest = query.trim_start();
    while !rest.is_empty() {
        let mut field = None;
        let token_end = rest.find([' ', '"']).unwrap_or(rest.len());
        if let Some(colon) = rest[..token_end].find(':') {
            field = Some(rest[..colon].to_string());
            rest = &rest[colon + 1..];
        }
        let raw;
        if let Some(quoted) = rest.strip_prefix('"') {
            let close = quoted.find('"').expect("closing quote");
            raw = &quoted[..close];
            rest = &quoted[close + 1..];
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            raw = &rest[..end];
            rest = &rest[end..];
        }
        rest = rest.trim_start();
        if raw == "AND" && field.is_none() {
            continue;
        }
        assert!(
            !matches!(raw, "OR" | "NOT") && !raw.starts_with(['-', '+', '(']),
            "the test's query evaluator does not support `{raw}` in {query}"
        );
        let words = raw
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        clauses.push(Clause { field, raw: raw.to_string(), words });
    }
    clauses
}

/// Whether the lower-case words occur consecutively, as whole words, in `text`.
fn contains_phrase(text: &str, words: &[String]) -> bool {
    let phrase = words.join(" ");
    text.match_indices(&phrase).any(|(at, _)| {
        let before = text[..at].bytes().next_back();
        let after = text[at + phrase.len()..].bytes().next();
        !before.is_some_and(|b| b.is_ascii_alphanumeric()) && !after.is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

fn matches(doc: &SampleDoc, clauses: &[Clause]) -> bool {
    clauses.iter().all(|clause| match clause.field.as_deref() {
        None => contains_phrase(&doc.title, &clause.words) || contains_phrase(&doc.body, &clause.words),
        Some("title") => contains_phrase(&doc.title, &clause.words),
        Some("body") => contains_phrase(&doc.body, &clause.words),
        Some(keyword @ ("category" | "author")) => doc.str(keyword) == clause.raw,
        Some(other) => panic!("the test's query evaluator does not know field {other}"),
    })
}

fn count(query: &str) -> usize {
    let clauses = parse_query(query);
    sample().iter().filter(|doc| matches(doc, &clauses)).count()
}

#[test]
fn example_queries_match_enough_documents() {
    let mut report = Vec::new();
    for query in EXAMPLE_QUERIES {
        let per_100k = count(query) * 100_000 / SAMPLE_DOCS;
        report.push(format!("{query}: {per_100k}"));
        assert!(per_100k >= 100, "`{query}` matches only {per_100k} per 100,000 documents");
    }
    println!("matches per 100,000 documents:\n{}", report.join("\n"));
}

#[test]
fn query_evaluator_can_reject() {
    assert_eq!(count("\"load balancer\" AND zebra"), 0);
    assert_eq!(count("\"balancer load\""), 0);
    assert_eq!(count("category:Databases"), 0);
    assert_eq!(count("title:lessons AND body:zzz"), 0);
    assert!(count("\"load balancer\"") < count("load"));
    let clauses = parse_query("category:databases AND \"query planner\"");
    assert_eq!(clauses.len(), 2);
    assert_eq!(clauses[0].field.as_deref(), Some("category"));
    assert_eq!(clauses[1].words, ["query", "planner"]);
}

#[test]
fn titles_never_repeat_a_word_back_to_back() {
    let corpus = generate(20_000, 11);
    for line in std::str::from_utf8(&corpus).unwrap().lines() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        let title = doc["title"].as_str().unwrap().to_lowercase();
        let words: Vec<&str> = title.split_whitespace().collect();
        assert!(words.windows(2).all(|pair| pair[0] != pair[1]), "doubled word in {title:?}");
    }
}
