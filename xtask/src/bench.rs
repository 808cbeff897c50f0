//! `cargo xtask bench`: speed targets measured against their baselines in the
//! same run, so the ratio means something on any machine. No test asserts a time.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;

use crate::provision::start_registry;
use crate::workspace::Workspace;

/// Tags published for the verify benchmark, as the issue sets it.
const TAGS: usize = 50;

pub fn run(ws: &Workspace, flags: &crate::flags::Bench) -> Result<()> {
    let runs = flags.runs.unwrap_or(5).max(1);
    match flags.benchmark.as_str() {
        "verify" => verify(ws, runs),
        other => bail!("no benchmark {other:?}: the benchmarks are: verify"),
    }
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
    println!("{}", crate::output::table(&[&format!("{TAGS} TAGS, MEDIAN OF"), "TIME", "RUNS"], &rows));
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
