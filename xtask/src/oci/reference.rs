//! Image references as docker reads them, `host[:port]/path[:tag][@sha256:<hex>]`, checked
//! against the OCI distribution grammar before any of them reaches a command line: a
//! reference that docker would read differently (another registry, a flag) is refused.

/// The OCI limit on a whole name, registry included.
const NAME_MAX: usize = 255;

/// A checked reference, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

/// Parses a fully qualified reference: the registry is required, because docker sends a
/// reference whose first part does not look like a host to Docker Hub.
pub fn parse(reference: &str) -> Result<Reference<'_>, String> {
    let (name, tag, digest) = split_reference(reference);
    check_name_length(name)?;
    let Some((registry, repository)) = name.split_once('/') else {
        return Err("it names no registry (`host[:port]/path`)".to_string());
    };
    check_registry_host(registry)?;
    check_repository(repository).map_err(|why| format!("invalid repository {repository:?}: {why}"))?;
    if let Some(tag) = tag {
        check_tag(tag).map_err(|why| format!("invalid tag {tag:?}: {why}"))?;
    }
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    Ok(Reference { registry, repository, tag, digest })
}

/// `name[:tag][@digest]` split into its three parts, unchecked.
fn split_reference(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    // A `:` after the last `/` starts the tag; one before it is the registry's port.
    match name_tag.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t), digest),
        _ => (name_tag, None, digest),
    }
}

/// Docker Hub, as references name it.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub serves the distribution API: `docker.io` itself does not.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key docker keeps Docker Hub logins under, in `config.json` and in credential helpers.
const DOCKER_HUB_LOGIN: &str = "https://index.docker.io/v1/";

/// The host that serves `registry`'s distribution API: Docker Hub's names map to
/// `registry-1.docker.io`, every other registry serves its own.
pub fn api_host(registry: &str) -> &str {
    if is_docker_hub(registry) {
        DOCKER_HUB_API
    } else {
        registry
    }
}

/// The key docker stores `registry`'s login under: `https://index.docker.io/v1/` for Docker
/// Hub, the host itself elsewhere.
pub fn login_key(registry: &str) -> &str {
    if is_docker_hub(registry) {
        DOCKER_HUB_LOGIN
    } else {
        registry
    }
}

/// `docker.io` and the two other names docker knows Docker Hub by.
pub fn is_docker_hub(registry: &str) -> bool {
    ["docker.io", "index.docker.io", "registry-1.docker.io"].iter().any(|h| registry.eq_ignore_ascii_case(h))
}

/// A reference as a Dockerfile writes it, normalized the way docker normalizes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageName {
    /// `docker.io` for Docker Hub, else the host as written (lower-cased).
    pub registry: String,
    /// With Docker Hub's `library/` for official images.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageName {
    /// `registry/repository`, what `org.opencontainers.image.base.name` and lookups compare.
    pub fn full(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag or digest to ask the registry for: the digest when both are written (docker
    /// ignores the tag then), `latest` when neither is.
    pub fn reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// `registry/repository[:tag]@digest`: pinned, with the tag kept for readers.
    pub fn pinned(&self, digest: &str) -> String {
        match &self.tag {
            Some(tag) => format!("{}:{tag}@{digest}", self.full()),
            None => format!("{}@{digest}", self.full()),
        }
    }
}

impl std::fmt::Display for ImageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.full())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Normalizes a reference as docker does (distribution's `ParseNormalizedNamed`): a first
/// part without `.` or `:` that is not `localhost` is a Docker Hub namespace, `index.docker.io`
/// is `docker.io`, and a Docker Hub name of one part is an official image under `library/`.
pub fn normalize(reference: &str) -> Result<ImageName, String> {
    let (name, tag, digest) = split_reference(reference);
    let (registry, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.to_ascii_lowercase() != first =>
        {
            (first.to_ascii_lowercase(), rest)
        }
        _ => (DOCKER_HUB.to_string(), name),
    };
    let registry = if is_docker_hub(&registry) { DOCKER_HUB.to_string() } else { registry };
    check_registry_host(&registry)?;
    let repository =
        if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.into() };
    check_repository(&repository).map_err(|why| format!("invalid repository {repository:?}: {why}"))?;
    check_name_length(&format!("{registry}/{repository}"))?;
    if let Some(tag) = tag {
        check_tag(tag).map_err(|why| format!("invalid tag {tag:?}: {why}"))?;
    }
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    Ok(ImageName { registry, repository, tag: tag.map(str::to_string), digest: digest.map(str::to_string) })
}

