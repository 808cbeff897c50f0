//! The OCI image layout (image-spec's image-layout.md) as BuildKit's OCI exporter writes it
//! with `tar=false`: `index.json` naming one manifest, and every blob under
//! `blobs/sha256/<hex>`. Pure: `ops::layout` reads the files and pushes them.

use crate::oci::manifest::{Descriptor, ManifestBody};

/// The path of a blob inside a layout. The digest is checked first, so a hostile or damaged
/// `index.json` cannot name a file outside it.
pub fn blob_path(digest: &str) -> Result<String, String> {
    crate::oci::reference::check_digest(digest)?;
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

/// The one manifest an exporter's `index.json` names: one build, one platform.
pub fn exported_manifest(index_json: &[u8]) -> Result<Descriptor, String> {
    let index: ManifestBody =
        serde_json::from_slice(index_json).map_err(|e| format!("index.json is not an OCI index: {e}"))?;
    match index.manifests.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("index.json names no manifest".to_string()),
        many => Err(format!("index.json names {} manifests, where one build exports one", many.len())),
    }
}

/// The blobs an image manifest refers to: its config, then its layers.
pub fn referenced_blobs(manifest: &ManifestBody) -> Vec<&Descriptor> {
    manifest.config.iter().chain(&manifest.layers).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:5d0cf19799ddb7315a794fa10cd97ccc185f286e138bac553cd3b5e48614fe5a";

    #[test]
    fn blobs_are_found_by_checked_digest_only() {
        assert_eq!(blob_path(DIGEST).unwrap(), format!("blobs/sha256/{}", &DIGEST[7..]));
        assert!(blob_path("sha256:../../etc/passwd").is_err());
        assert!(blob_path("sha512:00").is_err());
    }

    #[test]
    fn the_exporter_names_one_manifest() {
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "digest":"{DIGEST}","size":560,"annotations":{{"org.opencontainers.image.ref.name":"latest"}},
            "platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#
        );
        let manifest = exported_manifest(index.as_bytes()).unwrap();
        assert_eq!((manifest.digest.as_str(), manifest.size), (DIGEST, 560));
        assert!(exported_manifest(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap_err().contains("no manifest"));
        assert!(exported_manifest(b"{").unwrap_err().contains("not an OCI index"));
    }

    #[test]
    fn a_manifest_refers_to_its_config_and_layers() {
        let body: ManifestBody = serde_json::from_str(&format!(
            r#"{{"config":{{"mediaType":"c","digest":"{DIGEST}","size":1}},
            "layers":[{{"mediaType":"l","digest":"sha256:{}","size":2}}]}}"#,
            "0".repeat(64)
        ))
        .unwrap();
        let sizes: Vec<u64> = referenced_blobs(&body).iter().map(|d| d.size).collect();
        assert_eq!(sizes, [1, 2]);
    }
}
