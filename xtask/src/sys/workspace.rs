//! What every command starts from: the workspace root, its definitions, the
//! effective registry and the detected event.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::definitions::Definitions;
use crate::core::event::{self, Event, EventFlags};
use crate::core::plan::Unit;

pub struct Workspace {
    pub root: Utf8PathBuf,
    pub defs: Definitions,
    /// `--registry`, else `XTASK_REGISTRY`, else the workspace setting.
    pub registry: String,
    event_flags: EventFlags,
    /// Detected on first use, so commands that compute no tags never run git.
    event: OnceLock<Result<Detected, String>>,
}

/// The event, with the build time stamped into labels and HEAD's commit time.
struct Detected {
    event: Event,
    build_time: u64,
    commit_time: Option<u64>,
}

/// What the command line says about the workspace (`cli` turns flags into this).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub root: Option<PathBuf>,
    pub registry: Option<String>,
    pub event: EventFlags,
}

impl Workspace {
    pub fn load(options: &Options) -> Result<Workspace> {
        let root = root(options.root.as_deref())?;
        let defs = crate::sys::definitions::load(&root)?;
        Workspace::with_definitions(root, defs, options)
    }

    /// The workspace for commands that must work while an image.toml is broken (`provision`,
    /// `doctor`): the settings, no images, and the error that kept the images out.
    pub fn load_lenient(options: &Options) -> Result<(Workspace, Option<anyhow::Error>)> {
        let root = root(options.root.as_deref())?;
        match crate::sys::definitions::load(&root) {
            Ok(defs) => Ok((Workspace::with_definitions(root, defs, options)?, None)),
            Err(err) => {
                let settings = crate::sys::definitions::load_settings(&root)?;
                let defs = Definitions { settings, images: vec![], dockerfiles: Default::default() };
                Ok((Workspace::with_definitions(root, defs, options)?, Some(err)))
            }
        }
    }

    fn with_definitions(root: Utf8PathBuf, defs: Definitions, options: &Options) -> Result<Workspace> {
        let registry = effective_registry(options.registry.as_deref(), &defs.settings.registry)?;
        Ok(Workspace { root, defs, registry, event_flags: options.event.clone(), event: OnceLock::new() })
    }

    /// The event this run builds for: flags, else CI variables, else git (asked once).
    pub fn event(&self) -> Result<&Event> {
        Ok(&self.detected()?.event)
    }

    /// Seconds since the epoch this run stamps into labels and `{timestamp}`.
    pub fn build_time(&self) -> Result<u64> {
        Ok(self.detected()?.build_time)
    }

    /// HEAD's commit time (RFC 3339), outside a checkout `None`: where a release's lead time starts.
    pub fn committed(&self) -> Result<Option<String>> {
        Ok(self.detected()?.commit_time.map(|seconds| event::utc(seconds).1))
    }

    /// The units of `selection` (all when empty) for this run's event, in dependency order.
    pub fn plan(&self, selection: &[String]) -> Result<Vec<Unit>> {
        crate::core::plan::plan(&self.defs, self.event()?, &self.registry, selection)
    }

    /// The plan without refusing Dockerfiles BuildKit would reject, for `lint` to report them.
    pub fn plan_lenient(&self, selection: &[String]) -> Result<Vec<Unit>> {
        crate::core::plan::plan_lenient(&self.defs, self.event()?, &self.registry, selection)
    }

    fn detected(&self) -> Result<&Detected> {
        let detected = self.event.get_or_init(|| {
            let git = crate::sys::git::head_facts(&self.root);
            let now = crate::sys::now_seconds();
            let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
            let build_time = event::build_time(epoch.as_deref(), git.as_ref(), now);
            let images: Vec<&str> = self.defs.images.iter().map(|i| i.name.as_str()).collect();
            let today = event::utc(now).0;
            let clock = event::Clock { timestamp: event::utc(build_time).0, date: today[..8].to_string() };
            let rule = event::ReleaseRule { template: &self.defs.settings.release_tag, images: &images };
            event::detect(&self.event_flags, &ci_env(), git.as_ref(), &rule, clock)
                .map(|event| Detected { event, build_time, commit_time: git.as_ref().map(|g| g.commit_time) })
                .map_err(|err| format!("{err:#}"))
        });
        detected.as_ref().map_err(|why| anyhow::anyhow!("{why}"))
    }

    /// The text of a planned unit's Dockerfile, read with the definitions.
    pub fn dockerfile(&self, unit: &crate::core::plan::Unit) -> Result<&str> {
        let text = self.defs.dockerfiles.get(&unit.dockerfile);
        text.map(String::as_str).with_context(|| format!("{} was not read with the definitions", unit.dockerfile))
    }

    /// Scratch space for logs, metadata and caches: `target/xtask`.
    pub fn target(&self) -> Utf8PathBuf {
        self.root.join("target/xtask")
    }

