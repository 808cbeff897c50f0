//! Dockerfile parsing the way BuildKit reads it: parser directives (`# syntax`,
//! `# escape`), logical lines (continuations, comments and blank lines inside
//! them), heredocs, `--flags`, exec and shell forms, and `${VAR}` expansion.
//! `plan` uses it to find in-repo parents, `lint` to check the image policy.

use std::collections::BTreeMap;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives from the top of the file, keys lower-cased: `syntax`, `escape`, `check`.
    pub directives: Vec<(String, String)>,
    pub instructions: Vec<Instruction>,
}

/// One instruction, continuations joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: usize,
    /// Upper-cased: `FROM`, `RUN`, ...
    pub keyword: String,
    /// Leading `--name=value` flags in order; `value` is `None` for a bare `--link`.
    pub flags: Vec<Flag>,
    /// Everything after the keyword and flags.
    pub args: String,
    /// Bodies of `<<EOF` heredocs (RUN, COPY and ADD only), in the order they were opened.
    pub heredocs: Vec<Heredoc>,
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
}

/// One `FROM` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// 1-based line where the instruction starts.
    pub line: usize,
    pub image: String,
    pub stage: Option<String>,
}

/// Directives BuildKit knows; any other `# key=value` line ends the directive block.
const DIRECTIVES: &[&str] = &["syntax", "escape", "check"];

/// Parses `text`. Never fails: what BuildKit would reject (an unterminated heredoc,
/// an unknown instruction) is kept as written, so a linter can still look at the rest.
pub fn parse(text: &str) -> Dockerfile {
    let lines: Vec<&str> = text.strip_prefix('\u{feff}').unwrap_or(text).lines().collect();
    let directives = directives(&lines);
    let escape = match directives.iter().find(|(k, _)| k == "escape") {
        Some((_, v)) if v == "`" => '`',
        _ => '\\',
    };
    let mut instructions = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let first = lines[i].trim_start();
        i += 1;
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        let (mut logical, mut more) = continued(first, escape);
        let mut logical_line = logical.to_string();
        while more && i < lines.len() {
            let line = lines[i];
            i += 1;
            // Comments and blank lines inside a continuation are dropped, as BuildKit does.
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            (logical, more) = continued(line, escape);
            logical_line.push_str(logical);
        }
        let Some(mut instruction) = Instruction::new(start, &logical_line, escape) else { continue };
        if matches!(instruction.keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, strip_tabs) in heredoc_markers(&instruction.args, escape) {
                let mut body = String::new();
                while i < lines.len() {
                    let line = lines[i];
                    i += 1;
                    let line = if strip_tabs { line.trim_start_matches('\t') } else { line };
                    if line == name {
                        break;
                    }
                    body.push_str(line);
                    body.push('\n');
                }
                instruction.heredocs.push(Heredoc { name, body });
            }
        }
        instructions.push(instruction);
    }
    Dockerfile { directives, instructions }
}

/// `# key=value` lines at the very top; the first other line ends them.
fn directives(lines: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in lines {
        let Some((key, value)) = line.trim().strip_prefix('#').and_then(|d| d.split_once('=')) else { break };
        let key = key.trim().to_ascii_lowercase();
        if !DIRECTIVES.contains(&key.as_str()) {
            break;
        }
        // BuildKit rejects a repeated directive; the first one is the one meant.
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, value.trim().to_string()));
        }
    }
    out
}

/// The line without its trailing escape character, and whether it continues.
fn continued(line: &str, escape: char) -> (&str, bool) {
    match line.trim_end_matches([' ', '\t']).strip_suffix(escape) {
        Some(head) => (head, true),
        None => (line, false),
    }
}

