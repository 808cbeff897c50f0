//! image.toml (and Cargo.toml settings) text: no panic, located errors with hints, and
//! accepted definitions that plan into references docker reads as meant.
#![no_main]

#[path = "../../xtask/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::image_toml(data));
