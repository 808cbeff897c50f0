//! `cargo xtask test`: runs the `[[tests]]` of each image.toml against every platform of every
//! selected unit. Each platform runs by its own manifest digest (`repo@sha256:...`), never by
//! the index tag, which the classic docker image store resolves to one platform only.
//!
//! The core is pure: which tests apply, the `{ARG}` values, judging a command's result, the
//! metadata and file checks, the reports. Docker and the registry sit at the edge. Every
//! container is named and labelled for this run and removed whatever happens: success,
//! failure, timeout, Ctrl-C (SIGINT) or SIGTERM.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::cli::flags;
use crate::cli::format::Format;
use crate::cli::output::Progress;
use crate::core::checks::*;
use crate::core::definitions::{FileCheck, ServiceCheck, TestDef, Wait};
use crate::core::plan::Unit;
use crate::core::progress::Steps;
use crate::core::text::last_lines;
use crate::oci::reference::split_repository;
use crate::oci::reference::TagRef;
use crate::sys::pool::map_concurrent;
use crate::sys::registry::Registry;
use crate::sys::workspace::Workspace;

/// The health-check interval services run with: images often say 10s or more, which tests need not wait for.
const HEALTH_INTERVAL: &str = "1s";

pub fn run(ws: &Workspace, format: Format, flags: &flags::Test) -> Result<()> {
    let began = std::time::SystemTime::now();
    let format = format.require("test")?;
    let jobs = match flags.jobs {
        Some(0) => bail!("--jobs 0 would run nothing: pass 1 or more"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let units = ws.plan(&flags.units)?;
    // The plan pulls in parents; tests run on what was asked for.
    let units: Vec<&Unit> = units
        .iter()
        .filter(|u| flags.units.is_empty() || flags.units.iter().any(|s| *s == u.id || *s == u.image))
        .collect();
    let platforms = selected_platforms(&units, &flags.platform, flags.local)?;
    let mut targets = Vec::new();
    for unit in &units {
        let tests = ws.defs.images.iter().find(|i| i.name == unit.image).map_or(&[][..], |i| &i.tests[..]);
        for platform in unit.platforms.iter().filter(|p| platforms.contains(p)) {
            let tests = applicable(tests, unit, platform);
            if !tests.is_empty() {
                targets.push(Target { unit, platform: platform.clone(), tests });
            }
        }
    }
    if targets.is_empty() {
        eprintln!("No [[tests]] apply to the selected units and platforms (see README.md, \"Image tests\").");
    } else if !flags.local {
        crate::sys::provision::preflight(&ws.host())?;
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted)).context("installing the Ctrl-C handler")?;
    }
    let ctx = Ctx {
        // Unique among concurrent runs on one engine: a process id is, at any one time.
        run_id: format!("{}-{}", std::process::id(), started_at()),
        next_container: AtomicUsize::new(0),
        interrupted,
        local: flags.local,
        progress: Progress::new(Duration::from_secs(30)),
    };
    let cases = targets.iter().map(|t| t.tests.len()).sum::<usize>();
    if !targets.is_empty() {
        eprintln!(
            "Testing {cases} case(s) on {} unit/platform pair(s), {jobs} at a time, against {}",
            targets.len(),
            if flags.local { "the local engine" } else { ws.registry.as_str() }
        );
    }
    let started = Instant::now();
    let prepared = map_concurrent(targets.iter().collect(), jobs, |t| prepare(&ctx, t));
    let work: Vec<(usize, &TestDef)> =
        targets.iter().enumerate().flat_map(|(i, t)| t.tests.iter().map(move |test| (i, *test))).collect();
    let results = map_concurrent(work.iter().collect(), jobs, |(i, test)| {
        let result = run_case(&ctx, &targets[*i], &prepared[*i], test);
        if matches!(result.status, Status::Failed | Status::Error) {
            eprintln!("{}", failure_text(&result));
        }
        result
    });
    let leftovers = ctx.sweep();

    let report = match format {
        Format::Junit => junit(&results),
        Format::Json => {
            #[derive(Serialize)]
            struct Report<'a> {
                #[serde(flatten)]
                counts: Counts,
                seconds: f64,
                results: &'a [CaseResult],
            }
            let report =
                Report { counts: counts(&results), seconds: started.elapsed().as_secs_f64(), results: &results };
            serde_json::to_string_pretty(&report).context("serializing the test results")?
        }
        _ => summary_table(&results),
    };
    println!("{report}");
    if let Some(path) = &flags.output {
        std::fs::write(path, format!("{report}\n"))
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    let c = counts(&results);
    eprintln!(
        "{} passed, {} failed, {} errors, {} skipped in {}",
        c.passed,
        c.failed,
        c.errors,
        c.skipped,
        crate::core::text::duration(started.elapsed())
    );
    let success = c.failed + c.errors == 0 && leftovers.is_ok() && !ctx.interrupted.load(Ordering::SeqCst);
    crate::sys::metrics::record(ws, "test", began, success, unit_metrics(&results));
    leftovers?;
    if ctx.interrupted.load(Ordering::SeqCst) {
        return Err(crate::cli::exit::Failure::new(
            crate::cli::exit::Exit::Interrupted,
            "interrupted; this run's containers are removed".to_string(),
        )
        .into());
    }
    if c.failed + c.errors > 0 {
        bail!("{} of {} test case(s) failed or could not run (details above)", c.failed + c.errors, c.tests);
    }
    Ok(())
}

