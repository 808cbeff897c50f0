//! `cargo xtask provision` and the preflight checks `build` runs first.
