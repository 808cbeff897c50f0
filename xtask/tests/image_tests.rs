//! End to end: builds fixture workspaces, then runs `cargo xtask test` on them for amd64 and
//! emulated arm64. Checks the failures it reports, its JUnit XML, and that no container
//! outlives a run, whether it passes, fails, times out or is interrupted.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use common::{engine_lock, fixture, run, scratch, xtask, xtask_ok, TestRegistry};
use serde_json::Value;

/// Containers that any `cargo xtask test` run left behind.
fn leftover_containers() -> Vec<String> {
    run("docker", &["ps", "--all", "--quiet", "--filter", "label=xtask.run"]).lines().map(str::to_string).collect()
}

/// One testcase of a JUnit report.
#[derive(Debug)]
struct Case {
    /// `classname name`, e.g. `app:loud loud shouts [linux/arm64]`.
    id: String,
    /// `passed`, `failure`, `error` or `skipped`.
    outcome: String,
    message: String,
    /// The outcome's text: what a CI system shows.
    text: String,
}

/// Parses a JUnit report and checks it against the common schema's shape: `testsuites` >
/// `testsuite` > `testcase`, each with at most one `failure`, `error` or `skipped` child, and
/// counts that add up.
fn parse_junit(text: &str) -> Vec<Case> {
    let doc = roxmltree::Document::parse(text).expect("the JUnit report is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let number = |node: roxmltree::Node, name: &str| -> usize {
        let value = node.attribute(name).unwrap_or_else(|| panic!("<{}> has no {name}", node.tag_name().name()));
        value.parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a count"))
    };
    let has_time =
        |node: roxmltree::Node| node.attribute("time").and_then(|t| t.parse::<f64>().ok()).is_some_and(|t| t >= 0.0);
    let counts_of = |node: roxmltree::Node| ["tests", "failures", "errors", "skipped"].map(|a| number(node, a));
    assert!(has_time(root));
    let mut cases = Vec::new();
    let mut totals = [0; 4];
    for suite in root.children().filter(|n| n.is_element()) {
        assert_eq!(suite.tag_name().name(), "testsuite");
        assert!(suite.attribute("name").is_some_and(|n| !n.is_empty()) && has_time(suite));
        let mut counts = [0; 4];
        for case in suite.children().filter(|n| n.is_element()) {
            assert_eq!(case.tag_name().name(), "testcase");
            assert!(has_time(case), "a testcase without time");
            let (name, classname) = (case.attribute("name").unwrap(), case.attribute("classname").unwrap());
            let children: Vec<_> = case.children().filter(|n| n.is_element()).collect();
            assert!(children.len() <= 1, "{name}: more than one outcome");
            counts[0] += 1;
            let (outcome, message, text) = match children.first() {
                None => ("passed", "", ""),
                Some(child) => {
                    let kind = child.tag_name().name();
                    let slot = ["failure", "error", "skipped"].iter().position(|k| *k == kind);
                    counts[1 + slot.unwrap_or_else(|| panic!("{name}: unexpected <{kind}>"))] += 1;
                    (kind, child.attribute("message").expect("an outcome without message"), child.text().unwrap_or(""))
                }
            };
            cases.push(Case {
                id: format!("{classname} {name}"),
                outcome: outcome.to_string(),
                message: message.into(),
                text: text.into(),
            });
        }
        assert_eq!(counts_of(suite), counts, "the counts of testsuite {:?}", suite.attribute("name"));
        totals = [0, 1, 2, 3].map(|i| totals[i] + counts[i]);
    }
    assert_eq!(counts_of(root), totals, "the counts of testsuites");
    cases
}

fn ids<'a>(cases: impl IntoIterator<Item = &'a Case>) -> BTreeSet<&'a str> {
    cases.into_iter().map(|c| c.id.as_str()).collect()
}

/// The digest of `platform` in the manifest list under the first tag of `unit`.
fn platform_digest(registry: &TestRegistry, root: &Utf8Path, unit: &str, architecture: &str) -> String {
    let plan: Vec<Value> =
        serde_json::from_str(&xtask_ok(root, &registry.host, &["--format", "json", "plan"])).unwrap();
    let unit = plan.iter().find(|u| u["id"] == unit).unwrap();
    let (repository, tag) = unit["tags"][0].as_str().unwrap().rsplit_once(':').unwrap();
    let (_, path) = xtask::oci::reference::split_repository(repository);
    let list = registry.client().manifest(path, tag).unwrap().unwrap();
    let entry = list.body.manifests.iter().find(|m| m.platform.as_ref().unwrap().architecture == architecture);
    format!("{repository}@{}", entry.unwrap().digest)
}

