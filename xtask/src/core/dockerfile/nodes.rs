//! BuildKit's line parsers: how one logical line becomes an instruction's command, `--flags`
//! and argument nodes (`splitCommand`, `extractBuilderFlags` and the per-instruction parsers
//! of `line_parsers.go`), and the `Dump` of the result that BuildKit's test data records.

/// What an instruction's arguments parse into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nodes {
    /// The argument nodes in order, as BuildKit's parser leaves them (quotes kept, except in
    /// the exec form).
    pub values: Vec<String>,
    /// The arguments were a JSON array (the exec form).
    pub json: bool,
}

/// Errors BuildKit's parser reports for one line.
pub type LineError = String;

/// `[\t\v\f\r ]`, what BuildKit splits whitespace-delimited arguments on.
fn is_blank(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// The command, the `--flags` (quotes removed) and the rest of `line`, trimmed.
pub fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let line = line.trim();
    let (command, rest) = match line.find(is_blank) {
        Some(at) => (&line[..at], line[at..].trim_start_matches(is_blank)),
        None => return (line.to_string(), Vec::new(), String::new()),
    };
    let (args, flags) = builder_flags(rest, escape);
    (command.to_string(), flags, args.trim().to_string())
}

/// Leading `--name[=value]` words; `--` alone ends them.
fn builder_flags(line: &str, escape: char) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut chars = line.char_indices().peekable();
    loop {
        let Some((at, c)) = chars.next() else {
            if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            return ("", flags);
        };
        let last = chars.peek().is_none();
        match phase {
            Phase::Spaces => {
                if c.is_whitespace() {
                    continue;
                }
                if c != '-' || chars.peek().map(|(_, n)| *n) != Some('-') {
                    return (&line[at..], flags);
                }
                phase = Phase::Word;
                word.push(c);
            }
            Phase::Word => {
                if c.is_whitespace() {
                    if word == "--" {
                        return (&line[at..], flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    phase = Phase::Spaces;
                } else if c == '\'' || c == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(c);
                } else if c == escape {
                    if !last {
                        word.extend(chars.next().map(|(_, n)| n));
                    }
                } else {
                    word.push(c);
                }
            }
            Phase::Quote(quote) => {
                if c == quote {
                    phase = Phase::Word;
                } else if c == escape {
                    if last {
                        phase = Phase::Word;
                    } else {
                        word.extend(chars.next().map(|(_, n)| n));
                    }
                } else {
                    word.push(c);
                }
            }
        }
    }
}

/// The argument nodes of a command (lower-cased) with arguments `rest`. ONBUILD is parsed by
/// the caller; an unknown command has one empty node, as BuildKit's `parseIgnore` gives.
pub fn parse_args(command: &str, rest: &str, escape: char) -> Result<Nodes, LineError> {
    let plain = |values: Vec<String>| Nodes { values, json: false };
    match command {
        "add" | "copy" | "volume" => match json(rest)? {
            Some(nodes) => Ok(nodes),
            None => Ok(plain(blank_split(rest))),
        },
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest),
        "arg" => Ok(plain(parse_words(rest, escape))),
        "env" => name_values(rest, "ENV", escape).map(plain),
        "label" => name_values(rest, "LABEL", escape).map(plain),
        "expose" | "from" => Ok(plain(blank_split(rest))),
        "healthcheck" => {
            let Some(sep) = rest.find(char::is_whitespace).or((!rest.is_empty()).then_some(rest.len())) else {
                return Ok(Nodes::default());
            };
            let mut nodes = maybe_json(rest[sep..].trim_start())?;
            nodes.values.insert(0, rest[..sep].to_string());
            Ok(nodes)
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            Ok(plain(if rest.is_empty() { Vec::new() } else { vec![rest.to_string()] }))
        }
        _ => Ok(plain(vec![String::new()])),
    }
}

fn blank_split(rest: &str) -> Vec<String> {
    rest.split(is_blank).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The exec form: `Some` for a JSON array of strings, an error for a JSON array of anything
/// else, `None` for what is not a JSON array.
fn json(rest: &str) -> Result<Option<Nodes>, LineError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(items) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else { return Ok(None) };
    let values = items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(s) => Ok(s),
            _ => Err("when using JSON array syntax, arrays must be comprised of strings only".to_string()),
        })
        .collect::<Result<Vec<String>, LineError>>()?;
    Ok(Some(Nodes { values, json: true }))
}

