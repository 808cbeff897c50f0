//! `cargo xtask verify-manifests`: reads what the registry holds for each unit, natively
//! and concurrently (`ops::observe`), and prints what `core::verify` finds wrong with it.

use anyhow::{Context, Result};

use crate::cli::format::Format;
use crate::core::severity::Severity;
use crate::core::verify::*;
use crate::ops::observe::observe;
use crate::sys::workspace::Workspace;

pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::VerifyManifests) -> Result<()> {
    let started_at = std::time::SystemTime::now();
    let format = format.require("verify-manifests")?;
    let units = ws.plan(&flags.units)?;
    let client = super::reachable_registry(ws)?;
    let started = std::time::Instant::now();
    let mut observed = observe(&client, &units);
    let release = ws.event()?.kind == crate::core::event::EventKind::Release;
    let mut metrics = Vec::new();
    let mut parent_problems = check_parents(&units, &observed);
    let reports: Vec<UnitReport> = units
        .iter()
        .map(|u| {
            let observed = observed.remove(&u.id).unwrap_or_default();
            let mut report = check_unit(u, &observed, release);
            report.problems.extend(parent_problems.remove(&u.id).unwrap_or_default());
            metrics.extend(platform_metrics(u, &report, &observed));
            report
        })
        .collect();
    let errors = reports.iter().flat_map(|r| &r.problems).filter(|p| p.severity == Severity::Error).count();
    let warnings = reports.iter().flat_map(|r| &r.problems).filter(|p| p.severity == Severity::Warning).count();
    if format == Format::Json {
        let doc = serde_json::json!({ "ok": errors == 0, "errors": errors, "warnings": warnings, "units": reports });
        println!("{}", serde_json::to_string_pretty(&doc).context("serializing the report")?);
    } else if format == Format::Sarif {
        print!("{}", crate::core::sarif::verify(&reports, env!("CARGO_PKG_VERSION")));
    } else if format == Format::Github {
        for line in crate::core::annotations::verify(&reports) {
            println!("{line}");
        }
        let tags: usize = reports.iter().map(|r| r.tags.len()).sum();
        eprintln!("Checked {tags} tag(s) of {} unit(s): {errors} error(s), {warnings} warning(s)", reports.len());
    } else {
        let mut rows = Vec::new();
        for r in &reports {
            if r.problems.iter().all(|p| p.severity != Severity::Error) {
                let digest: String = r.digest.as_deref().map(|d| d.chars().take(19).collect()).unwrap_or_default();
                rows.push(vec![
                    r.unit.clone(),
                    format!("{} tag(s)", r.tags.len()),
                    "ok".to_string(),
                    format!("{digest}, {}", r.platforms.join(", ")),
                ]);
            }
            for p in &r.problems {
                let severity = if p.severity == Severity::Error { "ERROR" } else { "warning" };
                rows.push(vec![r.unit.clone(), p.reference.clone(), severity.to_string(), p.message.clone()]);
            }
        }
        println!("{}", crate::core::text::table(&["UNIT", "REFERENCE", "RESULT", "DETAIL"], &rows));
        let tags: usize = reports.iter().map(|r| r.tags.len()).sum();
        eprintln!(
            "Checked {tags} tag(s) of {} unit(s) in {}: {errors} error(s), {warnings} warning(s)",
            reports.len(),
            crate::core::text::duration(started.elapsed())
        );
    }
    crate::sys::metrics::record(ws, "verify-manifests", started_at, errors == 0, metrics);
    if errors > 0 {
        return Err(crate::cli::exit::Failure::new(
            crate::cli::exit::Exit::Findings,
            format!("{errors} problem(s) in the registry"),
        )
        .into());
    }
    Ok(())
}
