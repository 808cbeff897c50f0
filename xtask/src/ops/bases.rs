//! External bases, resolved once per run: each reference is asked of its own registry (the
//! anonymous token flow for public images, docker's logins where there are any), so every
//! platform leg of a run builds on the same digest and an unchanged base keeps the input
//! digest, and with it the skip.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::bases::{base_uses, normalized, platform_digest, BaseUse, Resolved, Unresolved};
use crate::core::dockerfile::refs::RefKind;
use crate::core::plan::Unit;
use crate::oci::reference::ImageName;
use crate::sys::registry::{refusal, Registry};
use crate::sys::workspace::Workspace;

/// Registries asked at once; each name costs one or two round trips.
const CONCURRENCY: usize = 8;

/// The external bases of a run's units, each resolved for every platform it is pulled for.
#[derive(Debug, Default)]
pub struct Bases {
    /// By normalized reference (`docker.io/library/python:3.11`).
    pub resolved: BTreeMap<String, Resolved>,
    /// The uses of each (unit id, platform), with their normalized reference.
    uses: BTreeMap<(String, String), Vec<(BaseUse, String)>>,
}

impl Bases {
    /// Normalized reference to the digest this build pulls: what the input digest keys on.
    pub fn digests_for(&self, unit: &str, platform: &str) -> BTreeMap<String, String> {
        self.uses_of(unit, platform)
            .filter_map(|(u, name)| Some((name.clone(), self.resolved.get(name)?.digests.get(&u.platform)?.clone())))
            .collect()
    }

    /// The pins of the generated Dockerfile: `(line, kind, as written, name@digest)`.
    pub fn pins_for(&self, unit: &str, platform: &str) -> Vec<(usize, RefKind, String, String)> {
        self.uses_of(unit, platform)
            .filter_map(|(u, name)| {
                let (kind, written) = u.written.clone()?;
                let digest = self.resolved.get(name)?.digests.get(&u.platform)?;
                let pinned = crate::oci::reference::normalize(name).ok()?.pinned(digest);
                Some((u.line, kind, written, pinned))
            })
            .collect()
    }

    /// Every base of `unit`, on any platform, for `plan`.
    pub fn of_unit(&self, unit: &str) -> Vec<&Resolved> {
        let names: BTreeSet<&String> = self
            .uses
            .iter()
            .filter(|((id, _), _)| id == unit)
            .flat_map(|(_, uses)| uses.iter().map(|(_, n)| n))
            .collect();
        names.into_iter().filter_map(|n| self.resolved.get(n)).collect()
    }

    fn uses_of(&self, unit: &str, platform: &str) -> impl Iterator<Item = &(BaseUse, String)> {
        self.uses.get(&(unit.to_string(), platform.to_string())).into_iter().flatten()
    }
}

/// One reference that could not be pinned, as the error lists it.
struct Failure {
    dockerfile: Utf8PathBuf,
    line: usize,
    instruction: String,
    reference: String,
    platform: String,
    why: Unresolved,
}

