//! Shared set-up for the integration tests: fixture workspaces copied to a
//! scratch directory, a real `docker-registry` on a free loopback port, and
//! the xtask binary run as a user would run it.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::process::Output;
use std::sync::{Mutex, MutexGuard};

use camino::{Utf8Path, Utf8PathBuf};
use xtask::sys::provision::{start_registry, RegistryProcess};
use xtask::sys::registry::Registry;

/// Engine-heavy tests run one at a time: they share the engine, the apt cache
/// and the two cores, and parallel buildx runs only slow each other down.
pub fn engine_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The engine the xtask binary builds and tests on when nothing overrides it: the tests'
/// own docker commands must look there too.
pub const ENGINE: &str = xtask::core::definitions::DEFAULT_ENGINE;

/// `docker` aimed at [`ENGINE`] (by its socket, as the binary does), whatever this shell's
/// docker variables say.
pub fn docker() -> std::process::Command {
    assert_eq!(ENGINE, xtask::sys::engine::PROJECT_CONTEXT);
    let mut command = std::process::Command::new("docker");
    command.env("DOCKER_HOST", xtask::sys::engine::private_socket()).env_remove("DOCKER_CONTEXT");
    command
}

/// One bcrypt login for registries started with logins: `htpasswd -nbB -C 5 xtask registry-test-password`.
pub const HTPASSWD: &str = "xtask:$2y$05$KEmxV6kGrEFgajlQdmUS5uCffngveBhIpI6CQZt.uqJ/u9MqPy7XO\n";
/// Its password.
pub const PASSWORD: &str = "registry-test-password";

/// A registry on a free loopback port with its own storage; killed on drop.
pub struct TestRegistry {
    pub host: String,
    pub storage: Utf8PathBuf,
    process: Option<RegistryProcess>,
}

impl TestRegistry {
    pub fn start(name: &str) -> TestRegistry {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let storage = scratch(&format!("registry-{name}"));
        let process = start_registry(&host, &storage, None)
            .expect("starting docker-registry (run `cargo xtask provision` first)");
        TestRegistry { host, storage, process: Some(process) }
    }

    /// Like `start`, but every request needs one of the bcrypt logins in `htpasswd` (the
    /// file's text), answered with Basic challenges.
    pub fn start_with_logins(name: &str, htpasswd: &str) -> TestRegistry {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let storage = scratch(&format!("registry-{name}"));
        let logins = storage.join("htpasswd");
        std::fs::write(&logins, htpasswd).unwrap();
        let process = start_registry(&host, &storage, Some(&logins))
            .expect("starting docker-registry (run `cargo xtask provision` first)");
        TestRegistry { host, storage, process: Some(process) }
    }

    /// Like `start`, sending its notifications to `notify`.
    pub fn start_notifying(name: &str, notify: &xtask::sys::provision::Notify) -> TestRegistry {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let storage = scratch(&format!("registry-{name}"));
        let process = xtask::sys::provision::start_registry_notifying(&host, &storage, notify)
            .expect("starting docker-registry (run `cargo xtask provision` first)");
        TestRegistry { host, storage, process: Some(process) }
    }

    pub fn client(&self) -> Registry {
        Registry::new(&self.host).unwrap()
    }

    /// Kills the registry, as a crash would; its storage stays.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Serves the same storage on the same address again (without logins).
    pub fn restart(&mut self) {
        self.process = Some(start_registry(&self.host, &self.storage, None).expect("restarting docker-registry"));
    }
}

impl Drop for TestRegistry {
    /// Builds leave their images in the engine under this registry's name: remove them.
    fn drop(&mut self) {
        let listing = docker().args(["image", "ls", "--format", "{{.Repository}} {{.ID}}"]).output();
        let Ok(listing) = listing else { return };
        let prefix = format!("{}/", self.host);
        let ours: Vec<String> = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix)?.split_whitespace().nth(1).map(str::to_string))
            .collect();
        if !ours.is_empty() {
            let _ = docker().args(["image", "rm", "--force"]).args(&ours).output();
        }
    }
}

