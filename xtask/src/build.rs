//! `cargo xtask build`: one `docker buildx build` per unit and platform, then
//! one manifest list per unit under all of its tags. A unit's tags move only
//! after every one of its platforms succeeded.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;
use serde::Serialize;

use crate::apt::IsolatedApt;
use crate::buildx::{self, Driver, Output, PlatformBuild};
use crate::flags;
use crate::output::{self, last_lines, Progress};
use crate::plan::{self, Unit};
use crate::workspace::{display_path, Format, Workspace};

/// What happened to one unit on one platform.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformResult {
    pub platform: String,
    pub status: Status,
    pub seconds: f64,
    pub digest: Option<String>,
    pub log: Utf8PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Built,
    Failed,
    /// A parent failed or an earlier failure stopped the run.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitResult {
    pub unit: String,
    pub platforms: Vec<PlatformResult>,
    /// The manifest list's digest, once published.
    pub index_digest: Option<String>,
    pub tags: Vec<String>,
    pub published: bool,
    pub error: Option<String>,
}

pub fn run(ws: &Workspace, flags: &flags::Build) -> Result<()> {
    if flags.push && flags.no_push {
        bail!("--push and --no-push contradict each other: pass one");
    }
    let output = if flags.load {
        Output::Load
    } else if flags.no_push || (!flags.push && !ws.event.publishes_by_default()) {
        Output::None
    } else {
        Output::Push
    };
    ws.format.require("build", &[Format::Table, Format::Json])?;
    let units = plan::plan(&ws.defs, &ws.event, &ws.registry, &flags.units)?;
    let platforms = selected_platforms(&units, &flags.platform, flags.load)?;
    if !flags.no_lint {
        crate::lint::check_before_build(ws, &units)?;
    }

    crate::provision::preflight(&ws.host())?;
    let driver = detect_driver()?;
    let apt = rootfs_apt(ws, &units)?;

    eprintln!(
        "Building {} unit(s) for {:?} ({} driver), {}",
        units.len(),
        ws.event.kind,
        driver.name(),
        match output {
            Output::Push => format!("publishing to {}", ws.registry),
            Output::Load => "loading into the local engine".to_string(),
            Output::None => "publishing nothing".to_string(),
        }
    );
    let progress = Progress::new(Duration::from_secs(30));
    let units_by_id = units.iter().map(|u| (u.id.as_str(), u)).collect();
    let ctx = BuildContext {
        ws,
        driver: &driver,
        output,
        apt: apt.as_ref(),
        progress: &progress,
        source: git_source(ws),
        units: units_by_id,
    };

    let mut results: Vec<UnitResult> = Vec::new();
    let mut digests: BTreeMap<(String, String), String> = BTreeMap::new();
    for unit in &units {
        let wanted: Vec<&str> =
            unit.platforms.iter().map(String::as_str).filter(|p| platforms.iter().any(|q| q == p)).collect();
        let stop = results.iter().any(|r| r.error.is_some());
        let result = if stop {
            skipped(ws, unit, &wanted, "not started: an earlier unit failed")
        } else {
            build_unit(&ctx, unit, &wanted, &mut digests)
        };
        results.push(result);
    }

    report(ws, &results)?;
    let failed: Vec<&UnitResult> = results.iter().filter(|r| r.error.is_some()).collect();
    if let Some(first) = failed.first() {
        bail!(
            "{} of {} unit(s) failed; no tag of a failed unit moved. First failure: {}: {}",
            failed.len(),
            results.len(),
            first.unit,
            first.error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

struct BuildContext<'a> {
    ws: &'a Workspace,
    driver: &'a Driver,
    output: Output,
    apt: Option<&'a IsolatedApt>,
    progress: &'a Progress,
    source: Option<String>,
    /// Every planned unit, parents included (selection pulls them in).
    units: BTreeMap<&'a str, &'a Unit>,
}

/// Builds every platform of `unit` in parallel, then publishes it if all succeeded.
fn build_unit(
    ctx: &BuildContext<'_>,
    unit: &Unit,
    platforms: &[&str],
    digests: &mut BTreeMap<(String, String), String>,
) -> UnitResult {
    let results: Vec<PlatformResult> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            platforms.iter().map(|platform| scope.spawn(|| build_platform(ctx, unit, platform, digests))).collect();
        handles.into_iter().map(|h| h.join().expect("a build thread panicked")).collect()
    });
    let mut result = UnitResult {
        unit: unit.id.clone(),
        platforms: results,
        index_digest: None,
        tags: unit.tags.clone(),
        published: false,
        error: None,
    };
    if let Some(failed) = result.platforms.iter().find(|p| p.status != Status::Built) {
        result.error = Some(format!("{} failed (log: {})", failed.platform, display_path(&ctx.ws.root, &failed.log)));
        return result;
    }
    for p in &result.platforms {
        if let Some(digest) = &p.digest {
            digests.insert((unit.id.clone(), p.platform.clone()), digest.clone());
        }
    }
    if ctx.output == Output::Push {
        match publish(ctx, unit, &result.platforms) {
            Ok(digest) => {
                result.index_digest = Some(digest);
                result.published = true;
            }
            Err(err) => result.error = Some(format!("publishing failed: {err:#}")),
        }
    }
    result
}

