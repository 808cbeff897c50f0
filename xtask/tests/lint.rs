//! `cargo xtask lint` as a user runs it, on a fixture that breaks the policy on
//! purpose. No engine or registry is involved: lint reads files only.

mod common;

use std::sync::{Mutex, MutexGuard};

use common::{fixture, xtask};

const REGISTRY: &str = "registry.invalid:5000";

/// `fixture` copies to one directory per process and fixture name: tests take turns.
fn fixture_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

const APP_FINDINGS: &str = "\
images/app/Dockerfile:1: unpinned-base: base image `debian` has no tag, so it means `latest`
  fix: pin a version tag or a digest, e.g. `FROM debian:<version>` or `FROM debian@sha256:<digest>`
images/app/Dockerfile:2: secret-in-arg: ARG `GITHUB_TOKEN` looks like a secret, and its value is kept in the image
  fix: use a BuildKit secret: `RUN --mount=type=secret,id=github_token,env=GITHUB_TOKEN ...` and `--secret` at build time
images/app/Dockerfile:3: package-cache: `apt-get install` leaves the apt package lists in the layer
  fix: end the same RUN with `&& rm -rf /var/lib/apt/lists/*`, or use `RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt`
images/app/Dockerfile:6: missing-source: COPY source `missing.txt` is not in the build context images/app
  fix: create images/app/missing.txt or fix the path: sources are relative to the context
images/app/Dockerfile:6: missing-source: COPY source `debug.log` is excluded by .dockerignore (line 2: `*.log`)
  fix: add `!debug.log` to .dockerignore after line 2, or remove that pattern
";

const APP_ROOT_USER: &str = "\
images/app/Dockerfile:7: root-user: the final stage runs as root
  fix: end the final stage with a non-root `USER`, e.g. `USER 65534:65534`
";

const WEB_FINDINGS: &str = "\
images/web/Dockerfile:2: root-user: the final stage inherits root from its in-repo parent and sets no USER
  fix: end the final stage with a non-root `USER`, e.g. `USER 65534:65534`
images/web/Dockerfile:3: healthcheck: the image EXPOSEs 8080 but declares no HEALTHCHECK
  fix: add e.g. `HEALTHCHECK CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1`
";

