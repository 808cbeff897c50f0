//! `cargo xtask lint`: the Dockerfile policy checks of the selected images; non-zero when an
//! error is found, or a warning with `--deny-warnings` (the exit rule `build` has too).

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};

use crate::cli::format::Format;
use crate::core::plan::Unit;
use crate::core::severity::Severity;
use crate::core::text::plural;
use crate::ops::lint::{lint_units, Reported};
use crate::sys::workspace::Workspace;

/// `cargo xtask lint`: checks the selected images; non-zero on errors (and denied warnings).
pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Lint) -> Result<()> {
    let format = format.require("lint")?;
    // Lenient: a Dockerfile BuildKit would reject is a `syntax` finding here, not a refusal.
    let units = ws.plan_lenient(&flags.units)?;
    // The plan adds the parents of what was asked for; they are linted only to learn what they hand down.
    let asked = |u: &Unit| flags.units.is_empty() || flags.units.iter().any(|s| *s == u.id || *s == u.image);
    let reported = lint_units(ws, &units, asked)?;
    let checked: BTreeSet<&str> = units.iter().filter(|u| asked(u)).map(|u| u.image.as_str()).collect();
    let findings: Vec<&crate::core::lint::Finding> = reported.iter().map(|r| &r.finding).collect();
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&reported).context("serializing the lint findings")?);
    } else if format == Format::Sarif {
        print!("{}", crate::core::sarif::lint(&findings, env!("CARGO_PKG_VERSION")));
    } else if format == Format::Github {
        for line in crate::core::annotations::lint(&findings) {
            println!("{line}");
        }
        eprintln!("{}", summary(&reported, checked.len()));
    } else {
        for r in &reported {
            println!("{}", r.finding);
        }
        println!("{}", summary(&reported, checked.len()));
    }
    if !reported.iter().any(|r| r.finding.severity.fails(flags.deny_warnings)) {
        return Ok(());
    }
    let images: BTreeSet<&str> = reported.iter().map(|r| r.image.as_str()).collect();
    bail!(
        "{} in {}; fix {} or allow rules in [lint]",
        plural(reported.len(), "lint finding"),
        plural(images.len(), "image"),
        if reported.len() == 1 { "it" } else { "them" }
    )
}

fn summary(reported: &[Reported], images: usize) -> String {
    let errors = reported.iter().filter(|r| r.finding.severity == Severity::Error).count();
    format!(
        "{} checked: {}, {}",
        plural(images, "image"),
        plural(errors, "error"),
        plural(reported.len() - errors, "warning")
    )
}
