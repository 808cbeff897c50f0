//! The image build system behind `cargo xtask`.
//!
//! The pure core (definitions, tag policy, planning, argv construction) takes
//! data and returns data; processes and HTTP live at the edges (`build`,
//! `provision`, `registry`). Integration tests drive the library and the binary.

pub mod apt;
pub mod bench;
pub mod build;
pub mod buildx;
pub mod ci;
pub mod ci_workflow;
pub mod definitions;
pub mod diag;
pub mod dockerfile;
pub mod doctor;
pub mod event;
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

pub mod flags;
pub mod image_tests;
pub mod inputs;
pub mod lint;
pub mod matrix;
pub mod metrics;
pub mod output;
pub mod plan;
pub mod provision;
pub mod publish;
pub mod reference;
pub mod registry;
pub mod report;
pub mod rollback;
pub mod rootfs;
pub mod sbom;
pub mod scaffold;
pub mod scan;
pub mod schedule;
pub mod schema;
pub mod size;
pub mod spdx;
pub mod tags;
pub mod verify;
pub mod workspace;
