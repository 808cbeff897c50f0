//! Dockerfile parsing the way BuildKit reads it, measured against BuildKit's own test data
//! (`xtask/tests/buildkit_conformance.rs`): parser directives (`# syntax`, `# escape`, `# check`),
//! logical lines (continuations, comments and blank lines inside them), heredocs, `--flags`,
//! each instruction's arguments as BuildKit's line parsers split them, and word expansion
//! (`lexer`). `plan` uses it to find in-repo parents, `lint` to check the image policy, and both
//! refuse or report what BuildKit would reject (`Dockerfile::check`).

use std::cell::RefCell;
use std::collections::BTreeMap;

pub mod directives;
pub mod heredoc;
pub mod lexer;
pub mod nodes;
pub mod refs;

use lexer::Lexer;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives from the top of the file, keys lower-cased: `syntax`, `escape`, `check`.
    pub directives: Vec<(String, String)>,
    pub instructions: Vec<Instruction>,
    /// The escape character: `\`, or `` ` `` with `# escape=``.
    pub escape: char,
    /// The first error BuildKit's parser would stop at. The rest of the file is still read as
    /// well as it can be, so that lint sees it.
    pub error: Option<SyntaxError>,
    /// The frontend the `# syntax` directive names, options after it left out.
    pub syntax: Option<String>,
}

/// Something BuildKit rejects, with its wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based.
    pub line: usize,
    pub message: String,
    /// How to fix it, one line.
    pub hint: String,
}

/// One instruction, continuations joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: usize,
    /// 1-based line where it ends, heredoc bodies included.
    pub end_line: usize,
    /// Upper-cased: `FROM`, `RUN`, ...
    pub keyword: String,
    /// Leading `--name=value` flags in order; `value` is `None` for a bare `--link`.
    pub flags: Vec<Flag>,
    /// The flags as BuildKit keeps them, quotes removed: `--from=build`.
    pub raw_flags: Vec<String>,
    /// Everything after the keyword and flags.
    pub args: String,
    /// The argument nodes as BuildKit's parser leaves them: the exec form's elements, else
    /// words split at blanks (COPY, ADD, FROM, EXPOSE, VOLUME), name/value/separator triples
    /// (ENV, LABEL), quoted words (ARG), or the whole text (RUN, CMD, USER, ...).
    pub values: Vec<String>,
    /// The arguments were a JSON array.
    pub json: bool,
    /// ONBUILD's instruction.
    pub sub: Option<Box<Instruction>>,
    /// Bodies of `<<EOF` heredocs (RUN, COPY and ADD only), in the order they were opened.
    pub heredocs: Vec<Heredoc>,
    /// The logical line, continuations joined.
    pub original: String,
    /// A blank line sat inside the continuation (BuildKit warns).
    pub empty_continuation: bool,
    escape: char,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// The lines up to the terminator, each ending in `\n`; leading tabs removed for `<<-`.
    pub body: String,
    /// The lines as read, line endings and tabs kept (BuildKit's `Content`).
    pub content: String,
    /// No part of the name was quoted: the body is expanded.
    pub expand: bool,
    /// `<<-`.
    pub chomp: bool,
    /// `3<<EOF`; 0 by default.
    pub fd: u32,
}

/// One `FROM` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// 1-based line where the instruction starts.
    pub line: usize,
    pub image: String,
    pub stage: Option<String>,
}

/// BuildKit reads lines through a scanner with a 64 KiB buffer.
const MAX_LINE: usize = 65_535;

/// How deep `ONBUILD ONBUILD ...` is parsed (BuildKit rejects any chaining).
const MAX_ONBUILD: usize = 4;

/// How to fix a word BuildKit cannot expand.
const WORD_HINT: &str = "close every quote and `${`, and use only `${VAR}`, `${VAR:-word}`, `${VAR:+word}`, `${VAR:?message}`, `${VAR#pattern}`, `${VAR%pattern}` or `${VAR/pattern/word}`; a literal `$` is `\\$`";

