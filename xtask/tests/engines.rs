//! The two engines of this machine: the system's 20.10 (classic image store, docker context
//! `default`) and the project's Docker 26 (containerd image store, context `xtask`). Each
//! builds and publishes on its own, and `[builders]` maps one platform to the other engine,
//! joined into one verified index: the fan-out of a team with an arm64 machine beside an
//! amd64 one, on one host.

mod common;

use common::{engine_lock, fixture, xtask, xtask_ok, TestRegistry};

const RELEASE: [&str; 4] = ["--event", "release", "--version", "1.0.0"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    RELEASE.iter().copied().chain(extra.iter().copied()).collect()
}

/// Repositories with a tag in `engine`'s local store (`--context NAME`), for telling which
/// engine built what.
fn local_tags(context: &str, repository_prefix: &str) -> Vec<String> {
    let output = std::process::Command::new("docker")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .args(["--context", context, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with(repository_prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_classic_engine_builds_publishes_and_verifies_on_its_own() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("classic");
    let root = fixture("multi");
    xtask_ok(&root, &registry.host, &args(&["--engine", "default", "build", "base"]));
    xtask_ok(&root, &registry.host, &args(&["verify-manifests", "base"]));
    let built = local_tags("default", &format!("{}/base:staging", registry.host));
    assert_eq!(built.len(), 2, "both platforms were built on the classic engine: {built:?}");
    assert!(local_tags("xtask", &format!("{}/base:", registry.host)).is_empty(), "nothing on the other engine");
}

#[test]
fn builders_map_one_platform_to_the_other_engine_and_one_index_joins_them() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("two-engines");
    let root = fixture("multi");
    // The classic engine builds by default; arm64 goes to the project's engine.
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}engine = \"default\"\n\n[workspace.metadata.images.builders]\n\"linux/arm64\" = \"xtask\"\n"),
    )
    .unwrap();
    xtask_ok(&root, &registry.host, &args(&["build", "base"]));
    let prefix = format!("{}/base:staging", registry.host);
    assert_eq!(local_tags("default", &prefix), [format!("{prefix}-amd64")], "amd64 on the classic engine");
    // The containerd engine exports for xtask to push, so it keeps no tag: its provenance
    // (below) says that it built arm64.
    assert!(local_tags("xtask", &prefix).is_empty(), "the containerd engine exported, keeping no tag");
    // One index of both, and it verifies like any other.
    let index = registry.client().manifest("base", "1.0.0").unwrap().unwrap();
    let platforms: Vec<String> =
        index.body.manifests.iter().filter_map(|d| d.platform.as_ref().map(|p| p.name())).collect();
    // The containerd engine's arm64 provenance survives the join; the classic engine makes none.
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "unknown/unknown"]);
    let output = xtask(&root, &registry.host, &args(&["verify-manifests", "base"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "a release carries provenance for every platform:\n{stdout}");
    assert!(stdout.contains("its linux/amd64 image has no provenance, although the other platforms have"), "{stdout}");
    // `sbom` records provenance where the engine made none, beside each SBOM; then it verifies.
    let records: Vec<serde_json::Value> =
        serde_json::from_str(&xtask_ok(&root, &registry.host, &args(&["--format", "json", "sbom", "base"]))).unwrap();
    let added: Vec<(&str, bool)> =
        records.iter().map(|r| (r["platform"].as_str().unwrap(), r["provenance_added"].as_bool().unwrap())).collect();
    assert_eq!(added, [("linux/amd64", true), ("linux/arm64", false)], "{records:?}");
    xtask_ok(&root, &registry.host, &args(&["verify-manifests", "base"]));
    let reference = format!("{}/base:1.0.0", registry.host);
    let shown = common::docker()
        .args(["buildx", "imagetools", "inspect", &reference, "--format", "{{json .Provenance}}"])
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let builder = |platform: &str| shown[platform]["SLSA"]["builder"]["id"].as_str().map(str::to_owned);
    assert_eq!(builder("linux/amd64").as_deref(), Some("urn:xtask-images:sbom"), "recorded by xtask: {shown}");
    assert_ne!(builder("linux/arm64").as_deref(), Some("urn:xtask-images:sbom"), "BuildKit's own is kept: {shown}");
    assert!(shown["linux/arm64"]["SLSA"]["buildConfig"]["llbDefinition"].is_array(), "mode=max, as BuildKit made it");

    // A builder that does not exist stops the run before anything builds.
    let text = std::fs::read_to_string(&manifest).unwrap().replace("= \"xtask\"", "= \"arm-box\"");
    std::fs::write(&manifest, text).unwrap();
    let output = xtask(&root, &registry.host, &args(&["build", "--force", "base"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the builder \"arm-box\" for linux/arm64"), "{stderr}");
    assert!(!stderr.contains("started"), "nothing was built:\n{stderr}");
}

#[test]
fn plan_prints_a_bake_file_that_buildx_bake_reads() {
    let registry = "localhost:5000";
    let root = fixture("multi");
    let bake = xtask_ok(&root, registry, &args(&["--format", "bake", "plan"]));
    let mut child = std::process::Command::new("docker")
        .args(["buildx", "bake", "--print", "-f", "-"])
        .current_dir(&root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), bake.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "bake refused it:\n{}", String::from_utf8_lossy(&output.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let targets: Vec<&String> = printed["target"].as_object().unwrap().keys().collect();
    assert_eq!(targets.len(), 10, "five units on two platforms: {targets:?}");
    let app = &printed["target"]["app-loud-arm64"];
    assert_eq!(app["args"]["GREETING"], "HELLO");
    assert_eq!(app["contexts"]["xtask-parent-base-image"], "target:base-arm64", "the parent is a bake target");
    assert_eq!(app["platforms"], serde_json::json!(["linux/arm64"]));
    assert_eq!(app["tags"], serde_json::json!(["localhost:5000/app:staging-loud-arm64"]));
}

#[test]
fn reproducible_builds_give_the_same_index_digest_from_a_pruned_cache() {
    let _engine = engine_lock();
    let root = fixture("multi");
    let prune = || {
        let pruned = common::docker().args(["builder", "prune", "--all", "--force"]).output().unwrap();
        assert!(pruned.status.success(), "{}", String::from_utf8_lossy(&pruned.stderr));
    };
    // Each build from nothing: the engine's cache pruned, and a registry of its own, so no
    // registry cache or image of the other build can be reused.
    let build = |name: &str, extra: &[&str]| {
        let registry = TestRegistry::start(name);
        prune();
        let build: Vec<&str> = ["build", "--force"].iter().chain(extra).copied().collect();
        xtask_ok(&root, &registry.host, &args(&build));
        xtask_ok(&root, &registry.host, &args(&["verify-manifests", "base"]));
        let index = registry.client().manifest("base", "1.0.0").unwrap().expect("base:1.0.0 is published");
        // The pushed images are the exporter's bytes, in OCI media types.
        assert!(index.body.manifests.iter().all(|m| m.media_type == "application/vnd.oci.image.manifest.v1+json"));
        (registry, index.digest)
    };
    let (_, first) = build("reproducible-1", &["--reproducible"]);
    let (registry, second) = build("reproducible-2", &["--reproducible"]);
    assert_eq!(second, first, "a rebuild from nothing gives the same bytes");
    let (_, ordinary) = build("reproducible-3", &[]);
    assert_ne!(ordinary, first, "without --reproducible the build times differ, and so do the digests");

    // The classic engine cannot: one sentence with the fix, before anything builds.
    let output =
        xtask(&root, &registry.host, &args(&["--engine", "default", "build", "--reproducible", "--force", "base"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--reproducible needs a builder that rewrites layer timestamps"), "{stderr}");
    assert!(stderr.contains("--engine xtask"), "{stderr}");
    assert!(!stderr.contains("started"), "nothing was built:\n{stderr}");
}

#[test]
fn a_parent_named_literally_builds_on_this_runs_digest_not_its_tag() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("named-contexts");
    let root = fixture("multi");
    // The child names its parent by tag, as teams write it, instead of `${BASE_IMAGE}`.
    let app = root.join("images/app/Dockerfile");
    let text = std::fs::read_to_string(&app).unwrap();
    let literal = format!("FROM {}/base:1.0.0", registry.host);
    std::fs::write(&app, text.replace("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}", &literal)).unwrap();
    xtask_ok(&root, &registry.host, &args(&["build", "base", "app"]));
    let marker = |digest: &str| {
        let reference = format!("{}/app@{digest}", registry.host);
        let run = common::docker().args(["run", "--rm", "--network", "none", &reference, "cat", "/marker"]).output();
        String::from_utf8_lossy(&run.unwrap().stdout).trim().to_string()
    };
    // The base changes; the child is built and pushed, but no tag moves (`--digest-file`), so
    // base:1.0.0 still names the old base while the child builds.
    let base = root.join("images/base/Dockerfile");
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&base, text.replace("ENV PATH=/bin", "RUN echo rebuilt > /marker\nENV PATH=/bin")).unwrap();
    let digests = root.join("digests.json");
    xtask_ok(&root, &registry.host, &args(&["build", "--digest-file", digests.as_str(), "base", "app"]));
    let recorded: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&digests).unwrap()).unwrap();
    let host = xtask::sys::provision::host_platform();
    let child = recorded["units"]["app:quiet"][host].as_str().expect("the child's digest is recorded").to_string();
    assert_eq!(marker(&child), "rebuilt", "the child was built on this run's base, through a named context");
}
