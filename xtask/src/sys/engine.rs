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
/// The system engine's socket: docker's `default` context without `DOCKER_HOST`.
pub const SYSTEM_SOCKET: &str = "unix:///var/run/docker.sock";
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
    let version = || docker(&["--host", SYSTEM_SOCKET, "version", "--format", "{{.Server.Version}}"]);
    if let Ok(version) = version() {
        println!("dockerd: already running (server {version}, the classic engine, docker context default)");
        return Ok(());
    }
    let log = log_path(root, "dockerd")?;
    let mut command = Command::new("dockerd");
    command.args(["--bridge=none", "--iptables=false"]);
    let mut child = spawn(&mut command, &log, true).context("starting dockerd")?;
    wait_until_ready("dockerd", &mut child, &log, STARTUP_TIMEOUT, || version().is_ok())?;
    println!("dockerd: started (server {}, the classic engine, docker context default, log {log})", version()?);
    Ok(())
}

/// The platforms of `platforms` that the builder of the engine at `host` does not list, and
/// those it lists. BuildKit lists the platforms it found emulators for when its daemon started.
fn builder_lacks(host: &str, platforms: &[String]) -> Result<(Vec<String>, Vec<String>)> {
    let inspect = docker(&["--host", host, "buildx", "inspect"]).context("docker buildx inspect")?;
    let listed: Vec<String> = builder_platforms(&inspect).into_iter().map(str::to_string).collect();
    let missing = platforms.iter().filter(|p| !listed.contains(p)).cloned().collect();
    Ok((missing, listed))
}

