//! End to end: the real engine, buildx, a real registry and arm64 emulation.
//! Builds fixture workspaces, then reads what the registry holds over HTTP.

mod common;

use std::collections::BTreeSet;

use common::{engine_lock, fixture, replace_in, run, xtask, xtask_ok, TestRegistry};
use xtask::oci::reference::split_repository;
use xtask::sys::registry::Registry;

const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The planned units as JSON, with the same event flags the build got.
fn plan(root: &camino::Utf8Path, registry: &str, event: &[&str]) -> Vec<serde_json::Value> {
    let mut args = event.to_vec();
    args.extend(["--format", "json", "plan"]);
    serde_json::from_str(&xtask_ok(root, registry, &args)).unwrap()
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// The index digest every tag of `unit` resolves to, after checking each tag.
fn check_published_unit(registry: &Registry, unit: &serde_json::Value) -> String {
    let tags = strings(&unit["tags"]);
    let expected_platforms: BTreeSet<String> = strings(&unit["platforms"]).into_iter().collect();
    assert!(!tags.is_empty(), "unit {} has no tags", unit["id"]);
    let mut digests = BTreeSet::new();
    for full in &tags {
        let (repo_ref, tag) = full.rsplit_once(':').unwrap();
        let (_, repository) = split_repository(repo_ref);
        let manifest = registry.manifest(repository, tag).unwrap().unwrap_or_else(|| panic!("{full} does not exist"));
        assert!(
            manifest.media_type == LIST || manifest.media_type == OCI_INDEX,
            "{full} is a {}, not a manifest list",
            manifest.media_type
        );
        let (attestations, images): (Vec<_>, Vec<_>) =
            manifest.body.manifests.iter().partition(|m| xtask::oci::manifest::is_attestation(m));
        let platforms: BTreeSet<String> = images.iter().map(|m| m.platform.as_ref().unwrap().name()).collect();
        assert_eq!(platforms, expected_platforms, "{full} holds the wrong platforms");
        // The project's engine attests: each platform image keeps its provenance in the index.
        let subjects: BTreeSet<&str> =
            attestations.iter().map(|a| a.annotations[xtask::oci::manifest::ATTESTATION_SUBJECT].as_str()).collect();
        let image_digests: BTreeSet<&str> = images.iter().map(|m| m.digest.as_str()).collect();
        assert_eq!(subjects, image_digests, "{full}: one provenance per platform image");
        for entry in images {
            let image = registry.manifest(repository, &entry.digest).unwrap().unwrap();
            let config = registry.config(repository, &image.body.config.unwrap().digest).unwrap();
            let declared = entry.platform.as_ref().unwrap();
            assert_eq!(
                (config.os.as_str(), config.architecture.as_str()),
                (declared.os.as_str(), declared.architecture.as_str()),
                "{full}: the {} slot holds a {} image",
                declared.name(),
                config.architecture
            );
        }
        digests.insert(manifest.digest);
    }
    assert_eq!(digests.len(), 1, "the tags of {} point at different digests: {digests:?}", unit["id"]);
    digests.into_iter().next().unwrap()
}

/// The digest of the `platform` entry of the manifest list at `reference`.
fn platform_digest(registry: &Registry, full_tag: &str, architecture: &str) -> String {
    let (repo_ref, tag) = full_tag.rsplit_once(':').unwrap();
    let (_, repository) = split_repository(repo_ref);
    let list = registry.manifest(repository, tag).unwrap().unwrap();
    list.body
        .manifests
        .iter()
        .find(|m| m.platform.as_ref().unwrap().architecture == architecture)
        .unwrap()
        .digest
        .clone()
}

#[test]
fn build_publishes_two_platform_manifest_lists_under_every_tag() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("multi");
    let root = fixture("multi");
    let event = ["--event", "release", "--version", "1.2.3"];

    let mut build = event.to_vec();
    build.push("build");
    let summary = xtask_ok(&root, &registry.host, &build);
    assert!(summary.contains("published"), "the summary names what was published:\n{summary}");

    let units = plan(&root, &registry.host, &event);
    let ids: Vec<&str> = units.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["base", "app:loud", "app:quiet", "tool:v1", "tool:v2"], "parents come first");
    let client = registry.client();
    for unit in &units {
        check_published_unit(&client, unit);
    }

    // The tag policy as published: release tags on the default variant, variant tags on each.
    let app_quiet = units.iter().find(|u| u["id"] == "app:quiet").unwrap();
    let tags: Vec<String> =
        strings(&app_quiet["tags"]).iter().map(|t| t.rsplit_once(':').unwrap().1.to_string()).collect();
    assert_eq!(tags, ["latest", "1.2.3", "1.2", "1", "quiet", "1.2.3-quiet"]);
    assert_eq!(strings(&units[3]["tags"])[0], format!("{}/tools/tool:v1", registry.host));

    // Children are pinned to the parent's image for the same platform: the parent's layers come first.
    let base_tag = format!("{}/base:latest", registry.host);
    let app_tag = format!("{}/app:latest", registry.host);
    for arch in ["amd64", "arm64"] {
        let base = client.manifest("base", &platform_digest(&client, &base_tag, arch)).unwrap().unwrap();
        let app = client.manifest("app", &platform_digest(&client, &app_tag, arch)).unwrap().unwrap();
        let base_layers: Vec<&str> = base.body.layers.iter().map(|l| l.digest.as_str()).collect();
        let app_layers: Vec<&str> = app.body.layers.iter().take(base_layers.len()).map(|l| l.digest.as_str()).collect();
        assert_eq!(app_layers, base_layers, "app/{arch} is not built on base/{arch}");
    }

    // The arm64 image really runs as aarch64, and carries what its build step made.
    let arm64 = format!("{}/app@{}", registry.host, platform_digest(&client, &app_tag, "arm64"));
    assert_eq!(
        run("docker", &["run", "--rm", "--network", "none", "--platform", "linux/arm64", &arm64, "uname", "-m"]),
        "aarch64"
    );
    assert_eq!(
        run("docker", &["run", "--rm", "--network", "none", "--platform", "linux/arm64", &arm64]),
        "hello from arm64"
    );
    let amd64 = format!("{}/app@{}", registry.host, platform_digest(&client, &app_tag, "amd64"));
    assert_eq!(
        run("docker", &["run", "--rm", "--network", "none", "--platform", "linux/amd64", &amd64, "uname", "-m"]),
        "x86_64"
    );
}

