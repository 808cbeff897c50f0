//! The engines builds run on: the system's docker.io 20.10 (the classic image store, the
//! `default` docker context) and the project's own Docker 26 with the containerd image
//! store, run privately beside it and reached through the docker context `xtask`
//! (`provision_private`). Daemons are started by hand: there is no systemd.

use std::fs::{self, OpenOptions};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::buildx::builder_platforms;
use crate::core::text::last_lines;

const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
/// How long a daemon may take to answer after being started.
pub(crate) const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn start_containerd(root: &Utf8Path) -> Result<()> {
    let answers = || UnixStream::connect(CONTAINERD_SOCKET).is_ok();
    if answers() {
        println!("containerd: already running");
        return Ok(());
    }
    let log = log_path(root, "containerd")?;
    let mut child = spawn(&mut Command::new("containerd"), &log, true).context("starting containerd")?;
    wait_until_ready("containerd", &mut child, &log, STARTUP_TIMEOUT, answers)?;
    println!("containerd: started (log {log})");
    Ok(())
}

/// dockerd without a bridge or iptables rules: builds use network "none" or "host",
/// and a machine like this one may not allow netfilter changes.
pub(crate) fn start_dockerd(root: &Utf8Path) -> Result<()> {
    if let Ok(version) = docker_server_version() {
        println!("dockerd: already running (server {version})");
        return Ok(());
    }
    let log = log_path(root, "dockerd")?;
    let mut command = Command::new("dockerd");
    command.args(["--bridge=none", "--iptables=false"]);
    let mut child = spawn(&mut command, &log, true).context("starting dockerd")?;
    wait_until_ready("dockerd", &mut child, &log, STARTUP_TIMEOUT, || docker_server_version().is_ok())?;
    let version = docker_server_version()?;
    println!("dockerd: started (server {version}, log {log})");
    Ok(())
}

/// BuildKit lists the platforms it found emulators for; a missing one fails every build.
pub(crate) fn check_builder(platforms: &[String]) -> Result<()> {
    let inspect = docker(&["buildx", "inspect"]).context("docker buildx inspect")?;
    let listed = builder_platforms(&inspect);
    let missing: Vec<&str> = platforms.iter().map(String::as_str).filter(|p| !listed.contains(p)).collect();
    if !missing.is_empty() {
        bail!(
            "docker's builder cannot build {} (it lists {}): restart dockerd so it finds the emulators",
            missing.join(", "),
            listed.join(", ")
        );
    }
    println!("builder: {}", listed.join(", "));
    Ok(())
}

pub(crate) fn docker_server_version() -> Result<String> {
    docker(&["version", "--format", "{{.Server.Version}}"])
}

pub(crate) fn buildx_version() -> Result<String> {
    docker(&["buildx", "version"])
}

/// The trimmed stdout of a docker client command, or its stderr as the error.
pub(crate) fn docker(args: &[&str]) -> Result<String> {
    let output = duct::cmd("docker", args)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .context("running docker")?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn log_path(root: &Utf8Path, name: &str) -> Result<Utf8PathBuf> {
    let dir = root.join("target/xtask/logs");
    fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    Ok(dir.join(format!("{name}.log")))
}

/// Starts `command` with no stdin and its output appended to `log`. Detached, it gets its
/// own process group, so it outlives xtask and is spared signals meant for xtask.
pub(crate) fn spawn(command: &mut Command, log: &Utf8Path, detach: bool) -> Result<Child> {
    let file = OpenOptions::new().create(true).append(true).open(log).with_context(|| format!("opening {log}"))?;
    let stderr = file.try_clone().with_context(|| format!("opening {log}"))?;
    command.stdin(Stdio::null()).stdout(file).stderr(stderr);
    if detach {
        command.process_group(0);
    }
    Ok(command.spawn()?)
}

/// Polls `ready` until it holds, failing early with the log's end if `child` exits.
pub(crate) fn wait_until_ready(
    name: &str,
    child: &mut Child,
    log: &Utf8Path,
    timeout: Duration,
    ready: impl Fn() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(status) = child.try_wait().with_context(|| format!("watching {name}"))? {
            let output = fs::read_to_string(log).unwrap_or_default();
            bail!("{name} exited during startup ({status}); from {log}:\n{}", why_it_died(&output));
        }
        if Instant::now() > deadline {
            bail!("{name} did not answer within {}s; see {log}", timeout.as_secs());
        }
        sleep(Duration::from_millis(200));
    }
}

/// A Go panic's message rather than the goroutine dump after it; otherwise the log's end.
fn why_it_died(log: &str) -> String {
    match log.lines().rev().find(|line| line.starts_with("panic: ")) {
        Some(panic) => panic.to_owned(),
        None => last_lines(log, 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_failures_show_the_panic_not_the_goroutines() {
        let panicked = "level=warning msg=\"No HTTP secret\"\npanic: unable to configure authorization\n\n\
                        goroutine 1 [running]:\nmain.main()\n\tmain.go:22 +0x25\n";
        assert_eq!(why_it_died(panicked), "panic: unable to configure authorization");
        let fatal = "level=info msg=starting\nlevel=fatal msg=\"bind: address already in use\"\n";
        assert_eq!(why_it_died(fatal), fatal.trim_end());
    }
}
