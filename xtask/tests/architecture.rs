//! Architecture checks in the spirit of rust-analyzer's `tidy.rs`: read every
//! `.rs` file under `src/` and fail with the full list of layering violations.
//!
//! A file's layer is its first path component under `src/` (`core/plan.rs` and
//! `core/definitions/mod.rs` are `core`; `lib.rs` and `main.rs` are `root`).
//! The checks are pure functions over `(relative_path, text)` pairs, so the
//! tests at the bottom plant violations in fixtures to prove each rule fires.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::Path;

/// The layers each layer may reference besides itself. `core` is the pure
/// model (data in, data out), `oci` the leaf vocabulary under it, `sys` the
/// host and network edge, `ops` the workflows over them, `cli` flags and
/// output, `commands` the entry points; only `commands` and the binary sit on top.
const ALLOWED: &[(&str, &[&str])] = &[
    ("root", &["cli", "commands"]),
    ("commands", &["ops", "core", "sys", "oci", "cli"]),
    ("ops", &["core", "sys", "oci"]),
    ("sys", &["core", "oci"]),
    ("cli", &["core", "oci"]),
    ("core", &["oci"]),
    ("oci", &[]),
];

/// Paths that mean files, processes, environment, network or the clock: `core`
/// and `oci` must not use them outside tests, so they stay testable on data alone.
/// A path must start with one of `IMPURE`; `IMPURE_ANYWHERE` may occur anywhere in
/// it (`std::time::Instant::now`, or `Instant::now` after a `use`; `UNIX_EPOCH.elapsed()`;
/// `crate::stdio`, which writes to the terminal).
const IMPURE: &[&str] = &["std::process", "std::fs", "std::env", "std::net", "duct", "xshell", "ureq"];
const IMPURE_ANYWHERE: &[&str] = &["SystemTime::now", "Instant::now", "UNIX_EPOCH", "thread::sleep", "stdio"];

/// Longest a file may be before its tests: past that it holds several concerns.
const MAX_LINES: usize = 800;

/// What each rule means, in the order the report lists them.
const RULES: &[(&str, &str)] = &[
    ("layers", "imports against the allowed directions (see ALLOWED)"),
    ("commands", "a command importing another command (shared code belongs in ops/ or core/)"),
    ("purity", "I/O, processes, env, network or clock in core/ or oci/ outside tests"),
    ("cycles", "cycles between top-level modules"),
    ("size", "files longer than 800 lines before their first #[cfg(test)]"),
];

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    rule: &'static str,
    file: String,
    line: usize,
    message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}", self.message),
            line => write!(f, "{}:{line}: {}", self.file, self.message),
        }
    }
}

/// Runs every rule over the given `(path relative to src/, text)` pairs.
fn check(files: &[(String, String)]) -> Vec<Violation> {
    let commands: BTreeSet<&str> = files.iter().filter_map(|(p, _)| command_of(p)).collect();
    let mut found = Vec::new();
    // Layer -> layer edges, each with the first place it was seen, for the cycle check.
    let mut edges = Edges::new();
    let mut push = |rule, file: &str, line, message| {
        found.push(Violation { rule, file: file.to_string(), line, message });
    };
    for (path, text) in files {
        let code = blank(text);
        let layer = layer_of(path);
        let before_tests = code.lines().position(|l| l.trim_start().starts_with("#[cfg(test)]"));
        let lines = before_tests.unwrap_or_else(|| code.lines().count());
        if lines > MAX_LINES {
            let what = if before_tests.is_some() { " before its first #[cfg(test)]" } else { "" };
            push("size", path, MAX_LINES + 1, format!("{lines} lines{what} (limit {MAX_LINES})"));
        }
        for r in refs(&tokens(&code), &module_of(path)) {
            let joined = r.path.join("::");
            let shown = joined.strip_suffix("::self").unwrap_or(&joined);
            if matches!(layer, "core" | "oci") && r.line <= lines {
                if let Some(pattern) = impure(&r.path) {
                    push("purity", path, r.line, format!("{layer} must not use `{pattern}`: `{shown}`"));
                }
            }
            let Some(target) = resolve(&r, path == "main.rs") else { continue };
            let Some(to) = target.first().map(String::as_str).filter(|t| is_layer(t)) else { continue };
            if to != layer {
                edges.entry((layer.to_string(), to.to_string())).or_insert((path.clone(), r.line));
                if !allowed(layer, to) {
                    push("layers", path, r.line, format!("{layer} must not import {to}: `{shown}`"));
                }
            } else if let (Some(own), Some(other)) = (command_of(path), target.get(1)) {
                if other != own && commands.contains(other.as_str()) {
                    push("commands", path, r.line, format!("{own} must not import commands::{other}: `{shown}`"));
                }
            }
        }
    }
    found.extend(cycles(&edges));
    found.sort();
    found
}