const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

struct Parser<'a> {
    lines: Vec<&'a str>,
    next: usize,
    directives: directives::DirectiveParser,
    found: Vec<(String, String)>,
    escape: char,
    error: Option<SyntaxError>,
}

/// Parses `text`. Never fails: the first thing BuildKit would reject is kept in `error` and the
/// rest is read as well as possible, so a linter can still look at it.
pub fn parse(text: &str) -> Dockerfile {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser {
        lines: text.split_inclusive('\n').collect(),
        next: 0,
        directives: directives::DirectiveParser::new("#", 0),
        found: Vec::new(),
        escape: '\\',
        error: None,
    };
    let mut instructions = Vec::new();
    while let Some(first) = parser.line() {
        let start = parser.next;
        let first = parser.process(first, true);
        let (head, mut more) = continued(&first, parser.escape);
        if !more && head.is_empty() {
            continue;
        }
        let mut logical = head.to_string();
        let mut empty_continuation = false;
        while more {
            let Some(raw) = parser.line() else { break };
            let line = parser.process(raw, false);
            if is_comment(raw) {
                continue;
            }
            if line.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (head, again) = continued(&line, parser.escape);
            logical.push_str(head);
            more = again;
        }
        let (mut instruction, error) = Instruction::from_line(start, &logical, parser.escape, 0);
        if let Some(message) = error {
            parser.fail(start, message, "fix the instruction's arguments");
        }
        instruction.empty_continuation = empty_continuation;
        if instruction.can_contain_heredoc() && logical.contains("<<") {
            match heredoc::heredocs_from_line(&logical) {
                Ok(markers) => {
                    for marker in markers {
                        let heredoc = parser.heredoc(marker, start);
                        instruction.heredocs.push(heredoc);
                    }
                }
                Err(message) => parser.fail(start, message, "balance the quotes of the heredoc's name"),
            }
        }
        instruction.end_line = parser.next;
        if !instruction.keyword.is_empty() {
            instructions.push(instruction);
        }
    }
    if instructions.is_empty() {
        let line = parser.lines.len().max(1);
        parser.fail(line, "file with no instructions".into(), "a Dockerfile needs at least a FROM instruction");
    }
    let syntax = directives::find("syntax", text, true).map(|d| directives::first_word(&d.value).to_string());
    Dockerfile { directives: parser.found, instructions, escape: parser.escape, error: parser.error, syntax }
}

