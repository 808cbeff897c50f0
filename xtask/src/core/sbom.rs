//! SBOMs as `sbom` publishes them: syft's command line, an SPDX document's summary, and the
//! OCI artifact manifest that attaches it to a platform image under the cosign-style tag
//! `sha256-<hex>.sbom`.

use anyhow::{bail, Context, Result};

use crate::oci::manifest::{PlatformImage, EMPTY_CONFIG, OCI_MANIFEST};
use crate::oci::reference::is_loopback;

pub const SPDX_MEDIA_TYPE: &str = "application/spdx+json";

/// The cosign-style tag an SBOM of `digest` is found under: `sha256-<hex>.sbom`.
pub fn sbom_tag(digest: &str) -> String {
    format!("{}.sbom", digest.replace(':', "-"))
}

/// `syft scan registry:<reference> -o spdx-json`, without the program name.
pub fn syft_argv(reference: &str) -> Vec<String> {
    ["scan", &format!("registry:{reference}"), "--output", "spdx-json", "--quiet"].map(String::from).to_vec()
}

/// syft's environment: no update check (a build machine may have no way out), and plain
/// HTTP for loopback registries only, as the registry client does.
pub fn syft_env(registry: &str) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![("SYFT_CHECK_FOR_APP_UPDATE", "false")];
    if is_loopback(registry) {
        env.push(("SYFT_REGISTRY_INSECURE_USE_HTTP", "true"));
    }
    env
}

/// The SPDX version and package count of an SBOM, refusing anything that is not SPDX JSON.
pub fn summarize(sbom: &[u8]) -> Result<(String, usize)> {
    let value: serde_json::Value = serde_json::from_slice(sbom).context("syft printed no JSON")?;
    let version = value.get("spdxVersion").and_then(|v| v.as_str()).unwrap_or_default();
    if !version.starts_with("SPDX-") {
        bail!("syft's output has no `spdxVersion`: it is not an SPDX document");
    }
    let packages = value.get("packages").and_then(|p| p.as_array()).map_or(0, Vec::len);
    Ok((version.to_string(), packages))
}

/// The OCI artifact manifest holding one SBOM blob, with `subject` pointing at the image, so
/// registries that serve the referrers API list it there too.
pub fn artifact_manifest(subject: &PlatformImage, sbom_digest: &str, sbom_size: usize, title: &str) -> Vec<u8> {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX_MEDIA_TYPE,
        "config": {"mediaType": EMPTY_CONFIG, "digest": crate::oci::digest::sha256_digest(b"{}"), "size": 2},
        "layers": [{
            "mediaType": SPDX_MEDIA_TYPE,
            "digest": sbom_digest,
            "size": sbom_size,
            "annotations": {"org.opencontainers.image.title": title},
        }],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
    });
    serde_json::to_vec(&manifest).expect("a JSON value serializes")
}

/// A registry that answers the artifact manifest with 400 or 415 does not take OCI artifacts
/// (docker-registry 2.8 does); any other failure is a real one.
pub fn refuses_artifacts(err: &anyhow::Error) -> bool {
    let text = format!("{err:#}");
    text.contains("artifact manifest")
        && ["HTTP 400", "HTTP 415", "MANIFEST_INVALID", "UNSUPPORTED"].iter().any(|s| text.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> PlatformImage {
        PlatformImage {
            platform: "linux/arm64".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            size: 528,
        }
    }

    #[test]
    fn tags_argv_and_environment() {
        assert_eq!(sbom_tag(&image().digest), format!("sha256-{}.sbom", "ab".repeat(32)));
        assert_eq!(
            syft_argv("localhost:5000/base@sha256:00").join(" "),
            "scan registry:localhost:5000/base@sha256:00 --output spdx-json --quiet"
        );
        assert_eq!(
            syft_env("127.0.0.1:41000"),
            [("SYFT_CHECK_FOR_APP_UPDATE", "false"), ("SYFT_REGISTRY_INSECURE_USE_HTTP", "true")]
        );
        assert_eq!(syft_env("registry.example.test"), [("SYFT_CHECK_FOR_APP_UPDATE", "false")]);
    }

    #[test]
    fn the_artifact_manifest_points_at_the_sbom_and_its_image() {
        let bytes = artifact_manifest(&image(), "sha256:5b", 1234, "base-arm64.spdx.json");
        let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(m["mediaType"], OCI_MANIFEST);
        assert_eq!(m["artifactType"], "application/spdx+json");
        assert_eq!(m["config"]["digest"], "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert_eq!(m["layers"][0]["digest"], "sha256:5b");
        assert_eq!(m["layers"][0]["size"], 1234);
        assert_eq!(m["layers"][0]["annotations"]["org.opencontainers.image.title"], "base-arm64.spdx.json");
        assert_eq!(m["subject"]["digest"], image().digest);
        assert_eq!(m["subject"]["size"], 528);
    }

    #[test]
    fn only_spdx_documents_pass() {
        let sbom = br#"{"spdxVersion": "SPDX-2.3", "packages": [{"name": "busybox"}, {"name": "gzip"}]}"#;
        assert_eq!(summarize(sbom).unwrap(), ("SPDX-2.3".to_string(), 2));
        assert_eq!(summarize(br#"{"spdxVersion": "SPDX-2.3"}"#).unwrap().1, 0);
        assert!(summarize(br#"{"bomFormat": "CycloneDX"}"#).unwrap_err().to_string().contains("not an SPDX document"));
        assert!(summarize(b"not json").is_err());
    }

    #[test]
    fn only_refused_artifact_manifests_are_tolerated() {
        let refused = anyhow::anyhow!("PUT http://r/v2/x/manifests/t: HTTP 400 (MANIFEST_INVALID: manifest invalid)")
            .context("pushing the SBOM's artifact manifest");
        assert!(refuses_artifacts(&refused));
        let denied = anyhow::anyhow!("PUT http://r/v2/x/manifests/t: HTTP 403 (DENIED: denied)")
            .context("pushing the SBOM's artifact manifest");
        assert!(!refuses_artifacts(&denied));
        let blob = anyhow::anyhow!("POST http://r/v2/x/blobs/uploads/: HTTP 400").context("uploading the SBOM");
        assert!(!refuses_artifacts(&blob), "a blob upload failing is no statement about artifacts");
    }
}
