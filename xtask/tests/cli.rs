//! The command line as a person meets it, through the real binary: where the workspace is
//! found, help and suggestions, commands that work with a broken image.toml, and a reader
//! that closes the pipe early.

mod common;

use std::process::{Command, Output, Stdio};

use camino::Utf8Path;

/// The binary run in `dir` with no `--root`, as `cargo xtask` would run it there, with
/// `CARGO_MANIFEST_DIR` as given (cargo sets it; a shell does not).
fn xtask_in(dir: &Utf8Path, manifest_dir: Option<&Utf8Path>, args: &[&str]) -> Output {
    let mut command = common::xtask_command();
    command.current_dir(dir).args(args).env_remove("CARGO_MANIFEST_DIR");
    if let Some(manifest_dir) = manifest_dir {
        command.env("CARGO_MANIFEST_DIR", manifest_dir);
    }
    command.output().expect("running the xtask binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Two clones, one binary (a target directory shared between them): each run works on the
/// clone it was started in, never on the one the binary was built in.
#[test]
fn the_workspace_is_found_at_run_time_not_compiled_in() {
    let first = common::fixture("multi");
    let second = common::fixture("multi");
    std::fs::rename(second.join("images/tool"), second.join("images/second-only")).unwrap();

    let plan = xtask_in(&second.join("images"), None, &["plan"]);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    assert!(text(&plan.stdout).contains("second-only"), "{}", text(&plan.stdout));

    // `cargo run` in the first clone sets CARGO_MANIFEST_DIR to its xtask package.
    std::fs::create_dir_all(first.join("xtask")).unwrap();
    let plan = xtask_in(&second, Some(&first.join("xtask")), &["plan"]);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    let listed = text(&plan.stdout);
    assert!(listed.contains("tool") && !listed.contains("second-only"), "{listed}");

    // Outside any workspace (the test scratch space is inside this repository's).
    let outside =
        camino::Utf8PathBuf::try_from(std::env::temp_dir()).unwrap().join(format!("xtask-lost-{}", std::process::id()));
    std::fs::create_dir_all(&outside).unwrap();
    let lost = xtask_in(&outside, None, &["plan"]);
    assert_eq!(lost.status.code(), Some(1));
    assert!(text(&lost.stderr).contains("no Cargo.toml with [workspace.metadata.images] at or above"));
    std::fs::remove_dir_all(&outside).unwrap();
}

#[test]
fn help_is_per_command_and_typos_get_a_suggestion() {
    let root = common::fixture("multi");
    for args in [&["help", "plan"][..], &["plan", "--help"], &["plan", "-h"]] {
        let help = xtask_in(&root, None, args);
        assert!(help.status.success(), "{args:?}: {}", text(&help.stderr));
        let shown = text(&help.stdout);
        assert!(shown.starts_with("cargo xtask plan"), "{args:?}: {shown}");
        assert!(shown.contains("EXAMPLES") && !shown.contains("cargo xtask build\n"), "{args:?}: {shown}");
    }
    let typo = xtask_in(&root, None, &["pln"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(text(&typo.stderr).contains("unknown command `pln`; did you mean `plan`?"), "{}", text(&typo.stderr));
    let flag = xtask_in(&root, None, &["plan", "--formt", "json"]);
    assert_eq!(flag.status.code(), Some(2));
    assert!(text(&flag.stderr).contains("did you mean `--format`?"), "{}", text(&flag.stderr));
    let version = xtask_in(&root, None, &["version"]);
    assert!(version.status.success());
    assert!(text(&version.stdout).starts_with(&format!("xtask {} (commit ", env!("CARGO_PKG_VERSION"))));
    let refused = xtask_in(&root, None, &["new", "x", "--format", "json"]);
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    assert!(text(&refused.stderr).contains("`new` prints table, not json"), "{}", text(&refused.stderr));
}

/// A broken image.toml stops the commands that read it, and only those.
#[test]
fn commands_that_need_no_definitions_survive_a_broken_image_toml() {
    let root = common::fixture("multi");
    std::fs::write(root.join("images/app/image.toml"), "name = [unclosed\n").unwrap();
    let plan = xtask_in(&root, None, &["plan"]);
    assert_eq!(plan.status.code(), Some(1));
    assert!(text(&plan.stderr).contains("images/app/image.toml:1:"), "{}", text(&plan.stderr));
    for args in [&["help"][..], &["version"], &["schema"], &["docs"]] {
        let run = xtask_in(&root, None, args);
        assert!(run.status.success(), "{args:?}: {}", text(&run.stderr));
    }
    assert!(root.join("docs/image.schema.json").is_file() && root.join("docs/image-toml.md").is_file());
    // The workflow has a build job per dependency level of the images, so it reads them.
    let workflow = xtask_in(&root, None, &["ci-workflow"]);
    assert_eq!(workflow.status.code(), Some(1));
    assert!(text(&workflow.stderr).contains("images/app/image.toml:1:"), "{}", text(&workflow.stderr));
    let doctor = xtask_in(&root, None, &["doctor", "--format", "json"]);
    let report = text(&doctor.stdout);
    assert!(report.contains("\"definitions\"") && report.contains("images/app/image.toml:1:"), "{report}");
}

/// `ci` will not run with a switch that hollows tests out: it names each variable and exits 1
/// before anything runs. PATH is emptied, so that if the check were gone nothing could run.
#[test]
fn ci_refuses_switches_that_hollow_tests_out() {
    let root = common::fixture("multi");
    let empty = common::scratch("ci-refusal-path");
    for (env, named) in [
        (&[("XTASK_FUZZ_CASES", "0")][..], &["XTASK_FUZZ_CASES=0 would run no fuzz cases"][..]),
        (&[("XTASK_BLESS", "1")], &["XTASK_BLESS=1 rewrites every expected error"]),
        (&[("XTASK_BLESS", "")], &["XTASK_BLESS= rewrites every expected error"]),
        (
            &[("XTASK_BLESS", "1"), ("XTASK_FUZZ_CASES", "none")],
            &["XTASK_FUZZ_CASES=none would run an unknown number of fuzz cases", "XTASK_BLESS=1"],
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["--root", root.as_str(), "ci"])
            .env_remove("XTASK_FUZZ_CASES")
            .env_remove("XTASK_BLESS")
            .envs(env.iter().copied())
            .env("PATH", empty.as_str())
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{env:?}: {stderr}");
        assert!(stderr.starts_with("error: refusing to run the test suite: "), "{env:?}: {stderr}");
        for name in named {
            assert!(stderr.contains(name), "{env:?} does not name {name:?}: {stderr}");
        }
        assert_eq!(text(&output.stdout), "", "{env:?}: nothing ran");
    }
}

/// `| head -c1`: the reader goes away; the command ends quietly instead of panicking.
#[test]
fn a_closed_stdout_ends_quietly() {
    let root = common::fixture("multi");
    for _ in 0..5 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["--root", root.as_str(), "plan", "--format", "json"])
            .env_remove("GITHUB_EVENT_NAME")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(output.status.code(), Some(0), "{stderr}");
    }
}

/// `plan --changed-since` in a real git repository: a change in one image plans it and its
/// children; a change to the settings plans everything.
#[test]
fn plan_changed_since_selects_the_changed_units_and_their_children() {
    let root = common::fixture("multi");
    let git = |args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(root.as_str()).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@e", "add", "-A"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "one"]);
    let first = git(&["rev-parse", "HEAD"]);
    let commit = |file: &str, line: &str| {
        let path = root.join(file);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, format!("{old}{line}\n")).unwrap();
        git(&["add", file]);
        git(&["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "change"]);
    };
    let planned = |since: &str| -> Vec<String> {
        let out = xtask_in(&root, None, &["--format", "json", "plan", "--changed-since", since]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let units: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        units.as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
    };
    commit("images/app/Dockerfile", "LABEL changed=1");
    assert_eq!(planned(&first), ["app:loud", "app:quiet"]);
    commit("images/base/Dockerfile", "LABEL changed=1");
    assert_eq!(planned(&first).len(), 5, "the base and everything on it");
    let second = git(&["rev-parse", "HEAD"]);
    commit("README.md", "more words");
    assert!(planned(&second).is_empty(), "documentation builds nothing");
    commit("Cargo.toml", "# a settings comment");
    assert_eq!(planned(&second).len(), 5, "the settings may touch every image");
    let unknown = xtask_in(&root, None, &["plan", "--changed-since", "0123456789abcdef0123456789abcdef01234567"]);
    assert!(text(&unknown.stderr).contains("planning every unit"), "{}", text(&unknown.stderr));
}
