//! The command line: one subcommand per role. Flags fall back to `FANOUT_*` variables.

mod api_key;
mod generations;
mod index;
mod leaf;
mod local;
mod root;
mod store;

use clap::{Parser, Subcommand};

/// fanout: a scatter/gather search service over tantivy shards.
#[derive(Debug, Parser)]
#[command(name = "fanout", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole cluster on this machine: demo corpus, shards x replicas, root on :8080.
    Local(local::LocalArgs),
    /// Build shard indexes from a JSON-lines dataset.
    Index(index::IndexArgs),
    /// List an index store's generations; finish a scaled-out build; remove old ones.
    Generations(generations::GenerationsArgs),
    /// Serve one shard over gRPC.
    Leaf(leaf::LeafArgs),
    /// Serve the root (HTTP and gRPC) for a cluster file.
    Root(root::RootArgs),
    /// Make a new API key and print the entry a root needs to accept it.
    ApiKey(api_key::ApiKeyArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Index(args) => index::run(args),
        Command::Generations(args) => runtime()?.block_on(generations::run(args)),
        Command::Local(args) => runtime()?.block_on(local::run(args)),
        Command::Leaf(args) => runtime()?.block_on(leaf::run(args)),
        Command::Root(args) => runtime()?.block_on(root::run(args)),
        Command::ApiKey(args) => {
            api_key::run(args);
            Ok(())
        }
    }
}

/// An error and its causes on one line, each cause once: an error whose message already
/// includes its source's (as `thiserror`'s `{0}` with `#[from]` does) does not repeat it.
pub fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("x.jsonl:11: field `score`: expected an integer")]
    struct Line;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Wrapped(#[from] Line);

    #[test]
    fn each_cause_is_printed_once() {
        let repeated = anyhow::Error::new(Wrapped(Line));
        assert_eq!(
            format!("{repeated:#}"),
            "x.jsonl:11: field `score`: expected an integer: x.jsonl:11: field `score`: expected an integer"
        );
        assert_eq!(error_message(&repeated), "x.jsonl:11: field `score`: expected an integer");
        let context = anyhow::Error::new(Line).context("cannot build the index");
        assert_eq!(error_message(&context), "cannot build the index: x.jsonl:11: field `score`: expected an integer");
    }
}
