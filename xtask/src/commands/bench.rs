//! `cargo xtask bench`: speed targets measured against their baselines in the
//! same run, so the ratio means something on any machine. No test asserts a time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;

use crate::sys::provision::start_registry;
use crate::sys::workspace::Workspace;

/// Tags published for the verify benchmark, as the issue sets it.
const TAGS: usize = 50;

pub fn run(ws: &Workspace, flags: &crate::cli::flags::Bench) -> Result<()> {
    let runs = flags.runs.unwrap_or(5).max(1);
    match flags.benchmark.as_str() {
        "verify" => verify(ws, runs),
        "plan" => plan(ws, runs),
        // A cold build takes half a minute: one run unless asked for more.
        "compile" => compile(ws, flags.runs.unwrap_or(1).max(1)),
        "noop" => noop(ws, runs),
        "bases" => bases(ws, runs),
        // Each run prunes a builder cache and rebuilds from cold: one unless asked for more.
        "cache" => cache(ws, flags.runs.unwrap_or(1).max(1)),
        // Cold builds take a while: one run per side unless asked for more.
        "parallel" => parallel(ws, flags.runs.unwrap_or(1).max(1)),
        // Two cold builds per run: one unless asked for more.
        "bake" => bake(ws, flags.runs.unwrap_or(1).max(1)),
        other => bail!(
            "no benchmark {other:?}: the benchmarks are: verify, plan, compile, noop, bases, cache, parallel, bake"
        ),
    }
}

/// Generated images for the plan benchmark; each has two variants, so twice as many units.
const PLAN_IMAGES: usize = 250;

/// `plan` over 500 generated units, in process (loading the definitions included)
/// and through the binary, against the binary on this repo's own images.
fn plan(ws: &Workspace, runs: usize) -> Result<()> {
    let scratch = ws.target().join("bench/plan");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {scratch}"))?;
    }
    write_plan_workspace(&scratch)?;
    let cpu_before = cpu_time()?.own;
    let in_process = median(runs, || {
        let defs = crate::sys::definitions::load(&scratch)?;
        let units = crate::core::plan::plan(&defs, ws.event()?, &ws.registry, &[])?;
        if units.len() != 2 * PLAN_IMAGES {
            bail!("expected {} units, the plan has {}", 2 * PLAN_IMAGES, units.len());
        }
        Ok(())
    })?;
    // The CPU time, unlike the wall time, does not grow when others share the machine.
    let cpu = cpu_time()?.own.saturating_sub(cpu_before) / runs as u32;
    let cache = ws.cache();
    let root = |dir: &camino::Utf8Path| vec!["--root".to_string(), dir.to_string()];
    let binary = median(runs, || xtask(&cache, &root(&scratch), &["plan"]).map(drop))?;
    let own = median(runs, || xtask(&cache, &root(&ws.root), &["plan"]).map(drop))?;
    let units = 2 * PLAN_IMAGES;
    let rows = vec![
        vec![format!("plan, {units} units, in process"), millis(in_process), format!("{runs} runs")],
        vec!["  its CPU time (mean)".to_string(), millis(cpu), format!("{runs} runs")],
        vec![format!("plan, {units} units, through the binary"), millis(binary), format!("{runs} runs")],
        vec![
            format!("plan, this repo's {} images, through the binary", ws.defs.images.len()),
            millis(own),
            format!("{runs} runs"),
        ],
    ];
    println!("{}", crate::core::text::table(&["MEDIAN OF", "TIME", "RUNS"], &rows));
    println!(
        "Planning {units} units takes {} in process, {} of CPU (target: under 100 ms); through the binary, {} more than this repo's own plan.",
        millis(in_process),
        millis(cpu),
        millis(binary.saturating_sub(own))
    );
    Ok(())
}

