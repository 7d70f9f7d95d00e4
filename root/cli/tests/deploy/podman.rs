//! A small podman wrapper for the deployment test: every command runs with the test's own
//! `CONTAINERS_CONF` (runc, lowered ulimits: see ../shared/STACK.md), under a hard time
//! bound, and every container, network, volume and image tag it creates is named with a
//! per-run prefix and removed when the wrapper is dropped, also when the test panics.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How to get the tools, for the failure messages.
pub const INSTALL: &str = "install them with `apt-get install podman runc netavark aardvark-dns debootstrap iptables` \
                           (Debian 12; `.ci/run` installs them)";

/// The test's containers.conf: runc (crun fails here with "cgroups in hybrid mode not
/// supported") and ulimits the sandbox may set (it lacks CAP_SYS_RESOURCE, so raising
/// RLIMIT_NOFILE/NPROC fails with "setrlimit ... Operation not permitted").
const CONTAINERS_CONF: &str = "[containers]\n\
                               default_ulimits = [\"nofile=16384:16384\", \"nproc=4096:4096\"]\n\
                               \n\
                               [engine]\n\
                               runtime = \"runc\"\n";

/// The label every resource of a run carries (the test process's id), to list them with
/// `podman ps -a --filter label=io.fanout.e2e.pid`.
const RUN_LABEL: &str = "io.fanout.e2e.pid";

/// What a command printed.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Standard output without surrounding whitespace.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Container,
    Network,
    Volume,
    Image,
}

/// podman with the test's configuration and a cleanup list.
pub struct Podman {
    conf: TempDir,
    prefix: String,
    created: Mutex<Vec<(Kind, String)>>,
}

/// Whether `program` is an executable file in a directory of `PATH`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| {
        use std::os::unix::fs::PermissionsExt as _;
        candidate.metadata().map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0).unwrap_or(false)
    })
}

impl Podman {
    /// Checks that podman is installed, writes the configuration and picks the run's prefix.
    /// Fails (does not skip) when podman is missing.
    pub fn new() -> Podman {
        assert!(on_path("podman").is_some(), "the deployment test needs podman on PATH: {INSTALL}");
        let conf = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(conf.path().join("containers.conf"), CONTAINERS_CONF).expect("writing containers.conf");
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let prefix = format!("fanout-e2e-{}-{:05x}", std::process::id(), nanos >> 12);
        let podman = Podman { conf, prefix, created: Mutex::new(Vec::new()) };
        let version = podman.run(&["version", "--format", "{{.Client.Version}}"], Duration::from_secs(30));
        assert!(version.status.success(), "podman does not run: {}", version.stderr);
        podman.sweep_dead_runs();
        podman
    }

    /// The run's prefix (`fanout-e2e-PID-XXXXX`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A resource name of this run.
    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    /// The `--label` value marking a resource as this run's.
    pub fn label(&self) -> String {
        format!("{RUN_LABEL}={}", std::process::id())
    }

