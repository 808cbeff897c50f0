use anyhow::Result;
use xtask::cli::flags::{self, XtaskCmd};
use xtask::sys::workspace::Workspace;

fn main() {
    if let Err(err) = try_main() {
        // The whole chain of causes, without a backtrace even when RUST_BACKTRACE is set.
        eprintln!("error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(err.downcast_ref::<xtask::Exit>().map_or(1, |exit| exit.code));
    }
}

fn try_main() -> Result<()> {
    let flags = flags::Xtask::from_env_or_exit();
    if let XtaskCmd::Help(_) = flags.subcommand {
        println!("{}", flags::Xtask::HELP);
        return Ok(());
    }
    let ws = Workspace::load(&flags)?;
    match &flags.subcommand {
        XtaskCmd::Help(_) => Ok(()),
        XtaskCmd::Plan(cmd) => xtask::core::plan::run(&ws, cmd),
        XtaskCmd::Build(cmd) => xtask::ops::build::run(&ws, cmd),
        XtaskCmd::Provision(_) => xtask::sys::provision::provision(&ws.host()),
        XtaskCmd::Ci(_) => xtask::commands::ci::run(&ws),
        // Commands declared for the work in progress; each gets its module as it is written.
        XtaskCmd::Publish(cmd) => xtask::ops::build::publish_command(&ws, cmd),
        XtaskCmd::Rollback(cmd) => xtask::commands::rollback::run(&ws, cmd),
        XtaskCmd::Sbom(cmd) => xtask::commands::sbom::run(&ws, cmd),
        XtaskCmd::Scan(cmd) => xtask::commands::scan::run(&ws, cmd),
        XtaskCmd::VerifyManifests(cmd) => xtask::commands::verify_manifests::run(&ws, cmd),
        XtaskCmd::Size(cmd) => xtask::commands::size::run(&ws, cmd),
        XtaskCmd::Bench(cmd) => xtask::commands::bench::run(&ws, cmd),
        XtaskCmd::Report(cmd) => xtask::commands::report::run(&ws, cmd),
        XtaskCmd::Test(cmd) => xtask::commands::test::run(&ws, cmd),
        XtaskCmd::Lint(cmd) => xtask::core::lint::run(&ws, cmd),
        XtaskCmd::CiWorkflow(cmd) => xtask::core::workflow::run(&ws, cmd),
        XtaskCmd::New(cmd) => xtask::commands::new::run(&ws, cmd),
        XtaskCmd::Doctor(cmd) => xtask::commands::doctor::run(&ws, cmd),
        XtaskCmd::Docs(cmd) => xtask::core::schema::docs(&ws, cmd),
        XtaskCmd::Schema(cmd) => xtask::core::schema::schema(&ws, cmd),
    }
}
