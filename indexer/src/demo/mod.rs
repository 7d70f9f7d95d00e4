//! The demo corpus: a deterministic generator of synthetic engineering blog posts, written
//! as JSON lines, that `fanout local` indexes when it is given no dataset.
//!
//! Everything the text is made of lives in `datasets/demo/` (word lists and sentence
//! templates, compiled in with `include_str!`); its README describes the corpus model. The
//! output depends only on the document count and the seed (it uses integer arithmetic and
//! correctly rounded float operations, never the platform's math library), and a shorter
//! corpus is a prefix of a longer one generated with the same seed.

use std::fmt::Write as _;
use std::io;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The schema file of the demo corpus (the text of datasets/demo/schema.toml).
pub const DEMO_SCHEMA: &str = include_str!("../../../datasets/demo/schema.toml");

/// Version of the generator; bump when output changes (used as a cache key).
pub const DEMO_CORPUS_VERSION: u32 = 2;

/// Example queries that find hits in the demo corpus, for `fanout local` to print.
///
/// Each one matches at least 100 of 100,000 documents (checked by this module's tests).
pub const EXAMPLE_QUERIES: &[&str] = &[
    "distributed cache",
    "consensus protocol",
    "\"load balancer\"",
    "rust AND memory",
    "title:kubernetes",
    "database replication",
    "\"garbage collector\" AND latency",
    "category:databases AND \"query planner\"",
];

/// Writes `docs` documents as JSON lines (one object per line, '\n' terminated) to `out`,
/// deterministically from `seed`.
///
/// Output is buffered internally and `out` is flushed at the end. Fails only when `out` does
/// (the compiled-in word lists are validated by this module's tests).
pub fn write_demo_corpus(out: &mut dyn io::Write, docs: usize, seed: u64) -> io::Result<()> {
    let model = Model::load()
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidData, format!("demo corpus word lists: {message}")))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut doc = DocBuffers::default();
    let mut buffer: Vec<u8> = Vec::with_capacity(FLUSH_AT + 4096);
    for number in 1..=docs {
        model.generate(&mut rng, number, &mut doc);
        serde_json::to_writer(&mut buffer, &doc.json()).map_err(io::Error::other)?;
        buffer.push(b'\n');
        if buffer.len() >= FLUSH_AT {
            out.write_all(&buffer)?;
            buffer.clear();
        }
    }
    out.write_all(&buffer)?;
    out.flush()
}

/// Bytes of JSON lines gathered before they are handed to the caller's writer.
const FLUSH_AT: usize = 64 * 1024;

/// The generator's input files, one entry per line (see `datasets/demo/README.md`).
mod source {
    pub const TOPICS: &str = include_str!("../../../datasets/demo/topics.txt");
    pub const TITLES: &str = include_str!("../../../datasets/demo/titles.txt");
    pub const INTRO: &str = include_str!("../../../datasets/demo/intro.txt");
    pub const SECONDARY: &str = include_str!("../../../datasets/demo/secondary.txt");
    pub const DETAIL: &str = include_str!("../../../datasets/demo/detail.txt");
    pub const CLOSING: &str = include_str!("../../../datasets/demo/closing.txt");
    pub const TEAMS: &str = include_str!("../../../datasets/demo/teams.txt");
    pub const LANGUAGES: &str = include_str!("../../../datasets/demo/languages.txt");
    pub const VERBS: &str = include_str!("../../../datasets/demo/verbs.txt");
    pub const ADJECTIVES: &str = include_str!("../../../datasets/demo/adjectives.txt");
    pub const METRICS: &str = include_str!("../../../datasets/demo/metrics.txt");
    pub const COMPONENTS: &str = include_str!("../../../datasets/demo/components.txt");
    pub const TIMEFRAMES: &str = include_str!("../../../datasets/demo/timeframes.txt");
    pub const FIRST_NAMES: &str = include_str!("../../../datasets/demo/first_names.txt");
    pub const LAST_NAMES: &str = include_str!("../../../datasets/demo/last_names.txt");
}