impl<'a> Parser<'a> {
    /// The next physical line, its line ending kept; a line over BuildKit's limit is an error.
    fn line(&mut self) -> Option<&'a str> {
        let line = *self.lines.get(self.next)?;
        self.next += 1;
        if line.trim_end_matches('\n').len() > MAX_LINE {
            let message = format!("dockerfile line greater than max allowed size of {MAX_LINE}");
            self.fail(self.next, message, "split the line with continuations");
        }
        Some(line)
    }

    fn fail(&mut self, line: usize, message: String, hint: &str) {
        if self.error.is_none() {
            self.error = Some(SyntaxError { line, message, hint: hint.to_string() });
        }
    }

    /// A line without its line ending (and leading blanks, for the first of an instruction),
    /// a comment as nothing; directives are picked up on the way.
    fn process(&mut self, raw: &str, strip: bool) -> String {
        let mut line = raw.trim_end_matches(['\r', '\n']);
        if strip {
            line = line.trim_start();
        }
        if !self.directives.done {
            match self.directives.parse_line(line) {
                Ok(Some(d)) => {
                    if d.name == "escape" {
                        match d.value.as_str() {
                            "`" => self.escape = '`',
                            "\\" => self.escape = '\\',
                            other => {
                                let message = format!("invalid escape token '{other}' does not match ` or \\");
                                self.fail(self.next, message, "use `# escape=\\` or `# escape=``");
                            }
                        }
                    }
                    self.found.push((d.name, d.value));
                }
                Ok(None) => {}
                Err(message) => self.fail(self.next, message, "keep one of them"),
            }
        }
        if is_comment(line) {
            String::new()
        } else {
            line.to_string()
        }
    }

    /// Reads a heredoc's body up to its terminator.
    fn heredoc(&mut self, marker: heredoc::Marker, start: usize) -> Heredoc {
        let mut content = String::new();
        let mut terminated = false;
        while let Some(raw) = self.line() {
            let mut candidate = raw.trim_end_matches(['\r', '\n']);
            if marker.chomp {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == marker.name {
                terminated = true;
                break;
            }
            content.push_str(raw);
        }
        if !terminated {
            let hint = format!("end the heredoc with a line holding only `{}`", marker.name);
            self.fail(start, "unterminated heredoc".into(), &hint);
        }
        let mut body = String::new();
        for line in content.lines() {
            body.push_str(if marker.chomp { line.trim_start_matches('\t') } else { line });
            body.push('\n');
        }
        Heredoc { name: marker.name, body, content, expand: marker.expand, chomp: marker.chomp, fd: marker.fd }
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The line without a trailing escape character (blanks after it allowed), and whether it
/// continues: an escaped escape (`C:\\`) does not continue.
fn continued(line: &str, escape: char) -> (&str, bool) {
    if let Some(head) = line.trim_end_matches([' ', '\t']).strip_suffix(escape) {
        match head.chars().next_back() {
            None => return ("", true),
            Some(before) if before != escape => return (head, true),
            Some(_) => {}
        }
    }
    (line, false)
}

impl Instruction {
    /// The instruction on a logical line, and BuildKit's error for it if any (the
    /// instruction is then kept with what could be read).
    fn from_line(line: usize, text: &str, escape: char, depth: usize) -> (Instruction, Option<String>) {
        let (command, raw_flags, args) = nodes::split_command(text, escape);
        let keyword = command.to_ascii_uppercase();
        let flags = raw_flags
            .iter()
            .map(|f| {
                let f = f.strip_prefix("--").unwrap_or(f);
                match f.split_once('=') {
                    Some((name, value)) => Flag { name: name.to_string(), value: Some(value.to_string()) },
                    None => Flag { name: f.to_string(), value: None },
                }
            })
            .collect();
        let mut instruction = Instruction {
            line,
            end_line: line,
            keyword,
            flags,
            raw_flags,
            args,
            values: Vec::new(),
            json: false,
            sub: None,
            heredocs: Vec::new(),
            original: text.to_string(),
            empty_continuation: false,
            escape,
        };
        let mut error = None;
        if instruction.keyword == "ONBUILD" {
            if !instruction.args.is_empty() && depth < MAX_ONBUILD {
                let (sub, sub_error) = Instruction::from_line(line, &instruction.args, escape, depth + 1);
                instruction.sub = Some(Box::new(sub));
                error = sub_error;
            }
        } else {
            match nodes::parse_args(&command.to_lowercase(), &instruction.args, escape) {
                Ok(parsed) => (instruction.values, instruction.json) = (parsed.values, parsed.json),
                Err(message) => error = Some(message),
            }
        }
        (instruction, error)
    }

    fn can_contain_heredoc(&self) -> bool {
        let target = match (&self.sub, self.keyword.as_str()) {
            (Some(sub), "ONBUILD") => sub,
            _ => self,
        };
        matches!(target.keyword.as_str(), "RUN" | "COPY" | "ADD") && !target.json
    }

    /// The value of the first `--name=value` flag.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|f| f.name == name).and_then(|f| f.value.as_deref())
    }

    /// The exec (JSON) form's elements, when the arguments are one: `["sh", "-c", "..."]`.
    pub fn exec_form(&self) -> Option<Vec<String>> {
        match self.keyword.as_str() {
            _ if !self.json => None,
            "HEALTHCHECK" => Some(self.values.iter().skip(1).cloned().collect()),
            _ => Some(self.values.clone()),
        }
    }

    /// A word with its quotes and escapes removed and variables left as written.
    fn unquote(&self, word: &str) -> String {
        let lexer = Lexer { escape: self.escape, skip_unset: true, ..Lexer::default() };
        lexer.process(word, &|_| None).map_or_else(|_| word.to_string(), |p| p.text)
    }

    /// The arguments as words, quotes and escapes removed (variables are left as written):
    /// exec-form elements, BuildKit's argument nodes where it splits at blanks (so COPY's
    /// `"my file"` is the two words `"my` and `file"`, as BuildKit reads it), else shell words.
    pub fn words(&self) -> Vec<String> {
        match self.keyword.as_str() {
            _ if self.json => self.values.clone(),
            "ADD" | "COPY" | "VOLUME" | "EXPOSE" | "FROM" | "ARG" => {
                self.values.iter().map(|v| self.unquote(v)).collect()
            }
            _ => {
                let lexer = Lexer { escape: self.escape, skip_unset: true, ..Lexer::default() };
                match lexer.process(&self.args, &|_| None) {
                    Ok(processed) => processed.words,
                    Err(_) => self.args.split_whitespace().map(str::to_string).collect(),
                }
            }
        }
    }

    /// `ARG A=1 B`, `ENV A=1 B=2` (or the legacy `ENV A 1`) and `LABEL` as (name, value) pairs,
    /// values as written: what BuildKit expands.
    pub fn raw_assignments(&self) -> Vec<(String, Option<String>)> {
        match self.keyword.as_str() {
            "ARG" => self
                .values
                .iter()
                .map(|w| match w.split_once('=') {
                    Some((name, value)) => (name.to_string(), Some(value.to_string())),
                    None => (w.clone(), None),
                })
                .collect(),
            "ENV" | "LABEL" => self.values.chunks(3).map(|kv| (kv[0].clone(), kv.get(1).cloned())).collect(),
            _ => Vec::new(),
        }
    }

    /// The same with quotes and escapes removed from the values (variables left as written).
    pub fn assignments(&self) -> Vec<(String, Option<String>)> {
        self.raw_assignments().into_iter().map(|(name, value)| (name, value.map(|v| self.unquote(&v)))).collect()
    }

    /// Expands `word` as BuildKit expands this instruction's arguments (its escape character).
    pub fn expand(&self, word: &str, lookup: impl Fn(&str) -> Option<String>) -> Expanded {
        expand_with(word, self.escape, lookup)
    }
}

/// A stage: its `FROM` and the instructions up to the next one.
#[derive(Debug, Clone, Copy)]
pub struct Stage<'a> {
    pub from: &'a Instruction,
    pub body: &'a [Instruction],
}

