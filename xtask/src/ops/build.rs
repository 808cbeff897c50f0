//! The build executor behind `cargo xtask build`: one `docker buildx build` per unit and
//! platform, in dependency order and in parallel (bounded by `--jobs`), then one atomic
//! publish per unit (see `ops::publish`). A unit's tags move only after every one of its
//! platforms succeeded and the index was verified.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;
use serde::Serialize;

use crate::core::buildx::{self, Driver, Output, PlatformBuild};
use crate::core::jobs::{jobs_for, Job};
use crate::core::plan::Unit;
use crate::core::progress::Steps;
use crate::core::release::Snapshot;
use crate::core::schedule::{Schedule, State};
use crate::core::text::last_lines;
use crate::oci::digest::short_digest;
use crate::ops::publish::{self, Publisher};
use crate::sys::apt::IsolatedApt;
use crate::sys::registry::Registry;
use crate::sys::workspace::{display_path, Workspace};

/// What happened to one unit on one platform.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformResult {
    pub platform: String,
    pub status: Status,
    pub seconds: f64,
    pub digest: Option<String>,
    /// What the image was built from (see `core::inputs`); `None` when not pushing.
    pub input_digest: Option<String>,
    pub log: Utf8PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Built,
    /// The registry already held an image with the same input digest: nothing was built.
    UpToDate,
    Failed,
    /// A parent failed.
    Skipped,
    /// An earlier failure or an interrupt stopped the run first.
    NotStarted,
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
    /// The annotations of its index (`buildx::index_annotations`), published or for `publish`.
    pub annotations: BTreeMap<String, String>,
}

/// What `build` asks of the executor.
pub struct Request<'a> {
    pub units: &'a [Unit],
    pub platforms: &'a [String],
    pub output: Output,
    /// Publish each unit once its platforms are pushed (rather than record digests for `publish`).
    pub publish: bool,
    pub jobs: usize,
    pub keep_going: bool,
    /// Rebuild even when the registry holds an image with the same inputs.
    pub force: bool,
    pub force_tags: bool,
    /// Timestamps set to SOURCE_DATE_EPOCH and the OCI exporter's bytes pushed, for digests
    /// that a rebuild reproduces (`core::buildx::Reproducible`).
    pub reproducible: bool,
    /// Platform images of parents that earlier CI legs pushed, by (unit id, platform): built
    /// on, never built here (`build --parents`).
    pub given: BTreeMap<(String, String), String>,
    /// The current builder's driver, when the caller read it already and `[builders]` names
    /// none: every platform builds with it, and buildx is not asked again.
    pub driver: Option<Driver>,
}

