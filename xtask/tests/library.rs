//! The image library in `images/`, end to end: the debian root filesystem is the same
//! tarball twice, and bootstraps on a host without Debian sources, and pgbouncer in front
//! of postgres serves a client over SCRAM-SHA-256.
//! Both run on amd64 only: an arm64 minbase bootstrap takes about three minutes under
//! emulation, and the per-platform checks are the images' own `[[tests]]`.

mod common;

use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use common::{engine_lock, run, scratch, xtask_ok, TestRegistry};
use serde_json::Value;
use sha2::{Digest, Sha256};
use xtask::core::definitions::Bootstrap;

fn sha256(path: &Utf8Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_debian_rootfs_is_the_same_tarball_twice() {
    let _engine = engine_lock();
    let bootstrap = Bootstrap {
        suite: "bookworm".into(),
        variant: "minbase".into(),
        slim: true,
        include: vec![],
        mirror: None,
        security_mirror: None,
    };
    // 2023-11-14 22:13:20 UTC.
    let epoch = Some(1_700_000_000);
    let (cache_a, cache_b) = (scratch("rootfs-a"), scratch("rootfs-b"));
    let first = xtask::sys::rootfs::bootstrapped(&cache_a, &bootstrap, "linux/amd64", epoch).unwrap();
    let second = xtask::sys::rootfs::bootstrapped(&cache_b, &bootstrap, "linux/amd64", epoch).unwrap();
    assert!(first.starts_with(&cache_a) && second.starts_with(&cache_b));
    assert_eq!(first.file_name(), second.file_name(), "the same inputs give the same cache key");
    assert_eq!(sha256(&first), sha256(&second), "two runs of mmdebstrap gave different tarballs");

    // Nothing in it is newer than SOURCE_DATE_EPOCH.
    let listing = run("tar", &["--list", "--verbose", "--full-time", "--utc", "--file", first.as_str()]);
    let newest =
        listing.lines().map(|line| line.split_whitespace().skip(3).take(2).collect::<Vec<_>>().join(" ")).max();
    assert_eq!(newest.as_deref(), Some("2023-11-14 22:13:20"), "{}", &listing[..listing.len().min(2000)]);
    assert!(listing.contains("./etc/apt/sources.list.d/0000debian.sources"), "the mirror is in the image");
    assert!(!listing.contains("./usr/share/man/man1/"), "slim leaves man pages out");

    // The second request is answered from the cache.
    let built = std::fs::metadata(&first).unwrap().modified().unwrap();
    assert_eq!(xtask::sys::rootfs::bootstrapped(&cache_a, &bootstrap, "linux/amd64", epoch).unwrap(), first);
    assert_eq!(std::fs::metadata(&first).unwrap().modified().unwrap(), built, "a cached tarball was rebuilt");
    for cache in [cache_a, cache_b] {
        std::fs::remove_dir_all(cache).unwrap();
    }
}

/// A container removed (with its anonymous volumes) when the test ends, however it ends.
struct Container {
    id: String,
}

impl Container {
    fn start(args: &[&str]) -> Container {
        let mut argv = vec!["run", "--detach", "--pull", "never", "--health-interval", "1s"];
        argv.extend(args);
        Container { id: run("docker", &argv) }
    }

    fn logs(&self) -> String {
        let output = common::docker().args(["logs", &self.id]).output().unwrap();
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    }

    fn wait_healthy(&self, timeout: Duration) {
        let started = Instant::now();
        loop {
            let state = run("docker", &["inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", &self.id]);
            match state.as_str() {
                "running healthy" => return,
                "running starting" if started.elapsed() < timeout => std::thread::sleep(Duration::from_millis(500)),
                _ => panic!(
                    "container {} is {state:?} after {:?}; its logs:\n{}",
                    self.id,
                    started.elapsed(),
                    self.logs()
                ),
            }
        }
    }

    /// `psql` inside this container as a client of `conninfo`, with `password`.
    fn psql(&self, password: &str, conninfo: &str, sql: &str) -> std::process::Output {
        let password = format!("PGPASSWORD={password}");
        common::docker()
            .args(["exec", "--env", &password, &self.id, "psql", conninfo, "--no-psqlrc", "-At", "-c", sql])
            .output()
            .unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = common::docker().args(["rm", "--force", "--volumes", &self.id]).output();
    }
}

/// `Cargo.toml` and `images/` of this repository, without root filesystems a build left there.
fn library_copy() -> Utf8PathBuf {
    fn copy(from: &Utf8Path, to: &Utf8Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in from.read_dir_utf8().unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != "rootfs" {
                    copy(entry.path(), &to.join(entry.file_name()));
                }
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }
    let repo = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let root = scratch("library");
    std::fs::copy(repo.join("Cargo.toml"), root.join("Cargo.toml")).unwrap();
    copy(&repo.join("images"), &root.join("images"));
    root
}

#[test]
fn pgbouncer_in_front_of_postgres_serves_a_client_over_scram() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("library");
    let root = library_copy();
    // The host platform into the local engine (emulated PostgreSQL builds take minutes):
    // debian:trixie, then postgres and pgbouncer on it.
    let host = xtask::sys::provision::host_platform();
    xtask_ok(&root, &registry.host, &["build", "--load", "--platform", host, "postgres", "pgbouncer"]);
    let plan: Vec<Value> =
        serde_json::from_str(&xtask_ok(&root, &registry.host, &["--format", "json", "plan"])).unwrap();
    let image = |unit: &str| {
        let unit = plan.iter().find(|u| u["id"] == unit).unwrap_or_else(|| panic!("no unit {unit} in the plan"));
        unit["tags"][0].as_str().unwrap().to_string()
    };

    let init = scratch("library-initdb");
    std::fs::write(
        init.join("01-greeting.sql"),
        "CREATE TABLE greeting (text text);\nINSERT INTO greeting VALUES ('hello through pgbouncer');\n",
    )
    .unwrap();
    let mount = format!("{init}:/docker-entrypoint-initdb.d:ro");
    let postgres = Container::start(&[
        "--network=none",
        "--env=POSTGRES_USER=app",
        "--env=POSTGRES_PASSWORD=s3cret pass",
        "--env=POSTGRES_DB=appdb",
        "--volume",
        &mount,
        &image("postgres"),
    ]);
    postgres.wait_healthy(Duration::from_secs(180));
    // One network namespace: pgbouncer reaches the server on 127.0.0.1:5432.
    let network = format!("--network=container:{}", postgres.id);
    let pgbouncer = Container::start(&[
        &network,
        "--env=PGBOUNCER_USER=app",
        "--env=PGBOUNCER_PASSWORD=s3cret pass",
        &image("pgbouncer"),
    ]);
    pgbouncer.wait_healthy(Duration::from_secs(60));

    // The client insists on SCRAM-SHA-256 from PgBouncer, which logs in to the server with it.
    let through = "host=127.0.0.1 port=6432 user=app dbname=appdb require_auth=scram-sha-256";
    let output = postgres.psql("s3cret pass", through, "SELECT text FROM greeting");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}\n{}", String::from_utf8_lossy(&output.stderr), pgbouncer.logs());
    assert_eq!(stdout.trim(), "hello through pgbouncer", "the init script's row, read through pgbouncer");
    let logs = pgbouncer.logs();
    assert!(logs.contains("login attempt: db=appdb user=app"), "pgbouncer saw no login:\n{logs}");

    let wrong = postgres.psql("wrong", through, "SELECT 1");
    assert!(!wrong.status.success(), "a wrong password was accepted");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    // PgBouncer answers a SCRAM mismatch itself ("SASL authentication failed"), not PostgreSQL.
    assert!(stderr.contains("SASL authentication failed"), "{stderr}");
    drop((pgbouncer, postgres));

    // The same pairing as pgbouncer's own [[tests]] declares it: postgres as its companion.
    let args =
        ["--format", "json", "test", "--local", "pgbouncer", "--platform", xtask::sys::provision::host_platform()];
    let report: Value = serde_json::from_str(&xtask_ok(&root, &registry.host, &args)).unwrap();
    let companion = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["test"].as_str().is_some_and(|t| t.contains("postgres companion")))
        .expect("pgbouncer declares a test with its postgres companion");
    assert_eq!(companion["status"], "passed", "{companion:#}");
}

