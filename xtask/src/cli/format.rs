//! `--format`: how a command prints its results, and which formats each command has.

use anyhow::{bail, Result};

use crate::cli::exit::{Exit, Failure};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Junit,
    /// The image × platform matrix GitHub Actions' `strategy.matrix` reads.
    GithubMatrix,
}

/// Reads `--format`; a command then refuses what it cannot print with [`Format::require`].
pub fn parse(flag: Option<&str>) -> Result<Format> {
    Ok(match flag {
        None | Some("table") => Format::Table,
        Some("json") => Format::Json,
        Some("markdown") => Format::Markdown,
        Some("junit") => Format::Junit,
        Some("github-matrix") => Format::GithubMatrix,
        Some(other) => bail!("--format {other:?} is not a format: use table, json, markdown, junit or github-matrix"),
    })
}

impl Format {
    /// Refuses a format the command cannot print: a usage error, exit 2, as when the argv
    /// check catches it first.
    pub fn require(self, command: &str, supported: &[Format]) -> Result<Format> {
        if supported.contains(&self) {
            return Ok(self);
        }
        let names: Vec<&str> = supported.iter().map(|f| f.name()).collect();
        let message =
            format!("`{command}` prints {}, not {}: pass --format {}", names.join(" or "), self.name(), names[0]);
        Err(Failure::new(Exit::Unavailable, message).into())
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::GithubMatrix => "github-matrix",
        }
    }
}
