//! `cargo xtask ci`: the project's whole test command, as CI runs it:
//! provision, fmt, clippy, every test, then the main job on one real example
//! of `images/` and the checks of what it published. It refuses to start while a switch that
//! hollows tests out is set, and fails when fewer tests ran than the sources declare.

use std::io::BufRead;

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use xshell::{cmd, Shell};

use crate::core::suite;
use crate::sys::workspace::Workspace;

pub fn run(ws: &Workspace) -> Result<()> {
    let switches = suite::hollowing_switches(|name| std::env::var_os(name));
    if !switches.is_empty() {
        bail!("refusing to run the test suite: {}", switches.join("; "));
    }
    crate::sys::provision::provision(&ws.host()).context("provisioning this host")?;
    let sh = Shell::new().context("starting a shell")?;
    sh.change_dir(&ws.root);
    cmd!(sh, "cargo fmt --all -- --check").run().context("cargo fmt found unformatted code: run `cargo fmt --all`")?;
    cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run().context("cargo clippy found warnings")?;
    // The image.toml reference and JSON Schema are generated from xtask/src/core/schema/keys.rs: stale ones fail.
    cmd!(sh, "cargo xtask docs --check").run().context("docs/image-toml.md is out of date: run `cargo xtask docs`")?;
    cmd!(sh, "cargo xtask schema --check")
        .run()
        .context("docs/image.schema.json is out of date: run `cargo xtask schema`")?;
    cmd!(sh, "cargo xtask ci-workflow --check").run().context("the generated CI workflow is out of date")?;
    cargo_test(&ws.root)?;
    // The whole library is planned and linted; one real example is built end to end, since a
    // cold build of all of images/ takes longer than CI should. debian:bookworm and
    // python:python3.11 on it are the cheapest pair that still covers an mmdebstrap root
    // filesystem, an in-repo parent pinned by digest, apt with cache mounts and arm64 emulation.
    cmd!(sh, "cargo xtask plan").run().context("`cargo xtask plan` of images/ failed")?;
    cmd!(sh, "cargo xtask lint").run().context("`cargo xtask lint` found problems in images/")?;
    let example = ["debian:bookworm", "python:python3.11"];
    cmd!(sh, "cargo xtask build {example...}").run().context("`cargo xtask build` of the example failed")?;
    cmd!(sh, "cargo xtask verify-manifests {example...}")
        .run()
        .context("`cargo xtask verify-manifests` found problems")?;
    cmd!(sh, "cargo xtask size {example...}").run().context("`cargo xtask size` found an image over budget")?;
    cmd!(sh, "cargo xtask test {example...}").run().context("`cargo xtask test` failed on the example")?;
    Ok(())
}

/// `cargo test --workspace --no-fail-fast`, its output shown as it comes and counted: every
/// `#[test]` under `xtask/` must have run and passed.
fn cargo_test(root: &Utf8Path) -> Result<()> {
    let mut declared = 0;
    for dir in ["xtask/src", "xtask/tests"] {
        count_declared(&root.join(dir), &mut declared)?;
    }
    let reader = duct::cmd!("cargo", "test", "--workspace", "--no-fail-fast")
        .dir(root)
        .stderr_to_stdout()
        .reader()
        .context("starting cargo test")?;
    let mut output = String::new();
    let mut lines = std::io::BufReader::new(&reader);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {
                print!("{line}");
                output.push_str(&line);
            }
            // A failed test run ends the reader with the exit status as its error.
            Err(err) => return Err(err).context("cargo test failed"),
        }
    }
    let ran = suite::ran_tests(&output);
    if let Some(why) = suite::shortfall(&ran, declared) {
        bail!("cargo test: {why}");
    }
    Ok(())
}

/// Adds the `#[test]`s of every `.rs` file under `dir`.
fn count_declared(dir: &Utf8Path, count: &mut usize) -> Result<()> {
    for entry in dir.read_dir_utf8().with_context(|| format!("listing {dir}"))? {
        let entry = entry.with_context(|| format!("listing {dir}"))?;
        let path = entry.path();
        if entry.file_type().with_context(|| format!("reading {path}"))?.is_dir() {
            count_declared(path, count)?;
        } else if path.extension() == Some("rs") {
            *count += suite::declared_tests(&std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?);
        }
    }
    Ok(())
}