fn maybe_json(rest: &str) -> Result<Nodes, LineError> {
    if rest.is_empty() {
        return Ok(Nodes::default());
    }
    Ok(json(rest)?.unwrap_or_else(|| Nodes { values: vec![rest.to_string()], json: false }))
}

/// `ENV`/`LABEL`: `name value` (the old form) or `name=value ...`, as triples of name, value
/// and separator.
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Vec<String>, LineError> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else { return Ok(Vec::new()) };
    if !first.contains('=') {
        let Some(at) = rest.find(is_blank) else { return Err(format!("{keyword} must have two arguments")) };
        let value = rest[at..].trim_start_matches(is_blank);
        return Ok(vec![rest[..at].to_string(), value.to_string(), String::new()]);
    }
    let mut out = Vec::new();
    for word in &words {
        let Some((name, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                super::lexer::go_quote(word)
            ));
        };
        out.extend([name.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok(out)
}

/// Space-separated words with quotes and escapes kept (`parseWords`): the splitter behind
/// ARG, ENV and LABEL.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        let last = chars.peek().is_none();
        if !in_word {
            if c.is_whitespace() {
                continue;
            }
            in_word = true;
        }
        match quote {
            None => {
                if c.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    in_word = false;
                    continue;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    if last {
                        continue;
                    }
                    word.push(c);
                    word.extend(chars.next());
                    continue;
                }
                word.push(c);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    if last {
                        quote = None;
                        continue;
                    }
                    word.push(c);
                    word.extend(chars.next());
                    continue;
                }
                word.push(c);
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// One instruction as BuildKit's `Node.Dump` prints it: `(copy ["--from=a"] "x" "/y")`.
pub fn dump_instruction(command: &str, flags: &[String], values: &[String], sub: Option<String>) -> String {
    use super::lexer::go_quote;
    let mut out = command.to_lowercase();
    if !flags.is_empty() {
        let quoted: Vec<String> = flags.iter().map(|f| go_quote(f)).collect();
        out.push_str(&format!(" [{}]", quoted.join(" ")));
    }
    if let Some(sub) = sub {
        out.push_str(&format!(" ({sub})"));
    }
    for value in values {
        out.push(' ');
        out.push_str(&go_quote(value));
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_flags() {
        let split = |line: &str| split_command(line, '\\');
        assert_eq!(
            split("COPY --from=a --chown=\"1 2\" -- x y"),
            ("COPY".into(), vec!["--from=a".into(), "--chown=1 2".into()], "x y".into())
        );
        assert_eq!(
            split("  RUN\t--mount=type=cache\\,x echo"),
            ("RUN".into(), vec!["--mount=type=cache,x".into()], "echo".into())
        );
        assert_eq!(split("CMD --doit -- [ ]"), ("CMD".into(), vec!["--doit".into()], "[ ]".into()));
        assert_eq!(split("USER"), ("USER".into(), vec![], String::new()));
        assert_eq!(split("RUN --"), ("RUN".into(), vec![], String::new()));
    }

    #[test]
    fn argument_nodes() {
        let args = |c: &str, rest: &str| parse_args(c, rest, '\\').map(|n| (n.values, n.json));
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(args("copy", "\"my file\" /dst/"), Ok((strings(&["\"my", "file\"", "/dst/"]), false)));
        assert_eq!(args("copy", "[\"my file\", \"/dst/\"]"), Ok((strings(&["my file", "/dst/"]), true)));
        assert_eq!(args("env", "A 1 2"), Ok((strings(&["A", "1 2", ""]), false)));
        assert_eq!(args("env", "A=1 B=\"2 3\""), Ok((strings(&["A", "1", "=", "B", "\"2 3\"", "="]), false)));
        assert_eq!(args("env", "A"), Err("ENV must have two arguments".into()));
        assert!(args("label", "A=1 B").unwrap_err().starts_with("Syntax error - can't find = in \"B\""));
        assert!(args("cmd", "[\"a\", 1]").is_err());
        assert_eq!(args("healthcheck", "CMD  a b"), Ok((strings(&["CMD", "a b"]), false)));
        assert_eq!(args("nope", "x"), Ok((strings(&[""]), false)));
    }
}