/// Builds every unit on every requested platform in dependency order, publishing each unit
/// whose platforms all succeeded. Returns one result per unit, and whether Ctrl-C stopped it.
pub fn build(ws: &Workspace, request: &Request<'_>, progress: &dyn Steps) -> Result<(Vec<UnitResult>, bool)> {
    let (units, platforms, output, publishing) = (request.units, request.platforms, request.output, request.publish);
    let drivers = match &request.driver {
        Some(driver) if ws.defs.settings.builders.is_empty() => {
            platforms.iter().map(|p| (p.clone(), driver.clone())).collect()
        }
        _ => crate::ops::drivers::detect_drivers(&ws.defs.settings.builders, platforms)?,
    };
    if request.reproducible {
        buildx::check_reproducible(&drivers)?;
    }
    // An engine that keeps multi-platform images gets every platform loaded, then joined.
    let joins_locally = output == Output::Load && drivers.values().all(|d| *d == Driver::ContainerdStore);
    // Before anything builds: a base that cannot be pinned fails the run here.
    let bases = crate::ops::bases::resolve(ws, units, platforms).context("resolving the base images")?;
    if !bases.resolved.is_empty() {
        eprintln!("Pinned {} external base image(s) for this run", bases.resolved.len());
    }
    let apt = rootfs_apt(ws, units)?;
    let client = if output == Output::Push { Some(Registry::new(&ws.registry)?) } else { None };
    let before = match &client {
        Some(client) if publishing => publish::snapshot(client, units.iter().flat_map(|u| u.tags.clone()).collect())
            .context("reading the tags before building")?,
        _ => Snapshot::new(),
    };

    let jobs = request.jobs;
    let created = crate::core::event::utc(ws.build_time()?).1;
    let committed = ws.committed()?;
    eprintln!(
        "Building {} unit(s) for {:?} ({} driver, {jobs} job(s)), {}",
        units.len(),
        ws.event()?.kind,
        drivers
            .values()
            .map(Driver::name)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join("+"),
        match (output, publishing) {
            (Output::Push, true) => format!("publishing to {}", ws.registry),
            (Output::Push, false) => format!("pushing to {} and recording digests", ws.registry),
            (Output::Load, _) => "loading into the local engine".to_string(),
            (Output::None, _) => "publishing nothing".to_string(),
        }
    );
    let sequence = match client {
        Some(_) => crate::ops::publish::next_sequence(&ws.target().join("releases")),
        None => 0,
    };
    let source = crate::ops::labels::git_source(ws);
    let labels = crate::ops::labels::unit_labels(ws, units, source.as_deref())?;
    let ctx = BuildContext {
        ws,
        drivers: &drivers,
        output,
        apt: apt.as_ref(),
        progress,
        annotations: crate::ops::labels::index_annotations(ws, units, &bases, &labels)?,
        labels,
        units,
        digests: Mutex::new(request.given.clone()),
        platform_images: Mutex::new(BTreeMap::new()),
        running: Mutex::new(BTreeMap::new()),
        publisher: client.as_ref().map(|client| Publisher {
            client,
            before: &before,
            force_tags: request.force_tags,
            releases_dir: ws.target().join("releases"),
            run: run_id(),
            sequence,
            created,
            committed: committed.clone(),
        }),
        force: request.force,
        reproducible: request.reproducible,
        joins_locally,
        bases: &bases,
        digest_cache: crate::sys::context::DigestCache::load(&ws.target()),
    };

    if ctx.publisher.is_some() {
        check_given(&ctx, &request.given)?;
    }
    // Costs from earlier runs put the slowest chains first; without metrics, estimates do.
    let history = crate::sys::metrics::read_all(&crate::sys::metrics::path(&ws.target()))
        .map(|records| crate::core::metrics::last_build_seconds(&records))
        .unwrap_or_default();
    let (job_list, tasks) = jobs_for(
        units,
        platforms,
        &request.given,
        publishing || joins_locally,
        crate::sys::provision::host_platform(),
        &history,
    );
    let mut schedule = Schedule::new(tasks, jobs, request.keep_going);
    let (outcomes, interrupted) = execute(&ctx, &job_list, &mut schedule)?;
    if let Err(err) = ctx.digest_cache.save() {
        eprintln!("warning: the input digest cache was not saved: {err:#}");
    }
    let mut results = collect(ws, units, &job_list, &schedule, &outcomes, &ctx.annotations);
    // A parent given by an earlier leg was neither built nor published here.
    results.retain(|r| !r.platforms.is_empty() || !request.given.keys().any(|(unit, _)| *unit == r.unit));

    Ok((results, interrupted))
}

