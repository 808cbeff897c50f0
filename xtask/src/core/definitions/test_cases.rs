//! `[[tests]]`: the checks `cargo xtask test` runs against each built image.

use super::run_options::{validate_companions, validate_run, RawCompanion, RawRun};
use super::*;

/// One `[[tests]]` entry: what `cargo xtask test` checks on each unit and platform it applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct TestDef {
    pub name: String,
    /// Run in a fresh container in place of the image's CMD; its result must meet `expect`.
    pub command: Option<Vec<String>>,
    pub expect: Expect,
    /// Variants the test applies to; empty means every variant.
    pub variants: Vec<String>,
    /// Platforms the test applies to; empty means every platform of the image.
    pub platforms: Vec<String>,
    /// Bounds the whole test on one platform: emulated platforms are slower, so each test sets its own.
    pub timeout: Duration,
    pub files: Vec<FileCheck>,
    pub metadata: Option<MetadataCheck>,
    pub services: Vec<ServiceCheck>,
    /// How the `command` container runs.
    pub run: RunOptions,
}

/// What a command's result must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// A substring of stdout.
    pub stdout: Option<String>,
    pub stdout_regex: Option<String>,
    pub exit_code: i32,
}

/// A path inside the image; symlinks are followed, as a program opening the path would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub path: String,
    pub exists: bool,
    /// Permission bits, e.g. `0o755`.
    pub mode: Option<u32>,
    /// `(uid, gid)`.
    pub owner: Option<(u32, u32)>,
}

/// Checks on the image config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataCheck {
    /// `nonroot`, a user name or uid, or `user:group`.
    pub user: Option<String>,
    /// Without it the image's final user must not be root: containers should not run as root by accident.
    pub allow_root: bool,
    pub healthcheck: Option<bool>,
    pub env: BTreeMap<String, String>,
    /// The exact set, as `port/proto`.
    pub exposed_ports: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
}

/// A container running the image's own command, probed from inside once ready: containers
/// run without a network (the engine has no bridge), so nothing outside can reach them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCheck {
    pub run: RunOptions,
    /// Other units started first, each waited for, in one network namespace with the service.
    pub companions: Vec<Companion>,
    pub wait: Wait,
    pub probe: Option<Vec<String>>,
    pub expect: Expect,
}

/// When a service counts as started.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// Its HEALTHCHECK reports healthy.
    Healthy,
    /// Its output contains this text.
    Log(String),
    /// It is still running after this long.
    Delay(Duration),
}

/// Placeholders every test may use besides the unit's build args: buildx's automatic platform args.
pub const PLATFORM_ARGS: &[&str] = &["TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT"];

