//! `verify-manifests` and `size` against real manifest lists in a real registry,
//! healthy and then broken on purpose, one defect at a time.

mod common;

use common::{engine_lock, fixture, replace_in, run, xtask, xtask_ok, TestRegistry};
use xtask::sys::registry::Registry;

const RELEASE: [&str; 4] = ["--event", "release", "--version", "1.2.3"];

fn with_release(args: &[&str]) -> Vec<String> {
    RELEASE.iter().chain(args).map(|s| s.to_string()).collect()
}

fn xtask_release(root: &camino::Utf8Path, registry: &str, args: &[&str]) -> std::process::Output {
    let args = with_release(args);
    xtask(root, registry, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// (amd64 digest, arm64 digest) of `fragile:latest`.
fn platform_digests(client: &Registry) -> (String, String) {
    let list = client.manifest("fragile", "latest").unwrap().unwrap();
    let find = |arch: &str| {
        list.body.manifests.iter().find(|m| m.platform.as_ref().unwrap().architecture == arch).unwrap().digest.clone()
    };
    (find("amd64"), find("arm64"))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().proxy(None).build().into()
}

/// Deletes a manifest by digest, as `DELETE /v2/<name>/manifests/<digest>`.
fn delete_manifest(registry: &TestRegistry, repository: &str, digest: &str) {
    let url = format!("http://{}/v2/{repository}/manifests/{digest}", registry.host);
    agent().delete(&url).call().unwrap_or_else(|e| panic!("DELETE {url}: {e}"));
}

const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Pushes a hand-made manifest, for states `imagetools` refuses to create.
fn put_manifest(registry: &TestRegistry, repository: &str, tag: &str, media_type: &str, body: &str) {
    let url = format!("http://{}/v2/{repository}/manifests/{tag}", registry.host);
    agent().put(&url).header("Content-Type", media_type).send(body).unwrap_or_else(|e| panic!("PUT {url}: {e}"));
}

fn imagetools(args: &[&str]) {
    let mut argv = vec!["buildx", "imagetools", "create"];
    argv.extend(args);
    run("docker", &argv);
}

/// Runs verify-manifests, expecting failure, and returns its errors as `reference: message`.
fn verify_fails(root: &camino::Utf8Path, registry: &str) -> Vec<String> {
    let output = xtask_release(root, registry, &["--format", "json", "verify-manifests"]);
    assert_eq!(output.status.code(), Some(1), "verify-manifests must fail with status 1");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report["units"][0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["severity"] == "error")
        .map(|p| format!("{}: {}", p["reference"].as_str().unwrap(), p["message"].as_str().unwrap()))
        .collect()
}

#[test]
fn verify_manifests_passes_healthy_lists_and_names_each_defect() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("verify");
    let root = fixture("arm-fails");
    let client = registry.client();
    let repo = format!("{}/fragile", registry.host);
    let build = with_release(&["build"]);
    let build: Vec<&str> = build.iter().map(String::as_str).collect();
    xtask_ok(&root, &registry.host, &build);

    let healthy = xtask_release(&root, &registry.host, &["--format", "json", "verify-manifests"]);
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stderr));
    let report: serde_json::Value = serde_json::from_slice(&healthy.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["errors"], 0);

    let (amd64, arm64) = platform_digests(&client);

    // 1. An index missing arm64, made from the amd64 image only.
    imagetools(&["--tag", &format!("{repo}:latest"), &format!("{repo}@{amd64}")]);
    let only_amd64 = client.manifest("fragile", "latest").unwrap().unwrap().digest;
    let good = client.manifest("fragile", "1.2.3").unwrap().unwrap().digest;
    assert_eq!(
        verify_fails(&root, &registry.host),
        [
            format!("{repo}:latest: points at {only_amd64}, but 1.2.3, 1.2, 1 point at {good}"),
            format!("{repo}:latest: is missing linux/arm64")
        ]
    );
    xtask_ok(&root, &registry.host, &build);

    // 2. An alias pointing at another digest (same platforms, other order).
    imagetools(&["--tag", &format!("{repo}:1.2"), &format!("{repo}@{arm64}"), &format!("{repo}@{amd64}")]);
    let other = client.manifest("fragile", "1.2").unwrap().unwrap().digest;
    let latest = client.manifest("fragile", "latest").unwrap().unwrap().digest;
    assert_eq!(
        verify_fails(&root, &registry.host),
        [format!("{repo}:1.2: points at {other}, but latest, 1.2.3, 1 point at {latest}")]
    );
    xtask_ok(&root, &registry.host, &build);

    // 3. An arm64 descriptor that points at the amd64 image.
    let list = client.manifest("fragile", "latest").unwrap().unwrap();
    let amd64_entry = list.body.manifests.iter().find(|m| m.digest == amd64).unwrap();
    let (media_type, length) = (&amd64_entry.media_type, amd64_entry.size);
    let entry = |arch: &str| {
        format!(
            r#"{{"mediaType":"{media_type}","digest":"{amd64}","size":{length},"platform":{{"os":"linux","architecture":"{arch}"}}}}"#
        )
    };
    let lie =
        format!(r#"{{"schemaVersion":2,"mediaType":"{LIST}","manifests":[{},{}]}}"#, entry("amd64"), entry("arm64"));
    put_manifest(&registry, "fragile", "1", LIST, &lie);
    let errors = verify_fails(&root, &registry.host);
    assert!(
        errors.contains(&format!("{repo}:1: its linux/arm64 entry ({amd64}) holds a linux/amd64 image")),
        "{errors:?}"
    );
    xtask_ok(&root, &registry.host, &build);

    // 4. A deleted tag: point it at a manifest of its own, then delete that manifest.
    imagetools(&["--tag", &format!("{repo}:1.2.3"), &format!("{repo}@{arm64}"), &format!("{repo}@{amd64}")]);
    let doomed = client.manifest("fragile", "1.2.3").unwrap().unwrap().digest;
    delete_manifest(&registry, "fragile", &doomed);
    assert_eq!(verify_fails(&root, &registry.host), [format!("{repo}:1.2.3: does not exist")]);
    xtask_ok(&root, &registry.host, &build);
    assert!(
        xtask_release(&root, &registry.host, &["verify-manifests"]).status.success(),
        "rebuilding repairs every tag"
    );

    // 5. A license declared after publishing: the images lack the label until rebuilt.
    let manifest = root.join("images/fragile/image.toml");
    let declared = format!("licenses = \"GPL-2.0-only AND MIT\"\n{}", std::fs::read_to_string(&manifest).unwrap());
    std::fs::write(&manifest, declared).unwrap();
    let errors = verify_fails(&root, &registry.host);
    let lacking = |arch: &str| {
        format!(
            "{repo}:latest: its linux/{arch} image has no licenses label, not the declared `GPL-2.0-only AND MIT`: \
                 `cargo xtask build` rebuilds it"
        )
    };
    let index = format!(
        "{repo}:latest: its index has no licenses annotation, not the declared `GPL-2.0-only AND MIT`: \
         `cargo xtask build` publishes it again"
    );
    assert_eq!(errors, [lacking("amd64"), lacking("arm64"), index]);
    xtask_ok(&root, &registry.host, &build);
    assert!(xtask_release(&root, &registry.host, &["verify-manifests"]).status.success(), "the rebuild labels them");
    let (amd64, arm64) = platform_digests(&client);
    for digest in [amd64, arm64] {
        let image = client.manifest("fragile", &digest).unwrap().unwrap();
        let config = client.config("fragile", &image.body.config.unwrap().digest).unwrap();
        assert_eq!(config.labels()["org.opencontainers.image.licenses"], "GPL-2.0-only AND MIT");
    }
}

