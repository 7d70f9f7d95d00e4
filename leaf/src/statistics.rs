//! Global BM25 statistics: what the root sums over every shard so that each leaf scores
//! exactly as a single index over all documents would.

use std::collections::HashMap;

use fanout_proto::v1::{GlobalStats, StatsResponse, TermDocFreq};
use tantivy::query::{Bm25StatisticsProvider, Query};
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

use fanout_contracts::limits::MAX_STATISTICS_TERMS;
use fanout_contracts::terms::{decode_term, encode_term};

use crate::error::LeafError;

/// Statistics received from the root, backed by the local searcher for anything the
/// root did not send (which only happens for terms the root's query did not contain).
pub struct GlobalStatistics<'a> {
    total_num_docs: u64,
    total_num_tokens: HashMap<u32, u64>,
    doc_freqs: HashMap<Term, u64>,
    local: &'a Searcher,
}

impl<'a> GlobalStatistics<'a> {
    /// Decodes the root's statistics.
    pub fn decode(stats: &GlobalStats, local: &'a Searcher) -> Result<Self, LeafError> {
        let mut doc_freqs = HashMap::with_capacity(stats.doc_freqs.len());
        for entry in &stats.doc_freqs {
            doc_freqs.insert(decode_term(&entry.term)?, entry.doc_freq);
        }
        Ok(GlobalStatistics {
            total_num_docs: stats.total_num_docs,
            total_num_tokens: stats.total_num_tokens.clone(),
            doc_freqs,
            local,
        })
    }
}

impl Bm25StatisticsProvider for GlobalStatistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        match self.total_num_tokens.get(&field.field_id()) {
            Some(tokens) => Ok(*tokens),
            None => self.local.total_num_tokens(field),
        }
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.total_num_docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        match self.doc_freqs.get(term) {
            Some(doc_freq) => Ok(*doc_freq),
            None => self.local.doc_freq(term),
        }
    }
}

/// The terms a query scores with, sorted and without repeats: the terms its statistics
/// are asked for.
pub fn query_terms(query: &dyn Query) -> Vec<Term> {
    let mut terms: Vec<Term> = Vec::new();
    query.query_terms(&mut |term, _| terms.push(term.clone()));
    terms.sort();
    terms.dedup();
    terms
}

/// Decodes the terms a statistics request names, refusing more than [`MAX_STATISTICS_TERMS`].
pub fn decode_terms(encoded: &[Vec<u8>]) -> Result<Vec<Term>, LeafError> {
    if encoded.len() > MAX_STATISTICS_TERMS {
        return Err(LeafError::InvalidArgument(format!(
            "a statistics request names {} terms; at most {MAX_STATISTICS_TERMS} are answered",
            encoded.len()
        )));
    }
    encoded.iter().map(|term| decode_term(term).map_err(LeafError::from)).collect()
}

/// This shard's share of the statistics of `terms`: document count, token counts of the
/// given scored fields and the document frequency of each term (the caller fills in the
/// generation).
pub fn local_statistics(
    searcher: &Searcher,
    terms: &[Term],
    scored_fields: &[Field],
) -> Result<StatsResponse, LeafError> {
    let total_num_docs = Bm25StatisticsProvider::total_num_docs(searcher)?;
    let mut total_num_tokens = HashMap::with_capacity(scored_fields.len());
    for field in scored_fields {
        total_num_tokens.insert(field.field_id(), searcher.total_num_tokens(*field)?);
    }
    let mut doc_freqs = Vec::with_capacity(terms.len());
    for term in terms {
        doc_freqs.push(TermDocFreq { doc_freq: searcher.doc_freq(term)?, term: encode_term(term) });
    }
    Ok(StatsResponse { total_num_docs, total_num_tokens, doc_freqs, generation: 0, identity: None })
}
