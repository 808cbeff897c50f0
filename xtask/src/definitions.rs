//! The workspace settings (`[workspace.metadata.images]` in Cargo.toml) and the
//! image definitions (`images/<dir>/image.toml`).
//!
//! `validate_image` and `validate_settings` are pure: text in, model or error
//! out. Every error names the file, line, column and key, and says how to fix it.
//! `load` is the thin shell that reads the files.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use toml::Spanned;

use crate::diag::{nearest, LineCol};

/// Everything `plan` needs, read from disk once.
#[derive(Debug, Clone)]
pub struct Definitions {
    pub settings: Settings,
    /// Sorted by directory name, so plans are stable.
    pub images: Vec<ImageDef>,
    /// The text of every Dockerfile an image uses, by workspace-relative path.
    pub dockerfiles: BTreeMap<Utf8PathBuf, String>,
}

/// `[workspace.metadata.images]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub registry: String,
    pub namespace: String,
    pub platforms: Vec<String>,
    pub network: Network,
    pub tags: TagTemplates,
}

/// Tag templates per event; variant templates apply to named variants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagTemplates {
    pub release: Vec<String>,
    pub release_variant: Vec<String>,
    pub branch: Vec<String>,
    pub branch_variant: Vec<String>,
    pub pull_request: Vec<String>,
    pub pull_request_variant: Vec<String>,
}

impl Default for TagTemplates {
    fn default() -> Self {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        TagTemplates {
            release: list(&["latest", "{version}", "{major}.{minor}", "{major}"]),
            release_variant: list(&["{variant}", "{version}-{variant}"]),
            branch: list(&["{branch}", "{branch}-{sha}"]),
            branch_variant: list(&["{branch}-{variant}"]),
            pull_request: list(&["pr-{pr}"]),
            pull_request_variant: list(&["pr-{pr}-{variant}"]),
        }
    }
}

/// Network mode for RUN steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Hermetic: the default.
    None,
    /// Needed by steps that download (apt, pip) on an engine without a bridge.
    Host,
    /// Whatever the builder's default is.
    Default,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Host => "host",
            Network::Default => "default",
        }
    }
}

/// One `images/<dir>/image.toml`, resolved against the workspace settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDef {
    /// The directory name: the image's identity in `depends_on` and on the command line.
    pub name: String,
    /// Workspace-relative path of the image directory.
    pub dir: Utf8PathBuf,
    pub description: Option<String>,
    /// Repository path below registry and namespace.
    pub repository: String,
    pub dockerfile: Utf8PathBuf,
    /// Workspace-relative build context.
    pub context: Utf8PathBuf,
    pub platforms: Vec<String>,
    pub version: Option<String>,
    pub depends_on: Vec<Dependency>,
    pub network: Network,
    pub args: BTreeMap<String, String>,
    /// Never empty: an image without `[[variants]]` has one implicit variant.
    pub variants: Vec<Variant>,
    pub tags: TagTemplates,
    pub rootfs: Option<Rootfs>,
}

impl ImageDef {
    pub fn default_variant(&self) -> &Variant {
        self.variants.iter().find(|v| v.default).expect("validated: exactly one default variant")
    }

    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name.as_deref() == Some(name))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// `None` for the implicit variant of an image without `[[variants]]`.
    pub name: Option<String>,
    /// Extra names that get the variant tags too (e.g. `12` for `bookworm`).
    pub aliases: Vec<String>,
    pub args: BTreeMap<String, String>,
    /// Workspace-relative Dockerfile of this variant.
    pub dockerfile: Utf8PathBuf,
    pub default: bool,
    /// Parents of this variant; they replace image-level entries for the same image.
    pub depends_on: Vec<Dependency>,
}

/// An in-repo parent: `name` (its default variant) or `name:variant`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dependency {
    pub image: String,
    pub variant: Option<String>,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.variant {
            Some(v) => write!(f, "{}:{v}", self.image),
            None => f.write_str(&self.image),
        }
    }
}

/// A root filesystem assembled from Debian packages, for images built `FROM scratch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    pub packages: Vec<String>,
}

