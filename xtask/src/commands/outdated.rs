//! `cargo xtask outdated`: the units whose external bases moved since their published image
//! was built, as bashbrew users check before a rebuild. It resolves each base now
//! (`ops::bases`) and compares with what each platform image's labels say it was built on.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::exit::{Exit, Failure};
use crate::cli::format::Format;
use crate::core::bases::{built_on, moved_bases, Moved};
use crate::oci::digest::short_digest;
use crate::oci::reference::split_repository;
use crate::ops::observe::published_platforms;
use crate::sys::workspace::Workspace;

#[derive(Debug, Default, Serialize)]
struct Report {
    outdated: Vec<Moved>,
    /// Units with external bases that have no published image to compare.
    not_published: Vec<String>,
    /// Platform images that do not say what they were built on (built by another tool).
    unrecorded: Vec<String>,
}

pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Outdated) -> Result<()> {
    let format = format.require("outdated")?;
    let units = ws.plan(&flags.units)?;
    let platforms: Vec<String> = units.iter().flat_map(|u| u.platforms.clone()).collect();
    let bases = crate::ops::bases::resolve(ws, &units, &platforms).context("resolving the base images")?;
    let mut report = Report::default();
    let with_bases: Vec<_> = units.iter().filter(|u| !bases.of_unit(&u.id).is_empty()).collect();
    if !with_bases.is_empty() {
        let client = super::reachable_registry(ws)?;
        for unit in with_bases {
            let Some(first) = unit.tags.first() else { continue };
            let head = client.head_manifest(first.path(), first.tag()).with_context(|| format!("reading {first}"))?;
            if head.is_none() {
                report.not_published.push(unit.id.clone());
                continue;
            }
            let published = published_platforms(&client, unit)?;
            let (_, repository) = split_repository(&unit.repository);
            for image in published.iter().filter(|i| unit.platforms.contains(&i.platform)) {
                let manifest = client
                    .manifest_by_digest(repository, &image.digest)
                    .with_context(|| format!("reading {}@{}", unit.repository, image.digest))?
                    .with_context(|| format!("{}@{} is gone from the registry", unit.repository, image.digest))?;
                let config = manifest.body.config.as_ref().context("a platform image without a config")?;
                let config = client
                    .config(repository, &config.digest)
                    .with_context(|| format!("reading the config of {}@{}", unit.repository, image.digest))?;
                let built = built_on(&config.labels());
                if built.is_empty() {
                    report.unrecorded.push(format!("{} {}", unit.id, image.platform));
                }
                let now = bases.digests_for(&unit.id, &image.platform);
                report.outdated.extend(moved_bases(&unit.id, &image.platform, &built, &now));
            }
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report).context("serializing the report")?);
    } else {
        print_table(&report);
    }
    if report.outdated.is_empty() {
        return Ok(());
    }
    let mut units: Vec<&str> = report.outdated.iter().map(|m| m.unit.as_str()).collect();
    units.dedup();
    let message = format!(
        "{} unit(s) built on bases that moved: rebuild with `cargo xtask build {}`",
        units.len(),
        units.join(" ")
    );
    Err(Failure::new(Exit::Findings, message).into())
}

fn print_table(report: &Report) {
    let rows: Vec<Vec<String>> = report
        .outdated
        .iter()
        .map(|m| {
            vec![
                m.unit.clone(),
                m.platform.clone(),
                m.base.clone(),
                short_digest(&m.old_digest),
                short_digest(&m.new_digest),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!("{}", crate::core::text::table(&["UNIT", "PLATFORM", "BASE", "BUILT ON", "NOW"], &rows));
    }
    for unit in &report.not_published {
        eprintln!("note: {unit} is not published under its first tag: nothing to compare");
    }
    for image in &report.unrecorded {
        eprintln!("note: {image}: the published image does not say what it was built on (no base labels)");
    }
    if report.outdated.is_empty() {
        eprintln!("Every published image is built on the current digest of its bases.");
    }
}