struct BuildContext<'a> {
    ws: &'a Workspace,
    /// The builder's driver for each platform being built.
    drivers: &'a BTreeMap<String, Driver>,
    output: Output,
    apt: Option<&'a IsolatedApt>,
    progress: &'a dyn Steps,
    /// Each unit's OCI labels (`ops::labels::unit_labels`), before a platform's base labels.
    labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Every planned unit, parents included (selection pulls them in).
    units: &'a [Unit],
    /// Pushed images of this run, by (unit id, platform).
    digests: Mutex<BTreeMap<(String, String), String>>,
    /// The image manifest each pushed platform digest stands for (`platform_image`).
    platform_images: Mutex<BTreeMap<String, String>>,
    /// buildx processes in flight, so an interrupt can stop them.
    running: Mutex<BTreeMap<usize, Arc<duct::Handle>>>,
    /// Present when pushing; publishes only when no `--digest-file` defers it.
    publisher: Option<Publisher<'a>>,
    /// Rebuild even when an image with the same inputs exists.
    force: bool,
    /// The external bases of every unit, pinned once for the whole run.
    bases: &'a crate::ops::bases::Bases,
    /// The annotations of each unit's index, by unit id.
    annotations: BTreeMap<String, BTreeMap<String, String>>,
    /// File digests of earlier runs, so a no-op build does not rehash every context.
    digest_cache: crate::sys::context::DigestCache,
    reproducible: bool,
    /// `--load` on a containerd-store engine: each platform under its staging tag, then the
    /// unit's tags joined from them (`ops::load`).
    joins_locally: bool,
}

/// Each given parent image is in the registry (an artifact of another run or registry would
/// otherwise fail deep inside buildx, or be built on when it should not be). Read once here,
/// the image it stands for is remembered for the children's pins.
fn check_given(ctx: &BuildContext<'_>, given: &BTreeMap<(String, String), String>) -> Result<()> {
    for ((id, platform), digest) in given {
        let unit = ctx.units.iter().find(|u| u.id == *id).context("a given parent is missing from the plan")?;
        if platform_image(ctx, unit, platform, digest)?.is_none() {
            bail!(
                "the --parents files name {id} {platform} as {}@{digest}, which the registry does not hold: pass the \
                 digest files of this run's earlier legs, or drop --parents to build {id} here",
                unit.repository
            );
        }
    }
    Ok(())
}

/// What a finished job produced: a build's image (when pushed) or a publish's index.
#[derive(Debug, Clone, Default)]
struct Done {
    digest: Option<String>,
    input_digest: Option<String>,
    up_to_date: bool,
}

/// How a job ended, with its duration in seconds, or the error.
type Outcome = Result<(Done, f64), String>;