/// A definition error: where it is, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    pub file: Utf8PathBuf,
    pub at: Option<LineCol>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(at) = self.at {
            write!(f, ":{at}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionError {}

/// Builds errors that point into one file.
struct Source<'a> {
    file: &'a Utf8Path,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, span: Option<std::ops::Range<usize>>, message: String, hint: Option<String>) -> DefinitionError {
        DefinitionError { file: self.file.to_owned(), at: span.map(|s| LineCol::of(self.text, s.start)), message, hint }
    }

    fn at<T>(&self, value: &Spanned<T>, message: String, hint: impl Into<Option<String>>) -> DefinitionError {
        self.error(Some(value.span()), message, hint.into())
    }

    /// Turns a serde/TOML error into one that names the key and suggests a fix.
    fn parse_error(&self, err: toml::de::Error) -> DefinitionError {
        let message = err.message().trim_end().to_string();
        let span = err.span();
        if let Some(unknown) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
            let expected: Vec<&str> = message
                .split_once("expected")
                .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
                .unwrap_or_default();
            let hint = match nearest(unknown, expected.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? Valid keys here: {}", expected.join(", ")),
                None if expected.is_empty() => "remove it".to_string(),
                None => format!("remove it, or use one of: {}", expected.join(", ")),
            };
            return self.error(span, format!("unknown key `{unknown}`"), Some(hint));
        }
        let hint = if message.contains("missing field") {
            Some("add the missing key".to_string())
        } else if message.starts_with("invalid type") {
            Some("check the value's type against the image.toml reference in README.md".to_string())
        } else {
            None
        };
        self.error(span, message, hint)
    }
}

// ---- Workspace settings -------------------------------------------------------------------

#[derive(Deserialize)]
struct CargoManifest {
    workspace: Option<CargoWorkspace>,
}

#[derive(Deserialize)]
struct CargoWorkspace {
    metadata: Option<CargoMetadata>,
}

#[derive(Deserialize)]
struct CargoMetadata {
    images: Option<RawSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    registry: Option<Spanned<String>>,
    namespace: Option<Spanned<String>>,
    platforms: Option<Vec<Spanned<String>>>,
    network: Option<Network>,
    tags: Option<RawTags>,
}

/// Tag templates where every key is optional, for overriding the defaults.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTags {
    release: Option<Vec<Spanned<String>>>,
    release_variant: Option<Vec<Spanned<String>>>,
    branch: Option<Vec<Spanned<String>>>,
    branch_variant: Option<Vec<Spanned<String>>>,
    pull_request: Option<Vec<Spanned<String>>>,
    pull_request_variant: Option<Vec<Spanned<String>>>,
}

/// Parses `[workspace.metadata.images]` out of the workspace Cargo.toml text.
pub fn validate_settings(file: &Utf8Path, text: &str) -> Result<Settings, DefinitionError> {
    let src = Source { file, text };
    let manifest: CargoManifest = toml::from_str(text).map_err(|e| src.parse_error(e))?;
    let raw = manifest.workspace.and_then(|w| w.metadata).and_then(|m| m.images).ok_or_else(|| {
        src.error(
            None,
            "no [workspace.metadata.images] table".to_string(),
            Some("add one with at least `platforms = [\"linux/amd64\", \"linux/arm64\"]`".to_string()),
        )
    })?;
    let registry = match raw.registry {
        Some(r) => {
            check_registry_host(r.get_ref())
                .map_err(|why| src.at(&r, why, "use host[:port], e.g. \"localhost:5000\"".to_string()))?;
            r.into_inner()
        }
        None => "localhost:5000".to_string(),
    };
    let namespace = match raw.namespace {
        Some(ns) => {
            if !ns.get_ref().is_empty() {
                check_repository(ns.get_ref())
                    .map_err(|why| src.at(&ns, format!("invalid namespace: {why}"), REPOSITORY_HINT.to_string()))?;
            }
            ns.into_inner()
        }
        None => String::new(),
    };
    let platforms = match raw.platforms {
        Some(list) => validate_platforms(&src, list)?,
        None => vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
    };
    let tags = merge_tags(&src, &TagTemplates::default(), raw.tags.unwrap_or_default())?;
    Ok(Settings { registry, namespace, platforms, network: raw.network.unwrap_or(Network::None), tags })
}

