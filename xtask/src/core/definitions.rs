//! The workspace settings (`[workspace.metadata.images]` in Cargo.toml) and the
//! image definitions (`images/<dir>/image.toml`).
//!
//! `validate_image` and `validate_settings` are pure: text in, model or error
//! out. Every error names the file, line, column and key, and says how to fix it.
//! `load` is the thin shell that reads the files.

use crate::oci::reference::{check_registry_host, check_repository};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use toml::Spanned;

use crate::core::diag::{nearest, LineCol};

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
    /// `[runners]`: the CI runner label each platform's matrix legs run on (natively).
    pub runners: BTreeMap<String, String>,
    /// `[builders]`: the buildx builder each platform is built with; unlisted: the current one.
    pub builders: BTreeMap<String, String>,
}

/// Runner labels of GitHub's hosted runners: native amd64 and arm64 machines.
pub const DEFAULT_RUNNERS: [(&str, &str); 2] = [("linux/amd64", "ubuntu-24.04"), ("linux/arm64", "ubuntu-24.04-arm")];

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
    /// SPDX license expression, for the `org.opencontainers.image.licenses` label.
    pub licenses: Option<String>,
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
    /// `[[tests]]`: what `cargo xtask test` checks in the built images.
    pub tests: Vec<TestDef>,
    pub size: SizeBudget,
    pub lint: LintPolicy,
    /// `[scan]`: vulnerability findings accepted for a while.
    pub scan: ScanPolicy,
    /// `[secrets]`: where buildx reads each secret, by id.
    pub secrets: BTreeMap<String, Secret>,
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

/// `[rootfs]`: the root filesystem of an image built `FROM scratch`, which `build` writes
/// to `rootfs/<arch>.tar` in the context. `plan --format json` shows it as
/// `{"packages": [...]}` or `{"mmdebstrap": {"suite": ..., "variant": ..., "slim": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rootfs {
    /// Debian packages of the host's suite, unpacked without maintainer scripts (a busybox userland).
    Packages(Vec<String>),
    /// A Debian system bootstrapped by mmdebstrap.
    Mmdebstrap(Bootstrap),
}

/// An mmdebstrap run: `mmdebstrap --variant=<variant> <suite>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Bootstrap {
    /// In an [`ImageDef`] it may name build args (`{DEBIAN_SUITE}`); in a unit it is resolved.
    pub suite: String,
    pub variant: String,
    /// Documentation, man pages and locales left out, as dpkg path filters kept in the image.
    pub slim: bool,
    /// Packages installed besides the variant's: `mmdebstrap --include`.
    pub include: Vec<String>,
}

impl Rootfs {
    /// This root filesystem for a unit whose build args are `args`: `{NAME}` in `suite` filled
    /// in. image.toml was checked against every variant; the error is an unknown name.
    pub fn resolve(&self, args: &BTreeMap<String, String>) -> Result<Rootfs, String> {
        Ok(match self {
            Rootfs::Packages(packages) => Rootfs::Packages(packages.clone()),
            Rootfs::Mmdebstrap(b) => Rootfs::Mmdebstrap(Bootstrap {
                suite: substitute(&b.suite, |name| args.get(name).cloned())?,
                ..b.clone()
            }),
        })
    }
}

/// The `--variant` values mmdebstrap documents, smallest first.
const MMDEBSTRAP_VARIANTS: [&str; 9] =
    ["extract", "custom", "essential", "apt", "required", "minbase", "buildd", "important", "standard"];

/// Where buildx reads one secret that a Dockerfile mounts with `RUN --mount=type=secret,id=<id>`.
/// Only the source is recorded: xtask never reads a value, so it cannot print one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Secret {
    /// An environment variable of the process that runs `build`.
    Env(String),
    /// A file: absolute, `~/...` (the home directory), or workspace-relative.
    File(String),
}

/// `[lint]`: which Dockerfile policy rules this image is exempt from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintPolicy {
    pub allow: Vec<crate::core::lint::Rule>,
}

/// `[scan]`: what `cargo xtask scan` lets pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPolicy {
    pub allow: Vec<Allowance>,
}

/// One `[[scan.allow]]` entry: a HIGH or CRITICAL finding accepted until a date, for a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// `CVE-2024-1234`, `GHSA-…`: the scanner's vulnerability id.
    pub id: String,
    /// The last day the allowance holds (UTC); from the day after, it is an error.
    pub until: Date,
    pub reason: String,
    /// `file:line:col` of the entry, so that `scan` can point at it when it expires.
    pub at: String,
}

/// A calendar date, ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// `YYYY-MM-DD`, a real day of the Gregorian calendar.
    pub fn parse(text: &str) -> Result<Date, String> {
        let bad = || format!("{text:?} is not a date: write YYYY-MM-DD, e.g. \"2027-01-31\"");
        let parts: Vec<&str> = text.split('-').collect();
        let [y, m, d] = parts.as_slice() else { return Err(bad()) };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return Err(bad());
        }
        let (year, month, day): (u16, u8, u8) =
            (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(format!("{text:?} has no month {month}")),
        };
        if day == 0 || day > days {
            return Err(format!("{text:?} is not a day: {year}-{month:02} has {days} days"));
        }
        Ok(Date { year, month, day })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// `[size]`: budgets that `cargo xtask size` enforces per platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SizeBudget {
    /// Compressed bytes per platform.
    pub max: Option<u64>,
    /// Growth over the baseline, as a fraction (0.2 for "20%").
    pub max_growth: Option<f64>,
    /// How much larger one platform may be than the smallest, as a fraction.
    pub max_arch_spread: Option<f64>,
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
        write!(f, ": {}", elide(&self.message))?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", elide(hint))?;
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionError {}

/// Messages quote the value at fault, which hostile input makes megabytes long: past
/// `SHOWN` characters, only its two ends are shown.
fn elide(text: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 600;
    let count = text.chars().count();
    if count <= SHOWN {
        return text.into();
    }
    let head: String = text.chars().take(SHOWN / 2).collect();
    let tail: String = text.chars().skip(count - SHOWN / 4).collect();
    format!("{head}[... {} characters ...]{tail}", count - SHOWN / 2 - SHOWN / 4).into()
}

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
        let span = err.span().or_else(|| long_dotted_key(self.text).map(|at| at..at));
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
        } else if message.starts_with("unknown variant") {
            Some("use one of the values listed".to_string())
        } else if message.contains("recurs") {
            Some("nest tables, arrays and dotted keys less deeply".to_string())
        } else if message.starts_with("duplicate key") {
            Some("a key appears once per table: remove or rename one".to_string())
        } else {
            Some("fix the TOML syntax here (see https://toml.io)".to_string())
        };
        self.error(span, message, hint)
    }
}

/// Where the dotted key of 80 or more parts starts, the one error toml reports without a position.
fn long_dotted_key(text: &str) -> Option<usize> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let key = line.split('=').next().unwrap_or_default();
        if key.matches('.').count() >= 79 {
            return Some(start + line.len() - line.trim_start().len());
        }
        start += line.len();
    }
    None
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
    platforms: Option<Spanned<Vec<Spanned<String>>>>,
    network: Option<Network>,
    tags: Option<RawTags>,
    runners: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    builders: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
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
    let mut runners: BTreeMap<String, String> =
        DEFAULT_RUNNERS.iter().map(|(p, r)| (p.to_string(), r.to_string())).collect();
    runners.extend(validate_platform_names(
        &src,
        raw.runners.unwrap_or_default(),
        "runner label",
        "\"ubuntu-24.04-arm\"",
    )?);
    let builders = validate_platform_names(&src, raw.builders.unwrap_or_default(), "builder name", "\"arm-native\"")?;
    Ok(Settings {
        registry,
        namespace,
        platforms,
        network: raw.network.unwrap_or(Network::None),
        tags,
        runners,
        builders,
    })
}

/// `[runners]` and `[builders]`: a known platform to a name that is safe in YAML, in a
/// shell and in a `runs-on` (letters, digits, `.`, `_`, `-`, starting alphanumeric).
fn validate_platform_names(
    src: &Source<'_>,
    raw: BTreeMap<Spanned<String>, Spanned<String>>,
    what: &str,
    example: &str,
) -> Result<BTreeMap<String, String>, DefinitionError> {
    let mut out = BTreeMap::new();
    for (platform, name) in raw {
        check_platform(src, &platform)?;
        let value = name.get_ref();
        let valid = value.len() <= 100
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(src.at(
                &name,
                format!("invalid {what} {value:?} for {}", platform.get_ref()),
                format!("use letters, digits, `.`, `_` and `-`, starting with a letter or digit, e.g. {example}"),
            ));
        }
        out.insert(platform.into_inner(), name.into_inner());
    }
    Ok(out)
}

