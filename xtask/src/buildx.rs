//! `docker buildx` argv construction, per builder driver. Pure: the same inputs
//! always give the same argv, and every strategy is unit-tested here.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;

use crate::definitions::Network;
use crate::plan::Unit;

/// The buildx builder's driver decides what the build can export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// BuildKit inside dockerd: one platform per build, inline cache only,
    /// no push-by-digest. Platforms are pushed under staging tags.
    Docker,
    /// docker-container, remote, kubernetes: registry cache export (`mode=max`).
    Container(String),
}

impl Driver {
    /// Reads the `Driver:` line of `docker buildx inspect`.
    pub fn from_inspect(output: &str) -> Result<Driver> {
        let driver = output
            .lines()
            .find_map(|l| l.trim().strip_prefix("Driver:"))
            .map(str::trim)
            .context("`docker buildx inspect` printed no `Driver:` line")?;
        Ok(match driver {
            "docker" => Driver::Docker,
            "" => bail!("`docker buildx inspect` printed an empty driver"),
            other => Driver::Container(other.to_string()),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Driver::Docker => "docker",
            Driver::Container(name) => name,
        }
    }
}

/// Where one platform build goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Push under the staging tag; the digest is read from the metadata file.
    Push,
    /// Load into the local engine under the unit's tags (`--load`).
    Load,
    /// Build only (pull requests, `--no-push`).
    None,
}

/// Everything one `docker buildx build` needs beyond the unit itself.
#[derive(Debug, Clone)]
pub struct PlatformBuild<'a> {
    pub unit: &'a Unit,
    pub platform: &'a str,
    pub driver: &'a Driver,
    /// A named builder from the settings; `None` uses the current one.
    pub builder: Option<&'a str>,
    /// `--build-arg` values for in-repo parents, already pinned (`repo@digest`).
    pub parent_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub output: Output,
    pub metadata_file: Utf8PathBuf,
}

/// `arm64` for `linux/arm64`, `arm-v7` for `linux/arm/v7`: for tags and file names.
pub fn platform_slug(platform: &str) -> String {
    platform.strip_prefix("linux/").unwrap_or(platform).replace('/', "-")
}

/// The per-platform tag a build is pushed under before the manifest list exists.
pub fn staging_ref(unit: &Unit, platform: &str) -> String {
    match &unit.variant {
        Some(v) => format!("{}:staging-{v}-{}", unit.repository, platform_slug(platform)),
        None => format!("{}:staging-{}", unit.repository, platform_slug(platform)),
    }
}

/// The per-platform registry cache of drivers that can export one.
pub fn cache_ref(unit: &Unit, platform: &str) -> String {
    match &unit.variant {
        Some(v) => format!("{}:buildcache-{v}-{}", unit.repository, platform_slug(platform)),
        None => format!("{}:buildcache-{}", unit.repository, platform_slug(platform)),
    }
}

/// `docker buildx build ...` for one unit and platform, without the program name.
pub fn build_argv(b: &PlatformBuild<'_>) -> Vec<String> {
    let unit = b.unit;
    let mut argv: Vec<String> = vec!["buildx".into(), "build".into()];
    if let Some(builder) = b.builder {
        argv.extend(["--builder".into(), builder.into()]);
    }
    argv.extend([
        "--platform".into(),
        b.platform.into(),
        "--file".into(),
        unit.dockerfile.to_string(),
        "--progress".into(),
        "plain".into(),
    ]);
    if unit.network != Network::Default {
        argv.extend(["--network".into(), unit.network.as_str().into()]);
    }
    let mut args = unit.args.clone();
    args.extend(b.parent_args.clone());
    for (key, value) in &args {
        argv.extend(["--build-arg".into(), format!("{key}={value}")]);
    }
    for (key, value) in &b.labels {
        argv.extend(["--label".into(), format!("{key}={value}")]);
    }
    match b.driver {
        Driver::Docker => {
            // The docker driver cannot export a cache: embed it in the image and read it back from the last staging push.
            argv.extend(["--cache-from".into(), format!("type=registry,ref={}", staging_ref(unit, b.platform))]);
            argv.extend(["--cache-to".into(), "type=inline".into()]);
        }
        Driver::Container(_) => {
            let cache = cache_ref(unit, b.platform);
            argv.extend(["--cache-from".into(), format!("type=registry,ref={cache}")]);
            if b.output == Output::Push {
                argv.extend(["--cache-to".into(), format!("type=registry,ref={cache},mode=max")]);
            }
        }
    }
    match b.output {
        Output::Push => {
            argv.extend(["--tag".into(), staging_ref(unit, b.platform), "--push".into()]);
            // Attestations would wrap each platform in an index of its own; the merge step makes the index.
            argv.push("--provenance=false".into());
        }
        Output::Load => {
            for tag in &unit.tags {
                argv.extend(["--tag".into(), tag.clone()]);
            }
            argv.push("--load".into());
        }
        Output::None => {
            argv.extend(["--tag".into(), staging_ref(unit, b.platform)]);
        }
    }
    argv.extend(["--metadata-file".into(), b.metadata_file.to_string()]);
    argv.push(unit.context.to_string());
    argv
}