/// A metrics record per unit and platform: the worst status of its cases, their
/// summed time and the manifest digest they ran.
fn unit_metrics(results: &[CaseResult]) -> Vec<crate::core::metrics::UnitPlatformRecord> {
    let mut out: Vec<crate::core::metrics::UnitPlatformRecord> = Vec::new();
    for r in results {
        let at = match out.iter().position(|m| m.unit == r.unit && m.platform == r.platform) {
            Some(at) => at,
            None => {
                out.push(crate::core::metrics::UnitPlatformRecord {
                    unit: r.unit.clone(),
                    platform: r.platform.clone(),
                    status: "skipped".to_string(),
                    seconds: Some(0.0),
                    digest: None,
                    input_digest: None,
                    skipped: false,
                    compressed_size: None,
                });
                out.len() - 1
            }
        };
        let m = &mut out[at];
        m.seconds = Some(m.seconds.unwrap_or(0.0) + r.seconds);
        let digest = r.image.as_deref().and_then(|i| i.split_once('@')).map(|(_, d)| d.to_string());
        m.digest = m.digest.take().or(digest);
        let rank = |status: &str| ["skipped", "passed", "error", "failed"].iter().position(|s| *s == status);
        let status = match r.status {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Error => "error",
            Status::Skipped => "skipped",
        };
        if rank(status) > rank(&m.status) {
            m.status = status.to_string();
        }
    }
    out
}

/// Seconds since the epoch: tells this run's containers from an earlier run's with a reused pid.
fn started_at() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Platforms to test: each unit's own, narrowed by --platform; the host's only with --local.
fn selected_platforms(units: &[&Unit], requested: &[String], local: bool) -> Result<Vec<String>> {
    let declared: Vec<&String> = units.iter().flat_map(|u| &u.platforms).collect();
    if let Some(p) = requested.iter().find(|p| !declared.contains(p)) {
        bail!("--platform {p}: no selected image builds for it");
    }
    if local {
        let host = crate::sys::provision::host_platform();
        if requested.iter().any(|p| p != host) {
            bail!("--local tests what `build --load` made, which is the host platform ({host}) only: drop --platform");
        }
        return Ok(vec![host.to_string()]);
    }
    Ok(if requested.is_empty() { declared.into_iter().cloned().collect() } else { requested.to_vec() })
}

struct Target<'a> {
    unit: &'a Unit,
    platform: String,
    tests: Vec<&'a TestDef>,
}

/// The image one platform of a unit runs as.
struct Prepared {
    /// `repo@sha256:<this platform's manifest>`, or the local tag.
    reference: String,
    /// The image config's `config` object.
    config: Value,
}

struct Ctx {
    run_id: String,
    next_container: AtomicUsize,
    interrupted: Arc<AtomicBool>,
    local: bool,
    progress: Progress,
}

impl Ctx {
    fn label(&self) -> String {
        format!("xtask.run={}", self.run_id)
    }

    /// A container name this run owns, removed when the guard drops.
    fn container(&self) -> Container {
        Container { name: format!("xtask-test-{}-{}", self.run_id, self.next_container.fetch_add(1, Ordering::SeqCst)) }
    }