fn merge_tags(src: &Source<'_>, base: &TagTemplates, raw: RawTags) -> Result<TagTemplates, DefinitionError> {
    let pick = |over: Option<Vec<Spanned<String>>>, base: &Vec<String>| -> Result<Vec<String>, DefinitionError> {
        let Some(over) = over else { return Ok(base.clone()) };
        over.into_iter()
            .map(|t| {
                crate::tags::check_template(t.get_ref()).map_err(|why| {
                    src.at(&t, format!("invalid tag template {:?}: {why}", t.get_ref()), TEMPLATE_HINT.to_string())
                })?;
                Ok(t.into_inner())
            })
            .collect()
    };
    Ok(TagTemplates {
        release: pick(raw.release, &base.release)?,
        release_variant: pick(raw.release_variant, &base.release_variant)?,
        branch: pick(raw.branch, &base.branch)?,
        branch_variant: pick(raw.branch_variant, &base.branch_variant)?,
        pull_request: pick(raw.pull_request, &base.pull_request)?,
        pull_request_variant: pick(raw.pull_request_variant, &base.pull_request_variant)?,
    })
}

const TEMPLATE_HINT: &str = "templates are tag text with placeholders {version} {major} {minor} {patch} {variant} {branch} {sha} {pr} {timestamp}";
const REPOSITORY_HINT: &str =
    "use lowercase letters, digits and single separators (`.`, `_`, `__`, `-`), with `/` between path parts";

// ---- image.toml ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    description: Option<String>,
    repository: Option<Spanned<String>>,
    dockerfile: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
    platforms: Option<Vec<Spanned<String>>>,
    version: Option<Spanned<String>>,
    depends_on: Option<Vec<Spanned<String>>>,
    network: Option<Network>,
    args: Option<BTreeMap<Spanned<String>, String>>,
    variants: Option<Vec<RawVariant>>,
    tags: Option<RawTags>,
    rootfs: Option<RawRootfs>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: Spanned<String>,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
    args: Option<BTreeMap<Spanned<String>, String>>,
    dockerfile: Option<Spanned<String>>,
    default: Option<Spanned<bool>>,
    depends_on: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRootfs {
    packages: Vec<Spanned<String>>,
}

/// Parses and checks one image.toml. `dir` is the workspace-relative image
/// directory; its last component is the image name.
pub fn validate_image(
    file: &Utf8Path,
    text: &str,
    dir: &Utf8Path,
    settings: &Settings,
) -> Result<ImageDef, DefinitionError> {
    let src = Source { file, text };
    let raw: RawImage = toml::from_str(text).map_err(|e| src.parse_error(e))?;
    let name = dir.file_name().unwrap_or_default().to_string();
    if let Err(why) = check_repository(&name) {
        return Err(src.error(
            None,
            format!("image directory name {name:?} is not a valid image name: {why}"),
            Some(format!("rename the directory: {REPOSITORY_HINT}")),
        ));
    }

    let repository = match raw.repository {
        Some(r) => {
            check_repository(r.get_ref())
                .map_err(|why| src.at(&r, format!("invalid repository: {why}"), REPOSITORY_HINT.to_string()))?;
            r.into_inner()
        }
        None => name.clone(),
    };
    let context = match &raw.context {
        Some(c) => inside(&src, c, dir, "context")?,
        None => dir.to_owned(),
    };
    let dockerfile = match &raw.dockerfile {
        Some(d) => inside(&src, d, dir, "dockerfile")?,
        None => dir.join("Dockerfile"),
    };
    let platforms = match raw.platforms {
        Some(list) => validate_platforms(&src, list)?,
        None => settings.platforms.clone(),
    };
    let version = match raw.version {
        Some(v) => {
            crate::tags::Version::parse(v.get_ref()).map_err(|why| {
                src.at(
                    &v,
                    format!("invalid version {:?}: {why}", v.get_ref()),
                    "use semantic versioning, e.g. \"1.4.2\" or \"2.0.0-rc.1\"".to_string(),
                )
            })?;
            Some(v.into_inner())
        }
        None => None,
    };
    let depends_on = parse_dependencies(&src, raw.depends_on.unwrap_or_default(), &name)?;
    let args = validate_args(&src, raw.args.unwrap_or_default())?;
    let tags = merge_tags(&src, &settings.tags, raw.tags.unwrap_or_default())?;

    let variants = match raw.variants {
        None => vec![Variant {
            name: None,
            aliases: vec![],
            args: BTreeMap::new(),
            dockerfile: dockerfile.clone(),
            default: true,
            depends_on: depends_on.clone(),
        }],
        Some(list) if list.is_empty() => {
            return Err(src.error(
                None,
                "`variants` is empty".to_string(),
                Some("remove `variants`, or add a [[variants]] table".to_string()),
            ))
        }
        Some(list) => validate_variants(&src, list, dir, &dockerfile, &depends_on, &name)?,
    };
    let rootfs = match raw.rootfs {
        Some(r) if r.packages.is_empty() => {
            return Err(src.error(
                None,
                "[rootfs] `packages` is empty".to_string(),
                Some("list the Debian packages to unpack, e.g. [\"busybox-static\"]".to_string()),
            ))
        }
        Some(r) => Some(Rootfs { packages: r.packages.into_iter().map(Spanned::into_inner).collect() }),
        None => None,
    };

    Ok(ImageDef {
        name,
        dir: dir.to_owned(),
        description: raw.description,
        repository,
        dockerfile,
        context,
        platforms,
        version,
        depends_on,
        network: raw.network.unwrap_or(settings.network),
        args,
        variants,
        tags,
        rootfs,
    })
}