fn is_layer(name: &str) -> bool {
    ALLOWED.iter().any(|(l, _)| *l == name && name != "root")
}

fn allowed(from: &str, to: &str) -> bool {
    ALLOWED.iter().any(|(l, targets)| *l == from && targets.contains(&to))
}

/// `core/plan.rs` -> core; `lib.rs` -> root.
fn layer_of(path: &str) -> &str {
    path.split_once('/').map_or("root", |(first, _)| first)
}

/// The module path a file defines: `core/definitions/mod.rs` -> [core, definitions].
fn module_of(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = path.trim_end_matches(".rs").split('/').map(String::from).collect();
    let last = parts.last().map(String::as_str);
    if last == Some("mod") || (parts.len() == 1 && matches!(last, Some("lib" | "main"))) {
        parts.pop();
    }
    parts
}

/// The command a file belongs to (`commands/scan.rs` -> scan); None for commands/mod.rs,
/// which wires the commands together and may name them all.
fn command_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("commands/")?;
    let name = rest.split('/').next()?.trim_end_matches(".rs");
    (name != "mod").then_some(name)
}

/// Which `IMPURE` or `IMPURE_ANYWHERE` pattern a path matches, if any.
fn impure(path: &[String]) -> Option<&'static str> {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let matches = |pat: &str, anywhere: bool| {
        let pat: Vec<&str> = pat.split("::").collect();
        if anywhere {
            path.windows(pat.len()).any(|w| w == pat)
        } else {
            path.starts_with(&pat)
        }
    };
    let prefix = IMPURE.iter().find(|pat| matches(pat, false));
    prefix.or_else(|| IMPURE_ANYWHERE.iter().find(|pat| matches(pat, true))).copied()
}

/// Replaces comments and string/char literals with spaces, keeping newlines, so
/// that `crate::sys` in a doc comment or a fixture string is not a reference.
fn blank(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let mut out = c.clone();
    let mut i = 0;
    while i < c.len() {
        let end = if at(i) == '/' && at(i + 1) == '/' {
            (i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len())
        } else if at(i) == '/' && at(i + 1) == '*' {
            let (mut k, mut depth) = (i, 0);
            while k < c.len() {
                match (c[k], at(k + 1)) {
                    ('/', '*') => (depth, k) = (depth + 1, k + 2),
                    ('*', '/') => (depth, k) = (depth - 1, k + 2),
                    _ => k += 1,
                }
                if depth == 0 {
                    break;
                }
            }
            k
        } else if at(i) == '\'' && at(i + 1) == '\\' {
            // '\n', '\'', '\u{1F600}': skip the escaped char, then up to the closing quote.
            (i + 3..c.len()).find(|&k| c[k] == '\'').map_or(c.len(), |k| k + 1)
        } else if at(i) == '\'' && at(i + 2) == '\'' {
            i + 3 // 'x'; anything else after a quote is a lifetime or label ('a, 'static)
        } else if let Some(end) = string_end(&c, i) {
            end
        } else {
            i += 1;
            continue;
        };
        for ch in &mut out[i..end.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end;
    }
    out.into_iter().collect()
}

/// If a string literal starts at `i` ("", b"", c"", r"", r#""#, br#""#), where it ends.
fn string_end(c: &[char], i: usize) -> Option<usize> {
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    if c[i] != '"' && i > 0 && is_ident(c[i - 1]) {
        return None;
    }
    let mut j = i + usize::from(matches!(c[i], 'b' | 'c'));
    let raw = c.get(j) == Some(&'r');
    j += usize::from(raw);
    let hashes = if raw { c[j..].iter().take_while(|&&h| h == '#').count() } else { 0 };
    j += hashes;
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if !raw && c[j] == '\\' {
            j += 2;
        } else if c[j] == '"' && c[j + 1..].iter().take(hashes).filter(|&&h| h == '#').count() == hashes {
            return Some(j + 1 + hashes);
        } else {
            j += 1;
        }
    }
    Some(c.len())
}

struct Tok {
    text: String,
    line: usize,
}