fn merge_tags(src: &Source<'_>, base: &TagTemplates, raw: RawTags) -> Result<TagTemplates, DefinitionError> {
    let pick = |over: Option<Vec<Spanned<String>>>, base: &Vec<String>| -> Result<Vec<String>, DefinitionError> {
        let Some(over) = over else { return Ok(base.clone()) };
        over.into_iter()
            .map(|t| {
                crate::core::tags::check_template(t.get_ref()).map_err(|why| {
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
    description: Option<Spanned<String>>,
    licenses: Option<Spanned<String>>,
    repository: Option<Spanned<String>>,
    dockerfile: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
    platforms: Option<Spanned<Vec<Spanned<String>>>>,
    version: Option<Spanned<String>>,
    depends_on: Option<Vec<Spanned<String>>>,
    network: Option<Network>,
    args: Option<BTreeMap<Spanned<String>, String>>,
    variants: Option<Spanned<Vec<RawVariant>>>,
    tags: Option<RawTags>,
    rootfs: Option<Spanned<RawRootfs>>,
    tests: Option<Vec<RawTest>>,
    size: Option<RawSize>,
    lint: Option<RawLint>,
    scan: Option<RawScan>,
    secrets: Option<BTreeMap<Spanned<String>, Spanned<RawSecret>>>,
}

/// One `[secrets]` entry: exactly one of `env` and `file`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    env: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScan {
    #[serde(default)]
    allow: Vec<RawAllowance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowance {
    id: Spanned<String>,
    /// A string or a TOML date: both read naturally.
    until: Spanned<toml::Value>,
    reason: Spanned<String>,
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
struct RawSize {
    max: Option<Spanned<String>>,
    max_growth: Option<Spanned<String>>,
    max_arch_spread: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRootfs {
    packages: Option<Spanned<Vec<Spanned<String>>>>,
    suite: Option<Spanned<String>>,
    variant: Option<Spanned<String>>,
    slim: Option<Spanned<bool>>,
    include: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLint {
    #[serde(default)]
    allow: Vec<Spanned<String>>,
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
            crate::core::tags::Version::parse(v.get_ref()).map_err(|why| {
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
        Some(list) if list.get_ref().is_empty() => {
            return Err(src.at(
                &list,
                "`variants` is empty".to_string(),
                "remove `variants`, or add a [[variants]] table".to_string(),
            ))
        }
        Some(list) if list.get_ref().len() > MAX_VARIANTS => {
            return Err(src.at(
                &list,
                format!("{} variants, more than the {MAX_VARIANTS} an image may have", list.get_ref().len()),
                "split the image: every variant is built, tagged and tested on its own".to_string(),
            ))
        }
        Some(list) => validate_variants(&src, list.into_inner(), dir, &dockerfile, &depends_on, &name)?,
    };
    let tests = validate_tests(&src, raw.tests.unwrap_or_default(), &platforms, &args, &variants)?;
    let size = validate_size(&src, raw.size)?;
    let lint = validate_lint(&src, raw.lint)?;
    let scan = validate_scan(&src, raw.scan)?;
    let rootfs = raw.rootfs.map(|r| validate_rootfs(&src, r, &args, &variants)).transpose()?;
    let secrets = validate_secrets(&src, raw.secrets.unwrap_or_default(), dir, &context)?;
    let description = raw.description.map(|d| no_nul(&src, d, "description")).transpose()?;
    let licenses = raw.licenses.map(|l| validate_licenses(&src, l)).transpose()?;

    Ok(ImageDef {
        name,
        dir: dir.to_owned(),
        description,
        licenses,
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
        size,
        tests,
        lint,
        scan,
        secrets,
    })
}

/// `[[scan.allow]]`: each id a vulnerability id, listed once, with a real date and a reason.
fn validate_scan(src: &Source<'_>, raw: Option<RawScan>) -> Result<ScanPolicy, DefinitionError> {
    let mut allow: Vec<Allowance> = Vec::new();
    for entry in raw.map(|r| r.allow).unwrap_or_default() {
        let id = entry.id.get_ref();
        if let Err(why) = check_vulnerability_id(id) {
            return Err(src.at(
                &entry.id,
                format!("invalid vulnerability id {id:?}: {why}"),
                "write the id the scanner reports, e.g. \"CVE-2024-1234\" or \"GHSA-xxxx-xxxx-xxxx\"".to_string(),
            ));
        }
        if let Some(first) = allow.iter().find(|a| a.id == *id) {
            return Err(src.at(
                &entry.id,
                format!("{id} is allowed twice (first at {})", first.at),
                "keep one entry per id".to_string(),
            ));
        }
        let until = match entry.until.get_ref() {
            toml::Value::String(text) => Date::parse(text),
            toml::Value::Datetime(dt) => match (dt.date, dt.time) {
                (Some(d), None) => Ok(Date { year: d.year, month: d.month, day: d.day }),
                _ => Err(format!("{dt} is not a plain date")),
            },
            other => Err(format!("expected a date, found a {}", other.type_str())),
        }
        .map_err(|why| {
            src.at(
                &entry.until,
                format!("invalid `until`: {why}"),
                "write the last day it holds, e.g. \"2027-01-31\"".to_string(),
            )
        })?;
        if entry.reason.get_ref().trim().is_empty() {
            return Err(src.at(
                &entry.reason,
                format!("the allowance of {id} gives no reason"),
                "say why it is acceptable, e.g. \"not reachable: the image has no shell\"".to_string(),
            ));
        }
        let at = format!("{}:{}", src.file, LineCol::of(src.text, entry.id.span().start));
        allow.push(Allowance { id: id.clone(), until, reason: entry.reason.into_inner(), at });
    }
    Ok(ScanPolicy { allow })
}

/// `PREFIX-rest`: an upper-case source (`CVE`, `GHSA`, `RUSTSEC`, `GO`, `DSA` …), then letters,
/// digits, `.`, `_`, `:` and `-`; a CVE id is `CVE-YYYY-NNNN…`.
pub fn check_vulnerability_id(id: &str) -> Result<(), String> {
    let Some((prefix, rest)) = id.split_once('-') else { return Err("it has no `PREFIX-` such as `CVE-`".to_string()) };
    let prefix_ok = prefix.starts_with(|c: char| c.is_ascii_uppercase())
        && prefix.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let rest_ok =
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if !prefix_ok || !rest_ok {
        return Err("expected an upper-case source, `-`, then letters, digits, `.`, `_`, `:` or `-`".to_string());
    }
    if prefix == "CVE" {
        let cve_ok = rest.split_once('-').is_some_and(|(year, number)| {
            year.len() == 4 && number.len() >= 4 && (year.to_string() + number).bytes().all(|b| b.is_ascii_digit())
        });
        if !cve_ok {
            return Err("a CVE id is CVE-YYYY-NNNN (four or more digits)".to_string());
        }
    }
    Ok(())
}

/// Bounds on what one image.toml may declare. Real images stay far below; they keep the
/// checks that multiply (every test in every variant) fast on hostile input.
const MAX_VARIANTS: usize = 64;
const MAX_TESTS: usize = 256;
const MAX_REGEX: usize = 4096;
/// Leaves room in the 128-character tag for `buildcache-` and `-<platform>`.
const MAX_VARIANT_NAME: usize = 100;

/// No argv or label can carry a NUL, so a value holding one would only fail later, less clearly.
const NUL_HINT: &str = "remove the `\\u0000`: no command line can carry a NUL character";

fn no_nul(src: &Source<'_>, value: Spanned<String>, key: &str) -> Result<String, DefinitionError> {
    if value.get_ref().contains('\0') {
        return Err(src.at(&value, format!("`{key}` holds a NUL character"), NUL_HINT.to_string()));
    }
    Ok(value.into_inner())
}

/// `licenses`: an SPDX expression, since scanners and SBOM tools parse the label.
fn validate_licenses(src: &Source<'_>, value: Spanned<String>) -> Result<String, DefinitionError> {
    crate::core::spdx::check_expression(value.get_ref()).map_err(|why| {
        src.at(
            &value,
            format!("`licenses` is not an SPDX license expression: {why}"),
            "write SPDX identifiers joined by AND, OR and WITH, e.g. `MIT`, `Apache-2.0 OR MIT`, \
             `GPL-2.0-or-later WITH Classpath-exception-2.0`, or `LicenseRef-<name>` for your own"
                .to_string(),
        )
    })?;
    Ok(value.into_inner().trim().to_string())
}

/// `[rootfs]`: either `packages` to unpack or a `suite` (with `variant`, `slim`) for mmdebstrap.
fn validate_rootfs(
    src: &Source<'_>,
    raw: Spanned<RawRootfs>,
    args: &BTreeMap<String, String>,
    variants: &[Variant],
) -> Result<Rootfs, DefinitionError> {
    let table = raw.span();
    let raw = raw.into_inner();
    match (raw.packages, raw.suite) {
        (Some(_), Some(suite)) => Err(src.at(
            &suite,
            "[rootfs] sets both `packages` and `suite`".to_string(),
            "a root filesystem is either Debian packages unpacked (`packages`) or a Debian system \
             bootstrapped by mmdebstrap (`suite`): keep one"
                .to_string(),
        )),
        (None, None) => Err(src.error(
            Some(table),
            "[rootfs] has neither `packages` nor `suite`".to_string(),
            Some("write `suite = \"bookworm\"` for a Debian system, or `packages = [\"busybox-static\"]`".to_string()),
        )),
        (Some(packages), None) => {
            let mmdebstrap_only = (raw.variant.map(|v| ("variant", v.span())))
                .or(raw.slim.map(|s| ("slim", s.span())))
                .or(raw.include.map(|i| ("include", i.span())));
            if let Some((key, span)) = mmdebstrap_only {
                return Err(src.error(
                    Some(span),
                    format!("[rootfs] `{key}` applies to a `suite`, not to `packages`"),
                    Some(format!("remove `{key}`, or bootstrap a Debian system with `suite` instead of `packages`")),
                ));
            }
            validate_rootfs_packages(src, packages)
        }
        (None, Some(suite)) => {
            for variant in variants {
                let mut known = args.clone();
                known.extend(variant.args.clone());
                let what = variant.name.as_ref().map_or("this image".to_string(), |n| format!("variant {n:?}"));
                let resolved = substitute(suite.get_ref(), |name| known.get(name).cloned()).map_err(|name| {
                    let names: Vec<&str> = known.keys().map(String::as_str).collect();
                    src.at(
                        &suite,
                        format!("`{{{name}}}` in [rootfs] `suite` is not a build arg of {what}"),
                        format!(
                            "set {name} in [args] or in the variant's `args` (build args here: {})",
                            if names.is_empty() { "none".to_string() } else { names.join(", ") }
                        ),
                    )
                })?;
                let valid = resolved.starts_with(|c: char| c.is_ascii_lowercase())
                    && resolved.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !valid {
                    let of = if resolved == *suite.get_ref() { String::new() } else { format!(" (for {what})") };
                    return Err(src.at(
                        &suite,
                        format!("invalid Debian suite {resolved:?}{of}"),
                        "write a codename or suite such as \"bookworm\", \"trixie\" or \"stable\"".to_string(),
                    ));
                }
            }
            let variant = match raw.variant {
                Some(v) if MMDEBSTRAP_VARIANTS.contains(&v.get_ref().as_str()) => v.into_inner(),
                Some(v) => {
                    let hint = match nearest(v.get_ref(), MMDEBSTRAP_VARIANTS) {
                        Some(close) => format!("did you mean {close:?}? Variants: {}", MMDEBSTRAP_VARIANTS.join(", ")),
                        None => format!("use one of: {}", MMDEBSTRAP_VARIANTS.join(", ")),
                    };
                    return Err(src.at(&v, format!("unknown mmdebstrap variant {:?}", v.get_ref()), hint));
                }
                None => "minbase".to_string(),
            };
            let include = match raw.include {
                Some(list) => package_names(src, list.into_inner())?,
                None => Vec::new(),
            };
            Ok(Rootfs::Mmdebstrap(Bootstrap {
                suite: suite.into_inner(),
                variant,
                slim: raw.slim.is_some_and(Spanned::into_inner),
                include,
            }))
        }
    }
}

/// `[rootfs] packages`: not empty.
fn validate_rootfs_packages(
    src: &Source<'_>,
    packages: Spanned<Vec<Spanned<String>>>,
) -> Result<Rootfs, DefinitionError> {
    if packages.get_ref().is_empty() {
        return Err(src.at(
            &packages,
            "[rootfs] `packages` is empty".to_string(),
            "list the Debian packages to unpack, e.g. [\"busybox-static\"]".to_string(),
        ));
    }
    Ok(Rootfs::Packages(package_names(src, packages.into_inner())?))
}

/// Debian package names, which also keeps them from reading as apt or mmdebstrap options.
fn package_names(src: &Source<'_>, packages: Vec<Spanned<String>>) -> Result<Vec<String>, DefinitionError> {
    for package in &packages {
        let name = package.get_ref();
        let valid = name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'));
        if !valid {
            return Err(src.at(
                package,
                format!("invalid Debian package name {name:?}"),
                "package names are lowercase letters, digits, `+`, `-` and `.`, starting alphanumeric".to_string(),
            ));
        }
    }
    Ok(packages.into_iter().map(Spanned::into_inner).collect())
}

/// `[secrets]`: ids as `RUN --mount=type=secret,id=<id>` names them, each with one source.
fn validate_secrets(
    src: &Source<'_>,
    raw: BTreeMap<Spanned<String>, Spanned<RawSecret>>,
    dir: &Utf8Path,
    context: &Utf8Path,
) -> Result<BTreeMap<String, Secret>, DefinitionError> {
    let mut secrets = BTreeMap::new();
    for (id, source) in raw {
        let valid = (1..=128).contains(&id.get_ref().len())
            && id.get_ref().bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !valid {
            return Err(src.at(
                &id,
                format!("invalid secret id {:?}", id.get_ref()),
                "secret ids are letters, digits, `_`, `.` and `-`, as in `RUN --mount=type=secret,id=npm_token`"
                    .to_string(),
            ));
        }
        let span = source.span();
        let source = source.into_inner();
        let secret = match (source.env, source.file) {
            (Some(env), None) if is_arg_name(env.get_ref()) => Secret::Env(env.into_inner()),
            (Some(env), None) => {
                return Err(src.at(
                    &env,
                    format!("invalid environment variable name {:?}", env.get_ref()),
                    "names are letters, digits and `_`, not starting with a digit, e.g. \"NPM_TOKEN\"".to_string(),
                ))
            }
            (None, Some(file)) => Secret::File(secret_file(src, file, dir, context)?),
            (Some(_), Some(file)) => {
                return Err(src.at(
                    &file,
                    format!("secret {:?} has both `env` and `file`", id.get_ref()),
                    "keep one of them: buildx reads a secret from one source".to_string(),
                ))
            }
            (None, None) => {
                return Err(src.error(
                    Some(span),
                    format!("secret {:?} has no source", id.get_ref()),
                    Some("write `{ env = \"VARIABLE\" }` or `{ file = \"~/path\" }`".to_string()),
                ))
            }
        };
        secrets.insert(id.into_inner(), secret);
    }
    Ok(secrets)
}

/// A secret file as buildx gets it: absolute and `~/...` as written, others relative to the
/// image directory, inside the workspace but not in the build context, where a `COPY` could
/// put it into the image. `,` and `"` would split or quote buildx's `--secret` list.
fn secret_file(
    src: &Source<'_>,
    file: Spanned<String>,
    dir: &Utf8Path,
    context: &Utf8Path,
) -> Result<String, DefinitionError> {
    let path = file.get_ref();
    let home_relative = path.starts_with("~/") && path.len() > 2;
    let valid =
        !path.is_empty() && !path.contains([',', '"', '\n', '\r', '\0']) && (home_relative || !path.starts_with('~'));
    if !valid {
        return Err(src.at(
            &file,
            format!("invalid secret file {path:?}"),
            "write an absolute path, `~/...`, or a path relative to the image directory, without `,` or `\"`"
                .to_string(),
        ));
    }
    if home_relative || path.starts_with('/') {
        return Ok(file.into_inner());
    }
    let resolved = inside(src, &file, dir, "file")?;
    if context == "." || resolved.starts_with(context) {
        return Err(src.at(
            &file,
            format!(
                "secret file {resolved} is inside the build context {context}, where a COPY could put it in the image"
            ),
            "keep it outside the context, e.g. under ~/ or in the CI runner's temporary directory".to_string(),
        ));
    }
    Ok(resolved.into_string())
}

/// `[lint] allow`: rule ids, each known and listed once.
fn validate_lint(src: &Source<'_>, raw: Option<RawLint>) -> Result<LintPolicy, DefinitionError> {
    let mut allow = Vec::new();
    for id in raw.map(|r| r.allow).unwrap_or_default() {
        let ids = crate::core::lint::Rule::ALL.map(crate::core::lint::Rule::id);
        let Some(rule) = crate::core::lint::Rule::from_id(id.get_ref()) else {
            let hint = match nearest(id.get_ref(), ids) {
                Some(close) => format!("did you mean `{close}`? Rules: {}", ids.join(", ")),
                None => format!("use one of: {}", ids.join(", ")),
            };
            return Err(src.at(&id, format!("unknown lint rule {:?}", id.get_ref()), hint));
        };
        if allow.contains(&rule) {
            return Err(src.at(
                &id,
                format!("lint rule {:?} is listed twice", id.get_ref()),
                "list each rule once".to_string(),
            ));
        }
        allow.push(rule);
    }
    Ok(LintPolicy { allow })
}

fn validate_size(src: &Source<'_>, raw: Option<RawSize>) -> Result<SizeBudget, DefinitionError> {
    let Some(raw) = raw else { return Ok(SizeBudget::default()) };
    let percent = |value: Option<Spanned<String>>, key: &str| -> Result<Option<f64>, DefinitionError> {
        value
            .map(|v| {
                parse_percent(v.get_ref()).map_err(|why| {
                    src.at(
                        &v,
                        format!("invalid `{key}` {:?}: {why}", v.get_ref()),
                        "write a percentage, e.g. \"20%\"".to_string(),
                    )
                })
            })
            .transpose()
    };
    let max = raw
        .max
        .map(|v| {
            parse_bytes(v.get_ref()).map_err(|why| {
                src.at(
                    &v,
                    format!("invalid `max` {:?}: {why}", v.get_ref()),
                    "write a size, e.g. \"150MB\" or \"1.5GiB\"".to_string(),
                )
            })
        })
        .transpose()?;
    Ok(SizeBudget {
        max,
        max_growth: percent(raw.max_growth, "max_growth")?,
        max_arch_spread: percent(raw.max_arch_spread, "max_arch_spread")?,
    })
}

/// `150MB` (decimal) or `1.5GiB` (binary) in bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| "expected a number followed by a unit".to_string())?;
    let factor: f64 = match unit.trim() {
        "B" | "" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown unit {other:?}: use B, kB, MB, GB, KiB, MiB or GiB")),
    };
    Ok((number * factor).round() as u64)
}

/// `20%` as 0.2.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('%').ok_or("expected a number followed by `%`")?;
    let value: f64 = number.trim().parse().map_err(|_| "expected a number followed by `%`".to_string())?;
    if !(0.0..=1000.0).contains(&value) {
        return Err("expected a percentage from 0% to 1000%".to_string());
    }
    Ok(value / 100.0)
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
    // Name to where it was first written: a map, as aliases may be many.
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let first_name = list.first().map(|v| v.name.span());
    let mut defaults = Vec::new();
    for raw in list {
        if raw.name.get_ref().len() > MAX_VARIANT_NAME {
            return Err(src.at(
                &raw.name,
                format!("variant name {:?} is longer than {MAX_VARIANT_NAME} characters", raw.name.get_ref()),
                "shorten it: it becomes part of tags such as `buildcache-<variant>-ppc64le`, which OCI limits to 128"
                    .to_string(),
            ));
        }
        for tag_name in std::iter::once(&raw.name).chain(&raw.aliases) {
            crate::oci::reference::check_tag(tag_name.get_ref()).map_err(|why| {
                src.at(
                    tag_name,
                    format!("invalid variant name {:?}: {why}", tag_name.get_ref()),
                    "variant names become tags: use letters, digits, `.`, `_` and `-`".to_string(),
                )
            })?;
            if let Some(&first) = names.get(tag_name.get_ref()) {
                let at = LineCol::of(src.text, first);
                return Err(src.at(
                    tag_name,
                    format!("variant name {:?} is used twice (first at line {})", tag_name.get_ref(), at.line),
                    "give each variant and alias a distinct name".to_string(),
                ));
            }
            names.insert(tag_name.get_ref().clone(), tag_name.span().start);
        }
        if let Some(d) = raw.default.as_ref().filter(|d| *d.get_ref()) {
            defaults.push(d.clone());
        }
        let dockerfile = match &raw.dockerfile {
            Some(d) => inside(src, d, dir, "dockerfile")?,
            None => image_dockerfile.to_owned(),
        };
        let own = parse_dependencies(src, raw.depends_on.unwrap_or_default(), image)?;
        let replaced: std::collections::BTreeSet<&str> = own.iter().map(|o| o.image.as_str()).collect();
        let mut depends_on: Vec<Dependency> =
            image_depends_on.iter().filter(|d| !replaced.contains(d.image.as_str())).cloned().collect();
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
            first_name,
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
                || variant.as_deref().is_some_and(|v| crate::oci::reference::check_tag(v).is_err());
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
            if !is_arg_name(key.get_ref()) {
                return Err(src.at(
                    &key,
                    format!("invalid build arg name {:?}", key.get_ref()),
                    "build arg names are letters, digits and `_`, not starting with a digit".to_string(),
                ));
            }
            if value.contains('\0') {
                let message = format!("build arg {:?} holds a NUL character", key.get_ref());
                return Err(src.at(&key, message, NUL_HINT.to_string()));
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
    if value.get_ref().contains('\0') {
        return Err(src.at(value, format!("`{key}` holds a NUL character"), NUL_HINT.to_string()));
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

/// Every platform `platforms` may name (also the JSON Schema's choices).
pub const KNOWN_PLATFORMS: &[&str] = &[
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/386",
];

fn validate_platforms(src: &Source<'_>, list: Spanned<Vec<Spanned<String>>>) -> Result<Vec<String>, DefinitionError> {
    if list.get_ref().is_empty() {
        return Err(src.at(
            &list,
            "`platforms` is empty".to_string(),
            "list at least one platform, e.g. [\"linux/amd64\"]".to_string(),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for p in list.into_inner() {
        check_platform(src, &p)?;
        let value = p.get_ref();
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

fn check_platform(src: &Source<'_>, p: &Spanned<String>) -> Result<(), DefinitionError> {
    let value = p.get_ref();
    if KNOWN_PLATFORMS.contains(&value.as_str()) {
        return Ok(());
    }
    let hint = match nearest(value, KNOWN_PLATFORMS.iter().copied()) {
        Some(close) => format!("did you mean {close:?}? Known platforms: {}", KNOWN_PLATFORMS.join(", ")),
        None => format!("use os/arch[/variant], one of: {}", KNOWN_PLATFORMS.join(", ")),
    };
    Err(src.at(p, format!("unknown platform {value:?}"), hint))
}

// ---- [[tests]] ----------------------------------------------------------------------------

/// One `[[tests]]` entry: what `cargo xtask test` checks on each unit and platform it applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct TestDef {
    pub name: String,
    /// Run in a fresh container in place of the image's CMD; its result must meet `expect`.
    pub command: Option<Vec<String>>,
    pub expect: Expect,
    /// Variants the test applies to; empty means every variant.
    pub variants: Vec<String>,
    /// Platforms the test applies to; empty means every platform of the image.
    pub platforms: Vec<String>,
    /// Bounds the whole test on one platform: emulated platforms are slower, so each test sets its own.
    pub timeout: Duration,
    pub files: Vec<FileCheck>,
    pub metadata: Option<MetadataCheck>,
    pub services: Vec<ServiceCheck>,
}

/// What a command's result must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// A substring of stdout.
    pub stdout: Option<String>,
    pub stdout_regex: Option<String>,
    pub exit_code: i32,
}

/// A path inside the image; symlinks are followed, as a program opening the path would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub path: String,
    pub exists: bool,
    /// Permission bits, e.g. `0o755`.
    pub mode: Option<u32>,
    /// `(uid, gid)`.
    pub owner: Option<(u32, u32)>,
}

/// Checks on the image config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataCheck {
    /// `nonroot`, a user name or uid, or `user:group`.
    pub user: Option<String>,
    /// Without it the image's final user must not be root: containers should not run as root by accident.
    pub allow_root: bool,
    pub healthcheck: Option<bool>,
    pub env: BTreeMap<String, String>,
    /// The exact set, as `port/proto`.
    pub exposed_ports: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
}

/// A container running the image's own command, probed from inside once ready: containers
/// run without a network (the engine has no bridge), so nothing outside can reach them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCheck {
    pub env: BTreeMap<String, String>,
    pub wait: Wait,
    pub probe: Option<Vec<String>>,
    pub expect: Expect,
}

/// When a service counts as started.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// Its HEALTHCHECK reports healthy.
    Healthy,
    /// Its output contains this text.
    Log(String),
    /// It is still running after this long.
    Delay(Duration),
}

/// Placeholders every test may use besides the unit's build args: buildx's automatic platform args.
pub const PLATFORM_ARGS: &[&str] = &["TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT"];

const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(60);
const DURATION_HINT: &str = "write a duration, e.g. \"30s\", \"2m\", \"500ms\" or \"1m30s\"";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: Spanned<String>,
    command: Option<Spanned<Vec<Spanned<String>>>>,
    stdout: Option<Spanned<String>>,
    stdout_regex: Option<Spanned<String>>,
    exit_code: Option<Spanned<i64>>,
    variants: Option<Vec<Spanned<String>>>,
    platforms: Option<Vec<Spanned<String>>>,
    timeout: Option<Spanned<String>>,
    files: Option<Vec<RawFileCheck>>,
    metadata: Option<RawMetadata>,
    service: Option<Vec<RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileCheck {
    path: Spanned<String>,
    exists: Option<Spanned<bool>>,
    mode: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    user: Option<Spanned<String>>,
    allow_root: Option<bool>,
    healthcheck: Option<bool>,
    env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    exposed_ports: Option<Vec<Spanned<String>>>,
    entrypoint: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    wait: Option<Spanned<String>>,
    probe: Option<Spanned<Vec<Spanned<String>>>>,
    stdout: Option<Spanned<String>>,
    stdout_regex: Option<Spanned<String>>,
    exit_code: Option<Spanned<i64>>,
}

/// The build args of each variant a test runs on, so a placeholder is checked where it will be filled.
struct TestArgs<'a> {
    /// (`variant "x"` or `this image`, the variant's args).
    sets: Vec<&'a (String, BTreeMap<String, String>)>,
}

impl TestArgs<'_> {
    /// `value` with its placeholders checked in every variant (and, for a regex, compiled).
    fn check(&self, src: &Source<'_>, value: Spanned<String>, regex: bool) -> Result<String, DefinitionError> {
        if value.get_ref().contains('\0') {
            return Err(src.at(&value, format!("{:?} holds a NUL character", value.get_ref()), NUL_HINT.to_string()));
        }
        let mut compiled: Vec<String> = Vec::new();
        for (what, args) in &self.sets {
            let lookup = |name: &str| {
                let arg = args.get(name).cloned().or_else(|| PLATFORM_ARGS.contains(&name).then(String::new));
                if regex {
                    arg.map(|a| regex_lite::escape(&a))
                } else {
                    arg
                }
            };
            let text = substitute(value.get_ref(), lookup).map_err(|name| {
                let mut known: Vec<&str> = args.keys().map(String::as_str).collect();
                known.extend(PLATFORM_ARGS);
                src.at(
                    &value,
                    format!("`{{{name}}}` is not a build arg of {what}"),
                    format!(
                        "placeholders name build args: {}; write `{{{{{name}}}}}` for the literal text `{{{name}}}`",
                        known.join(", ")
                    ),
                )
            })?;
            // Most regexes read no build arg and are the same in every variant: compile each text once.
            if regex && text.len() > MAX_REGEX {
                return Err(src.at(
                    &value,
                    format!("the regex is {} bytes long, over the {MAX_REGEX}-byte limit", text.len()),
                    "match a shorter, distinctive part of the output".to_string(),
                ));
            }
            if regex && !compiled.contains(&text) {
                regex_lite::Regex::new(&text).map_err(|err| {
                    src.at(
                        &value,
                        format!("invalid regex {:?}: {err}", value.get_ref()),
                        "the syntax is the `regex` crate's; build arg values are matched literally".to_string(),
                    )
                })?;
                compiled.push(text);
            }
        }
        Ok(value.into_inner())
    }

    fn list(&self, src: &Source<'_>, values: Vec<Spanned<String>>) -> Result<Vec<String>, DefinitionError> {
        values.into_iter().map(|v| self.check(src, v, false)).collect()
    }

    fn env(
        &self,
        src: &Source<'_>,
        env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    ) -> Result<BTreeMap<String, String>, DefinitionError> {
        let mut out = BTreeMap::new();
        for (key, value) in env.unwrap_or_default() {
            if key.get_ref().is_empty() || key.get_ref().contains(['=', '\0']) {
                return Err(src.at(
                    &key,
                    format!("invalid environment variable name {:?}", key.get_ref()),
                    "names are non-empty and hold no `=`".to_string(),
                ));
            }
            out.insert(key.into_inner(), self.check(src, value, false)?);
        }
        Ok(out)
    }

    fn expect(
        &self,
        src: &Source<'_>,
        stdout: Option<Spanned<String>>,
        stdout_regex: Option<Spanned<String>>,
        exit_code: Option<Spanned<i64>>,
    ) -> Result<Expect, DefinitionError> {
        let exit_code = match exit_code {
            Some(code) => i32::try_from(*code.get_ref()).ok().filter(|c| (0..=255).contains(c)).ok_or_else(|| {
                src.at(&code, format!("invalid exit_code {}", code.get_ref()), "exit codes are 0 to 255".to_string())
            })?,
            None => 0,
        };
        Ok(Expect {
            stdout: stdout.map(|s| self.check(src, s, false)).transpose()?,
            stdout_regex: stdout_regex.map(|s| self.check(src, s, true)).transpose()?,
            exit_code,
        })
    }
}

/// Checks `[[tests]]` against the image's variants, platforms and build args.
fn validate_tests(
    src: &Source<'_>,
    raw: Vec<RawTest>,
    platforms: &[String],
    image_args: &BTreeMap<String, String>,
    variants: &[Variant],
) -> Result<Vec<TestDef>, DefinitionError> {
    if let Some(extra) = raw.get(MAX_TESTS) {
        return Err(src.at(
            &extra.name,
            format!("{} tests, more than the {MAX_TESTS} an image may have", raw.len()),
            "merge checks into fewer tests: a test may hold many files and services".to_string(),
        ));
    }
    // Each variant's build args, merged once rather than once per test.
    let variant_args: Vec<(String, BTreeMap<String, String>)> = variants
        .iter()
        .map(|v| {
            let mut args = image_args.clone();
            args.extend(v.args.clone());
            (v.name.as_ref().map_or("this image".to_string(), |n| format!("variant {n:?}")), args)
        })
        .collect();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut tests = Vec::new();
    for raw in raw {
        let name = raw.name;
        if name.get_ref().trim().is_empty() || name.get_ref().chars().any(char::is_control) {
            return Err(src.at(
                &name,
                format!("invalid test name {:?}", name.get_ref()),
                "give each test a short one-line name".to_string(),
            ));
        }
        if let Some(&first) = names.get(name.get_ref()) {
            let at = LineCol::of(src.text, first);
            return Err(src.at(
                &name,
                format!("test name {:?} is used twice (first at line {})", name.get_ref(), at.line),
                "give each test a distinct name: reports and JUnit identify tests by it".to_string(),
            ));
        }
        names.insert(name.get_ref().clone(), name.span().start);

        let test_variants = validate_test_variants(src, raw.variants.unwrap_or_default(), variants)?;
        let test_platforms = validate_test_platforms(src, raw.platforms.unwrap_or_default(), platforms)?;
        let args = TestArgs {
            sets: variants
                .iter()
                .zip(&variant_args)
                .filter(|(v, _)| test_variants.is_empty() || v.name.as_ref().is_some_and(|n| test_variants.contains(n)))
                .map(|(_, args)| args)
                .collect(),
        };

        let command = match raw.command {
            Some(list) if list.get_ref().is_empty() => {
                return Err(src.at(
                    &list,
                    "`command` is empty".to_string(),
                    "write the argv, e.g. [\"sh\", \"-c\", \"true\"]".to_string(),
                ))
            }
            Some(list) => Some(args.list(src, list.into_inner())?),
            None => None,
        };
        if command.is_none() {
            if let Some((key, span)) = result_check(&raw.stdout, &raw.stdout_regex, &raw.exit_code) {
                return Err(src.error(
                    Some(span),
                    format!("`{key}` checks a command, but the test has no `command`"),
                    Some("add `command = [...]`, or move it into a [[tests.service]] to check its probe".to_string()),
                ));
            }
        }
        let expect = args.expect(src, raw.stdout, raw.stdout_regex, raw.exit_code)?;
        let timeout = match raw.timeout {
            Some(t) => parse_duration(t.get_ref()).map_err(|why| {
                src.at(&t, format!("invalid timeout {:?}: {why}", t.get_ref()), DURATION_HINT.to_string())
            })?,
            None => DEFAULT_TEST_TIMEOUT,
        };
        let files = raw
            .files
            .unwrap_or_default()
            .into_iter()
            .map(|f| validate_file_check(src, &args, f))
            .collect::<Result<Vec<_>, _>>()?;
        let metadata = raw.metadata.map(|m| validate_metadata(src, &args, m)).transpose()?;
        let services = raw
            .service
            .unwrap_or_default()
            .into_iter()
            .map(|s| validate_service(src, &args, s))
            .collect::<Result<Vec<_>, _>>()?;
        if command.is_none() && files.is_empty() && metadata.is_none() && services.is_empty() {
            return Err(src.at(
                &name,
                format!("test {:?} checks nothing", name.get_ref()),
                "add `command`, [[tests.files]], [tests.metadata] or [[tests.service]]".to_string(),
            ));
        }
        tests.push(TestDef {
            name: name.into_inner(),
            command,
            expect,
            variants: test_variants,
            platforms: test_platforms,
            timeout,
            files,
            metadata,
            services,
        });
    }
    Ok(tests)
}

fn validate_test_variants(
    src: &Source<'_>,
    list: Vec<Spanned<String>>,
    variants: &[Variant],
) -> Result<Vec<String>, DefinitionError> {
    let names: Vec<&str> = variants.iter().filter_map(|v| v.name.as_deref()).collect();
    list.into_iter()
        .map(|v| {
            if names.contains(&v.get_ref().as_str()) {
                return Ok(v.into_inner());
            }
            let hint = if names.is_empty() {
                "the image has no [[variants]]: remove `variants`".to_string()
            } else if let Some(close) = nearest(v.get_ref(), names.iter().copied()) {
                format!("did you mean {close:?}? The variants are: {}", names.join(", "))
            } else {
                format!("the variants are: {}", names.join(", "))
            };
            Err(src.at(&v, format!("the test names variant {:?}, which the image does not have", v.get_ref()), hint))
        })
        .collect()
}

fn validate_test_platforms(
    src: &Source<'_>,
    list: Vec<Spanned<String>>,
    platforms: &[String],
) -> Result<Vec<String>, DefinitionError> {
    list.into_iter()
        .map(|p| {
            if platforms.contains(p.get_ref()) {
                return Ok(p.into_inner());
            }
            let hint = match nearest(p.get_ref(), platforms.iter().map(String::as_str)) {
                Some(close) => format!("did you mean {close:?}? The image builds for: {}", platforms.join(", ")),
                None => format!("the image builds for: {}", platforms.join(", ")),
            };
            Err(src.at(
                &p,
                format!("the test names platform {:?}, which the image does not build for", p.get_ref()),
                hint,
            ))
        })
        .collect()
}

fn validate_file_check(src: &Source<'_>, args: &TestArgs, raw: RawFileCheck) -> Result<FileCheck, DefinitionError> {
    if !raw.path.get_ref().starts_with('/') {
        return Err(src.at(
            &raw.path,
            format!("file path {:?} is not absolute", raw.path.get_ref()),
            "write the path inside the image from `/`".to_string(),
        ));
    }
    if let Some(absent) = raw.exists.as_ref().filter(|e| !*e.get_ref()) {
        if raw.mode.is_some() || raw.owner.is_some() {
            return Err(src.at(
                absent,
                "`exists = false` with `mode` or `owner`".to_string(),
                "a missing file has neither: remove them".to_string(),
            ));
        }
    }
    let exists = raw.exists.as_ref().is_none_or(|e| *e.get_ref());
    let mode = raw
        .mode
        .map(|m| {
            parse_mode(m.get_ref()).map_err(|why| {
                src.at(
                    &m,
                    format!("invalid mode {:?}: {why}", m.get_ref()),
                    "write octal permission bits, e.g. \"0755\"".to_string(),
                )
            })
        })
        .transpose()?;
    let owner = raw
        .owner
        .map(|o| {
            parse_owner(o.get_ref()).ok_or_else(|| {
                src.at(
                    &o,
                    format!("invalid owner {:?}", o.get_ref()),
                    "write numeric uid:gid, e.g. \"0:0\"".to_string(),
                )
            })
        })
        .transpose()?;
    Ok(FileCheck { path: args.check(src, raw.path, false)?, exists, mode, owner })
}

fn validate_metadata(src: &Source<'_>, args: &TestArgs, raw: RawMetadata) -> Result<MetadataCheck, DefinitionError> {
    let allow_root = raw.allow_root.unwrap_or(false);
    if let Some(user) = &raw.user {
        if user.get_ref().is_empty() {
            return Err(src.at(
                user,
                "`user` is empty".to_string(),
                "write \"nonroot\", a user name or uid, or user:group".to_string(),
            ));
        }
        if is_root_user(user.get_ref()) && !allow_root {
            return Err(src.at(
                user,
                format!("`user = {:?}` is root, which tests refuse", user.get_ref()),
                "add `allow_root = true` to this [tests.metadata] if the image must run as root".to_string(),
            ));
        }
    }
    let exposed_ports = raw
        .exposed_ports
        .map(|ports| {
            ports
                .into_iter()
                .map(|p| {
                    normalize_port(p.get_ref()).map_err(|why| {
                        src.at(
                            &p,
                            format!("invalid port {:?}: {why}", p.get_ref()),
                            "write port[/proto], e.g. \"8080/tcp\"".to_string(),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(MetadataCheck {
        user: raw.user.map(Spanned::into_inner),
        allow_root,
        healthcheck: raw.healthcheck,
        env: args.env(src, raw.env)?,
        exposed_ports,
        entrypoint: raw.entrypoint.map(|e| args.list(src, e)).transpose()?,
    })
}

fn validate_service(src: &Source<'_>, args: &TestArgs, raw: RawService) -> Result<ServiceCheck, DefinitionError> {
    let wait = match raw.wait {
        Some(w) => parse_wait(w.get_ref()).map_err(|why| {
            src.at(
                &w,
                format!("invalid wait {:?}: {why}", w.get_ref()),
                "write \"healthy\", \"log:<text>\" or \"delay:<duration>\"".to_string(),
            )
        })?,
        None => Wait::Healthy,
    };
    let probe = match raw.probe {
        Some(p) if p.get_ref().is_empty() => {
            return Err(src.at(
                &p,
                "`probe` is empty".to_string(),
                "write the argv to run inside the service".to_string(),
            ))
        }
        Some(p) => Some(args.list(src, p.into_inner())?),
        None => None,
    };
    if probe.is_none() {
        if let Some((key, span)) = result_check(&raw.stdout, &raw.stdout_regex, &raw.exit_code) {
            return Err(src.error(
                Some(span),
                format!("`{key}` checks a probe, but the service has no `probe`"),
                Some("add `probe = [...]`: the command run inside the service once it is ready".to_string()),
            ));
        }
    }
    Ok(ServiceCheck {
        env: args.env(src, raw.env)?,
        wait,
        probe,
        expect: args.expect(src, raw.stdout, raw.stdout_regex, raw.exit_code)?,
    })
}

/// The first key that checks a result, for a test without `command` or a service without `probe`.
fn result_check(
    stdout: &Option<Spanned<String>>,
    stdout_regex: &Option<Spanned<String>>,
    exit_code: &Option<Spanned<i64>>,
) -> Option<(&'static str, std::ops::Range<usize>)> {
    (stdout.as_ref().map(|s| ("stdout", s.span())))
        .or(stdout_regex.as_ref().map(|s| ("stdout_regex", s.span())))
        .or(exit_code.as_ref().map(|s| ("exit_code", s.span())))
}

/// Replaces each `{NAME}` (NAME a build arg name) with `lookup(NAME)`. `{{NAME}}` is the literal
/// text `{NAME}`, and every other brace is literal, so a regex's `{3}` or JSON needs no escaping.
/// The error is the first name `lookup` does not know.
pub fn substitute(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let at = &rest[open..];
        let literal = at.strip_prefix("{{").and_then(|r| r.split_once("}}")).map(|(n, _)| n).filter(|n| is_arg_name(n));
        let placeholder = at[1..].split_once('}').map(|(n, _)| n).filter(|n| is_arg_name(n));
        if let Some(name) = literal {
            out.push_str(&at[1..name.len() + 3]);
            rest = &at[name.len() + 4..];
        } else if let Some(name) = placeholder {
            out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
            rest = &at[name.len() + 2..];
        } else {
            out.push('{');
            rest = &at[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_arg_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `30s`, `2m`, `500ms`, `1h`, or sums such as `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("it is empty".to_string());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: u32 = rest[..digits].parse().map_err(|_| format!("expected a whole number at {rest:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "" => return Err("a unit is missing: use ms, s, m or h".to_string()),
            other => return Err(format!("unknown unit {other:?}: use ms, s, m or h")),
        };
        total = unit.checked_mul(number).and_then(|d| total.checked_add(d)).ok_or("it is too long")?;
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        return Err("it is zero".to_string());
    }
    Ok(total)
}

/// `healthy`, `log:<text>` or `delay:<duration>`.
pub fn parse_wait(text: &str) -> Result<Wait, String> {
    if text == "healthy" {
        Ok(Wait::Healthy)
    } else if let Some(log) = text.strip_prefix("log:") {
        if log.is_empty() {
            return Err("the text after `log:` is empty".to_string());
        }
        Ok(Wait::Log(log.to_string()))
    } else if let Some(delay) = text.strip_prefix("delay:") {
        parse_duration(delay).map(Wait::Delay)
    } else {
        Err("unknown kind of wait".to_string())
    }
}

/// `0755`, `755` or `4755`: octal permission bits.
fn parse_mode(text: &str) -> Result<u32, String> {
    if !(3..=4).contains(&text.len()) || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err("expected 3 or 4 octal digits".to_string());
    }
    u32::from_str_radix(text, 8).map_err(|e| e.to_string())
}

fn parse_owner(text: &str) -> Option<(u32, u32)> {
    let (uid, gid) = text.split_once(':')?;
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

/// `8080` as `8080/tcp`, as the engine records exposed ports.
fn normalize_port(text: &str) -> Result<String, String> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(format!("unknown protocol {proto:?}: use tcp, udp or sctp"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(format!("{p}/{proto}")),
        _ => Err("the port is not a number from 1 to 65535".to_string()),
    }
}

/// Whether a config's `User` runs as root: empty (the default), `0` or `root`, with any group.
pub fn is_root_user(user: &str) -> bool {
    matches!(user.split(':').next().unwrap_or(""), "" | "0" | "root")
}

// ---- Loading from disk --------------------------------------------------------------------

/// The largest Cargo.toml, image.toml or Dockerfile read. Definitions are a few kilobytes:
/// a bigger file is a mistake (or hostile), refused before parsing rather than parsed slowly.
pub const MAX_DEFINITION_BYTES: u64 = 1024 * 1024;

/// Reads the workspace settings and every `images/*/image.toml` below `root`, and checks
/// the paths they name on disk: symlinks must not lead a context or Dockerfile out of it.
pub fn load(root: &Utf8Path) -> Result<Definitions> {
    let real_root = std::fs::canonicalize(root).with_context(|| format!("resolving {root}"))?;
    let disk = Disk { root, real_root: &real_root };
    let manifest = Utf8Path::new("Cargo.toml");
    let settings = validate_settings(manifest, &disk.read(manifest)?)?;

    let images_dir = root.join("images");
    let listing = match std::fs::read_dir(&images_dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(no_images("there is no images/ directory"))?,
        listing => listing.with_context(|| format!("reading {images_dir}"))?,
    };
    let mut dirs = Vec::new();
    for entry in listing {
        let entry = entry.with_context(|| format!("reading {images_dir}"))?;
        let Ok(name) = entry.file_name().into_string() else {
            Err(DefinitionError {
                file: "images/".into(),
                at: None,
                message: format!("the entry {:?} has a name that is not UTF-8", entry.file_name()),
                hint: Some("rename it: an image's directory name is its name, in ASCII".to_string()),
            })?
        };
        if entry.path().join("image.toml").is_file() {
            dirs.push(name);
        }
    }
    dirs.sort();
    if dirs.is_empty() {
        Err(no_images("no directory under images/ holds an image.toml"))?;
    }
    let mut images = Vec::new();
    let mut dockerfiles = BTreeMap::new();
    for name in dirs {
        let dir = Utf8PathBuf::from("images").join(&name);
        let file = dir.join("image.toml");
        let text = disk.read(&file)?;
        let mut image = validate_image(&file, &text, &dir, &settings)?;
        // buildx does not expand `~`; a missing HOME leaves it for `build` to report.
        if let Some(home) = std::env::var("HOME").ok().filter(|h| !h.is_empty()) {
            for secret in image.secrets.values_mut() {
                if let Secret::File(path) = secret {
                    if let Some(rest) = path.strip_prefix("~/") {
                        *path = format!("{}/{rest}", home.trim_end_matches('/'));
                    }
                }
            }
        }
        // Validation passed, so this parse does too; it only recovers where the paths were written.
        let spans: Option<PathSpans> = toml::from_str(&text).ok();
        let at = |span: Option<&Spanned<String>>| span.map(|s| LineCol::of(&text, s.span().start));
        let error = |span: Option<&Spanned<String>>, message: String, hint: &str| DefinitionError {
            file: file.clone(),
            at: at(span),
            message,
            hint: Some(hint.to_string()),
        };

        let context_span = spans.as_ref().and_then(|s| s.context.as_ref());
        match disk.locate(&image.context)? {
            Located::Missing => Err(error(
                context_span,
                format!("the build context {} does not exist", image.context),
                "create the directory, or point `context` at one",
            ))?,
            Located::Outside(real) => Err(error(
                context_span,
                format!("the build context {} resolves to {}, outside the workspace", image.context, real.display()),
                OUTSIDE_HINT,
            ))?,
            Located::Inside(real) if !real.is_dir() => Err(error(
                context_span,
                format!("the build context {} is not a directory", image.context),
                "point `context` at a directory",
            ))?,
            Located::Inside(_) => {}
        }
        for (index, variant) in image.variants.iter().enumerate() {
            if dockerfiles.contains_key(&variant.dockerfile) {
                continue;
            }
            let span = spans
                .as_ref()
                .and_then(|s| s.variants.get(index).and_then(|v| v.dockerfile.as_ref()).or(s.dockerfile.as_ref()));
            match disk.locate(&variant.dockerfile)? {
                Located::Missing => Err(error(
                    span,
                    format!("the Dockerfile {} does not exist", variant.dockerfile),
                    "create it, or set `dockerfile` to the right file",
                ))?,
                Located::Outside(real) => Err(error(
                    span,
                    format!(
                        "the Dockerfile {} resolves to {}, outside the workspace",
                        variant.dockerfile,
                        real.display()
                    ),
                    OUTSIDE_HINT,
                ))?,
                Located::Inside(_) => {}
            }
            dockerfiles.insert(variant.dockerfile.clone(), disk.read(&variant.dockerfile)?);
        }
        images.push(image);
    }
    Ok(Definitions { settings, images, dockerfiles })
}

const OUTSIDE_HINT: &str =
    "a symlink leads out of the workspace, which would hand files from elsewhere on this machine to the build: \
     replace the symlink with a copy of what it points to";

fn no_images(message: &str) -> DefinitionError {
    DefinitionError {
        file: "images/".into(),
        at: None,
        message: message.to_string(),
        hint: Some(
            "add images/<name>/image.toml and images/<name>/Dockerfile (see README.md, \"Adding an image\")".into(),
        ),
    }
}

/// Where image.toml wrote its paths, for the errors found on disk after validation.
#[derive(Deserialize)]
struct PathSpans {
    context: Option<Spanned<String>>,
    dockerfile: Option<Spanned<String>>,
    #[serde(default)]
    variants: Vec<VariantPathSpans>,
}

#[derive(Deserialize)]
struct VariantPathSpans {
    dockerfile: Option<Spanned<String>>,
}

/// The workspace on disk, with its real location to tell where symlinks lead.
struct Disk<'a> {
    root: &'a Utf8Path,
    real_root: &'a std::path::Path,
}

enum Located {
    Missing,
    /// Inside the workspace, at this real path.
    Inside(std::path::PathBuf),
    /// Its real path, outside the workspace.
    Outside(std::path::PathBuf),
}

impl Disk<'_> {
    /// Where a workspace-relative path really is, symlinks resolved.
    fn locate(&self, path: &Utf8Path) -> Result<Located> {
        match std::fs::canonicalize(self.root.join(path)) {
            Ok(real) if real.starts_with(self.real_root) => Ok(Located::Inside(real)),
            Ok(real) => Ok(Located::Outside(real)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Located::Missing),
            Err(err) => Err(err).with_context(|| format!("resolving {path}")),
        }
    }

    /// A definition file's text: a regular file inside the workspace, at most
    /// `MAX_DEFINITION_BYTES`, UTF-8. Reads no more than the limit, whatever the file claims.
    fn read(&self, file: &Utf8Path) -> Result<String> {
        use std::io::Read;
        let error = |at: Option<LineCol>, message: String, hint: &str| DefinitionError {
            file: file.to_owned(),
            at,
            message,
            hint: Some(hint.to_string()),
        };
        match self.locate(file)? {
            Located::Missing => Err(error(None, "does not exist".to_string(), "create it"))?,
            Located::Outside(real) => {
                Err(error(None, format!("resolves to {}, outside the workspace", real.display()), OUTSIDE_HINT))?
            }
            Located::Inside(real) if !real.is_file() => {
                Err(error(None, "is not a regular file".to_string(), "replace it with a text file"))?
            }
            Located::Inside(_) => {}
        }
        let path = self.root.join(file);
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_DEFINITION_BYTES + 1).read_to_end(&mut bytes))
            .with_context(|| format!("reading {file}"))?;
        if bytes.len() as u64 > MAX_DEFINITION_BYTES {
            let size = std::fs::metadata(&path).map_or(bytes.len() as u64, |m| m.len());
            Err(error(
                None,
                format!("is {size} bytes, over the {MAX_DEFINITION_BYTES}-byte (1 MiB) limit for definition files"),
                "definitions hold settings and build steps, not data: move large content into the build context",
            ))?;
        }
        String::from_utf8(bytes).map_err(|err| {
            let valid = err.utf8_error().valid_up_to();
            let bytes = err.as_bytes();
            let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
            let message = format!("is not UTF-8 text (byte 0x{:02x})", bytes[valid]);
            error(Some(LineCol::of(before, valid)), message, "save it as UTF-8").into()
        })
    }
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
        assert_eq!(err.to_string(), "Cargo.toml:2:1: unknown key `registyr`\n  hint: did you mean `registry`? Valid keys here: registry, namespace, platforms, network, tags, runners, builders");
    }

    #[test]
    fn runners_and_builders_map_known_platforms_to_safe_names() {
        let s = settings();
        assert_eq!(s.runners["linux/amd64"], "ubuntu-24.04");
        assert_eq!(s.runners["linux/arm64"], "ubuntu-24.04-arm");
        assert!(s.builders.is_empty());

        let text =
            "[workspace.metadata.images.runners]\n\"linux/arm64\" = \"arm-box\"\n\"linux/arm/v7\" = \"ubuntu-24.04\"\n\
                    [workspace.metadata.images.builders]\n\"linux/arm64\" = \"arm-native\"\n";
        let s = validate_settings(Utf8Path::new("Cargo.toml"), text).unwrap();
        let runners: Vec<(&str, &str)> = s.runners.iter().map(|(p, r)| (p.as_str(), r.as_str())).collect();
        assert_eq!(
            runners,
            [("linux/amd64", "ubuntu-24.04"), ("linux/arm/v7", "ubuntu-24.04"), ("linux/arm64", "arm-box")]
        );
        assert_eq!(s.builders, BTreeMap::from([("linux/arm64".to_string(), "arm-native".to_string())]));

        let err = |text: &str| validate_settings(Utf8Path::new("Cargo.toml"), text).unwrap_err().to_string();
        assert_eq!(
            err("[workspace.metadata.images.runners]\n\"linux/arm46\" = \"x\"\n"),
            "Cargo.toml:2:1: unknown platform \"linux/arm46\"\n  hint: did you mean \"linux/arm64\"? Known platforms: \
             linux/amd64, linux/arm64, linux/arm/v7, linux/arm/v6, linux/ppc64le, linux/s390x, linux/riscv64, linux/386"
        );
        assert_eq!(
            err("[workspace.metadata.images.runners]\n\"linux/arm64\" = \"${{ github.actor }}\"\n"),
            "Cargo.toml:2:17: invalid runner label \"${{ github.actor }}\" for linux/arm64\n  hint: use letters, \
             digits, `.`, `_` and `-`, starting with a letter or digit, e.g. \"ubuntu-24.04-arm\""
        );
        assert!(err("[workspace.metadata.images.builders]\n\"linux/amd64\" = \"\"\n")
            .starts_with("Cargo.toml:2:17: invalid builder name \"\" for linux/amd64"));
    }

    #[test]
    fn scan_allowances_need_an_id_a_real_date_and_a_reason() {
        let img = image(
            "[[scan.allow]]\nid = \"CVE-2024-1234\"\nuntil = \"2027-01-31\"\nreason = \"no shell to reach it\"\n\
             [[scan.allow]]\nid = \"GHSA-abcd-1234-efgh\"\nuntil = 2028-02-29\nreason = \"test only\"\n",
        )
        .unwrap();
        let allow = &img.scan.allow;
        assert_eq!(allow[0].id, "CVE-2024-1234");
        assert_eq!(allow[0].until, Date { year: 2027, month: 1, day: 31 });
        assert_eq!(allow[0].at, "images/orb/image.toml:2:6");
        assert_eq!(allow[1].until.to_string(), "2028-02-29", "a TOML date works as well as a string");
        assert_eq!(image("").unwrap().scan, ScanPolicy::default());

        let entry = |id: &str, until: &str, reason: &str| {
            image(&format!("[[scan.allow]]\nid = {id}\nuntil = {until}\nreason = {reason}\n")).unwrap_err()
        };
        assert_eq!(
            entry("\"CVE-24-1\"", "\"2027-01-31\"", "\"r\""),
            "images/orb/image.toml:2:6: invalid vulnerability id \"CVE-24-1\": a CVE id is CVE-YYYY-NNNN (four or \
             more digits)\n  hint: write the id the scanner reports, e.g. \"CVE-2024-1234\" or \"GHSA-xxxx-xxxx-xxxx\""
        );
        assert!(entry("\"cve-2024-1234\"", "\"2027-01-31\"", "\"r\"").contains("upper-case source"));
        assert!(entry("\"CVE-2024-1234\"", "\"2027-02-29\"", "\"r\"").starts_with(
            "images/orb/image.toml:3:9: invalid `until`: \"2027-02-29\" is not a day: 2027-02 has 28 days"
        ));
        assert!(entry("\"CVE-2024-1234\"", "\"31.01.2027\"", "\"r\"").contains("write YYYY-MM-DD"));
        assert!(entry("\"CVE-2024-1234\"", "2027-01-31T10:00:00", "\"r\"").contains("is not a plain date"));
        assert!(entry("\"CVE-2024-1234\"", "\"2027-01-31\"", "\" \"")
            .starts_with("images/orb/image.toml:4:10: the allowance of CVE-2024-1234 gives no reason"));
        let twice = image(
            "[[scan.allow]]\nid = \"CVE-2024-1234\"\nuntil = \"2027-01-31\"\nreason = \"a\"\n\
             [[scan.allow]]\nid = \"CVE-2024-1234\"\nuntil = \"2027-01-31\"\nreason = \"b\"\n",
        )
        .unwrap_err();
        assert!(
            twice.starts_with(
                "images/orb/image.toml:6:6: CVE-2024-1234 is allowed twice (first at images/orb/image.toml:2:6)"
            ),
            "{twice}"
        );
        let unknown =
            image("[[scan.allow]]\nid = \"CVE-2024-1234\"\nuntil = \"2027-01-31\"\nreson = \"x\"\n").unwrap_err();
        assert!(
            unknown.starts_with("images/orb/image.toml:4:1: unknown key `reson`\n  hint: did you mean `reason`?"),
            "{unknown}"
        );
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
licenses = " PSF-2.0 AND 0BSD "
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
        assert_eq!(img.licenses.as_deref(), Some("PSF-2.0 AND 0BSD"), "trimmed");
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
            (
                "licenses = \"MIT/Apache-2.0\"",
                "1:12",
                "`licenses` is not an SPDX license expression: `/` is not allowed",
                "Apache-2.0 OR MIT",
            ),
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
    fn lint_allow_names_known_rules() {
        let img = image("[lint]\nallow = [\"root-user\", \"package-cache\"]\n").unwrap();
        assert_eq!(img.lint.allow, [crate::core::lint::Rule::RootUser, crate::core::lint::Rule::PackageCache]);
        assert_eq!(image("").unwrap().lint, LintPolicy::default());
        let err = image("[lint]\nallow = [\"healthcheck\", \"rot-user\"]\n").unwrap_err();
        assert!(
            err.starts_with("images/orb/image.toml:2:25: unknown lint rule \"rot-user\"\n  hint: did you mean `root-user`? Rules: root-user, healthcheck,"),
            "{err}"
        );
        let err = image("[lint]\nallow = [\"frobnicate\"]\n").unwrap_err();
        assert!(err.contains("hint: use one of: root-user,"), "{err}");
        let err = image("[lint]\nallow = [\"healthcheck\", \"healthcheck\"]\n").unwrap_err();
        assert!(err.starts_with("images/orb/image.toml:2:25: lint rule \"healthcheck\" is listed twice"), "{err}");
        let err = image("[lint]\nalow = []\n").unwrap_err();
        assert!(
            err.starts_with("images/orb/image.toml:2:1: unknown key `alow`\n  hint: did you mean `allow`?"),
            "{err}"
        );
    }

    #[test]
    fn missing_default_variant_and_type_errors() {
        let err = image("[[variants]]\nname = \"a\"\n").unwrap_err();
        assert_eq!(err, "images/orb/image.toml:2:8: no variant is marked `default = true`\n  hint: mark exactly one [[variants]] entry with `default = true`");
        let err = image("platforms = \"linux/amd64\"").unwrap_err();
        assert!(err.starts_with("images/orb/image.toml:1:13: invalid type"), "{err}");
        let err = image("description = \"x\n").unwrap_err();
        assert!(err.starts_with("images/orb/image.toml:1:"), "TOML syntax errors carry a position: {err}");
    }

    #[test]
    fn size_budgets() {
        let img = image("[size]\nmax = \"150MB\"\nmax_growth = \"20%\"\nmax_arch_spread = \"12.5%\"\n").unwrap();
        assert_eq!(
            img.size,
            SizeBudget { max: Some(150_000_000), max_growth: Some(0.2), max_arch_spread: Some(0.125) }
        );
        assert_eq!(parse_bytes("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(parse_bytes("512"), Ok(512));
        let err = image("[size]\nmax = \"150 furlongs\"\n").unwrap_err();
        assert!(err.starts_with("images/orb/image.toml:2:7: invalid `max`") && err.contains("unknown unit"), "{err}");
        let err = image("[size]\nmax_growth = \"20\"\n").unwrap_err();
        assert!(err.starts_with("images/orb/image.toml:2:14: invalid `max_growth`"), "{err}");
        let err = image("[size]\nmax_grwoth = \"1%\"\n").unwrap_err();
        assert!(err.contains("did you mean `max_growth`?"), "{err}");
    }

    #[test]
    fn secrets_record_where_each_value_is() {
        let img = image("[secrets]\nnpm = { env = \"NPM_TOKEN\" }\nnetrc = { file = \"~/.netrc\" }\nkey = { file = \"/run/k\" }\nsibling = { file = \"../shared/token\" }\n").unwrap();
        let secrets: Vec<(&str, &Secret)> = img.secrets.iter().map(|(id, s)| (id.as_str(), s)).collect();
        assert_eq!(
            secrets,
            [
                ("key", &Secret::File("/run/k".into())),
                ("netrc", &Secret::File("~/.netrc".into())),
                ("npm", &Secret::Env("NPM_TOKEN".into())),
                ("sibling", &Secret::File("images/shared/token".into())),
            ]
        );
        let err = image("[secrets]\nt = { file = \"token.txt\" }\n").unwrap_err();
        assert!(
            err.starts_with(
                "images/orb/image.toml:2:14: secret file images/orb/token.txt is inside the build context images/orb"
            ),
            "{err}"
        );
        let err = image("context = \"../..\"\n[secrets]\nt = { file = \"../shared/token\" }\n").unwrap_err();
        assert!(err.contains("is inside the build context ."), "the whole workspace as context: {err}");
        let err = image("[secrets]\nt = { file = \"../../../token\" }\n").unwrap_err();
        assert!(err.contains("`file` \"../../../token\" points outside the workspace"), "{err}");
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
        let bad =
            ["", "localhost:port", "a b", "host/path", "a..b", "-a.test", "a-.test", "myregistry", "[zz]:1", "r:+5"];
        for bad in bad {
            assert!(check_registry_host(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn tests_parse_with_defaults_filters_and_placeholders() {
        let img = image(
            r#"
[args]
PYTHON_VERSION = "3.13"
[[variants]]
name = "python3.13"
default = true
[[variants]]
name = "python3.12"
args = { PYTHON_VERSION = "3.12" }

[[tests]]
name = "python runs"
command = ["python3", "--version"]
stdout = "Python {PYTHON_VERSION}, not {{PYTHON_VERSION}}"
stdout_regex = '^Python \d+\.\d{2} on {TARGETARCH}$'
variants = ["python3.13"]
platforms = ["linux/arm64"]
timeout = "1m30s"

[[tests.files]]
path = "/usr/bin/python{PYTHON_VERSION}"
mode = "0755"
owner = "0:0"

[[tests.files]]
path = "/root/.cache"
exists = false

[tests.metadata]
user = "nonroot"
healthcheck = true
env = { LANG = "C.UTF-8" }
exposed_ports = ["5432", "53/udp"]
entrypoint = ["docker-entrypoint.sh"]

[[tests.service]]
env = { POSTGRES_PASSWORD = "test" }
wait = "log:ready to accept"
probe = ["psql", "-c", "SELECT 1"]
stdout = "1 row"

[[tests.service]]
wait = "delay:2s"

[[tests]]
name = "exit status"
command = ["sh", "-c", "exit 3"]
exit_code = 3
"#,
        )
        .unwrap();
        let [python, exit] = &img.tests[..] else { panic!("two tests: {:?}", img.tests) };
        assert_eq!(python.command.as_deref(), Some(&["python3".to_string(), "--version".to_string()][..]));
        assert_eq!(
            python.expect.stdout.as_deref(),
            Some("Python {PYTHON_VERSION}, not {{PYTHON_VERSION}}"),
            "filled per unit at run time"
        );
        assert_eq!(python.expect.exit_code, 0);
        assert_eq!(
            (python.variants.as_slice(), python.platforms.as_slice()),
            (&["python3.13".to_string()][..], &["linux/arm64".to_string()][..])
        );
        assert_eq!(python.timeout, Duration::from_secs(90));
        assert_eq!(
            python.files,
            [
                FileCheck {
                    path: "/usr/bin/python{PYTHON_VERSION}".into(),
                    exists: true,
                    mode: Some(0o755),
                    owner: Some((0, 0))
                },
                FileCheck { path: "/root/.cache".into(), exists: false, mode: None, owner: None },
            ]
        );
        let meta = python.metadata.as_ref().unwrap();
        assert_eq!((meta.user.as_deref(), meta.allow_root, meta.healthcheck), (Some("nonroot"), false, Some(true)));
        assert_eq!(meta.exposed_ports.as_deref(), Some(&["5432/tcp".to_string(), "53/udp".to_string()][..]));
        assert_eq!(python.services[0].wait, Wait::Log("ready to accept".into()));
        assert_eq!(python.services[0].expect.stdout.as_deref(), Some("1 row"));
        assert_eq!(python.services[1].wait, Wait::Delay(Duration::from_secs(2)));
        assert_eq!((exit.expect.exit_code, exit.timeout, exit.variants.len()), (3, DEFAULT_TEST_TIMEOUT, 0));
    }

    #[test]
    fn test_errors_point_at_the_value() {
        let variants = "[[variants]]\nname = \"quiet\"\ndefault = true\n[[variants]]\nname = \"loud\"\nargs = { LOUDNESS = \"11\" }\n";
        let cases = [
            (
                "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nstdot = \"x\"",
                "stdot",
                "unknown key `stdot`",
                "did you mean `stdout`?",
            ),
            (
                "[[tests]]\nname = \"a\"\n[[tests.files]]\npth = \"/x\"",
                "pth",
                "unknown key `pth`",
                "did you mean `path`?",
            ),
            (
                "[[tests]]\nname = \"a\"\n[tests.metadata]\nusr = \"1\"",
                "usr",
                "unknown key `usr`",
                "did you mean `user`?",
            ),
            (
                "[[tests]]\nname = \"a\"\n[[tests.service]]\nprobes = [\"x\"]",
                "probes",
                "unknown key `probes`",
                "did you mean `probe`?",
            ),
            (
                "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nvariants = [\"luod\"]",
                "\"luod\"",
                "variant \"luod\", which the image does not have",
                "did you mean \"loud\"?",
            ),
            (
                "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nplatforms = [\"linux/arm46\"]",
                "\"linux/arm46\"",
                "platform \"linux/arm46\", which the image does not build for",
                "did you mean \"linux/arm64\"?",
            ),
            (
                "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nstdout_regex = \"a(\"",
                "\"a(\"",
                "invalid regex \"a(\"",
                "`regex` crate",
            ),
            (
                "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\ntimeout = \"30 sec\"",
                "\"30 sec\"",
                "invalid timeout \"30 sec\": unknown unit \" sec\"",
                "\"2m\"",
            ),
            (
                "[[tests]]\nname = \"a\"\n[[tests.files]]\npath = \"/x\"\nmode = \"0855\"",
                "\"0855\"",
                "invalid mode \"0855\"",
                "octal",
            ),
            (
                "[[tests]]\nname = \"a\"\n[[tests.files]]\npath = \"/x\"\nowner = \"root:root\"",
                "\"root:root\"",
                "invalid owner",
                "uid:gid",
            ),
            ("[[tests]]\nname = \"a\"\n[[tests.files]]\npath = \"x\"", "\"x\"", "is not absolute", "from `/`"),
            (
                "[[tests]]\nname = \"a\"\n[[tests.files]]\npath = \"/x\"\nexists = false\nmode = \"0755\"",
                "false",
                "`exists = false` with `mode`",
                "remove them",
            ),
            (
                "[[tests]]\nname = \"a\"\n[[tests.service]]\nwait = \"ready\"",
                "\"ready\"",
                "invalid wait \"ready\"",
                "log:<text>",
            ),
            (
                "[[tests]]\nname = \"a\"\n[[tests.service]]\nstdout = \"x\"",
                "\"x\"",
                "the service has no `probe`",
                "add `probe",
            ),
            (
                "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nstdout = \"{NOPE}\"",
                "\"{NOPE}\"",
                "`{NOPE}` is not a build arg of variant \"quiet\"",
                "`{{NOPE}}`",
            ),
            (
                "[[tests]]\nname = \"a\"\ncommand = [\"echo\", \"{LOUDNESS}\"]",
                "\"{LOUDNESS}\"",
                "`{LOUDNESS}` is not a build arg of variant \"quiet\"",
                "TARGETARCH",
            ),
            (
                "[[tests]]\nname = \"a\"\n[tests.metadata]\nuser = \"root\"",
                "\"root\"",
                "`user = \"root\"` is root",
                "allow_root = true",
            ),
            ("[[tests]]\nname = \"a\"\nstdout = \"x\"", "\"x\"", "the test has no `command`", "add `command"),
            ("[[tests]]\nname = \"a\"\ncommand = []", "[]", "`command` is empty", "argv"),
            ("[[tests]]\nname = \"a\"", "\"a\"", "test \"a\" checks nothing", "[[tests.files]]"),
            (
                "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\n[[tests]]\nname = \"a\"\ncommand = [\"true\"]",
                "\"a\"\ncommand = [\"true\"]\n[[tests]]",
                "",
                "",
            ),
            (
                "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nexit_code = 300",
                "300",
                "invalid exit_code 300",
                "0 to 255",
            ),
            (
                "[[tests]]\nname = \"a\"\n[tests.metadata]\nexposed_ports = [\"80/xtp\"]",
                "\"80/xtp\"",
                "invalid port \"80/xtp\": unknown protocol",
                "port[/proto]",
            ),
        ];
        for (tests, marker, message, hint) in cases {
            let text = format!("{variants}{tests}");
            let err = image(&text).unwrap_err();
            // The duplicate-name case points at the second name; every other at its first marker.
            let offset = if message.is_empty() { text.rfind("\"a\"").unwrap() } else { text.rfind(marker).unwrap() };
            let at = LineCol::of(&text, offset);
            let (message, hint) = if message.is_empty() {
                ("test name \"a\" is used twice (first at line 8)", "distinct")
            } else {
                (message, hint)
            };
            assert!(
                err.starts_with(&format!("images/orb/image.toml:{at}: ")),
                "{tests:?} gave {err}, expected at {at}"
            );
            assert!(err.contains(message), "{tests:?} gave {err}");
            assert!(err.contains(hint), "{tests:?} gave {err}");
        }
    }

    #[test]
    fn placeholders_substitute_names_and_leave_other_braces() {
        let args = BTreeMap::from([("V".to_string(), "3.13".to_string())]);
        let fill = |text: &str| substitute(text, |name| args.get(name).cloned());
        assert_eq!(fill("Python {V}"), Ok("Python 3.13".to_string()));
        assert_eq!(
            fill("{{V}} is {V}; a{2,3} {\"k\": 1} {} {1x}"),
            Ok("{V} is 3.13; a{2,3} {\"k\": 1} {} {1x}".to_string())
        );
        assert_eq!(fill("{W}"), Err("W".to_string()));
    }

    #[test]
    fn durations_waits_modes_and_ports() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h1m1s"), Ok(Duration::from_secs(3661)));
        for bad in ["", "30", "s", "1.5s", "0s", "-1s", "1d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(parse_wait("healthy"), Ok(Wait::Healthy));
        assert_eq!(parse_wait("log:ready: yes"), Ok(Wait::Log("ready: yes".into())));
        assert_eq!(parse_wait("delay:2s"), Ok(Wait::Delay(Duration::from_secs(2))));
        assert!(parse_wait("log:").is_err() && parse_wait("delay:soon").is_err());
        assert_eq!((parse_mode("0755"), parse_mode("4755"), parse_mode("644")), (Ok(0o755), Ok(0o4755), Ok(0o644)));
        assert!(parse_mode("75").is_err() && parse_mode("0o755").is_err());
        assert_eq!(normalize_port("8080"), Ok("8080/tcp".to_string()));
        assert!(normalize_port("0").is_err() && normalize_port("70000/tcp").is_err());
        for root in ["", "0", "root", "0:0", "root:wheel"] {
            assert!(is_root_user(root), "{root:?}");
        }
        for user in ["65534", "nobody:nogroup", "1000:0"] {
            assert!(!is_root_user(user), "{user:?}");
        }
    }

    #[test]
    fn rootfs_is_unpacked_packages_or_a_bootstrapped_suite_resolved_per_variant() {
        let packages = image("[rootfs]\npackages = [\"busybox-static\"]\n").unwrap();
        assert_eq!(packages.rootfs, Some(Rootfs::Packages(vec!["busybox-static".into()])));
        let debian = image(
            "[rootfs]\nsuite = \"{SUITE}\"\nslim = true\ninclude = [\"ca-certificates\"]\n\
             [[variants]]\nname = \"bookworm\"\ndefault = true\nargs = { SUITE = \"bookworm\" }\n\
             [[variants]]\nname = \"trixie\"\nargs = { SUITE = \"trixie\" }\n",
        )
        .unwrap();
        let rootfs = debian.rootfs.unwrap();
        let bootstrap = |suite: &str, variant: &str, slim, include: &[&str]| {
            let include = include.iter().map(|p| p.to_string()).collect();
            Rootfs::Mmdebstrap(Bootstrap { suite: suite.into(), variant: variant.into(), slim, include })
        };
        let certificates = ["ca-certificates"];
        assert_eq!(rootfs, bootstrap("{SUITE}", "minbase", true, &certificates), "minbase unless told otherwise");
        assert_eq!(rootfs.resolve(&debian.variants[1].args), Ok(bootstrap("trixie", "minbase", true, &certificates)));
        assert_eq!(rootfs.resolve(&BTreeMap::new()), Err("SUITE".to_string()));
        let plain = image("[args]\nSUITE = \"trixie\"\n[rootfs]\nsuite = \"{SUITE}\"\nvariant = \"apt\"\n").unwrap();
        assert_eq!(plain.rootfs.unwrap().resolve(&plain.args), Ok(bootstrap("trixie", "apt", false, &[])));
        let serialized = serde_json::to_string(&bootstrap("trixie", "minbase", true, &certificates)).unwrap();
        assert_eq!(
            serialized,
            r#"{"mmdebstrap":{"suite":"trixie","variant":"minbase","slim":true,"include":["ca-certificates"]}}"#
        );
    }

    #[test]
    fn rootfs_errors_point_at_the_key() {
        let cases = [
            ("[rootfs]\npackages = [\"busybox-static\"]\nsuite = \"bookworm\"\n", "3:9", "[rootfs] sets both `packages` and `suite`", "keep one"),
            ("[rootfs]\n", "1:1", "[rootfs] has neither `packages` nor `suite`", "suite = \"bookworm\""),
            ("[rootfs]\npackages = [\"busybox-static\"]\nslim = true\n", "3:8", "[rootfs] `slim` applies to a `suite`, not to `packages`", "remove `slim`"),
            ("[rootfs]\npackages = [\"busybox-static\"]\nvariant = \"apt\"\n", "3:11", "[rootfs] `variant` applies to a `suite`", "remove `variant`"),
            ("[rootfs]\npackages = [\"busybox-static\"]\ninclude = [\"curl\"]\n", "3:11", "[rootfs] `include` applies to a `suite`", "remove `include`"),
            ("[rootfs]\nsuite = \"bookworm\"\ninclude = [\"--hook-dir=/x\"]\n", "3:12", "invalid Debian package name \"--hook-dir=/x\"", "lowercase"),
            ("[rootfs]\nsuite = \"bookworm\"\nvariant = \"minbas\"\n", "3:11", "unknown mmdebstrap variant \"minbas\"", "did you mean \"minbase\"?"),
            ("[rootfs]\nsuite = \"Bookworm\"\n", "2:9", "invalid Debian suite \"Bookworm\"", "\"trixie\""),
            ("[rootfs]\nsuite = \"bookworm --include=x\"\n", "2:9", "invalid Debian suite", "codename"),
            ("[rootfs]\nsuite = \"{SUITE}\"\n", "2:9", "`{SUITE}` in [rootfs] `suite` is not a build arg of this image", "build args here: none"),
            (
                "[rootfs]\nsuite = \"{SUITE}\"\n[[variants]]\nname = \"a\"\ndefault = true\nargs = { SUITE = \"bookworm\" }\n[[variants]]\nname = \"b\"\n",
                "2:9",
                "`{SUITE}` in [rootfs] `suite` is not a build arg of variant \"b\"",
                "set SUITE in [args] or in the variant's `args`",
            ),
            (
                "[rootfs]\nsuite = \"{SUITE}\"\n[[variants]]\nname = \"a\"\ndefault = true\nargs = { SUITE = \"Sid\" }\n",
                "2:9",
                "invalid Debian suite \"Sid\" (for variant \"a\")",
                "codename",
            ),
            ("[rootfs]\nsuite = \"bookworm\"\nmirror = \"x\"\n", "3:1", "unknown key `mirror`", "suite"),
        ];
        for (text, at, message, hint) in cases {
            let err = image(text).unwrap_err();
            let (first, rest) = err.split_once('\n').unwrap_or((&err, ""));
            assert!(first.starts_with(&format!("images/orb/image.toml:{at}: {message}")), "{text:?}: {err}");
            assert!(rest.starts_with("  hint: ") && rest.contains(hint), "{text:?}: {err}");
        }
    }
}