/// Unix seconds of 2010-01-01T00:00:00Z, the earliest publication time.
const PUBLISHED_FROM: u64 = 1_262_304_000;
/// Unix seconds of 2026-01-01T00:00:00Z, just after the latest publication time.
const PUBLISHED_UNTIL: u64 = 1_767_225_600;
/// Fraction of documents marked `featured`.
const FEATURED_SHARE: f64 = 0.05;
/// Range of the word count a body grows to before it may stop (the closing sentence and
/// the secondary topics can add a little more).
const BODY_WORDS: std::ops::RangeInclusive<usize> = 60..=125;
/// Most sentences a body has.
const MAX_SENTENCES: usize = 8;

/// How unevenly a list's entries are drawn: the entry of rank `r` (from 1) has weight
/// `r^-s`. Only exponents computable with correctly rounded operations are offered, so the
/// weights are identical on every platform.
#[derive(Clone, Copy, Debug)]
enum Skew {
    /// Every entry equally likely (s = 0).
    Flat,
    /// s = 0.5.
    Mild,
    /// s = 0.75.
    Medium,
    /// Zipf's law proper (s = 1).
    Zipf,
}

/// Cumulative integer weights for drawing an index in `0..len`.
#[derive(Debug)]
struct Weights {
    cumulative: Vec<u64>,
}

impl Weights {
    fn new(len: usize, skew: Skew) -> Weights {
        let mut total = 0;
        let cumulative = (1..=len)
            .map(|rank| {
                let rank = rank as f64;
                let weight = match skew {
                    Skew::Flat => 1.0,
                    Skew::Mild => 1.0 / rank.sqrt(),
                    Skew::Medium => 1.0 / (rank.sqrt() * rank.sqrt().sqrt()),
                    Skew::Zipf => 1.0 / rank,
                };
                total += (weight * 1e6).round() as u64;
                total
            })
            .collect();
        Weights { cumulative }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative[self.cumulative.len() - 1];
        let point = rng.random_range(0..total);
        self.cumulative.partition_point(|&end| end <= point)
    }
}

/// A word list with the weights its entries are drawn with.
#[derive(Debug)]
struct List {
    items: Vec<&'static str>,
    weights: Weights,
}

impl List {
    fn parse(name: &str, text: &'static str, skew: Skew) -> Result<List, String> {
        let items = entries(name, text)?;
        for item in &items {
            if let Some(bad) = item.chars().find(|c| ".{}\"\\".contains(*c)) {
                return Err(format!("{name}: entry `{item}` contains `{bad}`"));
            }
        }
        let weights = Weights::new(items.len(), skew);
        Ok(List { items, weights })
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> &'static str {
        self.items[self.weights.sample(rng)]
    }
}

/// The non-empty, non-comment lines of an input file, trimmed. Only whole-line comments
/// exist, since `#` occurs in entries such as "C#".
fn entries(name: &str, text: &'static str) -> Result<Vec<&'static str>, String> {
    let items: Vec<&'static str> =
        text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')).collect();
    if items.is_empty() {
        return Err(format!("{name} has no entries"));
    }
    if let Some(item) = items.iter().find(|item| !item.is_ascii()) {
        return Err(format!("{name}: entry `{item}` is not ASCII"));
    }
    Ok(items)
}

/// What a `{placeholder}` of a template stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// `{topic}`: the document's main topic.
    Topic,
    /// `{other}`: the document's secondary topics, in turn.
    Other,
    /// `{team}`: the document's team.
    Team,
    /// `{lang}`: the document's programming language.
    Lang,
    /// `{verb}`: a past-tense verb.
    Verb,
    /// `{adj}`: an adjective.
    Adj,
    /// `{metric}`: something measured.
    Metric,
    /// `{part}`: a part of a system, with its article.
    Part,
    /// `{time}`: when the work happened.
    Time,
    /// `{n}`: a count from 2 to 120, log-uniform.
    Num,
    /// `{pct}`: a percentage from 5 to 85.
    Pct,
    /// `{a}`: "a" or "an", whichever the next word takes.
    Article,
}

