//! Adds an SBOM to every platform of a unit's published index, and provenance where the
//! engine recorded none, as attestation manifests in BuildKit's layout; then republishes the
//! index under the tags that pointed at it, through the same atomic steps as `build`. A
//! platform that already carries an SBOM is read back, not scanned again.

use anyhow::{bail, Context, Result};

use crate::core::bases::built_on;
use crate::core::plan::Unit;
use crate::core::sbom::{missing, provenance, subject_name, summarize, RecordedBuild};
use crate::oci::attestation::{
    attestation_entry, attestation_manifest, layer_predicate, predicate, statement, statement_layer, PROVENANCE_V02,
    SPDX,
};
use crate::oci::manifest::{
    is_attestation, is_index, platform_images, Descriptor, PlatformImage, ATTESTATION_SUBJECT, OCI_MANIFEST,
};
use crate::oci::reference::split_repository;
use crate::ops::publish::Publisher;
use crate::sys::registry::Registry;

/// One platform's SBOM and what this run added for it.
pub struct PlatformSbom {
    pub image: PlatformImage,
    /// The SPDX document: as the scanner printed it, or read back from the attestation.
    pub sbom: Vec<u8>,
    pub spdx_version: String,
    pub packages: usize,
    /// Whether the SBOM is new in this run (else it was attested already).
    pub added: bool,
    pub provenance_added: bool,
}

/// What attesting one unit did.
pub struct Attested {
    /// The index the unit's tags point at now (the old one when nothing was added).
    pub index: String,
    /// The tags moved to the new index.
    pub moved: Vec<String>,
    pub platforms: Vec<PlatformSbom>,
}

/// Attests `unit`'s index behind its first planned tag; `None` for a unit without tags.
/// `scan` makes the SPDX document of a platform image reference (`repo@digest`).
pub fn attest_unit(
    client: &Registry,
    publisher: &Publisher<'_>,
    unit: &Unit,
    dockerfile: &str,
    scan: &dyn Fn(&str) -> Result<Vec<u8>>,
) -> Result<Option<Attested>> {
    let Some(first) = unit.tags.first() else { return Ok(None) };
    let (_, repository) = split_repository(&unit.repository);
    let index = client
        .manifest(repository, first.tag())
        .with_context(|| format!("reading {first}"))?
        .with_context(|| format!("{first} is not published: run `cargo xtask build` first"))?;
    if !is_index(&index.media_type) {
        bail!("{first} is a single image, not an index, so it has nowhere to keep attestations: publish it with `cargo xtask build`");
    }
    let images = platform_images(&index.body);
    let mut attestations: Vec<Descriptor> =
        index.body.manifests.iter().filter(|d| is_attestation(d)).cloned().collect();
    let annotation = |key: &str| index.body.annotations.get(key).map(String::as_str);
    let mut platforms = Vec::new();
    for image in &images {
        let reference = format!("{}@{}", unit.repository, image.digest);
        let about = attestations.iter().position(|a| a.annotations.get(ATTESTATION_SUBJECT) == Some(&image.digest));
        let layers = match about {
            Some(at) => {
                let digest = &attestations[at].digest;
                let manifest = client.manifest_by_digest(repository, digest)?;
                manifest
                    .with_context(|| format!("the attestation manifest {digest} of {reference} vanished"))?
                    .body
                    .layers
            }
            None => Vec::new(),
        };
        let lacks = missing(&layers);
        if !lacks.sbom {
            let layer =
                layers.iter().find(|l| layer_predicate(l) == Some(SPDX)).expect("`missing` found an SBOM layer");
            let statement = client.blob(repository, &layer.digest).context("reading the attested SBOM")?;
            let sbom =
                predicate(&statement).map_err(|why| anyhow::anyhow!("the SBOM attested for {reference}: {why}"))?;
            let sbom = serde_json::to_vec_pretty(&sbom).context("serializing the attested SBOM")?;
            let (spdx_version, packages) =
                summarize(&sbom).with_context(|| format!("the SBOM attested for {reference}"))?;
            platforms.push(PlatformSbom {
                image: image.clone(),
                sbom,
                spdx_version,
                packages,
                added: false,
                provenance_added: false,
            });
            continue;
        }
        let sbom = scan(&reference)?;
        let (spdx_version, packages) = summarize(&sbom).with_context(|| format!("the SBOM of {reference}"))?;
        let subject = subject_name(&unit.repository, first.tag(), &image.platform);
        let mut kept = layers.clone();
        let mut push_statement = |predicate_type: &str, predicate: &[u8]| -> Result<()> {
            let bytes = statement(predicate_type, &subject, &image.digest, predicate);
            client.put_blob(repository, &bytes).with_context(|| format!("uploading the {predicate_type} statement"))?;
            kept.push(statement_layer(&bytes, predicate_type));
            Ok(())
        };
        push_statement(SPDX, &sbom)?;
        if lacks.provenance {
            let manifest = client.manifest_by_digest(repository, &image.digest)?;
            let config = manifest.and_then(|m| m.body.config).with_context(|| format!("{reference} has no config"))?;
            let labels = client.config(repository, &config.digest)?.labels();
            let bases = built_on(&labels);
            let build = RecordedBuild {
                source: annotation("org.opencontainers.image.source"),
                revision: annotation("org.opencontainers.image.revision"),
                dockerfile,
                bases: &bases,
                platform: &image.platform,
            };
            push_statement(PROVENANCE_V02, &provenance(&build))?;
        }
        let (config, manifest) = attestation_manifest(&kept);
        client.put_blob(repository, &config).context("uploading the attestation config")?;
        let entry = attestation_entry(&manifest, &image.digest);
        client
            .put_manifest(repository, &entry.digest, OCI_MANIFEST, &manifest)
            .with_context(|| format!("pushing the attestation manifest of {reference}"))?;
        match about {
            Some(at) => attestations[at] = entry,
            None => attestations.push(entry),
        }
        platforms.push(PlatformSbom {
            image: image.clone(),
            sbom,
            spdx_version,
            packages,
            added: true,
            provenance_added: lacks.provenance,
        });
    }
    if platforms.iter().all(|p| !p.added) {
        return Ok(Some(Attested { index: index.digest, moved: vec![], platforms }));
    }
    // Only the tags that pointed at this index move: another tag of the unit may name a newer one.
    let mut attested = unit.clone();
    attested
        .tags
        .retain(|tag| publisher.before.get(&tag.to_string()).cloned().flatten().as_ref() == Some(&index.digest));
    let new_index = publisher
        .publish_entries(&attested, &images, &attestations, &index.body.annotations)
        .with_context(|| format!("republishing {first} with its attestations"))?;
    let moved = attested.tags.iter().map(ToString::to_string).collect();
    Ok(Some(Attested { index: new_index, moved, platforms }))
}