impl<'a> Stage<'a> {
    /// The base image expression, as written (BuildKit expands it with the global ARGs).
    pub fn image(&self) -> String {
        self.from.values.first().cloned().unwrap_or_default()
    }

    /// The `AS name`, lower-cased as BuildKit compares stage names.
    pub fn name(&self) -> Option<String> {
        match self.from.values.as_slice() {
            [_, kw, name, ..] if kw.eq_ignore_ascii_case("AS") => Some(name.to_ascii_lowercase()),
            _ => None,
        }
    }
}

impl Dockerfile {
    /// ARG instructions before the first FROM: the only ones FROM lines can use.
    pub fn global_args(&self) -> impl Iterator<Item = &Instruction> {
        self.instructions.iter().take_while(|i| i.keyword != "FROM").filter(|i| i.keyword == "ARG")
    }

    /// The values of the global ARGs: a build arg, else the default (which may use earlier ones).
    pub fn global_arg_values(&self, build_args: &BTreeMap<String, String>) -> BTreeMap<String, Option<String>> {
        let mut values: BTreeMap<String, Option<String>> = BTreeMap::new();
        for arg in self.global_args() {
            for (name, default) in arg.raw_assignments() {
                let value = match build_args.get(&name) {
                    Some(v) => Some(v.clone()),
                    None => default.map(|d| arg.expand(&d, |n| values.get(n).cloned().flatten()).text),
                };
                values.insert(name, value);
            }
        }
        values
    }

