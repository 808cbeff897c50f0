//! `--format`: how a command prints its results, and which formats each command has (one
//! table, read by the argv check, the help and every command).

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
    /// SARIF 2.1.0, for code scanning (`github/codeql-action/upload-sarif`).
    Sarif,
    /// GitHub workflow commands: one `::error`/`::warning` annotation per finding.
    Github,
    /// A `docker-bake.json` that `docker buildx bake -f` reads.
    Bake,
    /// One self-contained page (`report`).
    Html,
}

/// Reads `--format`; a command then refuses what it cannot print with [`Format::require`].
pub fn parse(flag: Option<&str>) -> Result<Format> {
    Ok(match flag {
        None | Some("table") => Format::Table,
        Some("json") => Format::Json,
        Some("markdown") => Format::Markdown,
        Some("junit") => Format::Junit,
        Some("github-matrix") => Format::GithubMatrix,
        Some("sarif") => Format::Sarif,
        Some("github") => Format::Github,
        Some("bake") => Format::Bake,
        Some("html") => Format::Html,
        Some(other) => bail!("{}", unknown(other)),
    })
}

impl Format {
    /// Refuses a format `command` cannot print (see [`accepted`]): a usage error, exit 2, as
    /// when the argv check catches it before the command starts.
    pub fn require(self, command: &str) -> Result<Format> {
        check_format(command, self.name()).map_err(|why| Failure::new(Exit::Unavailable, why))?;
        Ok(self)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::GithubMatrix => "github-matrix",
            Format::Sarif => "sarif",
            Format::Github => "github",
            Format::Bake => "bake",
            Format::Html => "html",
        }
    }
}

/// Every name `cli::format::parse` accepts, in the order its error message lists them.
pub const FORMATS: [&str; 9] =
    ["table", "json", "markdown", "junit", "github-matrix", "sarif", "github", "bake", "html"];

fn unknown(format: &str) -> String {
    let (last, rest) = FORMATS.split_last().expect("FORMATS is not empty");
    format!("--format {format:?} is not a format: use {} or {last}", rest.join(", "))
}

/// The formats `command` prints, the default (`table`) first; `None` for a name that is
/// not a command.
pub fn accepted(command: &str) -> Option<&'static [&'static str]> {
    Some(match command {
        "plan" => &["table", "json", "github-matrix", "bake"],
        "build" | "doctor" | "sbom" | "outdated" => &["table", "json"],
        "lint" | "verify-manifests" => &["table", "json", "sarif", "github"],
        "scan" => &["table", "json", "sarif"],
        "report" => &["table", "markdown", "json", "html"],
        "analytics" => &["table", "json", "markdown", "html"],
        "size" => &["table", "json", "markdown"],
        "test" => &["table", "json", "junit", "github"],
        // Text only: a table, progress lines or files written.
        "publish" | "rollback" | "bench" | "new" | "docs" | "schema" | "ci-workflow" | "provision" | "install"
        | "ci" | "version" => &["table"],
        // `cargo xtask --format json` with no command prints the help, whatever the format.
        "help" => &FORMATS,
        _ => return None,
    })
}

/// Refuses a `--format` that `command` cannot print, with the same words as
/// the command itself, so the message does not depend on which check caught it.
pub fn check_format(command: &str, format: &str) -> Result<(), String> {
    if !FORMATS.contains(&format) {
        return Err(unknown(format));
    }
    match accepted(command) {
        Some(names) if !names.contains(&format) => {
            Err(format!("`{command}` prints {}, not {format}: pass --format {}", names.join(" or "), names[0]))
        }
        // An unknown command is the argv check's business, not this one's.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_each_command_prints() {
        for (command, format) in [
            ("plan", "github-matrix"),
            ("plan", "json"),
            ("build", "table"),
            ("report", "markdown"),
            ("size", "markdown"),
            ("test", "junit"),
            ("verify-manifests", "json"),
            ("help", "junit"),
            ("rollback", "table"),
            ("lint", "sarif"),
            ("scan", "sarif"),
            ("verify-manifests", "sarif"),
            ("lint", "github"),
            ("verify-manifests", "github"),
            ("test", "github"),
        ] {
            assert_eq!(check_format(command, format), Ok(()), "{command} --format {format}");
        }
    }

    #[test]
    fn refuses_a_format_the_command_cannot_print_naming_the_ones_it_has() {
        assert_eq!(
            check_format("scan", "github").unwrap_err(),
            "`scan` prints table or json or sarif, not github: pass --format table"
        );
        assert_eq!(
            check_format("test", "markdown").unwrap_err(),
            "`test` prints table or json or junit or github, not markdown: pass --format table"
        );
        assert_eq!(
            check_format("lint", "junit").unwrap_err(),
            "`lint` prints table or json or sarif or github, not junit: pass --format table"
        );
        assert_eq!(
            check_format("rollback", "json").unwrap_err(),
            "`rollback` prints table, not json: pass --format table"
        );
        assert_eq!(
            check_format("build", "github-matrix").unwrap_err(),
            "`build` prints table or json, not github-matrix: pass --format table"
        );
    }

    #[test]
    fn an_unknown_format_gets_the_message_workspace_loading_gives() {
        // tests/bad-input/format-unknown/expected.txt pins this text.
        assert_eq!(
            check_format("plan", "yaml").unwrap_err(),
            "--format \"yaml\" is not a format: use table, json, markdown, junit, github-matrix, sarif, github, bake or html"
        );
    }

    #[test]
    fn every_command_of_the_generated_help_has_a_row_and_every_row_is_a_real_format() {
        let cli = crate::cli::help::parse(crate::cli::flags::Xtask::HELP);
        assert!(cli.commands.len() > 10);
        for command in &cli.commands {
            let names =
                accepted(&command.names[0]).unwrap_or_else(|| panic!("add `{}` to format::accepted", command.names[0]));
            assert_eq!(names[0], "table", "{}: the default format comes first", command.names[0]);
            assert!(names.iter().all(|n| FORMATS.contains(n)), "{}: {names:?}", command.names[0]);
        }
        assert_eq!(accepted("pln"), None);
        assert_eq!(check_format("pln", "json"), Ok(()));
    }
}