/// A whole name, `registry/namespace/repository`, within the OCI limit.
pub fn check_name_length(name: &str) -> Result<(), String> {
    if name.len() > NAME_MAX {
        return Err(format!("it is {} characters long, more than the {NAME_MAX} OCI allows", name.len()));
    }
    Ok(())
}

/// `sha256:` and 64 lower-case hex digits: the only digests registries here produce.
pub fn check_digest(digest: &str) -> Result<(), String> {
    let hex = digest.strip_prefix("sha256:").ok_or_else(|| format!("digest {digest:?} is not `sha256:<hex>`"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(format!("digest {digest:?} does not have 64 lower-case hex digits"));
    }
    Ok(())
}

/// Checks a repository path against the OCI distribution grammar.
pub fn check_repository(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".to_string());
    }
    if name.len() > 255 {
        return Err("it is longer than 255 characters".to_string());
    }
    for part in name.split('/') {
        let ok = !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
            && part.as_bytes()[0].is_ascii_alphanumeric()
            && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric()
            && separators_valid(part);
        if !ok {
            return Err(format!("{part:?} breaks the OCI name grammar"));
        }
    }
    Ok(())
}

/// Between alphanumerics: one `.`, one or two `_`, or any number of `-`.
fn separators_valid(part: &str) -> bool {
    part.split(|c: char| c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .all(|sep| sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-'))
}

/// Checks `host[:port]` for a registry, as docker tells a registry from a path: a
/// bare word such as `myregistry` would send every push to Docker Hub.
pub fn check_registry_host(host: &str) -> Result<(), String> {
    let invalid = || format!("invalid registry host {host:?}");
    if host.contains("://") {
        return Err(format!("registry {host:?} is a URL: write the host alone, without the scheme"));
    }
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (ip, tail) = rest.split_once(']').ok_or_else(invalid)?;
            if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
                return Err(invalid());
            }
            (None, if tail.is_empty() { None } else { Some(tail.strip_prefix(':').ok_or_else(invalid)?) })
        }
        None => match host.split_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        },
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
            return Err(format!("invalid port {port:?} in registry {host:?}"));
        }
    }
    let Some(name) = name else { return Ok(()) };
    let label_ok =
        |l: &str| l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !l.starts_with('-') && !l.ends_with('-');
    if !name.split('.').all(|l| !l.is_empty() && label_ok(l)) {
        return Err(invalid());
    }
    if port.is_none() && !name.contains('.') && name != "localhost" {
        return Err(format!(
            "docker would read {host:?} as a Docker Hub namespace, not a registry host: add the port or the domain"
        ));
    }
    Ok(())
}

/// Checks a tag against the OCI grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let Some(first) = tag.bytes().next() else { return Err("a tag cannot be empty".to_string()) };
    if tag.len() > 128 {
        return Err("a tag has at most 128 characters".to_string());
    }
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return Err("a tag starts with a letter, digit or `_`".to_string());
    }
    if let Some(bad) = tag.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!("{bad:?} is not allowed in a tag"));
    }
    Ok(())
}

/// Splits `host[:port]/path/name` into the registry host and the repository path.
pub fn split_repository(repository: &str) -> (&str, &str) {
    repository.split_once('/').unwrap_or(("", repository))
}

