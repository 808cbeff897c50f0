use anyhow::Result;
use xtask::flags::{self, XtaskCmd};

fn main() {
    if let Err(err) = try_main() {
        eprintln!("error: {err:?}");
        std::process::exit(1);
    }
}

fn try_main() -> Result<()> {
    let flags = flags::Xtask::from_env_or_exit();
    match flags.subcommand {
        XtaskCmd::Help(_) => {
            println!("{}", flags::Xtask::HELP);
            Ok(())
        }
        XtaskCmd::Provision(_) => todo!(),
        XtaskCmd::Plan(_) | XtaskCmd::Build(_) | XtaskCmd::Ci(_) => todo!(),
    }
}