/// An empty scratch directory under cargo's per-target temporary directory.
pub fn scratch(name: &str) -> Utf8PathBuf {
    let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh copy of `xtask/tests/fixtures/<name>`, so tests may change it.
pub fn fixture(name: &str) -> Utf8PathBuf {
    // One copy per call: tests of one binary run in parallel and must not share a workspace.
    static COPIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let copy = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let source = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let dest = scratch(&format!("fixture-{name}-{copy}"));
    copy_tree(&source, &dest);
    dest
}

fn copy_tree(from: &Utf8Path, to: &Utf8Path) {
    for entry in from.read_dir_utf8().unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_name() == "target" || entry.file_name() == "rootfs" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The xtask binary with no CI system's variables, so that a test plans for the flags it
/// passes whichever CI system runs it.
pub fn xtask_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    for variable in xtask::core::event::CI_VARIABLES.iter().chain(&["GITHUB_EVENT_PATH"]) {
        command.env_remove(variable);
    }
    // The workspace's engine, [`ENGINE`] by default, as the tests' own docker commands use.
    command.env_remove("DOCKER_HOST").env_remove("DOCKER_CONTEXT");
    command
}

/// Runs the xtask binary on `root`, pushing to `registry`.
pub fn xtask(root: &Utf8Path, registry: &str, args: &[&str]) -> Output {
    xtask_with_env(root, registry, args, &[])
}

/// Like `xtask`, with extra environment variables for the binary.
pub fn xtask_with_env(root: &Utf8Path, registry: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = xtask_command()
        .arg("--root")
        .arg(root)
        .arg("--registry")
        .arg(registry)
        .args(args)
        // Builds of fixtures share the downloaded packages and root filesystems.
        .env("XTASK_CACHE_DIR", Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xtask/cache"))
        .envs(env.iter().copied())
        .output()
        .expect("running the xtask binary");
    eprintln!(
        "--- xtask {args:?}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Like `xtask`, but the command must succeed; returns stdout.
pub fn xtask_ok(root: &Utf8Path, registry: &str, args: &[&str]) -> String {
    let output = xtask(root, registry, args);
    assert!(output.status.success(), "xtask {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a command that must succeed and returns its trimmed stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let mut command = if program == "docker" { docker() } else { std::process::Command::new(program) };
    let output = command.args(args).output().unwrap();
    assert!(output.status.success(), "{program} {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Replaces `from` with `to` in a fixture file; `from` must be there, so an edit that stops
/// matching the fixture fails the test instead of silently testing the unchanged file.
pub fn replace_in(file: &Utf8Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
    assert!(text.contains(from), "{file} does not contain {from:?}");
    std::fs::write(file, text.replace(from, to)).unwrap_or_else(|e| panic!("writing {file}: {e}"));
}

/// One request to a scripted loopback server: method, path, `Content-Type` and body.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub content_type: &'a str,
    pub body: Vec<u8>,
}

/// A reply: status, extra headers and body (not sent for HEAD).
pub type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers every request with `respond`, one
/// connection per request: enough to script a registry that misbehaves on purpose.
/// Returns its `host:port`.
pub fn serve_http(respond: impl Fn(Request<'_>) -> Reply + Send + Sync + 'static) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let respond = std::sync::Arc::new(respond);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let respond = respond.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let (mut length, mut content_type) = (0, String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let Some((name, value)) = line.trim_end().split_once(':') else { break };
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    } else if name.eq_ignore_ascii_case("content-type") {
                        content_type = value.trim().to_string();
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let mut parts = request.split(' ');
                let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                let (status, headers, body) = respond(Request { method, path, content_type: &content_type, body });
                let mut head =
                    format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                let _ = stream.write_all(format!("{head}\r\n").as_bytes());
                if method != "HEAD" {
                    let _ = stream.write_all(&body);
                }
            });
        }
    });
    host
}

/// A workspace of one image, `app`, `FROM scratch`, for the given platforms: for tests that
/// need a plan, not a build.
pub fn one_image_workspace(name: &str, platforms: &[&str]) -> Utf8PathBuf {
    let root = scratch(name);
    std::fs::create_dir_all(root.join("images/app")).unwrap();
    let platforms: Vec<String> = platforms.iter().map(|p| format!("{p:?}")).collect();
    let manifest = format!("[workspace]\n\n[workspace.metadata.images]\nplatforms = [{}]\n", platforms.join(", "));
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(root.join("images/app/image.toml"), "description = \"app\"\n").unwrap();
    std::fs::write(root.join("images/app/Dockerfile"), "FROM scratch\nUSER 65534:65534\n").unwrap();
    root
}
