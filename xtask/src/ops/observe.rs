//! What the registry holds behind a unit's tags, read natively: shared by sbom and scan.

use anyhow::{Context, Result};

use crate::core::plan::Unit;
use crate::oci::manifest::{is_attestation, is_index, PlatformImage};
use crate::sys::registry::{split_repository, Registry};

/// The platform images behind a unit's first planned tag, BuildKit attestations left out.
pub fn published_platforms(client: &Registry, unit: &Unit) -> Result<Vec<PlatformImage>> {
    let reference = unit.tags.first().with_context(|| format!("{} has no planned tag", unit.id))?;
    let (_, repository) = split_repository(&unit.repository);
    let tag = reference.rsplit_once(':').map_or(reference.as_str(), |(_, tag)| tag);
    let (manifest, bytes) = client
        .manifest_with_bytes(repository, tag)
        .with_context(|| format!("reading {reference}"))?
        .with_context(|| format!("{reference} is not published: run `cargo xtask build` first"))?;
    if is_index(&manifest.media_type) {
        return Ok(manifest
            .body
            .manifests
            .iter()
            .filter(|d| !is_attestation(d))
            .map(|d| PlatformImage {
                platform: d.platform.as_ref().map_or_else(|| "unknown".to_string(), |p| p.name()),
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                size: d.size,
            })
            .collect());
    }
    // A single image: its config says which platform it is.
    let config = manifest.body.config.as_ref().with_context(|| format!("{reference} has no image config"))?;
    let config =
        client.config(repository, &config.digest).with_context(|| format!("reading the config of {reference}"))?;
    let platform = config.platform();
    Ok(vec![PlatformImage {
        platform: platform.name(),
        digest: manifest.digest,
        media_type: manifest.media_type,
        size: bytes.len() as u64,
    }])
}
