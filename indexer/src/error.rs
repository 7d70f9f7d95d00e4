//! The indexer's errors. Messages are lowercase and name the offending input.

use std::path::PathBuf;

/// Everything that can stop an index build.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// A line of the dataset could not be turned into a document.
    #[error("{0}")]
    Line(#[from] LineError),
    /// The dataset holds no documents.
    #[error("no documents found in {0}")]
    Empty(PathBuf),
    /// The build options make no sense.
    #[error("invalid option: {0}")]
    Options(String),
    /// A shared contract (schema file, manifest) is invalid, or reading or writing a
    /// file failed (`ContractError::Io`, with what was being done).
    #[error(transparent)]
    Contract(#[from] fanout_contracts::ContractError),
    /// tantivy failed.
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

/// A dataset line that cannot be indexed: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {}{message}", file.display(), field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct LineError {
    /// The file the line is in.
    pub file: PathBuf,
    /// The 1-based line number.
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> IndexerError {
    let context = context.into();
    move |source| IndexerError::Contract(fanout_contracts::ContractError::Io { context, source })
}