fn validate_variants(
    src: &Source<'_>,
    list: Vec<RawVariant>,
    dir: &Utf8Path,
    image_dockerfile: &Utf8Path,
    image_depends_on: &[Dependency],
    image: &str,
) -> Result<Vec<Variant>, DefinitionError> {
    let mut variants: Vec<Variant> = Vec::new();
    let mut names: Vec<Spanned<String>> = Vec::new();
    let mut defaults = Vec::new();
    for raw in list {
        for tag_name in std::iter::once(&raw.name).chain(&raw.aliases) {
            crate::tags::check_tag(tag_name.get_ref()).map_err(|why| {
                src.at(
                    tag_name,
                    format!("invalid variant name {:?}: {why}", tag_name.get_ref()),
                    "variant names become tags: use letters, digits, `.`, `_` and `-`".to_string(),
                )
            })?;
            if let Some(first) = names.iter().find(|n| n.get_ref() == tag_name.get_ref()) {
                let at = LineCol::of(src.text, first.span().start);
                return Err(src.at(
                    tag_name,
                    format!("variant name {:?} is used twice (first at line {})", tag_name.get_ref(), at.line),
                    "give each variant and alias a distinct name".to_string(),
                ));
            }
            names.push(tag_name.clone());
        }
        if let Some(d) = raw.default.as_ref().filter(|d| *d.get_ref()) {
            defaults.push(d.clone());
        }
        let dockerfile = match &raw.dockerfile {
            Some(d) => inside(src, d, dir, "dockerfile")?,
            None => image_dockerfile.to_owned(),
        };
        let own = parse_dependencies(src, raw.depends_on.unwrap_or_default(), image)?;
        let mut depends_on: Vec<Dependency> =
            image_depends_on.iter().filter(|d| !own.iter().any(|o| o.image == d.image)).cloned().collect();
        depends_on.extend(own);
        variants.push(Variant {
            name: Some(raw.name.into_inner()),
            aliases: raw.aliases.into_iter().map(Spanned::into_inner).collect(),
            args: validate_args(src, raw.args.unwrap_or_default())?,
            dockerfile,
            default: raw.default.is_some_and(Spanned::into_inner),
            depends_on,
        });
    }
    match defaults.as_slice() {
        [_] => Ok(variants),
        [] => Err(src.error(
            None,
            "no variant is marked `default = true`".to_string(),
            Some("mark exactly one [[variants]] entry with `default = true`".to_string()),
        )),
        [first, second, ..] => {
            let at = LineCol::of(src.text, first.span().start);
            Err(src.at(
                second,
                format!("more than one variant is marked `default = true` (another at line {})", at.line),
                "keep `default = true` on exactly one variant".to_string(),
            ))
        }
    }
}

fn parse_dependencies(
    src: &Source<'_>,
    list: Vec<Spanned<String>>,
    image: &str,
) -> Result<Vec<Dependency>, DefinitionError> {
    list.into_iter()
        .map(|entry| {
            let (dep_image, variant) = match entry.get_ref().split_once(':') {
                Some((i, v)) => (i.to_string(), Some(v.to_string())),
                None => (entry.get_ref().clone(), None),
            };
            let bad = check_repository(&dep_image).is_err()
                || variant.as_deref().is_some_and(|v| crate::tags::check_tag(v).is_err());
            if bad {
                return Err(src.at(
                    &entry,
                    format!("invalid dependency {:?}", entry.get_ref()),
                    "write the parent's directory name under images/, optionally with `:variant`".to_string(),
                ));
            }
            if dep_image == image {
                return Err(src.at(
                    &entry,
                    format!("image {image:?} depends on itself"),
                    "remove it from `depends_on`".to_string(),
                ));
            }
            Ok(Dependency { image: dep_image, variant })
        })
        .collect()
}

