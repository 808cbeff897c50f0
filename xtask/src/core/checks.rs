//! The judgements of `cargo xtask test`: which declared tests apply to a unit and platform,
//! and whether what a container did meets what image.toml expects. Pure: `commands::test`
//! runs the containers and hands the facts in.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::core::definitions::*;
use crate::core::plan::Unit;
use crate::core::text::last_lines;
use crate::oci::platform::Platform;

/// The tests that apply to `unit` on `platform`.
pub fn applicable<'a>(tests: &'a [TestDef], unit: &Unit, platform: &str) -> Vec<&'a TestDef> {
    tests
        .iter()
        .filter(|t| t.variants.is_empty() || unit.variant.as_ref().is_some_and(|v| t.variants.contains(v)))
        .filter(|t| t.platforms.is_empty() || t.platforms.iter().any(|p| p == platform))
        .collect()
}

/// The `docker run` flags of a test's run options, their placeholders filled.
pub fn run_flags(run: &crate::core::definitions::RunOptions, values: &Values) -> Vec<String> {
    let mut argv = Vec::new();
    for (key, value) in &run.env {
        argv.extend(["--env".to_string(), format!("{key}={}", values.fill(value))]);
    }
    if let Some(user) = &run.user {
        argv.extend(["--user".to_string(), user.clone()]);
    }
    for mount in &run.tmpfs {
        argv.extend(["--tmpfs".to_string(), mount.clone()]);
    }
    if let Some(size) = &run.shm_size {
        argv.extend(["--shm-size".to_string(), size.clone()]);
    }
    if run.read_only {
        argv.push("--read-only".to_string());
    }
    argv
}

/// The values of `{ARG}` placeholders on one unit and platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Values(BTreeMap<String, String>);

impl Values {
    /// The unit's build args plus buildx's automatic platform args.
    pub fn new(unit_args: &BTreeMap<String, String>, platform: &str) -> Values {
        let parsed = Platform::parse(platform);
        let variant = parsed.variant.as_deref().unwrap_or_default();
        let mut values = unit_args.clone();
        for (key, value) in [
            ("TARGETPLATFORM", platform),
            ("TARGETOS", &parsed.os),
            ("TARGETARCH", &parsed.architecture),
            ("TARGETVARIANT", variant),
        ] {
            values.insert(key.to_string(), value.to_string());
        }
        Values(values)
    }

    /// `text` with its placeholders filled. Names the definitions did not accept cannot occur;
    /// they would stay as written.
    pub fn fill(&self, text: &str) -> String {
        substitute(text, |name| Some(self.0.get(name).cloned().unwrap_or_else(|| format!("{{{name}}}"))))
            .unwrap_or_else(|_| text.to_string())
    }

    /// A regex with its placeholders filled by values that match literally.
    pub fn fill_regex(&self, text: &str) -> String {
        substitute(text, |name| Some(self.0.get(name).map_or_else(|| format!("{{{name}}}"), |v| regex_lite::escape(v))))
            .unwrap_or_else(|_| text.to_string())
    }

    pub fn fill_all(&self, texts: &[String]) -> Vec<String> {
        texts.iter().map(|t| self.fill(t)).collect()
    }
}

/// A finished process: the container's command, a probe, or a docker step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The ways `ran` misses `expect`; empty when it meets it. Stdout is compared without its final newline.
pub fn judge(expect: &Expect, values: &Values, ran: &Ran) -> Vec<String> {
    let stdout = ran.stdout.trim_end_matches(['\n', '\r']);
    let mut misses = Vec::new();
    if ran.exit_code != expect.exit_code {
        misses.push(format!("exit code {}, expected {}", ran.exit_code, expect.exit_code));
    }
    if let Some(want) = &expect.stdout {
        let want = values.fill(want);
        if !stdout.contains(&want) {
            misses.push(format!("stdout does not contain {want:?}"));
        }
    }
    if let Some(pattern) = &expect.stdout_regex {
        let pattern = values.fill_regex(pattern);
        match regex_lite::Regex::new(&pattern) {
            Ok(re) if re.is_match(stdout) => {}
            Ok(_) => misses.push(format!("stdout does not match /{pattern}/")),
            Err(err) => misses.push(format!("invalid regex /{pattern}/: {err}")),
        }
    }
    misses
}

