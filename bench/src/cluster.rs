//! The clusters scenarios start: in this process like `fanout local` (real gRPC leaves on
//! loopback), or as separate `fanout leaf` and `fanout root` processes (the `fanout`
//! binary next to `fanout-bench`, or `--fanout-bin`).

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use fanout_cli::local::{LocalCluster, LocalOptions};
use fanout_proto::v1::Faults;
use fanout_root::config::{AdmissionConfig, CacheConfig, HedgingConfig};

/// How scenarios start their cluster.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct ClusterArgs {
    /// Run leaves and root as separate `fanout` processes instead of in this process.
    #[arg(long)]
    pub processes: bool,
    /// The `fanout` binary for --processes (default: next to this one).
    #[arg(long)]
    pub fanout_bin: Option<PathBuf>,
}

/// What a cluster runs with.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Leaf servers per shard.
    pub replicas: u32,
    /// The root's hedging policy.
    pub hedging: HedgingConfig,
    /// Faults every leaf injects.
    pub faults: Faults,
    /// The root's admission limits.
    pub admission: AdmissionConfig,
    /// The root's result cache. Off unless a scenario measures it: the others measure
    /// the fan-out, and the query logs repeat queries, which the cache would answer.
    pub cache: CacheConfig,
}

impl Default for ClusterSpec {
    fn default() -> ClusterSpec {
        ClusterSpec {
            replicas: 2,
            hedging: HedgingConfig::default(),
            faults: Faults::default(),
            admission: AdmissionConfig::default(),
            cache: CacheConfig { enabled: false, ..CacheConfig::default() },
        }
    }
}

/// A child process, killed when dropped.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Leaves and a root as processes; leaves can be killed and restarted.
pub struct ProcessCluster {
    bin: PathBuf,
    index: PathBuf,
    faults: Faults,
    /// Leaves by shard then replica: port and process.
    leaves: Vec<Vec<(u16, Option<Process>)>>,
    _root: Process,
    _dir: tempfile::TempDir,
    http: u16,
}

/// A running cluster of either kind.
pub enum BenchCluster {
    /// In this process.
    InProcess(Box<LocalCluster>),
    /// As processes.
    Processes(ProcessCluster),
}

impl BenchCluster {
    /// Starts a cluster over the index at `index`.
    pub async fn start(index: &Path, spec: &ClusterSpec, args: &ClusterArgs) -> anyhow::Result<BenchCluster> {
        if args.processes {
            return Ok(BenchCluster::Processes(ProcessCluster::start(index, spec, args).await?));
        }
        let options = LocalOptions {
            replicas: spec.replicas,
            hedging: spec.hedging.clone(),
            leaf_fault_injection: true,
            leaf_faults: spec.faults,
            admission: spec.admission.clone(),
            cache: spec.cache.clone(),
            ..LocalOptions::default()
        };
        Ok(BenchCluster::InProcess(Box::new(LocalCluster::start(index, &options).await?)))
    }

    /// The root's HTTP URL.
    pub fn url(&self) -> String {
        match self {
            BenchCluster::InProcess(cluster) => format!("http://{}", cluster.http_address),
            BenchCluster::Processes(cluster) => format!("http://127.0.0.1:{}", cluster.http),
        }
    }

    /// Stops everything.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        match self {
            BenchCluster::InProcess(cluster) => cluster.shutdown().await,
            BenchCluster::Processes(cluster) => {
                drop(cluster);
                Ok(())
            }
        }
    }
}

/// A free loopback port, never one handed out before in this process (the kernel may
/// offer a just-released port again before the process it was given to has bound it).
fn free_port() -> anyhow::Result<u16> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
}

fn spawn(bin: &Path, args: &[String]) -> anyhow::Result<Process> {
    let child =
        Command::new(bin).args(args).env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    Ok(Process(child))
}

impl ProcessCluster {
    /// Starts `replicas` leaf processes per shard and a root process, and waits until the
    /// root is ready.
    pub async fn start(index: &Path, spec: &ClusterSpec, args: &ClusterArgs) -> anyhow::Result<ProcessCluster> {
        let bin = match &args.fanout_bin {
            Some(bin) => bin.clone(),
            None => std::env::current_exe()?.with_file_name("fanout"),
        };
        anyhow::ensure!(
            bin.exists(),
            "no fanout binary at {} (build it: cargo build --release --bin fanout)",
            bin.display()
        );
        let manifest = fanout_indexer::Manifest::read(index)?;
        let dir = tempfile::tempdir()?;
        let hedging = toml::to_string(&spec.hedging)?;
        let admission = toml::to_string(&spec.admission)?;
        let cache = toml::to_string(&spec.cache)?;
        let mut file = format!(
            "index = {:?}\n[hedging]\n{hedging}\n[admission]\n{admission}\n[cache]\n{cache}\n",
            manifest.index_name
        );
        let mut leaves = Vec::new();
        for shard in 0..manifest.shard_count {
            let mut replicas = Vec::new();
            for _ in 0..spec.replicas {
                let port = free_port()?;
                replicas.push((port, Some(spawn_leaf(&bin, index, spec.faults, shard, port)?)));
            }
            let addresses: Vec<String> = replicas.iter().map(|(port, _)| format!("\"127.0.0.1:{port}\"")).collect();
            file.push_str(&format!("[[shard]]\nreplicas = [{}]\n", addresses.join(", ")));
            leaves.push(replicas);
        }
        let cluster_file = dir.path().join("cluster.toml");
        std::fs::write(&cluster_file, file)?;
        let (http, grpc) = (free_port()?, free_port()?);
        let root = spawn(
            &bin,
            &[
                "root".into(),
                "--cluster".into(),
                cluster_file.to_string_lossy().into_owned(),
                "--listen".into(),
                format!("127.0.0.1:{http}"),
                "--grpc-listen".into(),
                format!("127.0.0.1:{grpc}"),
            ],
        )?;
        let cluster = ProcessCluster {
            bin,
            index: index.to_path_buf(),
            faults: spec.faults,
            leaves,
            _root: root,
            _dir: dir,
            http,
        };
        wait_ready(&cluster.url()).await?;
        Ok(cluster)
    }

    /// SIGKILLs one leaf.
    pub fn kill(&mut self, shard: usize, replica: usize) {
        self.leaves[shard][replica].1 = None;
    }

    /// Starts a killed leaf again on its port.
    pub fn restart(&mut self, shard: usize, replica: usize) -> anyhow::Result<()> {
        let port = self.leaves[shard][replica].0;
        self.leaves[shard][replica].1 = Some(spawn_leaf(&self.bin, &self.index, self.faults, shard as u32, port)?);
        Ok(())
    }

    /// The root's HTTP URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }
}

fn spawn_leaf(bin: &Path, index: &Path, faults: Faults, shard: u32, port: u16) -> anyhow::Result<Process> {
    let mut args = vec![
        "leaf".to_string(),
        "--index".into(),
        index.to_string_lossy().into_owned(),
        "--shard".into(),
        shard.to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--enable-fault-injection".into(),
    ];
    if faults.delay_fraction > 0.0 {
        args.extend(["--inject-delay".into(), format!("{}:{}us", faults.delay_fraction, faults.delay_us)]);
    }
    if faults.error_fraction > 0.0 {
        args.extend(["--inject-error".into(), faults.error_fraction.to_string()]);
    }
    spawn(bin, &args)
}

async fn wait_ready(base: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the cluster at {base} did not become ready within 30 s")
}
