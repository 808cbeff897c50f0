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
    // Companions that services start are planned too, so that their images can be found.
    let mut selection = flags.units.clone();
    if !selection.is_empty() {
        selection.extend(companion_names(ws, &flags.units));
    }
    let planned = ws.plan(&selection)?;
    let companions = companion_units(ws, &planned)?;
    // The plan pulls in parents; tests run on what was asked for, and on what was published
    // under a tag (a parent built only for a release has none) unless they run locally.
    let units: Vec<&Unit> = planned
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
    let Outcome { results, leftovers, interrupted, seconds } =
        run_targets(&targets, &companions, jobs, flags.local, &progress)?;

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

/// Platforms to test: each unit's own, narrowed by --platform; with --local on the classic
/// image store, the host's only.
fn selected_platforms(units: &[&Unit], requested: &[String], local: bool) -> Result<Vec<String>> {
    let declared: Vec<&String> = units.iter().flat_map(|u| &u.platforms).collect();
    if let Some(p) = requested.iter().find(|p| !declared.contains(p)) {
        bail!("--platform {p}: no selected image builds for it");
    }
    // An engine with the containerd store keeps what `build --load` made for every platform.
    if local && !crate::ops::drivers::keeps_multi_platform()? {
        let host = crate::sys::provision::host_platform();
        if requested.iter().any(|p| p != host) {
            bail!(
                "--local tests what `build --load` made, which on an engine with the classic image store is the host \
                 platform ({host}) only: drop --platform, or use an engine with the containerd store (`--engine xtask`)"
            );
        }
        return Ok(vec![host.to_string()]);
    }
    Ok(if requested.is_empty() { declared.into_iter().cloned().collect() } else { requested.to_vec() })
}

/// The companion units the tests of the selected images name (`NAME` or `NAME:VARIANT`).
fn companion_names(ws: &Workspace, selection: &[String]) -> Vec<String> {
    let image = |s: &String| s.split(':').next().unwrap_or_default().to_string();
    let selected: Vec<String> = selection.iter().map(image).collect();
    let names = ws.defs.images.iter().filter(|i| selected.contains(&i.name)).flat_map(|i| &i.tests);
    let mut names: Vec<String> =
        names.flat_map(|t| &t.services).flat_map(|s| &s.companions).map(|c| c.unit.clone()).collect();
    // Names of no image are left to `companion_units`, which says which test names them.
    names.retain(|n| ws.defs.images.iter().any(|i| i.name == image(n)));
    names.sort();
    names.dedup();
    names
}

/// Each companion a test names, as a planned unit: `NAME:VARIANT` exactly, `NAME` its default
/// variant. A name that is no image of the workspace stops the run before any container starts.
fn companion_units<'a>(ws: &Workspace, planned: &'a [Unit]) -> Result<std::collections::BTreeMap<String, &'a Unit>> {
    let mut found = std::collections::BTreeMap::new();
    for image in &ws.defs.images {
        for test in &image.tests {
            for companion in test.services.iter().flat_map(|s| &s.companions) {
                let name = &companion.unit;
                let unit = planned
                    .iter()
                    .find(|u| u.id == *name)
                    .or_else(|| planned.iter().find(|u| u.image == *name && (u.default || u.variant.is_none())));
                match unit {
                    Some(unit) => {
                        found.insert(name.clone(), unit);
                    }
                    None if planned.iter().any(|u| u.image == image.name) => {
                        let names = ws.defs.images.iter().map(|i| i.name.as_str());
                        let hint = match crate::core::diag::nearest(name, names) {
                            Some(close) => format!("did you mean {close:?}?"),
                            None => "name an image of this workspace, as NAME or NAME:VARIANT".to_string(),
                        };
                        bail!(
                            "{}: test {:?} starts the companion {name:?}, which is no unit of this workspace\n  hint: {hint}",
                            image.dir.join("image.toml"),
                            test.name
                        );
                    }
                    // The test's own image is not planned: its tests do not run.
                    None => {}
                }
            }
        }
    }
    Ok(found)
}
