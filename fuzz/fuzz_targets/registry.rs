//! What a registry sends, through the registry client's parsers: the first byte picks a
//! manifest or index (`Content-Type`, newline, body), an image config, a `WWW-Authenticate`
//! value, a `Link` header, a token reply or a tag-list page.
#![no_main]

#[path = "../../xtask/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::registry(data));
