//! Free text as a query: users' search-box input (and real query logs) contains characters
//! that tantivy's query syntax reserves. [`words_query`] keeps only the words, which is
//! what the default tokenizer would have made of that text anyway.

/// Characters with a meaning in tantivy's query syntax.
const RESERVED: &[char] = &[
    '+', '-', '&', '|', '!', '(', ')', '{', '}', '[', ']', '^', '"', '~', '*', '?', ':', '\\', '/', '\'', '<', '>', '=',
];

/// The text with every reserved character replaced by a space and the boolean keywords
/// lowercased, so that it parses as a plain disjunction of its words.
pub fn words_query(text: &str) -> String {
    let spaced: String = text.chars().map(|c| if RESERVED.contains(&c) { ' ' } else { c }).collect();
    spaced
        .split_whitespace()
        .map(|word| if matches!(word, "AND" | "OR" | "NOT" | "IN") { word.to_lowercase() } else { word.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of `text` as tantivy's `default` tokenizer cuts them (split on anything not
/// alphanumeric, lowercased): each one is a single token under every built-in tokenizer,
/// so a query built of them holds no phrase.
pub fn default_tokens(text: &str) -> Vec<String> {
    let mut analyzer =
        tantivy::tokenizer::TokenizerManager::default().get("default").expect("tantivy's default tokenizer");
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while let Some(token) = stream.next() {
        tokens.push(token.text.clone());
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_words_and_drops_syntax() {
        assert_eq!(words_query("what's the mach-number: (M > 2)?"), "what s the mach number M 2");
        assert_eq!(words_query("cats AND dogs OR \"birds\""), "cats and dogs or birds");
        assert_eq!(words_query("  "), "");
    }

    #[test]
    fn cuts_words_as_the_default_tokenizer() {
        assert_eq!(default_tokens("What's the Mach-number?"), ["what", "s", "the", "mach", "number"]);
    }
}