/// `(name, strip_tabs)` for each heredoc opened by a word like `<<EOF`, `<<-EOF`, `2<<"EOF"`.
fn heredoc_markers(args: &str, escape: char) -> Vec<(String, bool)> {
    words(args, escape, true)
        .iter()
        .filter_map(|word| {
            let rest = word.trim_start_matches(|c: char| c.is_ascii_digit()).strip_prefix("<<")?;
            let (strip_tabs, name) = match rest.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, rest),
            };
            let name = unquote(name);
            (!name.is_empty() && !name.contains('<')).then_some((name, strip_tabs))
        })
        .collect()
}

fn unquote(word: &str) -> String {
    for quote in ['"', '\''] {
        if let Some(inner) = word.strip_prefix(quote).and_then(|w| w.strip_suffix(quote)) {
            return inner.to_string();
        }
    }
    word.to_string()
}

impl Instruction {
    fn new(line: usize, text: &str, escape: char) -> Option<Instruction> {
        let text = text.trim();
        let (keyword, mut rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        if keyword.is_empty() {
            return None;
        }
        let mut flags = Vec::new();
        loop {
            rest = rest.trim_start();
            if !rest.starts_with("--") {
                break;
            }
            let end = word_end(rest, escape);
            let word = &rest[..end];
            rest = &rest[end..];
            if word == "--" {
                break;
            }
            let word = words(word, escape, false).concat();
            let (name, value) = match word[2..].split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (word[2..].to_string(), None),
            };
            flags.push(Flag { name, value });
        }
        Some(Instruction {
            line,
            keyword: keyword.to_ascii_uppercase(),
            flags,
            args: rest.trim().to_string(),
            heredocs: Vec::new(),
            escape,
        })
    }

    /// The value of the first `--name=value` flag.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|f| f.name == name).and_then(|f| f.value.as_deref())
    }

    /// The exec (JSON) form's elements, when the arguments are one: `["sh", "-c", "..."]`.
    pub fn exec_form(&self) -> Option<Vec<String>> {
        self.args.starts_with('[').then(|| serde_json::from_str(&self.args).ok()).flatten()
    }

    /// The arguments as words: exec-form elements, else shell words with quotes removed.
    pub fn words(&self) -> Vec<String> {
        self.exec_form().unwrap_or_else(|| words(&self.args, self.escape, false))
    }

    /// `ARG A=1 B` and `ENV A=1 B=2` (or the legacy `ENV A 1`) as (name, value) pairs.
    pub fn assignments(&self) -> Vec<(String, Option<String>)> {
        let words = self.words();
        if self.keyword == "ENV" && words.first().is_some_and(|w| !w.contains('=')) {
            let value = self.args.split_once(char::is_whitespace).map(|(_, v)| v.trim().to_string());
            return vec![(words[0].clone(), value)];
        }
        words
            .into_iter()
            .map(|w| match w.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (w, None),
            })
            .collect()
    }
}

/// Where the shell word at the start of `text` ends, honouring quotes and escapes.
fn word_end(text: &str, escape: char) -> usize {
    let mut quote = None;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match quote {
            _ if c == escape && quote != Some('\'') => {
                chars.next();
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() => return i,
            None => {}
        }
    }
    text.len()
}

/// Splits shell-form arguments into words. Quotes group words; they are kept
/// with `keep_quotes` (to tell `"<<EOF"` from `<<EOF`) and removed otherwise.
fn words(text: &str, escape: char, keep_quotes: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let end = word_end(rest, escape);
        let raw = &rest[..end];
        rest = rest[end..].trim_start();
        if keep_quotes {
            out.push(raw.to_string());
            continue;
        }
        let mut word = String::new();
        let mut quote = None;
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('\'') if c == '\'' => quote = None,
                Some('\'') => word.push(c),
                Some(_) if c == '"' => quote = None,
                // Inside double quotes the escape only escapes what the shell would.
                Some(_) if c == escape && chars.peek().is_some_and(|n| matches!(n, '"' | '$') || *n == escape) => {
                    word.extend(chars.next());
                }
                None if c == escape => word.extend(chars.next()),
                None if c == '"' || c == '\'' => quote = Some(c),
                _ => word.push(c),
            }
        }
        out.push(word);
    }
    out
}

