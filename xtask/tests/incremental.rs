//! Skipping unchanged work: a no-op rebuild runs no buildx build at all, and a
//! change rebuilds exactly the unit it touches and the units built on it.

mod common;

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use common::{engine_lock, fixture, scratch, xtask_with_env, TestRegistry};

/// A `docker` on PATH that logs every invocation, then runs the real one.
fn docker_shim() -> (Utf8PathBuf, Utf8PathBuf) {
    let dir = scratch("docker-shim");
    let log = dir.join("invocations.log");
    let real = which::which("docker").expect("docker is installed");
    let script = format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\nexec '{}' \"$@\"\n", real.display());
    let shim = dir.join("docker");
    std::fs::write(&shim, script).unwrap();
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (dir, log)
}

/// Builds with the shim first on PATH; returns each (unit, platform) status and the
/// number of `buildx build` invocations.
fn build(
    root: &Utf8Path,
    registry: &TestRegistry,
    shim: &Utf8Path,
    log: &Utf8Path,
) -> (BTreeMap<String, String>, usize) {
    let _ = std::fs::remove_file(log);
    let path = format!("{shim}:{}", std::env::var("PATH").unwrap());
    let args = ["--event", "release", "--version", "1.0.0", "--format", "json", "build"];
    let output = xtask_with_env(root, &registry.host, &args, &[("PATH", &path)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "build failed:\n{stderr}");
    let results: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut statuses = BTreeMap::new();
    for unit in results.as_array().unwrap() {
        for p in unit["platforms"].as_array().unwrap() {
            statuses.insert(
                format!("{} {}", unit["unit"].as_str().unwrap(), p["platform"].as_str().unwrap()),
                p["status"].as_str().unwrap().to_string(),
            );
        }
        assert_eq!(unit["published"], true, "{} was not published", unit["unit"]);
    }
    let invocations = std::fs::read_to_string(log).unwrap_or_default();
    (statuses, invocations.lines().filter(|l| l.starts_with("buildx build")).count())
}

fn units_with(statuses: &BTreeMap<String, String>, status: &str) -> Vec<String> {
    let mut units: Vec<String> =
        statuses.iter().filter(|(_, s)| *s == status).map(|(k, _)| k.split(' ').next().unwrap().to_string()).collect();
    units.dedup();
    units
}

#[test]
fn unchanged_units_are_not_rebuilt_and_changes_rebuild_their_dependents_only() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("incremental");
    let root = fixture("multi");
    let (shim, log) = docker_shim();

    let (first, builds) = build(&root, &registry, &shim, &log);
    assert_eq!(units_with(&first, "built"), ["app:loud", "app:quiet", "base", "tool:v1", "tool:v2"]);
    assert_eq!(builds, 10, "five units on two platforms");

    let (again, builds) = build(&root, &registry, &shim, &log);
    assert_eq!(builds, 0, "a no-op rebuild invokes no buildx build");
    assert!(again.values().all(|s| s == "up-to-date"), "{again:?}");

    // A file in app's context: both app variants rebuild; base and tool do not.
    std::fs::write(root.join("images/app/NOTES.txt"), "a new file in the build context\n").unwrap();
    let (after_app, builds) = build(&root, &registry, &shim, &log);
    assert_eq!(units_with(&after_app, "built"), ["app:loud", "app:quiet"]);
    assert_eq!(units_with(&after_app, "up-to-date"), ["base", "tool:v1", "tool:v2"]);
    assert_eq!(builds, 4);

    // A file the build cannot see (.dockerignore'd) changes nothing.
    std::fs::write(root.join("images/app/.dockerignore"), "scratch-notes/\n").unwrap();
    let (_, builds) = build(&root, &registry, &shim, &log);
    assert_eq!(builds, 4, "adding .dockerignore itself is a context change");
    std::fs::create_dir_all(root.join("images/app/scratch-notes")).unwrap();
    std::fs::write(root.join("images/app/scratch-notes/todo.txt"), "ignored\n").unwrap();
    let (_, builds) = build(&root, &registry, &shim, &log);
    assert_eq!(builds, 0, "an ignored file is not an input");

    // A change in the parent: the parent and everything built on it rebuild.
    std::fs::write(root.join("images/base/NOTES.txt"), "parent change\n").unwrap();
    let (after_base, builds) = build(&root, &registry, &shim, &log);
    assert_eq!(units_with(&after_base, "built"), ["app:loud", "app:quiet", "base", "tool:v1", "tool:v2"]);
    assert_eq!(builds, 10);
}
