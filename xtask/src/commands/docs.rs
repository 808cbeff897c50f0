//! `cargo xtask docs [--check]`: the image.toml reference, docs/image-toml.md, generated from
//! the key table in `core::schema`. Needs no valid definitions.

use anyhow::Result;
use camino::Utf8Path;

use crate::core::schema::{markdown, DOCS_FILE};
use crate::sys::files::write_or_check;

/// `cargo xtask docs [--check]`.
pub fn run(root: &Utf8Path, flags: &crate::cli::flags::Docs) -> Result<()> {
    write_or_check(root, DOCS_FILE, &markdown(), flags.check, "cargo xtask docs")
}