/// `docker buildx imagetools create` joining per-platform digests under every tag.
pub fn imagetools_create_argv(unit: &Unit, digests: &[(String, String)]) -> Vec<String> {
    let mut argv: Vec<String> = vec!["buildx".into(), "imagetools".into(), "create".into()];
    for tag in &unit.tags {
        argv.extend(["--tag".into(), tag.clone()]);
    }
    for (_platform, digest) in digests {
        argv.push(format!("{}@{digest}", unit.repository));
    }
    argv
}

/// The image digest buildx wrote into `--metadata-file`.
pub fn digest_from_metadata(json: &str) -> Result<String> {
    let value: serde_json::Value = serde_json::from_str(json).context("parsing the buildx metadata file")?;
    let digest = value
        .get("containerimage.digest")
        .and_then(|d| d.as_str())
        .context("the buildx metadata file has no `containerimage.digest`")?;
    if !digest.starts_with("sha256:") || digest.len() != 71 {
        bail!("the buildx metadata file holds a malformed digest {digest:?}");
    }
    Ok(digest.to_string())
}

/// The OCI annotations every image carries.
pub fn oci_labels(
    unit: &Unit,
    source: Option<&str>,
    revision: Option<&str>,
    created: &str,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        labels.insert(format!("org.opencontainers.image.{key}"), value.to_string());
    };
    put("created", created);
    put("title", unit.repository.rsplit('/').next().unwrap_or(&unit.repository));
    if let Some(source) = source {
        put("source", source);
    }
    if let Some(revision) = revision {
        put("revision", revision);
    }
    if let Some(version) = &unit.version {
        put("version", version);
    }
    if let Some(description) = &unit.description {
        put("description", description);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> Unit {
        crate::plan::sample_unit()
    }

    fn request<'a>(unit: &'a Unit, driver: &'a Driver, output: Output) -> PlatformBuild<'a> {
        PlatformBuild {
            unit,
            platform: "linux/arm64",
            driver,
            builder: None,
            parent_args: BTreeMap::from([("DEBIAN_IMAGE".into(), "localhost:5000/acme/debian@sha256:aa".into())]),
            labels: BTreeMap::from([("org.opencontainers.image.revision".into(), "abc".into())]),
            output,
            metadata_file: "target/xtask/meta/python-python3.13-arm64.json".into(),
        }
    }

    #[test]
    fn docker_driver_pushes_a_staging_tag_with_inline_cache() {
        let u = unit();
        let argv = build_argv(&request(&u, &Driver::Docker, Output::Push)).join(" ");
        assert_eq!(
            argv,
            "buildx build --platform linux/arm64 --file images/python/Dockerfile --progress plain --network host \
             --build-arg DEBIAN_IMAGE=localhost:5000/acme/debian@sha256:aa --build-arg PY=3.13 \
             --label org.opencontainers.image.revision=abc \
             --cache-from type=registry,ref=localhost:5000/acme/python:staging-python3.13-arm64 --cache-to type=inline \
             --tag localhost:5000/acme/python:staging-python3.13-arm64 --push --provenance=false \
             --metadata-file target/xtask/meta/python-python3.13-arm64.json images/python"
        );
    }

    #[test]
    fn container_drivers_use_a_registry_cache_per_platform() {
        let mut u = unit();
        u.network = Network::Default;
        let driver = Driver::Container("docker-container".into());
        let mut req = request(&u, &driver, Output::Push);
        req.builder = Some("arm-native");
        let argv = build_argv(&req);
        let joined = argv.join(" ");
        assert!(joined.starts_with("buildx build --builder arm-native --platform linux/arm64"), "{joined}");
        assert!(joined.contains("--cache-from type=registry,ref=localhost:5000/acme/python:buildcache-python3.13-arm64 --cache-to type=registry,ref=localhost:5000/acme/python:buildcache-python3.13-arm64,mode=max"), "{joined}");
        assert!(!joined.contains("--network"), "the default network passes no flag");
        // Build-only runs read the cache but never write it.
        let joined = build_argv(&request(&u, &driver, Output::None)).join(" ");
        assert!(
            joined.contains("--cache-from") && !joined.contains("--cache-to") && !joined.contains("--push"),
            "{joined}"
        );
    }

    #[test]
    fn load_tags_the_image_with_every_unit_tag() {
        let u = unit();
        let argv = build_argv(&request(&u, &Driver::Docker, Output::Load));
        let joined = argv.join(" ");
        assert!(
            joined
                .contains("--tag localhost:5000/acme/python:main --tag localhost:5000/acme/python:main-abc1234 --load"),
            "{joined}"
        );
        assert!(!joined.contains("--push") && !joined.contains("--tag localhost:5000/acme/python:staging"), "{joined}");
        assert_eq!(argv.last().map(String::as_str), Some("images/python"));
    }

    #[test]
    fn imagetools_joins_every_platform_under_every_tag() {
        let u = unit();
        let digests = [
            ("linux/amd64".to_string(), "sha256:11".to_string()),
            ("linux/arm64".to_string(), "sha256:22".to_string()),
        ];
        assert_eq!(
            imagetools_create_argv(&u, &digests).join(" "),
            "buildx imagetools create --tag localhost:5000/acme/python:main --tag localhost:5000/acme/python:main-abc1234 \
             localhost:5000/acme/python@sha256:11 localhost:5000/acme/python@sha256:22"
        );
    }

    #[test]
    fn staging_refs_and_slugs() {
        let mut u = unit();
        assert_eq!(staging_ref(&u, "linux/arm/v7"), "localhost:5000/acme/python:staging-python3.13-arm-v7");
        u.variant = None;
        assert_eq!(staging_ref(&u, "linux/amd64"), "localhost:5000/acme/python:staging-amd64");
        assert_eq!(cache_ref(&u, "linux/amd64"), "localhost:5000/acme/python:buildcache-amd64");
    }

    #[test]
    fn driver_detection() {
        let docker =
            "Name:          default\nDriver:        docker\nLast Activity: now\n\nNodes:\nName:      default\n";
        assert_eq!(Driver::from_inspect(docker).unwrap(), Driver::Docker);
        let container = "Name:   multi\nDriver: docker-container\n";
        assert_eq!(Driver::from_inspect(container).unwrap(), Driver::Container("docker-container".into()));
        assert!(Driver::from_inspect("Name: x\n").is_err());
    }

    #[test]
    fn metadata_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let json =
            format!("{{\"containerimage.digest\": \"{digest}\", \"containerimage.config.digest\": \"sha256:bb\"}}");
        assert_eq!(digest_from_metadata(&json).unwrap(), digest);
        assert!(digest_from_metadata("{}").unwrap_err().to_string().contains("no `containerimage.digest`"));
        assert!(digest_from_metadata("{\"containerimage.digest\": \"sha256:short\"}").is_err());
    }

    #[test]
    fn labels() {
        let mut u = unit();
        u.version = Some("1.2.3".into());
        let labels = oci_labels(&u, Some("https://example.test/repo"), Some("abc"), "2026-11-24T00:00:00Z");
        let keys: Vec<&str> = labels.keys().map(|k| k.trim_start_matches("org.opencontainers.image.")).collect();
        assert_eq!(keys, ["created", "description", "revision", "source", "title", "version"]);
        assert_eq!(labels["org.opencontainers.image.title"], "python");
    }
}