    pub fn stages(&self) -> Vec<Stage<'_>> {
        let starts: Vec<usize> =
            self.instructions.iter().enumerate().filter(|(_, i)| i.keyword == "FROM").map(|(n, _)| n).collect();
        starts
            .iter()
            .enumerate()
            .map(|(k, &start)| {
                let end = starts.get(k + 1).copied().unwrap_or(self.instructions.len());
                Stage { from: &self.instructions[start], body: &self.instructions[start + 1..end] }
            })
            .collect()
    }

    /// The first thing BuildKit rejects: a parser error, else an instruction it refuses before
    /// building (an unknown instruction, one before the first FROM, a malformed FROM or COPY,
    /// a word that does not expand: an unterminated quote, `${}`, an unsupported modifier).
    pub fn check(&self) -> Option<SyntaxError> {
        if let Some(error) = &self.error {
            return Some(error.clone());
        }
        let lexer = Lexer { escape: self.escape, skip_unset: true, ..Lexer::default() };
        let fail = |line: usize, message: String, hint: &str| Some(SyntaxError { line, message, hint: hint.into() });
        let mut in_stage = false;
        for instruction in &self.instructions {
            let keyword = instruction.keyword.as_str();
            let line = instruction.line;
            if !INSTRUCTIONS.contains(&keyword) {
                let written = instruction.original.split_whitespace().next().unwrap_or_default();
                return fail(
                    line,
                    format!("unknown instruction: {written}"),
                    "use a Dockerfile instruction such as RUN, COPY or ENV",
                );
            }
            match keyword {
                "FROM" => in_stage = true,
                "ARG" => {}
                _ if !in_stage => {
                    return fail(
                        line,
                        "no build stage in current context".into(),
                        "start the file (after global ARGs) with a FROM",
                    );
                }
                _ => {}
            }
            if let Some(error) = instruction.check(&lexer) {
                let hint = match keyword {
                    "FROM" if !error.starts_with("failed to process") => {
                        "write `FROM <image> [AS <name>]`, the name a letter then letters, digits, `-`, `_` or `.`"
                    }
                    "COPY" | "ADD" if !error.starts_with("failed to process") => {
                        "name the sources, then the destination"
                    }
                    "ONBUILD" => "ONBUILD takes one other instruction, not FROM, MAINTAINER or ONBUILD",
                    _ => WORD_HINT,
                };
                return fail(line, error, hint);
            }
        }
        if !in_stage {
            let line = self.instructions.last().map_or(1, |i| i.line);
            return fail(line, "dockerfile contains no stages to build".into(), "add a FROM instruction");
        }
        None
    }
}

