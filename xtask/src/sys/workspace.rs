//! What every command starts from: the workspace root, its definitions, the
//! effective registry and the detected event.

use std::path::Path;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::cli::flags::Xtask;
use crate::core::definitions::Definitions;
use crate::core::event::{self, Event, EventFlags};

pub struct Workspace {
    pub root: Utf8PathBuf,
    pub defs: Definitions,
    /// `--registry`, else `XTASK_REGISTRY`, else the workspace setting.
    pub registry: String,
    pub event: Event,
    /// Seconds since the epoch this run stamps into labels and `{timestamp}`.
    pub build_time: u64,
    pub format: Format,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Junit,
    /// The image × platform matrix GitHub Actions' `strategy.matrix` reads.
    GithubMatrix,
}

impl Workspace {
    pub fn load(flags: &Xtask) -> Result<Workspace> {
        let root = root(flags.root.as_deref())?;
        let defs = crate::sys::definitions::load(&root)?;
        let registry = match (&flags.registry, std::env::var("XTASK_REGISTRY").ok().filter(|r| !r.is_empty())) {
            (Some(flag), _) => flag.clone(),
            (None, Some(env)) => env,
            (None, None) => defs.settings.registry.clone(),
        };
        crate::oci::reference::check_registry_host(&registry)
            .map_err(|why| anyhow::anyhow!("{why}: use host[:port], e.g. localhost:5000"))?;
        let event_flags = EventFlags {
            event: flags.event.clone(),
            version: flags.version.clone(),
            branch: flags.branch.clone(),
            sha: flags.sha.clone(),
            pr: flags.pr,
            tags: flags.tag.clone(),
        };
        let git = event::git_facts(&root);
        let build_time = event::build_time(git.as_ref());
        let event = event::detect(&event_flags, |k| std::env::var(k).ok(), git.as_ref(), event::utc(build_time).0)?;
        Ok(Workspace { root, defs, registry, event, build_time, format: format(flags.format.as_deref())? })
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

    /// Every platform any image declares, for provisioning emulators.
    pub fn all_platforms(&self) -> Vec<String> {
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
        }
    }
}

pub fn format(flag: Option<&str>) -> Result<Format> {
    Ok(match flag {
        None | Some("table") => Format::Table,
        Some("json") => Format::Json,
        Some("markdown") => Format::Markdown,
        Some("junit") => Format::Junit,
        Some("github-matrix") => Format::GithubMatrix,
        Some(other) => bail!("--format {other:?} is not a format: use table, json, markdown, junit or github-matrix"),
    })
}

impl Format {
    /// Refuses a format the command cannot print.
    pub fn require(self, command: &str, supported: &[Format]) -> Result<Format> {
        if supported.contains(&self) {
            return Ok(self);
        }
        let names: Vec<&str> = supported.iter().map(|f| f.name()).collect();
        bail!("`{command}` prints {}, not {}: pass --format {}", names.join(" or "), self.name(), names[0])
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::GithubMatrix => "github-matrix",
        }
    }
}

/// `--root`, else the workspace this xtask was compiled in.
pub fn root(explicit: Option<&Path>) -> Result<Utf8PathBuf> {
    let path = match explicit {
        Some(p) => std::fs::canonicalize(p).with_context(|| format!("--root {}", p.display()))?,
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the xtask crate has no parent directory")?
            .to_path_buf(),
    };
    let root = Utf8PathBuf::from_path_buf(path)
        .map_err(|p| anyhow::anyhow!("the workspace path {} is not UTF-8", p.display()))?;
    if !root.join("Cargo.toml").is_file() {
        bail!("{root} has no Cargo.toml: pass --root pointing at a workspace with [workspace.metadata.images]");
    }
    Ok(root)
}

/// `path` shown relative to the workspace when it is inside it.
pub fn display_path<'a>(root: &Utf8Path, path: &'a Utf8Path) -> &'a Utf8Path {
    path.strip_prefix(root).unwrap_or(path)
}