fn build_platform(
    ctx: &BuildContext<'_>,
    unit: &Unit,
    platform: &str,
    digests: &BTreeMap<(String, String), String>,
) -> PlatformResult {
    let ws = ctx.ws;
    let slug = format!("{}-{}", unit.slug(), buildx::platform_slug(platform));
    let log = ws.target().join("logs").join(format!("{slug}.log"));
    let what = format!("{} {platform}", unit.id);
    let started = ctx.progress.start(&what);
    let outcome = (|| -> Result<Option<String>> {
        if let (Some(packages), Some(apt)) = (&unit.rootfs, ctx.apt) {
            crate::rootfs::prepare(&ws.cache(), apt, &ws.root.join(&unit.context), packages, platform)
                .with_context(|| format!("preparing the root filesystem of {what}"))?;
        }
        let metadata_file = ws.target().join("meta").join(format!("{slug}.json"));
        let _ = std::fs::remove_file(&metadata_file);
        for dir in [metadata_file.parent(), log.parent()].into_iter().flatten() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
        }
        let request = PlatformBuild {
            unit,
            platform,
            driver: ctx.driver,
            builder: None,
            parent_args: parent_args(ctx, unit, platform, digests)?,
            labels: buildx::oci_labels(
                unit,
                ctx.source.as_deref(),
                ws.event.sha.as_deref(),
                &crate::event::utc(ws.build_time).1,
            ),
            output: ctx.output.clone(),
            metadata_file: metadata_file.clone(),
        };
        let status = duct::cmd("docker", buildx::build_argv(&request))
            .dir(&ws.root)
            .stdin_null()
            .stderr_to_stdout()
            .stdout_path(&log)
            .unchecked()
            .run()
            .context("running docker buildx build")?
            .status;
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("docker buildx build {status}; its last lines:\n{}", last_lines(&text, 20));
        }
        if ctx.output != Output::Push {
            return Ok(None);
        }
        let metadata = std::fs::read_to_string(&metadata_file).with_context(|| format!("reading {metadata_file}"))?;
        buildx::digest_from_metadata(&metadata).map(Some)
    })();
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(digest) => {
            let outcome =
                digest.as_deref().map_or_else(|| "built".to_string(), |d| format!("built {}", short_digest(d)));
            ctx.progress.finish(&what, started, &outcome);
            PlatformResult { platform: platform.to_string(), status: Status::Built, seconds, digest, log }
        }
        Err(err) => {
            ctx.progress.finish(&what, started, "FAILED");
            eprintln!("error: {what}: {err:#}\n  full log: {}", display_path(&ws.root, &log));
            PlatformResult { platform: platform.to_string(), status: Status::Failed, seconds, digest: None, log }
        }
    }
}

