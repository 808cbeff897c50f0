//! `cargo xtask ci-workflow [--check]`: writes the GitHub Actions workflow that `core::workflow`
//! generates from the workspace settings and the plan's dependency levels, or shows how the
//! committed one differs.

use anyhow::{bail, Context, Result};

use crate::core::workflow::{workflow, WORKFLOW_PATH};
use crate::sys::workspace::Workspace;

/// `cargo xtask ci-workflow [--check | --rehearse]`.
pub fn run(ws: &Workspace, flags: &crate::cli::flags::CiWorkflow, event: Option<&str>) -> Result<()> {
    let units = ws.plan(&[])?;
    let levels = crate::core::matrix::levels(&units).into_values().max().map_or(1, |deepest| deepest + 1);
    let text = workflow(&ws.defs.settings, levels);
    let path = ws.root.join(WORKFLOW_PATH);
    if flags.rehearse {
        return rehearse(ws, &path, &text, event);
    }
    if !flags.check {
        let dir = path.parent().context("the workflow path has a parent")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
        std::fs::write(&path, &text).with_context(|| format!("writing {path}"))?;
        println!("wrote {WORKFLOW_PATH}");
        return Ok(());
    }
    let fix = "run `cargo xtask ci-workflow` and commit the result";
    let committed = match std::fs::read_to_string(&path) {
        Ok(committed) => committed,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(crate::cli::exit::Failure::new(
                crate::cli::exit::Exit::Findings,
                format!("{WORKFLOW_PATH} does not exist: {fix}"),
            )
            .into())
        }
        Err(err) => return Err(err).with_context(|| format!("reading {path}")),
    };
    if committed == text {
        println!("{WORKFLOW_PATH}: up to date");
        return Ok(());
    }
    let diff = duct::cmd!("diff", "-u", "--label", WORKFLOW_PATH, "--label", "generated", &path, "-")
        .stdin_bytes(text)
        .stdout_capture()
        .unchecked()
        .run()
        .context("running diff")?;
    let diff = String::from_utf8_lossy(&diff.stdout);
    Err(crate::cli::exit::Failure::new(
        crate::cli::exit::Exit::Findings,
        format!("{WORKFLOW_PATH} is out of date: {fix}\n{diff}"),
    )
    .into())
}

/// Runs the committed workflow here (`ops::rehearse`), once it is known to be the generated one.
fn rehearse(ws: &Workspace, path: &camino::Utf8Path, generated: &str, event: Option<&str>) -> Result<()> {
    let committed = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    if committed != generated {
        bail!("{WORKFLOW_PATH} is not what `cargo xtask ci-workflow` generates: run it, commit, and rehearse again");
    }
    let event = match event.unwrap_or("branch") {
        "branch" => "push",
        "pull-request" => "pull_request",
        "manual" => "workflow_dispatch",
        "schedule" => "schedule",
        other => {
            bail!("--event {other}: rehearse branch, pull-request, manual or schedule (a release needs a pushed tag)")
        }
    };
    let workflow =
        crate::core::workflow::read::parse(&committed).map_err(|why| anyhow::anyhow!("{WORKFLOW_PATH}: {why}"))?;
    let rehearsal = crate::ops::rehearse::Rehearsal {
        root: &ws.root,
        workflow: &workflow,
        event,
        registry: &ws.registry,
        dir: ws.target().join("rehearsal"),
    };
    let report = crate::ops::rehearse::rehearse(&rehearsal)?;
    let rows: Vec<Vec<String>> = report
        .jobs
        .iter()
        .map(|j| {
            let time = crate::core::text::duration(std::time::Duration::from_secs_f64(j.seconds));
            vec![j.job.clone(), j.legs.to_string(), j.result.clone(), time]
        })
        .collect();
    println!("{}", crate::core::text::table(&["JOB", "LEGS", "RESULT", "DURATION"], &rows));
    println!("Run here differently from GitHub:");
    for line in &report.mapped {
        println!("  {line}");
    }
    let failed: Vec<&str> = report.jobs.iter().filter(|j| j.result == "failure").map(|j| j.job.as_str()).collect();
    if !failed.is_empty() {
        bail!("the rehearsal of {WORKFLOW_PATH} failed in {} (logs: target/xtask/rehearsal/logs)", failed.join(", "));
    }
    Ok(())
}