/// Words, `::`, `..` and single punctuation characters, each with its line.
fn tokens(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    while i < c.len() {
        let start = i;
        if c[i].is_alphanumeric() || c[i] == '_' {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            i += 2;
        } else if c[i] == '.' && c.get(i + 1) == Some(&'.') {
            // A range (`..crate::x()`), so the next word is not a field access.
            while i < c.len() && c[i] == '.' {
                i += 1;
            }
        } else {
            line += usize::from(c[i] == '\n');
            i += 1;
            if c[start].is_whitespace() {
                continue;
            }
        }
        out.push(Tok { text: c[start..i].iter().collect(), line });
    }
    out
}

/// A path as written, with its line and the module it appears in (the file's
/// module plus any inline `mod x { ... }` around it).
struct Ref {
    line: usize,
    path: Vec<String>,
    module: Vec<String>,
}

fn is_word(s: &str) -> bool {
    s.starts_with(|ch: char| ch.is_alphabetic() || ch == '_')
}

/// Every path in the code, with use-tree groups expanded: `use crate::{core::plan,
/// sys::{git, apt}}` yields three paths, each on the line of its last segment.
fn refs(toks: &[Tok], file_module: &[String]) -> Vec<Ref> {
    let (mut out, mut mods, mut depth, mut i) = (Vec::new(), Vec::<(String, usize)>::new(), 0, 0);
    while i < toks.len() {
        let t = toks[i].text.as_str();
        let prev = |k: usize| i.checked_sub(k).map_or("", |p| toks[p].text.as_str());
        // `::std::fs` is a path start; `a::b` and `x.b` continue something else.
        let starts = is_word(t) && prev(1) != "." && (prev(1) != "::" || !(is_word(prev(2)) || prev(2) == ">"));
        if t == "{" {
            depth += 1;
            if prev(2) == "mod" && is_word(prev(1)) {
                mods.push((prev(1).to_string(), depth));
            }
        } else if t == "}" {
            mods.retain(|(_, d)| *d < depth);
            depth = depth.saturating_sub(1);
        } else if starts {
            let mut paths = Vec::new();
            let next = expand(toks, i, Vec::new(), &mut paths);
            let module: Vec<String> = file_module.iter().cloned().chain(mods.iter().map(|(m, _)| m.clone())).collect();
            out.extend(paths.into_iter().map(|(line, path)| Ref { line, path, module: module.clone() }));
            i = next.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

/// Parses the path or use tree at `i` under `prefix`; returns the index after it.
fn expand(toks: &[Tok], mut i: usize, mut prefix: Vec<String>, out: &mut Vec<(usize, Vec<String>)>) -> usize {
    let text = |k: usize| toks.get(k).map_or("", |t| t.text.as_str());
    match text(i) {
        "{" => {
            i += 1;
            while i < toks.len() {
                match text(i) {
                    "}" => return i + 1,
                    "," => i += 1,
                    _ => match expand(toks, i, prefix.clone(), out) {
                        next if next == i => return i,
                        next => i = next,
                    },
                }
            }
            i
        }
        "*" => {
            prefix.push("*".into());
            out.push((toks[i].line, prefix));
            i + 1
        }
        word if is_word(word) => {
            prefix.push(word.to_string());
            let follows = text(i + 2);
            if text(i + 1) == "::" && (is_word(follows) || follows == "{" || follows == "*") {
                return expand(toks, i + 2, prefix, out);
            }
            out.push((toks[i].line, prefix));
            let alias = if text(i + 1) == "as" { 2 } else { 0 };
            i + 1 + alias
        }
        _ => i,
    }
}

/// The crate-root path a `crate::`, `super::` or `self::` path names, resolved like
/// rustc (`super` from `core/definitions/x.rs` is `core::definitions`). In main.rs
/// the library is `xtask::`. None for std, other crates and local names.
fn resolve(r: &Ref, in_bin: bool) -> Option<Vec<String>> {
    let (first, rest) = r.path.split_first()?;
    match first.as_str() {
        "crate" if !in_bin => Some(rest.to_vec()),
        "xtask" if in_bin => Some(rest.to_vec()),
        "super" | "self" => {
            let mut module = r.module.clone();
            let mut segs = r.path.iter().peekable();
            while let Some(s) = segs.next_if(|s| *s == "super" || *s == "self") {
                if s == "super" {
                    module.pop()?;
                }
            }
            module.extend(segs.cloned());
            Some(module)
        }
        _ => None,
    }
}

/// Every cycle through a layer not yet reported (a shortest one), with where each
/// edge comes from, so it can be cut at the cheapest edge.
fn cycles(edges: &Edges) -> Vec<Violation> {
    let (mut done, mut found) = (BTreeSet::new(), Vec::new());
    for (n, _) in edges.keys() {
        let pred = reach(edges, n);
        if done.contains(n) || !pred.contains_key(n.as_str()) {
            continue;
        }
        // Walk the predecessors back from n to n.
        let (mut cycle, mut at) = (vec![n.as_str()], pred[n.as_str()]);
        while at != n {
            cycle.insert(0, at);
            at = pred[at];
        }
        cycle.insert(0, n);
        let via: Vec<String> = cycle
            .windows(2)
            .map(|w| edges[&(w[0].to_string(), w[1].to_string())].clone())
            .map(|(f, l)| format!("{f}:{l}"))
            .collect();
        let message = format!("cycle {} (via {})", cycle.join(" -> "), via.join(", "));
        found.push(Violation { rule: "cycles", file: String::new(), line: 0, message });
        done.extend(cycle.into_iter().map(String::from));
    }
    found
}

type Edges = BTreeMap<(String, String), (String, usize)>;

/// Breadth-first from `from`: each layer reached, with its predecessor.
fn reach<'e>(edges: &'e Edges, from: &'e str) -> BTreeMap<&'e str, &'e str> {
    let (mut pred, mut queue) = (BTreeMap::new(), VecDeque::from([from]));
    while let Some(n) = queue.pop_front() {
        for (_, m) in edges.keys().filter(|(a, _)| a == n) {
            if !pred.contains_key(m.as_str()) {
                pred.insert(m.as_str(), n);
                queue.push_back(m.as_str());
            }
        }
    }
    pred
}

/// The real tree: every `.rs` file under `src/`, all rules, one report.
#[test]
fn layers_and_limits() {
    fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                collect(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &src, &mut files);
    assert!(files.len() > 1, "no sources found under {}", src.display());
    let found = check(&files);
    let mut report = format!("{} architecture violations under {}:\n", found.len(), src.display());
    for (rule, meaning) in RULES {
        let hits: Vec<String> = found.iter().filter(|v| v.rule == *rule).map(|v| format!("  {v}")).collect();
        if !hits.is_empty() {
            report += &format!("\n[{rule}] {} {meaning}:\n{}\n", hits.len(), hits.join("\n"));
        }
    }
    assert!(found.is_empty(), "{report}");
}

/// Checks fixture files and compares `rule: file:line: message` for each violation
/// with the lines of `expected` (in any order, leading whitespace ignored).
fn fires(files: &[(&str, &str)], expected: &str) {
    let files: Vec<(String, String)> = files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
    let mut found: Vec<String> = check(&files).iter().map(|v| format!("{}: {v}", v.rule)).collect();
    let mut expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn forbidden_imports_fire_in_every_form() {
    let plan = r#"fn f<'a>(x: &'a str) -> &'a str { x }
use crate::sys::git;
use crate::{core::tags, sys::{apt, git as g}};
use crate::{
    oci::reference,
    cli::output::{self, table},
};
fn g() { let _ = crate::ops::build::run(); }
#[cfg(test)]
mod tests {
    use super::super::super::sys::x;
}"#;
    fires(
        &[("core/plan.rs", plan)],
        "
        layers: core/plan.rs:2: core must not import sys: `crate::sys::git`
        layers: core/plan.rs:3: core must not import sys: `crate::sys::apt`
        layers: core/plan.rs:3: core must not import sys: `crate::sys::git`
        layers: core/plan.rs:6: core must not import cli: `crate::cli::output`
        layers: core/plan.rs:6: core must not import cli: `crate::cli::output::table`
        layers: core/plan.rs:8: core must not import ops: `crate::ops::build::run`
        layers: core/plan.rs:11: core must not import sys: `super::super::super::sys::x`",
    );
    // `super` resolves like rustc: two levels up from core/definitions/x.rs is still `core`.
    let x = "use super::super::super::sys::a;\nuse super::super::sys::b;";
    fires(
        &[("core/definitions/x.rs", x)],
        "layers: core/definitions/x.rs:1: core must not import sys: `super::super::super::sys::a`",
    );
    fires(
        &[("oci/x.rs", "use crate::core::tags;")],
        "layers: oci/x.rs:1: oci must not import core: `crate::core::tags`",
    );
    let main = "use xtask::sys::ws;\nfn main() { xtask::commands::ci::run(); }";
    fires(&[("main.rs", main)], "layers: main.rs:1: root must not import sys: `xtask::sys::ws`");
}

#[test]
fn commands_do_not_import_each_other() {
    let plan = "fn run() { crate::commands::build::run(); super::build::helper(); crate::commands::plan::x(); }";
    let wiring = "pub mod build;\npub mod plan;\nuse crate::commands::build;";
    fires(
        &[("commands/mod.rs", wiring), ("commands/build.rs", ""), ("commands/plan.rs", plan)],
        "
        commands: commands/plan.rs:1: plan must not import commands::build: `crate::commands::build::run`
        commands: commands/plan.rs:1: plan must not import commands::build: `super::build::helper`",
    );
}

#[test]
fn impure_paths_fire_in_core_and_oci() {
    let x = r#"fn f() { std::fs::read("x"); }
use std::{env, io::Write, process::Command, time::{Instant, SystemTime}};
fn g() { let _ = Instant::now(); std::thread::sleep(d); duct::cmd!("ls"); }"#;
    fires(
        &[("oci/x.rs", x)],
        "
        purity: oci/x.rs:1: oci must not use `std::fs`: `std::fs::read`
        purity: oci/x.rs:2: oci must not use `std::env`: `std::env`
        purity: oci/x.rs:2: oci must not use `std::process`: `std::process::Command`
        purity: oci/x.rs:3: oci must not use `Instant::now`: `Instant::now`
        purity: oci/x.rs:3: oci must not use `duct`: `duct::cmd`
        purity: oci/x.rs:3: oci must not use `thread::sleep`: `std::thread::sleep`",
    );
    fires(&[("sys/x.rs", x)], ""); // sys is where I/O belongs
}

#[test]
fn the_clock_and_the_terminal_fire_in_core() {
    let x = "fn f() -> u64 { std::time::UNIX_EPOCH.elapsed().unwrap().as_secs() }\nfn g() { crate::stdio::stdout(format_args!(\"x\")); }";
    fires(
        &[("core/x.rs", x)],
        "
        purity: core/x.rs:1: core must not use `UNIX_EPOCH`: `std::time::UNIX_EPOCH`
        purity: core/x.rs:2: core must not use `stdio`: `crate::stdio::stdout`",
    );
}

#[test]
fn clean_code_does_not_fire() {
    let plan = r##"//! crate::sys in an inner doc comment
/// crate::sys::git in a doc comment
// use crate::sys::git;
/* crate::sys /* nested */ crate::ops */
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use crate::oci::reference;
use crate::core::{self, tags};
const A: &str = "crate::sys::git \" std::fs";
const B: &str = r#"crate::sys "quoted" std::process"#;
const C: char = '"';
fn f<'a>(x: &'a str) -> &'a str { let _ = (b"crate::cli", '\'', "\\"); x }
#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    fn t() { std::fs::read("x").unwrap(); let _ = std::time::Instant::now(); }
}
"##;
    fires(
        &[("core/plan.rs", plan), ("lib.rs", "pub mod core;\npub struct Exit;"), ("core/x.rs", "use crate::Exit;")],
        "",
    );
}