/// `--build-arg X_IMAGE=...` for each in-repo parent, pinned to what this run built for `platform`.
fn parent_args(
    ctx: &BuildContext<'_>,
    unit: &Unit,
    platform: &str,
    digests: &BTreeMap<(String, String), String>,
) -> Result<BTreeMap<String, String>> {
    let mut args = BTreeMap::new();
    for parent in &unit.parents {
        let parent_unit = ctx.units.get(parent.unit.as_str()).context("a parent is missing from the plan")?;
        let reference = match ctx.output {
            Output::Push => {
                let digest = digests
                    .get(&(parent.unit.clone(), platform.to_string()))
                    .with_context(|| format!("parent {} has no {platform} digest from this run", parent.unit))?;
                format!("{}@{digest}", parent_unit.repository)
            }
            // Not pushed: the parent is in the local engine under its first tag or its staging tag.
            Output::Load => parent_unit.tags.first().cloned().context("the parent has no tag to load under")?,
            Output::None => buildx::staging_ref(parent_unit, platform),
        };
        args.insert(parent.arg.clone(), reference);
    }
    Ok(args)
}

/// Joins the platform digests into one manifest list under every tag of the unit.
fn publish(ctx: &BuildContext<'_>, unit: &Unit, platforms: &[PlatformResult]) -> Result<String> {
    let what = format!("{} manifest list", unit.id);
    let started = ctx.progress.start(&what);
    let digests: Vec<(String, String)> =
        platforms.iter().filter_map(|p| Some((p.platform.clone(), p.digest.clone()?))).collect();
    // imagetools pushes the same index to every tag at once, and docker-registry 2.8 can
    // answer a concurrent HEAD with a 500 ("invalid checksum digest format"). The push
    // is idempotent, so a server error is retried.
    let mut attempt = 1;
    let text = loop {
        let output = duct::cmd("docker", buildx::imagetools_create_argv(unit, &digests))
            .dir(&ctx.ws.root)
            .stdin_null()
            .stderr_to_stdout()
            .stdout_capture()
            .unchecked()
            .run()
            .context("running docker buildx imagetools create")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            break text;
        }
        if attempt < PUBLISH_ATTEMPTS && is_server_error(&text) {
            eprintln!("  {what}: the registry answered a server error; retrying ({attempt}/{PUBLISH_ATTEMPTS})");
            std::thread::sleep(Duration::from_millis(500 * attempt as u64));
            attempt += 1;
            continue;
        }
        ctx.progress.finish(&what, started, "FAILED");
        bail!("docker buildx imagetools create {}; its last lines:\n{}", output.status, last_lines(&text, 20));
    };
    let digest = pushed_digest(&text).context("`imagetools create` did not say which digest it pushed")?;
    ctx.progress.finish(&what, started, &format!("published {} tag(s) at {}", unit.tags.len(), short_digest(&digest)));
    Ok(digest)
}

const PUBLISH_ATTEMPTS: u32 = 3;

/// Whether imagetools failed on a 5xx answer, which is worth another try.
fn is_server_error(output: &str) -> bool {
    ["500 Internal Server Error", "502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout"]
        .iter()
        .any(|s| output.contains(s))
}

/// The digest in imagetools' `pushing sha256:... to ...` progress line.
fn pushed_digest(output: &str) -> Option<String> {
    let words: Vec<&str> = output.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == "pushing" && w[1].starts_with("sha256:") && w[1].len() == 71)
        .map(|w| w[1].to_string())
}

fn skipped(ws: &Workspace, unit: &Unit, platforms: &[&str], why: &str) -> UnitResult {
    UnitResult {
        unit: unit.id.clone(),
        platforms: platforms
            .iter()
            .map(|p| PlatformResult {
                platform: p.to_string(),
                status: Status::Skipped,
                seconds: 0.0,
                digest: None,
                log: ws.target().join("logs"),
            })
            .collect(),
        index_digest: None,
        tags: unit.tags.clone(),
        published: false,
        error: Some(why.to_string()),
    }
}

