//! Running the `fanout` binary as separate processes: leaves and a root on loopback
//! ports, killed, stopped and restarted by the tests.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Builds a document-partitioned index of the Cranfield collection with `shards` shards
/// at `out`.
pub fn index_cranfield(out: &Path, shards: u32) -> Output {
    index_cranfield_as(out, shards, "document")
}

/// Builds an index of the Cranfield collection with `shards` shards in `layout` at `out`.
pub fn index_cranfield_as(out: &Path, shards: u32, layout: &str) -> Output {
    fanout()
        .args(["index", "--no-progress", "--name", "cranfield", "--shards", &shards.to_string(), "--layout", layout])
        .arg("--data")
        .arg(repo().join("../shared/datasets/cranfield/docs.jsonl"))
        .arg("--schema")
        .arg(repo().join("datasets/cranfield/schema.toml"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
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