/// Runs the schedule on threads until it is finished; an interrupt stops new work and
/// kills running builds. Returns each job's outcome and whether the run was interrupted.
fn execute(ctx: &BuildContext<'_>, jobs: &[Job], schedule: &mut Schedule) -> Result<(BTreeMap<usize, Outcome>, bool)> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted)).context("installing the Ctrl-C handler")?;
    }
    let mut outcomes = BTreeMap::new();
    let mut stopped = false;
    let mut interrupted_at: Option<Instant> = None;
    std::thread::scope(|scope| {
        let (done, finished) = mpsc::channel::<(usize, Outcome)>();
        loop {
            while let Some(task) = schedule.next_ready() {
                let done = done.clone();
                let job = jobs[task];
                scope.spawn(move || {
                    let started = Instant::now();
                    let outcome = match job {
                        Job::Build { unit, platform } => {
                            build_platform(ctx, task, &ctx.units[unit], &ctx.units[unit].platforms[platform])
                        }
                        Job::Publish { unit } => publish_unit(ctx, &ctx.units[unit]),
                    };
                    let _ = done.send((
                        task,
                        outcome.map(|d| (d, started.elapsed().as_secs_f64())).map_err(|e| format!("{e:#}")),
                    ));
                });
            }
            if schedule.is_finished() {
                break;
            }
            match finished.recv_timeout(Duration::from_millis(200)) {
                Ok((task, outcome)) => {
                    schedule.finish(task, outcome.is_ok());
                    outcomes.insert(task, outcome);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if interrupted.load(Ordering::Relaxed) && !stopped {
                stopped = true;
                eprintln!("Interrupted: stopping running builds; no further tag will move.");
                schedule.stop();
                signal_builds(ctx, "-INT");
                interrupted_at = Some(Instant::now());
            }
            // BuildKit cancels on SIGINT; a build that ignores it for long is killed.
            if interrupted_at.is_some_and(|at| at.elapsed() > Duration::from_secs(15)) {
                signal_builds(ctx, "-KILL");
                interrupted_at = None;
            }
        }
    });
    Ok((outcomes, stopped))
}

/// Sends `signal` (e.g. `-INT`) to the process group of every running build.
fn signal_builds(ctx: &BuildContext<'_>, signal: &str) {
    for handle in ctx.running.lock().unwrap_or_else(|p| p.into_inner()).values() {
        for pid in handle.pids() {
            let _ = duct::cmd!("kill", signal, "--", format!("-{pid}")).stderr_null().unchecked().run();
        }
    }
}

fn build_platform(ctx: &BuildContext<'_>, task: usize, unit: &Unit, platform: &str) -> Result<Done> {
    let ws = ctx.ws;
    let slug = format!("{}-{}", unit.slug(), buildx::platform_slug(platform));
    let log = log_path(ws, &slug);
    let what = format!("{} {platform}", unit.id);
    let started = ctx.progress.start(&what);
    let outcome = (|| -> Result<Done> {
        // Held until buildx has read the context: another variant of the image may share it.
        let _rootfs =
            prepare_rootfs(ctx, unit, platform).with_context(|| format!("preparing the root filesystem of {what}"))?;
        let parent_args = parent_args(ctx, unit, platform)?;
        let pulled = ctx.bases.digests_for(&unit.id, platform);
        let mut labels = ctx.labels.get(&unit.id).cloned().unwrap_or_default();
        labels.extend(base_labels(ctx, unit, platform, &parent_args, &pulled)?);
        let pinned_dockerfile = crate::ops::bases::write_pinned(ws, unit, platform, ctx.bases)?;
        // Pushed images are named after their inputs, so an unchanged unit is found, not rebuilt.
        let client = ctx.publisher.as_ref().map(|p| p.client).filter(|_| ctx.output == Output::Push);
        let input_digest = match client {
            Some(_) => Some(unit_input_digest(ctx, unit, platform, &parent_args, &labels, &pulled)?),
            None => None,
        };
        let input_tag = input_digest.as_deref().map(|d| crate::core::inputs::inputs_ref(&unit.repository, d, platform));
        if let (Some(client), Some(tag), false) = (client, &input_tag, ctx.force) {
            if let Some(found) = client.head_manifest(tag.path(), tag.tag())? {
                let key = (unit.id.clone(), platform.to_string());
                ctx.digests.lock().unwrap_or_else(|p| p.into_inner()).insert(key, found.digest.clone());
                return Ok(Done { digest: Some(found.digest), input_digest, up_to_date: true });
            }
        }
        if let Some(digest) = &input_digest {
            labels.insert(crate::core::inputs::INPUT_DIGEST_LABEL.to_string(), digest.clone());
        }
        let metadata_file = ws.target().join("meta").join(format!("{slug}.json"));
        let _ = std::fs::remove_file(&metadata_file);
        for dir in [metadata_file.parent(), log.parent()].into_iter().flatten() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
        }
        // The containerd-store engine's push is avoided (`buildx::Export`): its layout is
        // pushed by xtask, as a reproducible build's is.
        let driver = &ctx.drivers[platform];
        let exported = ctx.reproducible || (*driver == Driver::ContainerdStore && ctx.output == Output::Push);
        let export = match exported {
            true => {
                let layout = ws.target().join("oci").join(&slug);
                // The exporter adds to a layout it finds: each build starts from none.
                if layout.exists() {
                    std::fs::remove_dir_all(&layout).with_context(|| format!("removing {layout}"))?;
                }
                let epoch = if ctx.reproducible { Some(ws.build_time()?) } else { None };
                Some(buildx::Export { layout, epoch })
            }
            false => None,
        };
        let request = PlatformBuild {
            unit,
            platform,
            pinned_dockerfile,
            driver,
            builder: ws.defs.settings.builders.get(platform).map(String::as_str),
            parent_args,
            labels,
            output: ctx.output,
            metadata_file: metadata_file.clone(),
            input_tag,
            release: ws.event()?.kind == crate::core::event::EventKind::Release,
            export: export.clone(),
        };
        let argv = buildx::build_argv(&request)?;
        // BuildKit does not retry a push the registry answered with a 5xx, as the native
        // client does: the leg is run once more (its steps are cached by then).
        for attempt in 1..=2 {
            let handle = duct::cmd("docker", &argv)
                .dir(&ws.root)
                .stdin_null()
                .stderr_to_stdout()
                .stdout_path(&log)
                .unchecked()
                // Its own process group: an interrupt stops the CLI and the buildx plugin it runs.
                .before_spawn(|command| {
                    std::os::unix::process::CommandExt::process_group(command, 0);
                    Ok(())
                })
                .start()
                .context("starting docker buildx build")?;
            let handle = Arc::new(handle);
            ctx.running.lock().unwrap_or_else(|p| p.into_inner()).insert(task, Arc::clone(&handle));
            let waited = handle.wait().map(|o| o.status);
            ctx.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&task);
            let status = waited.context("waiting for docker buildx build")?;
            if status.success() {
                break;
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if attempt == 1 && buildx::transient_registry_failure(&last_lines(&text, 20)) {
                let first = log.with_extension("log.1");
                let _ = std::fs::rename(&log, &first);
                eprintln!("note: {what}: the registry failed a push transiently; building again (first log: {first})");
                continue;
            }
            bail!("docker buildx build {status}; its last lines:\n{}", last_lines(&text, 20));
        }
        let Some(client) = client else { return Ok(Done::default()) };
        let digest = match &export {
            Some(exported) => {
                let staging = crate::oci::reference::TagRef::parse(&buildx::staging_ref(unit, platform))
                    .map_err(|e| anyhow::anyhow!(e))?;
                let tags: Vec<&crate::oci::reference::TagRef> =
                    std::iter::once(&staging).chain(&request.input_tag).collect();
                let (_, repository) = crate::oci::reference::split_repository(&unit.repository);
                let digest = crate::ops::layout::push_layout(client, repository, &exported.layout, &tags)
                    .with_context(|| format!("pushing the export of {what}"))?;
                // Pushed: the copy on disk is not needed again.
                let _ = std::fs::remove_dir_all(&exported.layout);
                digest
            }
            None => {
                let metadata =
                    std::fs::read_to_string(&metadata_file).with_context(|| format!("reading {metadata_file}"))?;
                buildx::digest_from_metadata(&metadata)?
            }
        };
        ctx.digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((unit.id.clone(), platform.to_string()), digest.clone());
        Ok(Done { digest: Some(digest), input_digest, up_to_date: false })
    })();
    match &outcome {
        Ok(done) => {
            let word = if done.up_to_date { "up to date" } else { "built" };
            let line =
                done.digest.as_deref().map_or_else(|| word.to_string(), |d| format!("{word} {}", short_digest(d)));
            ctx.progress.finish(&what, started, &line);
        }
        Err(err) => {
            ctx.progress.finish(&what, started, "FAILED");
            let err = crate::core::text::sanitize_lines(&format!("{err:#}"));
            eprintln!("error: {what}: {err}\n  full log: {}", display_path(&ws.root, &log));
        }
    }
    outcome
}

