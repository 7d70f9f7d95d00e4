//! The request limits every role enforces alike: the root refuses beyond them with a 400
//! before fanning out, and a leaf refuses a request beyond them whoever sent it.

/// Hits per page when the request does not say.
pub const DEFAULT_LIMIT: u32 = 10;
/// The deepest page: offset + limit may not exceed this (the root's window, each leaf's
/// top-k).
pub const MAX_WINDOW: u32 = 10_000;
/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4_096;
/// The most terms one postings request (term layout) may carry.
pub const MAX_TERMS: usize = 1024;
/// The most terms one statistics request may name: more than a longest query can score
/// with over every default field.
pub const MAX_STATISTICS_TERMS: usize = 65_536;
