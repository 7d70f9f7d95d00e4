//! The index's own query analysis at the root: the served schema (as the leaves' `Info`
//! describes it) with tantivy's built-in tokenizers, the same ones every shard's index
//! carries by the same names, so the root parses a query into exactly the terms each
//! shard would.

use fanout_contracts::IndexSchema;
use fanout_contracts::schema::SchemaFile;
use fanout_contracts::structured::QueryBuilder;
use fanout_contracts::terms::encode_term;
use fanout_proto::v1::InfoResponse;
use tantivy::query::{Query, QueryParser};
use tantivy::schema::Schema;
use tantivy::{Index, Term};

use crate::error::RootError;
use crate::search::request::ValidRequest;

/// Parses queries as the shards do.
pub struct QueryAnalyzer {
    parser: QueryParser,
    index: Index,
    schema: IndexSchema,
}

impl std::fmt::Debug for QueryAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryAnalyzer").finish_non_exhaustive()
    }
}

impl QueryAnalyzer {
    /// The analyzer of the schema a leaf's `Info` carries.
    pub fn from_info(info: &InfoResponse) -> Result<QueryAnalyzer, RootError> {
        let file: SchemaFile = serde_json::from_str(&info.schema_json)
            .map_err(|err| RootError::Internal(format!("shard {}: invalid schema: {err}", info.shard_id)))?;
        let schema =
            IndexSchema::build(file).map_err(|err| RootError::Internal(format!("shard {}: {err}", info.shard_id)))?;
        // A tantivy index in memory carries the same built-in tokenizers, by the same
        // names, as the shards' indexes: the root analyzes exactly as they did.
        let index = Index::create_in_ram(schema.schema.clone());
        let parser = QueryParser::for_index(&index, schema.default_search_fields.clone());
        Ok(QueryAnalyzer { parser, index, schema })
    }

    /// Parses a query in tantivy's syntax over the default search fields; a query the
    /// shards would refuse is refused here, with the same message.
    pub fn parse(&self, query: &str) -> Result<Box<dyn Query>, RootError> {
        self.parser
            .parse_query(query)
            .map_err(|err| RootError::InvalidArgument(format!("invalid query {query:?}: {err}")))
    }

    /// The terms `query` scores with, as each shard finds them (sorted, without repeats),
    /// encoded for the wire.
    pub fn scored_terms(&self, query: &str) -> Result<Vec<Vec<u8>>, RootError> {
        let parsed = self.parse(query)?;
        let mut terms: Vec<Term> = Vec::new();
        parsed.query_terms(&mut |term, _| terms.push(term.clone()));
        terms.sort();
        terms.dedup();
        Ok(terms.iter().map(encode_term).collect())
    }

    /// The tantivy query of a structured query, as each shard builds it.
    pub fn build(&self, tree: &fanout_proto::v1::Query) -> Result<Box<dyn Query>, RootError> {
        QueryBuilder::new(&self.schema, self.index.tokenizers())
            .build(tree)
            .map_err(|err| RootError::InvalidArgument(err.to_string()))
    }

    /// The terms a request scores with (its query text's or its structured query's), as
    /// each shard finds them, encoded for the wire; a query the shards would refuse is
    /// refused here, with the same message.
    pub fn scored_terms_of(&self, request: &ValidRequest) -> Result<Vec<Vec<u8>>, RootError> {
        let Some(tree) = &request.structured else { return self.scored_terms(&request.query) };
        let (_, terms) = QueryBuilder::new(&self.schema, self.index.tokenizers())
            .build_scored(tree)
            .map_err(|err| RootError::InvalidArgument(err.to_string()))?;
        Ok(terms.iter().map(encode_term).collect())
    }

    /// The served schema, as fanout declares it.
    pub fn index_schema(&self) -> &IndexSchema {
        &self.schema
    }

    /// The served schema.
    pub fn schema(&self) -> Schema {
        self.index.schema()
    }
}