fn validate_args(
    src: &Source<'_>,
    args: BTreeMap<Spanned<String>, String>,
) -> Result<BTreeMap<String, String>, DefinitionError> {
    args.into_iter()
        .map(|(key, value)| {
            let valid = key.get_ref().chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(src.at(
                    &key,
                    format!("invalid build arg name {:?}", key.get_ref()),
                    "build arg names are letters, digits and `_`, not starting with a digit".to_string(),
                ));
            }
            Ok((key.into_inner(), value))
        })
        .collect()
}

/// Resolves `value` relative to the image directory and refuses paths that leave the workspace.
fn inside(
    src: &Source<'_>,
    value: &Spanned<String>,
    dir: &Utf8Path,
    key: &str,
) -> Result<Utf8PathBuf, DefinitionError> {
    let path = Utf8Path::new(value.get_ref());
    let escape = || {
        src.at(
            value,
            format!("`{key}` {:?} points outside the workspace", value.get_ref()),
            format!("`{key}` is relative to {dir}; keep it inside the workspace"),
        )
    };
    if path.is_absolute() {
        return Err(escape());
    }
    let mut out = Utf8PathBuf::new();
    for part in dir.components().chain(path.components()) {
        match part {
            Utf8Component::Normal(p) => out.push(p),
            Utf8Component::ParentDir => {
                if !out.pop() {
                    return Err(escape());
                }
            }
            Utf8Component::CurDir => {}
            Utf8Component::RootDir | Utf8Component::Prefix(_) => return Err(escape()),
        }
    }
    Ok(if out.as_str().is_empty() { Utf8PathBuf::from(".") } else { out })
}

const KNOWN_PLATFORMS: &[&str] = &[
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/386",
];

