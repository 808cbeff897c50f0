//! `docker buildx` argv construction, per builder driver. Pure: the same inputs
//! always give the same argv, and every strategy is unit-tested here.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;

use crate::core::definitions::{BuildSecret, Network};
use crate::core::plan::Unit;
use crate::oci::reference::TagRef;

/// The buildx builder's driver decides what the build can export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// BuildKit inside dockerd: one platform per build, inline cache only,
    /// no push-by-digest. Platforms are pushed under staging tags.
    Docker,
    /// docker-container, remote, kubernetes: registry cache export (`mode=max`).
    Container(String),
    /// BuildKit inside a dockerd with the containerd image store: still no push-by-digest
    /// (staging tags), but a registry cache (`mode=max`) and provenance attestations.
    ContainerdStore,
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
            Driver::ContainerdStore => "docker with the containerd store",
        }
    }

    /// The docker driver as its engine's image store makes it (`docker info`'s DriverStatus).
    pub fn with_store(self, driver_status: &str) -> Driver {
        match self {
            Driver::Docker if driver_status.contains("io.containerd.snapshotter") => Driver::ContainerdStore,
            other => other,
        }
    }

    /// Whether its pushes carry attestations, so each platform arrives as an index of its own.
    pub fn attests(&self) -> bool {
        matches!(self, Driver::ContainerdStore)
    }

    /// Whether its BuildKit takes named build contexts (`--build-context`, BuildKit 0.10 and
    /// the Dockerfile frontend 1.4): the classic engine's v0.8 does not.
    pub fn has_named_contexts(&self) -> bool {
        !matches!(self, Driver::Docker)
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
    /// The Dockerfile with its external bases pinned (`ops::bases`), used instead of the unit's.
    pub pinned_dockerfile: Option<Utf8PathBuf>,
    pub driver: &'a Driver,
    /// A named builder from the settings; `None` uses the current one.
    pub builder: Option<&'a str>,
    /// `--build-arg` values for in-repo parents, already pinned (`repo@digest`).
    pub parent_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub output: Output,
    pub metadata_file: Utf8PathBuf,
    /// A second tag for the pushed image, named after its input digest, so an
    /// unchanged unit is found without building (see `core::inputs`).
    pub input_tag: Option<TagRef>,
    /// A release: provenance is recorded in full (`mode=max`) where the engine attests.
    pub release: bool,
    /// Export to an OCI layout that xtask pushes, instead of the engine pushing.
    pub export: Option<Export>,
}

/// An image written as an OCI layout to `layout`, whose bytes xtask then pushes as they are
/// (`ops::layout`). The containerd-store engine's own push is avoided: Docker 26's races on
/// the first requests to a plain-HTTP registry and can crash the daemon (moby/moby#48818).
/// With `epoch` (`build --reproducible`), every timestamp is set to it, which BuildKit
/// refuses on its way to an image push ("conflicts with unpack").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub layout: Utf8PathBuf,
    /// SOURCE_DATE_EPOCH: the commit time, or the variable's value.
    pub epoch: Option<u64>,
}

/// Refuses `--reproducible` where a platform's builder cannot rewrite timestamps: the
/// classic engine's BuildKit v0.8 (the option came in v0.13) has no such exporter option.
pub fn check_reproducible(drivers: &BTreeMap<String, Driver>) -> Result<()> {
    if let Some((platform, _)) = drivers.iter().find(|(_, d)| **d == Driver::Docker) {
        bail!(
            "--reproducible needs a builder that rewrites layer timestamps, but {platform} builds on the classic \
             engine (its BuildKit cannot): build on Docker 26 with the containerd store (`--engine xtask` after \
             `cargo xtask provision`, or set `engine` in the workspace settings), or drop --reproducible"
        );
    }
    Ok(())
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
    format!("{}{}", unit.cache, platform_slug(platform))
}

