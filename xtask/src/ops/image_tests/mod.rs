//! The image test runner behind `cargo xtask test`: pulls each platform image by digest (or
//! takes the local one), runs its cases side by side in containers, and judges them with
//! `core::checks`. Every container is named and labelled for this run and removed whatever
//! happens: success, failure, timeout, Ctrl-C (SIGINT) or SIGTERM.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::core::checks::*;
use crate::core::definitions::{FileCheck, ServiceCheck, TestDef, Wait};
use crate::core::plan::Unit;
use crate::core::progress::Steps;
use crate::core::text::last_lines;
use crate::oci::reference::{split_repository, TagRef};
use crate::sys::pool::map_concurrent;
use crate::sys::registry::Registry;

mod services;
use services::*;

/// The health-check interval services run with: images often say 10s or more, which tests need not wait for.
const HEALTH_INTERVAL: &str = "1s";

/// One unit on one platform, with the tests that apply there.
pub struct Target<'a> {
    pub unit: &'a Unit,
    pub platform: String,
    pub tests: Vec<&'a TestDef>,
}

/// What a run of the tests left.
pub struct Outcome {
    pub results: Vec<CaseResult>,
    /// Whether the final sweep removed every container of the run.
    pub leftovers: Result<()>,
    pub interrupted: bool,
    pub seconds: f64,
}

/// Runs every case of `targets`, `jobs` at a time, against the registry's images (or the
/// local engine's, with `local`); failures are printed as they happen. `companions` are the
/// units services start beside them, by the name the tests give.
pub fn run_targets(
    targets: &[Target<'_>],
    companions: &BTreeMap<String, &Unit>,
    jobs: usize,
    local: bool,
    progress: &dyn Steps,
) -> Result<Outcome> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted)).context("installing the Ctrl-C handler")?;
    }
    let ctx = Ctx {
        // Unique among concurrent runs on one engine: a process id is, at any one time; the
        // time tells this run's containers from an earlier run's with a reused pid.
        run_id: format!("{}-{}", std::process::id(), crate::sys::now_seconds()),
        next_container: AtomicUsize::new(0),
        interrupted,
        local,
        progress,
    };
    let started = Instant::now();
    let prepared = map_concurrent(targets.iter().collect(), jobs, |t| prepare(&ctx, t.unit, &t.platform));
    // Each companion image once per platform, however many services start it.
    let wanted: BTreeSet<(String, String)> = targets
        .iter()
        .flat_map(|t| {
            let services = t.tests.iter().flat_map(|test| &test.services);
            services.flat_map(|s| &s.companions).map(|c| (c.unit.clone(), t.platform.clone())).collect::<Vec<_>>()
        })
        .collect();
    let companion_images: CompanionImages = map_concurrent(wanted.into_iter().collect(), jobs, |(name, platform)| {
        let image = match companions.get(&name) {
            Some(unit) => prepare(&ctx, unit, &platform),
            None => Err(format!("{name} is no unit of this workspace")),
        };
        ((name, platform), image)
    })
    .into_iter()
    .collect();
    let work: Vec<(usize, &TestDef)> =
        targets.iter().enumerate().flat_map(|(i, t)| t.tests.iter().map(move |test| (i, *test))).collect();
    let results = map_concurrent(work.iter().collect(), jobs, |(i, test)| {
        let result = run_case(&ctx, &targets[*i], &prepared[*i], &companion_images, test);
        if matches!(result.status, Status::Failed | Status::Error) {
            eprintln!("{}", failure_text(&result));
        }
        result
    });
    let leftovers = ctx.sweep();
    let interrupted = ctx.stopped();
    Ok(Outcome { results, leftovers, interrupted, seconds: started.elapsed().as_secs_f64() })
}

/// The image one platform of a unit runs as.
struct Prepared {
    /// `repo@sha256:<this platform's manifest>`, or the local tag.
    reference: String,
    /// The image config's `config` object.
    config: Value,
}

struct Ctx<'a> {
    run_id: String,
    next_container: AtomicUsize,
    interrupted: Arc<AtomicBool>,
    local: bool,
    progress: &'a dyn Steps,
}

