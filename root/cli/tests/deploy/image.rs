//! The images: a local Debian base (no registry is reachable here) and the fanout image
//! built from deploy/Containerfile's `prebuilt` stage around the binary cargo just built.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::podman::{INSTALL, Podman, bounded, on_path, wait_bounded};
use super::support::repo;

/// The local Debian base, kept between runs.
pub const BASE: &str = "localhost/debian:bookworm-slim";

/// Makes [`BASE`] with debootstrap unless it exists; how long that took, if it was made.
pub fn ensure_base(podman: &Podman) -> Option<Duration> {
    if podman.run(&["image", "exists", BASE], Duration::from_secs(30)).status.success() {
        return None;
    }
    let started = Instant::now();
    let debootstrap = on_path("debootstrap")
        .unwrap_or_else(|| panic!("the image {BASE} is missing, and debootstrap is not on PATH to make it: {INSTALL}"));
    let dir = tempfile::tempdir_in(std::env::temp_dir()).expect("a temporary directory");
    let rootfs = dir.path().join("rootfs");
    let mut command = Command::new(debootstrap);
    command.args(["--variant=minbase", "bookworm"]).arg(&rootfs).arg("http://deb.debian.org/debian");
    let made = bounded(command, None, Duration::from_secs(600), "debootstrap --variant=minbase bookworm");
    assert!(made.status.success(), "debootstrap failed ({}):\n{}", made.status, tail(&made.stdout, &made.stderr));

    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tar");
    let mut import = podman.command();
    import.args(["import", "-", BASE]);
    let imported =
        bounded(import, Some(Stdio::from(tar.stdout.take().unwrap())), Duration::from_secs(300), "podman import");
    let tarred = wait_bounded(tar, Duration::from_secs(30)).expect("tar finishes");
    assert!(
        tarred.status.success() && imported.status.success(),
        "tar | podman import {BASE} failed: {}",
        imported.stderr
    );
    Some(started.elapsed())
}

/// Builds `tag` from deploy/Containerfile's `prebuilt` stage on [`BASE`], the build context
/// a directory holding only cargo's `fanout` binary. How long the build took.
pub fn build(podman: &Podman, tag: &str) -> Duration {
    let containerfile = repo().join("deploy/Containerfile");
    let text = std::fs::read_to_string(&containerfile)
        .unwrap_or_else(|err| panic!("{} (the image's recipe): {err}", containerfile.display()));
    for needed in ["ARG RUNTIME_IMAGE", "AS runtime-base", "FROM runtime-base AS prebuilt"] {
        assert!(
            text.contains(needed),
            "{} has `{needed}` (the test builds --target prebuilt)",
            containerfile.display()
        );
    }
    let context = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(env!("CARGO_BIN_EXE_fanout"), context.path().join("fanout")).expect("copying the binary");
    let started = Instant::now();
    podman.track_image(tag);
    let containerfile = containerfile.to_str().unwrap();
    let runtime = format!("RUNTIME_IMAGE={BASE}");
    let context = context.path().to_str().unwrap();
    let built = podman.run(
        &[
            "build",
            "--pull=never",
            "-f",
            containerfile,
            "--target",
            "prebuilt",
            "--build-arg",
            &runtime,
            "-t",
            tag,
            context,
        ],
        Duration::from_secs(300),
    );
    assert!(built.status.success(), "podman build failed ({}):\n{}", built.status, tail(&built.stdout, &built.stderr));
    started.elapsed()
}

/// The image's size in bytes.
pub fn size(podman: &Podman, tag: &str) -> u64 {
    let size = podman.ok(&["image", "inspect", "--format", "{{.Size}}", tag], Duration::from_secs(30));
    size.out().parse().unwrap_or_else(|_| panic!("an image size, got {:?}", size.out()))
}

/// The last lines of a command's output.
fn tail(stdout: &str, stderr: &str) -> String {
    let text = format!("{stdout}{stderr}");
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
