//! The generated GitHub Actions workflow, checked by the tools GitHub users check theirs
//! with (check-jsonschema's GitHub schema, zizmor, actionlint), and the matrix it fans out over.

mod common;

use camino::{Utf8Path, Utf8PathBuf};
use common::{engine_lock, fixture, xtask, xtask_ok};

const WORKFLOW: &str = "ci/github/workflows/images.yml";

/// The workspace this crate belongs to: its committed workflow is the one under test.
fn repository_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Runs a Python-packaged checker installed by `cargo xtask provision`.
fn checker(program: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program} ({e}): run `cargo xtask provision` first"))
}

/// check-jsonschema's GitHub workflow schema, zizmor (offline, default severity) and
/// actionlint (its expression, shell and action checks) all pass. `runners` are the custom
/// runner labels the settings name, which actionlint is told of as a team's actionlint.yaml would.
fn assert_valid_workflow(file: &Utf8Path, runners: &[&str]) {
    let schema = checker("check-jsonschema", &["--builtin-schema", "vendor.github-workflows", file.as_str()]);
    assert!(
        schema.status.success(),
        "check-jsonschema rejects {file}:\n{}{}",
        String::from_utf8_lossy(&schema.stdout),
        String::from_utf8_lossy(&schema.stderr)
    );
    let audit = checker("zizmor", &["--offline", "--no-progress", file.as_str()]);
    let report = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.status.success(), "zizmor finds problems in {file}:\n{report}");
    assert!(report.contains("No findings to report"), "{report}");
    let config = Utf8PathBuf::from(format!(
        "{}/actionlint-{}-{}.yaml",
        env!("CARGO_TARGET_TMPDIR"),
        std::process::id(),
        runners.join("-")
    ));
    let labels: String = runners.iter().map(|label| format!("    - {label}\n")).collect();
    std::fs::write(&config, format!("self-hosted-runner:\n  labels:\n{labels}")).unwrap();
    let lint = checker("actionlint", &["-no-color", "-config-file", config.as_str(), file.as_str()]);
    std::fs::remove_file(&config).unwrap();
    assert!(
        lint.status.success(),
        "actionlint finds problems in {file}:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(lint.stdout.is_empty(), "{}", String::from_utf8_lossy(&lint.stdout));
}

#[test]
fn the_committed_workflow_is_generated_valid_and_clean() {
    let root = repository_root();
    let check = xtask_ok(&root, "localhost:5000", &["ci-workflow", "--check"]);
    assert_eq!(check.trim(), format!("{WORKFLOW}: up to date"));
    assert_valid_workflow(&root.join(WORKFLOW), &[]);
}

#[test]
fn check_shows_the_difference_and_writing_fixes_it() {
    // Tests of one binary share the fixture's scratch copy: one at a time.
    let _turn = engine_lock();
    let root = fixture("multi");
    let missing = xtask(&root, "localhost:5000", &["ci-workflow", "--check"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains(&format!("{WORKFLOW} does not exist: run `cargo xtask ci-workflow`")), "{stderr}");

    // Settings change the workflow: another amd64 runner for the jobs that are not per platform.
    let manifest = root.join("Cargo.toml");
    let settings = std::fs::read_to_string(&manifest).unwrap()
        + "\n[workspace.metadata.images.runners]\n\"linux/amd64\" = \"x86-large\"\n";
    std::fs::write(&manifest, settings).unwrap();
    assert_eq!(xtask_ok(&root, "localhost:5000", &["ci-workflow"]).trim(), format!("wrote {WORKFLOW}"));
    let file = root.join(WORKFLOW);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.matches("    runs-on: x86-large\n").count(), 4, "{written}");
    assert_valid_workflow(&file, &["x86-large"]);
    xtask_ok(&root, "localhost:5000", &["ci-workflow", "--check"]);

    std::fs::write(&file, written.replace("retention-days: 1", "retention-days: 30")).unwrap();
    let stale = xtask(&root, "localhost:5000", &["ci-workflow", "--check"]);
    assert_eq!(stale.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&stale.stderr);
    assert!(stderr.contains(&format!("{WORKFLOW} is out of date: run `cargo xtask ci-workflow`")), "{stderr}");
    assert!(stderr.contains("\n-          retention-days: 30\n+          retention-days: 1\n"), "{stderr}");
}

#[test]
fn the_github_matrix_has_a_leg_per_unit_and_platform_on_its_runner() {
    // Tests of one binary share the fixture's scratch copy: one at a time.
    let _turn = engine_lock();
    let root = fixture("multi");
    let manifest = root.join("Cargo.toml");
    let settings = std::fs::read_to_string(&manifest).unwrap()
        + "\n[workspace.metadata.images.builders]\n\"linux/arm64\" = \"arm-native\"\n";
    std::fs::write(&manifest, settings).unwrap();
    let out = xtask_ok(&root, "localhost:5000", &["--format", "github-matrix", "plan", "app"]);
    assert_eq!(out.lines().count(), 1, "one line, for $GITHUB_OUTPUT: {out}");
    let matrix: serde_json::Value = serde_json::from_str(&out).unwrap();
    let legs: Vec<String> = matrix["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|leg| {
            format!(
                "{} {} {} {} {}",
                leg["unit"].as_str().unwrap(),
                leg["platform"].as_str().unwrap(),
                leg["slug"].as_str().unwrap(),
                leg["runs-on"].as_str().unwrap(),
                leg["builder"].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        legs,
        [
            "base linux/amd64 base-amd64 ubuntu-24.04 -",
            "base linux/arm64 base-arm64 ubuntu-24.04-arm arm-native",
            "app:loud linux/amd64 app-loud-amd64 ubuntu-24.04 -",
            "app:loud linux/arm64 app-loud-arm64 ubuntu-24.04-arm arm-native",
            "app:quiet linux/amd64 app-quiet-amd64 ubuntu-24.04 -",
            "app:quiet linux/arm64 app-quiet-arm64 ubuntu-24.04-arm arm-native",
        ]
    );
}
