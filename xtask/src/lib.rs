//! The image build system behind `cargo xtask`.
//!
//! The pure core (definitions, tag policy, planning, argv construction) takes
//! data and returns data; processes and HTTP live at the edges (`build`,
//! `provision`, `registry`). Integration tests drive the library and the binary.

pub mod apt;
pub mod build;
pub mod buildx;
pub mod ci;
pub mod definitions;
pub mod diag;
pub mod dockerfile;
pub mod event;
pub mod flags;
pub mod output;
pub mod plan;
pub mod provision;
pub mod registry;
pub mod rootfs;
pub mod tags;
pub mod workspace;