/// `expected:` and `actual:` lines for a failed command, with the last lines of its output.
pub fn expected_vs_actual(expect: &Expect, values: &Values, ran: &Ran) -> String {
    let mut want = vec![format!("exit code {}", expect.exit_code)];
    if let Some(s) = &expect.stdout {
        want.push(format!("stdout containing {:?}", values.fill(s)));
    }
    if let Some(r) = &expect.stdout_regex {
        want.push(format!("stdout matching /{}/", values.fill_regex(r)));
    }
    format!(
        "expected: {}\nactual:   exit code {}\n{}\n{}",
        want.join(", "),
        ran.exit_code,
        tail("stdout", &ran.stdout),
        tail("stderr", &ran.stderr)
    )
}

/// The last lines of some output under a heading, or that it was empty.
pub fn tail(name: &str, text: &str) -> String {
    if text.trim().is_empty() {
        format!("{name}: (empty)")
    } else {
        format!("{name} (last {TAIL} lines):\n{}", indent(&last_lines(text, TAIL), "  | "))
    }
}

/// The ways an image config (its `config` object) misses `check`.
pub fn check_metadata(check: &MetadataCheck, values: &Values, config: &Value) -> Vec<String> {
    let mut misses = Vec::new();
    let user = config["User"].as_str().unwrap_or_default();
    if !check.allow_root && is_root_user(user) {
        let shown = if user.is_empty() { "unset, so root".to_string() } else { format!("{user:?}") };
        misses.push(format!(
            "the image runs as root (User is {shown}); expected a non-root user, or `allow_root = true`"
        ));
    }
    if let Some(want) = check.user.as_deref().filter(|u| *u != "nonroot") {
        let same = if want.contains(':') { user == want } else { user.split(':').next() == Some(want) };
        if !same {
            misses.push(format!("User is {user:?}, expected {want:?}"));
        }
    }
    if let Some(want) = check.healthcheck {
        let has = has_healthcheck(config);
        if want != has {
            misses.push(
                if want { "the image has no HEALTHCHECK" } else { "the image has a HEALTHCHECK, expected none" }.into(),
            );
        }
    }
    let env_list = strings(&config["Env"]);
    let env: BTreeMap<&str, &str> = env_list.iter().filter_map(|e| e.split_once('=')).collect();
    for (key, want) in &check.env {
        let want = values.fill(want);
        match env.get(key.as_str()) {
            None => misses.push(format!("Env has no {key}, expected {key}={want}")),
            Some(have) if *have != want => misses.push(format!("Env has {key}={have}, expected {key}={want}")),
            Some(_) => {}
        }
    }
    if let Some(want) = &check.exposed_ports {
        let mut have: Vec<&str> =
            config["ExposedPorts"].as_object().map_or(vec![], |m| m.keys().map(String::as_str).collect());
        have.sort_unstable();
        let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
        want.sort_unstable();
        if have != want {
            misses.push(format!("ExposedPorts are {have:?}, expected {want:?}"));
        }
    }
    if let Some(want) = &check.entrypoint {
        let have = strings(&config["Entrypoint"]);
        let want = values.fill_all(want);
        if have != want {
            misses.push(format!("Entrypoint is {have:?}, expected {want:?}"));
        }
    }
    misses
}

