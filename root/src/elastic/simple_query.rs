//! `simple_query_string`'s syntax (Lucene's SimpleQueryParser) as a structured query:
//! `+` is AND, `|` is OR, whitespace is the default operator, `-` before a clause negates
//! it, `"…"` is a phrase (`"…"~N` with slop), `word*` a prefix, `(…)` groups, and `\`
//! escapes the next character. As in Lucene, operators combine from left to right
//! without precedence: `a b + c` is `(a OR b) AND c`. Each word, phrase or prefix is
//! asked of every field and the fields' scores are summed.

use fanout_proto::v1::query::Kind;
use fanout_proto::v1::{self as wire};

/// What a simple query string is searched in.
pub struct SimpleQuery<'a> {
    /// Fields with their weights, and whether each is a text field (prefixes of text
    /// fields are lowercased, as the analyzer would).
    pub fields: &'a [(String, Option<f32>, bool)],
    /// Whitespace means AND rather than OR.
    pub all_terms: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Operator {
    And,
    Or,
}

/// Clauses joined by one operator, as they are read.
struct Group {
    operator: Operator,
    clauses: Vec<wire::Query>,
}

impl Group {
    fn into_query(mut self) -> wire::Query {
        if self.clauses.len() == 1 {
            return self.clauses.pop().expect("one clause");
        }
        let query = match self.operator {
            Operator::And => wire::BoolQuery { must: self.clauses, ..Default::default() },
            Operator::Or => wire::BoolQuery { should: self.clauses, ..Default::default() },
        };
        wire::Query { kind: Some(Kind::Bool(query)), boost: None }
    }
}

/// Adds `clause` to what was read so far with `operator`: a change of operator makes the
/// group so far one clause of the new one.
fn combine(group: Option<Group>, operator: Operator, clause: wire::Query) -> Group {
    match group {
        None => Group { operator, clauses: vec![clause] },
        Some(mut group) if group.operator == operator || group.clauses.len() == 1 => {
            group.operator = operator;
            group.clauses.push(clause);
            group
        }
        Some(group) => Group { operator, clauses: vec![group.into_query(), clause] },
    }
}

struct Reader<'t> {
    chars: std::iter::Peekable<std::str::Chars<'t>>,
}

impl SimpleQuery<'_> {
    /// The structured query of `text`; a query with no clause matches nothing.
    pub fn parse(&self, text: &str) -> Result<wire::Query, String> {
        let mut reader = Reader { chars: text.chars().peekable() };
        let query = self.expression(&mut reader, 0)?;
        if reader.chars.next().is_some() {
            return Err("a `)` closes no group".into());
        }
        Ok(query.unwrap_or(wire::Query { kind: Some(Kind::MatchNone(wire::MatchNone {})), boost: None }))
    }

    fn default_operator(&self) -> Operator {
        if self.all_terms { Operator::And } else { Operator::Or }
    }

    /// Clauses up to the end or the `)` that closes this group (left unread).
    fn expression(&self, reader: &mut Reader<'_>, depth: usize) -> Result<Option<wire::Query>, String> {
        if depth > 16 {
            return Err("groups nest deeper than 16 levels".into());
        }
        let mut group: Option<Group> = None;
        let mut operator: Option<Operator> = None;
        loop {
            match reader.chars.peek().copied() {
                None | Some(')') => break,
                Some(c) if c.is_whitespace() => {
                    reader.chars.next();
                }
                Some('+') => {
                    reader.chars.next();
                    operator = Some(Operator::And);
                }
                Some('|') => {
                    reader.chars.next();
                    operator = Some(Operator::Or);
                }
                Some(_) => {
                    let Some(clause) = self.clause(reader, depth)? else { continue };
                    let joined = operator.take().unwrap_or_else(|| self.default_operator());
                    group = Some(combine(group, joined, clause));
                }
            }
        }
        Ok(group.map(Group::into_query))
    }

    /// One clause: `-` negation, a group, a phrase, or a word (a prefix when it ends in `*`).
    fn clause(&self, reader: &mut Reader<'_>, depth: usize) -> Result<Option<wire::Query>, String> {
        let mut negated = false;
        while reader.chars.peek() == Some(&'-') {
            reader.chars.next();
            negated = !negated;
        }
        let inner = match reader.chars.peek().copied() {
            Some('(') => {
                reader.chars.next();
                let inner = self.expression(reader, depth + 1)?;
                if reader.chars.next() != Some(')') {
                    return Err("a `(` is not closed".into());
                }
                inner
            }
            Some('"') => {
                reader.chars.next();
                let mut phrase = String::new();
                loop {
                    match reader.chars.next() {
                        None => return Err("a `\"` is not closed".into()),
                        Some('"') => break,
                        Some('\\') => phrase.extend(reader.chars.next()),
                        Some(c) => phrase.push(c),
                    }
                }
                let slop = if reader.chars.peek() == Some(&'~') {
                    reader.chars.next();
                    let digits = read_word(reader);
                    digits.parse::<u32>().map_err(|_| format!("`~{digits}` after a phrase must be a slop count"))?
                } else {
                    0
                };
                Some(self.per_field(|field, _| {
                    Kind::MatchPhrase(wire::MatchPhraseQuery {
                        field: field.to_string(),
                        text: phrase.clone(),
                        slop,
                        zero_terms_match_all: false,
                    })
                }))
            }
            Some(_) => {
                let word = read_word(reader);
                if word.is_empty() {
                    return Ok(None);
                }
                if reader.chars.peek() == Some(&'~') {
                    return Err(format!("fuzzy terms (`{word}~`) are not supported"));
                }
                Some(match word.strip_suffix('*') {
                    Some(prefix) if !prefix.is_empty() => self.per_field(|field, is_text| {
                        let prefix = if is_text { prefix.to_lowercase() } else { prefix.to_string() };
                        Kind::Prefix(wire::PrefixQuery { field: field.to_string(), prefix })
                    }),
                    _ => self.per_field(|field, _| {
                        Kind::Match(wire::MatchQuery {
                            field: field.to_string(),
                            text: word.clone(),
                            all_terms: self.all_terms,
                            ..Default::default()
                        })
                    }),
                })
            }
            None => None,
        };
        Ok(match (inner, negated) {
            (Some(inner), true) => Some(wire::Query {
                kind: Some(Kind::Bool(wire::BoolQuery { must_not: vec![inner], ..Default::default() })),
                boost: None,
            }),
            (inner, _) => inner,
        })
    }

    /// The clause asked of every field, the fields' scores summed.
    fn per_field(&self, clause: impl Fn(&str, bool) -> Kind) -> wire::Query {
        let mut queries: Vec<wire::Query> = (self.fields.iter())
            .map(|(field, weight, is_text)| wire::Query { kind: Some(clause(field, *is_text)), boost: *weight })
            .collect();
        if queries.len() == 1 {
            return queries.pop().expect("one field");
        }
        wire::Query { kind: Some(Kind::Bool(wire::BoolQuery { should: queries, ..Default::default() })), boost: None }
    }
}