impl Ctx<'_> {
    fn label(&self) -> String {
        format!("xtask.run={}", self.run_id)
    }

    /// A container name this run owns, removed when the guard drops.
    fn container(&self) -> Container {
        Container { name: format!("xtask-test-{}-{}", self.run_id, self.next_container.fetch_add(1, Ordering::SeqCst)) }
    }

    /// `docker run`/`create` flags every container of the run gets; `network` is `none`, `host`
    /// or `container:<name>`.
    fn isolation(&self, name: &str, platform: &str, network: &str) -> Vec<String> {
        let flags = ["--name", name, "--label", &self.label(), "--network", network, "--platform", platform];
        let mut argv: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        // Registry images were pulled by digest in `prepare`; local ones must not be pulled at all.
        argv.extend(["--pull".to_string(), "never".to_string()]);
        argv
    }

    fn stopped(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Removes whatever container of this run is left, e.g. one created while its client was being killed.
    fn sweep(&self) -> Result<()> {
        let filter = format!("label={}", self.label());
        let ids = duct::cmd!("docker", "ps", "--all", "--quiet", "--filter", filter)
            .stdin_null()
            .read()
            .context("listing this run's containers")?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut argv = vec!["rm", "--force"];
            argv.extend(&ids);
            duct::cmd("docker", argv).stdin_null().stdout_null().run().context("removing this run's containers")?;
        }
        Ok(())
    }
}

/// A container of this run; removed on drop, so every way out of a test cleans up.
struct Container {
    name: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = duct::cmd!("docker", "rm", "--force", &self.name).stdin_null().stdout_null().stderr_null().run();
    }
}

/// Resolves the image one platform of a unit runs as, and pulls it.
fn prepare(ctx: &Ctx, unit: &Unit, platform: &str) -> Result<Prepared, String> {
    if ctx.stopped() {
        return Err("interrupted".to_string());
    }
    let tag = unit.tags.first().ok_or_else(|| format!("{} has no tag to test", unit.id))?;
    let outcome = if ctx.local {
        prepare_local(unit, &tag.to_string(), platform)
    } else {
        prepare_published(unit, tag, platform)
    };
    outcome.map_err(|err| format!("{err:#}"))
}

/// The local image of `tag` for `platform`. On an engine that keeps multi-platform images,
/// `docker image inspect` shows the tag's host image only (API 1.45 has no `--platform`), so
/// another platform's config is read from its staging tag, which `build --load` loaded and
/// joined under the tag; the container still runs the tag, with `--platform`.
fn prepare_local(unit: &Unit, tag: &str, platform: &str) -> Result<Prepared> {
    let image = inspect_local(tag)?;
    let wanted = crate::oci::platform::Platform::parse(platform).architecture;
    let arch = image["Architecture"].as_str().unwrap_or_default().to_string();
    if wanted == arch {
        return Ok(Prepared { reference: tag.to_string(), config: image["Config"].clone() });
    }
    let staging = crate::core::buildx::staging_ref(unit, platform);
    match inspect_local(&staging) {
        Ok(joined) if joined["Architecture"].as_str() == Some(wanted.as_str()) => {
            Ok(Prepared { reference: tag.to_string(), config: joined["Config"].clone() })
        }
        _ => bail!(
            "the local {tag} is a {arch} image, not {platform}: run `cargo xtask build --load` again (an engine \
             with the containerd store keeps every platform)"
        ),
    }
}

/// `docker image inspect REF`'s one image.
fn inspect_local(reference: &str) -> Result<Value> {
    let inspect = duct::cmd!("docker", "image", "inspect", reference)
        .stdin_null()
        .stderr_capture()
        .stdout_capture()
        .unchecked()
        .run()
        .context("running docker image inspect")?;
    if !inspect.status.success() {
        let stderr = String::from_utf8_lossy(&inspect.stderr);
        if stderr.contains("No such image") {
            bail!("{reference} is not in the local engine: run `cargo xtask build --load` first");
        }
        bail!("docker image inspect {reference} failed: {}", stderr.trim());
    }
    let mut images: Value = serde_json::from_slice(&inspect.stdout).context("parsing docker image inspect")?;
    Ok(images[0].take())
}