/// The input digest of `unit` on `platform`; `pulled` holds the digests its external bases
/// were pinned to for this run.
fn unit_input_digest(
    ctx: &BuildContext<'_>,
    unit: &Unit,
    platform: &str,
    parent_args: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    pulled: &BTreeMap<String, String>,
) -> Result<String> {
    let ws = ctx.ws;
    let dockerfile = ws.dockerfile(unit)?;
    let dockerignore = crate::sys::context::read_dockerignore(&ws.root, unit)?;
    let mut entries = ctx.digest_cache.context_entries(&ws.root.join(&unit.context), dockerignore.as_deref())?;
    if unit.rootfs.is_some() {
        // Only this platform's tarball reaches the build; the others may still be in the making.
        let own = format!("rootfs/{}", crate::oci::platform::tarball_name(platform));
        entries.retain(|e| !e.path.starts_with("rootfs/") || e.path == own);
    }
    let inputs = crate::core::inputs::Inputs {
        reproducible: ctx.reproducible,
        ..crate::core::inputs::unit_inputs(unit, platform, dockerfile, &entries, labels, parent_args, pulled)
    };
    Ok(crate::core::inputs::input_digest(&inputs))
}

/// The base labels of one platform image: the final stage's base, and every external base pulled.
fn base_labels(
    ctx: &BuildContext<'_>,
    unit: &Unit,
    platform: &str,
    parent_args: &BTreeMap<String, String>,
    pulled: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let text = ctx.ws.dockerfile(unit)?;
    let mut args = crate::core::bases::unit_build_args(unit, platform, crate::sys::provision::host_platform());
    args.extend(parent_args.clone());
    let doc = crate::core::dockerfile::parse(text);
    let final_base = crate::core::bases::final_base_pin(&doc, &args, pulled);
    Ok(crate::core::bases::base_labels(final_base.as_ref().map(|(n, d)| (n.as_str(), d.as_str())), pulled))
}

