//! The OCI image layout (image-spec's image-layout.md) as BuildKit's OCI exporter writes it
//! with `tar=false` (`index.json` naming one manifest, every blob under `blobs/sha256/<hex>`)
//! and as `docker save` and `docker load` of a containerd-store engine read and write it
//! (each image named by an `io.containerd.image.name` annotation). Pure: `ops::layout` and
//! `ops::load` read the files.

use crate::oci::manifest::{Descriptor, ManifestBody, OCI_INDEX};

/// The annotation naming an image of a saved layout, in full: `registry/repository:tag`.
pub const IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation of the same entry: the tag alone.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

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

/// The entry `docker save` wrote for the image saved as `tag` (its `ref.name`).
pub fn saved_entry<'a>(index: &'a ManifestBody, tag: &str) -> Result<&'a Descriptor, String> {
    index
        .manifests
        .iter()
        .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(tag))
        .ok_or_else(|| format!("the saved layout has no image tagged {tag}"))
}

/// The `index.json` that `docker load` reads as `descriptor` under each of `names`
/// (`registry/repository:tag`, as the engine names images).
pub fn load_index(descriptor: &Descriptor, names: &[String]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = names
        .iter()
        .map(|name| {
            let tag = name.rsplit_once(':').map_or(name.as_str(), |(_, tag)| tag);
            serde_json::json!({
                "mediaType": descriptor.media_type,
                "digest": descriptor.digest,
                "size": descriptor.size,
                "annotations": {IMAGE_NAME: name, REF_NAME: tag},
            })
        })
        .collect();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    serde_json::to_vec(&index).expect("a JSON value serializes")
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
    fn saved_images_are_found_by_tag_and_loaded_under_every_name() {
        let saved: ManifestBody = serde_json::from_str(&format!(
            r#"{{"manifests":[{{"mediaType":"{OCI_INDEX}","digest":"{DIGEST}","size":855,
            "annotations":{{"{IMAGE_NAME}":"127.0.0.1:5000/base:staging-arm64","{REF_NAME}":"staging-arm64"}}}}]}}"#
        ))
        .unwrap();
        assert_eq!(saved_entry(&saved, "staging-arm64").unwrap().size, 855);
        assert!(saved_entry(&saved, "staging-amd64").unwrap_err().contains("no image tagged staging-amd64"));
        let names = ["127.0.0.1:5000/base:1.0".to_string(), "127.0.0.1:5000/base:latest".to_string()];
        let index: ManifestBody = serde_json::from_slice(&load_index(&saved.manifests[0], &names)).unwrap();
        let loaded: Vec<(&str, &str)> = index
            .manifests
            .iter()
            .map(|m| (m.annotations[IMAGE_NAME].as_str(), m.annotations[REF_NAME].as_str()))
            .collect();
        assert_eq!(loaded, [("127.0.0.1:5000/base:1.0", "1.0"), ("127.0.0.1:5000/base:latest", "latest")]);
        assert!(index.manifests.iter().all(|m| m.digest == DIGEST));
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
