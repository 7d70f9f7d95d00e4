//! From a parsed query to what the term layout can evaluate: a tree of boolean nodes
//! over single terms, and the list of distinct terms with the shard that owns each.
//! Anything else (phrases, ranges, `*`, boosts) is refused with the part it cannot do.

use fanout_contracts::term_layout::shard_for_term;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{FieldType, Schema};

use crate::error::RootError;

/// A query the term layout can answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// The documents holding one term: an index into [`QueryPlan::terms`].
    Term(usize),
    /// tantivy's boolean semantics: every `must`, at least one `should` when there is no
    /// `must`, no `must_not`; the score is the sum of the matching `must` and `should`.
    Bool {
        /// Required clauses.
        must: Vec<Plan>,
        /// Optional clauses that add to the score.
        should: Vec<Plan>,
        /// Excluding clauses.
        must_not: Vec<Plan>,
    },
    /// Matches nothing (a query whose words all tokenize to nothing).
    Empty,
}

/// One distinct term of a query.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedTerm {
    /// The field's name.
    pub field: String,
    /// The term, as the field's tokenizer produced it.
    pub text: String,
    /// The tantivy term (for snippet statistics).
    pub term: Term,
    /// The shard that owns the term's postings.
    pub shard: u32,
}

/// A query ready for the term layout.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPlan {
    /// The boolean tree.
    pub root: Plan,
    /// The distinct terms the tree refers to.
    pub terms: Vec<PlannedTerm>,
}

impl QueryPlan {
    /// Plans `query` over `shard_count` term shards.
    pub fn new(query: &dyn Query, schema: &Schema, shard_count: u32) -> Result<QueryPlan, RootError> {
        let mut planner = Planner { schema, shard_count, terms: Vec::new() };
        let root = planner.plan(query)?;
        Ok(QueryPlan { root, terms: planner.terms })
    }
}

struct Planner<'a> {
    schema: &'a Schema,
    shard_count: u32,
    terms: Vec<PlannedTerm>,
}

impl Planner<'_> {
    fn plan(&mut self, query: &dyn Query) -> Result<Plan, RootError> {
        if let Some(term) = query.downcast_ref::<TermQuery>() {
            return self.term(term.term()).map(Plan::Term);
        }
        if let Some(boolean) = query.downcast_ref::<BooleanQuery>() {
            if boolean.get_minimum_number_should_match() > 1 {
                return Err(unsupported("a minimum number of optional clauses to match"));
            }
            let (mut must, mut should, mut must_not) = (Vec::new(), Vec::new(), Vec::new());
            for (occur, clause) in boolean.clauses() {
                let planned = self.plan(clause.as_ref())?;
                match occur {
                    Occur::Must => must.push(planned),
                    Occur::Should => should.push(planned),
                    Occur::MustNot => must_not.push(planned),
                }
            }
            return Ok(Plan::Bool { must, should, must_not });
        }
        if query.downcast_ref::<EmptyQuery>().is_some() {
            return Ok(Plan::Empty);
        }
        if let Some(phrase) = query.downcast_ref::<PhraseQuery>() {
            let words: Vec<String> =
                phrase.phrase_terms().iter().filter_map(|term| term.value().as_str().map(str::to_string)).collect();
            return Err(unsupported(&format!(
                "the phrase \"{}\" in field `{}` (as its tokenizer cut it): term shards keep no positions (a \
                 word the tokenizer splits, like `e-mail`, is a phrase too); search for the words without quotes",
                words.join(" "),
                self.schema.get_field_name(phrase.field())
            )));
        }
        if query.downcast_ref::<AllQuery>().is_some() {
            return Err(unsupported("`*` or a query of only excluded terms (every document)"));
        }
        if query.downcast_ref::<BoostQuery>().is_some() {
            return Err(unsupported("boosts (`^`)"));
        }
        if query.downcast_ref::<RangeQuery>().is_some() {
            return Err(unsupported("range queries; use filters on a document-partitioned index"));
        }
        let kind = format!("{query:?}");
        let kind = kind.split(['(', ' ', '{']).next().unwrap_or("this query");
        Err(unsupported(&format!("{kind} queries")))
    }

    /// The index of `term` in the term list, added if new.
    fn term(&mut self, term: &Term) -> Result<usize, RootError> {
        if let Some(index) = self.terms.iter().position(|planned| &planned.term == term) {
            return Ok(index);
        }
        let entry = self.schema.get_field_entry(term.field());
        let field = entry.name().to_string();
        let text = match (entry.field_type(), term.value().as_str()) {
            (FieldType::Str(_), Some(text)) => text.to_string(),
            (field_type, _) => {
                return Err(unsupported(&format!(
                    "terms of the {} field `{field}`: term shards hold text and keyword fields only",
                    field_type.value_type().name().to_lowercase()
                )));
            }
        };
        let shard = shard_for_term(&field, &text, self.shard_count);
        self.terms.push(PlannedTerm { field, text, term: term.clone(), shard });
        Ok(self.terms.len() - 1)
    }
}

fn unsupported(what: &str) -> RootError {
    RootError::InvalidArgument(format!("the term-partitioned layout cannot answer {what}"))
}

#[cfg(test)]
mod tests {
    use tantivy::Index;
    use tantivy::query::QueryParser;
    use tantivy::schema::{STRING, TEXT};

    use super::*;

    fn plan(query: &str) -> Result<QueryPlan, RootError> {
        let mut builder = Schema::builder();
        let title = builder.add_text_field("title", TEXT);
        let body = builder.add_text_field("body", TEXT);
        builder.add_text_field("by", STRING);
        builder.add_i64_field("points", tantivy::schema::INDEXED);
        let index = Index::create_in_ram(builder.build());
        let parsed = QueryParser::for_index(&index, vec![title, body]).parse_query(query).unwrap();
        QueryPlan::new(parsed.as_ref(), &index.schema(), 4)
    }

    fn names(plan: &QueryPlan) -> Vec<String> {
        plan.terms.iter().map(|term| format!("{}:{}", term.field, term.text)).collect()
    }

    #[test]
    fn plans_conjunctions_and_disjunctions_over_the_default_fields() {
        let both = plan("+Rust +search").unwrap();
        assert_eq!(names(&both), ["title:rust", "body:rust", "title:search", "body:search"]);
        let Plan::Bool { must, should, must_not } = &both.root else { panic!("{both:?}") };
        assert_eq!((must.len(), should.len(), must_not.len()), (2, 0, 0));
        for term in &both.terms {
            assert_eq!(term.shard, shard_for_term(&term.field, &term.text, 4));
        }
        let either = plan("rust search -java by:pg").unwrap();
        assert_eq!(
            names(&either),
            ["title:rust", "body:rust", "title:search", "body:search", "title:java", "body:java", "by:pg"]
        );
    }

    #[test]
    fn a_repeated_term_is_asked_for_once() {
        let repeated = plan("rust rust").unwrap();
        assert_eq!(names(&repeated), ["title:rust", "body:rust"]);
    }

    #[test]
    fn refuses_what_term_shards_cannot_answer_and_names_it() {
        let error = |query: &str| plan(query).unwrap_err().to_string();
        assert!(error("\"distributed search\"").contains("the phrase \"distributed search\" in field `title`"));
        assert!(error("e-mail").contains("phrase \"e mail\""), "{}", error("e-mail"));
        assert!(error("*").contains("`*`"));
        assert!(error("rust^2").contains("boosts"));
        assert!(error("points:[1 TO 5]").contains("range"));
        assert!(error("points:5").contains("the i64 field `points`"), "{}", error("points:5"));
    }
}
