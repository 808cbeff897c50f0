//! A native OCI distribution client: manifests, blobs and tag lists over HTTP,
//! without one docker process per request.
//!
//! Scope today: anonymous access to loopback registries (the embedded one and
//! the ones tests start). TLS, auth and retries belong to the registry-client work.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Every manifest media type we read, so the registry never down-converts.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                          application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

pub struct Registry {
    base: String,
    agent: ureq::Agent,
}

/// A manifest as served: its media type, digest and parsed body.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub media_type: String,
    pub digest: String,
    pub body: ManifestBody,
}

#[derive(Debug, Clone, Deserialize)]
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/arm64`, `linux/arm/v7`.
    pub fn name(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
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

impl Registry {
    /// A client for `host[:port]`; only loopback registries are spoken to over plain HTTP.
    pub fn new(host: &str) -> Result<Registry> {
        if !is_loopback(host) {
            bail!(
                "registry {host}: only loopback registries can be read for now (TLS and auth are not implemented yet)"
            );
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            // Loopback traffic must never go through an environment proxy.
            .proxy(None)
            .build()
            .new_agent();
        Ok(Registry { base: format!("http://{host}"), agent })
    }

    /// The manifest at `reference` (tag or digest), or `None` when the registry has none.
    pub fn manifest(&self, repository: &str, reference: &str) -> Result<Option<Manifest>> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let mut response =
            self.agent.get(&url).header("Accept", ACCEPT).call().with_context(|| format!("GET {url}"))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            code => bail!("GET {url}: HTTP {code}"),
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let media_type = header("Content-Type").unwrap_or_default();
        let digest =
            header("Docker-Content-Digest").with_context(|| format!("GET {url}: no Docker-Content-Digest header"))?;
        let text = response.body_mut().read_to_string().with_context(|| format!("reading {url}"))?;
        let body: ManifestBody =
            serde_json::from_str(&text).with_context(|| format!("parsing the manifest at {url}"))?;
        Ok(Some(Manifest { media_type, digest, body }))
    }

    /// An image config blob.
    pub fn config(&self, repository: &str, digest: &str) -> Result<ImageConfig> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let mut response = self.agent.get(&url).call().with_context(|| format!("GET {url}"))?;
        if response.status().as_u16() != 200 {
            bail!("GET {url}: HTTP {}", response.status().as_u16());
        }
        let text = response.body_mut().read_to_string().with_context(|| format!("reading {url}"))?;
        serde_json::from_str(&text).with_context(|| format!("parsing the image config at {url}"))
    }

    /// Every tag of `repository` (empty when the repository does not exist).
    pub fn tags(&self, repository: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let url = format!("{}/v2/{repository}/tags/list", self.base);
        let mut response = self.agent.get(&url).call().with_context(|| format!("GET {url}"))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(vec![]),
            code => bail!("GET {url}: HTTP {code}"),
        }
        let text = response.body_mut().read_to_string().with_context(|| format!("reading {url}"))?;
        let list: TagList = serde_json::from_str(&text).with_context(|| format!("parsing the tag list at {url}"))?;
        Ok(list.tags.unwrap_or_default())
    }
}

/// Splits `host[:port]/path/name` into the registry host and the repository path.
pub fn split_repository(repository: &str) -> (&str, &str) {
    repository.split_once('/').unwrap_or(("", repository))
}

/// `localhost`, `127.x.x.x` and `[::1]`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    name == "localhost" || name == "::1" || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "localhost:5000", "127.0.0.1:41000", "127.8.9.10", "[::1]:5000"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["ghcr.io", "10.0.0.1:5000", "localhost.example.test", "[::2]:5000"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn repository_split_and_platform_names() {
        assert_eq!(split_repository("127.0.0.1:5000/acme/app"), ("127.0.0.1:5000", "acme/app"));
        let p = Platform { os: "linux".into(), architecture: "arm".into(), variant: Some("v7".into()) };
        assert_eq!(p.name(), "linux/arm/v7");
    }

    #[test]
    fn manifest_bodies_parse_both_kinds() {
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
            {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:aa","size":528,"platform":{"architecture":"arm64","os":"linux"}}]}"#;
        let body: ManifestBody = serde_json::from_str(index).unwrap();
        assert_eq!(body.manifests[0].platform.as_ref().unwrap().name(), "linux/arm64");
        let image = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:cc","size":10},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:dd","size":99}]}"#;
        let body: ManifestBody = serde_json::from_str(image).unwrap();
        assert_eq!((body.config.unwrap().digest.as_str(), body.layers[0].size), ("sha256:cc", 99));
    }
}