/// Characters up to whitespace or an operator, with `\` escaping the next one.
fn read_word(reader: &mut Reader<'_>) -> String {
    let mut word = String::new();
    while let Some(&c) = reader.chars.peek() {
        match c {
            c if c.is_whitespace() => break,
            '+' | '|' | '(' | ')' | '"' | '~' => break,
            '\\' => {
                reader.chars.next();
                word.extend(reader.chars.next());
            }
            c => {
                word.push(c);
                reader.chars.next();
            }
        }
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, all_terms: bool) -> Result<wire::Query, String> {
        let fields = [("title".to_string(), None, true)];
        SimpleQuery { fields: &fields, all_terms }.parse(text)
    }

    fn word(text: &str, all_terms: bool) -> wire::Query {
        let kind =
            Kind::Match(wire::MatchQuery { field: "title".into(), text: text.into(), all_terms, ..Default::default() });
        wire::Query { kind: Some(kind), boost: None }
    }

    fn bool_query(query: wire::BoolQuery) -> wire::Query {
        wire::Query { kind: Some(Kind::Bool(query)), boost: None }
    }

    #[test]
    fn operators_combine_left_to_right() {
        let or = parse("rust search", false).unwrap();
        assert_eq!(
            or,
            bool_query(wire::BoolQuery {
                should: vec![word("rust", false), word("search", false)],
                ..Default::default()
            })
        );
        let and = parse("rust search", true).unwrap();
        assert_eq!(
            and,
            bool_query(wire::BoolQuery { must: vec![word("rust", true), word("search", true)], ..Default::default() })
        );
        // (a OR b) AND c, as Lucene reads it.
        let mixed = parse("a b + c", false).unwrap();
        let either =
            bool_query(wire::BoolQuery { should: vec![word("a", false), word("b", false)], ..Default::default() });
        assert_eq!(mixed, bool_query(wire::BoolQuery { must: vec![either, word("c", false)], ..Default::default() }));
        let explicit = parse("a|b", true).unwrap();
        assert_eq!(
            explicit,
            bool_query(wire::BoolQuery { should: vec![word("a", true), word("b", true)], ..Default::default() })
        );
    }

    #[test]
    fn negation_phrases_prefixes_and_groups() {
        let negated = parse("-rust", false).unwrap();
        assert_eq!(negated, bool_query(wire::BoolQuery { must_not: vec![word("rust", false)], ..Default::default() }));
        let phrase = parse("\"rust belt\"~2", false).unwrap();
        let expected = Kind::MatchPhrase(wire::MatchPhraseQuery {
            field: "title".into(),
            text: "rust belt".into(),
            slop: 2,
            zero_terms_match_all: false,
        });
        assert_eq!(phrase.kind, Some(expected));
        let prefix = parse("Eng*", false).unwrap();
        assert_eq!(prefix.kind, Some(Kind::Prefix(wire::PrefixQuery { field: "title".into(), prefix: "eng".into() })));
        let grouped = parse("(a | b) + c", false).unwrap();
        let either =
            bool_query(wire::BoolQuery { should: vec![word("a", false), word("b", false)], ..Default::default() });
        assert_eq!(grouped, bool_query(wire::BoolQuery { must: vec![either, word("c", false)], ..Default::default() }));
        assert_eq!(parse("a\\+b", false).unwrap(), word("a+b", false), "an escaped operator is text");
        assert_eq!(parse("  ", false).unwrap().kind, Some(Kind::MatchNone(wire::MatchNone {})));
    }

    #[test]
    fn every_field_is_asked_and_errors_are_named() {
        let fields = [("title".to_string(), Some(2.0), true), ("body".to_string(), None, true)];
        let both = SimpleQuery { fields: &fields, all_terms: false }.parse("rust").unwrap();
        let Some(Kind::Bool(query)) = both.kind else { panic!("{both:?}") };
        assert_eq!(query.should.len(), 2);
        assert_eq!(query.should[0].boost, Some(2.0));
        assert!(parse("(a", false).unwrap_err().contains("not closed"));
        assert!(parse("a)", false).unwrap_err().contains("closes no group"));
        assert!(parse("\"a b", false).unwrap_err().contains("not closed"));
        assert!(parse("rust~2", false).unwrap_err().contains("fuzzy terms"));
        assert!(parse(&"(".repeat(40), false).unwrap_err().contains("deeper than 16"));
    }
}
