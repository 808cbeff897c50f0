//! `build --load` of every platform on an engine with the containerd image store, which keeps
//! multi-platform images: each platform is loaded under its staging tag, then the unit's tags
//! are joined from them as one index, as a published index would be. The engine has no
//! command that joins local images, so it goes through a layout: `docker save` the
//! platforms, write the joined index beside them, `docker load` it under the unit's tags.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use camino::Utf8Path;

use crate::core::buildx::staging_ref;
use crate::core::plan::Unit;
use crate::oci::layout::{blob_path, load_index, saved_entry};
use crate::oci::manifest::{index_bytes, is_index, platform_entries, Descriptor, Manifest, PlatformImage};
use crate::ops::layout::{read_index, read_manifest};

/// Joins the loaded `platforms` of `unit` under its tags, in `dir` (emptied first); returns
/// the joined index's digest.
pub fn join_loaded(
    unit: &Unit,
    platforms: &[String],
    annotations: &BTreeMap<String, String>,
    dir: &Utf8Path,
) -> Result<String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {dir}"))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    let staging: Vec<String> = platforms.iter().map(|p| staging_ref(unit, p)).collect();
    let save = std::iter::once("save".to_string()).chain(staging.iter().cloned()).collect::<Vec<_>>();
    duct::cmd("docker", &save)
        .pipe(duct::cmd!("tar", "-C", dir, "-x"))
        .stdin_null()
        .stdout_null()
        .run()
        .with_context(|| format!("saving {} from the engine", staging.join(" ")))?;
    let index_file = dir.join("index.json");
    let saved = read_index(dir)?;
    let saved: crate::oci::manifest::ManifestBody =
        serde_json::from_slice(&saved).with_context(|| format!("{index_file} is not an OCI index"))?;
    let (mut images, mut attestations) = (Vec::new(), Vec::new());
    for (platform, reference) in platforms.iter().zip(&staging) {
        let tag = reference.rsplit_once(':').map_or(reference.as_str(), |(_, tag)| tag);
        let entry = saved_entry(&saved, tag).map_err(|why| anyhow::anyhow!("{index_file}: {why}"))?;
        if is_index(&entry.media_type) {
            // An image and its provenance, as the engine keeps a build with attestations.
            let (_, body) = read_manifest(dir, &entry.digest)?;
            let manifest = Manifest { media_type: entry.media_type.clone(), digest: entry.digest.clone(), body };
            let (image, about) =
                platform_entries(&manifest, platform).map_err(|why| anyhow::anyhow!("{reference}: {why}"))?;
            images.push(image);
            attestations.extend(about);
        } else {
            images.push(PlatformImage {
                platform: platform.clone(),
                digest: entry.digest.clone(),
                media_type: entry.media_type.clone(),
                size: entry.size,
            });
        }
    }
    let (media_type, bytes) = index_bytes(&images, &attestations, annotations);
    let digest = crate::oci::digest::sha256_digest(&bytes);
    let blob = dir.join(blob_path(&digest).map_err(|why| anyhow::anyhow!(why))?);
    std::fs::write(&blob, &bytes).with_context(|| format!("writing {blob}"))?;
    let joined = Descriptor {
        media_type,
        digest: digest.clone(),
        size: bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    };
    let names: Vec<String> = unit.tags.iter().map(ToString::to_string).collect();
    std::fs::write(&index_file, load_index(&joined, &names)).with_context(|| format!("writing {index_file}"))?;
    // docker's own listing of the saved images: `load` would tag them again from it.
    let listing = dir.join("manifest.json");
    if listing.exists() {
        std::fs::remove_file(&listing).with_context(|| format!("removing {listing}"))?;
    }
    duct::cmd!("tar", "-C", dir, "-c", ".")
        .pipe(duct::cmd!("docker", "load", "--quiet"))
        .stdin_null()
        .stdout_null()
        .run()
        .with_context(|| format!("loading {} into the engine", names.join(" ")))?;
    Ok(digest)
}
