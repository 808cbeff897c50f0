//! Parser directives at the top of a Dockerfile, as BuildKit reads them: `# key=value` lines
//! (`syntax`, `escape`, `check`) until the first other line; a repeated one is an error. The
//! frontend (`syntax`) and `check` are also found after a `#!` line, and `syntax` as
//! `//syntax=` or a JSON object.

/// One directive; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub line: usize,
}

const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// Reads directives line by line; `done` once a line is not one.
#[derive(Debug, Clone)]
pub struct DirectiveParser {
    line: usize,
    comment: &'static str,
    seen: Vec<String>,
    pub done: bool,
}

impl DirectiveParser {
    pub fn new(comment: &'static str, first_line: usize) -> DirectiveParser {
        DirectiveParser { line: first_line, comment, seen: Vec::new(), done: false }
    }

    /// The directive on `line`, if it is one.
    pub fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, String> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some(rest) = line.strip_prefix(self.comment) else {
            self.done = true;
            return Ok(None);
        };
        let Some((name, value)) = key_value(rest.trim_start()) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        self.seen.push(name.clone());
        Ok(Some(Directive { name, value: value.to_string(), line: self.line }))
    }

    /// Every directive of `text` up to the first error.
    pub fn parse_all(&mut self, text: &str) -> (Vec<Directive>, Option<String>) {
        let mut out = Vec::new();
        for line in text.split('\n') {
            if self.done {
                break;
            }
            match self.parse_line(line.strip_suffix('\r').unwrap_or(line)) {
                Ok(directive) => out.extend(directive),
                Err(why) => return (out, Some(why)),
            }
        }
        (out, None)
    }
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn key_value(text: &str) -> Option<(&str, &str)> {
    let name_len = text.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(text.len());
    let name = &text[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let after = text[name_len..].trim_start_matches(is_re_space).strip_prefix('=')?;
    if after.contains('\n') {
        return None;
    }
    let value = after.trim_matches(is_re_space);
    // `.+?` takes at least one character, so a value of blanks is its last blank.
    let value = if value.is_empty() { after.get(after.len().checked_sub(1)?..)? } else { value };
    Some((name, value))
}

/// RE2's `\s`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// The `key` directive as BuildKit's `ParseDirective` (and, with `any_format`, `DetectSyntax`)
/// finds it: after a BOM and a `#!` line, `# key=`, else `//key=`, else a JSON object's `key`.
pub fn find(key: &str, text: &str, any_format: bool) -> Option<Directive> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (text, first) = match text.split_once('\n') {
        Some((line, rest)) if line.starts_with("#!") => (rest, 1),
        None if text.starts_with("#!") => ("", 1),
        _ => (text, 0),
    };
    let comments: &[&'static str] = if any_format { &["#", "//"] } else { &["#"] };
    for comment in comments {
        let (found, _) = DirectiveParser::new(comment, first).parse_all(text);
        if let Some(directive) = found.into_iter().find(|d| d.name == key) {
            return Some(directive);
        }
    }
    if !any_format {
        return None;
    }
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    let value = object.get(key)?.as_str()?;
    Some(Directive { name: key.to_string(), value: value.to_string(), line: first })
}

/// The image of a directive value: `docker/dockerfile:1 // opts` is `docker/dockerfile:1`.
pub fn first_word(value: &str) -> &str {
    value.split(' ').next().unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        let syntax = |text: &str| find("syntax", text, true).map(|d| (first_word(&d.value).to_string(), d.line));
        assert_eq!(syntax("# syntax = img:1 // opts\nFROM a\n"), Some(("img:1".into(), 1)));
        assert_eq!(syntax("#!/bin/sh\n# syntax=img\n"), Some(("img".into(), 2)));
        assert_eq!(syntax("#!/bin/sh\n\n# syntax=img\n"), None);
        assert_eq!(syntax("{\"syntax\": \"j\"}"), Some(("j".into(), 0)));
        assert_eq!(find("check", "//check=skip=all", false), None);
        let (found, error) = DirectiveParser::new("#", 0).parse_all("# escape=`\n#ESCAPE=\\\n");
        assert_eq!((found.len(), error.as_deref()), (1, Some("only one escape parser directive can be used")));
    }
}