    /// Downloaded packages and root filesystems: `XTASK_CACHE_DIR`, else `target/xtask/cache`.
    /// Shareable between workspaces, as the integration tests' fixtures do.
    pub fn cache(&self) -> Utf8PathBuf {
        match std::env::var("XTASK_CACHE_DIR") {
            Ok(dir) if !dir.is_empty() => Utf8PathBuf::from(dir),
            _ => self.target().join("cache"),
        }
    }

    /// Every platform any image declares (the default platforms when no image could be read),
    /// for provisioning emulators.
    pub fn all_platforms(&self) -> Vec<String> {
        if self.defs.images.is_empty() {
            return self.defs.settings.platforms.clone();
        }
        let mut platforms: Vec<String> = self.defs.images.iter().flat_map(|i| i.platforms.iter().cloned()).collect();
        platforms.sort();
        platforms.dedup();
        platforms
    }

    pub fn host(&self) -> crate::sys::provision::Host {
        crate::sys::provision::Host {
            root: self.root.clone(),
            registry: self.registry.clone(),
            platforms: self.all_platforms(),
            cache: self.cache(),
            analytics: self.defs.settings.analytics,
        }
    }
}

/// `--root`, else the workspace of the package `cargo run` started (`CARGO_MANIFEST_DIR`, read
/// at run time: a binary in a target directory shared by two clones must not build the other
/// one), else the nearest directory at or above the current one whose Cargo.toml declares
/// `[workspace.metadata.images]`. Never a path compiled into the binary.
pub fn root(explicit: Option<&Path>) -> Result<Utf8PathBuf> {
    let root = match explicit {
        Some(p) => {
            let path = std::fs::canonicalize(p).with_context(|| format!("--root {}", p.display()))?;
            if !path.join("Cargo.toml").is_file() {
                bail!(
                    "{} has no Cargo.toml: pass --root pointing at a workspace with [workspace.metadata.images]",
                    path.display()
                );
            }
            path
        }
        None => {
            let current = std::env::current_dir().context("reading the current directory")?;
            // The package `cargo run` started, else (another project's `cargo run`, or none) here.
            let starts = std::env::var_os("CARGO_MANIFEST_DIR").filter(|d| !d.is_empty()).map(PathBuf::from);
            let found = starts.into_iter().chain([current.clone()]).find_map(|start| {
                let start = std::fs::canonicalize(start).ok()?;
                start.ancestors().find(|dir| declares_images(&dir.join("Cargo.toml"))).map(Path::to_path_buf)
            });
            found.with_context(|| {
                format!(
                    "no Cargo.toml with [workspace.metadata.images] at or above {}: run from inside the workspace, \
                     or pass --root",
                    current.display()
                )
            })?
        }
    };
    Utf8PathBuf::from_path_buf(root).map_err(|p| anyhow::anyhow!("the workspace path {} is not UTF-8", p.display()))
}

/// Whether this Cargo.toml is an image workspace's. Only its first MiB is read; a file that
/// says so but is broken is still the root, so that loading reports the error where it is.
fn declares_images(manifest: &Path) -> bool {
    let Some(text) = read_head(manifest) else { return false };
    text.lines().any(|line| {
        let line = line.trim();
        line.starts_with("[workspace.metadata.images") || line.starts_with("metadata.images")
    })
}

/// The CI system's variables that event detection reads, and GitHub's event payload
/// (`GITHUB_EVENT_PATH`, at most 1 MiB of it: the pull-request number of `pull_request_target`).
fn ci_env() -> event::CiEnv {
    let variables = event::CI_VARIABLES
        .iter()
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok().filter(|v| !v.is_empty())?)))
        .collect();
    let event_payload =
        std::env::var_os("GITHUB_EVENT_PATH").filter(|p| !p.is_empty()).and_then(|path| read_head(Path::new(&path)));
    event::CiEnv { variables, event_payload }
}

/// The first MiB of a file as UTF-8, or `None`: for files read only for a hint, where a
/// missing or strange file is no error.
fn read_head(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(crate::sys::definitions::MAX_DEFINITION_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// `--registry`, else `XTASK_REGISTRY`, else the workspace setting; checked as a host.
pub fn effective_registry(flag: Option<&str>, setting: &str) -> Result<String> {
    let from_env = std::env::var("XTASK_REGISTRY").ok().filter(|r| !r.is_empty());
    let registry = flag.map(str::to_string).or(from_env).unwrap_or_else(|| setting.to_string());
    crate::oci::reference::check_registry_host(&registry)
        .map_err(|why| anyhow::anyhow!("{why}: use host[:port], e.g. localhost:5000"))?;
    Ok(registry)
}

/// `path` shown relative to the workspace when it is inside it.
pub fn display_path<'a>(root: &Utf8Path, path: &'a Utf8Path) -> &'a Utf8Path {
    path.strip_prefix(root).unwrap_or(path)
}