#[test]
fn an_unreachable_registry_is_one_sentence_and_status_2() {
    let root = fixture("arm-fails");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = xtask_release(&root, &format!("127.0.0.1:{closed}"), &["verify-manifests"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with(&format!("error: registry 127.0.0.1:{closed} cannot be reached: ")), "{stderr}");
}

#[test]
fn size_reports_registry_sums_budgets_and_baselines() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("size");
    let root = fixture("arm-fails");
    let client = registry.client();
    xtask_ok(&root, &registry.host, &["--event", "release", "--version", "1.0.0", "build"]);

    let saved = root.join("sizes-1.0.0.json");
    let json = xtask_ok(
        &root,
        &registry.host,
        &["--event", "release", "--version", "1.0.0", "--format", "json", "size", "--save", saved.as_str()],
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let platforms = report["units"][0]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    for p in platforms {
        // The figure equals the sum of layer sizes plus the config, read here independently.
        let manifest = client.manifest("fragile", p["digest"].as_str().unwrap()).unwrap().unwrap();
        let sum: u64 = manifest.body.layers.iter().map(|l| l.size).sum::<u64>() + manifest.body.config.unwrap().size;
        assert_eq!(p["compressed"].as_u64().unwrap(), sum, "{p}");
        assert_eq!(p["layers"].as_u64().unwrap() as usize, manifest.body.layers.len());
    }
    assert_eq!(std::fs::read_to_string(&saved).unwrap().trim(), json.trim(), "--save writes the report");

    // A budget smaller than the image fails, naming the platform and the reason.
    let toml = root.join("images/fragile/image.toml");
    let original = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{original}\n[size]\nmax = \"100kB\"\n")).unwrap();
    let output = xtask(&root, &registry.host, &["--event", "release", "--version", "1.0.0", "size"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("fragile linux/arm64: ") && stderr.contains("compressed, over the 100.0 kB budget"),
        "{stderr}"
    );

    // Growth against a saved report and against a published release.
    std::fs::write(&toml, &original).unwrap();
    replace_in(
        &root.join("images/fragile/Dockerfile"),
        "USER 65534:65534",
        "RUN head -c 300000 /dev/urandom > /padding\nUSER 65534:65534",
    );
    xtask_ok(&root, &registry.host, &["--event", "release", "--version", "1.1.0", "build"]);
    std::fs::write(&toml, format!("{original}\n[size]\nmax_growth = \"10%\"\n")).unwrap();
    for baseline in [saved.as_str(), "1.0.0"] {
        let output =
            xtask(&root, &registry.host, &["--event", "release", "--version", "1.1.0", "size", "--baseline", baseline]);
        assert_eq!(output.status.code(), Some(1), "growth over the {baseline} baseline must fail");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("grew ") && stdout.contains("more than the 10.0% allowed"), "{stdout}");
        assert!(stdout.contains("+300."), "the delta shows the added bytes: {stdout}");
    }
}