/// `docker buildx build ...` for one unit and platform, without the program name. Every image
/// reference in it is checked against the OCI grammar first, so none can read as a flag or
/// send a push elsewhere.
pub fn build_argv(b: &PlatformBuild<'_>) -> Result<Vec<String>> {
    let unit = b.unit;
    let mut argv: Vec<String> = Vec::new();
    // A docker-driver builder is an engine's own, named after its docker context: buildx
    // refuses `--builder` for one of another context, so the client is pointed there.
    if let (Some(context), Driver::Docker | Driver::ContainerdStore) = (b.builder, b.driver) {
        argv.extend(["--context".into(), context.into()]);
    }
    argv.extend(["buildx".into(), "build".into()]);
    if let (Some(builder), Driver::Container(_)) = (b.builder, b.driver) {
        argv.extend(["--builder".into(), builder.into()]);
    }
    argv.extend([
        "--platform".into(),
        b.platform.into(),
        "--file".into(),
        b.pinned_dockerfile.as_ref().unwrap_or(&unit.dockerfile).to_string(),
        "--progress".into(),
        "plain".into(),
    ]);
    if unit.network != Network::Default {
        argv.extend(["--network".into(), unit.network.as_str().into()]);
    }
    let mut args = unit.args.clone();
    if let Some(epoch) = b.export.as_ref().and_then(|e| e.epoch) {
        // BuildKit reads it as the time of every layer, config and file it writes.
        args.insert("SOURCE_DATE_EPOCH".into(), epoch.to_string());
    }
    for (key, reference) in &b.parent_args {
        args.insert(key.clone(), checked(reference.clone())?);
    }
    for (key, value) in &args {
        argv.extend(["--build-arg".into(), format!("{key}={value}")]);
    }
    // A parent named literally in the Dockerfile resolves to what this run built for it, not
    // to whatever its tag names in the registry (which moves only after the publish).
    if b.driver.has_named_contexts() {
        for parent in &unit.parents {
            let Some(pinned) = b.parent_args.get(&parent.arg) else { continue };
            for name in &parent.names {
                argv.extend(["--build-context".into(), format!("{}=docker-image://{pinned}", checked(name.clone())?)]);
            }
        }
    }
    for (key, value) in &b.labels {
        argv.extend(["--label".into(), format!("{key}={value}")]);
    }
    for (id, secret) in &unit.secrets {
        argv.extend(["--secret".into(), secret_flag(id, secret)]);
    }
    let staging = checked(staging_ref(unit, b.platform))?;
    match b.driver {
        Driver::Docker => {
            // The docker driver cannot export a cache: embed it in the image and read it back from the last staging push.
            argv.extend(["--cache-from".into(), format!("type=registry,ref={staging}")]);
            argv.extend(["--cache-to".into(), "type=inline".into()]);
        }
        Driver::Container(_) => {
            let cache = checked(cache_ref(unit, b.platform))?;
            argv.extend(["--cache-from".into(), format!("type=registry,ref={cache}")]);
            if b.output == Output::Push {
                argv.extend(["--cache-to".into(), format!("type=registry,ref={cache},mode=max")]);
            }
        }
        Driver::ContainerdStore => {
            // Every layer of every stage, so a fresh builder reuses them; a registry that
            // refuses the cache does not fail the build.
            let cache = checked(cache_ref(unit, b.platform))?;
            argv.extend(["--cache-from".into(), format!("type=registry,ref={cache}")]);
            if b.output == Output::Push {
                argv.extend(["--cache-to".into(), format!("type=registry,ref={cache},mode=max,ignore-error=true")]);
            }
        }
    }
    // Each platform of an engine that attests arrives as an index of its image and its
    // provenance; publish joins their entries into one index. Full provenance for a release.
    let provenance = match b.driver.attests() {
        true => format!("--provenance=mode={}", if b.release { "max" } else { "min" }),
        // Attestations would wrap each platform in an index of its own, which the classic
        // store cannot keep; the merge step makes the index.
        false => "--provenance=false".to_string(),
    };
    match (b.output, &b.export) {
        (Output::Push | Output::None, Some(export)) => {
            // OCI media types, as the OCI exporter always writes them.
            let mut output = format!("type=oci,dest={},tar=false", export.layout);
            if export.epoch.is_some() {
                output.push_str(",rewrite-timestamp=true");
            }
            argv.extend(["--output".into(), output]);
            // Provenance records when and by which invocation it was built: never the same twice.
            argv.push(if export.epoch.is_some() { "--provenance=false".to_string() } else { provenance });
        }
        (Output::Push, None) => {
            argv.extend(["--tag".into(), staging]);
            if let Some(tag) = &b.input_tag {
                argv.extend(["--tag".into(), checked(tag.to_string())?]);
            }
            argv.extend(["--push".into(), provenance]);
        }
        // An engine that keeps multi-platform images loads each platform under its staging tag;
        // `ops::load` joins them under the unit's tags.
        (Output::Load, _) if *b.driver == Driver::ContainerdStore => {
            argv.extend(["--tag".into(), staging, "--load".into()]);
        }
        (Output::Load, _) => {
            for tag in &unit.tags {
                argv.extend(["--tag".into(), checked(tag.to_string())?]);
            }
            if unit.tags.is_empty() {
                // A parent built only for a release: its children find it under its staging tag.
                argv.extend(["--tag".into(), staging]);
            }
            argv.push("--load".into());
        }
        (Output::None, None) => {
            argv.extend(["--tag".into(), staging]);
        }
    }
    argv.extend(["--metadata-file".into(), b.metadata_file.to_string()]);
    // The context is workspace-relative; one named `-x` must not read as a flag.
    let context = unit.context.as_str();
    argv.push(if context.starts_with('-') { format!("./{context}") } else { context.to_string() });
    Ok(argv)
}

