//! External bases: an image built on a base from another registry (a second loopback
//! registry plays the public one) is pinned to that base's digest per platform, skipped while
//! the base stays, rebuilt when its tag moves, and reported by `outdated` in between.

mod common;

use std::collections::BTreeMap;

use camino::Utf8Path;
use common::{engine_lock, fixture, replace_in, xtask, xtask_ok, TestRegistry};

/// Each platform's image digest behind `repository:tag` on `registry`.
fn platform_digests(registry: &TestRegistry, repository: &str, tag: &str) -> BTreeMap<String, String> {
    let index = registry.client().manifest(repository, tag).unwrap().expect("the base is published");
    xtask::oci::manifest::platform_images(&index.body).into_iter().map(|i| (i.platform, i.digest)).collect()
}

/// The labels of the platform image of `platform` behind `repository:tag`.
fn labels(registry: &TestRegistry, repository: &str, tag: &str, platform: &str) -> BTreeMap<String, String> {
    let client = registry.client();
    let digest = platform_digests(registry, repository, tag)[platform].clone();
    let manifest = client.manifest(repository, &digest).unwrap().unwrap();
    client.config(repository, &manifest.body.config.unwrap().digest).unwrap().labels()
}

/// Publishes the base fixture to the "public" registry as a release: `1` names it.
fn publish_base(root: &Utf8Path, public: &TestRegistry, version: &str) {
    xtask_ok(root, &public.host, &["--event", "release", "--version", version, "build", "base"]);
}

/// (unit platform, status) of a `build --format json` of the app.
fn build_app(root: &Utf8Path, target: &TestRegistry) -> BTreeMap<String, String> {
    let stdout =
        xtask_ok(root, &target.host, &["--event", "release", "--version", "2.0.0", "--format", "json", "build"]);
    let results: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut statuses = BTreeMap::new();
    for unit in results.as_array().unwrap() {
        assert_eq!(unit["published"], true);
        for p in unit["platforms"].as_array().unwrap() {
            statuses.insert(p["platform"].as_str().unwrap().to_string(), p["status"].as_str().unwrap().to_string());
        }
    }
    statuses
}

fn outdated(root: &Utf8Path, target: &TestRegistry) -> (i32, serde_json::Value) {
    let output =
        xtask(root, &target.host, &["--event", "release", "--version", "2.0.0", "--format", "json", "outdated"]);
    (output.status.code().unwrap(), serde_json::from_slice(&output.stdout).unwrap())
}