impl Slot {
    fn named(name: &str) -> Option<Slot> {
        Some(match name {
            "topic" => Slot::Topic,
            "other" => Slot::Other,
            "team" => Slot::Team,
            "lang" => Slot::Lang,
            "verb" => Slot::Verb,
            "adj" => Slot::Adj,
            "metric" => Slot::Metric,
            "part" => Slot::Part,
            "time" => Slot::Time,
            "n" => Slot::Num,
            "pct" => Slot::Pct,
            "a" => Slot::Article,
            _ => return None,
        })
    }
}

/// A piece of a template.
#[derive(Debug)]
enum Piece {
    Text(&'static str),
    Slot(Slot),
}

/// A title or sentence template, split at its placeholders.
#[derive(Debug)]
struct Template {
    pieces: Vec<Piece>,
}

/// Which kind of template a file holds, for validation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TemplateKind {
    Title,
    Intro,
    Secondary,
    Other,
}

impl Template {
    fn parse(line: &'static str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = line;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(&rest[..open]));
            }
            let close = rest[open..].find('}').ok_or_else(|| format!("unclosed `{{` in `{line}`"))? + open;
            let name = &rest[open + 1..close];
            let slot = Slot::named(name).ok_or_else(|| format!("unknown placeholder `{{{name}}}` in `{line}`"))?;
            rest = &rest[close + 1..];
            if slot == Slot::Article {
                rest =
                    rest.strip_prefix(' ').ok_or_else(|| format!("`{{a}}` is not followed by a space in `{line}`"))?;
            }
            pieces.push(Piece::Slot(slot));
        }
        if rest.contains('}') {
            return Err(format!("unopened `}}` in `{line}`"));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest));
        }
        for (index, piece) in pieces.iter().enumerate() {
            if let Piece::Slot(Slot::Article) = piece
                && !matches!(
                    pieces.get(index + 1),
                    Some(Piece::Text(_) | Piece::Slot(Slot::Adj | Slot::Topic | Slot::Other | Slot::Metric))
                )
            {
                return Err(format!(
                    "`{{a}}` must precede a word, {{adj}}, {{topic}}, {{other}} or {{metric}} in `{line}`"
                ));
            }
        }
        Ok(Template { pieces })
    }

    fn has(&self, slot: Slot) -> bool {
        self.pieces.iter().any(|piece| matches!(piece, Piece::Slot(s) if *s == slot))
    }

    fn parse_file(name: &str, text: &'static str, kind: TemplateKind) -> Result<Vec<Template>, String> {
        entries(name, text)?
            .into_iter()
            .map(|line| {
                if line.contains(['"', '\\']) {
                    return Err(format!("{name}: `{line}` contains a quote or backslash"));
                }
                let periods = line.matches('.').count();
                if kind == TemplateKind::Title {
                    if periods != 0 {
                        return Err(format!("{name}: title `{line}` contains a period"));
                    }
                } else if periods != 1 || !line.ends_with('.') {
                    return Err(format!("{name}: sentence `{line}` must have exactly one period, at its end"));
                }
                let template = Template::parse(line).map_err(|message| format!("{name}: {message}"))?;
                let needs_topic = matches!(kind, TemplateKind::Title | TemplateKind::Intro);
                if needs_topic && !template.has(Slot::Topic) {
                    return Err(format!("{name}: `{line}` lacks {{topic}}"));
                }
                match kind {
                    TemplateKind::Secondary if !template.has(Slot::Other) => {
                        Err(format!("{name}: `{line}` lacks {{other}}"))
                    }
                    TemplateKind::Intro | TemplateKind::Other if template.has(Slot::Other) => {
                        Err(format!("{name}: `{line}` must not use {{other}}"))
                    }
                    _ => Ok(template),
                }
            })
            .collect()
    }
}

