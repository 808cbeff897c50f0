//! `cargo xtask build`: checks the flags, plans, lints and preflights, then hands the units to
//! `ops::build`, prints the results, and records digests for `publish` when asked.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::flags;
use crate::cli::format::Format;
use crate::cli::output::Progress;
use crate::core::buildx::Output;
use crate::core::plan::Unit;
use crate::oci::digest::short_digest;
use crate::ops::build::{Request, Status, UnitResult};
use crate::ops::digest_file::write_digest_file;
use crate::ops::publish::PARTIAL_MOVE;
use crate::sys::workspace::Workspace;

pub fn run(ws: &Workspace, format: Format, flags: &flags::Build) -> Result<()> {
    if flags.push && flags.no_push {
        bail!("--push and --no-push contradict each other: pass one");
    }
    if flags.reproducible && flags.load {
        bail!("--reproducible exports the image to push it byte for byte, which --load cannot: drop one of them");
    }
    if flags.digest_file.is_some() && (flags.load || flags.no_push) {
        bail!("--digest-file records pushed images: drop --load and --no-push");
    }
    if !flags.parents.is_empty() && flags.digest_file.is_none() {
        bail!(
            "--parents builds on images that earlier CI legs pushed and recorded, for `publish` to join later: \
             add --digest-file FILE (or build the parents in this run: drop --parents)"
        );
    }
    let output = if flags.load {
        Output::Load
    } else if flags.no_push || (!flags.push && !ws.event()?.publishes_by_default() && flags.digest_file.is_none()) {
        Output::None
    } else {
        Output::Push
    };
    format.require("build")?;
    let began = std::time::SystemTime::now();
    let units = ws.plan(&flags.units)?;
    crate::core::buildx::check_secrets(&units, &ws.root, |name| std::env::var_os(name), |path| path.is_file())?;
    // One builder for every platform (no `[builders]`): what it can do decides below.
    let single = match ws.defs.settings.builders.is_empty() && (flags.load || !flags.no_lint) {
        true => Some(crate::ops::drivers::current_driver()?),
        false => None,
    };
    // An engine with the containerd store keeps every platform of a loaded image.
    let load = match flags.load {
        true if single == Some(crate::core::buildx::Driver::ContainerdStore) => Load::Every,
        true => Load::Host,
        false => Load::No,
    };
    let platforms = selected_platforms(&units, &flags.platform, load)?;
    let given = parents_given(ws, &units, &flags.units, &platforms, &flags.parents)?;
    if !flags.no_lint {
        // A builder with named contexts pins parents named literally.
        let named_contexts = single.as_ref().is_some_and(|d| d.has_named_contexts());
        crate::ops::lint::check_before_build(ws, &units, flags.deny_warnings, named_contexts)?;
    }
    // Only the platforms being built need an emulator (a native arm64 runner needs none for amd64).
    let mut host = ws.host();
    host.platforms = platforms.clone();
    crate::sys::provision::preflight(&host)?;
    let request = Request {
        units: &units,
        platforms: &platforms,
        output,
        publish: output == Output::Push && flags.digest_file.is_none(),
        jobs: flags.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        keep_going: flags.keep_going,
        // A scheduled rebuild exists to pick up what changed outside the repository (base
        // images, packages), which the input digest cannot see.
        force: flags.force || ws.event()?.kind == crate::core::event::EventKind::Schedule,
        force_tags: flags.force_tags,
        reproducible: flags.reproducible,
        given,
        driver: single,
    };
    let progress = Progress::new(Duration::from_secs(30));
    let (results, interrupted) = crate::ops::build::build(ws, &request, &progress)?;
    report(format, &results)?;
    let success = !interrupted && results.iter().all(|r| r.error.is_none());
    crate::sys::metrics::record(ws, "build", began, success, crate::ops::build::metrics(&results));
    if let Some(path) = &flags.digest_file {
        // Parents pulled in by the selection are published by their own CI legs.
        let recorded: Vec<&UnitResult> = results.iter().filter(|r| selected(&flags.units, &r.unit)).collect();
        write_digest_file(ws, path, &recorded)?;
    }
    if interrupted {
        return Err(crate::cli::exit::Failure::new(
            crate::cli::exit::Exit::Interrupted,
            "interrupted: builds were stopped, and no unit that had not finished publishing moved a tag".to_string(),
        )
        .into());
    }
    let failed: Vec<&UnitResult> = results.iter().filter(|r| r.error.is_some()).collect();
    if let Some(first) = failed.first() {
        let partial = failed.iter().any(|r| r.error.as_deref().is_some_and(|e| e.contains(PARTIAL_MOVE)));
        let tags = if partial {
            "a publish stopped between its tag moves (see below)"
        } else {
            "no tag of a failed unit moved"
        };
        bail!(
            "{} of {} unit(s) failed; {tags}. First failure: {}: {}",
            failed.len(),
            results.len(),
            first.unit,
            first.error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

fn report(format: Format, results: &[UnitResult]) -> Result<()> {
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(results).context("serializing the build results")?);
        return Ok(());
    }
    let mut rows = Vec::new();
    for r in results {
        for p in &r.platforms {
            let status = match p.status {
                Status::Built => "built",
                Status::UpToDate => "up to date",
                Status::Failed => "FAILED",
                Status::Skipped => "skipped (parent failed)",
                Status::NotStarted => "not started",
            };
            rows.push(vec![
                r.unit.clone(),
                p.platform.clone(),
                status.to_string(),
                crate::core::text::duration(Duration::from_secs_f64(p.seconds)),
                p.digest.as_deref().map(short_digest).unwrap_or_default(),
            ]);
        }
        let published = if r.published {
            format!("published {} tag(s)", r.tags.len())
        } else if r.error.is_some() {
            "not published".to_string()
        } else {
            "built only".to_string()
        };
        rows.push(vec![
            r.unit.clone(),
            "manifest list".to_string(),
            published,
            String::new(),
            r.index_digest.as_deref().map(short_digest).unwrap_or_default(),
        ]);
    }
    println!("{}", crate::core::text::table(&["UNIT", "PLATFORM", "RESULT", "DURATION", "DIGEST"], &rows));
    Ok(())
}

/// What `--load` can keep in the local engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    No,
    /// The classic store: one platform per tag, the host's.
    Host,
    /// The containerd store: every platform, joined under each tag.
    Every,
}

