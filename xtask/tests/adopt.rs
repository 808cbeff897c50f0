//! The crate as a library: a second, minimal workspace (not Rust otherwise, as a real one
//! would be) whose xtask is three lines of `main` depending on this crate by path runs `plan`
//! and `lint` through it, on an image built on a "public" base (a second loopback registry).

mod common;

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use common::{engine_lock, fixture, scratch, xtask_ok, TestRegistry};

/// Writes `text` to `root/path`, creating its directory.
fn write(root: &Utf8Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

/// `cargo xtask ARGS` in the adopting workspace, as its users run it; (status, stdout, stderr).
fn cargo_xtask(root: &Utf8Path, args: &[&str]) -> (bool, String, String) {
    let crate_dir = Utf8Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // Its own target directory, kept between runs: only the first one compiles the crate.
    let target = crate_dir.join("../target/adopt");
    command.current_dir(root).args(["--offline", "xtask"]).args(args).env("CARGO_TARGET_DIR", target);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        // This test's own cargo environment must not leak into the other workspace's build.
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key == "RUSTFLAGS" {
            command.env_remove(&key);
        }
    }
    let output = command.output().expect("running cargo");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    eprintln!("--- cargo xtask {args:?}\n{}{}", text(&output.stdout), text(&output.stderr));
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// A workspace that adopts the crate: its settings, the alias, a three-line xtask and one image.
fn adopting_workspace(base: &str) -> Utf8PathBuf {
    let root = scratch("adopter");
    let crate_dir = std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).unwrap();
    write(
        &root,
        "Cargo.toml",
        "[workspace]\nmembers = [\"xtask\"]\nresolver = \"2\"\n\n\
         [workspace.metadata.images]\nregistry = \"localhost:5000\"\nnamespace = \"acme\"\n\
         platforms = [\"linux/amd64\", \"linux/arm64\"]\n",
    );
    write(&root, ".cargo/config.toml", "[alias]\nxtask = \"run --package xtask --\"\n");
    write(
        &root,
        "xtask/Cargo.toml",
        &format!(
            "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nimages = {{ package = \"xtask-images\", path = {:?} }}\n",
            crate_dir.display().to_string()
        ),
    );
    write(&root, "xtask/src/main.rs", "fn main() {\n    images::entry::main()\n}\n");
    // The same versions as this workspace's lockfile: resolved offline, from cargo's cache.
    std::fs::copy(Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"), root.join("Cargo.lock")).unwrap();
    write(
        &root,
        "images/api/Dockerfile",
        &format!("FROM {base}\nCOPY app.txt /srv/app.txt\nUSER 65534:65534\nCMD [\"cat\", \"/srv/app.txt\"]\n"),
    );
    write(&root, "images/api/app.txt", "an API\n");
    write(&root, "images/api/image.toml", "description = \"An API on a public base\"\nversion = \"1.4.0\"\n");
    root
}

#[test]
fn another_workspace_runs_plan_and_lint_through_the_library() {
    let _engine = engine_lock();
    let public = TestRegistry::start("adopt-public");
    xtask_ok(&fixture("multi"), &public.host, &["--event", "release", "--version", "1.0.0", "build", "base"]);
    let base = format!("{}/base:1", public.host);
    let root = adopting_workspace(&base);

    let (ok, stdout, stderr) = cargo_xtask(&root, &["--event", "release", "--format", "json", "plan"]);
    assert!(ok, "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan[0]["id"], "api");
    assert_eq!(plan[0]["repository"], "localhost:5000/acme/api");
    assert_eq!(plan[0]["tags"][1], "localhost:5000/acme/api:1.4.0");
    assert_eq!(plan[0]["bases"][0]["reference"], base.as_str(), "the public base is resolved");
    assert_eq!(plan[0]["bases"][0]["digests"].as_object().unwrap().len(), 2);

    let (ok, _, stderr) = cargo_xtask(&root, &["lint"]);
    assert!(ok, "{stderr}");
    // A finding in the adopting workspace is reported at its own file.
    write(&root, "images/api/Dockerfile", &format!("FROM {base}\nCOPY app.txt /srv/app.txt\n"));
    let (ok, stdout, stderr) = cargo_xtask(&root, &["lint"]);
    assert!(!ok && stdout.contains("images/api/Dockerfile:1: root-user"), "{stdout}{stderr}");
}