/// Whether a word takes "an" rather than "a" (by sound, for the words of the lists).
fn takes_an(word: &str) -> bool {
    let bytes = word.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    let is_acronym =
        bytes.len() > 1 && first.is_ascii_uppercase() && (bytes[1].is_ascii_uppercase() || bytes[1].is_ascii_digit());
    if is_acronym {
        // Spelled letter by letter: "an SSD", "an HTTP router", "a TLS handshake".
        return b"AEFHILMNORSX".contains(&first);
    }
    if first.is_ascii_digit() {
        let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        return first == b'8' || (digits == 2 && (word.starts_with("11") || word.starts_with("18")));
    }
    let lower =
        |prefix: &str| bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes());
    match first.to_ascii_lowercase() {
        b'a' | b'e' | b'i' => true,
        b'o' => !lower("one"),
        b'u' => !(lower("uni") || lower("use") || lower("usu") || lower("uti")),
        b'h' => lower("hour") || lower("honest"),
        _ => false,
    }
}

/// A technical topic: a noun phrase and the category it belongs to.
#[derive(Debug)]
struct Topic {
    phrase: &'static str,
    category: usize,
}

/// A category: its keyword and its topics (indexes into `Model::topics`, most frequent first).
#[derive(Debug)]
struct Category {
    name: &'static str,
    topics: Vec<usize>,
    weights: Weights,
}

/// The parsed input files.
#[derive(Debug)]
struct Model {
    topics: Vec<Topic>,
    categories: Vec<Category>,
    category_weights: Weights,
    titles: Vec<Template>,
    intros: Vec<Template>,
    secondaries: Vec<Template>,
    details: Vec<Template>,
    closings: Vec<Template>,
    teams: List,
    languages: List,
    verbs: List,
    adjectives: List,
    metrics: List,
    components: List,
    timeframes: List,
    first_names: List,
    last_names: List,
}

/// The choices made once per document that its templates refer to.
struct DocContext {
    topic: usize,
    others: [usize; 3],
    other_count: usize,
    next_other: usize,
    team: &'static str,
    language: &'static str,
}

/// What one template piece writes.
enum Emit {
    Text(&'static str),
    Number(u32),
    Article,
}

/// The reusable strings of the document being generated.
#[derive(Default)]
struct DocBuffers {
    id: String,
    title: String,
    body: String,
    category: &'static str,
    author: String,
    published: String,
    views: u64,
    rating: f64,
    featured: bool,
}

/// The JSON object of one document, in field order.
#[derive(Serialize)]
struct DemoDocument<'a> {
    id: &'a str,
    title: &'a str,
    body: &'a str,
    category: &'a str,
    author: &'a str,
    published: &'a str,
    views: u64,
    rating: f64,
    featured: bool,
}

impl DocBuffers {
    fn json(&self) -> DemoDocument<'_> {
        DemoDocument {
            id: &self.id,
            title: &self.title,
            body: &self.body,
            category: self.category,
            author: &self.author,
            published: &self.published,
            views: self.views,
            rating: self.rating,
            featured: self.featured,
        }
    }
}