/// Whether a config has a HEALTHCHECK that is not `HEALTHCHECK NONE`.
pub fn has_healthcheck(config: &Value) -> bool {
    config["Healthcheck"]["Test"].as_array().is_some_and(|t| !t.is_empty() && t[0] != "NONE")
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map_or(vec![], |a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
}

/// What the archive entry of a path says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Permission bits only.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Why the file at `path` (placeholders filled) misses `check`, if it does.
pub fn check_file(check: &FileCheck, path: &str, found: Option<FileStat>) -> Option<String> {
    let Some(stat) = found else {
        return check.exists.then(|| format!("{path} does not exist"));
    };
    if !check.exists {
        return Some(format!("{path} exists, expected it not to"));
    }
    let mut misses = Vec::new();
    if let Some(mode) = check.mode.filter(|m| *m != stat.mode) {
        misses.push(format!("{path} has mode {:04o}, expected {mode:04o}", stat.mode));
    }
    if let Some((uid, gid)) = check.owner.filter(|o| *o != (stat.uid, stat.gid)) {
        misses.push(format!("{path} is owned by {}:{}, expected {uid}:{gid}", stat.uid, stat.gid));
    }
    (!misses.is_empty()).then(|| misses.join("; "))
}

/// The first real entry of a tar stream (as `docker cp` writes it), after any PAX or GNU
/// extension headers, whose uid and gid override the header's.
pub fn first_tar_entry(mut data: &[u8]) -> Result<FileStat, String> {
    let mut pax: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let header = data.get(..512).ok_or("the archive ends before its first entry")?;
        if header.iter().all(|b| *b == 0) {
            return Err("the archive is empty".to_string());
        }
        let size = usize::try_from(tar_number(&header[124..136])?).map_err(|_| "a tar entry is too large")?;
        match header[156] {
            b'x' | b'g' | b'L' | b'K' => {
                let body = data.get(512..512 + size).ok_or("the archive ends inside an extension header")?;
                if header[156] == b'x' {
                    pax.extend(pax_records(body));
                }
                data =
                    data.get(512 + size.div_ceil(512) * 512..).ok_or("the archive ends after an extension header")?;
            }
            _ => {
                let id = |key: &str, field: &[u8]| -> Result<u32, String> {
                    let value = match pax.get(key) {
                        Some(v) => v.parse().map_err(|_| format!("bad PAX {key} {v:?}"))?,
                        None => tar_number(field)?,
                    };
                    u32::try_from(value).map_err(|_| format!("{key} {value} is out of range"))
                };
                let mode = u32::try_from(tar_number(&header[100..108])? & 0o7777).expect("masked to 12 bits");
                return Ok(FileStat { mode, uid: id("uid", &header[108..116])?, gid: id("gid", &header[116..124])? });
            }
        }
    }
}

/// A numeric tar header field: octal text, or base-256 when the top bit is set.
fn tar_number(field: &[u8]) -> Result<u64, String> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return Ok(field
            .iter()
            .enumerate()
            .fold(0u64, |n, (i, b)| (n << 8) | u64::from(if i == 0 { b & 0x7f } else { *b })));
    }
    let text = std::str::from_utf8(field).map_err(|_| "a tar header field is not text".to_string())?;
    let text = text.trim_matches(|c| c == '\0' || c == ' ');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| format!("bad number {text:?} in a tar header"))
}

/// `LEN key=value\n` records.
fn pax_records(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|line| {
            let (_, record) = line.split_once(' ')?;
            let (key, value) = record.split_once('=')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

/// Where a starting service stands, from `docker inspect`'s `.State` and its output so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Pending,
    Failed(String),
}

pub fn readiness(wait: &Wait, state: &Value, logs: &str, elapsed: Duration) -> Readiness {
    if state["Running"] == false && state["Status"] != "created" {
        return Readiness::Failed(format!(
            "the service stopped ({}, exit code {}) before it was ready",
            state["Status"].as_str().unwrap_or("?"),
            state["ExitCode"]
        ));
    }
    match wait {
        Wait::Healthy => match state["Health"]["Status"].as_str() {
            Some("healthy") => Readiness::Ready,
            Some("unhealthy") => {
                let last = state["Health"]["Log"].as_array().and_then(|l| l.last()).map(|l| &l["Output"]);
                let output = last.and_then(Value::as_str).unwrap_or_default().trim();
                Readiness::Failed(format!("its HEALTHCHECK reports unhealthy: {output:?}"))
            }
            _ => Readiness::Pending,
        },
        Wait::Log(text) if logs.contains(text.as_str()) => Readiness::Ready,
        Wait::Delay(delay) if elapsed >= *delay => Readiness::Ready,
        Wait::Log(_) | Wait::Delay(_) => Readiness::Pending,
    }
}

/// The words of a command line as a POSIX shell reads them back.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}")).collect::<Vec<_>>().join("\n")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    /// The image does not do what the test expects.
    Failed,
    /// The test could not run: the image is not published, docker failed.
    Error,
    /// Not run: the run was interrupted.
    Skipped,
}

