//! The image build system behind `cargo xtask`, in layers (see README, "Where things live"):
//! `cli` (flags, output, exit codes) and `commands` (one per verb) on top, `ops` (work shared
//! by several commands), then `core` (pure decisions) and `sys` (processes, HTTP, files), and
//! `oci` (the shared vocabulary) at the bottom. `tests/architecture.rs` enforces the directions.

pub mod cli;
pub mod commands;
pub mod core;
pub mod oci;
pub mod ops;
pub mod sys;