fn log_path(ws: &Workspace, slug: &str) -> Utf8PathBuf {
    ws.target().join("logs").join(format!("{slug}.log"))
}

/// Writes the unit's root filesystem tarball into its context, for images built `FROM scratch`.
fn prepare_rootfs(ctx: &BuildContext<'_>, unit: &Unit, platform: &str) -> Result<Option<crate::sys::rootfs::Prepared>> {
    let Some(rootfs) = &unit.rootfs else { return Ok(None) };
    crate::sys::rootfs::prepare(&ctx.ws.cache(), ctx.apt, &ctx.ws.root.join(&unit.context), rootfs, platform).map(Some)
}

/// `--build-arg X_IMAGE=...` for each in-repo parent, pinned to what this run built for `platform`.
fn parent_args(ctx: &BuildContext<'_>, unit: &Unit, platform: &str) -> Result<BTreeMap<String, String>> {
    let mut args = BTreeMap::new();
    for parent in &unit.parents {
        let parent_unit =
            ctx.units.iter().find(|u| u.id == parent.unit).context("a parent is missing from the plan")?;
        let reference = match ctx.output {
            Output::Push => {
                let digest = ctx
                    .digests
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&(parent.unit.clone(), platform.to_string()))
                    .cloned()
                    .with_context(|| format!("parent {} has no {platform} digest from this run", parent.unit))?;
                let image = platform_image(ctx, parent_unit, platform, &digest)?.with_context(|| {
                    format!("parent {} {platform}: {digest} is not in the registry", parent_unit.id)
                })?;
                format!("{}@{image}", parent_unit.repository)
            }
            // Not pushed: the parent is in the local engine under its first tag or its staging
            // tag, which is the one platform's image where platforms are joined later.
            Output::Load if ctx.joins_locally => buildx::staging_ref(parent_unit, platform),
            Output::Load => match parent_unit.tags.first() {
                Some(tag) => tag.to_string(),
                None => buildx::staging_ref(parent_unit, platform),
            },
            Output::None => buildx::staging_ref(parent_unit, platform),
        };
        args.insert(parent.arg.clone(), reference);
    }
    Ok(args)
}

