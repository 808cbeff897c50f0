//! Dockerfile text (and a .dockerignore after `\0\0`) through the parser and every lint rule.
#![no_main]

#[path = "../../xtask/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::dockerfile(data));