#[test]
fn cycles_are_reported_with_their_edges() {
    let files = [("core/a.rs", "use crate::cli::flags;"), ("cli/flags.rs", "\nuse crate::core::a;"), ("oci/b.rs", "")];
    fires(
        &files,
        "
        layers: core/a.rs:1: core must not import cli: `crate::cli::flags`
        cycles: cycle cli -> core -> cli (via cli/flags.rs:2, core/a.rs:1)",
    );
    fires(&[("cli/flags.rs", "use crate::core::a;"), ("core/a.rs", "use crate::oci::b;")], "");
}

#[test]
fn long_files_fire_but_tests_do_not_count() {
    let long = "fn f() {}\n".repeat(MAX_LINES + 1);
    fires(&[("sys/x.rs", &long)], "size: sys/x.rs:801: 801 lines (limit 800)");
    let with_tests = format!("{}#[cfg(test)]\nmod tests {{\n{long}}}\n", "fn f() {}\n".repeat(MAX_LINES));
    fires(&[("sys/x.rs", &with_tests)], "");
    let late = format!("{long}#[cfg(test)]\nmod tests {{}}\n");
    fires(&[("sys/x.rs", &late)], "size: sys/x.rs:801: 801 lines before its first #[cfg(test)] (limit 800)");
}
