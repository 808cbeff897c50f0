//! The generated workflow, rehearsed: `ci-workflow --rehearse` runs the committed file's jobs
//! on this machine (real engine, real loopback registry, arm64 emulated), and the registry ends
//! up holding what a local `cargo xtask build` publishes.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{engine_lock, fixture, xtask, xtask_ok, TestRegistry};
use xtask::oci::reference::split_repository;
use xtask::sys::registry::Registry;

fn git(root: &camino::Utf8Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(root.as_str())
        .args(["-c", "user.name=rehearsal", "-c", "user.email=rehearsal@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Per published tag, the platforms of the index it names.
fn published(root: &camino::Utf8Path, host: &str) -> BTreeMap<String, Vec<String>> {
    let units: serde_json::Value = serde_json::from_str(&xtask_ok(root, host, &["--format", "json", "plan"])).unwrap();
    let client = Registry::new(host).unwrap();
    let mut tags = BTreeMap::new();
    for unit in units.as_array().unwrap() {
        for full in unit["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()) {
            let (repository, tag) = full.rsplit_once(':').unwrap();
            let index = client.manifest(split_repository(repository).1, tag).unwrap();
            let index = index.unwrap_or_else(|| panic!("{full} was not published"));
            let images = xtask::oci::manifest::platform_images(&index.body);
            let mut platforms: Vec<String> = images.into_iter().map(|i| i.platform).collect();
            platforms.sort();
            // The same tag in either registry: compared without the host.
            tags.insert(full.replacen(host, "<registry>", 1), platforms);
        }
    }
    tags
}

#[test]
fn the_rehearsed_workflow_publishes_what_a_local_build_publishes() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("rehearsal");
    let root = fixture("multi");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "images"]);
    // A rehearsal runs the committed file, and refuses one that is not the generated one.
    let output = xtask(&root, &registry.host, &["ci-workflow", "--rehearse"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("reading"), "no workflow file yet");
    xtask_ok(&root, &registry.host, &["ci-workflow"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "workflow"]);

    let output = xtask(&root, &registry.host, &["ci-workflow", "--rehearse"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for job in ["xtask", "plan", "lint", "build-0", "build-1", "publish", "test", "sbom"] {
        let row = stdout.lines().find(|l| l.split_whitespace().next() == Some(job));
        let row = row.unwrap_or_else(|| panic!("no row for {job}:\n{stdout}"));
        assert!(row.contains("success"), "{row}");
    }
    // The base on both platforms in level 0, four child units on both in level 1.
    let legs = |job: &str| stdout.lines().find(|l| l.starts_with(job)).and_then(|l| l.split_whitespace().nth(1));
    assert_eq!((legs("build-0"), legs("build-1")), (Some("2"), Some("8")), "{stdout}");
    for mapped in [
        "build-1: Set up the builder: replaced: the engine's build cache pruned",
        "build-0: Install what a leg needs on the runner: skipped",
        "xtask: Compile the xtask: replaced: this xtask binary installed",
        "lint: Upload the findings: not uploaded: the file checked to be a SARIF 2.1.0 document",
    ] {
        assert!(stdout.contains(mapped), "{mapped}:\n{stdout}");
    }
    // The children's legs built on the parent their level above pushed, never again.
    let logs = root.join("target/xtask/rehearsal/logs");
    for entry in logs.read_dir_utf8().unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().starts_with("build-1-") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            assert!(!text.contains("base linux/"), "{}: a child's leg built the base:\n{text}", entry.path());
        }
    }
    xtask_ok(&root, &registry.host, &["verify-manifests"]);
    let rehearsed = published(&root, &registry.host);

    // The same commit built locally into another registry: the same tags, each on the same platforms.
    let peer = TestRegistry::start("rehearsal-peer");
    xtask_ok(&root, &peer.host, &["build"]);
    assert_eq!(rehearsed, published(&root, &peer.host));
    // base, app (two variants) and tools/tool (two): the branch, commit and variant tags.
    assert_eq!(rehearsed.len(), 8, "{rehearsed:?}");
    // No build cache among the image's own tags.
    let client = Registry::new(&registry.host).unwrap();
    let tags = client.tags("app").unwrap();
    assert!(tags.iter().all(|t| !t.starts_with("buildcache")), "{tags:?}");
    assert!(client.tags("app-cache").unwrap().iter().any(|t| t.starts_with("buildcache-")));

    // A pull request builds every leg and pushes nothing: publish, test and sbom are skipped.
    let before: Vec<Vec<String>> = ["base", "app", "tools/tool"].iter().map(|r| client.tags(r).unwrap()).collect();
    let output = xtask(&root, &registry.host, &["--event", "pull-request", "--pr", "1", "ci-workflow", "--rehearse"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for (job, result) in [("build-0", "success"), ("build-1", "success"), ("publish", "skipped"), ("sbom", "skipped")] {
        let row = stdout.lines().find(|l| l.split_whitespace().next() == Some(job)).unwrap();
        assert!(row.contains(result), "{job}: {row}");
    }
    let after: Vec<Vec<String>> = ["base", "app", "tools/tool"].iter().map(|r| client.tags(r).unwrap()).collect();
    assert_eq!(before, after, "a pull request pushed nothing");
}
