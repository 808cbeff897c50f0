//! A third platform, proven: 32-bit ARM (`linux/arm/v7`) is built from Debian's armhf
//! busybox-static, published in one index beside amd64 and arm64, verified, and run under
//! qemu, whose `uname -m` says `armv7l`.

mod common;

use common::{engine_lock, fixture, xtask_ok, TestRegistry};

#[test]
fn linux_arm_v7_is_built_published_verified_and_run_under_qemu() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("armv7");
    let root = fixture("armv7");
    // The workspace's own provisioning enables the emulator its third platform needs.
    let provision = xtask_ok(&root, &registry.host, &["provision"]);
    assert!(provision.contains("qemu-arm (linux/arm/v7)"), "{provision}");
    let release = ["--event", "release", "--version", "1.0.0"];
    xtask_ok(&root, &registry.host, &[&release[..], &["build"]].concat());

    let index = registry.client().manifest("base", "1.0.0").unwrap().unwrap();
    let platforms: Vec<String> =
        xtask::oci::manifest::platform_images(&index.body).into_iter().map(|i| i.platform).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64", "linux/arm/v7"]);
    xtask_ok(&root, &registry.host, &[&release[..], &["verify-manifests"]].concat());

    let report = xtask_ok(&root, &registry.host, &[&release[..], &["--format", "json", "test"]].concat());
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let results = report["results"].as_array().unwrap();
    let arm = results.iter().find(|r| r["test"] == "runs on 32-bit ARM under qemu").unwrap();
    assert_eq!((arm["platform"].as_str(), arm["status"].as_str()), (Some("linux/arm/v7"), Some("passed")), "{arm:#}");
    assert_eq!(results.len(), 4, "one ARM-only test, and one on each of three platforms");
    assert!(results.iter().all(|r| r["status"] == "passed"), "{report:#}");
}
