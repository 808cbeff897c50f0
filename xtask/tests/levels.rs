//! The generated workflow's layout, driven by hand on the real engine and registry: a level's
//! legs build on the parent images an earlier level pushed (`build --parents`), `publish` joins
//! them, and `verify-manifests` checks that each published child sits on its published parent.

mod common;

use common::{engine_lock, fixture, replace_in, xtask, xtask_ok, TestRegistry};
use xtask::sys::registry::Registry;

fn recorded(path: &camino::Utf8Path, unit: &str, platform: &str) -> String {
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["units"][unit][platform].as_str().unwrap_or_else(|| panic!("{path} records no {unit} {platform}")).to_string()
}

/// The image manifest a pushed platform digest stands for: the engine pushes an index of the
/// image and its attestation.
fn image_of(registry: &Registry, repository: &str, digest: &str) -> xtask::oci::manifest::Manifest {
    let manifest = registry.manifest(repository, digest).unwrap().unwrap();
    match xtask::oci::manifest::is_index(&manifest.media_type) {
        true => {
            let images = xtask::oci::manifest::platform_images(&manifest.body);
            let image = images.first().expect("an image in the platform's index");
            registry.manifest(repository, &image.digest).unwrap().unwrap()
        }
        false => manifest,
    }
}

/// What the child's platform image records as its base digest.
fn base_digest_of(registry: &Registry, repository: &str, digest: &str) -> String {
    let image = image_of(registry, repository, digest);
    let config = registry.config(repository, &image.body.config.unwrap().digest).unwrap();
    config.labels()["org.opencontainers.image.base.digest"].clone()
}

#[test]
fn a_level_builds_on_the_parents_an_earlier_level_pushed_and_verify_holds_children_to_them() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("levels");
    let client = Registry::new(&registry.host).unwrap();
    let root = fixture("multi");
    let digests = root.join("digests");
    let (base_file, app_file) = (digests.join("base.json"), digests.join("app.json"));
    let platforms = ["linux/amd64", "linux/arm64"];

    // --parents without --digest-file: one sentence, before anything is planned.
    let output = xtask(&root, &registry.host, &["build", "app", "--parents", base_file.as_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("add --digest-file FILE"), "{stderr}");

    // Level 0: the parent's leg.
    xtask_ok(&root, &registry.host, &["build", "base", "--digest-file", base_file.as_str()]);
    // The parent's sources change after its leg ran: a leg that rebuilt it would sit on another image.
    replace_in(&root.join("images/base/Dockerfile"), "ENV PATH=/bin", "RUN echo changed > /changed\nENV PATH=/bin");

    // Level 1: the children's leg, on the recorded parent.
    let level_1 = || {
        let args = ["--format", "json", "build", "app", "--parents", base_file.as_str()];
        xtask(&root, &registry.host, &[&args[..], &["--digest-file", app_file.as_str()]].concat())
    };
    let output = level_1();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let results: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let built: Vec<&str> = results.as_array().unwrap().iter().map(|r| r["unit"].as_str().unwrap()).collect();
    assert_eq!(built, ["app:loud", "app:quiet"], "the parent was not built in the children's leg");
    for platform in platforms {
        let parent = image_of(&client, "base", &recorded(&base_file, "base", platform)).digest;
        for unit in ["app:quiet", "app:loud"] {
            let child = recorded(&app_file, unit, platform);
            assert_eq!(base_digest_of(&client, "app", &child), parent, "{unit} {platform} sits on the parent");
        }
    }

    // Publish joins both levels, and verify finds each child on its published parent.
    let published = xtask(&root, &registry.host, &["publish", "--digests", base_file.as_str(), app_file.as_str()]);
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
    xtask_ok(&root, &registry.host, &["verify-manifests", "base", "app"]);

    // The parent is published again alone (its changed sources): the children now sit on an
    // image no tag of the parent names, and verify says so for each platform.
    xtask_ok(&root, &registry.host, &["build", "base"]);
    let output = xtask(&root, &registry.host, &["verify-manifests", "app:quiet"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for platform in platforms {
        let stale = image_of(&client, "base", &recorded(&base_file, "base", platform)).digest;
        assert!(stdout.contains(&format!("its {platform} image was built on")), "{stdout}");
        assert!(stdout.contains(&stale[..19]), "the old parent is named:\n{stdout}");
    }

    // A parent digest the registry does not hold: one sentence naming it, nothing built.
    let missing = format!("sha256:{}", "0".repeat(64));
    let text = std::fs::read_to_string(&base_file).unwrap();
    let amd64 = recorded(&base_file, "base", "linux/amd64");
    std::fs::write(&base_file, text.replace(&amd64, &missing)).unwrap();
    let output = level_1();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("base linux/amd64 as {}/base@{missing}", registry.host)), "{stderr}");
    assert!(stderr.contains("which the registry does not hold"), "{stderr}");
    assert!(!stderr.contains("started"), "nothing was built:\n{stderr}");
}