#[test]
fn fixture_images_pass_their_tests_on_both_platforms() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("test-multi");
    let root = fixture("multi");
    xtask_ok(&root, &registry.host, &["build"]);

    let report = root.join("report.xml");
    let stdout = xtask_ok(&root, &registry.host, &["--format", "junit", "test", "--output", report.as_str()]);
    assert_eq!(std::fs::read_to_string(&report).unwrap(), stdout, "--output holds the printed report");
    let cases = parse_junit(&stdout);
    let failed: Vec<&Case> = cases.iter().filter(|c| c.outcome != "passed").collect();
    assert!(failed.is_empty(), "{failed:?}");
    // base 4 tests, 2 of them one platform each; app:quiet 2, app:loud 3; tool:v1 and tool:v2 1 each.
    assert_eq!(cases.len(), 6 + 4 + 6 + 2 + 2, "{:?}", ids(&cases));
    let ran = ids(&cases);
    for expected in [
        "app:loud loud shouts [linux/arm64]",
        "app:quiet greets in its variant's voice [linux/arm64]",
        "base built emulated on arm64 [linux/arm64]",
        "base built natively on amd64 [linux/amd64]",
        "tool:v1 v1 says v1 [linux/amd64]",
    ] {
        assert!(ran.contains(expected), "{expected} did not run: {ran:?}");
    }
    for filtered in [
        "app:quiet loud shouts [linux/amd64]",
        "base built emulated on arm64 [linux/amd64]",
        "tool:v1 v2 says v2 [linux/amd64]",
    ] {
        assert!(!ran.contains(filtered), "{filtered} ran despite its filters");
    }
    assert_eq!(leftover_containers(), Vec::<String>::new(), "a passing run left containers");

    // A selection and --platform narrow the run; each platform runs by its own manifest digest.
    let json = xtask_ok(&root, &registry.host, &["--format", "json", "test", "app:loud", "--platform", "linux/arm64"]);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!((json["tests"].as_u64(), json["passed"].as_u64()), (Some(3), Some(3)), "{json:#}");
    let arm64 = platform_digest(&registry, &root, "app:loud", "arm64");
    for result in json["results"].as_array().unwrap() {
        assert_eq!((result["unit"].as_str(), result["platform"].as_str()), (Some("app:loud"), Some("linux/arm64")));
        assert_eq!(result["image"].as_str(), Some(arm64.as_str()));
    }
}

