//! `cargo xtask ci-workflow [--check]`: writes the GitHub Actions workflow that `core::workflow`
//! generates from the workspace settings and the plan's dependency levels, or shows how the
//! committed one differs.

use anyhow::{Context, Result};

use crate::core::workflow::{workflow, WORKFLOW_PATH};
use crate::sys::workspace::Workspace;

/// `cargo xtask ci-workflow [--check]`.
pub fn run(ws: &Workspace, flags: &crate::cli::flags::CiWorkflow) -> Result<()> {
    let units = ws.plan(&[])?;
    let levels = crate::core::matrix::levels(&units).into_values().max().map_or(1, |deepest| deepest + 1);
    let text = workflow(&ws.defs.settings, levels);
    let path = ws.root.join(WORKFLOW_PATH);
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
