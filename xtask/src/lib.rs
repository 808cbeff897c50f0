//! The image build system behind `cargo xtask`.
//!
//! The pure core (definitions, tag policy, planning, argv construction) takes
//! data and returns data; processes and HTTP live at the edges (`build`,
//! `provision`, `registry`). Integration tests drive the library and the binary.

pub mod flags;
pub mod provision;
pub mod apt;
pub mod definitions;
pub mod diag;
pub mod event;
pub mod tags;
pub mod dockerfile;
pub mod plan;
pub mod buildx;
pub mod build;
pub mod output;
pub mod rootfs;
pub mod workspace;
pub mod ci;
pub mod registry;
