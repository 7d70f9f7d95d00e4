//! Structured queries: a `fanout.v1.Query` tree as the tantivy query every shard runs.
//! The root builds the same query to learn the terms it scores with (their global
//! statistics), and each leaf builds it to search, with the index's own tokenizers, so
//! that a clause means the same everywhere.
//!
//! Semantics follow Elasticsearch's query DSL where tantivy has the same notion:
//! `match` analyzes its text with the field's tokenizer into BM25-scored terms (any, all,
//! or at least N of them), `match_phrase` into a phrase, `bool` combines clauses (filter
//! and must_not never score), `dis_max` takes the best clause plus a tie breaker, and the
//! exact clauses (`terms`, `range`, `exists`, `prefix`, `ids`, `term` on numbers, dates
//! and booleans) score 1. `term` on a text or keyword field scores with BM25 as
//! Elasticsearch does. Every error names the clause by its path, e.g.
//! `query.bool.must[1].match: unknown field "titel"`.

use std::ops::Bound;

use fanout_proto::v1::query::Kind;
use fanout_proto::v1::{self as wire, value};
use serde_json::Value as Json;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, EmptyQuery, ExistsQuery,
    InvertedIndexRangeQuery, Occur, PhraseQuery, Query, QueryParser, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, FieldType, IndexRecordOption};
use tantivy::tokenizer::TokenizerManager;
use tantivy::{Score, Term};

use crate::error::ContractError;
use crate::filters::{range_query, value_term};
use crate::schema::{FieldKind, IndexSchema};

/// The deepest a query tree may nest.
pub const MAX_QUERY_DEPTH: usize = 32;
/// The most clauses one query tree may hold.
pub const MAX_QUERY_CLAUSES: usize = 1024;
/// The most values a `terms` or `ids` clause may list.
pub const MAX_TERMS_VALUES: usize = 65_536;

/// Builds tantivy queries from query trees over one index's schema and tokenizers.
pub struct QueryBuilder<'a> {
    schema: &'a IndexSchema,
    tokenizers: &'a TokenizerManager,
}

/// What building one tree has used and found so far.
#[derive(Default)]
struct Budget {
    clauses: usize,
    /// The terms of the scoring clauses built so far.
    scored: Vec<Term>,
}

fn invalid(path: &str, message: impl std::fmt::Display) -> ContractError {
    ContractError::InvalidRequest(format!("{path}: {message}"))
}