#[test]
fn broken_images_fail_precisely_and_leave_no_container() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("test-bad");
    let host = registry.host.as_str();
    let root = fixture("test-bad");
    // The image runs as root on purpose: the Dockerfile policy would refuse it before the tests could.
    xtask_ok(&root, host, &["build", "--no-lint"]);

    let output = xtask(&root, host, &["--format", "junit", "test"]);
    assert!(!output.status.success(), "failing tests must fail the command");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A wrong expected output: expected against actual, the image by digest, and how to reproduce it.
    let amd64 = platform_digest(&registry, &root, "bad", "amd64");
    let wrong_output = format!(
        "FAILED bad linux/amd64 \"greets\": stdout does not contain \"hello from amd64\"\n  image: {amd64}\n  \
         expected: exit code 0, stdout containing \"hello from amd64\"\n  actual:   exit code 0\n  \
         stdout (last 20 lines):\n    | goodbye from amd64\n  stderr: (empty)\n  \
         reproduce: docker run --rm --network none --platform linux/amd64 {amd64} cat /greeting\n"
    );
    assert!(stderr.contains(&wrong_output), "{stderr}");
    // A root user.
    assert!(
        stderr.contains("FAILED bad linux/arm64 \"runs as non-root\": the image runs as root (User is unset, so root)"),
        "{stderr}"
    );
    // A binary missing on arm64 only: the command fails with the runtime's reason, the file check names the path.
    assert!(stderr.contains("FAILED bad linux/arm64 \"checksums\": exit code 127, expected 0"), "{stderr}");
    assert!(stderr.contains("executable file not found"), "the runtime's reason is shown:\n{stderr}");
    assert!(stderr.contains("FAILED bad linux/arm64 \"checksum tool installed\": /bin/md5sum does not exist"));
    assert!(!stderr.contains("FAILED bad linux/amd64 \"checksum"), "md5sum exists on amd64:\n{stderr}");

    let cases = parse_junit(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(cases.len(), 10);
    let failed = ids(cases.iter().filter(|c| c.outcome == "failure"));
    let expected: BTreeSet<&str> = [
        "bad greets [linux/amd64]",
        "bad greets [linux/arm64]",
        "bad runs as non-root [linux/amd64]",
        "bad runs as non-root [linux/arm64]",
        "bad checksums [linux/arm64]",
        "bad checksum tool installed [linux/arm64]",
    ]
    .into();
    assert_eq!(failed, expected);
    let greets = cases.iter().find(|c| c.id == "bad greets [linux/arm64]").unwrap();
    assert_eq!(greets.message, "stdout does not contain \"hello from arm64\"");
    assert!(
        greets.text.contains("\n  reproduce: docker run --rm --network none --platform linux/arm64 "),
        "{}",
        greets.text
    );
    assert_eq!(leftover_containers(), Vec::<String>::new(), "a failing run left containers");

    // Only the tests change from here on: the image stays as built.
    let toml = root.join("images/bad/image.toml");
    let original = std::fs::read_to_string(&toml).unwrap();
    let header = &original[..original.find("\n# Fails everywhere").unwrap()];
    let sleeper = |timeout: &str| {
        let test = format!("\n[[tests]]\nname = \"sleeps\"\ncommand = [\"sleep\", \"600\"]\ntimeout = \"{timeout}\"\n");
        std::fs::write(&toml, format!("{header}{test}")).unwrap();
    };

    // A timeout fails the test and removes its container.
    sleeper("2s");
    let output = xtask(&root, host, &["test", "--platform", "linux/amd64"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FAILED bad linux/amd64 \"sleeps\": timed out after 2.0s while running the command"),
        "{stderr}"
    );
    // The event, not the clock: the run reports the timeout it enforced, and had it waited for
    // `sleep 600` to end, the command would have exited 0 and the case passed.
    assert!(!stderr.contains("\"sleeps\": exit code"), "the container was stopped, not waited for:\n{stderr}");
    assert_eq!(leftover_containers(), Vec::<String>::new(), "a timed-out run left its container");

    // Ctrl-C: the run stops, reports the test as skipped, exits 130 and removes its container.
    sleeper("10m");
    let (status, stdout) = interrupt_once_running(&root, host, &["test", "--platform", "linux/amd64"]);
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("bad   linux/amd64  sleeps  skipped"), "{stdout}");
    assert_eq!(leftover_containers(), Vec::<String>::new(), "an interrupted run left its container");

    // --local tests what `build --load` put in the engine, by tag: every platform, since the
    // containerd store keeps them all under one tag.
    std::fs::write(&toml, &original).unwrap();
    xtask_ok(&root, host, &["build", "--load", "--no-lint"]);
    let output = xtask(&root, host, &["--format", "json", "test", "--local"]);
    assert!(!output.status.success());
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 10, "{json:#}");
    let plan: Vec<Value> = serde_json::from_str(&xtask_ok(&root, host, &["--format", "json", "plan"])).unwrap();
    for result in results {
        assert_eq!(result["image"], plan[0]["tags"][0], "--local runs the unit's first tag");
    }
    let failed: BTreeSet<String> = results
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| format!("{} [{}]", r["test"].as_str().unwrap(), r["platform"].as_str().unwrap()))
        .collect();
    let expected: BTreeSet<String> = [
        "greets [linux/amd64]",
        "greets [linux/arm64]",
        "runs as non-root [linux/amd64]",
        "runs as non-root [linux/arm64]",
        "checksums [linux/arm64]",
        "checksum tool installed [linux/arm64]",
    ]
    .map(String::from)
    .into();
    assert_eq!(failed, expected, "each platform ran its own image (md5sum is missing on arm64 only)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("| goodbye from arm64"), "the arm64 image answered under emulation:\n{stderr}");
    assert_eq!(leftover_containers(), Vec::<String>::new());
}

/// Runs the xtask binary, sends it SIGINT once one of its containers runs, and returns how it
/// ended and its stdout.
fn interrupt_once_running(root: &Utf8Path, registry: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    let log = scratch("interrupted").join("stderr.log");
    let mut child = common::xtask_command()
        .args(["--root", root.as_str(), "--registry", registry])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while run("docker", &["ps", "--quiet", "--filter", "label=xtask.run", "--filter", "status=running"]).is_empty() {
        assert!(Instant::now() < deadline, "no container started:\n{}", read(&log));
        assert!(child.try_wait().unwrap().is_none(), "xtask ended early:\n{}", read(&log));
        std::thread::sleep(Duration::from_millis(100));
    }
    run("kill", &["-INT", &child.id().to_string()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("xtask did not stop within 30s of SIGINT:\n{}", read(&log));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    eprintln!("--- interrupted xtask {args:?}\n{stdout}{}", read(&log));
    (status, stdout)
}

fn read(path: &Utf8PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
