//! `cargo xtask test`: runs the `[[tests]]` of each image.toml against every platform of every
//! selected unit. Each platform runs by its own manifest digest (`repo@sha256:...`), never by
//! the index tag, which the classic docker image store resolves to one platform only.
//!
//! Which tests apply and how they are judged is `core::checks`; running them in containers is
//! `ops::image_tests`; this file picks the targets and prints the report.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cli::flags;
use crate::cli::format::Format;
use crate::cli::output::Progress;
use crate::core::checks::*;
use crate::core::plan::Unit;
use crate::ops::image_tests::{run_targets, Outcome, Target};
use crate::sys::workspace::Workspace;

pub fn run(ws: &Workspace, format: Format, flags: &flags::Test) -> Result<()> {
    let began = std::time::SystemTime::now();
    let format = format.require("test")?;
    let jobs = match flags.jobs {
        Some(0) => bail!("--jobs 0 would run nothing: pass 1 or more"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let units = ws.plan(&flags.units)?;
    // The plan pulls in parents; tests run on what was asked for, and on what was published
    // under a tag (a parent built only for a release has none) unless they run locally.
    let units: Vec<&Unit> = units
        .iter()
        .filter(|u| flags.units.is_empty() || flags.units.iter().any(|s| *s == u.id || *s == u.image))
        .filter(|u| flags.local || !u.tags.is_empty())
        .collect();
    let platforms = selected_platforms(&units, &flags.platform, flags.local)?;
    let mut targets = Vec::new();
    for unit in &units {
        let tests = ws.defs.images.iter().find(|i| i.name == unit.image).map_or(&[][..], |i| &i.tests[..]);
        for platform in unit.platforms.iter().filter(|p| platforms.contains(p)) {
            let tests = applicable(tests, unit, platform);
            if !tests.is_empty() {
                targets.push(Target { unit, platform: platform.clone(), tests });
            }
        }
    }
    if targets.is_empty() {
        eprintln!("No [[tests]] apply to the selected units and platforms (see README.md, \"Image tests\").");
    } else if !flags.local {
        crate::sys::provision::preflight(&ws.host())?;
    }

    let cases = targets.iter().map(|t| t.tests.len()).sum::<usize>();
    if !targets.is_empty() {
        eprintln!(
            "Testing {cases} case(s) on {} unit/platform pair(s), {jobs} at a time, against {}",
            targets.len(),
            if flags.local { "the local engine" } else { ws.registry.as_str() }
        );
    }
    let progress = Progress::new(Duration::from_secs(30));
    let Outcome { results, leftovers, interrupted, seconds } = run_targets(&targets, jobs, flags.local, &progress)?;

    let report = match format {
        Format::Junit => junit(&results),
        Format::Github => crate::core::annotations::test(&results).join("\n"),
        Format::Json => {
            #[derive(Serialize)]
            struct Report<'a> {
                #[serde(flatten)]
                counts: Counts,
                seconds: f64,
                results: &'a [CaseResult],
            }
            let report = Report { counts: counts(&results), seconds, results: &results };
            serde_json::to_string_pretty(&report).context("serializing the test results")?
        }
        _ => summary_table(&results),
    };
    // No annotation is no line at all, not an empty one.
    if !(format == Format::Github && report.is_empty()) {
        println!("{report}");
    }
    if let Some(path) = &flags.output {
        std::fs::write(path, format!("{report}\n"))
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    let c = counts(&results);
    eprintln!(
        "{} passed, {} failed, {} errors, {} skipped in {}",
        c.passed,
        c.failed,
        c.errors,
        c.skipped,
        crate::core::text::duration(Duration::from_secs_f64(seconds))
    );
    let success = c.failed + c.errors == 0 && leftovers.is_ok() && !interrupted;
    crate::sys::metrics::record(ws, "test", began, success, unit_metrics(&results));
    leftovers?;
    if interrupted {
        return Err(crate::cli::exit::Failure::new(
            crate::cli::exit::Exit::Interrupted,
            "interrupted; this run's containers are removed".to_string(),
        )
        .into());
    }
    if c.failed + c.errors > 0 {
        bail!("{} of {} test case(s) failed or could not run (details above)", c.failed + c.errors, c.tests);
    }
    Ok(())
}

/// Platforms to test: each unit's own, narrowed by --platform; the host's only with --local.
fn selected_platforms(units: &[&Unit], requested: &[String], local: bool) -> Result<Vec<String>> {
    let declared: Vec<&String> = units.iter().flat_map(|u| &u.platforms).collect();
    if let Some(p) = requested.iter().find(|p| !declared.contains(p)) {
        bail!("--platform {p}: no selected image builds for it");
    }
    if local {
        let host = crate::sys::provision::host_platform();
        if requested.iter().any(|p| p != host) {
            bail!("--local tests what `build --load` made, which is the host platform ({host}) only: drop --platform");
        }
        return Ok(vec![host.to_string()]);
    }
    Ok(if requested.is_empty() { declared.into_iter().cloned().collect() } else { requested.to_vec() })
}
