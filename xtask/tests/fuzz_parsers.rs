//! The fuzz targets' checks (`fuzz_checks`) over a generated corpus, for machines without
//! nightly Rust: mutations of every image.toml, Cargo.toml and Dockerfile in the repository
//! and the bad-input corpus (bit flips, interesting bytes and tokens, deletions,
//! duplications, runs of one byte, truncations, splices, random keys with random values),
//! from a fixed seed.
//!
//! `XTASK_FUZZ_CASES` sets the number of cases per parser (default 2000), `XTASK_FUZZ_SEED`
//! the seed. A failing case is written to `target/fuzz-failures/` and named with its seed
//! and number, so it can be replayed with `cargo fuzz run <target> <file>` or rerun here.

mod fuzz_checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use fuzz_checks::Outcome;

/// xorshift64*: a few lines, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The largest input tried: far below the 1 MiB `load` accepts, so cases stay fast.
const MAX_LEN: usize = 64 * 1024;

const BYTES: &[u8] = b"\0\xff\xc3\"'[]{}=\n\r\t\\$.,#:/<-+*`@~ ";

const TOKENS: &[&str] = &[
    "\"manifests\":[",
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:\",\"size\":-1},",
    "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}",
    "\"size\":18446744073709551615",
    "Bearer realm=",
    "Basic ",
    ", Bearer realm=\"",
    "; rel=\"next\"",
    "<https://x/v2/a/tags/list?last=",
    "\"\"\"",
    "'''",
    "[[",
    "]]",
    "= ",
    "\\u0000",
    "\\U0010FFFF",
    "\\",
    "{}",
    "[]",
    "[[]]",
    "1e999",
    "-0",
    "inf",
    "nan",
    "1979-05-27T07:32:00Z",
    "2027-02-29",
    "0x7f",
    "true",
    "9223372036854775808",
    "a.b.c",
    "\"a.b\"",
    "\u{feff}",
    "é",
    "€",
    "\u{1F600}",
    "\\\n",
    "<<EOF\n",
    "<<-\"X\"\n",
    "EOF\n",
    "${A:-${B:+x}}",
    "${",
    "$",
    "--mount=type=secret,id=a",
    "# escape=`\n",
    "# syntax=docker/dockerfile:1\n",
    "FROM ",
    "ARG ",
    "ENV ",
    "COPY --from=",
    "RUN ",
    "USER ",
    "\t",
    "{version}",
    "{{",
    "}}",
    "{",
    "}",
    "../",
    "/etc/passwd",
    "~/",
    ",",
    "\0\0",
];

const KEYS: &[&str] = &[
    "description",
    "repository",
    "dockerfile",
    "context",
    "platforms",
    "version",
    "depends_on",
    "network",
    "args",
    "variants",
    "tags",
    "rootfs",
    "tests",
    "size",
    "lint",
    "scan",
    "secrets",
    "name",
    "aliases",
    "default",
    "packages",
    "command",
    "stdout",
    "stdout_regex",
    "exit_code",
    "timeout",
    "path",
    "exists",
    "mode",
    "owner",
    "user",
    "allow_root",
    "healthcheck",
    "env",
    "exposed_ports",
    "entrypoint",
    "wait",
    "probe",
    "max",
    "max_growth",
    "max_arch_spread",
    "allow",
    "file",
    "release",
    "branch",
    "pull_request",
    "registry",
    "namespace",
    "id",
    "until",
    "reason",
    "suite",
    "mirror",
    "security_mirror",
    "A_IMAGE",
    "npm_token",
];

const HEADERS: &[&str] = &[
    "",
    "[args]",
    "[[variants]]",
    "[tags]",
    "[rootfs]",
    "[size]",
    "[lint]",
    "[secrets]",
    "[[tests]]",
    "[[tests.files]]",
    "[tests.metadata]",
    "[[tests.service]]",
    "[[scan.allow]]",
    "[workspace.metadata.images]",
    "[workspace.metadata.images.tags]",
];