fn validate_platforms(src: &Source<'_>, list: Vec<Spanned<String>>) -> Result<Vec<String>, DefinitionError> {
    if list.is_empty() {
        return Err(src.error(
            None,
            "`platforms` is empty".to_string(),
            Some("list at least one platform, e.g. [\"linux/amd64\"]".to_string()),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for p in list {
        let value = p.get_ref();
        if !KNOWN_PLATFORMS.contains(&value.as_str()) {
            let hint = match nearest(value, KNOWN_PLATFORMS.iter().copied()) {
                Some(close) => format!("did you mean {close:?}? Known platforms: {}", KNOWN_PLATFORMS.join(", ")),
                None => format!("use os/arch[/variant], one of: {}", KNOWN_PLATFORMS.join(", ")),
            };
            return Err(src.at(&p, format!("unknown platform {value:?}"), hint));
        }
        if out.contains(value) {
            return Err(src.at(
                &p,
                format!("platform {value:?} is listed twice"),
                "list each platform once".to_string(),
            ));
        }
        out.push(value.clone());
    }
    Ok(out)
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

/// Checks `host[:port]` for a registry.
pub fn check_registry_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(']') || host.starts_with('[') => (n, Some(p)),
        _ => (host, None),
    };
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            return Err(format!("invalid port {port:?} in registry {host:?}"));
        }
    }
    let name_ok = !name.is_empty()
        && (name.starts_with('[') && name.ends_with(']')
            || name
                .split('.')
                .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')));
    if name_ok {
        Ok(())
    } else {
        Err(format!("invalid registry host {host:?}"))
    }
}

// ---- Loading from disk --------------------------------------------------------------------

/// Reads the workspace settings and every `images/*/image.toml` below `root`.
pub fn load(root: &Utf8Path) -> Result<Definitions> {
    let manifest_path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {manifest_path}"))?;
    let settings = validate_settings(&relative(root, &manifest_path), &text)?;

    let images_dir = root.join("images");
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(&images_dir).with_context(|| format!("reading {images_dir}"))? {
        let entry = entry.with_context(|| format!("reading {images_dir}"))?;
        let Ok(name) = entry.file_name().into_string() else {
            bail!("{images_dir}: the entry {:?} has a name that is not UTF-8; rename it", entry.file_name());
        };
        if entry.path().join("image.toml").is_file() {
            dirs.push(name);
        }
    }
    dirs.sort();
    if dirs.is_empty() {
        bail!("{images_dir} holds no image: add images/<name>/image.toml (see README.md, \"Adding an image\")");
    }
    let mut images = Vec::new();
    let mut dockerfiles = BTreeMap::new();
    for name in dirs {
        let dir = Utf8PathBuf::from("images").join(&name);
        let file = dir.join("image.toml");
        let text = std::fs::read_to_string(root.join(&file)).with_context(|| format!("reading {file}"))?;
        let image = validate_image(&file, &text, &dir, &settings)?;
        for variant in &image.variants {
            if !dockerfiles.contains_key(&variant.dockerfile) {
                let dockerfile = std::fs::read_to_string(root.join(&variant.dockerfile)).with_context(|| {
                    format!(
                        "{file}: reading the Dockerfile {} (create it, or set `dockerfile` to the right file)",
                        variant.dockerfile
                    )
                })?;
                dockerfiles.insert(variant.dockerfile.clone(), dockerfile);
            }
        }
        images.push(image);
    }
    Ok(Definitions { settings, images, dockerfiles })
}

fn relative(root: &Utf8Path, path: &Utf8Path) -> Utf8PathBuf {
    path.strip_prefix(root).map(Utf8Path::to_owned).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\n").unwrap()
    }

    fn image(text: &str) -> Result<ImageDef, String> {
        validate_image(Utf8Path::new("images/orb/image.toml"), text, Utf8Path::new("images/orb"), &settings())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn settings_defaults_are_the_documented_ones() {
        let s = settings();
        assert_eq!(s.registry, "localhost:5000");
        assert_eq!(s.namespace, "");
        assert_eq!(s.platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(s.network, Network::None);
        assert_eq!(s.tags, TagTemplates::default());
    }

    #[test]
    fn settings_override_and_validate() {
        let text = "[package]\nname = \"x\"\n[workspace.metadata.images]\nregistry = \"ghcr.io\"\nnamespace = \"acme/team\"\n[workspace.metadata.images.tags]\nbranch = [\"edge\"]\n";
        let s = validate_settings(Utf8Path::new("Cargo.toml"), text).unwrap();
        assert_eq!((s.registry.as_str(), s.namespace.as_str()), ("ghcr.io", "acme/team"));
        assert_eq!(s.tags.branch, ["edge"]);
        assert_eq!(s.tags.release, TagTemplates::default().release);

        let err = validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\nnamespace = \"Acme\"\n")
            .unwrap_err();
        assert_eq!(err.at, Some(LineCol { line: 2, col: 13 }));
        assert!(err.message.contains("invalid namespace"), "{err}");

        let err = validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\nregistyr = \"x\"\n")
            .unwrap_err();
        assert_eq!(err.to_string(), "Cargo.toml:2:1: unknown key `registyr`\n  hint: did you mean `registry`? Valid keys here: registry, namespace, platforms, network, tags");
    }

    #[test]
    fn minimal_image_gets_workspace_defaults() {
        let img = image("").unwrap();
        assert_eq!(img.name, "orb");
        assert_eq!(img.repository, "orb");
        assert_eq!(img.dockerfile, "images/orb/Dockerfile");
        assert_eq!(img.context, "images/orb");
        assert_eq!(img.platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(img.variants.len(), 1);
        assert!(img.variants[0].default && img.variants[0].name.is_none());
    }

    #[test]
    fn full_image_parses() {
        let img = image(
            r#"
description = "Python runtime"
repository = "tools/orb"
context = ".."
platforms = ["linux/arm64"]
version = "0.2.3"
depends_on = ["base", "debian:trixie"]
network = "host"
[args]
PIP_NO_CACHE = "1"
[[variants]]
name = "python3.12"
args = { PYTHON_VERSION = "3.12" }
depends_on = ["debian:bookworm"]
[[variants]]
name = "python3.13"
aliases = ["py3"]
dockerfile = "Dockerfile.313"
default = true
"#,
        )
        .unwrap();
        assert_eq!(img.repository, "tools/orb");
        assert_eq!(img.context, "images");
        assert_eq!(img.network, Network::Host);
        assert_eq!(img.default_variant().name.as_deref(), Some("python3.13"));
        assert_eq!(img.default_variant().dockerfile, "images/orb/Dockerfile.313");
        assert_eq!(img.variant("python3.12").unwrap().dockerfile, "images/orb/Dockerfile");
        let deps: Vec<String> = img.variant("python3.12").unwrap().depends_on.iter().map(|d| d.to_string()).collect();
        assert_eq!(deps, ["base", "debian:bookworm"], "variant entries replace image entries for the same parent");
        let deps: Vec<String> = img.default_variant().depends_on.iter().map(|d| d.to_string()).collect();
        assert_eq!(deps, ["base", "debian:trixie"]);
    }

    #[test]
    fn unknown_key_names_line_and_suggests() {
        let err = image("description = \"x\"\ndockerfil = \"Dockerfile\"\n").unwrap_err();
        assert!(
            err.starts_with("images/orb/image.toml:2:1: unknown key `dockerfil`\n  hint: did you mean `dockerfile`?"),
            "{err}"
        );
        let err = image("[[variants]]\nname = \"a\"\ndefault = true\nargz = {}\n").unwrap_err();
        assert!(
            err.starts_with("images/orb/image.toml:4:1: unknown key `argz`\n  hint: did you mean `args`?"),
            "{err}"
        );
    }

    #[test]
    fn semantic_errors_point_at_the_value() {
        let cases = [
            (
                "platforms = [\"linux/amd64\", \"linux/arm46\"]",
                "1:29",
                "unknown platform \"linux/arm46\"",
                "did you mean \"linux/arm64\"?",
            ),
            ("repository = \"My_Repo\"", "1:14", "invalid repository", "lowercase"),
            ("context = \"../../../etc\"", "1:11", "points outside the workspace", "keep it inside"),
            ("dockerfile = \"/etc/passwd\"", "1:14", "points outside the workspace", "relative to images/orb"),
            ("version = \"1.2\"", "1:11", "invalid version", "semantic versioning"),
            ("depends_on = [\"orb\"]", "1:15", "depends on itself", "remove it"),
            ("[args]\n\"BAD-NAME\" = \"1\"", "2:1", "invalid build arg name", "letters, digits"),
            ("[tags]\nrelease = [\"{vesion}\"]", "2:12", "invalid tag template", "placeholders"),
            (
                "[[variants]]\nname = \"a\"\ndefault = true\n[[variants]]\nname = \"b\"\ndefault = true",
                "6:11",
                "more than one variant is marked `default = true` (another at line 3)",
                "exactly one",
            ),
            (
                "[[variants]]\nname = \"a\"\n[[variants]]\nname = \"a\"\ndefault = true",
                "4:8",
                "variant name \"a\" is used twice (first at line 2)",
                "distinct",
            ),
            ("[[variants]]\nname = \"a b\"\ndefault = true", "2:8", "invalid variant name", "become tags"),
        ];
        for (text, at, message, hint) in cases {
            let err = image(text).unwrap_err();
            assert!(err.starts_with(&format!("images/orb/image.toml:{at}: ")), "{text:?} gave {err}");
            assert!(err.contains(message), "{text:?} gave {err}");
            assert!(err.contains(hint), "{text:?} gave {err}");
        }
    }

    #[test]
    fn missing_default_variant_and_type_errors() {
        let err = image("[[variants]]\nname = \"a\"\n").unwrap_err();
        assert_eq!(err, "images/orb/image.toml: no variant is marked `default = true`\n  hint: mark exactly one [[variants]] entry with `default = true`");
        let err = image("platforms = \"linux/amd64\"").unwrap_err();
        assert!(err.starts_with("images/orb/image.toml:1:13: invalid type"), "{err}");
        let err = image("description = \"x\n").unwrap_err();
        assert!(err.starts_with("images/orb/image.toml:1:"), "TOML syntax errors carry a position: {err}");
    }

    #[test]
    fn repository_grammar() {
        for ok in ["a", "orb", "acme/orb", "a.b_c__d--e", "x/y/z0"] {
            assert_eq!(check_repository(ok), Ok(()), "{ok}");
        }
        for bad in ["", "A", "a_", "-a", "a//b", "a___b", "a..b", "a/", "a b", "a:b"] {
            assert!(check_repository(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn registry_hosts() {
        for ok in ["localhost:5000", "ghcr.io", "127.0.0.1:41234", "[::1]:5000", "registry-1.example.test"] {
            assert_eq!(check_registry_host(ok), Ok(()), "{ok}");
        }
        for bad in ["", "localhost:port", "a b", "host/path", "a..b"] {
            assert!(check_registry_host(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
