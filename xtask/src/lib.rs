//! The image build system behind `cargo xtask`.
//!
//! The pure core (definitions, tag policy, planning, argv construction) takes
//! data and returns data; processes and HTTP live at the edges (`build`,
//! `provision`, `registry`). Integration tests drive the library and the binary.

pub mod flags;
pub mod provision;
