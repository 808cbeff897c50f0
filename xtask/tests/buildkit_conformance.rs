//! The Dockerfile parser and word lexer against BuildKit's own test data, case for case: the
//! parser's `testfiles` (each Dockerfile's AST dump must equal its `result`), the
//! `testfiles-negative` (each must fail), `testfile-line`, the shell lexer's `envVarTest` and
//! `wordsTest`, and `cases.json` (the heredoc, directive and parser cases BuildKit's Go tests
//! write inline). The data is read at test time from `../shared/conformance/buildkit` beside
//! the repository (or `$XTASK_SHARED_DIR/conformance/buildkit`); without it the test says so
//! loudly and passes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use xtask::core::dockerfile::directives::{self, DirectiveParser};
use xtask::core::dockerfile::heredoc::{heredocs_from_line, parse_heredoc};
use xtask::core::dockerfile::lexer::Lexer;
use xtask::core::dockerfile::{dump, nodes, parse};

fn data_dir() -> Option<PathBuf> {
    let shared = match std::env::var_os("XTASK_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    };
    let dir = shared.join("conformance/buildkit");
    dir.join("cases.json").is_file().then_some(dir)
}

/// Cases where `cases.json` lists what BuildKit's Go test declares but never checks, and
/// BuildKit's code at that commit does otherwise. Each must still disagree with the data (so
/// a corrected data set, or a change here, shows up), and the parser follows BuildKit's code.
const ERRATA: &[(&str, &str)] = &[(
    "heredocs from line \"RUN <<- EOF\"",
    "TestHeredocsFromLine only compares the heredocs it finds, and lex.go keeps only blanks \
     with `<<` (not `<<-`), so `<<-` and `EOF` are two words and the line opens no heredoc",
)];

/// Every comparison, named, with what was expected and what was found when they differ.
#[derive(Default)]
struct Tally {
    cases: usize,
    failures: Vec<String>,
    errata: Vec<String>,
}

impl Tally {
    fn check(&mut self, name: impl Into<String>, agree: bool, detail: impl FnOnce() -> String) {
        self.cases += 1;
        let name = name.into();
        match ERRATA.iter().find(|(n, _)| *n == name) {
            Some((_, why)) if !agree => self.errata.push(format!("{name}: {why}")),
            Some(_) => self.failures.push(format!("{name}: listed in ERRATA but agrees with the data now")),
            None if !agree => self.failures.push(format!("{name}: {}", detail())),
            None => {}
        }
    }

    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, name: impl Into<String>, expected: T, found: T) {
        let agree = expected == found;
        self.check(name, agree, || format!("expected {expected:?}, found {found:?}"));
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn dirs(path: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

fn parser_testfiles(dir: &Path, tally: &mut Tally) {
    for case in dirs(&dir.join("parser/testfiles")) {
        let name = format!("testfiles/{}", case.file_name().unwrap().to_string_lossy());
        let doc = parse(&read(&case.join("Dockerfile")));
        let expected = read(&case.join("result"));
        match &doc.error {
            Some(error) => {
                tally.check(name, false, || format!("unexpected error at line {}: {}", error.line, error.message))
            }
            None => tally.eq(name, expected, dump(&doc) + "\n"),
        }
    }
    for case in dirs(&dir.join("parser/testfiles-negative")) {
        let name = format!("testfiles-negative/{}", case.file_name().unwrap().to_string_lossy());
        let doc = parse(&read(&case.join("Dockerfile")));
        tally.check(name, doc.error.is_some(), || format!("accepted, as {:?}", dump(&doc)));
    }
}

fn env_var_test(dir: &Path, tally: &mut Tally) {
    let env = BTreeMap::from([("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")]);
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    for (number, line) in read(&dir.join("shell/envVarTest")).lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.trim().split('|').collect();
        assert_eq!(parts.len(), 3, "envVarTest line {}", number + 1);
        let (platform, source, expected) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
        if platform == "W" {
            continue;
        }
        let got = Lexer::default().process(source, &lookup);
        let name = format!("envVarTest:{} {source:?}", number + 1);
        match got {
            Ok(p) if expected != "error" => tally.eq(name, expected.to_string(), p.text),
            Ok(p) => tally.check(name, false, || format!("expected an error, found {:?}", p.text)),
            Err(e) => tally.check(name, expected == "error", || format!("expected {expected:?}, found error {e}")),
        }
    }
}

fn words_test(dir: &Path, tally: &mut Tally) {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (number, line) in read(&dir.join("shell/wordsTest")).lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            let (k, v) = rest.trim_start_matches(' ').split_once('=').unwrap();
            env.insert(k.to_string(), v.to_string());
            continue;
        }
        let (test, expected) = line.split_once('|').unwrap();
        let expected: Vec<String> = expected.trim_start_matches(' ').split(',').map(str::to_string).collect();
        let lookup = |name: &str| env.get(name).cloned();
        let got = match Lexer::default().process(test.trim(), &lookup) {
            Ok(p) => p.words,
            Err(_) => vec!["error".to_string()],
        };
        tally.eq(format!("wordsTest:{} {:?}", number + 1, test.trim()), expected, got);
    }
}

