//! The OCI image vocabulary: media types, descriptors, manifests, indexes and image
//! configs, as registries serve them. Pure data: the client in `sys::registry` reads them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::oci::platform::Platform;

/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An OCI image manifest (also the manifest of an OCI 1.1 artifact).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker's manifest list, the index that the classic image store pushes.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The OCI 1.1 config of an artifact that has no config: the two bytes `{}`.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// Every manifest media type we read: a manifest of any other type (schema 1, say) is refused.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// The `Accept` header naming `MANIFEST_MEDIA_TYPES`, so the registry never down-converts.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                          application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Whether a manifest of this media type lists platform images.
pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_LIST)
}

/// A manifest as served: its media type, digest and parsed body.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub media_type: String,
    pub digest: String,
    pub body: ManifestBody,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestBody {
    #[serde(default)]
    pub media_type: Option<String>,
    /// Present in an index / manifest list.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Present in an image manifest.
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest's own annotations (an OCI index's title, source, ...).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// e.g. `vnd.docker.reference.type: attestation-manifest` on BuildKit attestations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The annotation of an attestation manifest naming the image it is about.
pub const ATTESTATION_SUBJECT: &str = "vnd.docker.reference.digest";

/// The image of `platform` in a per-platform index (what BuildKit pushes with attestations)
/// and the attestation manifests about it, ready to join into a unit's index.
pub fn platform_entries(index: &Manifest, platform: &str) -> Result<(PlatformImage, Vec<Descriptor>), String> {
    let image = index
        .body
        .manifests
        .iter()
        .find(|d| {
            !is_attestation(d)
                && d.platform.as_ref().is_some_and(|p| crate::oci::platform::platform_matches(platform, p))
        })
        .ok_or_else(|| format!("the index {} holds no {platform} image", index.digest))?;
    let attestations = index
        .body
        .manifests
        .iter()
        .filter(|d| is_attestation(d) && d.annotations.get(ATTESTATION_SUBJECT) == Some(&image.digest))
        .cloned()
        .collect();
    let image = PlatformImage {
        platform: platform.to_string(),
        digest: image.digest.clone(),
        media_type: image.media_type.clone(),
        size: image.size,
    };
    Ok((image, attestations))
}

impl Manifest {
    /// The compressed size and layer count of one platform manifest.
    /// Sizes from a hostile registry may be anything: the sum saturates instead of overflowing.
    pub fn compressed_size(&self) -> (u64, usize) {
        let config = self.body.config.as_ref().map_or(0, |c| c.size);
        let layers = self.body.layers.iter().fold(0u64, |sum, layer| sum.saturating_add(layer.size));
        (layers.saturating_add(config), self.body.layers.len())
    }
}

/// The parts of an image config the checks read.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageConfig {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

impl ImageConfig {
    /// The platform the image says it is for.
    pub fn platform(&self) -> Platform {
        Platform { os: self.os.clone(), architecture: self.architecture.clone(), variant: self.variant.clone() }
    }

    /// The image's labels (`config.Labels`); values that are not strings are left out.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let labels = self.config.as_ref().and_then(|c| c.get("Labels")).and_then(|l| l.as_object());
        labels
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
            .collect()
    }
}

/// One platform image of a unit, as pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformImage {
    pub platform: String,
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// The manifest list (docker) or OCI index joining `images` and the `attestations` about
/// them, as exact bytes. With attestations or `annotations` it is always an OCI index:
/// docker's list has no place for them.
pub fn index_bytes(
    images: &[PlatformImage],
    attestations: &[Descriptor],
    annotations: &BTreeMap<String, String>,
) -> (String, Vec<u8>) {
    let docker =
        annotations.is_empty() && attestations.is_empty() && images.iter().all(|i| i.media_type == DOCKER_MANIFEST);
    let media_type = if docker { DOCKER_LIST } else { OCI_INDEX };
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|image| {
            let parsed = Platform::parse(&image.platform);
            let mut platform = serde_json::json!({ "architecture": parsed.architecture, "os": parsed.os });
            if let Some(variant) = parsed.variant {
                platform["variant"] = serde_json::json!(variant);
            }
            serde_json::json!({
                "mediaType": image.media_type,
                "digest": image.digest,
                "size": image.size,
                "platform": platform,
            })
        })
        .chain(attestations.iter().map(|a| serde_json::to_value(a).expect("a descriptor serializes")))
        .collect();
    let mut index = serde_json::json!({ "schemaVersion": 2, "mediaType": media_type, "manifests": manifests });
    if !annotations.is_empty() {
        index["annotations"] = serde_json::json!(annotations);
    }
    (media_type.to_string(), serde_json::to_vec_pretty(&index).expect("an index serializes"))
}

/// The platform images of an index: its entries, attestations left out.
pub fn platform_images(index: &ManifestBody) -> Vec<PlatformImage> {
    index
        .manifests
        .iter()
        .filter(|d| !is_attestation(d))
        .map(|d| PlatformImage {
            platform: d.platform.as_ref().map_or_else(|| "unknown".to_string(), |p| p.name()),
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
        })
        .collect()
}

