//! `cargo xtask schema [--check]`: the JSON Schema of image.toml, docs/image.schema.json, for
//! editors and check-jsonschema. Needs no valid definitions.

use anyhow::Result;
use camino::Utf8Path;

use crate::core::schema::{json_schema, SCHEMA_FILE};
use crate::sys::files::write_or_check;

/// `cargo xtask schema [--check]`.
pub fn run(root: &Utf8Path, flags: &crate::cli::flags::Schema) -> Result<()> {
    write_or_check(root, SCHEMA_FILE, &json_schema()?, flags.check, "cargo xtask schema")
}
