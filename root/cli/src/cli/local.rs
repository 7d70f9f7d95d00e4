//! `fanout local`: the whole system on this machine in one command.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::local::prepare::Workdir;
use crate::local::{LocalCluster, LocalOptions};
use clap::Args;
use fanout_indexer::Layout;
use fanout_indexer::demo::EXAMPLE_QUERIES;
use fanout_root::auth::new_key;
use fanout_root::config::{ApiKeyEntry, AuthConfig, Role};
use fanout_transport::pki::LocalPki;

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// HTTP port of the root (gRPC uses the next port unless --grpc-port says otherwise).
    #[arg(long, default_value_t = 8080, env = "FANOUT_PORT")]
    port: u16,
    /// gRPC port of the root (default: --port + 1).
    #[arg(long, env = "FANOUT_GRPC_PORT")]
    grpc_port: Option<u16>,
    /// Number of shards.
    #[arg(long, default_value_t = 4, env = "FANOUT_SHARDS")]
    shards: u32,
    /// How to partition the index: `document` or `term`.
    #[arg(long, default_value_t = Layout::Document, env = "FANOUT_LAYOUT")]
    layout: Layout,
    /// Leaf servers per shard.
    #[arg(long, default_value_t = 2, env = "FANOUT_REPLICAS")]
    replicas: u32,
    /// Serve this JSON-lines dataset instead of the demo corpus (needs --schema).
    #[arg(long, requires = "schema")]
    data: Option<PathBuf>,
    /// Schema file of --data.
    #[arg(long, requires = "data")]
    schema: Option<PathBuf>,
    /// Documents in the demo corpus.
    #[arg(long, default_value_t = 100_000)]
    docs: usize,
    /// Where generated corpora and built indexes are kept between runs.
    #[arg(long, default_value = ".fanout", env = "FANOUT_WORKDIR")]
    workdir: PathBuf,
    /// Serve HTTPS and gRPC over TLS, with mutual TLS between root and leaves: a throwaway
    /// CA and certificates are made in WORKDIR/tls for this run.
    #[arg(long, env = "FANOUT_LOCAL_TLS")]
    tls: bool,
    /// Require API keys: a `search` and an `admin` key are made for this run and printed.
    #[arg(long, env = "FANOUT_LOCAL_AUTH")]
    auth: bool,
}

/// The keys `fanout local --auth` makes: (role, key).
struct LocalKeys {
    search: String,
    admin: String,
}

fn local_keys() -> (LocalKeys, AuthConfig) {
    let (search, search_sha256) = new_key();
    let (admin, admin_sha256) = new_key();
    let keys = vec![
        ApiKeyEntry { name: "local-search".into(), role: Role::Search, sha256: search_sha256, tier: None },
        ApiKeyEntry { name: "local-admin".into(), role: Role::Admin, sha256: admin_sha256, tier: None },
    ];
    (LocalKeys { search, admin }, AuthConfig { keys, ..AuthConfig::default() })
}

pub async fn run(args: LocalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.shards >= 1, "--shards must be at least 1");
    anyhow::ensure!(args.replicas >= 1, "--replicas must be at least 1");
    let workdir = Workdir(args.workdir.clone());
    let (index, is_demo) = match (&args.data, &args.schema) {
        (Some(data), Some(schema)) => {
            let (data, schema, shards, layout) = (data.clone(), schema.clone(), args.shards, args.layout);
            (tokio::task::spawn_blocking(move || workdir.user_index(&data, &schema, shards, layout)).await??, false)
        }
        _ => {
            let (docs, shards, layout) = (args.docs, args.shards, args.layout);
            (tokio::task::spawn_blocking(move || workdir.demo_index(docs, shards, layout)).await??, true)
        }
    };
    let grpc_port = args.grpc_port.unwrap_or(args.port.wrapping_add(1));
    let tls = match args.tls {
        true => Some(
            LocalPki::create(&args.workdir.join("tls"))
                .map_err(|err| anyhow::anyhow!("cannot make the throwaway certificates: {err}"))?,
        ),
        false => None,
    };
    let (keys, auth) = match args.auth {
        true => {
            let (keys, auth) = local_keys();
            (Some(keys), auth)
        }
        false => (None, AuthConfig::default()),
    };
    let options = LocalOptions {
        replicas: args.replicas,
        http: SocketAddr::from(([127, 0, 0, 1], args.port)),
        grpc: SocketAddr::from(([127, 0, 0, 1], grpc_port)),
        tls: tls.clone(),
        auth,
        ..LocalOptions::default()
    };
    let cluster = LocalCluster::start(&index, &options).await?;
    let access = Access { tls, keys };
    print_banner(&cluster, args.shards, args.replicas, is_demo, args.layout, &access);
    super::shutdown_signal().await;
    cluster.shutdown().await?;
    eprintln!("stopped");
    Ok(())
}

