//! `cargo xtask doctor` against a registry that wants a login: without one, with a wrong one
//! and with the right one in docker's config, through the real binary. The password never shows.

mod common;

use std::process::Output;

use base64::prelude::{Engine, BASE64_STANDARD};
use camino::Utf8Path;
use common::{fixture, scratch, TestRegistry, HTPASSWD, PASSWORD};
use serde_json::Value;

/// `doctor --format json` with `config` as docker's config.json (none if `None`).
fn doctor(root: &Utf8Path, host: &str, name: &str, config: Option<String>) -> (Output, Value) {
    let dir = scratch(&format!("doctor-{name}"));
    if let Some(config) = config {
        std::fs::write(dir.join("config.json"), config).unwrap();
    }
    let output = common::xtask_command()
        .args(["--root", root.as_str(), "--registry", host, "--format", "json", "doctor"])
        .env("DOCKER_CONFIG", &dir)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    eprintln!("--- doctor ({name})\n{stdout}{stderr}");
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD), "the password shows");
    assert!(!stdout.contains("not-it") && !stderr.contains("not-it"), "the wrong password shows");
    let report = serde_json::from_str(&stdout).expect("doctor prints JSON even when something fails");
    (output, report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["check"] == name).unwrap_or_else(|| panic!("{report:#}"))
}

fn auths(host: &str, password: &str) -> String {
    let auth = BASE64_STANDARD.encode(format!("xtask:{password}"));
    serde_json::json!({ "auths": { host: { "auth": auth } } }).to_string()
}

#[test]
fn doctor_checks_registry_access_with_dockers_login() {
    let root = fixture("multi");
    let registry = TestRegistry::start_with_logins("doctor", HTPASSWD);
    let host = registry.host.as_str();

    let (output, report) = doctor(&root, host, "anonymous", None);
    assert!(!output.status.success(), "no login must block building");
    assert_eq!(report["ready"], false);
    assert_eq!(check(&report, &format!("registry {host}"))["status"], "ok", "a 401 still answers");
    let access = check(&report, "registry access");
    assert_eq!(access["status"], "fail");
    assert!(access["problem"].as_str().unwrap().starts_with("reading app: "), "{access}");
    assert_eq!(access["fix"], format!("`docker login {host}`"));
    assert!(check(&report, "credentials")["version"].as_str().unwrap().starts_with("anonymous: no login"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("registry access"));

    let (output, report) = doctor(&root, host, "wrong", Some(auths(host, "not-it")));
    assert!(!output.status.success());
    let access = check(&report, "registry access");
    assert!(access["problem"].as_str().unwrap().contains("refused the credentials of xtask"), "{access}");

    let (output, report) = doctor(&root, host, "login", Some(auths(host, PASSWORD)));
    assert_eq!(check(&report, "registry access")["status"], "ok");
    assert_eq!(check(&report, "registry access")["version"], "reads app");
    let credentials = check(&report, "credentials")["version"].as_str().unwrap().to_string();
    assert!(credentials.starts_with("xtask from ") && credentials.ends_with("config.json"), "{credentials}");
    // The rest is this machine, which every end-to-end test needs in working order.
    assert!(output.status.success(), "{report:#}");
    assert_eq!(report["ready"], true);
}