fn prepare_published(unit: &Unit, tag: &TagRef, platform: &str) -> Result<Prepared> {
    let (host, repository) = split_repository(&unit.repository);
    let registry = Registry::new(host)?;
    let list = registry
        .manifest(repository, tag.tag())
        .with_context(|| format!("reading the manifest list of {tag}"))?
        .with_context(|| format!("{tag} is not published: run `cargo xtask build` first"))?;
    let entry = list.body.manifests.iter().find(|m| m.platform.as_ref().is_some_and(|p| p.name() == platform));
    let Some(entry) = entry else {
        let have: Vec<String> = list.body.manifests.iter().filter_map(|m| Some(m.platform.as_ref()?.name())).collect();
        bail!(
            "{tag} has no {platform} image (it holds: {})",
            if have.is_empty() { "no manifest list".into() } else { have.join(", ") }
        );
    };
    let image = registry
        .manifest_by_digest(repository, &entry.digest)
        .with_context(|| format!("reading the {platform} manifest of {tag}"))?
        .with_context(|| format!("{tag}: the {platform} manifest {} is missing", entry.digest))?;
    let config_digest =
        image.body.config.with_context(|| format!("{tag}: the {platform} manifest has no config"))?.digest;
    let config = registry
        .config(repository, &config_digest)
        .with_context(|| format!("reading the {platform} image config of {tag}"))?;
    let reference = format!("{}@{}", unit.repository, entry.digest);
    // The digest comes from the registry: it reaches docker's command line only if it is one.
    crate::oci::reference::parse(&reference)
        .map_err(|why| anyhow::anyhow!("{tag}: the registry lists {reference:?}: {why}"))?;
    let pull = duct::cmd!("docker", "pull", "--quiet", "--platform", platform, &reference)
        .stdin_null()
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .context("running docker pull")?;
    if !pull.status.success() {
        bail!("docker pull {reference} failed:\n{}", last_lines(&String::from_utf8_lossy(&pull.stdout), TAIL));
    }
    Ok(Prepared { reference, config: config.config.unwrap_or(Value::Null) })
}

/// How one check of a test ended.
enum Verdict {
    Pass,
    Fail { message: String, details: Option<String>, reproduce: String },
    Interrupted,
}

fn run_case(
    ctx: &Ctx,
    target: &Target<'_>,
    prepared: &Result<Prepared, String>,
    companions: &CompanionImages,
    test: &TestDef,
) -> CaseResult {
    let what = format!("{} {} {:?}", target.unit.id, target.platform, test.name);
    let mut result = CaseResult {
        unit: target.unit.id.clone(),
        platform: target.platform.clone(),
        test: test.name.clone(),
        status: Status::Passed,
        seconds: 0.0,
        image: prepared.as_ref().ok().map(|p| p.reference.clone()),
        message: None,
        details: None,
        reproduce: None,
    };
    if ctx.stopped() {
        result.status = Status::Skipped;
        result.message = Some("interrupted before it started".to_string());
        return result;
    }
    let prepared = match prepared {
        Ok(p) => p,
        Err(why) => {
            result.status = Status::Error;
            result.message = Some(format!("no image to test: {why}"));
            return result;
        }
    };
    let started = ctx.progress.start(&what);
    let verdict = check_all(ctx, target, prepared, companions, test, started + test.timeout);
    result.seconds = started.elapsed().as_secs_f64();
    // A docker step killed by the same Ctrl-C fails too: that is the interruption, not an error.
    let verdict = match verdict {
        Err(_) if ctx.stopped() => Ok(Verdict::Interrupted),
        other => other,
    };
    let outcome = match verdict {
        Ok(Verdict::Pass) => "passed".to_string(),
        Ok(Verdict::Fail { message, details, reproduce }) => {
            result.status = Status::Failed;
            result.message = Some(message);
            result.details = details;
            result.reproduce = Some(reproduce);
            "FAILED".to_string()
        }
        Ok(Verdict::Interrupted) => {
            result.status = Status::Skipped;
            result.message = Some("interrupted".to_string());
            "interrupted".to_string()
        }
        Err(err) => {
            result.status = Status::Error;
            result.message = Some(format!("{err:#}"));
            "ERROR".to_string()
        }
    };
    ctx.progress.finish(&what, started, &outcome);
    result
}