/// The image manifest a pushed platform `digest` stands for: an engine that attests pushes an
/// index of the image and its attestations, which `publish` flattens. Children are pinned to the
/// image itself, the entry the parent's published index holds, so that `verify-manifests` can
/// hold each child to its published parent. `None` when the registry does not hold `digest`.
fn platform_image(ctx: &BuildContext<'_>, unit: &Unit, platform: &str, digest: &str) -> Result<Option<String>> {
    if let Some(image) = ctx.platform_images.lock().unwrap_or_else(|p| p.into_inner()).get(digest) {
        return Ok(Some(image.clone()));
    }
    let client = ctx.publisher.as_ref().map(|p| p.client).context("a pushed parent without a registry client")?;
    let (_, repository) = crate::oci::reference::split_repository(&unit.repository);
    let Some(manifest) = client.manifest_by_digest(repository, digest)? else { return Ok(None) };
    let image = match crate::oci::manifest::is_index(&manifest.media_type) {
        true => {
            crate::oci::manifest::platform_entries(&manifest, platform)
                .map_err(|why| anyhow::anyhow!("parent {} {platform}: {why}", unit.id))?
                .0
                .digest
        }
        false => digest.to_string(),
    };
    ctx.platform_images.lock().unwrap_or_else(|p| p.into_inner()).insert(digest.to_string(), image.clone());
    Ok(Some(image))
}

/// The unit's tags in the local engine, joined from the platforms loaded under staging tags.
fn join_unit(ctx: &BuildContext<'_>, unit: &Unit) -> Result<Done> {
    if unit.tags.is_empty() {
        // A parent built only for a release: its children use its staging tags.
        return Ok(Done::default());
    }
    let what = format!("{} local index", unit.id);
    let started = ctx.progress.start(&what);
    let platforms: Vec<String> = unit.platforms.iter().filter(|p| ctx.drivers.contains_key(*p)).cloned().collect();
    let annotations = ctx.annotations.get(&unit.id).cloned().unwrap_or_default();
    let dir = ctx.ws.target().join("load").join(unit.slug());
    match crate::ops::load::join_loaded(unit, &platforms, &annotations, &dir) {
        Ok(index) => {
            let line = format!(
                "loaded {} tag(s) of {} platform(s) at {}",
                unit.tags.len(),
                platforms.len(),
                short_digest(&index)
            );
            ctx.progress.finish(&what, started, &line);
            Ok(Done { digest: Some(index), ..Done::default() })
        }
        Err(err) => {
            ctx.progress.finish(&what, started, "FAILED");
            Err(err)
        }
    }
}

/// The atomic publish of one unit, with a progress line.
fn publish_unit(ctx: &BuildContext<'_>, unit: &Unit) -> Result<Done> {
    if ctx.joins_locally {
        return join_unit(ctx, unit);
    }
    let publisher = ctx.publisher.as_ref().context("publishing without a registry client")?;
    let what = format!("{} manifest list", unit.id);
    let started = ctx.progress.start(&what);
    let digests: BTreeMap<String, String> = {
        let all = ctx.digests.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().filter(|((id, _), _)| *id == unit.id).map(|((_, p), d)| (p.clone(), d.clone())).collect()
    };
    let annotations = ctx.annotations.get(&unit.id).cloned().unwrap_or_default();
    match publisher.publish(unit, &digests, &annotations) {
        Ok(index) => {
            ctx.progress.finish(
                &what,
                started,
                &format!("published {} tag(s) at {}", unit.tags.len(), short_digest(&index)),
            );
            Ok(Done { digest: Some(index), ..Done::default() })
        }
        Err(err) => {
            ctx.progress.finish(&what, started, "FAILED");
            Err(err)
        }
    }
}

