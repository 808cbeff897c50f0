//! What `cargo xtask ci` holds the test suite itself to: no switch that hollows tests out may
//! be set, and every test the sources declare must have run. Pure: `commands::ci` reads the
//! environment, the sources and cargo's output, and hands them in.

use std::ffi::OsStr;

/// `XTASK_FUZZ_CASES` sets how many generated cases each fuzz test runs (default 2000).
pub const FUZZ_CASES_ENV: &str = "XTASK_FUZZ_CASES";
/// `XTASK_BLESS` makes `tests/bad_input.rs` overwrite every expected error before comparing.
pub const BLESS_ENV: &str = "XTASK_BLESS";

/// One sentence per switch in the environment that would let tests pass without testing:
/// `XTASK_BLESS` set to anything (even empty: the test only asks whether it is set), and
/// `XTASK_FUZZ_CASES` set to anything but a positive number of cases.
pub fn hollowing_switches(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(value) = var(FUZZ_CASES_ENV) {
        let cases = value.to_str().and_then(|v| v.trim().parse::<u64>().ok());
        if cases.is_none_or(|n| n == 0) {
            found.push(format!(
                "{FUZZ_CASES_ENV}={} would run {} fuzz cases: unset it (2000 per parser) or give a positive number",
                shown(&value),
                if cases == Some(0) { "no" } else { "an unknown number of" },
            ));
        }
    }
    if let Some(value) = var(BLESS_ENV) {
        found.push(format!(
            "{BLESS_ENV}={} rewrites every expected error of tests/bad_input.rs before comparing, so none can \
             fail: unset it (bless with `XTASK_BLESS=1 cargo test -p xtask-images --test bad_input`, then review the diff)",
            shown(&value)
        ));
    }
    found
}

fn shown(value: &OsStr) -> String {
    crate::core::text::sanitize(&value.to_string_lossy())
}

/// The tests that Rust sources declare: lines that are exactly `#[test]` (so the attribute
/// quoted in a string or a comment does not count).
pub fn declared_tests(source: &str) -> usize {
    source.lines().filter(|line| line.trim() == "#[test]").count()
}

/// Tests that ran, summed over every `test result:` line of `cargo test` output.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    pub passed: usize,
    pub failed: usize,
    pub ignored: usize,
    pub filtered: usize,
    /// `test result:` lines, one per test binary (and doc-test run).
    pub binaries: usize,
}

/// Sums `test result: ok. 7 passed; 0 failed; 1 ignored; 0 measured; 2 filtered out; …`.
pub fn ran_tests(output: &str) -> Ran {
    let mut ran = Ran::default();
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else { continue };
        let Some((_, counts)) = rest.split_once(". ") else { continue };
        ran.binaries += 1;
        for part in counts.split(';') {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next().and_then(|n| n.parse::<usize>().ok()), words.next()) else {
                continue;
            };
            match what {
                "passed" => ran.passed += n,
                "failed" => ran.failed += n,
                "ignored" => ran.ignored += n,
                "filtered" => ran.filtered += n,
                _ => {}
            }
        }
    }
    ran
}

/// Why the run did not test what the sources declare, if it did not: fewer tests passed than
/// `declared`, or some were ignored or filtered out.
pub fn shortfall(ran: &Ran, declared: usize) -> Option<String> {
    if ran.ignored > 0 || ran.filtered > 0 {
        return Some(format!(
            "{} test(s) were ignored and {} filtered out; `cargo xtask ci` runs every test",
            ran.ignored, ran.filtered
        ));
    }
    (ran.passed < declared).then(|| {
        format!(
            "{} test(s) passed in {} test binaries, but the sources under xtask/ declare {declared} `#[test]`s: \
             a test binary did not run or stopped early",
            ran.passed, ran.binaries
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::ffi::OsString;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: BTreeMap<String, OsString> = pairs.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn switches_that_hollow_tests_out_are_named() {
        assert_eq!(hollowing_switches(env(&[])), Vec::<String>::new());
        assert_eq!(hollowing_switches(env(&[("XTASK_FUZZ_CASES", "50000"), ("XTASK_FUZZ_SEED", "7")])), [""; 0]);
        let zero = hollowing_switches(env(&[("XTASK_FUZZ_CASES", "0")]));
        assert_eq!(
            zero,
            ["XTASK_FUZZ_CASES=0 would run no fuzz cases: unset it (2000 per parser) or give a positive number"]
        );
        for junk in ["", "lots", "-1", "0x10"] {
            let found = hollowing_switches(env(&[("XTASK_FUZZ_CASES", junk)]));
            assert!(found.len() == 1 && found[0].starts_with("XTASK_FUZZ_CASES="), "{junk:?}: {found:?}");
        }
        for bless in ["1", "", "0"] {
            let found = hollowing_switches(env(&[("XTASK_BLESS", bless)]));
            assert_eq!(found.len(), 1, "{bless:?}");
            assert!(found[0].starts_with(&format!("XTASK_BLESS={bless} rewrites every expected error")), "{found:?}");
        }
        assert_eq!(hollowing_switches(env(&[("XTASK_BLESS", "1"), ("XTASK_FUZZ_CASES", "0")])).len(), 2);
        // A hostile value is escaped, not printed raw.
        let shown = hollowing_switches(env(&[("XTASK_BLESS", "\u{1b}[2J\n::error::x")]));
        assert!(!shown[0].contains('\u{1b}') && !shown[0].contains('\n'), "{shown:?}");
    }

    #[test]
    fn declared_tests_are_attribute_lines() {
        let source =
            "#[test]\nfn a() {}\n    #[test]\n    fn b() {}\n// #[test]\nlet s = \"#[test]\";\n#[tokio::test]\n";
        assert_eq!(declared_tests(source), 2);
    }

    #[test]
    fn cargo_test_results_are_summed() {
        let output = "\
running 7 tests
test a ... ok
test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.18s

     Running tests/cli.rs
test result: FAILED. 3 passed; 1 failed; 2 ignored; 0 measured; 5 filtered out; finished in 1.00s
   Doc-tests xtask
test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";
        let ran = ran_tests(output);
        assert_eq!(ran, Ran { passed: 10, failed: 1, ignored: 2, filtered: 5, binaries: 3 });
        assert!(shortfall(&ran, 10).unwrap().starts_with("2 test(s) were ignored and 5 filtered out"));
        let clean = Ran { passed: 12, binaries: 3, ..Ran::default() };
        assert_eq!(shortfall(&clean, 12), None);
        assert_eq!(shortfall(&clean, 11), None, "doc tests may add to the count");
        assert_eq!(
            shortfall(&clean, 13).unwrap(),
            "12 test(s) passed in 3 test binaries, but the sources under xtask/ declare 13 `#[test]`s: a test \
             binary did not run or stopped early"
        );
        assert_eq!(ran_tests("no results here\ntest result: garbage\n"), Ran::default());
    }
}