fn report(ws: &Workspace, results: &[UnitResult]) -> Result<()> {
    if ws.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(results).context("serializing the build results")?);
        return Ok(());
    }
    let mut rows = Vec::new();
    for r in results {
        for p in &r.platforms {
            let status = match p.status {
                Status::Built => "built",
                Status::Failed => "FAILED",
                Status::Skipped => "skipped",
            };
            rows.push(vec![
                r.unit.clone(),
                p.platform.clone(),
                status.to_string(),
                output::duration(Duration::from_secs_f64(p.seconds)),
                p.digest.as_deref().map(short_digest).unwrap_or_default(),
            ]);
        }
        let published = if r.published {
            format!("published {} tag(s)", r.tags.len())
        } else if r.error.is_some() {
            "not published".to_string()
        } else {
            "built only".to_string()
        };
        rows.push(vec![
            r.unit.clone(),
            "manifest list".to_string(),
            published,
            String::new(),
            r.index_digest.as_deref().map(short_digest).unwrap_or_default(),
        ]);
    }
    println!("{}", output::table(&["UNIT", "PLATFORM", "RESULT", "DURATION", "DIGEST"], &rows));
    Ok(())
}

fn short_digest(digest: &str) -> String {
    digest.chars().take(19).collect()
}

/// Platforms to build: each unit's own, narrowed by --platform; the host's only with --load.
fn selected_platforms(units: &[Unit], requested: &[String], load: bool) -> Result<Vec<String>> {
    let declared: Vec<&String> = units.iter().flat_map(|u| &u.platforms).collect();
    for p in requested {
        if !declared.contains(&p) {
            bail!(
                "--platform {p}: no selected image builds for it (they build for {})",
                dedup(declared.iter().map(|s| s.as_str())).join(", ")
            );
        }
    }
    if load {
        let host = crate::provision::host_platform();
        if !requested.is_empty() && requested.iter().any(|p| p != host) {
            bail!("--load builds the host platform ({host}) only: drop --platform");
        }
        return Ok(vec![host.to_string()]);
    }
    Ok(if requested.is_empty() { dedup(declared.iter().map(|s| s.as_str())) } else { requested.to_vec() })
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    out
}

fn detect_driver() -> Result<Driver> {
    let inspect = duct::cmd!("docker", "buildx", "inspect")
        .stdin_null()
        .stderr_to_stdout()
        .read()
        .context("running docker buildx inspect")?;
    Driver::from_inspect(&inspect)
}

/// An isolated apt for the architectures of units that unpack a root filesystem.
fn rootfs_apt(ws: &Workspace, units: &[Unit]) -> Result<Option<IsolatedApt>> {
    if !units.iter().any(|u| u.rootfs.is_some()) {
        return Ok(None);
    }
    let archs: Vec<&str> = ws.all_platforms().iter().map(|p| crate::apt::debian_arch(p)).collect::<Result<_>>()?;
    Ok(Some(IsolatedApt::new(&ws.cache(), &crate::apt::system_suite()?, &archs)?))
}

/// `org.opencontainers.image.source`: the git remote, as a browsable https URL where possible.
fn git_source(ws: &Workspace) -> Option<String> {
    let url = duct::cmd!("git", "-C", &ws.root, "config", "--get", "remote.origin.url").stderr_null().read().ok()?;
    let url = url.trim();
    let https = match url.strip_prefix("git@") {
        Some(rest) => format!("https://{}", rest.replacen(':', "/", 1)),
        None => url.to_string(),
    };
    Some(https.trim_end_matches(".git").to_string()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_digest_is_read_from_imagetools_progress() {
        let d = format!("sha256:{}", "2d".repeat(32));
        let text = format!("#1 [internal] pushing localhost:5000/t1:latest\n#1 0.000 pushing {d} to localhost:5000/t1:latest\n#1 DONE 0.0s\n");
        assert_eq!(pushed_digest(&text), Some(d));
        assert_eq!(pushed_digest("#1 DONE"), None);
    }

    #[test]
    fn only_server_errors_are_retried() {
        assert!(is_server_error(
            "ERROR: unexpected status from HEAD request to http://r/v2/a/manifests/1: 500 Internal Server Error"
        ));
        assert!(!is_server_error("ERROR: unexpected status: 401 Unauthorized"));
    }
}
