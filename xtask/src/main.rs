use anyhow::Result;
use xtask::cli::exit::Exit;
use xtask::cli::flags;

fn main() {
    if let Err(err) = try_main() {
        // The whole chain of causes, without a backtrace even when RUST_BACKTRACE is set.
        eprintln!("error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(Exit::of(&err).code());
    }
}

fn try_main() -> Result<()> {
    let flags = flags::Xtask::from_env_or_exit();
    xtask::commands::run(&flags)
}
