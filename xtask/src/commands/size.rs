//! `cargo xtask size`: compressed sizes from the registry (no pull), the
//! uncompressed size where the local engine has the image, layer counts, and
//! the budgets of `[size]` against a baseline. Measuring and judging are pure.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cli::format::Format;
use crate::core::definitions::SizeBudget;
use crate::core::event::{Event, EventKind};
use crate::core::plan::{self, Unit};
use crate::core::text::human;
use crate::oci::manifest::is_attestation;
use crate::sys::registry::{split_repository, Registry};
use crate::sys::workspace::Workspace;

/// A saved report: what `--save` writes and `--baseline FILE` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeReport {
    pub units: Vec<UnitSize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitSize {
    pub unit: String,
    /// The tag measured.
    pub reference: String,
    pub platforms: Vec<PlatformSize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformSize {
    pub platform: String,
    pub digest: String,
    /// Layers plus config, as stored in the registry.
    pub compressed: u64,
    /// As unpacked in the local engine, when it has the image.
    pub uncompressed: Option<u64>,
    pub layers: usize,
    pub baseline: Option<u64>,
    /// Budget violations, one sentence each.
    #[serde(default)]
    pub over_budget: Vec<String>,
}

/// Fills in `over_budget` for every platform of one unit.
pub fn judge(budget: &SizeBudget, platforms: &mut [PlatformSize]) {
    let smallest = platforms.iter().map(|p| p.compressed).min().unwrap_or(0);
    let smallest_name =
        platforms.iter().find(|p| p.compressed == smallest).map(|p| p.platform.clone()).unwrap_or_default();
    for p in platforms.iter_mut() {
        p.over_budget.clear();
        if let Some(max) = budget.max.filter(|max| p.compressed > *max) {
            p.over_budget.push(format!("{} compressed, over the {} budget", human(p.compressed), human(max)));
        }
        if let (Some(limit), Some(base)) = (budget.max_growth, p.baseline) {
            if base > 0 && (p.compressed as f64 - base as f64) / base as f64 > limit {
                p.over_budget.push(format!(
                    "grew {} over the baseline ({} to {}), more than the {} allowed",
                    percent((p.compressed as f64 - base as f64) / base as f64),
                    human(base),
                    human(p.compressed),
                    percent(limit)
                ));
            }
        }
        if let Some(limit) = budget.max_arch_spread {
            if smallest > 0 && (p.compressed as f64 - smallest as f64) / smallest as f64 > limit {
                p.over_budget.push(format!(
                    "{} larger than {smallest_name}, more than the {} allowed",
                    percent((p.compressed as f64 - smallest as f64) / smallest as f64),
                    percent(limit)
                ));
            }
        }
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// `+1.2 MB (+3.4%)` against the baseline.
fn delta(p: &PlatformSize) -> String {
    match p.baseline {
        None => String::new(),
        Some(base) => {
            let diff = p.compressed as i64 - base as i64;
            let sign = if diff < 0 { "-" } else { "+" };
            let pct = if base > 0 {
                format!(" ({sign}{})", percent((diff.unsigned_abs() as f64) / base as f64))
            } else {
                String::new()
            };
            format!("{sign}{}{pct}", human(diff.unsigned_abs()))
        }
    }
}

/// Rows shared by the table and markdown renderings.
fn rows(report: &SizeReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for u in &report.units {
        for p in &u.platforms {
            rows.push(vec![
                u.unit.clone(),
                p.platform.clone(),
                human(p.compressed),
                p.uncompressed.map(human).unwrap_or_default(),
                p.layers.to_string(),
                delta(p),
                if p.over_budget.is_empty() { "ok".to_string() } else { format!("OVER: {}", p.over_budget.join("; ")) },
            ]);
        }
    }
    rows
}

const HEADERS: [&str; 7] = ["UNIT", "PLATFORM", "COMPRESSED", "UNCOMPRESSED", "LAYERS", "VS BASELINE", "BUDGET"];

/// A GitHub-flavoured table, ready to paste as a pull-request comment.
pub fn markdown(report: &SizeReport) -> String {
    let over = report.units.iter().flat_map(|u| &u.platforms).filter(|p| !p.over_budget.is_empty()).count();
    let mut out = String::from("### Image sizes\n\n");
    out.push_str(&format!("| {} |\n|{}\n", HEADERS.join(" | "), "---|".repeat(HEADERS.len())));
    for row in rows(report) {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push_str(&if over == 0 {
        "\nEvery image is within its size budget.\n".to_string()
    } else {
        format!("\n**{over} platform image(s) over budget.**\n")
    });
    out
}

pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Size) -> Result<()> {
    let format = format.require("size", &[Format::Table, Format::Json, Format::Markdown])?;
    let units = ws.plan(&flags.units)?;
    let client = Registry::new(&ws.registry)?;
    if let Err(err) = client.ping() {
        return Err(crate::cli::exit::Failure::new(
            crate::cli::exit::Exit::Unavailable,
            format!("registry {} cannot be reached: {err:#}", ws.registry),
        )
        .into());
    }
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
        _ => println!("{}", crate::cli::output::table(&HEADERS, &rows(&report))),
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
fn sizes(client: &Registry, units: &[Unit], pick: impl Fn(&str) -> bool) -> Result<SizeReport> {
    let wanted: Vec<(String, String, String)> = units
        .iter()
        .map(|u| {
            let tag = u.tags.iter().find(|t| pick(t)).or(u.tags.first()).cloned().unwrap_or_default();
            (u.id.clone(), split_repository(&u.repository).1.to_string(), tag)
        })
        .collect();
    let lists = crate::sys::registry::map_concurrent(wanted, 16, |(id, repo, full)| {
        let tag = full.rsplit_once(':').map_or("", |(_, t)| t).to_string();
        let manifest = client.manifest(&repo, &tag);
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
    let measured = crate::sys::registry::map_concurrent(entries, 16, |(id, repo, platform, digest)| {
        let manifest = client.manifest(&repo, &digest);
        (id, platform, digest, manifest)
    });
    let mut units_out: Vec<UnitSize> = lists
        .iter()
        .map(|(id, _, full, _)| UnitSize { unit: id.clone(), reference: full.clone(), platforms: vec![] })
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
        let version = crate::core::tags::Version::parse(baseline)
            .map_err(|why| anyhow::anyhow!("--baseline {baseline:?} is neither a file nor a version X.Y.Z ({why})"))?;
        let event = Event {
            kind: EventKind::Release,
            version: Some(version.tag.clone()),
            extra_tags: vec![],
            ..ws.event()?.clone()
        };
        let mut defs = ws.defs.clone();
        for image in &mut defs.images {
            image.version = None; // measure the release named on the command line, not the image's current version
        }
        let units = plan::plan(&defs, &event, &ws.registry, selection)?;
        sizes(client, &units, |tag| tag.rsplit_once(':').is_some_and(|(_, t)| t.starts_with(&version.tag)))
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

fn parse_local_sizes(text: &str) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    for line in text.lines() {
        let Some((digests, size)) = line.rsplit_once(' ') else { continue };
        let (Ok(digests), Ok(size)) = (serde_json::from_str::<Vec<String>>(digests), size.parse::<u64>()) else {
            continue;
        };
        for reference in digests {
            sizes.insert(reference, size);
        }
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::manifest::Manifest;
    use crate::oci::manifest::{Descriptor, ManifestBody};

    fn platform(name: &str, compressed: u64, baseline: Option<u64>) -> PlatformSize {
        PlatformSize {
            platform: name.into(),
            digest: "sha256:x".into(),
            compressed,
            uncompressed: None,
            layers: 2,
            baseline,
            over_budget: vec![],
        }
    }

    #[test]
    fn measure_sums_layers_and_config() {
        let d = |size| Descriptor {
            media_type: "m".into(),
            digest: "sha256:x".into(),
            size,
            platform: None,
            annotations: Default::default(),
        };
        let manifest = Manifest {
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            digest: "sha256:m".into(),
            body: ManifestBody {
                media_type: None,
                manifests: vec![],
                config: Some(d(1_000)),
                layers: vec![d(2_000_000), d(500)],
            },
        };
        assert_eq!(manifest.compressed_size(), (2_001_500, 2));
    }

    #[test]
    fn budgets_flag_size_growth_and_spread() {
        let budget = SizeBudget { max: Some(150_000_000), max_growth: Some(0.2), max_arch_spread: Some(0.25) };
        let mut platforms = vec![
            platform("linux/amd64", 100_000_000, Some(90_000_000)),
            platform("linux/arm64", 160_000_000, Some(120_000_000)),
        ];
        judge(&budget, &mut platforms);
        assert_eq!(platforms[0].over_budget, Vec::<String>::new());
        assert_eq!(
            platforms[1].over_budget,
            [
                "160.0 MB compressed, over the 150.0 MB budget",
                "grew 33.3% over the baseline (120.0 MB to 160.0 MB), more than the 20.0% allowed",
                "60.0% larger than linux/amd64, more than the 25.0% allowed",
            ]
        );
        let mut within = vec![platform("linux/amd64", 100, Some(100)), platform("linux/arm64", 110, None)];
        judge(&budget, &mut within);
        assert!(within.iter().all(|p| p.over_budget.is_empty()));
    }

    #[test]
    fn renderings_show_deltas_and_escape_markdown() {
        let mut p = platform("linux/arm64", 1_500_000, Some(1_000_000));
        p.over_budget = vec!["a|b".into()];
        let report = SizeReport {
            units: vec![UnitSize {
                unit: "app".into(),
                reference: "r/app:1".into(),
                platforms: vec![p, platform("linux/amd64", 900, Some(1_000))],
            }],
        };
        let md = markdown(&report);
        assert!(md.contains("| app | linux/arm64 | 1.5 MB |  | 2 | +500.0 kB (+50.0%) | OVER: a\\|b |"), "{md}");
        assert!(md.contains("| app | linux/amd64 | 900 B |  | 2 | -100 B (-10.0%) | ok |"), "{md}");
        assert!(md.ends_with("**1 platform image(s) over budget.**\n"), "{md}");
    }

    #[test]
    fn local_sizes_map_every_repo_digest() {
        let text = "[\"r/a@sha256:1\",\"s/a@sha256:1\"] 2048\n[] 7\nnot json 5\n";
        let sizes = parse_local_sizes(text);
        assert_eq!(sizes.len(), 2);
        assert_eq!(sizes["s/a@sha256:1"], 2048);
    }

    #[test]
    fn reports_round_trip_as_baselines() {
        let report = SizeReport {
            units: vec![UnitSize {
                unit: "a".into(),
                reference: "r/a:1".into(),
                platforms: vec![platform("linux/amd64", 5, None)],
            }],
        };
        let back: SizeReport = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        assert_eq!(back, report);
    }
}