/// Turns the schedule's end state into one result per unit.
fn collect(
    ws: &Workspace,
    units: &[Unit],
    jobs: &[Job],
    schedule: &Schedule,
    outcomes: &BTreeMap<usize, Outcome>,
    annotations: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<UnitResult> {
    let mut results: Vec<UnitResult> = units
        .iter()
        .map(|u| UnitResult {
            unit: u.id.clone(),
            platforms: vec![],
            index_digest: None,
            tags: u.tags.iter().map(ToString::to_string).collect(),
            published: false,
            error: None,
            annotations: annotations.get(&u.id).cloned().unwrap_or_default(),
        })
        .collect();
    for (task, job) in jobs.iter().enumerate() {
        let state = schedule.state(task);
        let outcome = outcomes.get(&task);
        match *job {
            Job::Build { unit, platform } => {
                let name = units[unit].platforms[platform].clone();
                let log = log_path(ws, &format!("{}-{}", units[unit].slug(), buildx::platform_slug(&name)));
                let (status, seconds, done) = match (state, outcome) {
                    (State::Done, Some(Ok((done, _)))) if done.up_to_date => (Status::UpToDate, 0.0, done.clone()),
                    (State::Done, Some(Ok((done, secs)))) => (Status::Built, *secs, done.clone()),
                    (State::Failed, Some(Err(_))) => (Status::Failed, 0.0, Done::default()),
                    (State::SkippedParentFailed, _) => (Status::Skipped, 0.0, Done::default()),
                    _ => (Status::NotStarted, 0.0, Done::default()),
                };
                let result = &mut results[unit];
                if result.error.is_none() {
                    result.error = match status {
                        Status::Failed => Some(format!("{name} failed (log: {})", display_path(&ws.root, &log))),
                        Status::Skipped => Some(format!("{name} skipped: a parent failed")),
                        Status::NotStarted => Some(format!("{name} not started: the run stopped first")),
                        Status::Built | Status::UpToDate => None,
                    };
                }
                let (digest, input_digest) = (done.digest, done.input_digest);
                result.platforms.push(PlatformResult { platform: name, status, seconds, digest, input_digest, log });
            }
            Job::Publish { unit } => match outcome {
                Some(Ok((done, _))) => {
                    results[unit].index_digest = done.digest.clone();
                    results[unit].published = true;
                }
                Some(Err(err)) => results[unit].error = Some(format!("publishing failed: {err}")),
                None if results[unit].error.is_none() => {
                    results[unit].error = Some(if state == State::SkippedParentFailed {
                        "not published: a parent was not published".to_string()
                    } else {
                        "not published: the run stopped first".to_string()
                    })
                }
                None => {}
            },
        }
    }
    results
}

/// One id for every record and metric line of this run: start time and process id.
pub fn run_id() -> String {
    format!("{}-{}", crate::core::event::utc(crate::sys::now_seconds()).0, std::process::id())
}

/// One metrics line per unit and platform.
pub fn metrics(results: &[UnitResult]) -> Vec<crate::core::metrics::UnitPlatformRecord> {
    results
        .iter()
        .flat_map(|r| {
            r.platforms.iter().map(move |p| crate::core::metrics::UnitPlatformRecord {
                unit: r.unit.clone(),
                platform: p.platform.clone(),
                status: serde_json::to_value(p.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                seconds: Some(p.seconds),
                digest: p.digest.clone(),
                input_digest: p.input_digest.clone(),
                skipped: p.status == Status::UpToDate,
                compressed_size: None,
            })
        })
        .collect()
}

/// An isolated apt for the architectures of units that unpack a root filesystem.
fn rootfs_apt(ws: &Workspace, units: &[Unit]) -> Result<Option<IsolatedApt>> {
    // Only unpacked packages need it: a bootstrap brings its own sources (`sys::rootfs`).
    if !units.iter().any(|u| matches!(u.rootfs, Some(crate::core::definitions::Rootfs::Packages(_)))) {
        return Ok(None);
    }
    let archs: Vec<&str> = ws.all_platforms().iter().map(|p| crate::sys::apt::debian_arch(p)).collect::<Result<_>>()?;
    Ok(Some(IsolatedApt::new(&ws.cache(), &crate::sys::apt::system_suite()?, &archs)?))
}