impl<'a> QueryBuilder<'a> {
    /// A builder for the index described by `schema`, analyzing text with `tokenizers`
    /// (the index's own, or a fresh manager's: the built-in tokenizers carry the same
    /// names everywhere).
    pub fn new(schema: &'a IndexSchema, tokenizers: &'a TokenizerManager) -> QueryBuilder<'a> {
        QueryBuilder { schema, tokenizers }
    }

    /// The tantivy query of `query`, or an error naming the clause that cannot be built.
    pub fn build(&self, query: &wire::Query) -> Result<Box<dyn Query>, ContractError> {
        Ok(self.build_scored(query)?.0)
    }

    /// The tantivy query of `query` and the terms it scores with (sorted, without
    /// repeats): those of its scoring clauses, not of filters, exclusions or the clauses
    /// that score 1. These are the terms whose global statistics the shards need.
    pub fn build_scored(&self, query: &wire::Query) -> Result<(Box<dyn Query>, Vec<Term>), ContractError> {
        let mut budget = Budget::default();
        let built = self.node(query, "query", 1, true, &mut budget)?;
        let mut terms = budget.scored;
        terms.sort();
        terms.dedup();
        Ok((built, terms))
    }

    /// [`QueryBuilder::build_scored`]'s terms alone.
    pub fn scored_terms(&self, query: &wire::Query) -> Result<Vec<Term>, ContractError> {
        Ok(self.build_scored(query)?.1)
    }

    /// One clause at `path`; its terms count as scored when `scoring` (it is not under a
    /// filter or an exclusion).
    fn node(
        &self,
        query: &wire::Query,
        path: &str,
        depth: usize,
        scoring: bool,
        budget: &mut Budget,
    ) -> Result<Box<dyn Query>, ContractError> {
        if depth > MAX_QUERY_DEPTH {
            return Err(invalid(path, format!("the query nests deeper than {MAX_QUERY_DEPTH} levels")));
        }
        budget.clauses += 1;
        if budget.clauses > MAX_QUERY_CLAUSES {
            return Err(invalid(path, format!("the query has more than {MAX_QUERY_CLAUSES} clauses")));
        }
        let Some(kind) = &query.kind else {
            return Err(invalid(path, "empty clause: give one of match_all, bool, match, term, …"));
        };
        let built = match kind {
            Kind::MatchAll(_) => Box::new(AllQuery) as Box<dyn Query>,
            Kind::MatchNone(_) => Box::new(EmptyQuery),
            Kind::Bool(bool_query) => self.bool_query(bool_query, &format!("{path}.bool"), depth, scoring, budget)?,
            Kind::Match(clause) => self.match_query(clause, &format!("{path}.match"))?,
            Kind::MatchPhrase(clause) => self.phrase_query(clause, &format!("{path}.match_phrase"))?,
            Kind::DisMax(clause) => {
                let path = format!("{path}.dis_max");
                if clause.queries.is_empty() {
                    return Err(invalid(&path, "needs at least one query"));
                }
                let queries = (clause.queries.iter().enumerate())
                    .map(|(i, query)| self.node(query, &format!("{path}.queries[{i}]"), depth + 1, scoring, budget))
                    .collect::<Result<Vec<_>, _>>()?;
                Box::new(DisjunctionMaxQuery::with_tie_breaker(queries, clause.tie_breaker))
            }
            Kind::Term(clause) => self.term_query(clause, &format!("{path}.term"))?,
            Kind::Terms(clause) => {
                let path = format!("{path}.terms");
                let (field, kind) = self.field(&path, &clause.field)?;
                if clause.values.len() > MAX_TERMS_VALUES {
                    return Err(invalid(&path, format!("more than {MAX_TERMS_VALUES} values")));
                }
                let terms = (clause.values.iter())
                    .map(|value| value_term(field, kind, &clause.field, &json(&path, value.kind.as_ref())?))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|err| invalid(&path, err))?;
                constant(Box::new(TermSetQuery::new(terms)))
            }
            Kind::Range(clause) => {
                let path = format!("{path}.range");
                let (field, kind) = self.field(&path, &clause.field)?;
                if kind == FieldKind::Text {
                    return Err(invalid(
                        &path,
                        format!("`{}` is a text field: ranges apply to keyword, numeric and date fields", clause.field),
                    ));
                }
                let bound = |value: &Option<wire::Value>| -> Result<Option<Json>, ContractError> {
                    value.as_ref().map(|value| json(&path, value.kind.as_ref())).transpose()
                };
                let bounds = [bound(&clause.gt)?, bound(&clause.gte)?, bound(&clause.lt)?, bound(&clause.lte)?];
                let query = range_query(field, kind, &clause.field, &bounds).map_err(|err| invalid(&path, err))?;
                constant(query)
            }
            Kind::Exists(clause) => {
                let path = format!("{path}.exists");
                let (field, kind) = self.field(&path, &clause.field)?;
                match kind {
                    // Text fields are not fast: any term of the field will do.
                    FieldKind::Text => constant(Box::new(InvertedIndexRangeQuery::new(
                        Bound::Included(Term::from_field_text(field, "")),
                        Bound::Unbounded,
                    ))),
                    _ => {
                        let name = self.schema.schema.get_field_name(field).to_string();
                        constant(Box::new(ExistsQuery::new(name, false)))
                    }
                }
            }
            Kind::Prefix(clause) => {
                let path = format!("{path}.prefix");
                let (field, kind) = self.field(&path, &clause.field)?;
                if !matches!(kind, FieldKind::Text | FieldKind::Keyword) {
                    return Err(invalid(
                        &path,
                        format!(
                            "`{}` is a {} field: prefixes apply to text and keyword fields",
                            clause.field,
                            kind.name()
                        ),
                    ));
                }
                constant(prefix_query(field, &clause.prefix))
            }
            Kind::Ids(clause) => {
                if clause.ids.len() > MAX_TERMS_VALUES {
                    return Err(invalid(&format!("{path}.ids"), format!("more than {MAX_TERMS_VALUES} ids")));
                }
                let id_field = self.schema.id_field;
                let terms = clause.ids.iter().map(|id| Term::from_field_text(id_field, id)).collect::<Vec<_>>();
                constant(Box::new(TermSetQuery::new(terms)))
            }
            Kind::QueryString(clause) => self.query_string(clause, &format!("{path}.query_string"))?,
        };
        if scoring && matches!(kind, Kind::Match(_) | Kind::MatchPhrase(_) | Kind::Term(_) | Kind::QueryString(_)) {
            built.query_terms(&mut |term, _| budget.scored.push(term.clone()));
        }
        Ok(match query.boost {
            Some(boost) if !boost.is_finite() || boost < 0.0 => {
                return Err(invalid(path, format!("boost must be a non-negative number, got {boost}")));
            }
            Some(boost) if boost != 1.0 => Box::new(BoostQuery::new(built, boost)),
            _ => built,
        })
    }

    fn bool_query(
        &self,
        query: &wire::BoolQuery,
        path: &str,
        depth: usize,
        scoring: bool,
        budget: &mut Budget,
    ) -> Result<Box<dyn Query>, ContractError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let groups: [(&str, &[wire::Query]); 4] = [
            ("must", &query.must),
            ("filter", &query.filter),
            ("should", &query.should),
            ("must_not", &query.must_not),
        ];
        for (name, group) in groups {
            for (i, clause) in group.iter().enumerate() {
                // Filters and exclusions never score: their terms need no statistics.
                let scores = scoring && matches!(name, "must" | "should");
                let built = self.node(clause, &format!("{path}.{name}[{i}]"), depth + 1, scores, budget)?;
                clauses.push(match name {
                    "must" => (Occur::Must, built),
                    // A filter selects and never scores.
                    "filter" => (Occur::Must, Box::new(ConstScoreQuery::new(built, 0.0))),
                    "should" => (Occur::Should, built),
                    _ => (Occur::MustNot, built),
                });
            }
        }
        if clauses.is_empty() {
            return Ok(Box::new(AllQuery));
        }
        if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
            // Only exclusions: every other document matches, without a score (as
            // Elasticsearch adds a match_all filter).
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(Box::new(AllQuery), 0.0))));
        }
        // As Elasticsearch: without must or filter clauses, one should clause must match.
        let should = query.should.len();
        let required = !query.must.is_empty() || !query.filter.is_empty();
        let default_minimum = usize::from(!required && should > 0);
        let minimum = match query.minimum_should_match.trim() {
            "" => default_minimum,
            spec => minimum_should_match(spec, should).map_err(|err| invalid(path, err))?,
        };
        if minimum > should {
            return Ok(Box::new(EmptyQuery));
        }
        Ok(Box::new(BooleanQuery::with_minimum_required_clauses(clauses, minimum)))
    }

    fn match_query(&self, clause: &wire::MatchQuery, path: &str) -> Result<Box<dyn Query>, ContractError> {
        let (field, kind) = self.field(path, &clause.field)?;
        if kind != FieldKind::Text {
            return self.exact_text(field, kind, &clause.field, &clause.text, path);
        }
        let tokens = self.analyze(field, &clause.text);
        if tokens.is_empty() {
            return Ok(zero_terms(clause.zero_terms_match_all));
        }
        let mut terms: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(tokens.len());
        let occur = if clause.all_terms { Occur::Must } else { Occur::Should };
        for (_, token) in &tokens {
            let term = Term::from_field_text(field, token);
            terms.push((occur, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))));
        }
        let minimum = match clause.minimum_should_match.trim() {
            "" => 1,
            spec => minimum_should_match(spec, terms.len()).map_err(|err| invalid(path, err))?,
        };
        if !clause.all_terms && minimum > terms.len() {
            return Ok(Box::new(EmptyQuery));
        }
        if terms.len() == 1 {
            return Ok(terms.pop().expect("one term").1);
        }
        if !clause.all_terms && minimum > 1 {
            return Ok(Box::new(BooleanQuery::with_minimum_required_clauses(terms, minimum)));
        }
        Ok(Box::new(BooleanQuery::new(terms)))
    }

    fn phrase_query(&self, clause: &wire::MatchPhraseQuery, path: &str) -> Result<Box<dyn Query>, ContractError> {
        let (field, kind) = self.field(path, &clause.field)?;
        if kind != FieldKind::Text {
            return self.exact_text(field, kind, &clause.field, &clause.text, path);
        }
        let mut tokens = self.analyze(field, &clause.text);
        match tokens.len() {
            0 => Ok(zero_terms(clause.zero_terms_match_all)),
            1 => {
                let (_, token) = tokens.pop().expect("one token");
                Ok(Box::new(TermQuery::new(Term::from_field_text(field, &token), IndexRecordOption::WithFreqs)))
            }
            _ => {
                let has_positions = match self.schema.schema.get_field_entry(field).field_type() {
                    FieldType::Str(options) => {
                        options.get_indexing_options().is_some_and(|indexing| indexing.index_option().has_positions())
                    }
                    _ => false,
                };
                if !has_positions {
                    return Err(invalid(path, format!("field `{}` keeps no positions for phrases", clause.field)));
                }
                let terms = tokens
                    .into_iter()
                    .map(|(position, token)| (position, Term::from_field_text(field, &token)))
                    .collect();
                let mut phrase = PhraseQuery::new_with_offset(terms);
                phrase.set_slop(clause.slop);
                Ok(Box::new(phrase))
            }
        }
    }

    /// `match` and `match_phrase` on a field that is not analyzed: the text is the value.
    fn exact_text(
        &self,
        field: Field,
        kind: FieldKind,
        name: &str,
        text: &str,
        path: &str,
    ) -> Result<Box<dyn Query>, ContractError> {
        let value = match kind {
            FieldKind::Keyword => Json::String(text.to_string()),
            _ => serde_json::from_str::<Json>(text.trim()).unwrap_or_else(|_| Json::String(text.to_string())),
        };
        let term = value_term(field, kind, name, &value).map_err(|err| invalid(path, err))?;
        Ok(scored_term(term, kind))
    }

    fn term_query(&self, clause: &wire::TermQuery, path: &str) -> Result<Box<dyn Query>, ContractError> {
        let (field, kind) = self.field(path, &clause.field)?;
        let value = json(path, clause.value.as_ref().and_then(|value| value.kind.as_ref()))?;
        let term = value_term(field, kind, &clause.field, &value).map_err(|err| invalid(path, err))?;
        if field == self.schema.id_field {
            return Ok(constant(Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
        }
        Ok(scored_term(term, kind))
    }

    fn query_string(&self, clause: &wire::QueryStringQuery, path: &str) -> Result<Box<dyn Query>, ContractError> {
        let fields = if clause.fields.is_empty() {
            self.schema.default_search_fields.clone()
        } else {
            (clause.fields.iter())
                .map(|name| self.field(path, name).map(|(field, _)| field))
                .collect::<Result<_, _>>()?
        };
        let mut parser = QueryParser::new(self.schema.schema.clone(), fields, self.tokenizers.clone());
        if clause.all_terms {
            parser.set_conjunction_by_default();
        }
        parser
            .parse_query(&clause.query)
            .map_err(|err| invalid(path, format!("cannot parse {:?}: {err}", clause.query)))
    }

    /// The field named `name` (`_id` or the id field's own name: the id field) and its kind.
    fn field(&self, path: &str, name: &str) -> Result<(Field, FieldKind), ContractError> {
        if name == "_id" || name == self.schema.id_field_name() {
            return Ok((self.schema.id_field, FieldKind::Keyword));
        }
        match self.schema.fields.iter().find(|(spec, _)| spec.name == name) {
            Some((spec, field)) => Ok((*field, spec.kind)),
            None => {
                let known: Vec<&str> = self.schema.fields.iter().map(|(spec, _)| spec.name.as_str()).collect();
                Err(invalid(path, format!("unknown field `{name}` (the index has: {})", known.join(", "))))
            }
        }
    }

    /// The tokens of `text` under `field`'s tokenizer, with their positions.
    fn analyze(&self, field: Field, text: &str) -> Vec<(usize, String)> {
        let tokenizer = match self.schema.schema.get_field_entry(field).field_type() {
            FieldType::Str(options) => options.get_indexing_options().map(|indexing| indexing.tokenizer().to_string()),
            _ => None,
        };
        let Some(mut analyzer) = tokenizer.and_then(|name| self.tokenizers.get(&name)) else {
            return Vec::new();
        };
        let mut stream = analyzer.token_stream(text);
        let mut tokens = Vec::new();
        while let Some(token) = stream.next() {
            tokens.push((token.position, token.text.clone()));
        }
        tokens
    }
}

/// Whether a query reads documents beyond the postings of the terms it scores (a match
/// all, a range, a prefix…): the work it costs is not estimated by its terms' statistics.
pub fn reads_beyond_scored_terms(query: &wire::Query) -> bool {
    match &query.kind {
        None | Some(Kind::MatchNone(_) | Kind::Match(_) | Kind::MatchPhrase(_) | Kind::Term(_)) => false,
        Some(Kind::Bool(bool_query)) => {
            let only_negative =
                bool_query.must.is_empty() && bool_query.should.is_empty() && bool_query.filter.is_empty();
            only_negative
                || [&bool_query.must, &bool_query.should, &bool_query.must_not, &bool_query.filter]
                    .into_iter()
                    .flatten()
                    .any(reads_beyond_scored_terms)
        }
        Some(Kind::DisMax(clause)) => clause.queries.iter().any(reads_beyond_scored_terms),
        Some(_) => true,
    }
}

/// How many of `optional` clauses must match under Elasticsearch's `minimum_should_match`
/// forms: `N`, `-N` (all but N), `P%` and `-P%` (rounded down), never below 0 nor above
/// `optional`.
pub fn minimum_should_match(spec: &str, optional: usize) -> Result<usize, String> {
    let unreadable = || format!("minimum_should_match {spec:?}: expected N, -N, P% or -P%");
    let (negative, magnitude) = match spec.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let count = match magnitude.strip_suffix('%') {
        Some(percent) => {
            let percent: usize = percent.trim().parse().map_err(|_| unreadable())?;
            if percent > 100 {
                return Err(format!("minimum_should_match {spec:?}: a percentage is at most 100%"));
            }
            optional * percent / 100
        }
        None => magnitude.trim().parse().map_err(|_| unreadable())?,
    };
    Ok(if negative { optional.saturating_sub(count) } else { count })
}

/// A term scored with BM25 on text and keyword fields, with 1 on the others.
fn scored_term(term: Term, kind: FieldKind) -> Box<dyn Query> {
    match kind {
        FieldKind::Text => Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
        FieldKind::Keyword => Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
        _ => constant(Box::new(TermQuery::new(term, IndexRecordOption::Basic))),
    }
}

/// Every document `query` matches scores 1.
fn constant(query: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, 1.0 as Score))
}