/// A stage: its `FROM` and the instructions up to the next one.
#[derive(Debug, Clone, Copy)]
pub struct Stage<'a> {
    pub from: &'a Instruction,
    pub body: &'a [Instruction],
}

impl<'a> Stage<'a> {
    /// The base image expression, as written.
    pub fn image(&self) -> String {
        self.from.words().into_iter().next().unwrap_or_default()
    }

    /// The `AS name`, lower-cased as BuildKit compares stage names.
    pub fn name(&self) -> Option<String> {
        match self.from.words().as_slice() {
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
            for (name, default) in arg.assignments() {
                let value = match build_args.get(&name) {
                    Some(v) => Some(v.clone()),
                    None => default.map(|d| expand(&d, |n| values.get(n).cloned().flatten()).text),
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

/// The build-arg names an image expression refers to: `${BASE_IMAGE}` and `$BASE_IMAGE`.
pub fn referenced_args(image: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = image;
    while let Some(dollar) = rest.find('$') {
        rest = &rest[dollar + 1..];
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
        if len > 0 {
            names.push(body[..len].to_string());
        }
        rest = &body[len..];
    }
    names
}

/// The result of expanding variables in a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    /// Variables that were unset and had no default; they expanded to nothing.
    pub unset: Vec<String>,
}

/// Expands `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`
/// and `${VAR+alt}` as BuildKit does; `lookup` gives `None` for an unset variable.
pub fn expand(word: &str, lookup: impl Fn(&str) -> Option<String>) -> Expanded {
    let mut out = Expanded { text: String::new(), unset: Vec::new() };
    expand_into(word, &lookup, &mut out, 0);
    out
}

/// How deep `${A:-${B:-...}}` defaults nest before the rest is kept as written: real files
/// nest two or three, and a hostile one must not exhaust the stack.
const MAX_NESTING: usize = 32;

fn expand_into(word: &str, lookup: &dyn Fn(&str) -> Option<String>, out: &mut Expanded, depth: usize) {
    if depth > MAX_NESTING {
        out.text.push_str(word);
        return;
    }
    let mut rest = word;
    while let Some(dollar) = rest.find('$') {
        out.text.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if let Some(body) = rest.strip_prefix('{') {
            let Some(close) = matching_brace(body) else {
                out.text.push('$');
                continue;
            };
            let inner = &body[..close];
            rest = &body[close + 1..];
            let name_len = inner.find(|c: char| !is_name(c)).unwrap_or(inner.len());
            let (name, op) = inner.split_at(name_len);
            let value = lookup(name);
            let (colon, op) = match op.strip_prefix(':') {
                Some(op) => (true, op),
                None => (false, op),
            };
            // With `:`, an empty value counts as unset.
            let set = value.as_ref().is_some_and(|v| !colon || !v.is_empty());
            match op.chars().next() {
                Some('-') if !set => expand_into(&op[1..], lookup, out, depth + 1),
                Some('+') if set => expand_into(&op[1..], lookup, out, depth + 1),
                Some('+') => {}
                _ => match value {
                    Some(v) if set || !colon => out.text.push_str(&v),
                    _ => out.unset.push(name.to_string()),
                },
            }
        } else {
            let starts_name = rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            let len = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
            if !starts_name {
                out.text.push('$');
                continue;
            }
            match lookup(&rest[..len]) {
                Some(v) => out.text.push_str(&v),
                None => out.unset.push(rest[..len].to_string()),
            }
            rest = &rest[len..];
        }
    }
    out.text.push_str(rest);
}

/// The index of the `}` that closes a `${` whose body is `text`.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
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
        assert_eq!(copy.words(), ["my file", "b c", "/dst/"]);
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
            ("cost $5 and $", "cost $5 and $", vec![]),
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
