//! The image build system behind `cargo xtask`, in layers (see README, "Where things live"):
//! `cli` (flags, output, exit codes) and `commands` (one per verb) on top, `ops` (work shared
//! by several commands), then `core` (pure decisions) and `sys` (processes, HTTP, files), and
//! `oci` (the shared vocabulary) at the bottom. `tests/architecture.rs` enforces the directions.

// Every `println!`, `print!`, `eprintln!` and `eprint!` in this crate goes through
// `crate::stdio`, so a reader that closes the pipe (`| head`) silences the output instead of
// panicking. A `macro_rules!` is in scope for the code after it and shadows std's macros.
#[allow(unused_macros)]
macro_rules! println {
    () => { $crate::stdio::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::stdio::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}
#[allow(unused_macros)]
macro_rules! print {
    ($($arg:tt)*) => { $crate::stdio::stdout(format_args!($($arg)*)) };
}
#[allow(unused_macros)]
macro_rules! eprintln {
    () => { $crate::stdio::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::stdio::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}
#[allow(unused_macros)]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::stdio::stderr(format_args!($($arg)*)) };
}

pub mod cli;
pub mod commands;
pub mod core;
pub mod entry;
pub mod oci;
pub mod ops;
pub mod stdio;
pub mod sys;
