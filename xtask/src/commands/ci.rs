//! `cargo xtask ci`: the project's whole test command, as CI runs it:
//! provision, fmt, clippy, every test, then the main job on one real example
//! of `images/` and the checks of what it published.

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::sys::workspace::Workspace;

pub fn run(ws: &Workspace) -> Result<()> {
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
    cmd!(sh, "cargo test --workspace --no-fail-fast").run().context("cargo test failed")?;
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