fn heredoc_cases(cases: &Value, tally: &mut Tally) {
    let extracts = &cases["heredoc"]["extracts"];
    let doc = parse(extracts["dockerfile"].as_str().unwrap());
    let offset = extracts["child_offset"].as_u64().unwrap() as usize;
    tally.check("heredoc extracts: parses", doc.error.is_none(), || format!("{:?}", doc.error));
    for (i, expected) in extracts["expected"].as_array().unwrap().iter().enumerate() {
        let found: Vec<Value> = doc.instructions.get(i + offset).map_or(Vec::new(), |child| {
            child
                .heredocs
                .iter()
                .map(|h| {
                    serde_json::json!({"name": h.name, "content": h.content, "expand": h.expand, "chomp": h.chomp, "fd": h.fd})
                })
                .collect()
        });
        let expected = expected.as_array().cloned().unwrap_or_default();
        tally.eq(format!("heredoc extracts: child {}", i + offset), expected, found);
    }
    let json = &cases["heredoc"]["json"];
    let doc = parse(json["dockerfile"].as_str().unwrap());
    for child in json["children"].as_array().unwrap() {
        let i = child.as_u64().unwrap() as usize;
        let heredocs = doc.instructions.get(i).map(|c| c.heredocs.len());
        tally.eq(format!("heredoc json: child {i}"), Some(0), heredocs);
    }
    let helpers = &cases["heredoc"]["helpers"];
    for word in helpers["valid"].as_array().unwrap() {
        let word = word.as_str().unwrap();
        let name = parse_heredoc(word).ok().flatten().map(|m| m.name);
        tally.eq(format!("heredoc helper valid {word:?}"), Some("EOF".to_string()), name);
    }
    for word in helpers["invalid"].as_array().unwrap() {
        let word = word.as_str().unwrap();
        tally.check(format!("heredoc helper invalid {word:?}"), parse_heredoc(word).is_err(), || "no error".into());
    }
    for word in helpers["not"].as_array().unwrap() {
        let word = word.as_str().unwrap();
        tally.eq(format!("heredoc helper not {word:?}"), Ok(None), parse_heredoc(word));
    }
    for case in cases["heredoc"]["from_line"]["cases"].as_array().unwrap() {
        let line = case["line"].as_str().unwrap();
        let expected: Vec<String> = serde_json::from_value(case["names"].clone()).unwrap();
        let found = heredocs_from_line(line).map(|m| m.into_iter().map(|m| m.name).collect::<Vec<_>>());
        tally.eq(format!("heredocs from line {line:?}"), Ok(expected), found);
    }
}