#[test]
fn a_failing_arm64_build_moves_no_tag() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("arm-fails");
    let root = fixture("arm-fails");
    let client = registry.client();

    // A good build first, so there is a tag that must not move.
    xtask_ok(&root, &registry.host, &["--branch", "main", "--sha", "1111111", "build"]);
    let before = client.manifest("fragile", "main").unwrap().expect("main was published").digest;

    replace_in(&root.join("images/fragile/image.toml"), "FAIL_ON = \"none\"", "FAIL_ON = \"aarch64\"");
    let output = xtask(&root, &registry.host, &["--branch", "main", "--sha", "2222222", "build"]);
    assert!(!output.status.success(), "the build must fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fragile linux/arm64: FAILED"), "{stderr}");
    assert!(stderr.contains("deliberately failing on aarch64"), "the error shows the log's last lines:\n{stderr}");
    assert!(stderr.contains("no tag of a failed unit moved"), "{stderr}");

    let tags = client.tags("fragile").unwrap();
    assert!(!tags.iter().any(|t| t == "main-2222222"), "a tag of the failed build exists: {tags:?}");
    assert_eq!(
        client.manifest("fragile", "main").unwrap().unwrap().digest,
        before,
        "`main` moved although arm64 failed"
    );
}

#[test]
fn keep_going_builds_a_childs_good_platform_but_publishes_no_child_of_a_failed_parent() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("arm-fails-child");
    let root = fixture("arm-fails");
    replace_in(&root.join("images/fragile/image.toml"), "FAIL_ON = \"none\"", "FAIL_ON = \"aarch64\"");
    let child = root.join("images/child");
    std::fs::create_dir_all(&child).unwrap();
    std::fs::write(child.join("image.toml"), "description = \"On fragile\"\n").unwrap();
    std::fs::write(child.join("Dockerfile"), "ARG FRAGILE_IMAGE\nFROM ${FRAGILE_IMAGE}\nUSER 65534:65534\n").unwrap();

    let output = xtask(&root, &registry.host, &["--branch", "main", "--format", "json", "build", "--keep-going"]);
    assert!(!output.status.success(), "the build must fail");
    let results: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let statuses: Vec<String> = results
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| {
            u["platforms"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |p| format!("{} {} {}", u["unit"], p["platform"], p["status"]))
        })
        .collect();
    assert_eq!(
        statuses,
        [
            r#""fragile" "linux/amd64" "built""#,
            r#""fragile" "linux/arm64" "failed""#,
            r#""child" "linux/amd64" "built""#,
            r#""child" "linux/arm64" "skipped""#,
        ],
        "the child's amd64 build needs only the parent's amd64 image"
    );
    for unit in results.as_array().unwrap() {
        assert_eq!(unit["published"], false, "{unit}");
    }
    assert_eq!(results[1]["error"], "linux/arm64 skipped: a parent failed");
    // Only the amd64 image's own push tags (staging, input digest) exist; no policy tag.
    let tags = registry.client().tags("child").unwrap();
    assert!(tags.iter().all(|t| t.starts_with("staging-") || t.starts_with("inputs-")), "{tags:?}");
    assert!(tags.iter().any(|t| t.starts_with("staging-")), "the child's amd64 build pushed nothing: {tags:?}");
}

#[test]
fn pull_requests_build_but_publish_nothing() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("pr");
    let root = fixture("arm-fails");
    let stdout =
        xtask_ok(&root, &registry.host, &["--event", "pull-request", "--pr", "7", "--sha", "3333333", "build"]);
    assert!(stdout.contains("built only"), "{stdout}");
    let tags = registry.client().tags("fragile").unwrap();
    assert!(tags.is_empty(), "a pull request pushed {tags:?}");
}
