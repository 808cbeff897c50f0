//! `cargo xtask ci`: the project's whole test command, as CI runs it:
//! provision, fmt, clippy, every test, then the main job on `images/` and
//! the checks of what it published.

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::workspace::Workspace;

pub fn run(ws: &Workspace) -> Result<()> {
    crate::provision::provision(&ws.host()).context("provisioning this host")?;
    let sh = Shell::new().context("starting a shell")?;
    sh.change_dir(&ws.root);
    cmd!(sh, "cargo fmt --all -- --check").run().context("cargo fmt found unformatted code: run `cargo fmt --all`")?;
    cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run().context("cargo clippy found warnings")?;
    cmd!(sh, "cargo test --workspace --no-fail-fast").run().context("cargo test failed")?;
    // The main job itself on the repository's own images, then proof of what it published.
    cmd!(sh, "cargo xtask build").run().context("`cargo xtask build` of images/ failed")?;
    cmd!(sh, "cargo xtask verify-manifests").run().context("`cargo xtask verify-manifests` found problems")?;
    cmd!(sh, "cargo xtask size").run().context("`cargo xtask size` found an image over budget")?;
    cmd!(sh, "cargo xtask test").run().context("`cargo xtask test` failed on images/")?;
    Ok(())
}
