//! End to end: `cargo xtask new` in a copy of the `multi` fixture writes images that pass
//! `lint`, `build` (both platforms, arm64 emulated) and `test` exactly as generated.

mod common;

use std::collections::BTreeSet;

use common::{engine_lock, fixture, xtask, xtask_ok, TestRegistry};
use serde_json::Value;

#[test]
fn new_images_pass_lint_build_and_test_as_generated() {
    let _engine = engine_lock();
    let root = fixture("multi");
    let registry = TestRegistry::start("scaffold");
    let host = registry.host.as_str();

    let created = xtask_ok(&root, host, &["new", "hello", "--from", "base"]);
    assert!(created.contains("created images/hello/image.toml\ncreated images/hello/Dockerfile\n"), "{created}");
    xtask_ok(&root, host, &["new", "duo", "--from", "base", "--variants", "one,two"]);
    // Without --from, the fixture's one rootfs image is the base.
    xtask_ok(&root, host, &["new", "plain"]);
    let plain = std::fs::read_to_string(root.join("images/plain/Dockerfile")).unwrap();
    assert!(plain.contains("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"), "{plain}");

    // Never over an existing image, and only valid names.
    let before = std::fs::read_to_string(root.join("images/hello/image.toml")).unwrap();
    let again = xtask(&root, host, &["new", "hello", "--from", "base"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("images/hello already exists"));
    assert_eq!(std::fs::read_to_string(root.join("images/hello/image.toml")).unwrap(), before);
    let bad = xtask(&root, host, &["new", "Hello"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"Hello\" is not a valid image name"));
    assert!(!root.join("images/Hello").exists());

    // The whole workspace, new images included, lints clean; the new ones build and pass their tests.
    xtask_ok(&root, host, &["lint"]);
    xtask_ok(&root, host, &["build", "hello", "duo"]);
    let json: Value =
        serde_json::from_str(&xtask_ok(&root, host, &["--format", "json", "test", "hello", "duo"])).unwrap();
    let passed: BTreeSet<(String, String, String)> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "passed")
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap().to_string();
            (field("unit"), field("platform"), field("test"))
        })
        .collect();
    for unit in ["hello", "duo:one", "duo:two"] {
        for platform in ["linux/amd64", "linux/arm64"] {
            for test in ["smoke: built for its platform", "runs as a non-root user"] {
                let case = (unit.to_string(), platform.to_string(), test.to_string());
                assert!(passed.contains(&case), "{case:?} did not pass: {json:#}");
            }
        }
    }
    assert_eq!(json["passed"], json["tests"], "{json:#}");
}