const STRINGS: &[&str] = &[
    "",
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "..",
    "../../etc",
    "/abs",
    ".",
    "a",
    "A B",
    "-x",
    "{version}",
    "{branch}-{sha}",
    "{vesion}",
    "a(",
    "^x$",
    "30s",
    "0s",
    "1h1m",
    "0755",
    "9999",
    "0:0",
    "root",
    "nonroot",
    "healthy",
    "log:",
    "delay:5m",
    "150MB",
    "20%",
    "1.2.3",
    "1.2.3-rc.1",
    "v1",
    "base",
    "base:x",
    "~/.netrc",
    "NPM_TOKEN",
    "busybox-static",
    "root-user",
    "CVE-2024-1234",
    "2027-01-31",
    "8080/tcp",
    "x\u{0}y",
];

fn random_value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 2 { 4 } else { 6 }) {
        0 => format!("{:?}", rng.pick(STRINGS)),
        1 => format!("{}", rng.next() as i64 >> rng.below(64)),
        2 => rng.pick(&["true", "false", "1.5", "-0.0", "1979-05-27"]).to_string(),
        3 => format!("'{}'", rng.pick(STRINGS).replace('\'', "")),
        4 => {
            let items: Vec<String> = (0..rng.below(4)).map(|_| random_value(rng, depth + 1)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let items: Vec<String> =
                (0..rng.below(3)).map(|_| format!("{} = {}", rng.pick(KEYS), random_value(rng, depth + 1))).collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// One to eight stacked mutations of `seed`, another seed available for splicing.
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(11) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = *rng.pick(BYTES);
            }
            2 => {
                data.splice(at..at, rng.pick(TOKENS).bytes());
            }
            3 if !data.is_empty() => {
                let end = (at + rng.below(64)).min(data.len());
                data.drain(at.min(end)..end);
            }
            4 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(128)).min(data.len());
                let copy = data[start..end].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, copy);
            }
            5 => data.truncate(at),
            6 => {
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            7 => {
                let header = rng.pick(HEADERS);
                let line = format!("\n{header}\n{} = {}\n", rng.pick(KEYS), random_value(rng, 0));
                data.splice(at..at, line.into_bytes());
            }
            8 => {
                // A line-start boundary, so whole lines repeat: deep or long structure.
                let start = data[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let end = data[at..].iter().position(|&b| b == b'\n').map_or(data.len(), |i| at + i + 1);
                let line = data[start..end].to_vec();
                for _ in 0..rng.below(200) {
                    data.splice(end..end, line.iter().copied());
                }
            }
            9 => {
                // A long run of one byte: names and values just past a length limit.
                let byte = if rng.below(2) == 0 { *rng.pick(BYTES) } else { b'a' + rng.below(26) as u8 };
                data.splice(at..at, std::iter::repeat_n(byte, rng.below(300)));
            }
            _ => {
                let key = format!("{} = {}\n", rng.pick(KEYS), random_value(rng, 0));
                data.splice(at..at, key.into_bytes());
            }
        }
        // Like cargo-fuzz's `-max_len`: stacked repetitions would otherwise grow without bound.
        data.truncate(MAX_LEN);
    }
    data
}

/// Files under `dir` (recursively) whose name satisfies `wanted`.
fn files(dir: &Utf8Path, wanted: &dyn Fn(&str) -> bool, out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = dir.read_dir_utf8() else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && entry.file_name() != "target" && entry.file_name() != "rootfs" {
            files(path, wanted, out);
        } else if path.is_file() && wanted(entry.file_name()) {
            out.push(std::fs::read(path).unwrap());
        }
    }
}

fn repo() -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs `check` on `cases` mutations of `seeds`; fails with the first crashing input saved.
fn fuzz(target: &str, seeds: &[Vec<u8>], check: fn(&[u8])) {
    fuzz_within(target, seeds, check, None);
}

/// `fuzz`, and with a `budget`, a case that takes longer fails as a crash does (a parser that
/// is quadratic or worse on some input of at most `MAX_LEN` bytes).
fn fuzz_within(target: &str, seeds: &[Vec<u8>], check: fn(&[u8]), budget: Option<Duration>) {
    let counted = |data: &[u8]| -> Option<Outcome> {
        check(data);
        None
    };
    fuzz_counting(target, seeds, &counted, budget, &|rng, seed, other| mutate(rng, seed, other));
}

