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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_words_and_drops_syntax() {
        assert_eq!(words_query("what's the mach-number: (M > 2)?"), "what s the mach number M 2");
        assert_eq!(words_query("cats AND dogs OR \"birds\""), "cats and dogs or birds");
        assert_eq!(words_query("  "), "");
    }
}