fn parser_cases(dir: &Path, cases: &Value, tally: &mut Tally) {
    let parser = &cases["parser"];
    for case in parser["parse_words"]["cases"].as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        let expected: Vec<String> = serde_json::from_value(case["expect"].clone()).unwrap();
        tally.eq(format!("parse words {input:?}"), expected, nodes::parse_words(input, '\\'));
    }
    let lines = &parser["line_numbers"];
    let doc = parse(&read(&dir.join("parser/testfile-line/Dockerfile")));
    let span = (doc.instructions.first().map(|i| i.line), doc.instructions.last().map(|i| i.end_line));
    let expected = (lines["start"].as_u64().map(|n| n as usize), lines["end"].as_u64().map(|n| n as usize));
    tally.eq("testfile-line: the file's lines", expected, span);
    for (i, child) in lines["children"].as_array().unwrap().iter().enumerate() {
        let expected: (usize, usize) = serde_json::from_value(child.clone()).unwrap();
        let found = doc.instructions.get(i).map(|c| (c.line, c.end_line));
        tally.eq(format!("testfile-line: child {i}"), Some(expected), found);
    }
    let empty = &parser["empty_continuation"];
    let doc = parse(empty["dockerfile"].as_str().unwrap());
    let warned: Vec<String> =
        doc.instructions.iter().filter(|i| i.empty_continuation).map(|i| i.original.clone()).collect();
    tally.eq("empty continuation: warnings", empty["warnings"].as_u64().unwrap() as usize, warned.len());
    for (i, joined) in empty["joined"].as_array().unwrap().iter().enumerate() {
        let joined = joined.as_str().unwrap();
        let agree = warned.get(i).is_some_and(|w| w.contains(joined));
        tally.check(format!("empty continuation: {joined:?}"), agree, || format!("warned about {warned:?}"));
    }
    let limit = &parser["scanner_limit"];
    let fill = "a".repeat(limit["fill"].as_u64().unwrap() as usize);
    let doc = parse(&limit["template"].as_str().unwrap().replace("%s", &fill));
    tally.eq("scanner limit", limit["error"].as_str().map(str::to_string), doc.error.map(|e| e.message));
}

fn directive_cases(cases: &Value, tally: &mut Tally) {
    for case in cases["directives"]["cases"].as_array().unwrap() {
        let name = case["source"].as_str().unwrap().to_string();
        let text = case["text"].as_str().unwrap();
        match case["call"].as_str().unwrap() {
            "ParseAll" => {
                let (found, error) = DirectiveParser::new("#", 0).parse_all(text);
                let found: Vec<(String, String)> = found.into_iter().map(|d| (d.name, d.value)).collect();
                let expected: Vec<(String, String)> = serde_json::from_value(case["directives"].clone()).unwrap();
                tally.eq(name.clone(), case["len"].as_u64().map(|n| n as usize), Some(found.len()));
                tally.eq(name, (expected, None), (found, error));
            }
            call => {
                let key = case["key"].as_str().unwrap();
                let found = directives::find(key, text, call == "DetectSyntax");
                let ok = case["ok"].as_bool().unwrap();
                let mut agree = found.is_some() == ok;
                if let Some(d) = found.as_ref().filter(|_| ok) {
                    agree &= case["ref"].as_str().is_none_or(|r| r == directives::first_word(&d.value));
                    agree &= case["cmdline"].as_str().is_none_or(|c| c == d.value);
                    agree &= case["line"].as_u64().is_none_or(|l| l as usize == d.line);
                }
                tally.check(name, agree, || format!("expected {case}, found {found:?}"));
            }
        }
    }
}

#[test]
fn buildkit_conformance() {
    let Some(dir) = data_dir() else {
        eprintln!("\n!!!!!!!!\nbuildkit conformance: SKIPPED, no BuildKit test data at ../shared/conformance/buildkit beside the repository (or $XTASK_SHARED_DIR/conformance/buildkit)\n!!!!!!!!\n");
        return;
    };
    let cases: Value = serde_json::from_str(&read(&dir.join("cases.json"))).unwrap();
    let mut tally = Tally::default();
    parser_testfiles(&dir, &mut tally);
    env_var_test(&dir, &mut tally);
    words_test(&dir, &mut tally);
    heredoc_cases(&cases, &mut tally);
    parser_cases(&dir, &cases, &mut tally);
    directive_cases(&cases, &mut tally);
    let commit = cases["buildkit_commit"].as_str().unwrap_or("unknown");
    println!(
        "buildkit conformance: {} cases, {} agree (BuildKit {}…), {} where the data contradicts BuildKit's code:",
        tally.cases,
        tally.cases - tally.failures.len() - tally.errata.len(),
        &commit[..commit.len().min(12)],
        tally.errata.len()
    );
    for erratum in &tally.errata {
        println!("  {erratum}");
    }
    assert!(tally.failures.is_empty(), "{} disagreements:\n{}", tally.failures.len(), tally.failures.join("\n"));
}
