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
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    // A `:` after the last `/` starts the tag; one before it is the registry's port.
    let (name, tag) = match name_tag.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (name_tag, None),
    };
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
    let name = reference.split_once('@').map_or(reference, |(name, _)| name);
    let name = match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    };
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
}
