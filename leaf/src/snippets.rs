//! Snippets: highlighted fragments of text fields, computed in the fetch phase. Terms are
//! weighted with the *global* document frequencies the root sends (tantivy's own weight,
//! 1 / (1 + doc_freq)), so a shard picks the fragment one index over everything would.

use std::collections::{BTreeMap, HashMap};

use fanout_contracts::{FieldKind, IndexSchema};
use fanout_proto::v1::{GlobalStats, Highlight};
use tantivy::query::Query;
use tantivy::schema::Field;
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, Searcher, TantivyDocument, Term};

use crate::error::LeafError;
use fanout_contracts::terms::decode_term;

/// Default length of a fragment, in characters.
pub const DEFAULT_MAX_CHARS: usize = 150;

/// One generator per highlighted field, and the tags to wrap matches in.
pub struct Highlighter {
    generators: Vec<(String, SnippetGenerator)>,
    pre_tag: String,
    post_tag: String,
}

impl Highlighter {
    /// Prepares snippets of `highlight.fields` for `query`, its terms weighted with the
    /// global `stats` (the shard's own document frequencies for terms they lack).
    pub fn new(
        highlight: &Highlight,
        stats: Option<&GlobalStats>,
        query: &dyn Query,
        schema: &IndexSchema,
        index: &Index,
        searcher: &Searcher,
    ) -> Result<Highlighter, LeafError> {
        let global: HashMap<Term, u64> = match stats {
            Some(stats) => stats
                .doc_freqs
                .iter()
                .map(|entry| Ok((decode_term(&entry.term)?, entry.doc_freq)))
                .collect::<Result<_, LeafError>>()?,
            None => HashMap::new(),
        };
        let max_chars = if highlight.max_chars == 0 { DEFAULT_MAX_CHARS } else { highlight.max_chars as usize };
        let mut generators = Vec::with_capacity(highlight.fields.len());
        for name in &highlight.fields {
            let field = highlightable(schema, name)?;
            let mut terms_text: BTreeMap<String, f32> = BTreeMap::new();
            let mut terms: Vec<Term> = Vec::new();
            query.query_terms(&mut |term, _| {
                if term.field() == field {
                    terms.push(term.clone());
                }
            });
            for term in terms {
                let Some(text) = term.value().as_str().map(str::to_string) else { continue };
                let doc_freq = match global.get(&term) {
                    Some(doc_freq) => *doc_freq,
                    None => searcher.doc_freq(&term)?,
                };
                if doc_freq > 0 {
                    terms_text.insert(text, 1.0 / (1.0 + doc_freq as f32));
                }
            }
            let tokenizer = index.tokenizer_for_field(field)?;
            generators.push((name.clone(), SnippetGenerator::new(terms_text, tokenizer, field, max_chars)));
        }
        let tag = |tag: &str, default: &str| if tag.is_empty() { default.to_string() } else { tag.to_string() };
        Ok(Highlighter {
            generators,
            pre_tag: tag(&highlight.pre_tag, "<b>"),
            post_tag: tag(&highlight.post_tag, "</b>"),
        })
    }

    /// The highlighted fragment of each field of `document` (HTML-escaped).
    pub fn highlight(&self, document: &TantivyDocument) -> HashMap<String, String> {
        self.generators
            .iter()
            .map(|(name, generator)| {
                let mut snippet = generator.snippet_from_doc(document);
                snippet.set_snippet_prefix_postfix(&self.pre_tag, &self.post_tag);
                (name.clone(), snippet.to_html())
            })
            .collect()
    }
}

fn highlightable(schema: &IndexSchema, name: &str) -> Result<Field, LeafError> {
    match schema.fields.iter().find(|(spec, _)| spec.name == name) {
        Some((spec, field)) if spec.kind == FieldKind::Text && spec.stored => Ok(*field),
        Some((spec, _)) if spec.kind == FieldKind::Text => {
            Err(LeafError::InvalidArgument(format!("cannot highlight field `{name}`: it is not stored")))
        }
        Some(_) => {
            Err(LeafError::InvalidArgument(format!("cannot highlight field `{name}`: only text fields have snippets")))
        }
        None => Err(LeafError::InvalidArgument(format!("cannot highlight unknown field `{name}`"))),
    }
}