/// The repository a reference names, `host[:port]/path`: tag and digest left out, the host
/// lower-cased (registries compare hosts without case). A name without a host is returned as
/// written. Not checked: plan and lint compare names with it.
pub fn repository_of(reference: &str) -> String {
    let (name, _, _) = split_reference(reference);
    match name.split_once('/') {
        Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => {
            format!("{}/{path}", host.to_ascii_lowercase())
        }
        _ => name.to_string(),
    }
}

/// `localhost`, `127.x.x.x` and `[::1]`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    name == "localhost" || name == "::1" || name.parse::<::core::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// One tag of a repository, `registry/path:tag`: what the plan computes, publish moves and
/// verify reads. Split once, here, instead of at every use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TagRef {
    /// `registry/path`.
    repository: String,
    tag: String,
}

impl TagRef {
    /// A tag of `repository` (`registry/path`), both already checked by the plan.
    pub fn new(repository: impl Into<String>, tag: impl Into<String>) -> TagRef {
        TagRef { repository: repository.into(), tag: tag.into() }
    }

    /// Reads `registry/path:tag` from outside (a release record, a digest file), with every
    /// name check; a digest or a missing tag is refused.
    pub fn parse(full: &str) -> Result<TagRef, String> {
        let parsed = parse(full).map_err(|why| format!("{full:?} is not a tag reference: {why}"))?;
        match (parsed.tag, parsed.digest) {
            (Some(tag), None) => Ok(TagRef::new(format!("{}/{}", parsed.registry, parsed.repository), tag)),
            _ => Err(format!("{full:?} is not a tag reference: write `registry/path:tag`")),
        }
    }