pub(super) const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(60);
pub(super) const DURATION_HINT: &str = "write a duration, e.g. \"30s\", \"2m\", \"500ms\" or \"1m30s\"";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTest {
    name: Spanned<String>,
    command: Option<Spanned<Vec<Spanned<String>>>>,
    stdout: Option<Spanned<String>>,
    stdout_regex: Option<Spanned<String>>,
    exit_code: Option<Spanned<i64>>,
    variants: Option<Vec<Spanned<String>>>,
    platforms: Option<Vec<Spanned<String>>>,
    timeout: Option<Spanned<String>>,
    files: Option<Vec<RawFileCheck>>,
    metadata: Option<RawMetadata>,
    service: Option<Vec<RawService>>,
    env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    user: Option<Spanned<String>>,
    tmpfs: Option<Vec<Spanned<String>>>,
    shm_size: Option<Spanned<String>>,
    read_only: Option<bool>,
    network: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFileCheck {
    path: Spanned<String>,
    exists: Option<Spanned<bool>>,
    mode: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetadata {
    user: Option<Spanned<String>>,
    allow_root: Option<bool>,
    healthcheck: Option<bool>,
    env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    exposed_ports: Option<Vec<Spanned<String>>>,
    entrypoint: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    user: Option<Spanned<String>>,
    tmpfs: Option<Vec<Spanned<String>>>,
    shm_size: Option<Spanned<String>>,
    read_only: Option<bool>,
    network: Option<Spanned<String>>,
    companion: Option<Vec<RawCompanion>>,
    wait: Option<Spanned<String>>,
    probe: Option<Spanned<Vec<Spanned<String>>>>,
    stdout: Option<Spanned<String>>,
    stdout_regex: Option<Spanned<String>>,
    exit_code: Option<Spanned<i64>>,
}

/// The build args of each variant a test runs on, so a placeholder is checked where it will be filled.
pub(super) struct TestArgs<'a> {
    /// (`variant "x"` or `this image`, the variant's args).
    sets: Vec<&'a (String, BTreeMap<String, String>)>,
}

impl TestArgs<'_> {
    /// `value` with its placeholders checked in every variant (and, for a regex, compiled).
    fn check(&self, src: &Source<'_>, value: Spanned<String>, regex: bool) -> Result<String, DefinitionError> {
        if value.get_ref().contains('\0') {
            return Err(src.at(&value, format!("{:?} holds a NUL character", value.get_ref()), NUL_HINT.to_string()));
        }
        let mut compiled: Vec<String> = Vec::new();
        for (what, args) in &self.sets {
            let lookup = |name: &str| {
                let arg = args.get(name).cloned().or_else(|| PLATFORM_ARGS.contains(&name).then(String::new));
                if regex {
                    arg.map(|a| regex_lite::escape(&a))
                } else {
                    arg
                }
            };
            let text = substitute(value.get_ref(), lookup).map_err(|name| {
                let mut known: Vec<&str> = args.keys().map(String::as_str).collect();
                known.extend(PLATFORM_ARGS);
                src.at(
                    &value,
                    format!("`{{{name}}}` is not a build arg of {what}"),
                    format!(
                        "placeholders name build args: {}; write `{{{{{name}}}}}` for the literal text `{{{name}}}`",
                        known.join(", ")
                    ),
                )
            })?;
            // Most regexes read no build arg and are the same in every variant: compile each text once.
            if regex && text.len() > MAX_REGEX {
                return Err(src.at(
                    &value,
                    format!("the regex is {} bytes long, over the {MAX_REGEX}-byte limit", text.len()),
                    "match a shorter, distinctive part of the output".to_string(),
                ));
            }
            if regex && !compiled.contains(&text) {
                regex_lite::Regex::new(&text).map_err(|err| {
                    src.at(
                        &value,
                        format!("invalid regex {:?}: {err}", value.get_ref()),
                        "the syntax is regex-lite's: the `regex` crate's without Unicode classes such as `\\p{L}`; build arg values are matched literally".to_string(),
                    )
                })?;
                compiled.push(text);
            }
        }
        Ok(value.into_inner())
    }

    fn list(&self, src: &Source<'_>, values: Vec<Spanned<String>>) -> Result<Vec<String>, DefinitionError> {
        values.into_iter().map(|v| self.check(src, v, false)).collect()
    }

    pub(super) fn env(
        &self,
        src: &Source<'_>,
        env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    ) -> Result<BTreeMap<String, String>, DefinitionError> {
        let mut out = BTreeMap::new();
        for (key, value) in env.unwrap_or_default() {
            if key.get_ref().is_empty() || key.get_ref().contains(['=', '\0']) {
                return Err(src.at(
                    &key,
                    format!("invalid environment variable name {:?}", key.get_ref()),
                    "names are non-empty and hold no `=`".to_string(),
                ));
            }
            out.insert(key.into_inner(), self.check(src, value, false)?);
        }
        Ok(out)
    }

    fn expect(
        &self,
        src: &Source<'_>,
        stdout: Option<Spanned<String>>,
        stdout_regex: Option<Spanned<String>>,
        exit_code: Option<Spanned<i64>>,
    ) -> Result<Expect, DefinitionError> {
        let exit_code = match exit_code {
            Some(code) => i32::try_from(*code.get_ref()).ok().filter(|c| (0..=255).contains(c)).ok_or_else(|| {
                src.at(&code, format!("invalid exit_code {}", code.get_ref()), "exit codes are 0 to 255".to_string())
            })?,
            None => 0,
        };
        Ok(Expect {
            stdout: stdout.map(|s| self.check(src, s, false)).transpose()?,
            stdout_regex: stdout_regex.map(|s| self.check(src, s, true)).transpose()?,
            exit_code,
        })
    }
}