impl Model {
    fn load() -> Result<Model, String> {
        let mut topics = Vec::new();
        let mut categories: Vec<Category> = Vec::new();
        for line in entries("topics.txt", source::TOPICS)? {
            let (category, phrase) =
                line.split_once(':').ok_or_else(|| format!("topics.txt: `{line}` is not `category: topic`"))?;
            let (category, phrase) = (category.trim(), phrase.trim());
            let valid_category = !category.is_empty()
                && category.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_category {
                return Err(format!("topics.txt: category `{category}` must be lower-case letters, digits or `_`"));
            }
            if phrase.is_empty() || phrase.contains(['.', ':', '{', '}', '"', '\\']) {
                return Err(format!("topics.txt: bad topic `{phrase}`"));
            }
            if topics.iter().any(|topic: &Topic| topic.phrase == phrase) {
                return Err(format!("topics.txt: topic `{phrase}` is listed twice"));
            }
            let index = match categories.iter().position(|c| c.name == category) {
                Some(index) => index,
                None => {
                    categories.push(Category {
                        name: category,
                        topics: Vec::new(),
                        weights: Weights::new(0, Skew::Flat),
                    });
                    categories.len() - 1
                }
            };
            categories[index].topics.push(topics.len());
            topics.push(Topic { phrase, category: index });
        }
        for category in &mut categories {
            category.weights = Weights::new(category.topics.len(), Skew::Zipf);
        }
        Ok(Model {
            category_weights: Weights::new(categories.len(), Skew::Medium),
            topics,
            categories,
            titles: Template::parse_file("titles.txt", source::TITLES, TemplateKind::Title)?,
            intros: Template::parse_file("intro.txt", source::INTRO, TemplateKind::Intro)?,
            secondaries: Template::parse_file("secondary.txt", source::SECONDARY, TemplateKind::Secondary)?,
            details: Template::parse_file("detail.txt", source::DETAIL, TemplateKind::Other)?,
            closings: Template::parse_file("closing.txt", source::CLOSING, TemplateKind::Other)?,
            teams: List::parse("teams.txt", source::TEAMS, Skew::Mild)?,
            languages: List::parse("languages.txt", source::LANGUAGES, Skew::Zipf)?,
            verbs: List::parse("verbs.txt", source::VERBS, Skew::Mild)?,
            adjectives: List::parse("adjectives.txt", source::ADJECTIVES, Skew::Mild)?,
            metrics: List::parse("metrics.txt", source::METRICS, Skew::Mild)?,
            components: List::parse("components.txt", source::COMPONENTS, Skew::Mild)?,
            timeframes: List::parse("timeframes.txt", source::TIMEFRAMES, Skew::Flat)?,
            first_names: List::parse("first_names.txt", source::FIRST_NAMES, Skew::Mild)?,
            last_names: List::parse("last_names.txt", source::LAST_NAMES, Skew::Mild)?,
        })
    }

    /// A topic drawn by category popularity, then by popularity within the category.
    fn pick_topic(&self, rng: &mut ChaCha8Rng) -> usize {
        self.pick_topic_in(self.category_weights.sample(rng), rng)
    }

    fn pick_topic_in(&self, category: usize, rng: &mut ChaCha8Rng) -> usize {
        let category = &self.categories[category];
        category.topics[category.weights.sample(rng)]
    }

    /// A secondary topic, half the time from the main topic's category, distinct from the
    /// main topic and from `chosen`.
    fn pick_secondary(&self, main: usize, chosen: &[usize], rng: &mut ChaCha8Rng) -> usize {
        for _ in 0..8 {
            let topic = if rng.random_bool(0.5) {
                self.pick_topic_in(self.topics[main].category, rng)
            } else {
                self.pick_topic(rng)
            };
            if topic != main && !chosen.contains(&topic) {
                return topic;
            }
        }
        (1..self.topics.len())
            .map(|step| (main + step) % self.topics.len())
            .find(|topic| !chosen.contains(topic))
            .unwrap_or(main)
    }

