//! The image build system behind `cargo xtask`.
//!
//! The pure core (definitions, tag policy, planning, argv construction) takes
//! data and returns data; processes and HTTP live at the edges (`build`,
//! `provision`, `registry`). Integration tests drive the library and the binary.

/// An error that ends the process with a specific exit status (e.g. 2 for
/// "registry unreachable"), where 1 would blur two different outcomes.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub mod cli;
pub mod commands;
pub mod core;
pub mod oci;
pub mod ops;
pub mod sys;