/// Makes one case from a seed, another seed being at hand for splicing.
type Mutator<'a> = dyn Fn(&mut Rng, &[u8], &[u8]) -> Vec<u8> + 'a;

/// Mutations of the seeds run through `check`, which may say how far each got; returns the
/// count of each outcome it reported.
fn fuzz_counting(
    target: &str,
    seeds: &[Vec<u8>],
    check: &dyn Fn(&[u8]) -> Option<Outcome>,
    budget: Option<Duration>,
    mutator: &Mutator<'_>,
) -> BTreeMap<String, u64> {
    let mut outcomes = BTreeMap::new();
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let cases = env_number("XTASK_FUZZ_CASES", 2000);
    let seed = env_number("XTASK_FUZZ_SEED", 0x5eed);
    let started = Instant::now();
    let mut slowest = (Duration::ZERO, 0);
    for case in 0..cases {
        let mut rng = Rng::new(seed ^ case.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let (first, second) = (rng.below(seeds.len()), rng.below(seeds.len()));
        let input = mutator(&mut rng, &seeds[first], &seeds[second]);
        let began = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| check(&input)));
        let crashed = result.is_err();
        if let Ok(Some(outcome)) = result {
            *outcomes.entry(format!("{outcome:?}")).or_insert(0) += 1;
        }
        let slow = budget.filter(|budget| began.elapsed() > *budget);
        if let Some(budget) = slow {
            eprintln!("{target}: case {case} took {:.1?}, over its budget of {budget:?}", began.elapsed());
        }
        if crashed || slow.is_some() {
            let dir = repo().join("target/fuzz-failures");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{target}-seed{seed}-case{case}"));
            std::fs::write(&file, &input).unwrap();
            panic!("{target}: case {case} of seed {seed} failed (see above); input saved to {file}");
        }
        slowest = slowest.max((began.elapsed(), case));
    }
    eprintln!(
        "{target}: {cases} cases from {} seeds in {:.1?}, no failure; slowest case {} took {:.1?}{}",
        seeds.len(),
        started.elapsed(),
        slowest.1,
        slowest.0,
        if outcomes.is_empty() { String::new() } else { format!("; {outcomes:?}") }
    );
    outcomes
}

/// A mutation that keeps TOML's shape: a value replaced by one of the same kind, a line
/// dropped or repeated. Half of the image.toml cases are these, so that a good share stays
/// valid and reaches the planner, whose invariants are what is checked there.
/// `valid` are the seeds that plan as they are (the corpus holds bad-input cases and
/// workspace manifests too): the gentle half starts from one of those.
fn mutate_gently(rng: &mut Rng, seed: &[u8], other: &[u8], valid: &[Vec<u8>]) -> Vec<u8> {
    if rng.below(2) == 0 || valid.is_empty() {
        return mutate(rng, seed, other);
    }
    let text = String::from_utf8_lossy(&valid[rng.below(valid.len())]);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Up to two edits; none at all now and then, which keeps a valid seed valid.
    for _ in 0..rng.below(3) {
        if lines.is_empty() {
            break;
        }
        let at = rng.below(lines.len());
        let Some((key, value)) = lines[at].split_once(" = ").map(|(k, v)| (k.to_string(), v.trim().to_string())) else {
            continue;
        };
        let replaced = match value.chars().next() {
            Some('"') => format!("{:?}", rng.pick(STRINGS)),
            Some('[') if !value.contains('{') => {
                let items: Vec<String> = (0..rng.below(3)).map(|_| format!("{:?}", rng.pick(STRINGS))).collect();
                format!("[{}]", items.join(", "))
            }
            Some('t' | 'f') => rng.pick(&["true", "false"]).to_string(),
            Some(c) if c.is_ascii_digit() => (rng.below(1000)).to_string(),
            _ => value.clone(),
        };
        match rng.below(4) {
            0 => {
                lines.remove(at);
            }
            1 => {
                let line = lines[at].clone();
                lines.insert(at, line);
            }
            _ => lines[at] = format!("{key} = {replaced}"),
        }
    }
    let mut data = lines.join("\n").into_bytes();
    data.push(b'\n');
    data
}