    /// `docker run`/`create` flags every container of the run gets.
    fn isolation(&self, name: &str, platform: &str) -> Vec<String> {
        let flags = ["--name", name, "--label", &self.label(), "--network", "none", "--platform", platform];
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

/// Resolves the image a target runs as, and pulls it.
fn prepare(ctx: &Ctx, target: &Target<'_>) -> Result<Prepared, String> {
    if ctx.stopped() {
        return Err("interrupted".to_string());
    }
    let unit = target.unit;
    let tag = unit.tags.first().ok_or_else(|| format!("{} has no tag to test", unit.id))?;
    let outcome = if ctx.local {
        prepare_local(&tag.to_string(), &target.platform)
    } else {
        prepare_published(unit, tag, &target.platform)
    };
    outcome.map_err(|err| format!("{err:#}"))
}

fn prepare_local(tag: &str, platform: &str) -> Result<Prepared> {
    let inspect = duct::cmd!("docker", "image", "inspect", tag)
        .stdin_null()
        .stderr_capture()
        .stdout_capture()
        .unchecked()
        .run()
        .context("running docker image inspect")?;
    if !inspect.status.success() {
        let stderr = String::from_utf8_lossy(&inspect.stderr);
        if stderr.contains("No such image") {
            bail!("{tag} is not in the local engine: run `cargo xtask build --load` first");
        }
        bail!("docker image inspect {tag} failed: {}", stderr.trim());
    }
    let images: Value = serde_json::from_slice(&inspect.stdout).context("parsing docker image inspect")?;
    let image = &images[0];
    let arch = image["Architecture"].as_str().unwrap_or_default();
    if crate::oci::platform::Platform::parse(platform).architecture != arch {
        bail!("the local {tag} is a {arch} image, not {platform}: run `cargo xtask build --load` again");
    }
    Ok(Prepared { reference: tag.to_string(), config: image["Config"].clone() })
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
        .manifest(repository, &entry.digest)
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

fn run_case(ctx: &Ctx, target: &Target<'_>, prepared: &Result<Prepared, String>, test: &TestDef) -> CaseResult {
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
    let verdict = check_all(ctx, target, prepared, test, started + test.timeout);
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
fn check_all(ctx: &Ctx, target: &Target<'_>, image: &Prepared, test: &TestDef, deadline: Instant) -> Result<Verdict> {
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
        let mut argv = vec!["run".to_string()];
        argv.extend(ctx.isolation(&container.name, platform));
        argv.push(image.reference.clone());
        argv.extend(command.iter().cloned());
        let mut by_hand = vec!["docker", "run", "--rm", "--network", "none", "--platform", platform, &image.reference]
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
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
        let verdict = check_service(ctx, platform, image, service, &values, test, deadline)?;
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
    argv.extend(ctx.isolation(&container.name, platform));
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

fn check_service(
    ctx: &Ctx,
    platform: &str,
    image: &Prepared,
    service: &ServiceCheck,
    values: &Values,
    test: &TestDef,
    deadline: Instant,
) -> Result<Verdict> {
    let container = ctx.container();
    let env: Vec<String> =
        service.env.iter().flat_map(|(k, v)| ["--env".to_string(), format!("{k}={}", values.fill(v))]).collect();
    let health: Vec<String> = match service.wait {
        Wait::Healthy => vec!["--health-interval".to_string(), HEALTH_INTERVAL.to_string()],
        _ => vec![],
    };
    let probe = service.probe.as_ref().map(|p| values.fill_all(p));
    let mut by_hand = vec!["docker", "run", "--detach", "--name", "svc", "--network", "none", "--platform", platform]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    by_hand.extend(health.iter().cloned());
    by_hand.extend(env.iter().cloned());
    by_hand.push(image.reference.clone());
    let mut reproduce = shell_words(&by_hand);
    if let Some(probe) = &probe {
        reproduce.push_str(&format!(" && docker exec svc {}", shell_words(probe)));
    }
    if service.wait == Wait::Healthy && !has_healthcheck(&image.config) {
        return Ok(fail(vec!["wait = \"healthy\", but the image has no HEALTHCHECK".to_string()], None, reproduce));
    }

    let mut argv = vec!["run".to_string(), "--detach".to_string()];
    argv.extend(ctx.isolation(&container.name, platform));
    argv.extend(health);
    argv.extend(env);
    argv.push(image.reference.clone());
    let started = match docker_until(ctx, &argv, deadline)? {
        Ok(ran) => ran,
        Err(stop) => return Ok(stop.verdict(test, "starting the service", reproduce)),
    };
    if started.exit_code != 0 {
        let why = format!("the service did not start: {}", last_lines(started.stderr.trim(), TAIL));
        return Ok(fail(vec![why], None, reproduce));
    }

    let since = Instant::now();
    loop {
        let inspect = ["inspect", "--format", "{{json .State}}", &container.name].map(str::to_string);
        let state = match docker_until(ctx, &inspect, deadline)? {
            Ok(ran) => serde_json::from_str::<Value>(&ran.stdout).context("parsing the service's state")?,
            Err(stop) => return Ok(stop.verdict(test, "waiting for the service", reproduce)),
        };
        let logs = match service.wait {
            Wait::Log(_) => logs(&container.name)?,
            _ => String::new(),
        };
        match readiness(&service.wait, &state, &logs, since.elapsed()) {
            Readiness::Ready => break,
            Readiness::Failed(why) => {
                let details = tail("service output", &self::logs(&container.name)?);
                return Ok(fail(vec![why], Some(details), reproduce));
            }
            Readiness::Pending => {}
        }
        if ctx.stopped() {
            return Ok(Verdict::Interrupted);
        }
        if Instant::now() >= deadline {
            return Ok(Stop::TimedOut.verdict(test, "waiting for the service to be ready", reproduce));
        }
        std::thread::sleep(Duration::from_millis(250));
    }

    let Some(probe) = probe else { return Ok(Verdict::Pass) };
    let mut argv = vec!["exec".to_string(), container.name.clone()];
    argv.extend(probe);
    let ran = match docker_until(ctx, &argv, deadline)? {
        Ok(ran) => ran,
        Err(stop) => return Ok(stop.verdict(test, "running the probe", reproduce)),
    };
    let misses = judge(&service.expect, values, &ran);
    if misses.is_empty() {
        return Ok(Verdict::Pass);
    }
    let details = format!(
        "{}\n{}",
        expected_vs_actual(&service.expect, values, &ran),
        tail("service output", &logs(&container.name)?)
    );
    Ok(fail(misses.into_iter().map(|m| format!("probe: {m}")).collect(), Some(details), reproduce))
}

fn logs(container: &str) -> Result<String> {
    let out = duct::cmd!("docker", "logs", container)
        .stdin_null()
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .context("running docker logs")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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

pub fn summary_table(results: &[CaseResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let result = match r.status {
                Status::Passed => "passed",
                Status::Failed => "FAILED",
                Status::Error => "ERROR",
                Status::Skipped => "skipped",
            };
            vec![
                r.unit.clone(),
                r.platform.clone(),
                r.test.clone(),
                result.to_string(),
                crate::core::text::duration(Duration::from_secs_f64(r.seconds)),
            ]
        })
        .collect();
    crate::core::text::table(&["UNIT", "PLATFORM", "TEST", "RESULT", "DURATION"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::definitions::*;
    use crate::core::definitions::{validate_image, validate_settings};
    use camino::Utf8Path;
    use std::collections::BTreeMap;

    /// The tests of an inline image.toml.
    fn tests_of(text: &str) -> Vec<TestDef> {
        let settings = validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\n").unwrap();
        let dir = Utf8Path::new("images/app");
        validate_image(&dir.join("image.toml"), text, dir, &settings).unwrap().tests
    }

    fn unit(variant: Option<&str>, args: &[(&str, &str)]) -> Unit {
        let mut unit = crate::core::plan::sample_unit();
        unit.variant = variant.map(str::to_string);
        unit.args = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        unit
    }

    fn ran(exit_code: i32, stdout: &str) -> Ran {
        Ran { exit_code, stdout: stdout.to_string(), stderr: String::new() }
    }

    const APP: &str = r#"
[args]
GREETING = "hello"
[[variants]]
name = "quiet"
default = true
[[variants]]
name = "loud"
args = { GREETING = "HELLO" }

[[tests]]
name = "greets"
command = ["cat", "/greeting"]
stdout = "{GREETING} from {TARGETARCH}"

[[tests]]
name = "loud on arm"
command = ["true"]
variants = ["loud"]
platforms = ["linux/arm64"]
"#;

    #[test]
    fn tests_apply_by_variant_and_platform() {
        let tests = tests_of(APP);
        let names = |variant, platform| -> Vec<String> {
            applicable(&tests, &unit(Some(variant), &[]), platform).iter().map(|t| t.name.clone()).collect()
        };
        assert_eq!(names("quiet", "linux/arm64"), ["greets"]);
        assert_eq!(names("loud", "linux/amd64"), ["greets"]);
        assert_eq!(names("loud", "linux/arm64"), ["greets", "loud on arm"]);
    }

    #[test]
    fn placeholders_take_variant_args_and_platform_args() {
        let values = Values::new(&unit(Some("loud"), &[("GREETING", "HELLO")]).args, "linux/arm/v7");
        assert_eq!(
            values.fill("{GREETING} from {TARGETARCH}{TARGETVARIANT} on {TARGETOS}"),
            "HELLO from armv7 on linux"
        );
        assert_eq!(values.fill("{{GREETING}} {\"json\": 1} a{3}"), "{GREETING} {\"json\": 1} a{3}");
        let values = Values::new(&BTreeMap::from([("V".to_string(), "3.13".to_string())]), "linux/amd64");
        assert_eq!(values.fill_regex("^Python {V}$"), r"^Python 3\.13$");
    }

    #[test]
    fn judging_a_command_names_each_miss() {
        let tests = tests_of(APP);
        let values = Values::new(&BTreeMap::from([("GREETING".to_string(), "hello".to_string())]), "linux/arm64");
        let expect = &tests[0].expect;
        assert!(judge(expect, &values, &ran(0, "hello from arm64\n")).is_empty());
        assert_eq!(
            judge(expect, &values, &ran(127, "hello from amd64\n")),
            ["exit code 127, expected 0", "stdout does not contain \"hello from arm64\""]
        );
        let regex = Expect { stdout: None, stdout_regex: Some("^Python {V}$".into()), exit_code: 2 };
        let values = Values::new(&BTreeMap::from([("V".to_string(), "3.13".to_string())]), "linux/amd64");
        assert!(judge(&regex, &values, &ran(2, "Python 3.13\n")).is_empty(), "the final newline is not part of stdout");
        assert_eq!(judge(&regex, &values, &ran(2, "Python 3x13")), [r"stdout does not match /^Python 3\.13$/"]);

        let mut r = ran(1, "");
        r.stderr = (1..=30).map(|i| format!("line {i}\n")).collect();
        let text = expected_vs_actual(expect, &values, &r);
        assert!(text.starts_with("expected: exit code 0, stdout containing \"{GREETING} from amd64\"\nactual:   exit code 1\nstdout: (empty)\nstderr (last 20 lines):\n  | line 11\n"), "{text}");
        assert!(text.ends_with("  | line 30"), "{text}");
    }

    #[test]
    fn metadata_checks_read_the_config() {
        let tests = tests_of(
            r#"
[args]
LANG_VALUE = "C.UTF-8"
[[tests]]
name = "config"
[tests.metadata]
user = "65534"
healthcheck = true
env = { LANG = "{LANG_VALUE}", PATH = "/bin" }
exposed_ports = ["8080"]
entrypoint = ["/entry", "{TARGETARCH}"]
"#,
        );
        let check = tests[0].metadata.as_ref().unwrap();
        let values = Values::new(&BTreeMap::from([("LANG_VALUE".to_string(), "C.UTF-8".to_string())]), "linux/amd64");
        let good = serde_json::json!({
            "User": "65534:65534", "Env": ["PATH=/bin", "LANG=C.UTF-8"], "ExposedPorts": {"8080/tcp": {}},
            "Entrypoint": ["/entry", "amd64"], "Healthcheck": {"Test": ["CMD", "true"]}
        });
        assert_eq!(check_metadata(check, &values, &good), Vec::<String>::new());
        let bad = serde_json::json!({
            "User": "0", "Env": ["LANG=C"], "ExposedPorts": {"8080/tcp": {}, "9090/tcp": {}},
            "Entrypoint": null, "Healthcheck": {"Test": ["NONE"]}
        });
        assert_eq!(
            check_metadata(check, &values, &bad),
            [
                "the image runs as root (User is \"0\"); expected a non-root user, or `allow_root = true`",
                "User is \"0\", expected \"65534\"",
                "the image has no HEALTHCHECK",
                "Env has LANG=C, expected LANG=C.UTF-8",
                "Env has no PATH, expected PATH=/bin",
                "ExposedPorts are [\"8080/tcp\", \"9090/tcp\"], expected [\"8080/tcp\"]",
                "Entrypoint is [], expected [\"/entry\", \"amd64\"]",
            ]
        );
        let root_ok = MetadataCheck {
            user: None,
            allow_root: true,
            healthcheck: None,
            env: BTreeMap::new(),
            exposed_ports: None,
            entrypoint: None,
        };
        assert!(check_metadata(&root_ok, &values, &serde_json::json!({})).is_empty());
        let nonroot = MetadataCheck { allow_root: false, user: Some("nonroot".into()), ..root_ok };
        assert_eq!(
            check_metadata(&nonroot, &values, &serde_json::json!({})),
            ["the image runs as root (User is unset, so root); expected a non-root user, or `allow_root = true`"]
        );
    }

    /// A ustar header for one entry, as `docker cp` writes it.
    fn tar_header(name: &str, mode: &str, uid: &str, gid: &str, kind: u8, size: usize) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        for (at, text) in [(100, mode), (108, uid), (116, gid), (124, &format!("{size:011o}")[..])] {
            h[at..at + text.len()].copy_from_slice(text.as_bytes());
        }
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h
    }

    #[test]
    fn tar_headers_give_mode_and_owner() {
        let plain = tar_header("busybox", "0100755", "0000000", "0000000", b'0', 0);
        assert_eq!(first_tar_entry(&plain), Ok(FileStat { mode: 0o755, uid: 0, gid: 0 }));
        let dir = tar_header("tmp/", "0041777", "0177776", "0177776", b'5', 0);
        assert_eq!(first_tar_entry(&dir), Ok(FileStat { mode: 0o1777, uid: 65534, gid: 65534 }));

        // A PAX header first: its uid overrides the (too small) header field.
        let records = "16 uid=3000000\n";
        let mut data = tar_header("PaxHeaders/x", "0000644", "0", "0", b'x', records.len());
        let mut body = records.as_bytes().to_vec();
        body.resize(512, 0);
        data.extend(body);
        data.extend(tar_header("x", "0000640", "0", "0000012", b'0', 0));
        assert_eq!(first_tar_entry(&data), Ok(FileStat { mode: 0o640, uid: 3_000_000, gid: 10 }));

        assert_eq!(first_tar_entry(&[0; 1024]), Err("the archive is empty".to_string()));
        assert_eq!(first_tar_entry(&plain[..100]), Err("the archive ends before its first entry".to_string()));
    }

    #[test]
    fn file_checks_compare_existence_mode_and_owner() {
        let check = FileCheck { path: "/bin/sh".into(), exists: true, mode: Some(0o755), owner: Some((0, 0)) };
        let stat = FileStat { mode: 0o755, uid: 0, gid: 0 };
        assert_eq!(check_file(&check, "/bin/sh", Some(stat)), None);
        assert_eq!(check_file(&check, "/bin/sh", None), Some("/bin/sh does not exist".to_string()));
        assert_eq!(
            check_file(&check, "/bin/sh", Some(FileStat { mode: 0o4750, uid: 1, gid: 2 })),
            Some("/bin/sh has mode 4750, expected 0755; /bin/sh is owned by 1:2, expected 0:0".to_string())
        );
        let absent = FileCheck { path: "/x".into(), exists: false, mode: None, owner: None };
        assert_eq!(check_file(&absent, "/x", None), None);
        assert_eq!(check_file(&absent, "/x", Some(stat)), Some("/x exists, expected it not to".to_string()));
    }

    #[test]
    fn services_are_ready_by_health_log_or_delay() {
        let running =
            |health: &str| serde_json::json!({"Status": "running", "Running": true, "Health": {"Status": health}});
        let second = Duration::from_secs(1);
        assert_eq!(readiness(&Wait::Healthy, &running("starting"), "", second), Readiness::Pending);
        assert_eq!(readiness(&Wait::Healthy, &running("healthy"), "", second), Readiness::Ready);
        let unhealthy = serde_json::json!({"Status": "running", "Running": true,
            "Health": {"Status": "unhealthy", "Log": [{"Output": "old"}, {"Output": "connection refused\n"}]}});
        assert_eq!(
            readiness(&Wait::Healthy, &unhealthy, "", second),
            Readiness::Failed("its HEALTHCHECK reports unhealthy: \"connection refused\"".into())
        );
        let exited = serde_json::json!({"Status": "exited", "Running": false, "ExitCode": 3});
        assert_eq!(
            readiness(&Wait::Log("ready".into()), &exited, "ready", second),
            Readiness::Failed("the service stopped (exited, exit code 3) before it was ready".into())
        );
        let up = running("");
        assert_eq!(readiness(&Wait::Log("ready".into()), &up, "starting\n", second), Readiness::Pending);
        assert_eq!(readiness(&Wait::Log("ready".into()), &up, "db ready\n", second), Readiness::Ready);
        assert_eq!(readiness(&Wait::Delay(2 * second), &up, "", second), Readiness::Pending);
        assert_eq!(readiness(&Wait::Delay(2 * second), &up, "", 2 * second), Readiness::Ready);
    }

    fn case(unit: &str, test: &str, status: Status) -> CaseResult {
        CaseResult {
            unit: unit.into(),
            platform: "linux/arm64".into(),
            test: test.into(),
            status,
            seconds: 0.5,
            image: Some("r/app@sha256:ab".into()),
            message: (status != Status::Passed).then(|| "stdout does not contain \"<ok> & 'done'\"".into()),
            details: (status == Status::Failed).then(|| "expected: x\nactual:   \u{1b}[31my".into()),
            reproduce: (status == Status::Failed).then(|| "docker run --rm r/app@sha256:ab".into()),
        }
    }

    #[test]
    fn junit_groups_by_unit_and_escapes() {
        let results = [
            case("app:quiet", "greets", Status::Passed),
            case("app:quiet", "says <hi>", Status::Failed),
            case("base", "shell", Status::Error),
            case("base", "later", Status::Skipped),
        ];
        let xml = junit(&results);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"cargo xtask test\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"2.000\">\n"), "{xml}");
        assert!(
            xml.contains(
                "<testsuite name=\"app:quiet\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"1.000\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"greets [linux/arm64]\" classname=\"app:quiet\" time=\"0.500\"/>"),
            "{xml}"
        );
        assert!(xml.contains("<testcase name=\"says &lt;hi&gt; [linux/arm64]\""), "{xml}");
        assert!(xml.contains("<failure message=\"stdout does not contain &quot;&lt;ok&gt; &amp; &apos;done&apos;&quot;\" type=\"failure\">FAILED app:quiet linux/arm64"), "{xml}");
        assert!(
            xml.contains("&apos;done&apos;&quot;\n  image: r/app@sha256:ab\n  expected: x\n  actual:   \\u{1b}[31my"),
            "line breaks stay in text, control characters are spelled out: {xml}"
        );
        assert!(xml.contains("<error message=") && xml.contains("<skipped message="), "{xml}");
        assert_eq!(xml.matches("<testsuite ").count(), 2);
    }

    #[test]
    fn failure_text_shows_image_details_and_reproduction() {
        let text = failure_text(&case("app:quiet", "greets", Status::Failed));
        assert_eq!(
            text,
            "FAILED app:quiet linux/arm64 \"greets\": stdout does not contain \"<ok> & 'done'\"\n  image: r/app@sha256:ab\n  expected: x\n  actual:   \u{1b}[31my\n  reproduce: docker run --rm r/app@sha256:ab"
        );
        let table = summary_table(&[case("base", "shell", Status::Passed)]);
        assert_eq!(table.lines().nth(2), Some("base  linux/arm64  shell  passed  0.5s"));
    }

    #[test]
    fn metrics_per_unit_and_platform_take_the_worst_status() {
        let local = CaseResult { image: Some("app:local".into()), ..case("app", "a", Status::Passed) };
        let results = [
            case("app:quiet", "greets", Status::Passed),
            case("base", "shell", Status::Skipped),
            case("app:quiet", "says", Status::Failed),
            case("app:quiet", "later", Status::Error),
            case("base", "files", Status::Passed),
            local,
        ];
        let got: Vec<(String, String, Option<f64>, Option<String>)> =
            unit_metrics(&results).into_iter().map(|m| (m.unit, m.status, m.seconds, m.digest)).collect();
        let digest = Some("sha256:ab".to_string());
        assert_eq!(
            got,
            [
                ("app:quiet".into(), "failed".into(), Some(1.5), digest.clone()),
                ("base".into(), "passed".into(), Some(1.0), digest),
                ("app".into(), "passed".into(), Some(0.5), None),
            ]
        );
    }

    #[test]
    fn shell_words_quote_what_a_shell_would_split() {
        let argv: Vec<String> = ["sh", "-c", "echo 'hi' $X", "", "a=b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(shell_words(&argv), r#"sh -c 'echo '\''hi'\'' $X' '' a=b"#);
    }
}