/// A mount namespace of its own, held open by a sleeping process, where the host's apt
/// sources are hidden under an empty tmpfs, as on a host without Debian sources (an Ubuntu
/// runner). Commands run in it with `nsenter`; the rest of the machine stays as it is.
struct WithoutHostSources {
    holder: std::process::Child,
}

impl WithoutHostSources {
    fn enter() -> WithoutHostSources {
        let holder = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "900"])
            .spawn()
            .unwrap();
        let namespace = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
        let pid = holder.id().to_string();
        let ours = namespace("self");
        for _ in 0..100 {
            if namespace(&pid).is_some_and(|ns| Some(&ns) != ours.as_ref()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let hidden = WithoutHostSources { holder };
        hidden.run(&["mount", "-t", "tmpfs", "tmpfs", "/etc/apt/sources.list.d"]);
        if Utf8Path::new("/etc/apt/sources.list").exists() {
            hidden.run(&["mount", "--bind", "/dev/null", "/etc/apt/sources.list"]);
        }
        hidden
    }

    fn command(&self, argv: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new("nsenter");
        command.args(["--target", &self.holder.id().to_string(), "--mount", "--"]).args(argv);
        command
    }

    fn run(&self, argv: &[&str]) {
        let output = self.command(argv).output().unwrap();
        assert!(output.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for WithoutHostSources {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

#[test]
fn debian_bookworm_builds_on_a_host_without_debian_sources() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("no-host-sources");
    let root = library_copy();
    let hidden = WithoutHostSources::enter();
    let listing = hidden.command(&["ls", "-A", "/etc/apt/sources.list.d"]).output().unwrap();
    assert!(listing.stdout.is_empty(), "the host's sources are hidden in the namespace");
    let host = xtask::sys::provision::host_platform();
    // The binary as `common::xtask_command` runs it (no CI system's variables), in the namespace.
    let mut build =
        hidden.command(&[env!("CARGO_BIN_EXE_xtask"), "--root", root.as_str(), "--registry", &registry.host]);
    build.args(["--branch", "main", "build", "--no-push", "--no-lint", "--platform", host, "debian:bookworm"]);
    for variable in
        xtask::core::event::CI_VARIABLES.iter().chain(&["GITHUB_EVENT_PATH", "DOCKER_HOST", "DOCKER_CONTEXT"])
    {
        build.env_remove(variable);
    }
    build.env("XTASK_CACHE_DIR", Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xtask/cache"));
    let output = build.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("debian:bookworm"), "{stderr}");
}