/// How a user reaches the local cluster: its CA and keys, when it has them.
struct Access {
    tls: Option<LocalPki>,
    keys: Option<LocalKeys>,
}

impl Access {
    /// The URL scheme of the root's HTTP port.
    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// curl's options: the CA to trust and the key to send (`admin` or `search`).
    fn curl(&self, admin: bool) -> String {
        let mut options = String::new();
        if let Some(pki) = &self.tls {
            options.push_str(&format!(" --cacert {}", pki.ca.display()));
        }
        if let Some(keys) = &self.keys {
            let key = if admin { &keys.admin } else { &keys.search };
            options.push_str(&format!(" -H 'Authorization: Bearer {key}'"));
        }
        options
    }

    /// grpcurl's options.
    fn grpcurl(&self) -> String {
        let mut options = match &self.tls {
            Some(pki) => format!("-cacert {}", pki.ca.display()),
            None => "-plaintext".to_string(),
        };
        if let Some(keys) = &self.keys {
            options.push_str(&format!(" -H 'authorization: Bearer {}'", keys.search));
        }
        options
    }
}

fn print_banner(cluster: &LocalCluster, shards: u32, replicas: u32, is_demo: bool, layout: Layout, access: &Access) {
    let http = cluster.http_address;
    let grpc = cluster.grpc_address;
    let scheme = access.scheme();
    println!();
    println!(
        "fanout is serving index {:?}: {shards} {layout}-partitioned shards x {replicas} replicas",
        cluster.config.index
    );
    for (shard, config) in cluster.config.shards.iter().enumerate() {
        println!("  shard {shard}: leaves at {}", config.replicas.join(", "));
    }
    println!("  root: HTTP {scheme}://{http}  gRPC {grpc}");
    if let Some(pki) = &access.tls {
        println!(
            "  TLS: a throwaway CA at {} signed the root's certificate (localhost, 127.0.0.1) and the leaves'; \
             root and leaves speak mutual TLS",
            pki.ca.display()
        );
    }
    if let Some(keys) = &access.keys {
        println!("  API keys (for this run only): search {}  admin {}", keys.search, keys.admin);
    }
    println!();
    println!("Try:");
    let (curl, admin_curl, grpcurl) = (access.curl(false), access.curl(true), access.grpcurl());
    // Term shards keep no positions: no phrase examples for them.
    let answerable = |query: &&str| layout == Layout::Document || !query.contains('"');
    let queries: Vec<&str> =
        if is_demo { EXAMPLE_QUERIES.iter().copied().filter(answerable).take(4).collect() } else { vec!["your words"] };
    for query in &queries {
        println!(
            "  curl -s{curl} '{scheme}://{http}/api/v1/search?q={}&limit=3'",
            query.replace(' ', "+").replace('"', "%22")
        );
    }
    // The demo corpus has a title; a user's data may not.
    let fields = if is_demo { ", \"fields\": [\"title\"]" } else { "" };
    println!(
        "  curl -s{curl} -X POST {scheme}://{http}/api/v1/search -H 'content-type: application/json' \\\n       -d '{{\"query\": \"{}\", \"limit\": 5{fields}}}'",
        queries[0].replace('"', "\\\"")
    );
    println!(
        "  grpcurl {grpcurl} -d '{{\"query\": \"{}\"}}' {grpc} fanout.v1.Root/Search",
        queries[0].replace('"', "\\\"")
    );
    if layout == Layout::Document {
        println!(
            "  curl -s{curl} '{scheme}://{http}/_elastic/{}/_search?q={}&size=3'    # the Elasticsearch API",
            cluster.config.index,
            queries[0].replace(' ', "+").replace('"', "%22")
        );
    }
    let open_curl = access.tls.as_ref().map(|pki| format!(" --cacert {}", pki.ca.display())).unwrap_or_default();
    println!("  curl -s{open_curl} {scheme}://{http}/readyz");
    println!("  curl -s{admin_curl} {scheme}://{http}/api/v1/cluster    # replicas: state, latency, hedges");
    println!("  curl -s{admin_curl} {scheme}://{http}/metrics");
    println!();
    println!("Press Ctrl-C to stop.");
}