    /// Generates document number `number` (from 1) into `doc`.
    fn generate(&self, rng: &mut ChaCha8Rng, number: usize, doc: &mut DocBuffers) {
        doc.id.clear();
        write!(doc.id, "demo-{number:06}").expect("writing to a String");

        let topic = self.pick_topic(rng);
        let mut others = [0; 3];
        let other_count = rng.random_range(1..=3);
        for index in 0..other_count {
            others[index] = self.pick_secondary(topic, &others[..index], rng);
        }
        let mut context = DocContext {
            topic,
            others,
            other_count,
            next_other: 0,
            team: self.teams.pick(rng),
            language: self.languages.pick(rng),
        };
        doc.category = self.categories[self.topics[topic].category].name;

        doc.title.clear();
        self.expand(&self.titles[rng.random_range(0..self.titles.len())], &mut context, rng, &mut doc.title);
        self.write_body(&mut context, rng, &mut doc.body);

        doc.author.clear();
        doc.author.push_str(self.first_names.pick(rng));
        doc.author.push(' ');
        doc.author.push_str(self.last_names.pick(rng));

        // The later of two uniform draws: publication grows linearly more frequent over time.
        let span = PUBLISHED_UNTIL - PUBLISHED_FROM;
        let offset = rng.random_range(0..span).max(rng.random_range(0..span));
        let published = PUBLISHED_FROM + offset;
        doc.published.clear();
        write_rfc3339(&mut doc.published, published);

        // Pareto with shape 1 (P[views > v] ~ 20 / v), more for older and featured posts.
        doc.featured = rng.random_bool(FEATURED_SHARE);
        let age_days = (PUBLISHED_UNTIL - published) / 86_400;
        let mut views = 20_000_000 / rng.random_range(1..=1_000_000u64) + rng.random_range(0..20);
        views = views * (730 + age_days) / 730;
        if doc.featured {
            views *= 4;
        }
        doc.views = views;

        // Bell-shaped around 3.8 (2.4 to 5.0), plus 6% drawn evenly from 1.0 to 3.0.
        let tenths: u32 = if rng.random_bool(0.06) {
            rng.random_range(10..=30)
        } else {
            (24 + (0..4).map(|_| rng.random_range(0..=7u32)).sum::<u32>()).min(50)
        };
        doc.rating = f64::from(tenths) / 10.0;
    }

    /// Writes a body: an intro sentence about the main topic, one sentence per secondary
    /// topic mixed among detail sentences until a drawn word count is reached, and usually a
    /// closing sentence; 3 to 8 sentences in all.
    fn write_body(&self, context: &mut DocContext, rng: &mut ChaCha8Rng, body: &mut String) {
        body.clear();
        let target = rng.random_range(BODY_WORDS);
        let intro = &self.intros[rng.random_range(0..self.intros.len())];
        let mut words = self.sentence(intro, context, rng, body);
        let mut sentences = 1;
        let (mut used_details, mut used_secondaries) = (0, 0);
        let mut secondaries_left = context.other_count;
        while secondaries_left > 0 || sentences < 3 || (words < target && sentences < MAX_SENTENCES - 1) {
            let secondary = secondaries_left > 0 && (sentences >= 4 || words >= target || rng.random_bool(0.6));
            let (templates, used) = if secondary {
                secondaries_left -= 1;
                (&self.secondaries, &mut used_secondaries)
            } else {
                (&self.details, &mut used_details)
            };
            let template = pick_unused(templates, used, rng);
            words += self.sentence(template, context, rng, body);
            sentences += 1;
        }
        if sentences < MAX_SENTENCES && (words < *BODY_WORDS.start() || rng.random_bool(0.6)) {
            let closing = &self.closings[rng.random_range(0..self.closings.len())];
            self.sentence(closing, context, rng, body);
        }
    }

    /// Appends a sentence from `template` to `body`; returns its word count.
    fn sentence(
        &self,
        template: &Template,
        context: &mut DocContext,
        rng: &mut ChaCha8Rng,
        body: &mut String,
    ) -> usize {
        if !body.is_empty() {
            body.push(' ');
        }
        let start = body.len();
        self.expand(template, context, rng, body);
        body[start..].split_ascii_whitespace().count()
    }