/// Checks `[[tests]]` against the image's variants, platforms and build args.
pub(super) fn validate_tests(
    src: &Source<'_>,
    raw: Vec<RawTest>,
    platforms: &[String],
    image_args: &BTreeMap<String, String>,
    variants: &[Variant],
) -> Result<Vec<TestDef>, DefinitionError> {
    if let Some(extra) = raw.get(MAX_TESTS) {
        return Err(src.at(
            &extra.name,
            format!("{} tests, more than the {MAX_TESTS} an image may have", raw.len()),
            "merge checks into fewer tests: a test may hold many files and services".to_string(),
        ));
    }
    // Each variant's build args, merged once rather than once per test.
    let variant_args: Vec<(String, BTreeMap<String, String>)> = variants
        .iter()
        .map(|v| {
            let mut args = image_args.clone();
            args.extend(v.args.clone());
            (v.name.as_ref().map_or("this image".to_string(), |n| format!("variant {n:?}")), args)
        })
        .collect();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut tests = Vec::new();
    for raw in raw {
        let name = raw.name;
        if name.get_ref().trim().is_empty() || name.get_ref().chars().any(char::is_control) {
            return Err(src.at(
                &name,
                format!("invalid test name {:?}", name.get_ref()),
                "give each test a short one-line name".to_string(),
            ));
        }
        if let Some(&first) = names.get(name.get_ref()) {
            let at = LineCol::of(src.text, first);
            return Err(src.at(
                &name,
                format!("test name {:?} is used twice (first at line {})", name.get_ref(), at.line),
                "give each test a distinct name: reports and JUnit identify tests by it".to_string(),
            ));
        }
        names.insert(name.get_ref().clone(), name.span().start);

        let test_variants = validate_test_variants(src, raw.variants.unwrap_or_default(), variants)?;
        let test_platforms = validate_test_platforms(src, raw.platforms.unwrap_or_default(), platforms)?;
        let args = TestArgs {
            sets: variants
                .iter()
                .zip(&variant_args)
                .filter(|(v, _)| test_variants.is_empty() || v.name.as_ref().is_some_and(|n| test_variants.contains(n)))
                .map(|(_, args)| args)
                .collect(),
        };

        let command = match raw.command {
            Some(list) if list.get_ref().is_empty() => {
                return Err(src.at(
                    &list,
                    "`command` is empty".to_string(),
                    "write the argv, e.g. [\"sh\", \"-c\", \"true\"]".to_string(),
                ))
            }
            Some(list) => Some(args.list(src, list.into_inner())?),
            None => None,
        };
        if command.is_none() {
            if let Some((key, span)) = result_check(&raw.stdout, &raw.stdout_regex, &raw.exit_code) {
                return Err(src.error(
                    Some(span),
                    format!("`{key}` checks a command, but the test has no `command`"),
                    Some("add `command = [...]`, or move it into a [[tests.service]] to check its probe".to_string()),
                ));
            }
        }
        let expect = args.expect(src, raw.stdout, raw.stdout_regex, raw.exit_code)?;
        let timeout = match raw.timeout {
            Some(t) => parse_duration(t.get_ref()).map_err(|why| {
                src.at(&t, format!("invalid timeout {:?}: {why}", t.get_ref()), DURATION_HINT.to_string())
            })?,
            None => DEFAULT_TEST_TIMEOUT,
        };
        let files = raw
            .files
            .unwrap_or_default()
            .into_iter()
            .map(|f| validate_file_check(src, &args, f))
            .collect::<Result<Vec<_>, _>>()?;
        let metadata = raw.metadata.map(|m| validate_metadata(src, &args, m)).transpose()?;
        let run = RawRun {
            env: raw.env,
            user: raw.user,
            tmpfs: raw.tmpfs,
            shm_size: raw.shm_size,
            read_only: raw.read_only,
            network: raw.network,
        };
        let run = validate_run(src, &args, run)?;
        let services = raw
            .service
            .unwrap_or_default()
            .into_iter()
            .map(|s| validate_service(src, &args, s))
            .collect::<Result<Vec<_>, _>>()?;
        if command.is_none() && files.is_empty() && metadata.is_none() && services.is_empty() {
            return Err(src.at(
                &name,
                format!("test {:?} checks nothing", name.get_ref()),
                "add `command`, [[tests.files]], [tests.metadata] or [[tests.service]]".to_string(),
            ));
        }
        tests.push(TestDef {
            name: name.into_inner(),
            command,
            expect,
            variants: test_variants,
            platforms: test_platforms,
            timeout,
            files,
            metadata,
            services,
            run,
        });
    }
    Ok(tests)
}