/// 250 images with two variants each; four of every five build on an earlier image
/// (FROM-inferred for the default variant, `depends_on` a named variant for the other).
fn write_plan_workspace(dir: &camino::Utf8Path) -> Result<()> {
    write(
        dir.join("Cargo.toml"),
        "[workspace]\n\n[workspace.metadata.images]\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n".to_string(),
    )?;
    for i in 0..PLAN_IMAGES {
        let name = format!("img-{i:03}");
        let parent = (i % 5 != 0).then(|| format!("img-{:03}", i / 2));
        let (from, depends) = match &parent {
            Some(p) => {
                let arg = crate::core::plan::parent_arg(p);
                (format!("ARG {arg}\nFROM ${{{arg}}}"), format!("depends_on = [\"{p}:b\"]\n"))
            }
            None => ("FROM scratch".to_string(), String::new()),
        };
        write(
            dir.join(format!("images/{name}/image.toml")),
            format!(
                "description = \"Generated image {i}\"\n\n[args]\nRELEASE = \"1.{i}\"\n\n\
                 [[variants]]\nname = \"a\"\ndefault = true\nargs = {{ FLAVOUR = \"a\" }}\n\n\
                 [[variants]]\nname = \"b\"\naliases = [\"beta\"]\nargs = {{ FLAVOUR = \"b\" }}\n{depends}\n\
                 [[tests]]\nname = \"flavour\"\ncommand = [\"cat\", \"/flavour\"]\nstdout = \"{{FLAVOUR}}\"\n"
            ),
        )?;
        write(
            dir.join(format!("images/{name}/Dockerfile")),
            format!("{from}\nARG FLAVOUR\nRUN echo \"$FLAVOUR\" > /flavour\nUSER 65534:65534\n"),
        )?;
    }
    Ok(())
}

/// A cold `cargo build -p xtask-images` in a fresh target directory, then the no-op
/// rebuild every `cargo xtask` pays, and how many crates it takes.
fn compile(ws: &Workspace, runs: usize) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let target = ws.target().join("bench/compile");
    let build = || -> Result<String> {
        let output = duct::cmd(&cargo, ["build", "-p", "xtask-images", "--offline"])
            .dir(&ws.root)
            .env("CARGO_TARGET_DIR", &target)
            .stdin_null()
            .stdout_null()
            .stderr_capture()
            .unchecked()
            .run()
            .context("running cargo build")?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            bail!("cargo build -p xtask-images failed:\n{}", crate::core::text::last_lines(&stderr, 20));
        }
        Ok(stderr)
    };
    let mut compiled = 0;
    eprintln!("Building xtask from scratch in {target}, {runs} time(s)…");
    // (wall, CPU) per run; the CPU time says what the build costs even when others share the machine.
    let mut cold = Vec::new();
    for _ in 0..runs {
        if target.exists() {
            std::fs::remove_dir_all(&target).with_context(|| format!("removing {target}"))?;
        }
        let (started, cpu) = (Instant::now(), cpu_time()?.children);
        compiled = build()?.lines().filter(|l| l.trim_start().starts_with("Compiling ")).count();
        cold.push((started.elapsed(), cpu_time()?.children.saturating_sub(cpu)));
    }
    cold.sort();
    let (wall, cpu) = cold[cold.len() / 2];
    let noop = median(5, || build().map(drop))?;
    std::fs::remove_dir_all(&target).with_context(|| format!("removing {target}"))?;
    let tree = duct::cmd(&cargo, ["tree", "-p", "xtask-images", "-e", "normal", "--prefix", "none", "--offline"])
        .dir(&ws.root)
        .stdin_null()
        .stderr_null()
        .read()
        .context("running cargo tree")?;
    // `(*)` marks a crate already listed: each crate counts once.
    let crates: std::collections::BTreeSet<&str> = tree.lines().map(|l| l.trim_end_matches(" (*)")).collect();
    let rows = vec![
        vec![
            "cold `cargo build -p xtask-images`".to_string(),
            format!("{:.1} s", wall.as_secs_f64()),
            format!("{runs} runs"),
        ],
        vec!["  its CPU time (user + system)".to_string(), format!("{:.1} s", cpu.as_secs_f64()), String::new()],
        vec!["no-op rebuild".to_string(), millis(noop), "5 runs".to_string()],
    ];
    println!("{}", crate::core::text::table(&["MEDIAN OF", "TIME", "RUNS"], &rows));
    println!(
        "A cold build compiles {compiled} crates ({} in the normal dependency tree, xtask included) in {:.1} s (target: under 45 s).",
        crates.len(),
        wall.as_secs_f64()
    );
    Ok(())
}

/// User plus system CPU time so far, from /proc/self/stat.
struct CpuTime {
    /// This process, all threads.
    own: Duration,
    /// Its finished children and their descendants.
    children: Duration,
}