    /// Appends the expansion of `template` to `out`, with its first letter capitalised.
    fn expand(&self, template: &Template, context: &mut DocContext, rng: &mut ChaCha8Rng, out: &mut String) {
        let start = out.len();
        let mut article = false;
        for piece in &template.pieces {
            let emit = match *piece {
                Piece::Text(text) => Emit::Text(text),
                Piece::Slot(slot) => match slot {
                    Slot::Topic => Emit::Text(self.topics[context.topic].phrase),
                    Slot::Other => {
                        let other = context.others[context.next_other % context.other_count];
                        context.next_other += 1;
                        Emit::Text(self.topics[other].phrase)
                    }
                    Slot::Team => Emit::Text(context.team),
                    Slot::Lang => Emit::Text(context.language),
                    Slot::Verb => Emit::Text(self.verbs.pick(rng)),
                    Slot::Adj => Emit::Text(self.adjective_for(self.topics[context.topic].phrase, rng)),
                    Slot::Metric => Emit::Text(self.metrics.pick(rng)),
                    Slot::Part => Emit::Text(self.components.pick(rng)),
                    Slot::Time => Emit::Text(self.timeframes.pick(rng)),
                    Slot::Num => Emit::Number(log_uniform_count(rng)),
                    Slot::Pct => Emit::Number(rng.random_range(5..=85)),
                    Slot::Article => Emit::Article,
                },
            };
            match emit {
                Emit::Article => article = true,
                Emit::Text(text) => {
                    if article {
                        out.push_str(if takes_an(text) { "an " } else { "a " });
                        article = false;
                    }
                    out.push_str(text);
                }
                Emit::Number(number) => {
                    write!(out, "{number}").expect("writing to a String");
                }
            }
        }
        if let Some(first) = out.as_mut_str().get_mut(start..start + 1) {
            first.make_ascii_uppercase();
        }
    }
}

impl Model {
    /// An adjective that is not already a word of `topic` (no "distributed distributed
    /// cache"); a few draws, then any adjective.
    fn adjective_for(&self, topic: &str, rng: &mut ChaCha8Rng) -> &'static str {
        let mut adjective = self.adjectives.pick(rng);
        for _ in 0..8 {
            if !topic.split(' ').any(|word| word.eq_ignore_ascii_case(adjective)) {
                break;
            }
            adjective = self.adjectives.pick(rng);
        }
        adjective
    }
}

/// One of `templates` whose bit is not set in `used` (the first 64 templates are tracked),
/// so that a body does not repeat a sentence; marks it used.
fn pick_unused<'t>(templates: &'t [Template], used: &mut u64, rng: &mut ChaCha8Rng) -> &'t Template {
    let is_free = |index: usize, used: u64| index >= 64 || used & (1 << index) == 0;
    let mut index = rng.random_range(0..templates.len());
    for _ in 0..3 {
        if is_free(index, *used) {
            break;
        }
        index = rng.random_range(0..templates.len());
    }
    if !is_free(index, *used) {
        let tracked = templates.len().min(64);
        if let Some(free) = (1..tracked).map(|step| (index + step) % tracked).find(|&i| is_free(i, *used)) {
            index = free;
        }
    }
    if index < 64 {
        *used |= 1 << index;
    }
    &templates[index]
}

/// A count from 2 to 120, roughly log-uniform (small counts are as common as large ones
/// per order of magnitude), from integer arithmetic only.
fn log_uniform_count(rng: &mut ChaCha8Rng) -> u32 {
    const STEPS: [u32; 9] = [2, 3, 5, 9, 15, 25, 40, 70, 121];
    let step = rng.random_range(0..STEPS.len() - 1);
    rng.random_range(STEPS[step]..STEPS[step + 1])
}

/// Appends `seconds` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn write_rfc3339(out: &mut String, seconds: u64) {
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let time = seconds % 86_400;
    write!(out, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", time / 3600, time / 60 % 60, time % 60)
        .expect("writing to a String");
}

/// The proleptic Gregorian (year, month, day) of a day number counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
