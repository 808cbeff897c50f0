//! The workspace settings (`[workspace.metadata.images]` in Cargo.toml) and the
//! image definitions (`images/<dir>/image.toml`).
//!
//! `validate_image` and `validate_settings` are pure: text in, model or error
//! out. Every error names the file, line, column and key, and says how to fix it.
//! `load` is the thin shell that reads the files.

use crate::oci::reference::{check_registry_host, check_repository, is_docker_hub};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use anyhow::Result;
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use toml::Spanned;

use crate::core::diag::{nearest, LineCol};
use crate::core::tags::TagTemplates;

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
    /// The git tag of a release: `v{version}`, or `{image}-v{version}` in a monorepo.
    pub release_tag: String,
    /// `[runners]`: the CI runner label each platform's matrix legs run on (natively).
    pub runners: BTreeMap<String, String>,
    /// `[builders]`: the buildx builder each platform is built with; unlisted: the current one.
    pub builders: BTreeMap<String, String>,
    /// The docker context builds and tests talk to (`engine`); `--engine`, `DOCKER_HOST` and
    /// `DOCKER_CONTEXT` override it for one run.
    pub engine: String,
    /// Where the registry build caches go (`cache_repository`): `{repository}` is the image's
    /// path; without it, one repository shared by every image.
    pub cache_repository: String,
    /// `[ci]`: the generated workflow's triggers and leg selection.
    pub ci: CiSettings,
    /// The local registry sends pull notifications to `cargo xtask analytics serve`.
    pub analytics: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiSettings {
    /// Branches whose pushes build and publish.
    pub branches: Vec<String>,
    /// The weekly (or other) cron of a forced rebuild that picks up base and package updates.
    pub schedule: Option<String>,
    /// Legs only for the units a push or pull request changed, and their children.
    pub changed_only: bool,
}

impl Default for CiSettings {
    fn default() -> Self {
        CiSettings { branches: vec!["main".to_string()], schedule: Some("17 4 * * 1".to_string()), changed_only: true }
    }
}

/// A cache repository beside each image's, so that its `buildcache-*` tags are not versions of it.
pub const DEFAULT_CACHE_REPOSITORY: &str = "{repository}-cache";

/// The engine when the settings name none: the one `cargo xtask provision` sets up.
pub const DEFAULT_ENGINE: &str = "xtask";

/// Runner labels of GitHub's hosted runners: native amd64 and arm64 machines.
pub const DEFAULT_RUNNERS: [(&str, &str); 2] = [("linux/amd64", "ubuntu-24.04"), ("linux/arm64", "ubuntu-24.04-arm")];

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
    pub secrets: BTreeMap<String, BuildSecret>,
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
    /// The platforms this variant builds: a subset of the image's (all of them by default).
    pub platforms: Vec<String>,
    /// The repository path this variant is published to (the image's by default).
    pub repository: String,
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
    /// The archive and the security archive to bootstrap from, instead of the host's (or,
    /// without host sources, Debian's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_mirror: Option<String>,
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
pub enum BuildSecret {
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

mod axes;
mod image;
mod run_options;
mod settings;
mod source;
mod test_cases;
#[cfg(test)]
mod tests;
mod variants;

use axes::*;
pub use image::*;
pub use run_options::*;
pub use settings::*;
pub use source::*;
pub use test_cases::*;
pub use variants::*;
