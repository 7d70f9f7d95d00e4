//! Terms on the wire: tantivy `Term`s encoded with postcard (over tantivy's serde form),
//! as global statistics and snippets carry them. Field ids must match on every shard,
//! which the schema guarantees (see [`crate::schema`]).

use tantivy::Term;

use crate::error::ContractError;

/// Encodes a term for the wire.
pub fn encode_term(term: &Term) -> Vec<u8> {
    postcard::to_allocvec(term).expect("a term always serializes")
}

/// Decodes a term encoded by [`encode_term`].
pub fn decode_term(bytes: &[u8]) -> Result<Term, ContractError> {
    postcard::from_bytes(bytes)
        .map_err(|err| ContractError::InvalidRequest(format!("invalid term in statistics: {err}")))
}

#[cfg(test)]
mod tests {
    use tantivy::schema::{Schema, TEXT};

    use super::*;

    #[test]
    fn terms_round_trip_and_garbage_is_refused() {
        let mut builder = Schema::builder();
        let field = builder.add_text_field("title", TEXT);
        let term = Term::from_field_text(field, "cache");
        assert_eq!(decode_term(&encode_term(&term)).unwrap(), term);
        assert!(decode_term(&[0xff, 0xff]).unwrap_err().to_string().starts_with("invalid term in statistics"));
    }
}
