//! SBOMs as `sbom` publishes them: syft's command line, an SPDX document's summary, and what
//! goes into each platform's attestation manifest (BuildKit's layout, `oci::attestation`): the
//! SBOM, and provenance where the engine recorded none.

use anyhow::{bail, Context, Result};

use std::collections::BTreeMap;

use crate::oci::attestation::{layer_predicate, PROVENANCE_PREFIX, SPDX};
use crate::oci::manifest::Descriptor;
use crate::oci::reference::is_loopback;

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

/// The in-toto subject name BuildKit gives a platform image: `pkg:docker/<repo>@<tag>?platform=…`.
pub fn subject_name(repository: &str, tag: &str, platform: &str) -> String {
    format!("pkg:docker/{repository}@{tag}?platform={}", platform.replace('/', "%2F"))
}

/// What a platform image's attestation manifest lacks, from its layers' predicate types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing {
    pub sbom: bool,
    pub provenance: bool,
}

pub fn missing(layers: &[Descriptor]) -> Missing {
    let has = |wanted: &dyn Fn(&str) -> bool| layers.iter().filter_map(layer_predicate).any(wanted);
    Missing { sbom: !has(&|p| p == SPDX), provenance: !has(&|p| p.starts_with(PROVENANCE_PREFIX)) }
}

/// What the workspace and the image itself say about a build whose engine recorded no
/// provenance (the classic store): the facts a provenance statement can honestly carry.
#[derive(Debug, Clone)]
pub struct RecordedBuild<'a> {
    /// `org.opencontainers.image.source` and `.revision` of the index.
    pub source: Option<&'a str>,
    pub revision: Option<&'a str>,
    /// The Dockerfile, workspace-relative.
    pub dockerfile: &'a str,
    /// The external bases the image's labels name, name (with tag) to digest.
    pub bases: &'a BTreeMap<String, String>,
    pub platform: &'a str,
}

/// A SLSA v0.2 provenance predicate for `build`, in BuildKit's shape (so `imagetools inspect`
/// reads it), declaring itself incomplete: it was written after the build from the image's
/// labels and the workspace, not observed by the builder, so parameters, environment and
/// materials may be partial, and nothing claims the build is reproducible.
pub fn provenance(build: &RecordedBuild<'_>) -> Vec<u8> {
    let materials: Vec<serde_json::Value> = build
        .bases
        .iter()
        .map(|(name, digest)| {
            serde_json::json!({
                "uri": format!("pkg:docker/{name}?platform={}", build.platform.replace('/', "%2F")),
                "digest": {"sha256": digest.strip_prefix("sha256:").unwrap_or(digest)},
            })
        })
        .collect();
    let mut config_source = serde_json::json!({"entryPoint": build.dockerfile});
    if let Some(source) = build.source {
        config_source["uri"] = serde_json::json!(source);
    }
    if let Some(revision) = build.revision {
        config_source["digest"] = serde_json::json!({"sha1": revision});
    }
    let predicate = serde_json::json!({
        "builder": {"id": RECORDER},
        "buildType": "https://mobyproject.org/buildkit@v1",
        "materials": materials,
        "invocation": {"configSource": config_source, "parameters": {"frontend": "dockerfile.v0"}},
        "metadata": {
            "completeness": {"parameters": false, "environment": false, "materials": false},
            "reproducible": false,
        },
    });
    serde_json::to_vec(&predicate).expect("a JSON value serializes")
}

/// The builder id of provenance that xtask recorded rather than BuildKit.
pub const RECORDER: &str = "urn:xtask-images:sbom";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_argv_and_environment() {
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
    fn what_an_attestation_manifest_lacks() {
        use crate::oci::attestation::{statement_layer, PROVENANCE_V02};
        assert_eq!(missing(&[]), Missing { sbom: true, provenance: true });
        let provenance = statement_layer(b"{}", PROVENANCE_V02);
        assert_eq!(missing(std::slice::from_ref(&provenance)), Missing { sbom: true, provenance: false });
        let v1 = statement_layer(b"{}", "https://slsa.dev/provenance/v1");
        assert_eq!(missing(&[v1, statement_layer(b"{}", SPDX)]), Missing { sbom: false, provenance: false });
        assert_eq!(
            subject_name("r.test/acme/app", "1.0", "linux/arm/v7"),
            "pkg:docker/r.test/acme/app@1.0?platform=linux%2Farm%2Fv7"
        );
    }

    #[test]
    fn recorded_provenance_says_what_it_knows_and_that_it_is_incomplete() {
        let bases =
            BTreeMap::from([("docker.io/library/python:3.13".to_string(), format!("sha256:{}", "cd".repeat(32)))]);
        let build = RecordedBuild {
            source: Some("https://example.test/acme/app"),
            revision: Some("0123abcd"),
            dockerfile: "images/app/Dockerfile",
            bases: &bases,
            platform: "linux/arm64",
        };
        let value: serde_json::Value = serde_json::from_slice(&provenance(&build)).unwrap();
        assert_eq!(value["builder"]["id"], RECORDER);
        assert_eq!(value["materials"][0]["uri"], "pkg:docker/docker.io/library/python:3.13?platform=linux%2Farm64");
        assert_eq!(value["materials"][0]["digest"]["sha256"], "cd".repeat(32));
        let source = &value["invocation"]["configSource"];
        assert_eq!(
            (source["uri"].as_str(), source["digest"]["sha1"].as_str()),
            (Some("https://example.test/acme/app"), Some("0123abcd"))
        );
        assert_eq!(source["entryPoint"], "images/app/Dockerfile");
        assert_eq!(value["metadata"]["completeness"]["materials"], false);
        assert_eq!(value["metadata"]["reproducible"], false);
        let unknown = RecordedBuild { source: None, revision: None, ..build };
        let value: serde_json::Value = serde_json::from_slice(&provenance(&unknown)).unwrap();
        assert!(value["invocation"]["configSource"].get("uri").is_none(), "nothing is made up");
    }

    #[test]
    fn only_spdx_documents_pass() {
        let sbom = br#"{"spdxVersion": "SPDX-2.3", "packages": [{"name": "busybox"}, {"name": "gzip"}]}"#;
        assert_eq!(summarize(sbom).unwrap(), ("SPDX-2.3".to_string(), 2));
        assert_eq!(summarize(br#"{"spdxVersion": "SPDX-2.3"}"#).unwrap().1, 0);
        assert!(summarize(br#"{"bomFormat": "CycloneDX"}"#).unwrap_err().to_string().contains("not an SPDX document"));
        assert!(summarize(b"not json").is_err());
    }
}