fn zero_terms(match_all: bool) -> Box<dyn Query> {
    if match_all { Box::new(AllQuery) } else { Box::new(EmptyQuery) }
}

/// Terms that start with `prefix`: from `prefix` up to the first byte string after every
/// such term (the term dictionary is ordered by bytes).
fn prefix_query(field: Field, prefix: &str) -> Box<dyn Query> {
    let lower = Bound::Included(Term::from_field_text(field, prefix));
    let mut end = prefix.as_bytes().to_vec();
    while end.last() == Some(&u8::MAX) {
        end.pop();
    }
    let upper = match end.last_mut() {
        Some(last) => {
            *last += 1;
            let mut term = Term::from_field_text(field, "");
            term.set_bytes(&end);
            Bound::Excluded(term)
        }
        None => Bound::Unbounded,
    };
    Box::new(InvertedIndexRangeQuery::new(lower, upper))
}

/// A wire value as the JSON value the field conversions read.
fn json(path: &str, value: Option<&value::Kind>) -> Result<Json, ContractError> {
    Ok(match value {
        None => return Err(invalid(path, "a value is missing")),
        Some(value::Kind::Text(text)) => Json::String(text.clone()),
        Some(value::Kind::Integer(number)) => Json::from(*number),
        Some(value::Kind::Unsigned(number)) => Json::from(*number),
        Some(value::Kind::Float(number)) => {
            serde_json::Number::from_f64(*number).map(Json::Number).ok_or_else(|| invalid(path, "not a number"))?
        }
        Some(value::Kind::Boolean(flag)) => Json::Bool(*flag),
    })
}

#[cfg(test)]
mod tests;
