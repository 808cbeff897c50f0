//! BuildKit's attestation layout (BuildKit's docs/attestations/attestation-storage.md), so that
//! what xtask attests reads like what BuildKit attests: per platform image, one image manifest
//! whose layers are in-toto statements, listed in the index as `unknown/unknown` with the
//! annotations naming the image it is about.

use std::collections::BTreeMap;

use crate::oci::digest::sha256_digest;
use crate::oci::manifest::{Descriptor, ATTESTATION_SUBJECT, OCI_MANIFEST};
use crate::oci::platform::Platform;

/// The media type of an attestation layer: one in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The layer annotation naming the statement's predicate, so readers can pick one unread.
pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// An SPDX SBOM, as BuildKit's scanner and syft write it.
pub const SPDX: &str = "https://spdx.dev/Document";
/// SLSA provenance, in both versions BuildKit has written.
pub const PROVENANCE_PREFIX: &str = "https://slsa.dev/provenance/";
/// The provenance version BuildKit 0.11 to 0.13 writes and buildx 0.13 reads.
pub const PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";
/// The attestation manifest's config: BuildKit's, kept for compatibility and never read.
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// One in-toto statement about `subject` (`sha256:<hex>`), with `predicate` (JSON, checked by
/// the caller) kept byte for byte.
pub fn statement(predicate_type: &str, subject_name: &str, subject: &str, predicate: &[u8]) -> Vec<u8> {
    let head = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": subject_name, "digest": {"sha256": subject.strip_prefix("sha256:").unwrap_or(subject)}}],
    });
    let mut bytes = serde_json::to_vec(&head).expect("a JSON value serializes");
    bytes.pop(); // the closing brace: the predicate goes in as it is.
    bytes.extend_from_slice(br#","predicate":"#);
    bytes.extend_from_slice(predicate);
    bytes.push(b'}');
    bytes
}

/// The predicate of a statement, refusing anything that is not an in-toto statement.
pub fn predicate(statement: &[u8]) -> Result<serde_json::Value, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(statement).map_err(|e| format!("the statement is not JSON: {e}"))?;
    if !value.get("_type").and_then(|t| t.as_str()).is_some_and(|t| t.starts_with("https://in-toto.io/Statement/")) {
        return Err("the layer is not an in-toto statement (no `_type`)".to_string());
    }
    value.get_mut("predicate").map(serde_json::Value::take).ok_or_else(|| "the statement has no predicate".to_string())
}

/// The layer descriptor of a statement.
pub fn statement_layer(statement: &[u8], predicate_type: &str) -> Descriptor {
    Descriptor {
        media_type: IN_TOTO.to_string(),
        digest: sha256_digest(statement),
        size: statement.len() as u64,
        platform: None,
        annotations: BTreeMap::from([(PREDICATE_TYPE.to_string(), predicate_type.to_string())]),
    }
}

/// The predicate type a layer is annotated with.
pub fn layer_predicate(layer: &Descriptor) -> Option<&str> {
    layer.annotations.get(PREDICATE_TYPE).map(String::as_str)
}

/// The config and the manifest holding `layers`, as exact bytes.
pub fn attestation_manifest(layers: &[Descriptor]) -> (Vec<u8>, Vec<u8>) {
    let config = serde_json::json!({
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.digest).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).expect("a JSON value serializes");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len()},
        "layers": layers,
    });
    (config, serde_json::to_vec(&manifest).expect("a JSON value serializes"))
}

/// The index entry of an attestation manifest about the image `subject`.
pub fn attestation_entry(manifest: &[u8], subject: &str) -> Descriptor {
    Descriptor {
        media_type: OCI_MANIFEST.to_string(),
        digest: sha256_digest(manifest),
        size: manifest.len() as u64,
        platform: Some(Platform { os: "unknown".into(), architecture: "unknown".into(), variant: None }),
        annotations: BTreeMap::from([
            (ATTESTATION_SUBJECT.to_string(), subject.to_string()),
            ("vnd.docker.reference.type".to_string(), "attestation-manifest".to_string()),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::manifest::{is_attestation, ManifestBody};

    const IMAGE: &str = "sha256:23678f31b3b3586c4fb318aecfe64a96a1f0916ba8faf9b2be2abee63fa9e827";

    #[test]
    fn statements_keep_their_predicate_byte_for_byte() {
        let sbom = br#"{"spdxVersion": "SPDX-2.3",  "packages": []}"#;
        let bytes = statement(SPDX, "pkg:docker/acme/app@1.0?platform=linux%2Famd64", IMAGE, sbom);
        assert!(bytes.windows(sbom.len()).any(|w| w == sbom), "{}", String::from_utf8_lossy(&bytes));
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["_type"], "https://in-toto.io/Statement/v0.1");
        assert_eq!(value["predicateType"], SPDX);
        assert_eq!(value["subject"][0]["digest"]["sha256"], IMAGE.trim_start_matches("sha256:"));
        assert_eq!(predicate(&bytes).unwrap()["spdxVersion"], "SPDX-2.3");
        assert!(predicate(br#"{"spdxVersion": "SPDX-2.3"}"#).unwrap_err().contains("not an in-toto statement"));
        assert!(predicate(b"\xff").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn the_manifest_and_its_entry_follow_buildkits_layout() {
        let layer = statement_layer(b"{}", SPDX);
        assert_eq!(layer_predicate(&layer), Some(SPDX));
        let (config, manifest) = attestation_manifest(std::slice::from_ref(&layer));
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], layer.digest, "BuildKit lists each layer as its own diff id");
        assert_eq!((config["os"].as_str(), config["architecture"].as_str()), (Some("unknown"), Some("unknown")));
        let body: ManifestBody = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(body.media_type.as_deref(), Some(OCI_MANIFEST));
        assert_eq!(body.layers[0].media_type, IN_TOTO);
        assert_eq!(body.layers[0].annotations[PREDICATE_TYPE], SPDX);
        let entry = attestation_entry(&manifest, IMAGE);
        assert!(is_attestation(&entry), "the index reads it as an attestation, not a platform");
        assert_eq!(entry.annotations[ATTESTATION_SUBJECT], IMAGE);
        assert_eq!(entry.digest, sha256_digest(&manifest));
    }
}
