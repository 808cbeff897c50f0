//! One thin file per verb: read the flags, call `ops`, `core` and `sys`, print. No command
//! imports another; `run` dispatches.

pub mod analytics;
pub mod bench;
pub mod build;
pub mod ci;
pub mod ci_workflow;
pub mod docs;
pub mod doctor;
pub mod lint;
pub mod new;
pub mod outdated;
pub mod plan;
pub mod publish;
pub mod report;
pub mod rollback;
pub mod sbom;
pub mod scan;
pub mod schema;
pub mod size;
pub mod test;
pub mod verify_manifests;

use anyhow::Result;

use crate::cli::flags::{Xtask, XtaskCmd};
use crate::cli::format::{self};
use crate::sys::workspace::{self, Options, Workspace};

/// Runs the command `flags` names. Commands that need no image definitions run before any
/// is read, so a broken image.toml cannot stop them; git runs only for commands that plan.
pub fn run(flags: &Xtask) -> Result<()> {
    let format = format::parse(flags.format.as_deref())?;
    // Commands that only talk to the registry get a deadline by default; those that also build,
    // scan or test for as long as that takes get one only when asked.
    let registry_only = matches!(
        flags.subcommand,
        XtaskCmd::Publish(_)
            | XtaskCmd::Rollback(_)
            | XtaskCmd::VerifyManifests(_)
            | XtaskCmd::Outdated(_)
            | XtaskCmd::Size(_)
            | XtaskCmd::Doctor(_)
    );
    let timeout = match &flags.timeout {
        Some(timeout) => Some(
            crate::core::definitions::parse_duration(timeout)
                .map_err(|why| anyhow::anyhow!("--timeout {timeout:?}: {why} (e.g. 90s, 10m, 1h)"))?,
        ),
        None => registry_only.then_some(crate::sys::registry::DEFAULT_TIMEOUT),
    };
    if let Some(timeout) = timeout {
        crate::sys::registry::set_deadline(std::time::Instant::now() + timeout);
    }
    let options = Options {
        root: flags.root.clone(),
        registry: flags.registry.clone(),
        event: crate::core::event::EventFlags {
            event: flags.event.clone(),
            version: flags.version.clone(),
            branch: flags.branch.clone(),
            sha: flags.sha.clone(),
            pr: flags.pr,
            tags: flags.tag.clone(),
        },
    };
    match &flags.subcommand {
        XtaskCmd::Help(_) => {
            println!("{}", Xtask::HELP);
            return Ok(());
        }
        XtaskCmd::Docs(cmd) => {
            format.require("docs")?;
            return docs::run(&workspace::root(options.root.as_deref())?, cmd);
        }
        XtaskCmd::Schema(cmd) => {
            format.require("schema")?;
            return schema::run(&workspace::root(options.root.as_deref())?, cmd);
        }
        XtaskCmd::Install(cmd) => {
            format.require("install")?;
            return crate::sys::files::install_self(&cmd.dir);
        }
        XtaskCmd::Provision(_) => {
            format.require("provision")?;
            let (ws, broken) = Workspace::load_lenient(&options)?;
            if let Some(err) = broken {
                eprintln!("warning: provisioning for the default platforms, as the images cannot be read: {err:#}");
            }
            return crate::sys::provision::provision(&ws.host());
        }
        XtaskCmd::Doctor(cmd) => {
            let (ws, broken) = Workspace::load_lenient(&options)?;
            crate::sys::engine::select(flags.engine.as_deref(), &ws.defs.settings.engine)?;
            return doctor::run(&ws, broken, format, cmd);
        }
        _ => {}
    }
    let ws = Workspace::load(&options)?;
    // `ci` only runs other commands, each of which chooses for itself: a choice made here would
    // reach every test through the environment.
    if !matches!(flags.subcommand, XtaskCmd::Ci(_)) {
        crate::sys::engine::select(flags.engine.as_deref(), &ws.defs.settings.engine)?;
    }
    // What writes the workspace's records runs one at a time (`sys::lock`).
    let writes = match &flags.subcommand {
        XtaskCmd::Build(_) => Some("build"),
        XtaskCmd::Publish(_) => Some("publish"),
        XtaskCmd::Rollback(cmd) if !cmd.dry_run => Some("rollback"),
        XtaskCmd::Sbom(_) => Some("sbom"),
        _ => None,
    };
    let _lock = writes.map(|command| crate::sys::lock::acquire(&ws.target(), command)).transpose()?;
    match &flags.subcommand {
        XtaskCmd::Help(_)
        | XtaskCmd::Docs(_)
        | XtaskCmd::Schema(_)
        | XtaskCmd::Provision(_)
        | XtaskCmd::Install(_)
        | XtaskCmd::Doctor(_) => unreachable!("handled above"),
        XtaskCmd::Plan(cmd) => plan::run(&ws, format, cmd),
        XtaskCmd::Build(cmd) => build::run(&ws, format, cmd),
        XtaskCmd::Ci(_) => format.require("ci").and_then(|_| ci::run(&ws)),
        XtaskCmd::Analytics(cmd) => analytics::run(&ws, format, cmd),
        XtaskCmd::CiWorkflow(cmd) => {
            format.require("ci-workflow").and_then(|_| ci_workflow::run(&ws, cmd, flags.event.as_deref()))
        }
        XtaskCmd::Publish(cmd) => format.require("publish").and_then(|_| publish::run(&ws, cmd)),
        XtaskCmd::Rollback(cmd) => format.require("rollback").and_then(|_| rollback::run(&ws, cmd)),
        XtaskCmd::Sbom(cmd) => sbom::run(&ws, format, cmd),
        XtaskCmd::Scan(cmd) => scan::run(&ws, format, cmd),
        XtaskCmd::VerifyManifests(cmd) => verify_manifests::run(&ws, format, cmd),
        XtaskCmd::Outdated(cmd) => outdated::run(&ws, format, cmd),
        XtaskCmd::Size(cmd) => size::run(&ws, format, cmd),
        XtaskCmd::Bench(cmd) => format.require("bench").and_then(|_| bench::run(&ws, cmd)),
        XtaskCmd::Report(cmd) => report::run(&ws, format, cmd),
        XtaskCmd::Test(cmd) => test::run(&ws, format, cmd),
        XtaskCmd::Lint(cmd) => lint::run(&ws, format, cmd),
        XtaskCmd::New(cmd) => format.require("new").and_then(|_| new::run(&ws, cmd)),
    }
}

/// A client for the workspace's registry, once it answered: exit 2, not 1, when it does not,
/// so that scripts can tell an outage from a finding.
fn reachable_registry(ws: &Workspace) -> Result<crate::sys::registry::Registry> {
    let client = crate::sys::registry::Registry::new(&ws.registry)?;
    if let Err(err) = client.ping() {
        let message = format!("registry {} cannot be reached: {err:#}", ws.registry);
        return Err(crate::cli::exit::Failure::new(crate::cli::exit::Exit::Unavailable, message).into());
    }
    Ok(client)
}

/// A tool a command runs (syft, trivy) is not installed: exit 2, like an unreachable registry.
fn missing_tool(message: &str) -> anyhow::Error {
    crate::cli::exit::Failure::new(crate::cli::exit::Exit::Unavailable, message).into()
}