/// Platforms to build: each unit's own, narrowed by --platform; the host's only with --load
/// on an engine that keeps one platform per tag.
fn selected_platforms(units: &[Unit], requested: &[String], load: Load) -> Result<Vec<String>> {
    let declared: Vec<&String> = units.iter().flat_map(|u| &u.platforms).collect();
    for p in requested {
        if !declared.contains(&p) {
            bail!(
                "--platform {p}: no selected image builds for it (they build for {})",
                dedup(declared.iter().map(|s| s.as_str())).join(", ")
            );
        }
    }
    if load == Load::Host {
        let host = crate::sys::provision::host_platform();
        if !requested.is_empty() && requested.iter().any(|p| p != host) {
            bail!(
                "--load builds the host platform ({host}) only on an engine with the classic image store: drop \
                 --platform, or build on one with the containerd store (`--engine xtask`), which keeps every platform"
            );
        }
        return Ok(vec![host.to_string()]);
    }
    Ok(if requested.is_empty() { dedup(declared.iter().map(|s| s.as_str())) } else { requested.to_vec() })
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    out
}

/// The platform images of the parents pulled into the selection that earlier legs recorded in
/// the `--parents` files: these are built on, not built. A parent missing there is built here
/// (a no-op when its inputs are already published), and said so.
fn parents_given(
    ws: &Workspace,
    units: &[Unit],
    selection: &[String],
    platforms: &[String],
    files: &[std::path::PathBuf],
) -> Result<std::collections::BTreeMap<(String, String), String>> {
    let mut given = std::collections::BTreeMap::new();
    if files.is_empty() {
        return Ok(given);
    }
    let recorded = crate::ops::digest_file::read_digest_files(files)?;
    if recorded.registry != ws.registry {
        bail!(
            "the --parents files record images in {}, but this run pushes to {}: build both levels against one \
             registry (--registry or XTASK_REGISTRY)",
            crate::core::text::sanitize(&recorded.registry),
            ws.registry
        );
    }
    for unit in units.iter().filter(|u| !selected(selection, &u.id)) {
        for platform in unit.platforms.iter().filter(|p| platforms.contains(p)) {
            match recorded.units.get(&unit.id).and_then(|p| p.get(platform)) {
                Some(digest) => {
                    given.insert((unit.id.clone(), platform.clone()), digest.clone());
                }
                None => eprintln!(
                    "note: the --parents files have no {platform} image of {}: it is built here (a no-op when its \
                     inputs are already published)",
                    unit.id
                ),
            }
        }
    }
    Ok(given)
}

/// Whether the command-line `selection` (NAME or NAME:VARIANT each; empty: all) names unit
/// `id`, rather than pulling it in as a parent.
fn selected(selection: &[String], id: &str) -> bool {
    selection.is_empty() || selection.iter().any(|item| id == item || id.split(':').next() == Some(item.as_str()))
}