#[test]
fn lint_reports_every_finding_with_its_line_and_fix() {
    let _turn = fixture_lock();
    let root = fixture("lint-bad");
    let output = xtask(&root, REGISTRY, &["lint"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        format!("{APP_FINDINGS}{APP_ROOT_USER}{WEB_FINDINGS}2 images checked: 6 errors, 2 warnings\n")
    );
    assert_eq!(stderr(&output), "error: 8 lint findings in 2 images; fix them or allow rules in [lint]\n");

    // Naming an image lints that image; its parent is read only for what it hands down.
    let output = xtask(&root, REGISTRY, &["--format", "json", "lint", "web"]);
    assert_eq!(output.status.code(), Some(1));
    let findings: Vec<serde_json::Value> = serde_json::from_str(&stdout(&output)).unwrap();
    let summary: Vec<(&str, &str, u64, &str, &str)> = findings
        .iter()
        .map(|f| {
            let field = |k: &str| f[k].as_str().unwrap();
            (field("image"), field("file"), f["line"].as_u64().unwrap(), field("rule"), field("severity"))
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("web", "images/web/Dockerfile", 2, "root-user", "error"),
            ("web", "images/web/Dockerfile", 3, "healthcheck", "warning"),
        ]
    );
    assert_eq!(stderr(&output), "error: 2 lint findings in 1 image; fix them or allow rules in [lint]\n");
}

#[test]
fn lint_speaks_sarif_and_github_annotations_and_still_fails_on_findings() {
    let _turn = fixture_lock();
    let root = fixture("lint-bad");
    let output = xtask(&root, REGISTRY, &["--format", "sarif", "lint", "web"]);
    assert_eq!(output.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str, u64)> = results
        .iter()
        .map(|r| {
            let physical = &r["locations"][0]["physicalLocation"];
            (
                r["ruleId"].as_str().unwrap(),
                r["level"].as_str().unwrap(),
                physical["artifactLocation"]["uri"].as_str().unwrap(),
                physical["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("root-user", "error", "images/web/Dockerfile", 2), ("healthcheck", "warning", "images/web/Dockerfile", 3)]
    );

    let output = xtask(&root, REGISTRY, &["lint", "web", "--format", "github"]);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("::error file=images/web/Dockerfile,line=2,title=lint%3A root-user::"), "{lines:?}");
    assert!(lines[1].starts_with("::warning file=images/web/Dockerfile,line=3,title=lint%3A healthcheck::"));
    assert!(stderr(&output).starts_with("1 image checked: 1 error, 1 warning\n"), "{}", stderr(&output));
}

#[test]
fn lint_allow_turns_a_rule_off_for_one_image() {
    let _turn = fixture_lock();
    let root = fixture("lint-bad");
    let toml = root.join("images/app/image.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}\n[lint]\nallow = [\"root-user\"]\n")).unwrap();

    let output = xtask(&root, REGISTRY, &["lint"]);
    assert_eq!(output.status.code(), Some(1));
    // app's root user is allowed; web, which inherits it, still has to set its own USER.
    assert_eq!(stdout(&output), format!("{APP_FINDINGS}{WEB_FINDINGS}2 images checked: 5 errors, 2 warnings\n"));

    let toml = root.join("images/web/image.toml");
    std::fs::write(&toml, "[lint]\nallow = [\"root-user\", \"healthcheck\"]\n").unwrap();
    let output = xtask(&root, REGISTRY, &["--format", "json", "lint", "web"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "[]\n");

    std::fs::write(&toml, "[lint]\nallow = [\"healthcheck\", \"rootuser\"]\n").unwrap();
    let output = xtask(&root, REGISTRY, &["lint", "web"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(
            "error: images/web/image.toml:2:25: unknown lint rule \"rootuser\"\n  hint: did you mean `root-user`?"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn build_stops_on_lint_errors_before_touching_the_engine() {
    let _turn = fixture_lock();
    let root = fixture("lint-bad");
    let output = xtask(&root, REGISTRY, &["build", "web"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty());
    let expected = format!(
        "{APP_FINDINGS}{APP_ROOT_USER}{WEB_FINDINGS}error: 6 lint errors in 2 images stop the build; fix them, allow rules in [lint], or pass --no-lint\n"
    );
    assert_eq!(stderr(&output), expected);
}

#[test]
fn the_repository_images_and_fixtures_lint_clean() {
    let _turn = fixture_lock();
    let images = camino::Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let output = xtask(&images, REGISTRY, &["lint"]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    for name in ["multi", "arm-fails"] {
        let output = xtask(&fixture(name), REGISTRY, &["lint"]);
        assert!(output.status.success(), "{name}: {}{}", stdout(&output), stderr(&output));
        assert!(stdout(&output).ends_with("checked: 0 errors, 0 warnings\n"), "{name}: {}", stdout(&output));
    }
}

#[test]
fn what_buildkit_rejects_is_a_lint_error_and_stops_plan_and_build() {
    let _turn = fixture_lock();
    let root = fixture("lint-bad");
    let dockerfile = root.join("images/web/Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    // BuildKit splits a non-JSON COPY at blanks, so `"my` is a word with an open quote.
    std::fs::write(&dockerfile, format!("{text}COPY \"my file\" /srv/\n")).unwrap();
    let syntax = "images/web/Dockerfile:4: syntax: failed to process \"\\\"my\": unexpected end of statement while looking for matching double-quote\n  fix: close every quote";

    let output = xtask(&root, REGISTRY, &["lint", "web"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains(syntax), "{}", stdout(&output));
    assert!(stdout(&output).ends_with("1 image checked: 2 errors, 1 warning\n"), "{}", stdout(&output));

    let refused = "error: images/web/Dockerfile:4: failed to process \"\\\"my\": unexpected end of statement while looking for matching double-quote\n  hint: close every quote";
    for args in [&["plan", "web"][..], &["build", "web"]] {
        let output = xtask(&root, REGISTRY, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stdout(&output).is_empty(), "{args:?}");
        assert!(stderr(&output).starts_with(refused), "{args:?}: {}", stderr(&output));
        assert_eq!(stderr(&output).matches("error: ").count(), 1, "{args:?}: one error");
    }
}

#[test]
fn warnings_fail_neither_lint_nor_build_unless_denied() {
    let _turn = fixture_lock();
    let root = fixture("lint-bad");
    // web keeps only its healthcheck warning.
    std::fs::write(root.join("images/web/image.toml"), "[lint]\nallow = [\"root-user\"]\n").unwrap();
    let warning = "images/web/Dockerfile:3: healthcheck: the image EXPOSEs 8080 but declares no HEALTHCHECK\n  fix: add e.g. `HEALTHCHECK CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1`\n";

    let output = xtask(&root, REGISTRY, &["lint", "web"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{warning}1 image checked: 0 errors, 1 warning\n"));
    assert_eq!(stderr(&output), "");

    let output = xtask(&root, REGISTRY, &["lint", "web", "--deny-warnings"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), format!("{warning}1 image checked: 0 errors, 1 warning\n"));
    assert_eq!(stderr(&output), "error: 1 lint finding in 1 image; fix it or allow rules in [lint]\n");

    // build lints the parent too: app's errors are allowed away so that only web's warning is left.
    let app = root.join("images/app/image.toml");
    let text = std::fs::read_to_string(&app).unwrap();
    let all = "[\"root-user\", \"unpinned-base\", \"secret-in-arg\", \"package-cache\", \"missing-source\"]";
    std::fs::write(&app, format!("{text}\n[lint]\nallow = {all}\n")).unwrap();
    let output = xtask(&root, REGISTRY, &["build", "web", "--deny-warnings"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty());
    assert_eq!(
        stderr(&output),
        format!("{warning}error: 1 lint warning (--deny-warnings) in 1 image stop the build; fix them, allow rules in [lint], or pass --no-lint\n")
    );
}