/// An entry that BuildKit adds for provenance or SBOMs, not a runnable platform: it has both
/// BuildKit's platform, `unknown/unknown`, and its annotation. Either alone is not enough: an
/// entry annotated as an attestation but with a real platform would hide that platform.
pub fn is_attestation(descriptor: &Descriptor) -> bool {
    descriptor.annotations.get("vnd.docker.reference.type").is_some_and(|t| t == "attestation-manifest")
        && descriptor.platform.as_ref().is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(platform: &str, digest: &str) -> PlatformImage {
        PlatformImage {
            platform: platform.into(),
            digest: digest.into(),
            media_type: DOCKER_MANIFEST.into(),
            size: 528,
        }
    }

    #[test]
    fn index_lists_every_platform_with_its_variant() {
        let (media_type, bytes) = index_bytes(
            &[image("linux/amd64", "sha256:aa"), image("linux/arm/v7", "sha256:bb")],
            &[],
            &BTreeMap::new(),
        );
        assert_eq!(media_type, DOCKER_LIST);
        let parsed: ManifestBody = serde_json::from_slice(&bytes).unwrap();
        let names: Vec<String> = parsed.manifests.iter().map(|m| m.platform.as_ref().unwrap().name()).collect();
        assert_eq!(names, ["linux/amd64", "linux/arm/v7"]);
        assert_eq!(parsed.manifests[1].size, 528);
        // The same images always give the same bytes, so re-publishing is idempotent.
        assert_eq!(
            index_bytes(
                &[image("linux/amd64", "sha256:aa"), image("linux/arm/v7", "sha256:bb")],
                &[],
                &BTreeMap::new()
            )
            .1,
            bytes
        );
    }

    #[test]
    fn attestations_need_both_their_platform_and_their_annotation() {
        let entry = |platform: Option<(&str, &str)>, annotated: bool| Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: "sha256:aa".into(),
            size: 1,
            platform: platform.map(|(os, architecture)| Platform {
                os: os.into(),
                architecture: architecture.into(),
                variant: None,
            }),
            annotations: annotated
                .then(|| ("vnd.docker.reference.type".to_string(), "attestation-manifest".to_string()))
                .into_iter()
                .collect(),
        };
        assert!(is_attestation(&entry(Some(("unknown", "unknown")), true)));
        assert!(!is_attestation(&entry(Some(("linux", "s390x")), true)), "a real platform hides behind the annotation");
        assert!(!is_attestation(&entry(Some(("unknown", "unknown")), false)), "no annotation");
        assert!(!is_attestation(&entry(None, true)), "no platform");
    }

    #[test]
    fn oci_images_make_an_oci_index() {
        let mut oci = image("linux/arm64", "sha256:cc");
        oci.media_type = "application/vnd.oci.image.manifest.v1+json".into();
        assert_eq!(index_bytes(&[image("linux/amd64", "sha256:aa"), oci], &[], &BTreeMap::new()).0, OCI_INDEX);
    }

    #[test]
    fn a_per_platform_index_gives_its_image_and_the_attestations_about_it() {
        let entry = |digest: &str, platform: (&str, &str), subject: Option<&str>| Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 7,
            platform: Some(Platform { os: platform.0.into(), architecture: platform.1.into(), variant: None }),
            annotations: subject
                .map(|s| {
                    BTreeMap::from([
                        ("vnd.docker.reference.type".to_string(), "attestation-manifest".to_string()),
                        (ATTESTATION_SUBJECT.to_string(), s.to_string()),
                    ])
                })
                .unwrap_or_default(),
        };
        let index = Manifest {
            media_type: OCI_INDEX.into(),
            digest: "sha256:idx".into(),
            body: ManifestBody {
                manifests: vec![
                    entry("sha256:img", ("linux", "arm64"), None),
                    entry("sha256:att", ("unknown", "unknown"), Some("sha256:img")),
                    entry("sha256:other", ("unknown", "unknown"), Some("sha256:else")),
                ],
                ..ManifestBody::default()
            },
        };
        let (image, attestations) = platform_entries(&index, "linux/arm64").unwrap();
        assert_eq!((image.digest.as_str(), image.size), ("sha256:img", 7));
        let digests: Vec<&str> = attestations.iter().map(|a| a.digest.as_str()).collect();
        assert_eq!(digests, ["sha256:att"], "only the attestations about that image");
        assert!(platform_entries(&index, "linux/amd64").unwrap_err().contains("holds no linux/amd64 image"));
        // Joined, the attestation keeps its platform and annotations, in an OCI index.
        let (media_type, bytes) = index_bytes(&[image], &attestations, &BTreeMap::new());
        assert_eq!(media_type, OCI_INDEX);
        let parsed: ManifestBody = serde_json::from_slice(&bytes).unwrap();
        assert!(
            is_attestation(&parsed.manifests[1])
                && parsed.manifests[1].annotations[ATTESTATION_SUBJECT] == "sha256:img"
        );
    }

    #[test]
    fn annotations_make_an_oci_index_that_carries_them() {
        let annotations = BTreeMap::from([("org.opencontainers.image.title".to_string(), "app".to_string())]);
        let (media_type, bytes) = index_bytes(&[image("linux/amd64", "sha256:aa")], &[], &annotations);
        assert_eq!(media_type, OCI_INDEX, "docker's list has no annotations");
        let parsed: ManifestBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed.annotations, annotations);
        assert_eq!(parsed.manifests[0].media_type, DOCKER_MANIFEST, "the images stay as they were pushed");
    }
}
