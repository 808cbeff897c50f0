use anyhow::Result;
use xtask::flags::{self, XtaskCmd};
use xtask::workspace::Workspace;

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
        XtaskCmd::Plan(cmd) => xtask::plan::run(&ws, cmd),
        XtaskCmd::Build(cmd) => xtask::build::run(&ws, cmd),
        XtaskCmd::Provision(_) => xtask::provision::provision(&ws.host()),
        XtaskCmd::Ci(_) => xtask::ci::run(&ws),
        // Commands declared for the work in progress; each gets its module as it is written.
        XtaskCmd::Publish(cmd) => xtask::build::publish_command(&ws, cmd),
        XtaskCmd::Rollback(cmd) => xtask::rollback::run(&ws, cmd),
        XtaskCmd::Sbom(cmd) => xtask::sbom::run(&ws, cmd),
        XtaskCmd::Scan(cmd) => xtask::scan::run(&ws, cmd),
        XtaskCmd::VerifyManifests(cmd) => xtask::verify::run(&ws, cmd),
        XtaskCmd::Size(cmd) => xtask::size::run(&ws, cmd),
        XtaskCmd::Bench(cmd) => xtask::bench::run(&ws, cmd),
        XtaskCmd::Report(cmd) => xtask::report::run(&ws, cmd),
        XtaskCmd::Test(cmd) => xtask::image_tests::run(&ws, cmd),
        XtaskCmd::Lint(cmd) => xtask::lint::run(&ws, cmd),
        XtaskCmd::CiWorkflow(cmd) => xtask::ci_workflow::run(&ws, cmd),
        XtaskCmd::New(cmd) => xtask::scaffold::run(&ws, cmd),
        XtaskCmd::Doctor(cmd) => xtask::doctor::run(&ws, cmd),
        XtaskCmd::Docs(cmd) => xtask::schema::docs(&ws, cmd),
        XtaskCmd::Schema(cmd) => xtask::schema::schema(&ws, cmd),
    }
}
