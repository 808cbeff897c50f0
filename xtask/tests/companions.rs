//! Image tests with docker run options and companion units: a service reaches another unit
//! of the workspace on the loopback they share, on amd64 and emulated arm64, and every
//! container goes when the run ends.

mod common;

use common::{engine_lock, fixture, replace_in, run, xtask, xtask_ok, TestRegistry};
use serde_json::Value;

const RELEASE: [&str; 4] = ["--event", "release", "--version", "1.0.0"];

fn with_release(args: &[&str]) -> Vec<String> {
    RELEASE.iter().chain(args).map(|s| s.to_string()).collect()
}

#[test]
fn a_service_test_starts_its_companion_in_one_network_namespace_and_run_options_apply() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("companions");
    let root = fixture("companions");
    let build = with_release(&["build"]);
    xtask_ok(&root, &registry.host, &build.iter().map(String::as_str).collect::<Vec<_>>());

    // Testing only `client` still finds `web`, which its service starts beside it.
    let args = with_release(&["--format", "json", "test", "client"]);
    let output = xtask(&root, &registry.host, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(output.status.success(), "{report:#}\n{}", String::from_utf8_lossy(&output.stderr));
    let cases: Vec<(String, String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (field("test"), field("platform"), field("status"))
        })
        .collect();
    assert_eq!(cases.len(), 4, "two tests on two platforms: {cases:?}");
    assert!(cases.iter().all(|(_, _, status)| status == "passed"), "{cases:?}");
    let leftovers = run("docker", &["ps", "--all", "--quiet", "--filter", "label=xtask.run"]);
    assert!(leftovers.trim().is_empty(), "containers left: {leftovers}");

    // The probe fails when the companion serves something else: the service really reached it.
    replace_in(
        &root.join("images/client/image.toml"),
        "stdout = \"hello from web\"",
        "stdout = \"hello from elsewhere\"",
    );
    let output = xtask(&root, &registry.host, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hello from web"), "the actual output is shown:\n{stderr}");
    assert!(
        stderr.contains("docker run --detach --name c1 --network none") && stderr.contains("--network container:c1"),
        "the reproduction starts the companion first:\n{stderr}"
    );

    // A companion that is no unit is refused before any container starts.
    replace_in(&root.join("images/client/image.toml"), "unit = \"web\"", "unit = \"webb\"");
    let output = xtask(&root, &registry.host, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("images/client/image.toml: test \"reaches the web companion on loopback\" starts the companion \"webb\", which is no unit of this workspace")
            && stderr.contains("did you mean \"web\"?"),
        "{stderr}"
    );
    assert!(!stderr.contains("Testing"), "nothing ran:\n{stderr}");
}
