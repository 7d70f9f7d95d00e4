//! Fault injection is off unless a leaf is started with `--enable-fault-injection`: the
//! `--inject-*` flags are refused with a clear message, and `fanout.v1.LeafAdmin` answers
//! PERMISSION_DENIED; with the flag, both work.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fanout_proto::v1::leaf_admin_client::LeafAdminClient;
use fanout_proto::v1::{Faults, GetFaultsRequest};
use support::{Running, fanout, free_port, index_cranfield, text};
use tonic::Code;
use tonic::transport::Channel;

/// Runs `fanout` with `args` to completion (see [`bounded`]).
fn run_bounded(args: &[&str]) -> Option<Output> {
    let mut command = fanout();
    command.args(args);
    bounded(command)
}

fn leaf_args<'a>(index: &'a Path, listen: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        vec!["leaf", "--index", index.to_str().unwrap(), "--shard", "0", "--threads", "1", "--listen", listen];
    args.extend_from_slice(extra);
    args
}

#[test]
fn inject_flags_need_enable_fault_injection() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("cranfield");
    let built = index_cranfield(&index, 1);
    assert!(built.status.success(), "{}", text(&built.stderr));
    for flags in [["--inject-delay", "0.1:10ms"], ["--inject-error", "0.5"]] {
        let listen = format!("127.0.0.1:{}", free_port());
        let refused = run_bounded(&leaf_args(&index, &listen, &flags)).unwrap_or_else(|| {
            panic!("`fanout leaf {}` without --enable-fault-injection kept running", flags.join(" "))
        });
        assert!(!refused.status.success(), "{flags:?}: exits with an error");
        let stderr = text(&refused.stderr);
        assert!(stderr.contains("--enable-fault-injection"), "{flags:?}: the message names the flag: {stderr}");
        assert!(stderr.contains(flags[0]), "{flags:?}: the message names the refused flag: {stderr}");
    }
    // FANOUT_INJECT_DELAY is the same flag from the environment: refused the same way.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut command = fanout();
    command.args(leaf_args(&index, &listen, &[])).env("FANOUT_INJECT_DELAY", "0.1:10ms");
    let refused = bounded(command).expect("the leaf refuses FANOUT_INJECT_DELAY");
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("--enable-fault-injection"), "{}", text(&refused.stderr));
}

/// Runs `command` to completion, killing it after 20 s (a leaf that accepted its flags
/// would serve forever); None if it was still running.
fn bounded(mut command: Command) -> Option<Output> {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A LeafAdmin client of the leaf on `port`, once it accepts connections.
async fn admin(port: u16) -> LeafAdminClient<Channel> {
    let started = Instant::now();
    loop {
        if let Ok(client) = LeafAdminClient::connect(format!("http://127.0.0.1:{port}")).await {
            return client;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the leaf on {port} never accepted a connection");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn leaf_admin_is_permission_denied_unless_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("cranfield");
    let built = index_cranfield(&index, 1);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let (plain, enabled) = (free_port(), free_port());
    let (plain_listen, enabled_listen) = (format!("127.0.0.1:{plain}"), format!("127.0.0.1:{enabled}"));
    let _plain = Running::spawn(&leaf_args(&index, &plain_listen, &[]));
    let _enabled = Running::spawn(&leaf_args(
        &index,
        &enabled_listen,
        &["--enable-fault-injection", "--inject-delay", "0.1:10ms"],
    ));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut client = admin(plain).await;
        let faults = Faults { delay_fraction: 0.5, delay_us: 20_000, error_fraction: 0.0 };
        let denied = client.set_faults(faults).await.expect_err("SetFaults on a default leaf is refused");
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
        assert!(denied.message().contains("--enable-fault-injection"), "{denied:?}");
        let denied = client.get_faults(GetFaultsRequest {}).await.expect_err("GetFaults on a default leaf is refused");
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

        let mut client = admin(enabled).await;
        let started =
            client.get_faults(GetFaultsRequest {}).await.expect("GetFaults with fault injection").into_inner();
        assert_eq!((started.delay_fraction, started.delay_us, started.error_fraction), (0.1, 10_000, 0.0));
        let set = client.set_faults(faults).await.expect("SetFaults with fault injection").into_inner();
        assert_eq!(set, faults);
        assert_eq!(client.get_faults(GetFaultsRequest {}).await.unwrap().into_inner(), faults);
    });
}