/// The test's checks in order (config, files, command, services), up to the first that fails.
fn check_all(
    ctx: &Ctx,
    target: &Target<'_>,
    image: &Prepared,
    companions: &CompanionImages,
    test: &TestDef,
    deadline: Instant,
) -> Result<Verdict> {
    let values = Values::new(&target.unit.args, &target.platform);
    let platform = target.platform.as_str();
    // The config and the files are static: report every miss of both at once.
    let mut verdict = Verdict::Pass;
    if let Some(check) = &test.metadata {
        let misses = check_metadata(check, &values, &image.config);
        if !misses.is_empty() {
            let inspect = format!("docker image inspect --format '{{{{json .Config}}}}' {}", image.reference);
            let reproduce = if ctx.local {
                inspect
            } else {
                format!("docker pull --platform {platform} {} && {inspect}", image.reference)
            };
            verdict = fail(misses, None, reproduce);
        }
    }
    if !test.files.is_empty() {
        verdict = verdict.and(check_files(ctx, platform, image, &test.files, &values)?);
    }
    if !matches!(verdict, Verdict::Pass) {
        return Ok(verdict);
    }
    if let Some(command) = &test.command {
        let command = values.fill_all(command);
        let container = ctx.container();
        let network = test.run.network.as_str();
        let flags = run_flags(&test.run, &values);
        let mut argv = vec!["run".to_string()];
        argv.extend(ctx.isolation(&container.name, platform, network));
        argv.extend(flags.iter().cloned());
        argv.push(image.reference.clone());
        argv.extend(command.iter().cloned());
        let mut by_hand: Vec<String> =
            ["docker", "run", "--rm", "--network", network, "--platform", platform].map(str::to_string).to_vec();
        by_hand.extend(flags);
        by_hand.push(image.reference.clone());
        by_hand.extend(command);
        let reproduce = shell_words(&by_hand);
        let ran = match docker_until(ctx, &argv, deadline)? {
            Ok(ran) => ran,
            Err(stop) => return Ok(stop.verdict(test, "running the command", reproduce)),
        };
        let misses = judge(&test.expect, &values, &ran);
        if !misses.is_empty() {
            return Ok(fail(misses, Some(expected_vs_actual(&test.expect, &values, &ran)), reproduce));
        }
    }
    for service in &test.services {
        let verdict = check_service(ctx, platform, image, service, companions, &values, test, deadline)?;
        if !matches!(verdict, Verdict::Pass) {
            return Ok(verdict);
        }
    }
    Ok(Verdict::Pass)
}