pub(super) fn validate_test_variants(
    src: &Source<'_>,
    list: Vec<Spanned<String>>,
    variants: &[Variant],
) -> Result<Vec<String>, DefinitionError> {
    let names: Vec<&str> = variants.iter().filter_map(|v| v.name.as_deref()).collect();
    list.into_iter()
        .map(|v| {
            if names.contains(&v.get_ref().as_str()) {
                return Ok(v.into_inner());
            }
            let hint = if names.is_empty() {
                "the image has no [[variants]]: remove `variants`".to_string()
            } else if let Some(close) = nearest(v.get_ref(), names.iter().copied()) {
                format!("did you mean {close:?}? The variants are: {}", names.join(", "))
            } else {
                format!("the variants are: {}", names.join(", "))
            };
            Err(src.at(&v, format!("the test names variant {:?}, which the image does not have", v.get_ref()), hint))
        })
        .collect()
}

pub(super) fn validate_test_platforms(
    src: &Source<'_>,
    list: Vec<Spanned<String>>,
    platforms: &[String],
) -> Result<Vec<String>, DefinitionError> {
    list.into_iter()
        .map(|p| {
            if platforms.contains(p.get_ref()) {
                return Ok(p.into_inner());
            }
            let hint = match nearest(p.get_ref(), platforms.iter().map(String::as_str)) {
                Some(close) => format!("did you mean {close:?}? The image builds for: {}", platforms.join(", ")),
                None => format!("the image builds for: {}", platforms.join(", ")),
            };
            Err(src.at(
                &p,
                format!("the test names platform {:?}, which the image does not build for", p.get_ref()),
                hint,
            ))
        })
        .collect()
}

pub(super) fn validate_file_check(
    src: &Source<'_>,
    args: &TestArgs,
    raw: RawFileCheck,
) -> Result<FileCheck, DefinitionError> {
    if !raw.path.get_ref().starts_with('/') {
        return Err(src.at(
            &raw.path,
            format!("file path {:?} is not absolute", raw.path.get_ref()),
            "write the path inside the image from `/`".to_string(),
        ));
    }
    if let Some(absent) = raw.exists.as_ref().filter(|e| !*e.get_ref()) {
        if raw.mode.is_some() || raw.owner.is_some() {
            return Err(src.at(
                absent,
                "`exists = false` with `mode` or `owner`".to_string(),
                "a missing file has neither: remove them".to_string(),
            ));
        }
    }
    let exists = raw.exists.as_ref().is_none_or(|e| *e.get_ref());
    let mode = raw
        .mode
        .map(|m| {
            parse_mode(m.get_ref()).map_err(|why| {
                src.at(
                    &m,
                    format!("invalid mode {:?}: {why}", m.get_ref()),
                    "write octal permission bits, e.g. \"0755\"".to_string(),
                )
            })
        })
        .transpose()?;
    let owner = raw
        .owner
        .map(|o| {
            parse_owner(o.get_ref()).ok_or_else(|| {
                src.at(
                    &o,
                    format!("invalid owner {:?}", o.get_ref()),
                    "write numeric uid:gid, e.g. \"0:0\"".to_string(),
                )
            })
        })
        .transpose()?;
    Ok(FileCheck { path: args.check(src, raw.path, false)?, exists, mode, owner })
}