    /// `registry/path`, without the tag.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The repository's path on its registry, `namespace/name`.
    pub fn path(&self) -> &str {
        split_repository(&self.repository).1
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl std::fmt::Display for TagRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

impl serde::Serialize for TagRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl PartialEq<&str> for TagRef {
    fn eq(&self, other: &&str) -> bool {
        other.strip_prefix(self.repository.as_str()).and_then(|rest| rest.strip_prefix(':')) == Some(self.tag.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_of_leaves_out_tag_and_digest() {
        assert_eq!(repository_of("LocalHost:5000/acme/base:main"), "localhost:5000/acme/base");
        assert_eq!(repository_of("r.test/a/b@sha256:0123"), "r.test/a/b");
        assert_eq!(repository_of("r.test:5000/a/b:1@sha256:0123"), "r.test:5000/a/b");
        assert_eq!(repository_of("127.0.0.1:5000/b"), "127.0.0.1:5000/b");
        assert_eq!(repository_of("acme/base:1"), "acme/base");
        assert_eq!(repository_of("debian"), "debian");
    }

    #[test]
    fn accepts_what_the_build_produces() {
        let digest = format!("sha256:{}", "0a".repeat(32));
        let pinned = format!("localhost:5000/acme/python@{digest}");
        let parsed = parse(&pinned).unwrap();
        assert_eq!(
            parsed,
            Reference { registry: "localhost:5000", repository: "acme/python", tag: None, digest: Some(&digest) }
        );
        let parsed = parse("127.0.0.1:41234/base:staging-python3.13-arm64").unwrap();
        assert_eq!((parsed.repository, parsed.tag), ("base", Some("staging-python3.13-arm64")));
        for ok in ["ghcr.io/a/b:1.2.3", "[::1]:5000/x:latest", "r.test/a.b_c__d--e/f"] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
        let both = format!("r.test/app:1.0@{digest}");
        assert_eq!(parse(&both).unwrap().tag, Some("1.0"));
    }

    #[test]
    fn refuses_what_docker_would_misread() {
        let long = format!("r.test/{}:x", "a".repeat(250));
        let cases = [
            ("base:latest", "names no registry"),
            ("--help/base:latest", "invalid registry host"),
            ("myregistry/base:latest", "Docker Hub"),
            ("r.test/Base:latest", "breaks the OCI name grammar"),
            ("r.test/base:-latest", "invalid tag"),
            ("r.test/base:la test", "invalid tag"),
            ("r.test/base@sha256:abc", "64 lower-case hex digits"),
            ("r.test/base@md5:0123", "is not `sha256:<hex>`"),
            (long.as_str(), "more than the 255 OCI allows"),
            ("r.test/base:", "a tag cannot be empty"),
            ("r.test/", "it is empty"),
        ];
        for (reference, why) in cases {
            let err = parse(reference).unwrap_err();
            assert!(err.contains(why), "{reference:?} gave {err:?}, expected {why:?}");
        }
        assert!(check_digest(&format!("sha256:{}", "A".repeat(64))).is_err(), "upper-case hex");
    }

    #[test]
    fn tag_references_split_once_and_print_whole() {
        let tag = TagRef::parse("localhost:5000/acme/app:1.2").unwrap();
        assert_eq!((tag.repository(), tag.path(), tag.tag()), ("localhost:5000/acme/app", "acme/app", "1.2"));
        assert_eq!(tag.to_string(), "localhost:5000/acme/app:1.2");
        assert!(tag == "localhost:5000/acme/app:1.2" && tag != "localhost:5000/acme/app:1.3");
        assert_eq!(serde_json::to_string(&tag).unwrap(), "\"localhost:5000/acme/app:1.2\"");
        assert!(TagRef::parse("localhost:5000/acme/app").unwrap_err().contains("registry/path:tag"));
        assert!(TagRef::parse(&format!("localhost:5000/a@sha256:{}", "0".repeat(64))).is_err());
        assert!(TagRef::parse("app:1.2").is_err(), "no registry");
    }

    #[test]
    fn names_normalize_as_docker_normalizes_them() {
        let name = |r: &str| normalize(r).map(|n| (n.full(), n.reference().to_string()));
        let hub = |path: &str, reference: &str| Ok((format!("docker.io/{path}"), reference.to_string()));
        assert_eq!(name("python:3.11-slim"), hub("library/python", "3.11-slim"));
        assert_eq!(name("python"), hub("library/python", "latest"));
        assert_eq!(name("docker.io/python"), hub("library/python", "latest"));
        assert_eq!(name("index.docker.io/library/python:3"), hub("library/python", "3"));
        assert_eq!(name("bitnami/postgresql:16"), hub("bitnami/postgresql", "16"));
        assert_eq!(name("docker.io/bitnami/postgresql:16"), hub("bitnami/postgresql", "16"));
        assert_eq!(name("ghcr.io/acme/api:1"), Ok(("ghcr.io/acme/api".into(), "1".into())));
        assert_eq!(name("localhost/acme/api"), Ok(("localhost/acme/api".into(), "latest".into())));
        assert_eq!(name("127.0.0.1:5001/debian:12"), Ok(("127.0.0.1:5001/debian".into(), "12".into())));
        let digest = format!("sha256:{}", "0a".repeat(32));
        let pinned = normalize(&format!("ubuntu:24.04@{digest}")).unwrap();
        assert_eq!(pinned.reference(), digest, "the digest wins over the tag, as in docker");
        assert_eq!(pinned.to_string(), format!("docker.io/library/ubuntu:24.04@{digest}"));
        assert_eq!(normalize("ubuntu").unwrap().pinned(&digest), format!("docker.io/library/ubuntu@{digest}"));
        for bad in ["Python:3", "python:-x", "r.test/a@sha256:1", "docker.io/"] {
            assert!(normalize(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn docker_hub_is_served_and_logged_in_under_its_own_names() {
        for hub in ["docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"] {
            assert_eq!((api_host(hub), login_key(hub)), ("registry-1.docker.io", "https://index.docker.io/v1/"));
        }
        for other in ["ghcr.io", "quay.io", "localhost:5000", "public.ecr.aws"] {
            assert_eq!((api_host(other), login_key(other)), (other, other));
        }
    }
}