/// Resolves every external base of `units` on each of `platforms` they build. A base that
/// cannot be pinned fails the run before anything builds, with every such base listed.
pub fn resolve(ws: &Workspace, units: &[Unit], platforms: &[String]) -> Result<Bases> {
    let in_repo: BTreeSet<String> = crate::core::plan::repositories(&ws.defs, &ws.registry).into_keys().collect();
    let build_platform = crate::sys::provision::host_platform();
    let mut bases = Bases::default();
    let mut failures = Vec::new();
    // Normalized name to the platforms it is pulled for.
    let mut wanted: BTreeMap<String, (ImageName, BTreeSet<String>)> = BTreeMap::new();
    for unit in units {
        let text = ws.dockerfile(unit)?;
        for platform in unit.platforms.iter().filter(|p| platforms.contains(p)) {
            let mut uses = Vec::new();
            for base in base_uses(text, unit, platform, build_platform, &in_repo) {
                match normalized(&base.reference) {
                    Ok(name) => {
                        let key = name.to_string();
                        wanted
                            .entry(key.clone())
                            .or_insert_with(|| (name, BTreeSet::new()))
                            .1
                            .insert(base.platform.clone());
                        uses.push((base, key));
                    }
                    Err(why) => failures.push(failure(unit, &base, why)),
                }
            }
            bases.uses.insert((unit.id.clone(), platform.clone()), uses);
        }
    }
    if wanted.is_empty() && failures.is_empty() {
        return Ok(bases);
    }
    let clients = clients(wanted.values().map(|(name, _)| name.registry.as_str()))?;
    let answers =
        crate::sys::pool::map_concurrent(wanted.into_iter().collect(), CONCURRENCY, |(key, (name, platforms))| {
            let client = &clients[&name.registry];
            (key, resolve_one(client, &name, &platforms))
        });
    let mut unresolved: BTreeMap<(String, String), Unresolved> = BTreeMap::new();
    for (key, answer) in answers {
        match answer {
            Ok((resolved, missing)) => {
                for (platform, why) in missing {
                    unresolved.insert((key.clone(), platform), why);
                }
                bases.resolved.insert(key, resolved);
            }
            Err(why) => {
                unresolved.insert((key, String::new()), why);
            }
        }
    }
    for unit in units {
        for uses in unit.platforms.iter().filter_map(|p| bases.uses.get(&(unit.id.clone(), p.clone()))) {
            for (base, key) in uses {
                let why = unresolved
                    .get(&(key.clone(), base.platform.clone()))
                    .or(unresolved.get(&(key.clone(), String::new())));
                if let Some(why) = why {
                    failures.push(failure(unit, base, why.clone()));
                }
            }
        }
    }
    if failures.is_empty() {
        return Ok(bases);
    }
    bail!("{}", report(&failures))
}

/// For `doctor`: one external base of each registry the planned units pull from, read as a
/// build would read it. Nothing when the plan cannot be made (doctor reports that apart).
pub fn pull_checks(ws: &Workspace) -> Vec<crate::core::doctor::BasePull> {
    let Ok(units) = ws.plan(&[]) else { return Vec::new() };
    let in_repo: BTreeSet<String> = crate::core::plan::repositories(&ws.defs, &ws.registry).into_keys().collect();
    let mut first: BTreeMap<String, ImageName> = BTreeMap::new();
    for unit in &units {
        let Some(text) = ws.defs.dockerfiles.get(&unit.dockerfile) else { continue };
        for platform in &unit.platforms {
            let host = crate::sys::provision::host_platform();
            for base in base_uses(text, unit, platform, host, &in_repo) {
                if let Ok(name) = normalized(&base.reference) {
                    first.entry(name.registry.clone()).or_insert(name);
                }
            }
        }
    }
    crate::sys::pool::map_concurrent(first.into_values().collect(), CONCURRENCY, |name| {
        let read = Registry::new(&name.registry).and_then(|client| client.manifest(&name.repository, name.reference()));
        let read = match read {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!("{name}: no such tag")),
            Err(err) => Err(crate::core::text::sanitize_lines(&format!("{err:#}"))),
        };
        crate::core::doctor::BasePull { registry: name.registry.clone(), reference: name.to_string(), read }
    })
}

/// One client per registry the bases name.
fn clients<'a>(registries: impl Iterator<Item = &'a str>) -> Result<BTreeMap<String, Registry>> {
    let mut clients = BTreeMap::new();
    for registry in registries {
        if !clients.contains_key(registry) {
            let client =
                Registry::new(registry).with_context(|| format!("a client for the base registry {registry}"))?;
            clients.insert(registry.to_string(), client);
        }
    }
    Ok(clients)
}