impl Instruction {
    /// BuildKit's refusals of this one instruction.
    fn check(&self, lexer: &Lexer) -> Option<String> {
        let words =
            |values: &[String]| -> Option<String> { values.iter().find_map(|v| lexer.process(v, &|_| None).err()) };
        match self.keyword.as_str() {
            "FROM" => {
                let ok = match self.values.as_slice() {
                    [_] => true,
                    [_, kw, _] => kw.eq_ignore_ascii_case("AS"),
                    _ => false,
                };
                if !ok {
                    return Some("FROM requires either one or three arguments".into());
                }
                if let Some(name) = self.values.get(2).map(|n| n.to_lowercase()) {
                    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
                        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
                    if !valid {
                        return Some(format!(
                            "invalid name for build stage: {}, name can't start with a number or contain symbols",
                            lexer::go_quote(&self.values[2])
                        ));
                    }
                }
                words(&self.values[..1])
            }
            "COPY" | "ADD" => {
                if self.values.len() < 2 {
                    let k = &self.keyword;
                    return Some(format!("{k} requires at least two arguments, but only one was provided. Destination could not be determined"));
                }
                if self.json {
                    return None;
                }
                let paths: Vec<String> =
                    self.values.iter().filter(|v| !matches!(heredoc::parse_heredoc(v), Ok(Some(_)))).cloned().collect();
                words(&paths)
            }
            "ENV" | "LABEL" | "ARG" => {
                let pairs = self.raw_assignments();
                pairs.iter().find_map(|(name, value)| {
                    lexer
                        .process(name, &|_| None)
                        .err()
                        .or_else(|| value.as_ref().and_then(|v| lexer.process(v, &|_| None).err()))
                })
            }
            "USER" | "WORKDIR" | "STOPSIGNAL" | "EXPOSE" | "VOLUME" if !self.json => words(&self.values),
            "ONBUILD" => match self.sub.as_deref().map(|s| s.keyword.as_str()) {
                Some("ONBUILD") => Some("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
                Some(k @ ("FROM" | "MAINTAINER")) => Some(format!("{k} isn't allowed as an ONBUILD trigger")),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Every `FROM` in the file, in order.
pub fn froms(text: &str) -> Vec<From> {
    parse(text)
        .stages()
        .iter()
        .map(|stage| From { line: stage.from.line, image: stage.image(), stage: stage.name() })
        .filter(|from| !from.image.is_empty())
        .collect()
}

/// The build-arg names an image expression refers to: `${BASE_IMAGE}` and `$BASE_IMAGE`
/// (not `'$X'` or `\$X`, which BuildKit does not expand).
pub fn referenced_args(image: &str) -> Vec<String> {
    let names = RefCell::new(Vec::new());
    let record = |name: &str| {
        names.borrow_mut().push(name.to_string());
        None
    };
    let _ = Lexer::default().process(image, &record);
    let mut names = names.into_inner();
    names.dedup();
    names
}

/// The result of expanding variables in a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    /// Variables that were unset and had no default; they expanded to nothing.
    pub unset: Vec<String>,
    /// BuildKit's error when the word does not expand (the text is then the word as written).
    pub error: Option<String>,
}

/// Expands a word as BuildKit does (`ProcessWord`): `$VAR`, `${VAR}`, `${VAR:-default}`,
/// `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`, `${VAR#pattern}`,
/// `${VAR%pattern}`, `${VAR/pattern/new}`, positional and special parameters (always unset),
/// then quotes and escapes removed; `lookup` gives `None` for an unset variable.
pub fn expand(word: &str, lookup: impl Fn(&str) -> Option<String>) -> Expanded {
    expand_with(word, '\\', lookup)
}

/// [`expand`] with the file's escape character.
pub fn expand_with(word: &str, escape: char, lookup: impl Fn(&str) -> Option<String>) -> Expanded {
    match (Lexer { escape, ..Lexer::default() }).process(word, &lookup) {
        Ok(processed) => Expanded { text: processed.text, unset: processed.unset, error: None },
        Err(error) => Expanded { text: word.to_string(), unset: Vec::new(), error: Some(error) },
    }
}

/// The parsed file as BuildKit's `Node.Dump` prints it, one `(instruction ...)` per line.
pub fn dump(doc: &Dockerfile) -> String {
    fn one(i: &Instruction) -> String {
        nodes::dump_instruction(&i.keyword, &i.raw_flags, &i.values, i.sub.as_deref().map(one))
    }
    let mut out = String::new();
    for instruction in &doc.instructions {
        out.push('(');
        out.push_str(&one(instruction));
        out.push_str(")\n");
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::lexer::MAX_NESTING;
    use super::*;

    fn keywords_and_lines(doc: &Dockerfile) -> Vec<(usize, &str)> {
        doc.instructions.iter().map(|i| (i.line, i.keyword.as_str())).collect()
    }

    #[test]
    fn finds_from_lines_with_continuations_flags_and_stages() {
        let text = "# syntax=docker/dockerfile:1\nARG BASE_IMAGE\nFROM --platform=$BUILDPLATFORM \\\n  ${BASE_IMAGE} AS build\nRUN <<EOF\nFROM not-an-instruction\nEOF\nfrom scratch\nFROM build\n";
        assert_eq!(
            froms(text),
            vec![
                From { line: 3, image: "${BASE_IMAGE}".to_string(), stage: Some("build".to_string()) },
                From { line: 8, image: "scratch".to_string(), stage: None },
                From { line: 9, image: "build".to_string(), stage: None },
            ]
        );
    }

    #[test]
    fn honours_the_escape_directive() {
        let text = "# escape=`\nFROM `\n  $DEBIAN_IMAGE\nRUN dir C:\\ `\n  && echo done\n";
        let doc = parse(text);
        assert_eq!(doc.directives, [("escape".to_string(), "`".to_string())]);
        assert_eq!(froms(text), vec![From { line: 2, image: "$DEBIAN_IMAGE".to_string(), stage: None }]);
        assert_eq!(doc.instructions[1].args, "dir C:\\   && echo done", "a backslash is literal with escape=`");
    }

    #[test]
    fn directives_stop_at_the_first_other_line() {
        let doc =
            parse("\u{feff}# syntax=docker/dockerfile:1.7\n# check=skip=all\n# note\n# escape=`\nFROM a \\\n  b\n");
        assert_eq!(
            doc.directives,
            [
                ("syntax".to_string(), "docker/dockerfile:1.7".to_string()),
                ("check".to_string(), "skip=all".to_string())
            ]
        );
        assert_eq!(doc.instructions[0].args, "a   b", "`# escape` after a comment is a comment");
    }

    #[test]
    fn continuations_drop_comments_and_blank_lines_and_keep_line_numbers() {
        let text = "FROM scratch\nRUN apt-get update \\\n  # a comment inside\n\n    && apt-get install -y curl \\\n\t&& true\n\n  # comment\nUSER 1000\n";
        let doc = parse(text);
        assert_eq!(keywords_and_lines(&doc), [(1, "FROM"), (2, "RUN"), (9, "USER")]);
        assert_eq!(doc.instructions[1].args, "apt-get update     && apt-get install -y curl \t&& true");
    }

    #[test]
    fn heredocs_plain_dash_and_quoted() {
        let text = "FROM scratch\nRUN <<EOF\necho one \\\n# not a comment\nEOF\nCOPY <<-\"A\" <<'B' /etc/\n\t\tfirst\n\tA\nsecond\nB\nRUN cat <<EOF > /x\nno end\n";
        let doc = parse(text);
        assert_eq!(keywords_and_lines(&doc), [(1, "FROM"), (2, "RUN"), (6, "COPY"), (11, "RUN")]);
        let body = |i: usize| -> Vec<(&str, &str)> {
            doc.instructions[i].heredocs.iter().map(|h| (h.name.as_str(), h.body.as_str())).collect()
        };
        assert_eq!(body(1), [("EOF", "echo one \\\n# not a comment\n")]);
        assert_eq!(body(2), [("A", "first\n"), ("B", "second\n")]);
        assert_eq!(body(3), [("EOF", "no end\n")], "an unterminated heredoc runs to the end of the file");
        assert!(parse("FROM a\nRUN echo \"<<EOF\"\nUSER 1\n").instructions[1].heredocs.is_empty());
        assert!(parse("FROM a\nENV X=<<EOF\nUSER 1\n").instructions[1].heredocs.is_empty(), "only RUN, COPY, ADD");
    }

    #[test]
    fn flags_exec_form_and_words() {
        let doc = parse(
            "FROM a\nRUN --mount=type=cache,target=/root/.cache --network=none [\"sh\", \"-c\", \"echo hi\"]\nCOPY --from=build --chown=1:1 --link \"my file\" 'b c' /dst/\nCMD echo \"a b\" c\\ d\n",
        );
        let run = &doc.instructions[1];
        assert_eq!(run.flag("mount"), Some("type=cache,target=/root/.cache"));
        assert_eq!(run.flag("network"), Some("none"));
        assert_eq!(run.exec_form(), Some(vec!["sh".to_string(), "-c".to_string(), "echo hi".to_string()]));
        let copy = &doc.instructions[2];
        assert_eq!(copy.flag("from"), Some("build"));
        assert_eq!(copy.flags[2], Flag { name: "link".to_string(), value: None });
        // BuildKit splits non-JSON COPY arguments at blanks and never honours quotes there.
        assert_eq!(copy.words(), ["\"my", "file\"", "'b", "c'", "/dst/"]);
        assert_eq!(doc.instructions[3].exec_form(), None);
        assert_eq!(doc.instructions[3].words(), ["echo", "a b", "c d"]);
    }

    #[test]
    fn arg_and_env_assignments() {
        let doc = parse("ARG A B=2 C=\"x y\"\nFROM a\nENV LEGACY some value\nENV K=v L=\"w z\"\n");
        let pairs = |i: usize| doc.instructions[i].assignments();
        let some = |s: &str| Some(s.to_string());
        assert_eq!(pairs(0), [("A".to_string(), None), ("B".to_string(), some("2")), ("C".to_string(), some("x y"))]);
        assert_eq!(pairs(2), [("LEGACY".to_string(), some("some value"))]);
        assert_eq!(pairs(3), [("K".to_string(), some("v")), ("L".to_string(), some("w z"))]);
    }

    #[test]
    fn global_args_substitute_into_from() {
        let doc = parse(
            "ARG REGISTRY=docker.io\nARG DEBIAN=${REGISTRY}/library/debian:12\nARG UNSET\nFROM $DEBIAN AS one\nARG NOT_GLOBAL=x\nFROM ${UNSET:-alpine:3.20}\n",
        );
        let values = doc.global_arg_values(&BTreeMap::new());
        let lookup = |n: &str| values.get(n).cloned().flatten();
        let stages = doc.stages();
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].name().as_deref(), Some("one"));
        assert_eq!(stages[0].body.len(), 1);
        assert_eq!(expand(&stages[0].image(), lookup).text, "docker.io/library/debian:12");
        assert_eq!(expand(&stages[1].image(), lookup).text, "alpine:3.20");
        assert!(!values.contains_key("NOT_GLOBAL"));

        let overridden = doc.global_arg_values(&BTreeMap::from([("REGISTRY".to_string(), "r.test".to_string())]));
        assert_eq!(overridden["DEBIAN"].as_deref(), Some("r.test/library/debian:12"));
    }

    #[test]
    fn expansion_forms() {
        let lookup = |n: &str| match n {
            "SET" => Some("v".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let cases = [
            ("$SET/${SET}", "v/v", vec![]),
            ("${NOPE:-d}|${EMPTY:-d}|${EMPTY-d}|${NOPE-d}", "d|d||d", vec![]),
            ("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${NOPE+alt}", "alt||alt|", vec![]),
            ("${NOPE:-${SET}x}", "vx", vec![]),
            ("a-$NOPE-${OTHER}", "a--", vec!["NOPE", "OTHER"]),
            // `$5` is a positional parameter, never set in a Dockerfile; a lone `$` stays.
            ("cost $5 and $", "cost  and $", vec!["5"]),
        ];
        let deep = format!("{}x{}", "${NOPE:-".repeat(100_000), "}".repeat(100_000));
        let kept = 100_000 - MAX_NESTING - 1;
        let kept = format!("{}x{}", "${NOPE:-".repeat(kept), "}".repeat(kept));
        assert_eq!(expand(&deep, lookup).text, kept, "nesting past the limit is kept as written, without recursing");
        for (word, text, unset) in cases {
            let got = expand(word, lookup);
            assert_eq!((got.text.as_str(), got.unset), (text, unset.iter().map(|s| s.to_string()).collect()), "{word}");
        }
    }

    #[test]
    fn referenced_args_in_image_expressions() {
        assert_eq!(referenced_args("${BASE_IMAGE}"), ["BASE_IMAGE"]);
        assert_eq!(referenced_args("$REGISTRY/x:${TAG}"), ["REGISTRY", "TAG"]);
        assert!(referenced_args("debian:12").is_empty());
    }
}
