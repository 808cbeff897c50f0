//! What the registry holds behind a unit's tags, read natively: shared by sbom and scan.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::core::plan::Unit;
use crate::core::verify::Observed;
use crate::oci::manifest::{
    is_attestation, is_index, platform_images, Descriptor, ImageConfig, Manifest, PlatformImage,
};
use crate::oci::platform::platform_matches;
use crate::oci::reference::{split_repository, TagRef};
use crate::sys::pool::map_concurrent;
use crate::sys::registry::Registry;

/// The platform images behind a unit's first planned tag, BuildKit attestations left out; none
/// for a unit built only as the parent of a release, which gets no tag.
pub fn published_platforms(client: &Registry, unit: &Unit) -> Result<Vec<PlatformImage>> {
    let Some(reference) = unit.tags.first() else { return Ok(vec![]) };
    let (_, repository) = split_repository(&unit.repository);
    let tag = reference.tag();
    let (manifest, bytes) = client
        .manifest_with_bytes(repository, tag)
        .with_context(|| format!("reading {reference}"))?
        .with_context(|| format!("{reference} is not published: run `cargo xtask build` first"))?;
    if is_index(&manifest.media_type) {
        return Ok(platform_images(&manifest.body));
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

/// Reads every tag, platform manifest and config of `units`, concurrently and each once:
/// tags by HEAD (a digest each), then every distinct manifest and config by GET. Of an index,
/// only the entries of platforms that a unit pointing at it declares are fetched (verify
/// names the others from the index alone), and each unit gets only what its tags reach.
pub fn observe(client: &Registry, units: &[Unit]) -> BTreeMap<String, Observed> {
    type Fetched<T> = Result<T, String>;
    let tag_refs: Vec<&TagRef> = units.iter().flat_map(|u| &u.tags).collect();
    let heads: Vec<(String, String, Fetched<Option<Descriptor>>)> = map_concurrent(tag_refs, CONCURRENCY, |tag| {
        let head = client.head_manifest(tag.path(), tag.tag()).map_err(|e| format!("{e:#}"));
        (tag.path().to_string(), tag.to_string(), head)
    });
    let head_digest = |full: &str| -> Option<String> {
        let (_, _, head) = heads.iter().find(|(_, f, _)| f == full)?;
        Some(head.as_ref().ok()?.as_ref()?.digest.clone())
    };
    // The platforms declared for each manifest digest, by the units whose tags point at it.
    let mut declared: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for unit in units {
        for tag in &unit.tags {
            if let Some(digest) = head_digest(&tag.to_string()) {
                declared.entry(digest).or_default().extend(unit.platforms.iter().cloned());
            }
        }
    }

    // Distinct manifests: what the tags point at, then the declared entries of those indexes.
    let mut manifests: BTreeMap<String, Fetched<Option<Arc<Manifest>>>> = BTreeMap::new();
    let mut wanted: BTreeSet<(String, String)> = heads
        .iter()
        .filter_map(|(repo, _, head)| Some((repo.clone(), head.as_ref().ok()?.as_ref()?.digest.clone())))
        .collect();
    let mut configs_wanted = BTreeSet::new();
    while !wanted.is_empty() {
        let fetched =
            map_concurrent(std::mem::take(&mut wanted).into_iter().collect(), CONCURRENCY, |(repo, digest)| {
                let manifest = client.manifest_by_digest(&repo, &digest).map_err(|e| format!("{e:#}"));
                (repo, digest, manifest.map(|m| m.map(Arc::new)))
            });
        for (repo, digest, manifest) in fetched {
            if let Ok(Some(m)) = &manifest {
                let platforms = declared.get(&digest).cloned().unwrap_or_default();
                for entry in m.body.manifests.iter().filter(|d| !is_attestation(d)) {
                    let is_declared = entry
                        .platform
                        .as_ref()
                        .is_some_and(|p| platforms.iter().any(|name| *name == p.name() || platform_matches(name, p)));
                    if is_declared && !manifests.contains_key(&entry.digest) {
                        wanted.insert((repo.clone(), entry.digest.clone()));
                        declared.entry(entry.digest.clone()).or_default().extend(platforms.iter().cloned());
                    }
                }
                if let Some(config) = &m.body.config {
                    configs_wanted.insert((repo.clone(), config.digest.clone()));
                }
            }
            manifests.insert(digest, manifest);
        }
    }
    let configs: BTreeMap<String, Fetched<Arc<ImageConfig>>> =
        map_concurrent(configs_wanted.into_iter().collect(), CONCURRENCY, |(repo, digest)| {
            let config = client.config(&repo, &digest).map_err(|e| format!("{e:#}"));
            (digest, config.map(Arc::new))
        })
        .into_iter()
        .collect();
    let tags: BTreeMap<String, Fetched<Option<Arc<Manifest>>>> = heads
        .into_iter()
        .map(|(_, full, head)| {
            let manifest = match head {
                Ok(Some(d)) => match manifests.get(&d.digest).cloned() {
                    // The tag exists (its HEAD named a digest): "does not exist" would mislead.
                    Some(Ok(None)) => Err(format!(
                        "the tag points at {}, which the registry does not serve (HEAD names it, GET finds nothing)",
                        d.digest
                    )),
                    Some(found) => found,
                    None => Err(format!("{} was not read", d.digest)),
                },
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            (full, manifest)
        })
        .collect();
    units
        .iter()
        .map(|unit| {
            let unit_tags: BTreeMap<String, Fetched<Option<Arc<Manifest>>>> =
                unit.tags.iter().filter_map(|t| Some((t.to_string(), tags.get(&t.to_string())?.clone()))).collect();
            // Only what this unit's tags reach: its indexes' entries, and their configs.
            let mut images = BTreeMap::new();
            let mut unit_configs = BTreeMap::new();
            let mut reach: Vec<&Arc<Manifest>> = unit_tags.values().filter_map(|m| m.as_ref().ok()?.as_ref()).collect();
            while let Some(manifest) = reach.pop() {
                if let Some(config) = &manifest.body.config {
                    if let Some(found) = configs.get(&config.digest) {
                        unit_configs.insert(config.digest.clone(), found.clone());
                    }
                }
                for entry in &manifest.body.manifests {
                    if images.contains_key(&entry.digest) {
                        continue;
                    }
                    if let Some(found) = manifests.get(&entry.digest) {
                        images.insert(entry.digest.clone(), found.clone());
                        reach.extend(found.as_ref().ok().and_then(Option::as_ref));
                    }
                }
            }
            (unit.id.clone(), Observed { tags: unit_tags, images, configs: unit_configs })
        })
        .collect()
}

/// How many registry requests run at once.
const CONCURRENCY: usize = 8;