fn cpu_time() -> Result<CpuTime> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // Fields after the parenthesized command name, which may hold spaces: utime is field 14.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).context("parsing /proc/self/stat");
    // USER_HZ is 100 on Linux.
    let time = |a: usize, b: usize| -> Result<Duration> { Ok(Duration::from_millis((ticks(a)? + ticks(b)?) * 10)) };
    Ok(CpuTime { own: time(11, 12)?, children: time(13, 14)? })
}

/// `verify-manifests` and `size` over 50 tags of a two-platform image, against a
/// shell-style loop of one `docker manifest inspect` per tag.
fn verify(ws: &Workspace, runs: usize) -> Result<()> {
    let scratch = ws.target().join("bench/verify");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {scratch}"))?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?.local_addr()?.port();
    let registry = format!("127.0.0.1:{port}");
    let _process = start_registry(&registry, &scratch.join("registry"), None)?;
    let fixture = copy_fixture(ws, &scratch)?;

    let mut common: Vec<String> =
        ["--root", fixture.as_str(), "--registry", &registry, "--branch", "bench", "--sha", "0000000"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for n in 1..=TAGS - 2 {
        common.extend(["--tag".to_string(), format!("t{n}")]);
    }
    eprintln!("Publishing {TAGS} tags of a two-platform image to {registry}…");
    let cache = ws.cache();
    let xtask = |common: &[String], args: &[&str]| xtask(&cache, common, args);
    xtask(&common, &["build"])?;
    let tags: Vec<String> = {
        let plan = xtask(&common, &["--format", "json", "plan"])?;
        let units: serde_json::Value = serde_json::from_str(&plan).context("parsing the plan")?;
        units[0]["tags"]
            .as_array()
            .context("the plan has no tags")?
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect()
    };
    if tags.len() != TAGS {
        bail!("expected {TAGS} tags, the plan has {}", tags.len());
    }

    let ours = median(runs, || xtask(&common, &["verify-manifests"]).map(drop))?;
    let size = median(runs, || xtask(&common, &["size"]).map(drop))?;
    let loop_runs = runs.min(3);
    let shell = median(loop_runs, || {
        for tag in &tags {
            let output = duct::cmd!("docker", "manifest", "inspect", "--insecure", tag)
                .stdin_null()
                .stdout_capture()
                .stderr_capture()
                .unchecked()
                .run()
                .context("running docker manifest inspect")?;
            // What such loops check: the tag exists and mentions arm64.
            if !output.status.success() || !String::from_utf8_lossy(&output.stdout).contains("arm64") {
                bail!("docker manifest inspect {tag} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
            }
        }
        Ok(())
    })?;

    let ratio = shell.as_secs_f64() / ours.as_secs_f64();
    let rows = vec![
        vec!["verify-manifests (native, concurrent)".to_string(), millis(ours), format!("{runs} runs")],
        vec!["size".to_string(), millis(size), format!("{runs} runs")],
        vec!["loop of `docker manifest inspect`".to_string(), millis(shell), format!("{loop_runs} runs")],
    ];
    println!("{}", crate::core::text::table(&[&format!("{TAGS} TAGS, MEDIAN OF"), "TIME", "RUNS"], &rows));
    println!("verify-manifests is {ratio:.1}x faster than the loop (target: 20x), and checks platforms, configs, digests and labels that the loop does not.");
    Ok(())
}

/// The two-platform fixture, copied so the benchmark never writes into the source tree.
fn copy_fixture(ws: &Workspace, scratch: &camino::Utf8Path) -> Result<Utf8PathBuf> {
    let source = ws.root.join("xtask/tests/fixtures/arm-fails");
    let dest = scratch.join("workspace");
    duct::cmd!("cp", "-r", &source, &dest).run().with_context(|| format!("copying {source}"))?;
    Ok(dest)
}

/// Writes a generated workspace's file, creating its directory.
fn write(path: camino::Utf8PathBuf, text: String) -> Result<()> {
    std::fs::create_dir_all(path.parent().context("a generated file has no directory")?)
        .with_context(|| format!("creating the directory of {path}"))?;
    std::fs::write(&path, text).with_context(|| format!("writing {path}"))
}

/// Units of the build benchmarks: a busybox base and seven images on it, 8 × 2 platforms.
const BUILD_UNITS: usize = 8;

/// Writes the build benchmarks' workspace: every RUN step depends on `NONCE`, so a new
/// nonce is a cold cache for those steps without pruning anybody's builder cache.
fn write_build_workspace(dir: &camino::Utf8Path, nonce: &str) -> Result<()> {
    write_units(dir, nonce, BUILD_UNITS, None)
}

/// `units` units: a busybox base and images on it, or, with `external`, as many images all
/// `FROM` that reference (a base of another registry).
fn write_units(dir: &camino::Utf8Path, nonce: &str, units: usize, external: Option<&str>) -> Result<()> {
    write(
        dir.join("Cargo.toml"),
        "[workspace]\n\n[workspace.metadata.images]\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n".into(),
    )?;
    // A little CPU work per step, so running steps side by side has something to overlap.
    let work = "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done";
    if external.is_none() {
        write(
            dir.join("images/base/image.toml"),
            format!("[args]\nNONCE = \"{nonce}\"\n\n[rootfs]\npackages = [\"busybox-static\"]\n"),
        )?;
        write(
            dir.join("images/base/Dockerfile"),
            format!("FROM scratch\nARG TARGETARCH\nARG TARGETVARIANT\nADD rootfs/${{TARGETARCH}}${{TARGETVARIANT}}.tar /\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nARG NONCE\nRUN echo \"$NONCE\" > /nonce && {work}\nUSER 65534:65534\n"),
        )?;
    }
    let from = external.unwrap_or("${BASE_IMAGE}");
    // In-repo, the base is one of the units.
    let apps = if external.is_some() { units } else { units - 1 };
    for n in 1..=apps {
        write(dir.join(format!("images/app{n}/image.toml")), format!("[args]\nNONCE = \"{nonce}\"\n"))?;
        write(
            dir.join(format!("images/app{n}/Dockerfile")),
            format!("ARG BASE_IMAGE\nFROM {from}\nARG NONCE\nUSER 0:0\nRUN echo \"app{n} $NONCE\" > /app && {work}\nUSER 65534:65534\n"),
        )?;
    }
    Ok(())
}

/// A registry and workspace for the build benchmarks, under target/xtask/bench/<name>.
fn build_bench_setup(
    ws: &Workspace,
    name: &str,
) -> Result<(crate::sys::provision::RegistryProcess, Vec<String>, Utf8PathBuf)> {
    let scratch = ws.target().join("bench").join(name);
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {scratch}"))?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?.local_addr()?.port();
    let registry = format!("127.0.0.1:{port}");
    let process = start_registry(&registry, &scratch.join("registry"), None)?;
    let root = scratch.join("workspace");
    let common = ["--root", root.as_str(), "--registry", &registry, "--branch", "bench", "--sha", "0000000"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    Ok((process, common, root))
}

/// A no-op `build` (every unit up to date) against re-running buildx fully cached
/// for the same units (`build --force`).
fn noop(ws: &Workspace, runs: usize) -> Result<()> {
    let (_registry, common, root) = build_bench_setup(ws, "noop")?;
    write_build_workspace(&root, "fixed")?;
    let cache = ws.cache();
    let xtask = |args: &[&str]| xtask(&cache, &common, args);
    eprintln!("Building {BUILD_UNITS} units × 2 platforms once…");
    xtask(&["build"])?;
    let skip = median(runs, || xtask(&["build"]).map(drop))?;
    let cached = median(runs, || xtask(&["build", "--force"]).map(drop))?;
    let rows = vec![
        vec!["no-op `build` (input digests, nothing built)".to_string(), millis(skip)],
        vec!["`build --force` (buildx runs, every step cached)".to_string(), millis(cached)],
    ];
    println!(
        "{}",
        crate::core::text::table(&[&format!("{BUILD_UNITS} UNITS × 2 PLATFORMS, MEDIAN OF {runs}"), "TIME"], &rows)
    );
    println!(
        "The no-op build is {:.1}x faster than cached buildx runs (targets: under 1.5 s, at least 10x).",
        cached.as_secs_f64() / skip.as_secs_f64()
    );
    Ok(())
}

/// A second loopback registry playing the public one, in `scratch`: its process and host.
fn public_registry(scratch: &camino::Utf8Path) -> Result<(crate::sys::provision::RegistryProcess, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?.local_addr()?.port();
    let public = format!("127.0.0.1:{port}");
    Ok((start_registry(&public, &scratch.join("public-registry"), None)?, public))
}

/// Units of the bases benchmark, on each side.
const BASES_UNITS: usize = 20;

/// A no-op `build` of 20 units on an external base (another registry, resolved and pinned
/// every run) against the same number of units on an in-repo parent.
fn bases(ws: &Workspace, runs: usize) -> Result<()> {
    let (_registry, common, root) = build_bench_setup(ws, "bases")?;
    let scratch = root.parent().context("the workspace has a parent")?.to_owned();
    let (_public, public) = public_registry(&scratch)?;
    let cache = ws.cache();
    write_units(&root, "fixed", BASES_UNITS, None)?;
    eprintln!("Building {BASES_UNITS} units on an in-repo base × 2 platforms once…");
    xtask(&cache, &common, &["build"])?;
    // The same base, published to the "public" registry as a release: `base:1` names it.
    let release = ["--root", root.as_str(), "--registry", &public, "--event", "release", "--version", "1.0.0"];
    let release: Vec<String> = release.iter().map(|s| s.to_string()).collect();
    xtask(&cache, &release, &["build", "base"])?;
    let external_root = scratch.join("external");
    write_units(&external_root, "fixed", BASES_UNITS, Some(&format!("{public}/base:1")))?;
    let external: Vec<String> =
        common.iter().map(|a| if *a == root.as_str() { external_root.to_string() } else { a.clone() }).collect();
    eprintln!("Building {BASES_UNITS} units on an external base × 2 platforms once…");
    xtask(&cache, &external, &["build"])?;
    let in_repo = median(runs, || xtask(&cache, &common, &["build"]).map(drop))?;
    let pinned = median(runs, || xtask(&cache, &external, &["build"]).map(drop))?;
    let rows = vec![
        vec!["no-op `build`, units on an in-repo parent".to_string(), millis(in_repo)],
        vec!["no-op `build`, units on an external base (resolved, pinned)".to_string(), millis(pinned)],
    ];
    println!(
        "{}",
        crate::core::text::table(&[&format!("{BASES_UNITS} UNITS × 2 PLATFORMS, MEDIAN OF {runs}"), "TIME"], &rows)
    );
    println!(
        "External bases cost {:.2}x the in-repo no-op (target: at most 1.5x).",
        pinned.as_secs_f64() / in_repo.as_secs_f64()
    );
    Ok(())
}

/// The same units through `docker buildx bake`, from the file `plan --format bake` writes,
/// beside `cargo xtask build`: each cold (fresh RUN steps, on a base of another registry, so
/// no rootfs is needed), then again with nothing changed. Bake pushes the staging tags only;
/// `build` also pins the base, joins and verifies the index and moves the tags.
fn bake(ws: &Workspace, runs: usize) -> Result<()> {
    let (_registry, common, root) = build_bench_setup(ws, "bake")?;
    let scratch = root.parent().context("the workspace has a parent")?.to_owned();
    let (_public, public) = public_registry(&scratch)?;
    let cache = ws.cache();
    let base_root = scratch.join("base");
    write_units(&base_root, "fixed", 1, None)?;
    let release = ["--root", base_root.as_str(), "--registry", &public, "--event", "release", "--version", "1.0.0"];
    let release: Vec<String> = release.iter().map(|s| s.to_string()).collect();
    eprintln!("Publishing the base to a second registry…");
    xtask(&cache, &release, &["build", "base"])?;
    let base = format!("{public}/base:1");
    let (mut rows, mut ratios) = (Vec::new(), Vec::new());
    // buildx 0.13's bake drops a target's `network`, and this engine has no bridge: both
    // sides get the RUN steps' network from the Dockerfile instead.
    let write_bench_units = |nonce: &str| -> Result<()> {
        write_units(&root, nonce, BUILD_UNITS, Some(&base))?;
        for n in 1..=BUILD_UNITS {
            let file = root.join(format!("images/app{n}/Dockerfile"));
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
            std::fs::write(&file, text.replace("\nRUN ", "\nRUN --network=none "))
                .with_context(|| format!("writing {file}"))?;
        }
        Ok(())
    };
    for run in 0..runs {
        let nonce = |side: &str| format!("{}-{run}-{side}", std::process::id());
        write_bench_units(&nonce("xtask"))?;
        let started = Instant::now();
        xtask(&cache, &common, &["build"])?;
        let xtask_cold = started.elapsed();
        let started = Instant::now();
        xtask(&cache, &common, &["build"])?;
        let xtask_noop = started.elapsed();
        write_bench_units(&nonce("bake"))?;
        let file = scratch.join("docker-bake.json");
        std::fs::write(&file, xtask(&cache, &common, &["plan", "--format", "bake"])?)
            .with_context(|| format!("writing {file}"))?;
        let bake = || -> Result<Duration> {
            let started = Instant::now();
            let output = duct::cmd!("docker", "buildx", "bake", "--file", &file, "--push", "--progress", "plain")
                .dir(&root)
                .stdin_null()
                .stdout_null()
                .stderr_capture()
                .unchecked()
                .run()
                .context("running docker buildx bake")?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                bail!("docker buildx bake failed:\n{}", crate::core::text::last_lines(&stderr, 20));
            }
            Ok(started.elapsed())
        };
        let (bake_cold, bake_again) = (bake()?, bake()?);
        ratios.push((
            xtask_cold.as_secs_f64() / bake_cold.as_secs_f64(),
            xtask_noop.as_secs_f64() / bake_again.as_secs_f64(),
        ));
        rows.push(vec![format!("cold, run {}", run + 1), millis(xtask_cold), millis(bake_cold)]);
        rows.push(vec![format!("nothing changed, run {}", run + 1), millis(xtask_noop), millis(bake_again)]);
    }
    println!(
        "{}",
        crate::core::text::table(
            &[&format!("{BUILD_UNITS} UNITS × 2 PLATFORMS"), "CARGO XTASK BUILD", "DOCKER BUILDX BAKE"],
            &rows
        )
    );
    let mean = |pick: fn(&(f64, f64)) -> f64| ratios.iter().map(pick).sum::<f64>() / ratios.len() as f64;
    println!(
        "build takes {:.2}x bake's time cold and {:.2}x with nothing changed (build also pins, joins, verifies and tags).",
        mean(|r| r.0),
        mean(|r| r.1)
    );
    Ok(())
}

/// The cache benchmark's slow step: what a compiler or a package install costs, kept apart
/// from the machine's speed.
const SLOW_STEP: &str = "sleep 8";

/// Writes the cache benchmark's workspace: a busybox base, and a leaf whose slow step is in a
/// build stage (which only a `mode=max` cache keeps), a step before copying from it that says
/// `early`, and a last step that says `line`.
fn write_cache_workspace(dir: &camino::Utf8Path, nonce: &str, early: &str, line: &str) -> Result<()> {
    write(
        dir.join("Cargo.toml"),
        "[workspace]\n\n[workspace.metadata.images]\nplatforms = [\"linux/amd64\"]\n".into(),
    )?;
    write(dir.join("images/base/image.toml"), "[rootfs]\npackages = [\"busybox-static\"]\n".into())?;
    write(
        dir.join("images/base/Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nARG TARGETVARIANT\nADD rootfs/${TARGETARCH}${TARGETVARIANT}.tar /\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nUSER 65534:65534\n".into(),
    )?;
    write(dir.join("images/leaf/image.toml"), format!("[args]\nNONCE = \"{nonce}\"\n"))?;
    write(
        dir.join("images/leaf/Dockerfile"),
        format!("ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}} AS build\nUSER 0:0\nARG NONCE\nRUN mkdir -p /work && echo \"$NONCE\" > /work/nonce && ({SLOW_STEP}) && echo done > /work/out\nFROM ${{BASE_IMAGE}}\nUSER 0:0\nRUN echo \"{early}\" > /early\nCOPY --from=build /work/out /out\nRUN echo \"{line}\" > /leaf\nUSER 65534:65534\n"),
    )?;
    Ok(())
}

/// What a fresh runner pays: a leaf with a slow build stage, built once, then its engine's
/// build cache pruned and its last step changed. Cold (nothing cached) against the inline cache
/// of the staging tag (the classic engine) and the `mode=max` registry cache (the containerd
/// engine). Prunes both engines' build caches.
fn cache(ws: &Workspace, runs: usize) -> Result<()> {
    let cache_dir = ws.cache();
    let mut rows = Vec::new();
    let mut times = BTreeMap::new();
    for (label, engine) in
        [("inline cache (classic engine)", "default"), ("registry cache, mode=max (containerd engine)", "xtask")]
    {
        let (mut cold, mut last, mut early) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for run in 0..runs {
            let (_registry, common, root) = build_bench_setup(ws, &format!("cache-{engine}"))?;
            let mut common = common;
            common.extend(["--engine".to_string(), engine.to_string()]);
            let nonce = format!("{}-{run}-{}", std::process::id(), engine);
            let timed = |early_line: &str, last_line: &str| -> Result<Duration> {
                // A fresh runner each time: the engine's cache is gone, the registry's is not.
                prune(engine)?;
                write_cache_workspace(&root, &nonce, early_line, last_line)?;
                let started = Instant::now();
                xtask(&cache_dir, &common, &["build"])?;
                Ok(started.elapsed())
            };
            cold += timed("early", "first")?;
            last += timed("early", "second")?;
            early += timed("changed", "second")?;
        }
        let runs = runs as u32;
        let (cold, last, early) = (cold / runs, last / runs, early / runs);
        let share = |d: Duration| format!("{:.0} % of cold", 100.0 * d.as_secs_f64() / cold.as_secs_f64());
        rows.push(vec![format!("cold build, {engine} engine"), millis(cold), String::new()]);
        rows.push(vec![format!("last step changed, fresh builder, {label}"), millis(last), share(last)]);
        rows.push(vec![format!("a step before the COPY --from changed, {label}"), millis(early), share(early)]);
        times.insert(engine, (cold, last));
    }
    println!("{}", crate::core::text::table(&[&format!("CACHE, MEAN OF {runs}"), "TIME", "RATIO"], &rows));
    let (cold, warm) = times["xtask"];
    println!(
        "The mode=max registry cache rebuilds in {:.0} % of a cold build (target: at most 15 %).",
        100.0 * warm.as_secs_f64() / cold.as_secs_f64()
    );
    Ok(())
}

/// `docker builder prune -af` on one engine (a docker context).
fn prune(engine: &str) -> Result<()> {
    duct::cmd!("docker", "--context", engine, "builder", "prune", "--all", "--force")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .stdout_null()
        .run()
        .with_context(|| format!("pruning the build cache of the engine {engine}"))?;
    Ok(())
}

/// The same units from a cold cache, one build at a time against the default `--jobs`.
fn parallel(ws: &Workspace, runs: usize) -> Result<()> {
    let (_registry, common, root) = build_bench_setup(ws, "parallel")?;
    let cache = ws.cache();
    let xtask = |args: &[&str]| xtask(&cache, &common, args);
    let mut round = 0;
    let mut cold = |jobs: Option<&str>| -> Result<Duration> {
        median(runs, || {
            round += 1;
            let nonce = format!("{}-{round}", std::process::id());
            write_build_workspace(&root, &nonce)?;
            let mut args = vec!["build"];
            args.extend(jobs.map(|j| ["--jobs", j]).into_iter().flatten());
            xtask(&args).map(drop)
        })
    };
    let serial = cold(Some("1"))?;
    let default = cold(None)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rows = vec![
        vec!["--jobs 1".to_string(), millis(serial)],
        vec![format!("default (--jobs {cpus}, costliest chain first)"), millis(default)],
    ];
    println!(
        "{}",
        crate::core::text::table(&[&format!("COLD BUILD OF {BUILD_UNITS} UNITS × 2 PLATFORMS"), "TIME"], &rows)
    );
    println!("The default is {:.2}x faster than one build at a time.", serial.as_secs_f64() / default.as_secs_f64());
    Ok(())
}

/// Runs this xtask binary with `common` and `args`; returns stdout.
fn xtask(cache: &camino::Utf8Path, common: &[String], args: &[&str]) -> Result<String> {
    let exe = std::env::current_exe().context("finding the xtask binary")?;
    let output = duct::cmd(exe, common.iter().map(String::as_str).chain(args.iter().copied()))
        // The fixture shares this workspace's downloaded packages.
        .env("XTASK_CACHE_DIR", cache)
        .stdin_null()
        .stderr_capture()
        .stdout_capture()
        .unchecked()
        .run()
        .with_context(|| format!("running xtask {}", args.join(" ")))?;
    if !output.status.success() {
        bail!("xtask {} failed:\n{}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn millis(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// The median wall time of `runs` runs of `f`.
fn median(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f()?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}