impl Verdict {
    /// Both verdicts in one: an interruption wins, failures add up.
    fn and(self, next: Verdict) -> Verdict {
        match (self, next) {
            (Verdict::Pass, v) | (v, Verdict::Pass) => v,
            (Verdict::Interrupted, _) | (_, Verdict::Interrupted) => Verdict::Interrupted,
            (
                Verdict::Fail { message, details, reproduce },
                Verdict::Fail { message: message2, details: details2, reproduce: reproduce2 },
            ) => Verdict::Fail {
                message: format!("{message}; {message2}"),
                details: match (details, details2) {
                    (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
                    (a, b) => a.or(b),
                },
                reproduce: format!("{reproduce}\n{reproduce2}"),
            },
        }
    }
}

fn fail(misses: Vec<String>, details: Option<String>, reproduce: String) -> Verdict {
    let message = misses.join("; ");
    Verdict::Fail { message, details, reproduce }
}

/// File checks read the archive `docker cp` streams out of a created (never started) container:
/// mode and owner come from its tar header, so they need no `stat` or shell inside the image,
/// and no emulator.
fn check_files(ctx: &Ctx, platform: &str, image: &Prepared, checks: &[FileCheck], values: &Values) -> Result<Verdict> {
    let container = ctx.container();
    let mut argv = vec!["create".to_string()];
    argv.extend(ctx.isolation(&container.name, platform, "none"));
    // Never started: any entrypoint will do, and images without a CMD still get created.
    argv.extend(["--entrypoint".to_string(), "/xtask-file-check".to_string(), image.reference.clone()]);
    let created = duct::cmd("docker", &argv)
        .stdin_null()
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .context("running docker create")?;
    if !created.status.success() {
        bail!("docker create {} failed: {}", image.reference, String::from_utf8_lossy(&created.stdout).trim());
    }
    let mut misses = Vec::new();
    let mut paths = Vec::new();
    for check in checks {
        if ctx.stopped() {
            return Ok(Verdict::Interrupted);
        }
        let path = values.fill(&check.path);
        let found = stat_in_container(&container.name, &path)?;
        if let Some(miss) = check_file(check, &path, found) {
            misses.push(miss);
            paths.push(path);
        }
    }
    if misses.is_empty() {
        return Ok(Verdict::Pass);
    }
    let reproduce = format!(
        "docker create --name files --platform {platform} {} /x && docker cp -L files:{} - | tar -tv --numeric-owner; docker rm files",
        image.reference,
        shell_words(&paths[..1])
    );
    Ok(fail(misses, None, reproduce))
}

/// The mode and owner of `path` (symlinks followed), or `None` when it does not exist.
fn stat_in_container(container: &str, path: &str) -> Result<Option<FileStat>> {
    let mut child = std::process::Command::new("docker")
        .args(["cp", "--follow-link", &format!("{container}:{path}"), "-"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running docker cp")?;
    // Headers only: a directory's archive holds its whole tree, which is not needed.
    let mut head = Vec::new();
    child.stdout.take().expect("piped").take(64 * 1024).read_to_end(&mut head).context("reading docker cp")?;
    let _ = child.kill();
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).context("reading docker cp")?;
    let status = child.wait().context("waiting for docker cp")?;
    if !head.is_empty() {
        return first_tar_entry(&head).map(Some).map_err(|why| anyhow::anyhow!("reading {path} from the image: {why}"));
    }
    if stderr.contains("Could not find the file") || stderr.contains("No such container:path") {
        return Ok(None);
    }
    bail!("docker cp {container}:{path} {status}: {}", stderr.trim())
}

/// Why a docker step did not finish.
enum Stop {
    TimedOut,
    Interrupted,
}

impl Stop {
    fn verdict(self, test: &TestDef, during: &str, reproduce: String) -> Verdict {
        match self {
            Stop::Interrupted => Verdict::Interrupted,
            Stop::TimedOut => Verdict::Fail {
                message: format!("timed out after {} while {during}", crate::core::text::duration(test.timeout)),
                details: Some(
                    "raise `timeout` in the test if this platform is just slow (emulated platforms are)".to_string(),
                ),
                reproduce,
            },
        }
    }
}

/// Runs `docker argv` until it exits, the deadline passes or the run is interrupted. A stopped
/// client is killed; its container goes when its guard drops.
fn docker_until(ctx: &Ctx, argv: &[String], deadline: Instant) -> Result<Result<Ran, Stop>> {
    let handle = duct::cmd("docker", argv)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .start()
        .with_context(|| format!("running docker {}", argv.first().map_or("", String::as_str)))?;
    loop {
        if let Some(out) = handle.try_wait().context("waiting for docker")? {
            return Ok(Ok(Ran {
                exit_code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }));
        }
        let stop = if ctx.stopped() {
            Some(Stop::Interrupted)
        } else if Instant::now() >= deadline {
            Some(Stop::TimedOut)
        } else {
            None
        };
        if let Some(stop) = stop {
            handle.kill().context("stopping docker")?;
            return Ok(Err(stop));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