/// A platform the builder neither lists nor has an emulator for fails every build: says so,
/// naming the fix. Debian's BuildKit 0.13 does not list 32-bit ARM although it builds it under
/// qemu, so an enabled emulator (`emulated`) is enough. `host` is the engine's socket.
pub(crate) fn check_builder(host: &str, platforms: &[String], emulated: impl Fn(&str) -> bool) -> Result<()> {
    let (missing, listed) = builder_lacks(host, platforms)?;
    let (emulated, missing): (Vec<String>, Vec<String>) = missing.into_iter().partition(|p| emulated(p));
    if !missing.is_empty() {
        bail!(
            "the builder of {host} cannot build {} (it lists {}): restart its dockerd so it finds the emulators",
            missing.join(", "),
            listed.join(", ")
        );
    }
    let also =
        if emulated.is_empty() { String::new() } else { format!(", and {} by its emulator", emulated.join(", ")) };
    println!("builder of {host}: {}{also}", listed.join(", "));
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

// ---- The project's engine: Docker 26 with the containerd image store --------------------------

/// The docker context builds use unless the workspace or the command line names another.
pub const PROJECT_CONTEXT: &str = "xtask";
/// Binaries, containerd's root and docker's data root: one engine per machine, not per clone.
const PRIVATE_STATE: &str = "/var/lib/xtask-engine";
/// Its sockets and pid files.
const PRIVATE_RUN: &str = "/run/xtask-engine";
/// Debian 13's packages that make it; bookworm's own runc (trixie's needs a newer glibc) runs
/// its containers. See docs/engines.md.
const PRIVATE_PACKAGES: &[&str] = &["docker.io", "docker-cli", "containerd", "tini"];

/// Points every docker command of this process (and of its children) at the chosen engine,
/// and returns how it was chosen, for messages. Called once, before any thread starts.
pub fn select(flag: Option<&str>, setting: &str) -> Result<String> {
    let var = |name: &str| std::env::var(name).ok();
    let choice =
        crate::core::engine::choose(flag, var("DOCKER_HOST").as_deref(), var("DOCKER_CONTEXT").as_deref(), setting);
    match choice {
        crate::core::engine::Choice::Context(context) => {
            crate::core::engine::check_context_name(&context)
                .map_err(|why| anyhow::anyhow!("--engine {context:?}: {why}"))?;
            // Safe here: no other thread is running yet. The project's engine by its socket
            // where the active docker config has no such context (CI keeps logins apart in a
            // `DOCKER_CONFIG` of its own); by the context otherwise, so that `--builder default`
            // in [builders] still means the system's engine.
            let by_socket = context == PROJECT_CONTEXT && !context_exists(PROJECT_CONTEXT);
            if by_socket {
                std::env::remove_var("DOCKER_CONTEXT");
                std::env::set_var("DOCKER_HOST", private_socket());
            } else {
                std::env::remove_var("DOCKER_HOST");
                std::env::set_var("DOCKER_CONTEXT", &context);
            }
            Ok(format!("docker context {context}"))
        }
        crate::core::engine::Choice::Environment(from) => Ok(from),
    }
}

/// What each engine of this machine reports, and the one this run uses (`select` chose it by
/// the environment): the project's, the system's, and the workspace's when it is another.
pub fn survey(setting: &str) -> Vec<crate::core::doctor::EngineFacts> {
    let ours = std::env::var("DOCKER_CONTEXT")
        .ok()
        .or_else(|| (std::env::var("DOCKER_HOST").ok() == Some(private_socket())).then(|| PROJECT_CONTEXT.to_string()));
    let mut names = vec![PROJECT_CONTEXT.to_string(), "default".to_string()];
    if !names.contains(&setting.to_string()) {
        names.push(setting.to_string());
    }
    names
        .into_iter()
        .map(|name| {
            let host = match name.as_str() {
                PROJECT_CONTEXT => vec!["--host".to_string(), private_socket()],
                "default" => vec!["--host".to_string(), SYSTEM_SOCKET.to_string()],
                other => vec!["--context".to_string(), other.to_string()],
            };
            let ask = |args: &[&str]| {
                let argv: Vec<&str> = host.iter().map(String::as_str).chain(args.iter().copied()).collect();
                docker(&argv)
            };
            let report = (|| -> Result<_> {
                let version = ask(&["version", "--format", "{{.Server.Version}}"])?;
                let store = ask(&["info", "--format", "{{json .DriverStatus}}"])?;
                let inspect = ask(&["buildx", "inspect"])?;
                let platforms = builder_platforms(&inspect).into_iter().map(str::to_string).collect();
                Ok((version, crate::core::engine::Capabilities::from_reports(&store, platforms)))
            })()
            .map_err(|e| format!("{e:#}"));
            let selected = ours.as_deref() == Some(name.as_str())
                || (ours.is_none() && name == "default" && std::env::var("DOCKER_HOST").is_err());
            crate::core::doctor::EngineFacts { name, selected, report }
        })
        .collect()
}

/// Whether the active docker config holds the context `name`, read from docker's own store
/// (`contexts/meta/<sha256 of the name>/meta.json`) rather than a `docker` process at the
/// start of every command.
fn context_exists(name: &str) -> bool {
    use sha2::Digest;
    let config = crate::sys::registry::CredentialSource::from_env().config_file();
    let id = crate::oci::digest::hex(&sha2::Sha256::digest(name.as_bytes()));
    config.parent().is_some_and(|dir| dir.join("contexts/meta").join(id).join("meta.json").is_file())
}

/// The private engine's API socket, as `DOCKER_HOST` names it.
pub fn private_socket() -> String {
    format!("unix://{PRIVATE_RUN}/docker.sock")
}

/// Sets up and starts the project's engine and its docker context, idempotently; returns
/// the line provisioning prints.
pub fn provision_private(cache: &Utf8Path, root: &Utf8Path, arch: &str) -> Result<String> {
    let state = Utf8Path::new(PRIVATE_STATE);
    let binaries = state.join("root");
    if !binaries.join("usr/sbin/dockerd").is_file() {
        // Unpacked beside, then moved: an interrupted unpack never looks like an engine.
        let partial = state.join("root.partial");
        if partial.exists() {
            fs::remove_dir_all(&partial).with_context(|| format!("removing {partial}"))?;
        }
        fs::create_dir_all(&partial).with_context(|| format!("creating {partial}"))?;
        let apt = crate::sys::apt::IsolatedApt::new(cache, "trixie", &[arch])?;
        for package in PRIVATE_PACKAGES {
            let deb = apt.download(package, arch)?;
            crate::sys::apt::run(duct::cmd!("dpkg-deb", "-x", &deb, &partial))
                .with_context(|| format!("unpacking {deb} into {partial}"))?;
        }
        if binaries.exists() {
            fs::remove_dir_all(&binaries).with_context(|| format!("removing {binaries}"))?;
        }
        fs::rename(&partial, &binaries).with_context(|| format!("moving {partial} to {binaries}"))?;
    }
    let etc = state.join("etc");
    fs::create_dir_all(&etc).with_context(|| format!("creating {etc}"))?;
    for dir in [PRIVATE_RUN.into(), state.join("containerd"), state.join("docker")] {
        fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    }
    fs::write(etc.join("containerd.toml"), containerd_config(state, Utf8Path::new(PRIVATE_RUN)))
        .with_context(|| format!("writing {etc}/containerd.toml"))?;
    fs::write(etc.join("daemon.json"), "{ \"features\": { \"containerd-snapshotter\": true } }\n")
        .with_context(|| format!("writing {etc}/daemon.json"))?;
    // Its own binaries first: they decide the shim and docker-init; runc is the system's.
    let path = format!("{binaries}/usr/sbin:{binaries}/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let containerd_socket = format!("{PRIVATE_RUN}/containerd.sock");
    let answers = || UnixStream::connect(&containerd_socket).is_ok();
    let mut started = Vec::new();
    if !answers() {
        let log = log_path(root, "engine-containerd")?;
        let mut command = Command::new(binaries.join("usr/bin/containerd"));
        command.env("PATH", &path).args(["--config", etc.join("containerd.toml").as_str()]);
        let mut child = spawn(&mut command, &log, true).context("starting the project's containerd")?;
        wait_until_ready("the project's containerd", &mut child, &log, STARTUP_TIMEOUT, answers)?;
        started.push("containerd");
    }
    let version = || docker(&["--host", &private_socket(), "version", "--format", "{{.Server.Version}}"]);
    if version().is_err() {
        let log = log_path(root, "engine-dockerd")?;
        let mut command = Command::new(binaries.join("usr/sbin/dockerd"));
        command.env("PATH", &path).args([
            "-H",
            &private_socket(),
            "--data-root",
            state.join("docker").as_str(),
            "--exec-root",
            &format!("{PRIVATE_RUN}/exec"),
            "--pidfile",
            &format!("{PRIVATE_RUN}/docker.pid"),
            "--containerd",
            &containerd_socket,
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--cgroup-parent",
            "xtask-engine",
            "--config-file",
            etc.join("daemon.json").as_str(),
        ]);
        let mut child = spawn(&mut command, &log, true).context("starting the project's dockerd")?;
        wait_until_ready("the project's dockerd", &mut child, &log, STARTUP_TIMEOUT, || version().is_ok())?;
        started.push("dockerd");
    }
    if docker(&["context", "inspect", PROJECT_CONTEXT]).is_err() {
        let endpoint = format!("host={}", private_socket());
        docker(&["context", "create", PROJECT_CONTEXT, "--description", "cargo xtask's engine", "--docker", &endpoint])
            .with_context(|| format!("creating the docker context {PROJECT_CONTEXT}"))?;
        started.push("the docker context");
    }
    let version = version()?;
    let what =
        if started.is_empty() { "already running".to_string() } else { format!("started {}", started.join(", ")) };
    Ok(format!(
        "engine {PROJECT_CONTEXT}: Docker {version} with the containerd image store, {what} ({})",
        private_socket()
    ))
}

/// containerd for the private engine: its own root, state and sockets, and none of the
/// plugins this machine cannot run.
fn containerd_config(state: &Utf8Path, run: &Utf8Path) -> String {
    format!(
        "version = 2\nroot = \"{state}/containerd\"\nstate = \"{run}/containerd\"\n\
         disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.aufs\", \
         \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\"]\n\
         [grpc]\n  address = \"{run}/containerd.sock\"\n[ttrpc]\n  address = \"{run}/containerd.sock.ttrpc\"\n\
         [debug]\n  address = \"{run}/containerd-debug.sock\"\n[metrics]\n  address = \"\"\n\
         [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{state}/containerd/opt\"\n"
    )
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