/// One test on one unit and platform.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub unit: String,
    pub platform: String,
    pub test: String,
    pub status: Status,
    pub seconds: f64,
    /// What ran: `repo@sha256:...`, or the local tag with `--local`.
    pub image: Option<String>,
    /// One line: what went wrong.
    pub message: Option<String>,
    /// Expected against actual, with the output's last lines.
    pub details: Option<String>,
    /// The same step by hand.
    pub reproduce: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub tests: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
}

pub fn counts<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Counts {
    let mut c = Counts::default();
    for r in results {
        c.tests += 1;
        match r.status {
            Status::Passed => c.passed += 1,
            Status::Failed => c.failed += 1,
            Status::Error => c.errors += 1,
            Status::Skipped => c.skipped += 1,
        }
    }
    c
}

/// A failed or errored case as people read it on the terminal.
pub fn failure_text(r: &CaseResult) -> String {
    let label = if r.status == Status::Error { "ERROR" } else { "FAILED" };
    let mut out = format!("{label} {} {} {:?}: {}", r.unit, r.platform, r.test, r.message.as_deref().unwrap_or("?"));
    if let Some(image) = &r.image {
        out.push_str(&format!("\n  image: {image}"));
    }
    if let Some(details) = &r.details {
        out.push('\n');
        out.push_str(&indent(details, "  "));
    }
    for line in r.reproduce.iter().flat_map(|r| r.lines()) {
        out.push_str(&format!("\n  reproduce: {line}"));
    }
    out
}