/// The digest `name` names and the image of each of `platforms` in it; the platforms it lacks
/// come back apart, so one missing platform does not hide the others' pins.
fn resolve_one(
    client: &Registry,
    name: &ImageName,
    platforms: &BTreeSet<String>,
) -> Result<(Resolved, Vec<(String, Unresolved)>), Unresolved> {
    let manifest = match client.manifest(&name.repository, name.reference()) {
        Ok(Some(manifest)) => manifest,
        Ok(None) => return Err(Unresolved::NoSuchTag),
        Err(err) => return Err(unresolved(&err)),
    };
    let single = if crate::oci::manifest::is_index(&manifest.media_type) {
        None
    } else {
        let config = manifest.body.config.as_ref().ok_or(Unresolved::NoSuchPlatform { has: Vec::new() })?;
        let config = client.config(&name.repository, &config.digest).map_err(|e| unresolved(&e))?;
        Some(config.platform())
    };
    let mut resolved =
        Resolved { reference: name.to_string(), index_digest: manifest.digest.clone(), digests: BTreeMap::new() };
    let mut missing = Vec::new();
    for platform in platforms {
        match platform_digest(&manifest, single.as_ref(), platform) {
            Ok(digest) => {
                resolved.digests.insert(platform.clone(), digest);
            }
            Err(why) => missing.push((platform.clone(), why)),
        }
    }
    Ok((resolved, missing))
}

/// A registry's refusal (401, 403) is "access denied"; anything else that failed is "unreachable".
fn unresolved(err: &anyhow::Error) -> Unresolved {
    let text = crate::core::text::sanitize_lines(&format!("{err:#}"));
    match refusal(err) {
        Some(r) if matches!(r.status, 401 | 403) => Unresolved::AccessDenied(text),
        _ => Unresolved::Unreachable(text),
    }
}

fn failure(unit: &Unit, base: &BaseUse, why: Unresolved) -> Failure {
    Failure {
        dockerfile: unit.dockerfile.clone(),
        line: base.line,
        instruction: base.instruction.clone(),
        reference: base.reference.clone(),
        platform: base.platform.clone(),
        why,
    }
}

/// One line per failed reference and platform, each with its hint: `file:line: FROM ref for
/// platform: reason`.
fn report(failures: &[Failure]) -> String {
    let mut lines = BTreeSet::new();
    for f in failures {
        lines.insert(format!(
            "{}:{}: {} {:?} for {}: {}\n  hint: {}",
            f.dockerfile,
            f.line,
            f.instruction,
            f.reference,
            f.platform,
            f.why,
            f.why.hint()
        ));
    }
    let count = lines.len();
    let header = if count == 1 {
        "a base image cannot be pinned".to_string()
    } else {
        format!("{count} base images cannot be pinned")
    };
    format!("{header}; nothing was built:\n{}", lines.into_iter().collect::<Vec<_>>().join("\n"))
}

/// Writes the unit's Dockerfile with its bases pinned for one platform under `target/xtask/pinned/`
/// and returns its path, or `None` when nothing is pinned. A `<Dockerfile>.dockerignore` goes
/// along, since BuildKit looks for it beside the Dockerfile it is given.
pub fn write_pinned(ws: &Workspace, unit: &Unit, platform: &str, bases: &Bases) -> Result<Option<Utf8PathBuf>> {
    let pins = bases.pins_for(&unit.id, platform);
    if pins.is_empty() {
        return Ok(None);
    }
    let text = ws.dockerfile(unit)?;
    let pinned = crate::core::bases::pinned_dockerfile(text, &pins).map_err(|why| {
        anyhow::anyhow!(
            "{}: {why}\n  hint: write the image on the line of its instruction, as one word",
            unit.dockerfile
        )
    })?;
    let dir = ws.target().join("pinned");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    let slug = format!("{}-{}", unit.slug(), crate::core::buildx::platform_slug(platform));
    let path = dir.join(format!("{slug}.Dockerfile"));
    std::fs::write(&path, pinned).with_context(|| format!("writing {path}"))?;
    copy_beside(
        &ws.root.join(format!("{}.dockerignore", unit.dockerfile)),
        &dir.join(format!("{slug}.Dockerfile.dockerignore")),
    )?;
    Ok(Some(path))
}

fn copy_beside(from: &Utf8Path, to: &Utf8Path) -> Result<()> {
    if from.is_file() {
        std::fs::copy(from, to).with_context(|| format!("copying {from} to {to}"))?;
    } else {
        let _ = std::fs::remove_file(to);
    }
    Ok(())
}
