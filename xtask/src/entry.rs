//! The program as a library call: this repository's `main.rs` and another workspace's xtask
//! (README, "Adopt it in an existing repository") both run [`main`].

use anyhow::Result;

use crate::cli::exit::{Exit, Failure};
use crate::cli::{flags, help, preflight};
use crate::stdio;

/// Runs `cargo xtask` with the process's arguments and exits with its status: everything
/// `main.rs` does, so another workspace's xtask is `fn main() { xtask::entry::main() }`.
pub fn main() {
    // Decided on the raw argv before xflags: help, the version, or a "did you mean". Lossy
    // UTF-8 is enough to decide; xflags still reads the real arguments.
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let result = match preflight::preflight(&args) {
        Ok(Some(request)) => {
            stdio::stdout(format_args!("{}\n", help::render(flags::Xtask::HELP, &request)));
            Ok(())
        }
        Ok(None) => try_main(),
        Err(suggestion) => Err(Failure::new(Exit::Unavailable, suggestion.to_string()).into()),
    };
    // A reader that closed the pipe is not a failure; a full disk under `> file` is.
    if let Err(err) = result.and_then(|()| stdio::finish().map_err(anyhow::Error::msg)) {
        // The whole chain of causes, without a backtrace even when RUST_BACKTRACE is set.
        stdio::stderr(format_args!("{}", crate::cli::output::error_report(&err)));
        std::process::exit(Exit::of(&err).code());
    }
}

fn try_main() -> Result<()> {
    let flags = match flags::Xtask::from_env() {
        Ok(flags) => flags,
        // preflight answers every `--help` first; kept in case the two ever disagree.
        Err(err) if err.is_help() => {
            stdio::stdout(format_args!("{}\n", help::render(flags::Xtask::HELP, &help::HelpRequest::All)));
            return Ok(());
        }
        Err(err) => {
            let hint = "`cargo xtask help` lists the commands and their flags";
            return Err(Failure::new(Exit::Unavailable, format!("{err}\n  hint: {hint}")).into());
        }
    };
    crate::commands::run(&flags)
}
