//! Running the `fanout` binary as separate processes: leaves and a root on loopback
//! ports, killed, stopped and restarted by the tests.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The `fanout` binary, quiet.
pub fn fanout() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fanout"));
    command.env("RUST_LOG", "warn");
    command
}

/// The repository's root.
pub fn repo() -> PathBuf {
    // This package lives in root/cli/, two levels below the repository.
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// Standard output or error as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A free loopback port (bound, then released), never one handed out before in this
/// process: the kernel may offer a just-released port again, and two leaves started
/// one after the other must not be given the same one.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// The Cranfield documents (JSON lines).
pub fn cranfield_docs() -> PathBuf {
    repo().join("../shared/datasets/cranfield/docs.jsonl")
}

/// The Cranfield schema file.
pub fn cranfield_schema() -> PathBuf {
    repo().join("datasets/cranfield/schema.toml")
}

/// Builds a document-partitioned index of the Cranfield collection with `shards` shards
/// at `out`.
pub fn index_cranfield(out: &Path, shards: u32) -> Output {
    index_cranfield_as(out, shards, "document")
}

/// Builds an index of the Cranfield collection with `shards` shards in `layout` at `out`.
pub fn index_cranfield_as(out: &Path, shards: u32, layout: &str) -> Output {
    index_data(&cranfield_docs(), out, shards, layout)
}

/// Builds an index named `cranfield` of `data` (Cranfield's schema) with `shards` shards in
/// `layout` at `out`, replacing the index there if there is one.
pub fn index_data(data: &Path, out: &Path, shards: u32, layout: &str) -> Output {
    fanout()
        .args(["index", "--no-progress", "--name", "cranfield", "--shards", &shards.to_string(), "--layout", layout])
        .arg("--data")
        .arg(data)
        .arg("--schema")
        .arg(cranfield_schema())
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// Builds `data` (Cranfield's schema) as index `cranfield` of `shards` shards into the
/// index store `location` (reached with `flags`, plus `extra` flags); returns the
/// output, after asserting success.
pub fn index_to_store(data: &Path, shards: u32, location: &str, flags: &[String], extra: &[&str]) -> String {
    let output = fanout()
        .args(["index", "--no-progress", "--name", "cranfield", "--shards", &shards.to_string(), "--data"])
        .arg(data)
        .arg("--schema")
        .arg(cranfield_schema())
        .args(["--out", location])
        .args(flags)
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

/// Writes the first `count` Cranfield documents to `path` (a smaller, different dataset).
pub fn write_cranfield_prefix(path: &Path, count: usize) {
    let docs = std::fs::read_to_string(cranfield_docs()).unwrap();
    let lines: Vec<&str> = docs.lines().filter(|line| !line.trim().is_empty()).take(count).collect();
    assert_eq!(lines.len(), count, "Cranfield has at least {count} documents");
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Lowercase words of letters and digits only: a query every parser accepts.
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The 225 Cranfield queries, reduced to their words (no parser syntax).
pub fn cranfield_queries() -> Vec<String> {
    let file = std::fs::read_to_string(repo().join("../shared/datasets/cranfield/queries.jsonl")).unwrap();
    file.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let query: serde_json::Value = serde_json::from_str(line).unwrap();
            words_of(query["text"].as_str().unwrap()).join(" ")
        })
        .filter(|query| !query.is_empty())
        .collect()
}

/// `count` distinct queries (at most a few thousand): the Cranfield queries, then pairs
/// and triples of words of Cranfield titles drawn by a fixed-seed generator, so that a
/// stream keeps asking queries whose statistics the root has not cached yet.
pub fn query_pool(count: usize) -> Vec<String> {
    let docs = std::fs::read_to_string(cranfield_docs()).unwrap();
    let mut vocabulary: Vec<String> = docs
        .lines()
        .filter(|line| !line.trim().is_empty())
        .flat_map(|line| {
            let doc: serde_json::Value = serde_json::from_str(line).unwrap();
            words_of(doc["title"].as_str().unwrap_or_default())
        })
        .filter(|word| word.len() >= 4 && word.chars().all(|c| c.is_ascii_alphabetic()))
        .collect();
    vocabulary.sort();
    vocabulary.dedup();
    let mut seen = std::collections::HashSet::new();
    let mut pool: Vec<String> = cranfield_queries().into_iter().filter(|query| seen.insert(query.clone())).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = |bound: usize| {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % bound as u64) as usize
    };
    while pool.len() < count {
        let words = 2 + next(2);
        let query: Vec<&str> = (0..words).map(|_| vocabulary[next(vocabulary.len())].as_str()).collect();
        let query = query.join(" ");
        if seen.insert(query.clone()) {
            pool.push(query);
        }
    }
    pool.truncate(count);
    pool
}

/// A child process killed (SIGKILL, after SIGCONT) when dropped, so that a failing test
/// leaves nothing behind.
pub struct Running(pub Child);

impl Running {
    /// Starts `fanout` with `args`.
    pub fn spawn(args: &[&str]) -> Running {
        Running(fanout().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
    }

    /// Sends a signal (`-KILL`, `-STOP`, `-CONT`, `-TERM`).
    pub fn signal(&self, signal: &str) {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success(), "kill {signal} {pid}");
    }

    /// Sends SIGTERM and waits (at most 10 s); returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        self.signal("-TERM");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-CONT", &pid]).stderr(Stdio::null()).status();
        self.kill();
    }
}
pub mod cluster;
pub mod reference;
pub mod s3;