#[test]
fn image_toml_parser_survives_generated_inputs() {
    let mut seeds = Vec::new();
    files(&repo().join("images"), &|name| name.ends_with(".toml"), &mut seeds);
    files(&repo().join("xtask/tests"), &|name| name.ends_with(".toml"), &mut seeds);
    seeds.push(std::fs::read(repo().join("Cargo.toml")).unwrap());
    let valid: Vec<Vec<u8>> =
        seeds.iter().filter(|s| fuzz_checks::image_toml_outcome(s) == Outcome::Planned).cloned().collect();
    let outcomes = fuzz_counting(
        "image_toml",
        &seeds,
        &|data| Some(fuzz_checks::image_toml_outcome(data)),
        None,
        &|rng, seed, other| mutate_gently(rng, seed, other, &valid),
    );
    // Enough of the corpus must be valid for the planner's invariants to be exercised.
    let cases: u64 = outcomes.values().sum();
    let planned = outcomes.get("Planned").copied().unwrap_or(0);
    assert!(cases == 0 || planned * 4 >= cases, "only {planned} of {cases} cases were valid definitions: {outcomes:?}");
}

#[test]
fn dockerfile_parser_survives_generated_inputs() {
    let mut seeds = Vec::new();
    files(&repo().join("images"), &|name| name.starts_with("Dockerfile"), &mut seeds);
    files(&repo().join("xtask/tests"), &|name| name.starts_with("Dockerfile") || name == ".dockerignore", &mut seeds);
    fuzz("dockerfile", &seeds, fuzz_checks::dockerfile);
}

/// What a registry sends, as `fuzz_checks::registry` reads it: a selector byte, then the reply.
fn registry_seeds() -> Vec<Vec<u8>> {
    let digest = format!("sha256:{}", "a".repeat(64));
    let entry = |arch: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":528,"platform":{{"architecture":"{arch}","os":"linux"}}}}"#
        )
    };
    let attestation = format!(
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":5,"platform":{{"architecture":"unknown","os":"unknown"}},"annotations":{{"vnd.docker.reference.type":"attestation-manifest"}}}}"#
    );
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{},{},{attestation}]}}"#,
        entry("amd64"),
        entry("arm64")
    );
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{}]}}"#,
        entry("arm")
    );
    let image = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{digest}","size":10}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{digest}","size":99}}]}}"#
    );
    let seeds: Vec<(u8, String)> = vec![
        (0, format!("application/vnd.oci.image.index.v1+json\n{index}")),
        (0, format!("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8\n{list}")),
        (0, format!("application/vnd.oci.image.manifest.v1+json\n{image}")),
        (0, format!("\n{image}")),
        (1, r#"{"os":"linux","architecture":"arm","variant":"v7","config":{"Labels":{"a":"1","b":2}}}"#.into()),
        (1, r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.into()),
        (2, r#"Bearer realm="https://auth.example.test/token",service="registry.example.test",scope="repository:a/b:pull,push""#.into()),
        (2, r#"Negotiate, Basic realm="r", Bearer realm="x""#.into()),
        (2, r#"bearer  Realm = https://auth.example.test/token , scope="repository:a\"b:pull""#.into()),
        (3, r#"</v2/app/tags/list?n=2&last=b>; rel="next""#.into()),
        (3, r#"<https://r.example.test/v2/a/tags/list?last=x>; rel=prev, <https://r.example.test/v2/a/tags/list?last=y>;rel="next""#.into()),
        (4, r#"{"token":"t1","expires_in":300,"issued_at":"2026-01-01T00:00:00Z"}"#.into()),
        (4, r#"{"access_token":"t2","refresh_token":"r"}"#.into()),
        (5, r#"{"name":"app","tags":["latest","1.2.3","../../v2/_catalog?","x#frag"]}"#.into()),
        (5, r#"{"name":"app","tags":null}"#.into()),
    ];
    seeds.into_iter().map(|(which, text)| [vec![which], text.into_bytes()].concat()).collect()
}

/// The registry client's parsers over mutated replies: no panic, what they accept is what the
/// client relies on, and no case takes more than a second (the largest is 64 KiB).
#[test]
fn registry_reply_parsers_survive_generated_inputs() {
    fuzz_within("registry", &registry_seeds(), fuzz_checks::registry, Some(Duration::from_secs(1)));
}