/// An image reference for docker's command line, refused unless it follows the OCI grammar.
fn checked(reference: String) -> Result<String> {
    crate::oci::reference::parse(&reference)
        .map_err(|why| anyhow::anyhow!("refusing to pass the image reference {reference:?} to docker: {why}"))?;
    Ok(reference)
}

/// `--secret` for buildx: `id=<id>,env=<VAR>` or `id=<id>,src=<path>`. Only where the value is:
/// buildx reads it, xtask never does, so no argv, log or record of this run can show it.
pub fn secret_flag(id: &str, secret: &BuildSecret) -> String {
    match secret {
        BuildSecret::Env(variable) => format!("id={id},env={variable}"),
        BuildSecret::File(path) => format!("id={id},src={path}"),
    }
}

/// Checks, before anything builds, that every secret of `units` can be read: its variable
/// is set and not empty (CI leaves secrets empty for forks), or its file exists. `env` and
/// `is_file` look; nothing here reads or keeps a value.
pub fn check_secrets(
    units: &[Unit],
    root: &camino::Utf8Path,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
    is_file: impl Fn(&camino::Utf8Path) -> bool,
) -> Result<()> {
    for unit in units {
        for (id, secret) in &unit.secrets {
            let file = format!("images/{}/image.toml", unit.image);
            let problem = match secret {
                BuildSecret::Env(variable) => match env(variable) {
                    None => format!("the environment variable {variable} is not set"),
                    Some(value) if value.is_empty() => format!("the environment variable {variable} is empty"),
                    Some(_) => continue,
                },
                BuildSecret::File(path) if path.starts_with("~/") => {
                    format!("its file {path} is in the home directory, but HOME is not set")
                }
                BuildSecret::File(path) if !is_file(&root.join(path)) => {
                    format!("its file {path} does not exist or is not a regular file")
                }
                BuildSecret::File(_) => continue,
            };
            bail!(
                "{}: secret {id:?} of {}: {problem}\n  hint: provide it before building, or change [secrets] in {file}",
                file,
                unit.id
            );
        }
    }
    Ok(())
}

/// The image digest buildx wrote into `--metadata-file`.
pub fn digest_from_metadata(json: &str) -> Result<String> {
    let value: serde_json::Value = serde_json::from_str(json).context("parsing the buildx metadata file")?;
    let digest = value
        .get("containerimage.digest")
        .and_then(|d| d.as_str())
        .context("the buildx metadata file has no `containerimage.digest`")?;
    crate::oci::reference::check_digest(digest)
        .map_err(|why| anyhow::anyhow!("the buildx metadata file holds a malformed digest: {why}"))?;
    Ok(digest.to_string())
}

/// Whether the end of a failed buildx log is a registry's transient answer to a push (a 5xx),
/// which a second run may not meet: what the native client retries, BuildKit does not.
pub fn transient_registry_failure(tail: &str) -> bool {
    let transient = ["500 Internal Server Error", "502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout"];
    tail.lines().any(|l| l.starts_with("ERROR:") && transient.iter().any(|t| l.contains(t)))
}

/// The OCI annotations every image carries.
/// `org.opencontainers.image.source` for a git remote: a browsable https URL where the remote
/// is scp-like (`git@host:acme/app.git` → `https://host/acme/app`), never with the
/// remote's userinfo (a CI job's token), without `.git`.
pub fn source_url(remote: &str) -> Option<String> {
    let remote = crate::core::text::without_userinfo(remote.trim());
    let https = match remote.split_once(':') {
        // scp-like: `[user@]host:path` (a URL's `scheme:` is followed by `//`).
        Some((host, path)) if !path.starts_with("//") && !host.contains('/') && !host.is_empty() => {
            format!("https://{host}/{}", path.trim_start_matches('/'))
        }
        _ => remote,
    };
    Some(https.trim_end_matches(".git").to_string()).filter(|s| !s.is_empty())
}

