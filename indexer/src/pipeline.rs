//! The read-and-parse pipeline shared by the shard builder and the benchmark's baseline:
//! one thread reads numbered lines in batches, the rayon pool parses each batch in
//! parallel, and the caller receives documents in input order.

use std::collections::HashSet;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use rayon::prelude::*;
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use crate::document::{DocumentError, ParsedDocument, parse_document};
use crate::error::{IndexerError, LineError, io_error};
use crate::progress::BuildProgress;
use crate::schema::IndexSchema;
use crate::source::{Dataset, open_lines};

const BATCH_LINES: usize = 2048;
const BATCH_BYTES: usize = 4 << 20;
/// How many skipped lines a summary reports in full.
pub const REPORTED_ERRORS: usize = 5;

/// What reading a dataset found, apart from the documents themselves.
#[derive(Clone, Debug, Default)]
pub struct ReadReport {
    /// Documents handed to the caller.
    pub docs: u64,
    /// Lines skipped because of errors (only with `skip_errors`).
    pub skipped: u64,
    /// The first few skipped lines' errors.
    pub first_errors: Vec<LineError>,
    /// Compressed input bytes read.
    pub input_bytes: u64,
    /// xxh3-64 of every non-empty line in input order (each followed by a newline).
    pub input_checksum: u64,
}

struct Batch {
    file: Arc<PathBuf>,
    first_line: u64,
    lines: Vec<Vec<u8>>,
}

/// Reads every line of `dataset`, parses it against `schema` and passes each document to
/// `on_document`, in input order. A bad line (not JSON, no id, a value of the wrong type,
/// an id seen before) stops the read with its file, line and field, unless `skip_errors`
/// is set, in which case it is counted and skipped.
pub fn read_documents(
    dataset: &Dataset,
    schema: &IndexSchema,
    skip_errors: bool,
    progress: &BuildProgress,
    mut on_document: impl FnMut(ParsedDocument) -> Result<(), IndexerError>,
) -> Result<ReadReport, IndexerError> {
    let started = Instant::now();
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (batches, reader) = spawn_reader(dataset.files.clone(), bytes_read.clone());
    let mut report = ReadReport::default();
    let mut seen_ids: HashSet<u128> = HashSet::new();
    let mut checksum = Xxh3::new();
    let result = (|| -> Result<(), IndexerError> {
        for batch in batches {
            let batch = batch?;
            let parsed: Vec<Option<Result<ParsedDocument, DocumentError>>> = batch
                .lines
                .par_iter()
                .enumerate()
                .map(|(offset, raw)| {
                    let first_of_file = batch.first_line + offset as u64 == 1;
                    parse_line(schema, raw, first_of_file)
                })
                .collect();
            for (offset, outcome) in parsed.into_iter().enumerate() {
                let Some(outcome) = outcome else { continue };
                checksum.update(&batch.lines[offset]);
                checksum.update(b"\n");
                let checked = outcome.and_then(|document| {
                    if seen_ids.insert(xxh3_128(document.id.as_bytes())) {
                        Ok(document)
                    } else {
                        Err(DocumentError {
                            field: Some(schema.id_field_name().to_string()),
                            message: format!("id {:?} appears more than once in the dataset", document.id),
                        })
                    }
                });
                match checked {
                    Ok(document) => {
                        on_document(document)?;
                        report.docs += 1;
                    }
                    Err(error) => {
                        let line = batch.first_line + offset as u64;
                        report.skip(skip_errors, line_error(&batch.file, line, error))?;
                    }
                }
            }
            progress.update(bytes_read.load(Ordering::Relaxed), report.docs, started.elapsed().as_secs_f64());
        }
        Ok(())
    })();
    // Dropping the receiver (on error) makes the reader stop at its next send.
    reader.join().expect("the dataset reader does not panic");
    result?;
    report.input_bytes = bytes_read.load(Ordering::Relaxed);
    report.input_checksum = checksum.digest();
    Ok(report)
}

impl ReadReport {
    /// Counts a bad line when skipping is allowed; otherwise returns it as the error.
    fn skip(&mut self, skip_errors: bool, error: LineError) -> Result<(), IndexerError> {
        if !skip_errors {
            return Err(IndexerError::Line(error));
        }
        self.skipped += 1;
        if self.first_errors.len() < REPORTED_ERRORS {
            self.first_errors.push(error);
        }
        Ok(())
    }
}

fn line_error(file: &Arc<PathBuf>, line: u64, error: DocumentError) -> LineError {
    LineError { file: file.as_ref().clone(), line, field: error.field, message: error.message }
}

/// The UTF-8 byte-order mark some editors and Windows tools write at the start of a file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses one line; a file's first line may start with a byte-order mark.
fn parse_line(schema: &IndexSchema, raw: &[u8], first_of_file: bool) -> Option<Result<ParsedDocument, DocumentError>> {
    let raw = match first_of_file {
        true => raw.strip_prefix(UTF8_BOM).unwrap_or(raw),
        false => raw,
    };
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text,
        Err(err) => {
            return Some(Err(DocumentError { field: None, message: format!("not valid UTF-8 ({err})") }));
        }
    };
    if text.trim().is_empty() {
        return None;
    }
    Some(parse_document(schema, text))
}

fn spawn_reader(
    files: Vec<PathBuf>,
    bytes_read: Arc<AtomicU64>,
) -> (Receiver<Result<Batch, IndexerError>>, std::thread::JoinHandle<()>) {
    let (sender, receiver) = sync_channel(4);
    let handle = std::thread::Builder::new()
        .name("dataset-reader".into())
        .spawn(move || {
            for path in files {
                let file = Arc::new(path);
                let mut reader = match open_lines(&file, bytes_read.clone()) {
                    Ok(reader) => reader,
                    Err(err) => {
                        let _ = sender.send(Err(err));
                        return;
                    }
                };
                let mut line_number = 1u64;
                let mut batch = Batch { file: file.clone(), first_line: 1, lines: Vec::new() };
                let mut batch_bytes = 0usize;
                loop {
                    let mut line = Vec::new();
                    let read = reader
                        .read_until(b'\n', &mut line)
                        .map_err(io_error(format!("{}:{line_number}: reading", file.display())));
                    let read = match read {
                        Ok(read) => read,
                        Err(err) => {
                            let _ = sender.send(Err(err));
                            return;
                        }
                    };
                    if read == 0 {
                        break;
                    }
                    batch_bytes += line.len();
                    batch.lines.push(line);
                    line_number += 1;
                    if batch.lines.len() >= BATCH_LINES || batch_bytes >= BATCH_BYTES {
                        let next = Batch { file: file.clone(), first_line: line_number, lines: Vec::new() };
                        if sender.send(Ok(std::mem::replace(&mut batch, next))).is_err() {
                            return;
                        }
                        batch_bytes = 0;
                    }
                }
                if !batch.lines.is_empty() && sender.send(Ok(batch)).is_err() {
                    return;
                }
            }
        })
        .expect("spawning the dataset reader");
    (receiver, handle)
}