    /// A podman command with the test's configuration.
    pub fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command.env("CONTAINERS_CONF", self.conf.path().join("containers.conf"));
        command
    }

    /// Runs podman with `args`, at most `limit` (then kills the podman client and panics).
    pub fn run(&self, args: &[&str], limit: Duration) -> Ran {
        let mut command = self.command();
        command.args(args);
        bounded(command, None, limit, &format!("podman {}", args.join(" ")))
    }

    /// Starts podman with `args` without waiting; finish it with [`wait_bounded`].
    pub fn spawn(&self, args: &[&str]) -> Child {
        let mut command = self.command();
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command.spawn().unwrap_or_else(|err| panic!("podman {}: cannot start: {err}", args.join(" ")))
    }

    /// [`Podman::run`], and panics unless it succeeded.
    pub fn ok(&self, args: &[&str], limit: Duration) -> Ran {
        let ran = self.run(args, limit);
        assert!(
            ran.status.success(),
            "podman {} failed ({}):\n{}{}",
            args.join(" "),
            ran.status,
            ran.stdout,
            ran.stderr
        );
        ran
    }

    /// Remembers a resource for removal on drop (before it is created, so that a create
    /// that times out half-way is removed too).
    fn track(&self, kind: Kind, name: &str) {
        self.created.lock().unwrap().push((kind, name.to_string()));
    }

    /// Tracks the image tag `tag` (built by the caller) for removal.
    pub fn track_image(&self, tag: &str) {
        self.track(Kind::Image, tag);
    }

    /// `podman network create` of a network of this run (DNS enabled: netavark +
    /// aardvark-dns answer every container's name and aliases).
    pub fn network(&self, what: &str) -> String {
        let name = self.name(what);
        self.track(Kind::Network, &name);
        self.ok(&["network", "create", "--label", &self.label(), &name], Duration::from_secs(30));
        let inspect = self.ok(&["network", "inspect", "--format", "{{.DNSEnabled}}", &name], Duration::from_secs(30));
        assert_eq!(inspect.out(), "true", "network {name} has DNS (aardvark-dns installed?)");
        name
    }

    /// `podman volume create` of a volume of this run.
    pub fn volume(&self, what: &str) -> String {
        let name = self.name(what);
        self.track(Kind::Volume, &name);
        self.ok(&["volume", "create", "--label", &self.label(), &name], Duration::from_secs(30));
        name
    }

    /// `podman run --name PREFIX-what --label ... ARGS`, with the restrictions of the
    /// manifests' securityContext (read-only root file system, no capabilities, no
    /// privilege escalation) and never a pull: `args` holds the other options, the image
    /// and its arguments (add `-d` to detach).
    pub fn run_container(&self, what: &str, args: &[&str], limit: Duration) -> (String, Ran) {
        let name = self.name(what);
        self.track(Kind::Container, &name);
        let label = self.label();
        let mut full = vec!["run", "--name", &name, "--label", &label];
        full.extend_from_slice(&["--read-only", "--cap-drop=all", "--security-opt=no-new-privileges", "--pull=never"]);
        full.extend_from_slice(args);
        let ran = self.run(&full, limit);
        (name, ran)
    }

    /// The host address (`127.0.0.1:PORT`) a container's port is published on.
    pub fn published(&self, container: &str, port: u16) -> String {
        let ran = self.ok(&["port", container, &format!("{port}/tcp")], Duration::from_secs(30));
        let address = ran.out().lines().next().unwrap_or_default().to_string();
        assert!(address.starts_with("127.0.0.1:"), "{container} publishes {port} on loopback only, got {address:?}");
        address
    }

    /// A container's address on `network`.
    pub fn address(&self, container: &str, network: &str) -> String {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
        let ran = self.ok(&["inspect", "--format", &format, container], Duration::from_secs(30));
        assert!(!ran.out().is_empty(), "{container} has an address on {network}");
        ran.out().to_string()
    }

    /// The last lines of a container's logs (for failure messages).
    pub fn logs(&self, container: &str) -> String {
        // Never panics: it also runs in Drop, while a failed test unwinds.
        let mut command = self.command();
        command.args(["logs", "--tail", "30", container]);
        match bounded_result(command, None, Duration::from_secs(20)) {
            Ok(ran) if ran.status.success() => strip_ansi(&format!("{}{}", ran.stdout, ran.stderr)),
            _ => String::new(),
        }
    }

    /// Removes what killed runs of this test left (SIGKILL: no Drop): resources whose name
    /// carries the id of a process that no longer exists.
    fn sweep_dead_runs(&self) {
        let limit = Duration::from_secs(30);
        let listings = [
            (Kind::Container, self.run(&["ps", "-a", "--format", "{{.Names}}"], limit), "fanout-e2e-"),
            (Kind::Network, self.run(&["network", "ls", "--format", "{{.Name}}"], limit), "fanout-e2e-"),
            (Kind::Volume, self.run(&["volume", "ls", "--format", "{{.Name}}"], limit), "fanout-e2e-"),
            (
                Kind::Image,
                self.run(
                    &["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=localhost/fanout"],
                    limit,
                ),
                "localhost/fanout:test-",
            ),
        ];
        for (kind, listing, prefix) in listings {
            let dead: Vec<String> = listing
                .stdout
                .lines()
                .map(str::trim)
                .filter(|name| {
                    let pid = name.strip_prefix(prefix).and_then(|rest| rest.split('-').next());
                    pid.and_then(|pid| pid.parse::<u32>().ok())
                        .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
                })
                .map(str::to_string)
                .collect();
            if !dead.is_empty() {
                eprintln!("deploy: removing what killed runs left ({kind:?}): {}", dead.join(" "));
                self.remove(kind, &dead);
            }
        }
    }

    fn remove(&self, kind: Kind, names: &[String]) {
        let verb: &[&str] = match kind {
            Kind::Container => &["rm", "-f", "-t", "0"],
            Kind::Network => &["network", "rm", "-f"],
            Kind::Volume => &["volume", "rm", "-f"],
            Kind::Image => &["rmi", "-f"],
        };
        let mut command = self.command();
        command.args(verb).args(names);
        let what = format!("podman {} {}", verb.join(" "), names.join(" "));
        match bounded_result(command, None, Duration::from_secs(60)) {
            Ok(ran) if ran.status.success() => {}
            Ok(ran) => eprintln!("deploy: cleanup `{what}` failed: {}", ran.stderr.trim()),
            Err(err) => eprintln!("deploy: cleanup `{what}`: {err}"),
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let created = std::mem::take(&mut *self.created.lock().unwrap());
        let of = |kind: Kind| -> Vec<String> {
            let mut names: Vec<String> =
                created.iter().filter(|(k, _)| *k == kind).map(|(_, name)| name.clone()).collect();
            names.sort();
            names.dedup();
            names
        };
        let containers = of(Kind::Container);
        if std::thread::panicking() {
            for container in &containers {
                let logs = self.logs(container);
                if !logs.is_empty() {
                    eprintln!("---- logs of {container}:\n{logs}");
                }
            }
        }
        // Containers first: a network or volume in use cannot go.
        for kind in [Kind::Container, Kind::Network, Kind::Volume, Kind::Image] {
            let names = of(kind);
            if !names.is_empty() {
                self.remove(kind, &names);
            }
        }
    }
}

/// Runs `command` (stdin from `stdin`, or none), collecting its output, for at most
/// `limit`; on timeout kills it and panics naming `what`.
pub fn bounded(command: Command, stdin: Option<Stdio>, limit: Duration, what: &str) -> Ran {
    bounded_result(command, stdin, limit).unwrap_or_else(|err| panic!("{what}: {err}"))
}

fn bounded_result(mut command: Command, stdin: Option<Stdio>, limit: Duration) -> Result<Ran, String> {
    command.stdin(stdin.unwrap_or_else(Stdio::null)).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().map_err(|err| format!("cannot start: {err}"))?;
    wait_bounded(child, limit)
}

/// Waits for `child` at most `limit`, reading its piped output; kills it on timeout.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Result<Ran, String> {
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = reader(child.stdout.take().map(|pipe| Box::new(pipe) as Box<dyn Read + Send>));
    let stderr = reader(child.stderr.take().map(|pipe| Box::new(pipe) as Box<dyn Read + Send>));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|err| err.to_string())? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("did not finish within {limit:?} (killed)"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Ran { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() })
}

/// Text without ANSI escape sequences (the binary colours its logs).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (a letter).
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