#[test]
fn external_bases_are_pinned_per_platform_skipped_while_unchanged_and_rebuilt_when_their_tag_moves() {
    let _engine = engine_lock();
    let public = TestRegistry::start("public");
    let target = TestRegistry::start("target");
    let base_ws = fixture("multi");
    publish_base(&base_ws, &public, "1.0.0");
    let first = platform_digests(&public, "base", "1");
    assert_eq!(first.len(), 2, "{first:?}");

    let app = fixture("external");
    replace_in(&app.join("images/app/image.toml"), "PUBLIC_REGISTRY", &public.host);
    let reference = format!("{}/base:1", public.host);

    // The plan names each base with its index digest and each platform's image.
    let plan: serde_json::Value =
        serde_json::from_str(&xtask_ok(&app, &target.host, &["--format", "json", "plan"])).unwrap();
    let bases = &plan[0]["bases"];
    assert_eq!(bases.as_array().unwrap().len(), 1, "{bases}");
    assert_eq!(bases[0]["reference"], reference.as_str());
    assert_eq!(bases[0]["index_digest"], public.client().head_manifest("base", "1").unwrap().unwrap().digest.as_str());
    for (platform, digest) in &first {
        assert_eq!(bases[0]["digests"][platform], digest.as_str(), "{platform}");
    }
    assert_eq!(plan[0]["labels"]["org.opencontainers.image.title"], "app");
    assert_eq!(plan[0]["annotations"]["org.opencontainers.image.base.name"], reference.as_str());
    assert_eq!(plan[0]["annotations"]["org.opencontainers.image.base.digest"], bases[0]["index_digest"]);

    // Built on exactly those digests, and saying so in the standard labels.
    assert_eq!(build_app(&app, &target).values().collect::<Vec<_>>(), ["built", "built"]);
    for (platform, digest) in &first {
        let labels = labels(&target, "app", "2.0.0", platform);
        assert_eq!(labels["org.opencontainers.image.base.name"], reference, "{platform}");
        assert_eq!(&labels["org.opencontainers.image.base.digest"], digest, "{platform}");
    }
    // The index says what GHCR and Docker Hub show, and what the tag named.
    let index = target.client().manifest("app", "2.0.0").unwrap().unwrap();
    assert_eq!(index.media_type, "application/vnd.oci.image.index.v1+json");
    let annotations = &index.body.annotations;
    assert_eq!(annotations["org.opencontainers.image.title"], "app");
    assert_eq!(annotations["org.opencontainers.image.version"], "2.0.0");
    assert_eq!(annotations["org.opencontainers.image.description"], "Fixture on an external base");
    assert_eq!(annotations["org.opencontainers.image.base.name"], reference);
    assert_eq!(annotations["org.opencontainers.image.base.digest"], bases[0]["index_digest"].as_str().unwrap());
    xtask_ok(&app, &target.host, &["--event", "release", "--version", "2.0.0", "verify-manifests"]);
    let doctor = xtask(&app, &target.host, &["--format", "json", "doctor"]);
    let doctor: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let pull =
        doctor["checks"].as_array().unwrap().iter().find(|c| c["check"] == format!("base registry {}", public.host));
    assert_eq!(pull.map(|c| c["status"].clone()), Some("ok".into()), "{doctor}");

    let pinned = std::fs::read_to_string(app.join("target/xtask/pinned/app-arm64.Dockerfile")).unwrap();
    let original = std::fs::read_to_string(app.join("images/app/Dockerfile")).unwrap();
    assert_eq!(pinned.lines().count(), original.lines().count(), "line numbers are kept");
    assert!(pinned.contains(&format!("FROM {reference}@{}", first["linux/arm64"])), "{pinned}");

    let (code, report) = outdated(&app, &target);
    assert_eq!((code, report["outdated"].as_array().unwrap().len()), (0, 0), "{report}");
    assert_eq!(build_app(&app, &target).values().collect::<Vec<_>>(), ["up-to-date", "up-to-date"]);

    // Upstream moves the tag: `outdated` names both platforms, and the next build rebuilds.
    std::fs::write(base_ws.join("images/base/Dockerfile"), {
        let mut text = std::fs::read_to_string(base_ws.join("images/base/Dockerfile")).unwrap();
        text.push_str("ENV MOVED=1\n");
        text
    })
    .unwrap();
    publish_base(&base_ws, &public, "1.0.1");
    let moved = platform_digests(&public, "base", "1");
    assert!(first.iter().all(|(platform, digest)| moved[platform] != *digest), "{first:?} {moved:?}");
    let (code, report) = outdated(&app, &target);
    assert_eq!(code, 1, "{report}");
    let entries = report["outdated"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{report}");
    for entry in entries {
        let platform = entry["platform"].as_str().unwrap();
        assert_eq!((entry["unit"].as_str(), entry["base"].as_str()), (Some("app"), Some(reference.as_str())));
        assert_eq!(entry["old_digest"], first[platform].as_str());
        assert_eq!(entry["new_digest"], moved[platform].as_str());
    }
    assert_eq!(build_app(&app, &target).values().collect::<Vec<_>>(), ["built", "built"]);
    assert_eq!(outdated(&app, &target).0, 0);
}

#[test]
fn bases_that_cannot_be_pinned_are_listed_with_file_line_platform_and_reason_before_anything_builds() {
    let _engine = engine_lock();
    let public = TestRegistry::start("public-bad");
    let locked = TestRegistry::start_with_logins("locked", common::HTPASSWD);
    let target = TestRegistry::start("target-bad");
    publish_base(&fixture("multi"), &public, "1.0.0");
    // One platform's image alone under a tag: an image, not an index.
    let client = public.client();
    let amd64 = platform_digests(&public, "base", "1")["linux/amd64"].clone();
    let (manifest, bytes) = client.manifest_with_bytes("base", &amd64).unwrap().unwrap();
    client.put_manifest("base", "amd64-only", &manifest.media_type, &bytes).unwrap();

    let app = fixture("external");
    let dockerfile = format!(
        "FROM {p}/base:nope AS missing\nFROM {p}/base:amd64-only AS single\nFROM {l}/base:1 AS locked\nFROM 127.0.0.1:9/base:1\nUSER 65534:65534\n",
        p = public.host,
        l = locked.host
    );
    std::fs::write(app.join("images/app/Dockerfile"), dockerfile).unwrap();
    let output = xtask(&app, &target.host, &["--event", "release", "--version", "2.0.0", "build"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let file = "images/app/Dockerfile";
    for expected in [
        format!("{file}:1: FROM \"{}/base:nope\" for linux/amd64: no such tag", public.host),
        format!("{file}:1: FROM \"{}/base:nope\" for linux/arm64: no such tag", public.host),
        format!(
            "{file}:2: FROM \"{}/base:amd64-only\" for linux/arm64: no such platform in its index (it has linux/amd64)",
            public.host
        ),
        format!("{file}:3: FROM \"{}/base:1\" for linux/amd64: access denied", locked.host),
        format!("{file}:4: FROM \"127.0.0.1:9/base:1\" for linux/arm64: unreachable registry"),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("amd64-only\" for linux/amd64"), "amd64 is there:\n{stderr}");
    assert!(stderr.contains("7 base images cannot be pinned; nothing was built"), "{stderr}");
    assert!(!stderr.contains("Building"), "resolution comes before any build:\n{stderr}");
    assert!(target.client().tags("app").unwrap().is_empty(), "nothing was pushed");
    let doctor = xtask(&app, &target.host, &["--format", "json", "doctor"]);
    let doctor: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let locked_check = format!("base registry {}", locked.host);
    let pull = doctor["checks"].as_array().unwrap().iter().find(|c| c["check"] == locked_check.as_str()).unwrap();
    assert_eq!(pull["status"], "fail", "{pull}");
    assert!(pull["fix"].as_str().unwrap().contains(&format!("docker login {}", locked.host)), "{pull}");
}