pub(super) fn validate_metadata(
    src: &Source<'_>,
    args: &TestArgs,
    raw: RawMetadata,
) -> Result<MetadataCheck, DefinitionError> {
    let allow_root = raw.allow_root.unwrap_or(false);
    if let Some(user) = &raw.user {
        if user.get_ref().is_empty() {
            return Err(src.at(
                user,
                "`user` is empty".to_string(),
                "write \"nonroot\", a user name or uid, or user:group".to_string(),
            ));
        }
        if is_root_user(user.get_ref()) && !allow_root {
            return Err(src.at(
                user,
                format!("`user = {:?}` is root, which tests refuse", user.get_ref()),
                "add `allow_root = true` to this [tests.metadata] if the image must run as root".to_string(),
            ));
        }
    }
    let exposed_ports = raw
        .exposed_ports
        .map(|ports| {
            ports
                .into_iter()
                .map(|p| {
                    normalize_port(p.get_ref()).map_err(|why| {
                        src.at(
                            &p,
                            format!("invalid port {:?}: {why}", p.get_ref()),
                            "write port[/proto], e.g. \"8080/tcp\"".to_string(),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(MetadataCheck {
        user: raw.user.map(Spanned::into_inner),
        allow_root,
        healthcheck: raw.healthcheck,
        env: args.env(src, raw.env)?,
        exposed_ports,
        entrypoint: raw.entrypoint.map(|e| args.list(src, e)).transpose()?,
    })
}

pub(super) fn validate_service(
    src: &Source<'_>,
    args: &TestArgs,
    raw: RawService,
) -> Result<ServiceCheck, DefinitionError> {
    let wait = validate_wait(src, raw.wait)?;
    let probe = match raw.probe {
        Some(p) if p.get_ref().is_empty() => {
            return Err(src.at(
                &p,
                "`probe` is empty".to_string(),
                "write the argv to run inside the service".to_string(),
            ))
        }
        Some(p) => Some(args.list(src, p.into_inner())?),
        None => None,
    };
    if probe.is_none() {
        if let Some((key, span)) = result_check(&raw.stdout, &raw.stdout_regex, &raw.exit_code) {
            return Err(src.error(
                Some(span),
                format!("`{key}` checks a probe, but the service has no `probe`"),
                Some("add `probe = [...]`: the command run inside the service once it is ready".to_string()),
            ));
        }
    }
    let run = RawRun {
        env: raw.env,
        user: raw.user,
        tmpfs: raw.tmpfs,
        shm_size: raw.shm_size,
        read_only: raw.read_only,
        network: raw.network,
    };
    Ok(ServiceCheck {
        run: validate_run(src, args, run)?,
        companions: validate_companions(src, args, raw.companion.unwrap_or_default())?,
        wait,
        probe,
        expect: args.expect(src, raw.stdout, raw.stdout_regex, raw.exit_code)?,
    })
}

/// A service's or a companion's `wait`; `healthy` when absent.
pub(super) fn validate_wait(src: &Source<'_>, wait: Option<Spanned<String>>) -> Result<Wait, DefinitionError> {
    let Some(w) = wait else { return Ok(Wait::Healthy) };
    parse_wait(w.get_ref()).map_err(|why| {
        src.at(
            &w,
            format!("invalid wait {:?}: {why}", w.get_ref()),
            "write \"healthy\", \"log:<text>\" or \"delay:<duration>\"".to_string(),
        )
    })
}

/// The first key that checks a result, for a test without `command` or a service without `probe`.
pub(super) fn result_check(
    stdout: &Option<Spanned<String>>,
    stdout_regex: &Option<Spanned<String>>,
    exit_code: &Option<Spanned<i64>>,
) -> Option<(&'static str, std::ops::Range<usize>)> {
    (stdout.as_ref().map(|s| ("stdout", s.span())))
        .or(stdout_regex.as_ref().map(|s| ("stdout_regex", s.span())))
        .or(exit_code.as_ref().map(|s| ("exit_code", s.span())))
}

/// Replaces each `{NAME}` (NAME a build arg name) with `lookup(NAME)`. `{{NAME}}` is the literal
/// text `{NAME}`, and every other brace is literal, so a regex's `{3}` or JSON needs no escaping.
/// The error is the first name `lookup` does not know.
pub fn substitute(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let at = &rest[open..];
        let literal = at.strip_prefix("{{").and_then(|r| r.split_once("}}")).map(|(n, _)| n).filter(|n| is_arg_name(n));
        let placeholder = at[1..].split_once('}').map(|(n, _)| n).filter(|n| is_arg_name(n));
        if let Some(name) = literal {
            out.push_str(&at[1..name.len() + 3]);
            rest = &at[name.len() + 4..];
        } else if let Some(name) = placeholder {
            out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
            rest = &at[name.len() + 2..];
        } else {
            out.push('{');
            rest = &at[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

pub(super) fn is_arg_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `30s`, `2m`, `500ms`, `1h`, or sums such as `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("it is empty".to_string());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: u32 = rest[..digits].parse().map_err(|_| format!("expected a whole number at {rest:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "" => return Err("a unit is missing: use ms, s, m or h".to_string()),
            other => return Err(format!("unknown unit {other:?}: use ms, s, m or h")),
        };
        total = unit.checked_mul(number).and_then(|d| total.checked_add(d)).ok_or("it is too long")?;
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        return Err("it is zero".to_string());
    }
    Ok(total)
}

/// `healthy`, `log:<text>` or `delay:<duration>`.
pub fn parse_wait(text: &str) -> Result<Wait, String> {
    if text == "healthy" {
        Ok(Wait::Healthy)
    } else if let Some(log) = text.strip_prefix("log:") {
        if log.is_empty() {
            return Err("the text after `log:` is empty".to_string());
        }
        Ok(Wait::Log(log.to_string()))
    } else if let Some(delay) = text.strip_prefix("delay:") {
        parse_duration(delay).map(Wait::Delay)
    } else {
        Err("unknown kind of wait".to_string())
    }
}

/// `0755`, `755` or `4755`: octal permission bits.
pub(super) fn parse_mode(text: &str) -> Result<u32, String> {
    if !(3..=4).contains(&text.len()) || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err("expected 3 or 4 octal digits".to_string());
    }
    u32::from_str_radix(text, 8).map_err(|e| e.to_string())
}

pub(super) fn parse_owner(text: &str) -> Option<(u32, u32)> {
    let (uid, gid) = text.split_once(':')?;
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

/// `8080` as `8080/tcp`, as the engine records exposed ports.
pub(super) fn normalize_port(text: &str) -> Result<String, String> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(format!("unknown protocol {proto:?}: use tcp, udp or sctp"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(format!("{p}/{proto}")),
        _ => Err("the port is not a number from 1 to 65535".to_string()),
    }
}

/// Whether a config's `User` runs as root: empty (the default), `0` or `root`, with any group.
pub fn is_root_user(user: &str) -> bool {
    matches!(user.split(':').next().unwrap_or(""), "" | "0" | "root")
}