/// JUnit XML: a testsuite per unit, a testcase per platform and test.
pub fn junit(results: &[CaseResult]) -> String {
    let mut suites: Vec<(&str, Vec<&CaseResult>)> = Vec::new();
    for r in results {
        match suites.iter_mut().find(|(unit, _)| *unit == r.unit) {
            Some((_, cases)) => cases.push(r),
            None => suites.push((&r.unit, vec![r])),
        }
    }
    let attrs = |c: Counts, seconds: f64| {
        format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{seconds:.3}\"",
            c.tests, c.failed, c.errors, c.skipped
        )
    };
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!("<testsuites name=\"cargo xtask test\" {}>\n", attrs(counts(results), total)));
    for (unit, cases) in suites {
        let seconds: f64 = cases.iter().map(|r| r.seconds).sum();
        let c = counts(cases.iter().copied());
        out.push_str(&format!("  <testsuite name=\"{}\" {}>\n", xml(unit), attrs(c, seconds)));
        for r in cases {
            out.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                xml(&format!("{} [{}]", r.test, r.platform)),
                xml(&r.unit),
                r.seconds
            ));
            let message = xml(r.message.as_deref().unwrap_or_default());
            let body = crate::core::text::markup(&failure_text(r), false);
            match r.status {
                Status::Passed => out.push_str("/>\n"),
                Status::Failed => out.push_str(&format!(
                    ">\n      <failure message=\"{message}\" type=\"failure\">{body}</failure>\n    </testcase>\n"
                )),
                Status::Error => out.push_str(&format!(
                    ">\n      <error message=\"{message}\" type=\"error\">{body}</error>\n    </testcase>\n"
                )),
                Status::Skipped => {
                    out.push_str(&format!(">\n      <skipped message=\"{message}\"/>\n    </testcase>\n"))
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text as an XML attribute value, where line breaks must be escaped to survive.
fn xml(text: &str) -> String {
    crate::core::text::markup(text, true)
}

/// How many lines of a command's output a failure shows.
pub const TAIL: usize = 20;

/// A metrics record per unit and platform: the worst status of its cases, their
/// summed time and the manifest digest they ran.
pub fn unit_metrics(results: &[CaseResult]) -> Vec<crate::core::metrics::UnitPlatformRecord> {
    let mut out: Vec<crate::core::metrics::UnitPlatformRecord> = Vec::new();
    for r in results {
        let at = match out.iter().position(|m| m.unit == r.unit && m.platform == r.platform) {
            Some(at) => at,
            None => {
                out.push(crate::core::metrics::UnitPlatformRecord {
                    unit: r.unit.clone(),
                    platform: r.platform.clone(),
                    status: "skipped".to_string(),
                    seconds: Some(0.0),
                    digest: None,
                    input_digest: None,
                    skipped: false,
                    compressed_size: None,
                });
                out.len() - 1
            }
        };
        let m = &mut out[at];
        m.seconds = Some(m.seconds.unwrap_or(0.0) + r.seconds);
        let digest = r.image.as_deref().and_then(|i| i.split_once('@')).map(|(_, d)| d.to_string());
        m.digest = m.digest.take().or(digest);
        let rank = |status: &str| ["skipped", "passed", "error", "failed"].iter().position(|s| *s == status);
        let status = match r.status {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Error => "error",
            Status::Skipped => "skipped",
        };
        if rank(status) > rank(&m.status) {
            m.status = status.to_string();
        }
    }
    out
}

pub fn summary_table(results: &[CaseResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let result = match r.status {
                Status::Passed => "passed",
                Status::Failed => "FAILED",
                Status::Error => "ERROR",
                Status::Skipped => "skipped",
            };
            vec![
                r.unit.clone(),
                r.platform.clone(),
                r.test.clone(),
                result.to_string(),
                crate::core::text::duration(Duration::from_secs_f64(r.seconds)),
            ]
        })
        .collect();
    crate::core::text::table(&["UNIT", "PLATFORM", "TEST", "RESULT", "DURATION"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::core::definitions::{validate_image, validate_settings};
    use camino::Utf8Path;
    use std::collections::BTreeMap;

    /// The tests of an inline image.toml.
    fn tests_of(text: &str) -> Vec<TestDef> {
        let settings = validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\n").unwrap();
        let dir = Utf8Path::new("images/app");
        validate_image(&dir.join("image.toml"), text, dir, &settings).unwrap().tests
    }

    fn unit(variant: Option<&str>, args: &[(&str, &str)]) -> Unit {
        let mut unit = crate::core::plan::tests::sample_unit();
        unit.variant = variant.map(str::to_string);
        unit.args = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        unit
    }

    fn ran(exit_code: i32, stdout: &str) -> Ran {
        Ran { exit_code, stdout: stdout.to_string(), stderr: String::new() }
    }

    const APP: &str = r#"
[args]
GREETING = "hello"
[[variants]]
name = "quiet"
default = true
[[variants]]
name = "loud"
args = { GREETING = "HELLO" }

[[tests]]
name = "greets"
command = ["cat", "/greeting"]
stdout = "{GREETING} from {TARGETARCH}"

[[tests]]
name = "loud on arm"
command = ["true"]
variants = ["loud"]
platforms = ["linux/arm64"]
"#;

    #[test]
    fn tests_apply_by_variant_and_platform() {
        let tests = tests_of(APP);
        let names = |variant, platform| -> Vec<String> {
            applicable(&tests, &unit(Some(variant), &[]), platform).iter().map(|t| t.name.clone()).collect()
        };
        assert_eq!(names("quiet", "linux/arm64"), ["greets"]);
        assert_eq!(names("loud", "linux/amd64"), ["greets"]);
        assert_eq!(names("loud", "linux/arm64"), ["greets", "loud on arm"]);
    }

    #[test]
    fn placeholders_take_variant_args_and_platform_args() {
        let values = Values::new(&unit(Some("loud"), &[("GREETING", "HELLO")]).args, "linux/arm/v7");
        assert_eq!(
            values.fill("{GREETING} from {TARGETARCH}{TARGETVARIANT} on {TARGETOS}"),
            "HELLO from armv7 on linux"
        );
        assert_eq!(values.fill("{{GREETING}} {\"json\": 1} a{3}"), "{GREETING} {\"json\": 1} a{3}");
        let values = Values::new(&BTreeMap::from([("V".to_string(), "3.13".to_string())]), "linux/amd64");
        assert_eq!(values.fill_regex("^Python {V}$"), r"^Python 3\.13$");
    }

    #[test]
    fn judging_a_command_names_each_miss() {
        let tests = tests_of(APP);
        let values = Values::new(&BTreeMap::from([("GREETING".to_string(), "hello".to_string())]), "linux/arm64");
        let expect = &tests[0].expect;
        assert!(judge(expect, &values, &ran(0, "hello from arm64\n")).is_empty());
        assert_eq!(
            judge(expect, &values, &ran(127, "hello from amd64\n")),
            ["exit code 127, expected 0", "stdout does not contain \"hello from arm64\""]
        );
        let regex = Expect { stdout: None, stdout_regex: Some("^Python {V}$".into()), exit_code: 2 };
        let values = Values::new(&BTreeMap::from([("V".to_string(), "3.13".to_string())]), "linux/amd64");
        assert!(judge(&regex, &values, &ran(2, "Python 3.13\n")).is_empty(), "the final newline is not part of stdout");
        assert_eq!(judge(&regex, &values, &ran(2, "Python 3x13")), [r"stdout does not match /^Python 3\.13$/"]);

        let mut r = ran(1, "");
        r.stderr = (1..=30).map(|i| format!("line {i}\n")).collect();
        let text = expected_vs_actual(expect, &values, &r);
        assert!(text.starts_with("expected: exit code 0, stdout containing \"{GREETING} from amd64\"\nactual:   exit code 1\nstdout: (empty)\nstderr (last 20 lines):\n  | line 11\n"), "{text}");
        assert!(text.ends_with("  | line 30"), "{text}");
    }

    #[test]
    fn metadata_checks_read_the_config() {
        let tests = tests_of(
            r#"
[args]
LANG_VALUE = "C.UTF-8"
[[tests]]
name = "config"
[tests.metadata]
user = "65534"
healthcheck = true
env = { LANG = "{LANG_VALUE}", PATH = "/bin" }
exposed_ports = ["8080"]
entrypoint = ["/entry", "{TARGETARCH}"]
"#,
        );
        let check = tests[0].metadata.as_ref().unwrap();
        let values = Values::new(&BTreeMap::from([("LANG_VALUE".to_string(), "C.UTF-8".to_string())]), "linux/amd64");
        let good = serde_json::json!({
            "User": "65534:65534", "Env": ["PATH=/bin", "LANG=C.UTF-8"], "ExposedPorts": {"8080/tcp": {}},
            "Entrypoint": ["/entry", "amd64"], "Healthcheck": {"Test": ["CMD", "true"]}
        });
        assert_eq!(check_metadata(check, &values, &good), Vec::<String>::new());
        let bad = serde_json::json!({
            "User": "0", "Env": ["LANG=C"], "ExposedPorts": {"8080/tcp": {}, "9090/tcp": {}},
            "Entrypoint": null, "Healthcheck": {"Test": ["NONE"]}
        });
        assert_eq!(
            check_metadata(check, &values, &bad),
            [
                "the image runs as root (User is \"0\"); expected a non-root user, or `allow_root = true`",
                "User is \"0\", expected \"65534\"",
                "the image has no HEALTHCHECK",
                "Env has LANG=C, expected LANG=C.UTF-8",
                "Env has no PATH, expected PATH=/bin",
                "ExposedPorts are [\"8080/tcp\", \"9090/tcp\"], expected [\"8080/tcp\"]",
                "Entrypoint is [], expected [\"/entry\", \"amd64\"]",
            ]
        );
        let root_ok = MetadataCheck {
            user: None,
            allow_root: true,
            healthcheck: None,
            env: BTreeMap::new(),
            exposed_ports: None,
            entrypoint: None,
        };
        assert!(check_metadata(&root_ok, &values, &serde_json::json!({})).is_empty());
        let nonroot = MetadataCheck { allow_root: false, user: Some("nonroot".into()), ..root_ok };
        assert_eq!(
            check_metadata(&nonroot, &values, &serde_json::json!({})),
            ["the image runs as root (User is unset, so root); expected a non-root user, or `allow_root = true`"]
        );
    }

    /// A ustar header for one entry, as `docker cp` writes it.
    fn tar_header(name: &str, mode: &str, uid: &str, gid: &str, kind: u8, size: usize) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        for (at, text) in [(100, mode), (108, uid), (116, gid), (124, &format!("{size:011o}")[..])] {
            h[at..at + text.len()].copy_from_slice(text.as_bytes());
        }
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h
    }

    #[test]
    fn tar_headers_give_mode_and_owner() {
        let plain = tar_header("busybox", "0100755", "0000000", "0000000", b'0', 0);
        assert_eq!(first_tar_entry(&plain), Ok(FileStat { mode: 0o755, uid: 0, gid: 0 }));
        let dir = tar_header("tmp/", "0041777", "0177776", "0177776", b'5', 0);
        assert_eq!(first_tar_entry(&dir), Ok(FileStat { mode: 0o1777, uid: 65534, gid: 65534 }));

        // A PAX header first: its uid overrides the (too small) header field.
        let records = "16 uid=3000000\n";
        let mut data = tar_header("PaxHeaders/x", "0000644", "0", "0", b'x', records.len());
        let mut body = records.as_bytes().to_vec();
        body.resize(512, 0);
        data.extend(body);
        data.extend(tar_header("x", "0000640", "0", "0000012", b'0', 0));
        assert_eq!(first_tar_entry(&data), Ok(FileStat { mode: 0o640, uid: 3_000_000, gid: 10 }));

        assert_eq!(first_tar_entry(&[0; 1024]), Err("the archive is empty".to_string()));
        assert_eq!(first_tar_entry(&plain[..100]), Err("the archive ends before its first entry".to_string()));
    }

    #[test]
    fn file_checks_compare_existence_mode_and_owner() {
        let check = FileCheck { path: "/bin/sh".into(), exists: true, mode: Some(0o755), owner: Some((0, 0)) };
        let stat = FileStat { mode: 0o755, uid: 0, gid: 0 };
        assert_eq!(check_file(&check, "/bin/sh", Some(stat)), None);
        assert_eq!(check_file(&check, "/bin/sh", None), Some("/bin/sh does not exist".to_string()));
        assert_eq!(
            check_file(&check, "/bin/sh", Some(FileStat { mode: 0o4750, uid: 1, gid: 2 })),
            Some("/bin/sh has mode 4750, expected 0755; /bin/sh is owned by 1:2, expected 0:0".to_string())
        );
        let absent = FileCheck { path: "/x".into(), exists: false, mode: None, owner: None };
        assert_eq!(check_file(&absent, "/x", None), None);
        assert_eq!(check_file(&absent, "/x", Some(stat)), Some("/x exists, expected it not to".to_string()));
    }

    #[test]
    fn services_are_ready_by_health_log_or_delay() {
        let running =
            |health: &str| serde_json::json!({"Status": "running", "Running": true, "Health": {"Status": health}});
        let second = Duration::from_secs(1);
        assert_eq!(readiness(&Wait::Healthy, &running("starting"), "", second), Readiness::Pending);
        assert_eq!(readiness(&Wait::Healthy, &running("healthy"), "", second), Readiness::Ready);
        let unhealthy = serde_json::json!({"Status": "running", "Running": true,
            "Health": {"Status": "unhealthy", "Log": [{"Output": "old"}, {"Output": "connection refused\n"}]}});
        assert_eq!(
            readiness(&Wait::Healthy, &unhealthy, "", second),
            Readiness::Failed("its HEALTHCHECK reports unhealthy: \"connection refused\"".into())
        );
        let exited = serde_json::json!({"Status": "exited", "Running": false, "ExitCode": 3});
        assert_eq!(
            readiness(&Wait::Log("ready".into()), &exited, "ready", second),
            Readiness::Failed("the service stopped (exited, exit code 3) before it was ready".into())
        );
        let up = running("");
        assert_eq!(readiness(&Wait::Log("ready".into()), &up, "starting\n", second), Readiness::Pending);
        assert_eq!(readiness(&Wait::Log("ready".into()), &up, "db ready\n", second), Readiness::Ready);
        assert_eq!(readiness(&Wait::Delay(2 * second), &up, "", second), Readiness::Pending);
        assert_eq!(readiness(&Wait::Delay(2 * second), &up, "", 2 * second), Readiness::Ready);
    }

    fn case(unit: &str, test: &str, status: Status) -> CaseResult {
        CaseResult {
            unit: unit.into(),
            platform: "linux/arm64".into(),
            test: test.into(),
            status,
            seconds: 0.5,
            image: Some("r/app@sha256:ab".into()),
            message: (status != Status::Passed).then(|| "stdout does not contain \"<ok> & 'done'\"".into()),
            details: (status == Status::Failed).then(|| "expected: x\nactual:   \u{1b}[31my".into()),
            reproduce: (status == Status::Failed).then(|| "docker run --rm r/app@sha256:ab".into()),
        }
    }

    #[test]
    fn junit_groups_by_unit_and_escapes() {
        let results = [
            case("app:quiet", "greets", Status::Passed),
            case("app:quiet", "says <hi>", Status::Failed),
            case("base", "shell", Status::Error),
            case("base", "later", Status::Skipped),
        ];
        let xml = junit(&results);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"cargo xtask test\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"2.000\">\n"), "{xml}");
        assert!(
            xml.contains(
                "<testsuite name=\"app:quiet\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"1.000\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"greets [linux/arm64]\" classname=\"app:quiet\" time=\"0.500\"/>"),
            "{xml}"
        );
        assert!(xml.contains("<testcase name=\"says &lt;hi&gt; [linux/arm64]\""), "{xml}");
        assert!(xml.contains("<failure message=\"stdout does not contain &quot;&lt;ok&gt; &amp; &apos;done&apos;&quot;\" type=\"failure\">FAILED app:quiet linux/arm64"), "{xml}");
        assert!(
            xml.contains("&apos;done&apos;&quot;\n  image: r/app@sha256:ab\n  expected: x\n  actual:   \\u{1b}[31my"),
            "line breaks stay in text, control characters are spelled out: {xml}"
        );
        assert!(xml.contains("<error message=") && xml.contains("<skipped message="), "{xml}");
        assert_eq!(xml.matches("<testsuite ").count(), 2);
    }

    #[test]
    fn failure_text_shows_image_details_and_reproduction() {
        let text = failure_text(&case("app:quiet", "greets", Status::Failed));
        assert_eq!(
            text,
            "FAILED app:quiet linux/arm64 \"greets\": stdout does not contain \"<ok> & 'done'\"\n  image: r/app@sha256:ab\n  expected: x\n  actual:   \u{1b}[31my\n  reproduce: docker run --rm r/app@sha256:ab"
        );
        let table = summary_table(&[case("base", "shell", Status::Passed)]);
        assert_eq!(table.lines().nth(2), Some("base  linux/arm64  shell  passed  0.5s"));
    }

    #[test]
    fn metrics_per_unit_and_platform_take_the_worst_status() {
        let local = CaseResult { image: Some("app:local".into()), ..case("app", "a", Status::Passed) };
        let results = [
            case("app:quiet", "greets", Status::Passed),
            case("base", "shell", Status::Skipped),
            case("app:quiet", "says", Status::Failed),
            case("app:quiet", "later", Status::Error),
            case("base", "files", Status::Passed),
            local,
        ];
        let got: Vec<(String, String, Option<f64>, Option<String>)> =
            unit_metrics(&results).into_iter().map(|m| (m.unit, m.status, m.seconds, m.digest)).collect();
        let digest = Some("sha256:ab".to_string());
        assert_eq!(
            got,
            [
                ("app:quiet".into(), "failed".into(), Some(1.5), digest.clone()),
                ("base".into(), "passed".into(), Some(1.0), digest),
                ("app".into(), "passed".into(), Some(0.5), None),
            ]
        );
    }

    #[test]
    fn shell_words_quote_what_a_shell_would_split() {
        let argv: Vec<String> = ["sh", "-c", "echo 'hi' $X", "", "a=b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(shell_words(&argv), r#"sh -c 'echo '\''hi'\'' $X' '' a=b"#);
    }
}
