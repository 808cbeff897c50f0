//! Lints the planned units, parents first so that children know what they inherit: shared by
//! `lint` and by `build`, which lints what it is about to build.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use serde::Serialize;

use crate::core::lint::{inherited, lint, Finding, Inherited, LintContext};
use crate::core::plan::{parent_arg, Unit};
use crate::core::severity::Severity;
use crate::core::text::plural;
use crate::sys::context::{list_files, read_dockerignore};
use crate::sys::workspace::Workspace;

/// A finding and the image it is in, as `lint --format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Reported {
    pub image: String,
    #[serde(flatten)]
    pub finding: Finding,
}

/// Lints the units `build` is about to build: prints what it finds on stderr and stops before
/// building when anything fails by the exit rule `lint` has too: errors, and with
/// `deny_warnings` warnings. Where the builder has named contexts, a parent named literally
/// is pinned to this run's digest (`core::buildx`), so `in-repo-by-name` does not apply.
pub fn check_before_build(ws: &Workspace, units: &[Unit], deny_warnings: bool, named_contexts: bool) -> Result<()> {
    let mut reported = lint_units(ws, units, |_| true)?;
    if named_contexts {
        reported.retain(|r| r.finding.rule != crate::core::lint::Rule::InRepoByName);
    }
    for r in &reported {
        eprintln!("{}", r.finding);
    }
    let failing: Vec<&Reported> = reported.iter().filter(|r| r.finding.severity.fails(deny_warnings)).collect();
    if failing.is_empty() {
        return Ok(());
    }
    let images: BTreeSet<&str> = failing.iter().map(|r| r.image.as_str()).collect();
    let errors = failing.iter().filter(|r| r.finding.severity == Severity::Error).count();
    let what = match (errors, failing.len() - errors) {
        (_, 0) => plural(errors, "lint error"),
        (0, warnings) => format!("{} (--deny-warnings)", plural(warnings, "lint warning")),
        (_, warnings) => {
            format!("{} and {} (--deny-warnings)", plural(errors, "lint error"), plural(warnings, "warning"))
        }
    };
    bail!(
        "{what} in {} stop the build; fix them, allow rules in [lint], or pass --no-lint",
        plural(images.len(), "image")
    )
}

/// Lints every unit in plan order (parents first, so children know what they
/// inherit) and reports those `report` picks; a Dockerfile shared by variants
/// reports each finding once.
pub fn lint_units(ws: &Workspace, units: &[Unit], report: impl Fn(&Unit) -> bool) -> Result<Vec<Reported>> {
    let mut listings: BTreeMap<&Utf8Path, BTreeSet<String>> = BTreeMap::new();
    let mut handed_down: BTreeMap<&str, Inherited> = BTreeMap::new();
    let mut out: Vec<Reported> = Vec::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let repositories = crate::core::plan::repositories(&ws.defs, &ws.registry);
    for unit in units {
        let image = ws.defs.images.iter().find(|i| i.name == unit.image).context("a planned unit has no image")?;
        let text = ws.dockerfile(unit)?;
        let mut parents = BTreeMap::new();
        for parent in &unit.parents {
            let facts = handed_down
                .get(parent.unit.as_str())
                .with_context(|| format!("{} comes before its parent {} in the plan", unit.id, parent.unit))?;
            parents.insert(parent.arg.clone(), *facts);
        }
        if !listings.contains_key(unit.context.as_path()) {
            listings.insert(unit.context.as_path(), list_files(&ws.root.join(&unit.context))?);
        }
        let ctx = LintContext {
            allow: image.lint.allow.clone(),
            args: unit.args.clone(),
            platforms: unit.platforms.clone(),
            parents,
            in_repo: repositories
                .iter()
                .filter_map(|(repository, owners)| {
                    let (owner, _) = owners.first()?;
                    (owner.name != unit.image).then(|| (repository.clone(), parent_arg(&owner.name)))
                })
                .collect(),
            context: unit.context.clone(),
            files: listings[unit.context.as_path()].clone(),
            dockerignore: read_dockerignore(&ws.root, unit)?,
            rootfs: unit.rootfs.is_some(),
        };
        handed_down.insert(unit.id.as_str(), inherited(text, &ctx));
        if !report(unit) {
            continue;
        }
        for finding in lint(&unit.dockerfile, text, &ctx) {
            // By its text, which names file, line, rule and message: a set, as findings can be many.
            if reported.insert(finding.to_string()) {
                out.push(Reported { image: unit.image.clone(), finding });
            }
        }
    }
    Ok(out)
}