/// The annotations of the index `publish` assembles: the OCI labels (those GHCR and Docker Hub
/// show for a multi-arch image), and the final stage's external base as its tag names it
/// (`base`: name with tag, and the digest the tag named: an index, for every platform).
pub fn index_annotations(labels: &BTreeMap<String, String>, base: Option<(&str, &str)>) -> BTreeMap<String, String> {
    let mut annotations: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| k.starts_with("org.opencontainers.image."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some((name, digest)) = base {
        annotations.insert(crate::core::bases::BASE_NAME_LABEL.to_string(), name.to_string());
        annotations.insert(crate::core::bases::BASE_DIGEST_LABEL.to_string(), digest.to_string());
    }
    annotations
}

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
        // Whatever the caller passed: a URL's userinfo never reaches a label.
        put("source", &crate::core::text::without_userinfo(source));
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
    if let Some(licenses) = &unit.licenses {
        put("licenses", licenses);
    }
    labels
}

/// The platforms on the `Platforms:` lines of `docker buildx inspect`, without the
/// `*` that marks configured ones.
pub fn builder_platforms(inspect: &str) -> Vec<&str> {
    inspect
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Platforms:"))
        .flat_map(|list| list.split(','))
        .map(|p| p.trim().trim_end_matches('*'))
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_label_never_holds_the_remotes_credentials() {
        let source = |remote| source_url(remote).unwrap();
        assert_eq!(source("https://ci-token:SECRET@host/acme/app.git"), "https://host/acme/app");
        assert_eq!(
            source("https://gitlab-ci-token:glcbt-x@gitlab.example.test/g/app.git\n"),
            "https://gitlab.example.test/g/app"
        );
        assert_eq!(source("git@github.example.test:acme/app.git"), "https://github.example.test/acme/app");
        assert_eq!(source("oauth2:tok@host.test:acme/app"), "https://host.test/acme/app");
        assert_eq!(source("ssh://git@host.test:22/acme/app.git"), "ssh://host.test:22/acme/app");
        assert_eq!(source("https://host.test/acme/app"), "https://host.test/acme/app");
        assert_eq!(source_url("  "), None);
        let unit = crate::core::plan::tests::sample_unit();
        let labels = oci_labels(&unit, Some("https://u:SECRET@host.test/a"), None, "2026-01-01T00:00:00Z");
        assert_eq!(labels["org.opencontainers.image.source"], "https://host.test/a");
    }

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn unit() -> Unit {
        crate::core::plan::tests::sample_unit()
    }

    fn request<'a>(unit: &'a Unit, driver: &'a Driver, output: Output) -> PlatformBuild<'a> {
        PlatformBuild {
            unit,
            platform: "linux/arm64",
            pinned_dockerfile: None,
            driver,
            builder: None,
            parent_args: BTreeMap::from([("DEBIAN_IMAGE".into(), format!("localhost:5000/acme/debian@{DIGEST}"))]),
            labels: BTreeMap::from([("org.opencontainers.image.revision".into(), "abc".into())]),
            output,
            metadata_file: "target/xtask/meta/python-python3.13-arm64.json".into(),
            input_tag: None,
            release: false,
            export: None,
        }
    }

    #[test]
    fn docker_driver_pushes_a_staging_tag_with_inline_cache() {
        let u = unit();
        let argv = build_argv(&request(&u, &Driver::Docker, Output::Push)).unwrap().join(" ");
        assert_eq!(
            argv.replace(DIGEST, "<digest>"),
            "buildx build --platform linux/arm64 --file images/python/Dockerfile --progress plain --network host \
             --build-arg DEBIAN_IMAGE=localhost:5000/acme/debian@<digest> --build-arg PY=3.13 \
             --label org.opencontainers.image.revision=abc \
             --cache-from type=registry,ref=localhost:5000/acme/python:staging-python3.13-arm64 --cache-to type=inline \
             --tag localhost:5000/acme/python:staging-python3.13-arm64 --push --provenance=false \
             --metadata-file target/xtask/meta/python-python3.13-arm64.json images/python"
        );
        let mut pinned = request(&u, &Driver::Docker, Output::Push);
        pinned.pinned_dockerfile = Some("target/xtask/pinned/python-python3.13-arm64.Dockerfile".into());
        let argv = build_argv(&pinned).unwrap();
        let file = argv.iter().position(|a| a == "--file").unwrap() + 1;
        assert_eq!(argv[file], "target/xtask/pinned/python-python3.13-arm64.Dockerfile", "the pinned copy is built");
        assert_eq!(argv.last().unwrap(), "images/python", "in the unit's own context");
        // Another engine's own builder is reached through its docker context.
        let mut other = request(&u, &Driver::Docker, Output::Push);
        other.builder = Some("xtask");
        let joined = build_argv(&other).unwrap().join(" ");
        assert!(joined.starts_with("--context xtask buildx build --platform linux/arm64"), "{joined}");
    }

    #[test]
    fn only_a_registrys_5xx_counts_as_transient() {
        let failed = "#10 pushing 127.0.0.1:1/base:staging-arm64 with docker\n#10 ERROR: unexpected status from HEAD request to \
            http://127.0.0.1:1/v2/base/manifests/staging-arm64: 500 Internal Server Error\n------\n\
            ERROR: unexpected status from HEAD request to http://127.0.0.1:1/v2/base/manifests/staging-arm64: 500 Internal Server Error\n";
        assert!(transient_registry_failure(failed));
        assert!(!transient_registry_failure(
            "ERROR: failed to solve: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n"
        ));
        assert!(!transient_registry_failure("ERROR: 401 Unauthorized\n"), "a refused login stays an error");
        assert!(!transient_registry_failure("RUN echo 500 Internal Server Error\n"), "only buildx's own error line");
    }

    #[test]
    fn a_reproducible_build_exports_an_oci_layout_with_its_timestamps_rewritten() {
        let u = unit();
        let mut req = request(&u, &Driver::ContainerdStore, Output::Push);
        req.export =
            Some(Export { layout: "target/xtask/oci/python-python3.13-arm64".into(), epoch: Some(1700000000) });
        let joined = build_argv(&req).unwrap().join(" ");
        assert!(joined.contains("--build-arg SOURCE_DATE_EPOCH=1700000000"), "{joined}");
        assert!(
            joined.contains(
                "--output type=oci,dest=target/xtask/oci/python-python3.13-arm64,tar=false,rewrite-timestamp=true \
                 --provenance=false"
            ),
            "{joined}"
        );
        assert!(!joined.contains("--push") && !joined.contains("--tag"), "the layout is pushed by xtask: {joined}");
        assert!(joined.contains("mode=max,ignore-error=true"), "the registry cache is still written: {joined}");
        let drivers = |driver: Driver| {
            BTreeMap::from([("linux/amd64".to_string(), Driver::ContainerdStore), ("linux/arm64".to_string(), driver)])
        };
        assert!(check_reproducible(&drivers(Driver::ContainerdStore)).is_ok());
        let refused = check_reproducible(&drivers(Driver::Docker)).unwrap_err().to_string();
        assert!(
            refused.contains("linux/arm64 builds on the classic engine") && refused.contains("--engine xtask"),
            "{refused}"
        );
    }

    #[test]
    fn parents_named_literally_become_named_contexts_where_buildkit_has_them() {
        let mut u = unit();
        let names = vec!["localhost:5000/acme/debian:trixie".to_string()];
        u.parents = vec![crate::core::plan::Parent { arg: "DEBIAN_IMAGE".into(), unit: "debian:trixie".into(), names }];
        let pinned = format!("localhost:5000/acme/debian:trixie=docker-image://localhost:5000/acme/debian@{DIGEST}");
        let argv = build_argv(&request(&u, &Driver::ContainerdStore, Output::Push)).unwrap().join(" ");
        assert!(argv.contains(&format!("--build-context {pinned}")), "{argv}");
        let argv = build_argv(&request(&u, &Driver::Docker, Output::Push)).unwrap().join(" ");
        assert!(!argv.contains("--build-context"), "BuildKit v0.8 has no named contexts: {argv}");
        u.parents[0].names = vec!["--output=type=local".into()];
        assert!(
            build_argv(&request(&u, &Driver::ContainerdStore, Output::Push)).is_err(),
            "a name must be a reference"
        );
    }

    #[test]
    fn the_containerd_store_exports_a_registry_cache_and_provenance() {
        let u = unit();
        assert_eq!(
            Driver::Docker.with_store(r#"[["driver-type","io.containerd.snapshotter.v1"]]"#),
            Driver::ContainerdStore
        );
        assert_eq!(Driver::Docker.with_store(r#"[["Backing Filesystem","extfs"]]"#), Driver::Docker);
        let mut req = request(&u, &Driver::ContainerdStore, Output::Push);
        req.export = Some(Export { layout: "target/xtask/oci/python-python3.13-arm64".into(), epoch: None });
        let joined = build_argv(&req).unwrap().join(" ");
        let cache = "localhost:5000/acme/python-cache:buildcache-python3.13-arm64";
        assert!(joined.contains(&format!("--cache-from type=registry,ref={cache} --cache-to type=registry,ref={cache},mode=max,ignore-error=true")), "{joined}");
        // Exported for xtask to push, in OCI media types, with provenance.
        assert!(
            joined.contains(
                "--output type=oci,dest=target/xtask/oci/python-python3.13-arm64,tar=false --provenance=mode=min"
            ) && !joined.contains("type=inline")
                && !joined.contains("SOURCE_DATE_EPOCH"),
            "{joined}"
        );
        req.release = true;
        assert!(build_argv(&req).unwrap().join(" ").contains("--provenance=mode=max"), "full provenance for a release");
        req.builder = Some("xtask");
        assert!(build_argv(&req).unwrap().join(" ").starts_with("--context xtask buildx build"));
    }

    #[test]
    fn container_drivers_use_a_registry_cache_per_platform() {
        let mut u = unit();
        u.network = Network::Default;
        let driver = Driver::Container("docker-container".into());
        let mut req = request(&u, &driver, Output::Push);
        req.builder = Some("arm-native");
        let argv = build_argv(&req).unwrap();
        let joined = argv.join(" ");
        assert!(joined.starts_with("buildx build --builder arm-native --platform linux/arm64"), "{joined}");
        assert!(joined.contains("--cache-from type=registry,ref=localhost:5000/acme/python-cache:buildcache-python3.13-arm64 --cache-to type=registry,ref=localhost:5000/acme/python-cache:buildcache-python3.13-arm64,mode=max"), "{joined}");
        assert!(!joined.contains("--network"), "the default network passes no flag");
        // Build-only runs read the cache but never write it.
        let joined = build_argv(&request(&u, &driver, Output::None)).unwrap().join(" ");
        assert!(
            joined.contains("--cache-from") && !joined.contains("--cache-to") && !joined.contains("--push"),
            "{joined}"
        );
    }

    #[test]
    fn load_tags_the_image_with_every_unit_tag() {
        let u = unit();
        let argv = build_argv(&request(&u, &Driver::Docker, Output::Load)).unwrap();
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
    fn the_input_digest_tag_is_pushed_with_the_staging_tag() {
        let u = unit();
        let mut req = request(&u, &Driver::Docker, Output::Push);
        req.input_tag = Some(TagRef::new("localhost:5000/acme/python", "inputs-0123-arm64"));
        let joined = build_argv(&req).unwrap().join(" ");
        assert!(
            joined.contains("--tag localhost:5000/acme/python:staging-python3.13-arm64 --tag localhost:5000/acme/python:inputs-0123-arm64 --push"),
            "{joined}"
        );
    }

    #[test]
    fn secrets_pass_their_source_never_a_value() {
        let mut u = unit();
        u.secrets = BTreeMap::from([
            ("netrc".into(), BuildSecret::File("/root/.netrc".into())),
            ("npm_token".into(), BuildSecret::Env("NPM_TOKEN".into())),
            ("site".into(), BuildSecret::File("images/python/site.key".into())),
        ]);
        let joined = build_argv(&request(&u, &Driver::Docker, Output::Push)).unwrap().join(" ");
        assert!(
            joined.contains(
                "--label org.opencontainers.image.revision=abc --secret id=netrc,src=/root/.netrc \
                 --secret id=npm_token,env=NPM_TOKEN --secret id=site,src=images/python/site.key --cache-from"
            ),
            "{joined}"
        );

        let env = |name: &str| match name {
            "NPM_TOKEN" => Some("s3cr3t-value".into()),
            "EMPTY" => Some(std::ffi::OsString::new()),
            _ => None,
        };
        let present = |path: &camino::Utf8Path| path == "/root/.netrc" || path == "/ws/images/python/site.key";
        assert!(check_secrets(&[u.clone()], "/ws".into(), env, present).is_ok());
        let cases = [
            (
                BuildSecret::Env("UNSET".into()),
                "secret \"x\" of python:python3.13: the environment variable UNSET is not set",
            ),
            (BuildSecret::Env("EMPTY".into()), "the environment variable EMPTY is empty"),
            (BuildSecret::File("/nope".into()), "its file /nope does not exist or is not a regular file"),
            (BuildSecret::File("~/.netrc".into()), "its file ~/.netrc is in the home directory, but HOME is not set"),
        ];
        for (secret, message) in cases {
            u.secrets = BTreeMap::from([("x".into(), secret)]);
            let err = check_secrets(&[u.clone()], "/ws".into(), env, present).unwrap_err().to_string();
            assert!(err.starts_with("images/python/image.toml: ") && err.contains(message), "{err}");
            assert!(err.contains("hint: provide it before building"), "{err}");
            assert!(!err.contains("s3cr3t-value"), "{err}");
        }
    }

    #[test]
    fn references_are_checked_before_they_reach_the_argv() {
        let mut u = unit();
        u.context = "-rf".into();
        let argv = build_argv(&request(&u, &Driver::Docker, Output::None)).unwrap();
        assert_eq!(argv.last().map(String::as_str), Some("./-rf"), "a context never reads as a flag");

        let mut req = request(&u, &Driver::Docker, Output::Push);
        req.parent_args.insert("BASE_IMAGE".into(), "localhost:5000/base@sha256:short".into());
        let err = build_argv(&req).unwrap_err().to_string();
        assert!(err.starts_with("refusing to pass the image reference \"localhost:5000/base@sha256:short\""), "{err}");
        let mut req = request(&u, &Driver::Docker, Output::Push);
        req.input_tag = Some(TagRef::new("localhost:5000/acme/python", "-x"));
        assert!(build_argv(&req).unwrap_err().to_string().contains("invalid tag \"-x\""));
        u.repository = "--output=type=local,dest=/".into();
        let err = build_argv(&request(&u, &Driver::Docker, Output::None)).unwrap_err().to_string();
        assert!(err.contains("refusing to pass the image reference"), "{err}");
    }

    #[test]
    fn staging_refs_and_slugs() {
        let mut u = unit();
        assert_eq!(staging_ref(&u, "linux/arm/v7"), "localhost:5000/acme/python:staging-python3.13-arm-v7");
        u.variant = None;
        assert_eq!(staging_ref(&u, "linux/amd64"), "localhost:5000/acme/python:staging-amd64");
        // The plan decides the cache repository and tag prefix (`core::plan::cache_prefix`).
        assert_eq!(cache_ref(&u, "linux/arm/v7"), "localhost:5000/acme/python-cache:buildcache-python3.13-arm-v7");
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
        let upper = format!("{{\"containerimage.digest\": \"sha256:{}\"}}", "A".repeat(64));
        assert!(digest_from_metadata(&upper).unwrap_err().to_string().contains("64 lower-case hex digits"));
    }

    #[test]
    fn labels() {
        let mut u = unit();
        u.version = Some("1.2.3".into());
        let labels = oci_labels(&u, Some("https://example.test/repo"), Some("abc"), "2026-11-24T00:00:00Z");
        let keys: Vec<&str> = labels.keys().map(|k| k.trim_start_matches("org.opencontainers.image.")).collect();
        assert_eq!(keys, ["created", "description", "revision", "source", "title", "version"]);
        assert_eq!(labels["org.opencontainers.image.title"], "python");
        u.licenses = Some("PSF-2.0 AND 0BSD".into());
        let labels = oci_labels(&u, None, None, "2026-11-24T00:00:00Z");
        assert_eq!(labels["org.opencontainers.image.licenses"], "PSF-2.0 AND 0BSD");
    }

    #[test]
    fn builder_platforms_come_from_every_platforms_line() {
        let inspect = "Name:          default\nDriver:        docker\n\nNodes:\nName:             default\n\
                       Status:           running\nPlatforms:        linux/amd64*, linux/386, linux/arm64\n";
        assert_eq!(builder_platforms(inspect), ["linux/amd64", "linux/386", "linux/arm64"]);
        assert!(builder_platforms("Name: default\n").is_empty());
    }
}
