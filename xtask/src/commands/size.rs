//! `cargo xtask size`: reads every platform image's size from the registry (no pull), and
//! the uncompressed size where the engine has it; `core::size` judges them against the
//! `[size]` budgets and baselines.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use crate::cli::format::Format;
use crate::core::event::{Event, EventKind};
use crate::core::plan::{self, Unit};
use crate::core::size::*;
use crate::oci::manifest::is_attestation;
use crate::oci::reference::TagRef;
use crate::sys::registry::Registry;
use crate::sys::workspace::Workspace;

pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Size) -> Result<()> {
    let format = format.require("size")?;
    let units = ws.plan(&flags.units)?;
    let client = super::reachable_registry(ws)?;
    let baseline = match &flags.baseline {
        None => BTreeMap::new(),
        Some(b) => load_baseline(ws, &client, &flags.units, b)?,
    };
    let mut report = sizes(&client, &units, |_| true)?;
    let references: Vec<String> = units
        .iter()
        .zip(&report.units)
        .flat_map(|(unit, u)| u.platforms.iter().map(|p| format!("{}@{}", unit.repository, p.digest)))
        // Digests come from the registry: only well-formed references reach docker's command line.
        .filter(|reference| crate::oci::reference::parse(reference).is_ok())
        .collect();
    let local = local_sizes(&references);
    for (unit, u) in units.iter().zip(&mut report.units) {
        for p in &mut u.platforms {
            p.uncompressed = local.get(&format!("{}@{}", unit.repository, p.digest)).copied();
            p.baseline = baseline.get(&(u.unit.clone(), p.platform.clone())).copied();
        }
        judge(&unit.size, &mut u.platforms);
    }
    if let Some(path) = &flags.save {
        let json = serde_json::to_string_pretty(&report).context("serializing the size report")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report).context("serializing the size report")?),
        Format::Markdown => print!("{}", markdown(&report)),
        _ => println!("{}", crate::core::text::table(&HEADERS, &rows(&report))),
    }
    let over: Vec<String> = report
        .units
        .iter()
        .flat_map(|u| {
            u.platforms
                .iter()
                .flat_map(move |p| p.over_budget.iter().map(move |why| format!("{} {}: {why}", u.unit, p.platform)))
        })
        .collect();
    if !over.is_empty() {
        return Err(crate::cli::exit::Failure::new(
            crate::cli::exit::Exit::Findings,
            format!("over budget:\n  {}", over.join("\n  ")),
        )
        .into());
    }
    Ok(())
}

/// Measures each unit's first tag (or the tag `pick` chooses), every platform, from the registry.
fn sizes(client: &Registry, units: &[Unit], pick: impl Fn(&TagRef) -> bool) -> Result<SizeReport> {
    let wanted: Vec<(String, String, TagRef)> = units
        .iter()
        .filter_map(|u| {
            let tag = u.tags.iter().find(|t| pick(t)).or(u.tags.first())?;
            Some((u.id.clone(), tag.path().to_string(), tag.clone()))
        })
        .collect();
    let lists = crate::sys::pool::map_concurrent(wanted, 16, |(id, repo, full)| {
        let manifest = client.manifest(&repo, full.tag());
        (id, repo, full, manifest)
    });
    let mut entries = Vec::new();
    for (id, repo, full, manifest) in &lists {
        let manifest = match manifest {
            Ok(Some(m)) => m,
            Ok(None) => bail!("{full} does not exist: build and publish it first (`cargo xtask build`)"),
            Err(err) => return Err(anyhow::anyhow!("reading {full}: {err:#}")),
        };
        if crate::oci::manifest::is_index(&manifest.media_type) {
            for d in manifest.body.manifests.iter().filter(|d| !is_attestation(d)) {
                let platform = d.platform.as_ref().map(|p| p.name()).unwrap_or_default();
                entries.push((id.clone(), repo.clone(), platform, d.digest.clone()));
            }
        } else {
            entries.push((id.clone(), repo.clone(), String::new(), manifest.digest.clone()));
        }
    }
    let measured = crate::sys::pool::map_concurrent(entries, 16, |(id, repo, platform, digest)| {
        let manifest = client.manifest_by_digest(&repo, &digest);
        (id, platform, digest, manifest)
    });
    let mut units_out: Vec<UnitSize> = lists
        .iter()
        .map(|(id, _, full, _)| UnitSize { unit: id.clone(), reference: full.to_string(), platforms: vec![] })
        .collect();
    for (id, platform, digest, manifest) in measured {
        let manifest = manifest
            .with_context(|| format!("reading {id} {platform}"))?
            .with_context(|| format!("{id} {platform}: {digest} is gone"))?;
        let (compressed, layers) = manifest.compressed_size();
        let platform = if platform.is_empty() { "single image".to_string() } else { platform };
        let unit = units_out.iter_mut().find(|u| u.unit == id).expect("measured units come from the list");
        unit.platforms.push(PlatformSize {
            platform,
            digest,
            compressed,
            uncompressed: None,
            layers,
            baseline: None,
            over_budget: vec![],
        });
    }
    Ok(SizeReport { units: units_out })
}

/// The baseline's compressed size per (unit, platform): a saved report, or a published version.
fn load_baseline(
    ws: &Workspace,
    client: &Registry,
    selection: &[String],
    baseline: &str,
) -> Result<BTreeMap<(String, String), u64>> {
    let report: SizeReport = if std::path::Path::new(baseline).is_file() {
        let text = std::fs::read_to_string(baseline).with_context(|| format!("reading the baseline {baseline}"))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{baseline} is not a report saved by `cargo xtask size --save`"))?
    } else {
        let version = crate::core::version::Version::parse(baseline)
            .map_err(|why| anyhow::anyhow!("--baseline {baseline:?} is neither a file nor a version X.Y.Z ({why})"))?;
        let event = Event {
            kind: EventKind::Release,
            version: Some(version.tag.clone()),
            releases: Default::default(),
            extra_tags: vec![],
            ..ws.event()?.clone()
        };
        let mut defs = ws.defs.clone();
        for image in &mut defs.images {
            image.version = None; // measure the release named on the command line, not the image's current version
        }
        let units = plan::plan(&defs, &event, &ws.registry, selection)?;
        sizes(client, &units, |tag| tag.tag().starts_with(&version.tag))
            .with_context(|| format!("reading the baseline release {baseline}"))?
    };
    Ok(report
        .units
        .iter()
        .flat_map(|u| u.platforms.iter().map(|p| ((u.unit.clone(), p.platform.clone()), p.compressed)))
        .collect())
}

/// Uncompressed sizes of the images the local engine has, by `repo@digest`, in
/// one `docker image inspect` (images it lacks are simply absent).
fn local_sizes(references: &[String]) -> BTreeMap<String, u64> {
    if references.is_empty() {
        return BTreeMap::new();
    }
    let mut args = vec![
        "image".to_string(),
        "inspect".to_string(),
        "--format".to_string(),
        "{{json .RepoDigests}} {{.Size}}".to_string(),
    ];
    args.extend(references.iter().cloned());
    let Ok(output) = duct::cmd("docker", args).stdin_null().stderr_null().stdout_capture().unchecked().run() else {
        return BTreeMap::new(); // no engine: the column stays empty
    };
    parse_local_sizes(&String::from_utf8_lossy(&output.stdout))
}
