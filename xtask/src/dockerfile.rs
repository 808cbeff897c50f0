//! Just enough Dockerfile parsing to find the in-repo parents a file names:
//! logical lines (continuations, comments, the escape directive) and `FROM`.

/// One `FROM` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// 1-based line where the instruction starts.
    pub line: usize,
    pub image: String,
    pub stage: Option<String>,
}

/// Every `FROM` in the file, in order.
pub fn froms(text: &str) -> Vec<From> {
    instructions(text)
        .into_iter()
        .filter(|(_, words)| words.first().is_some_and(|w| w.eq_ignore_ascii_case("FROM")))
        .filter_map(|(line, words)| {
            // Skip flags such as --platform=$BUILDPLATFORM.
            let mut rest = words.into_iter().skip(1).filter(|w| !w.starts_with("--"));
            let image = rest.next()?;
            let stage = match (rest.next(), rest.next()) {
                (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("AS") => Some(name),
                _ => None,
            };
            Some(From { line, image, stage })
        })
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

/// Logical instructions as (first line, words), with continuations joined and
/// comments dropped. Heredoc bodies are not instructions and are skipped.
fn instructions(text: &str) -> Vec<(usize, Vec<String>)> {
    let escape = escape_char(text);
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut heredoc: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        if let Some(end) = &heredoc {
            if raw.trim() == end {
                heredoc = None;
            }
            continue;
        }
        let trimmed = raw.trim_start();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if !current.is_empty() && trimmed.starts_with('#') {
            continue; // comment lines inside a continuation are ignored
        }
        if current.is_empty() {
            start = i + 1;
        }
        match raw.trim_end().strip_suffix(escape) {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(raw);
                heredoc = heredoc_end(&current);
                out.push((start, current.split_whitespace().map(str::to_string).collect()));
                current.clear();
            }
        }
    }
    if !current.is_empty() {
        out.push((start, current.split_whitespace().map(str::to_string).collect()));
    }
    out
}

/// The `# escape=` parser directive, which must come before any instruction.
fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else { break };
        if let Some((key, value)) = directive.split_once('=') {
            if key.trim().eq_ignore_ascii_case("escape") && value.trim() == "`" {
                return '`';
            }
        }
    }
    '\\'
}

/// The terminator of a heredoc opened on this instruction (`<<EOF`, `<<-"EOF"`).
fn heredoc_end(instruction: &str) -> Option<String> {
    let at = instruction.find("<<")?;
    let word = instruction[at + 2..].trim_start_matches('-').split_whitespace().next()?;
    let word = word.trim_matches(|c| c == '"' || c == '\'');
    (!word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| word.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let text = "# escape=`\nFROM `\n  $DEBIAN_IMAGE\n";
        assert_eq!(froms(text), vec![From { line: 2, image: "$DEBIAN_IMAGE".to_string(), stage: None }]);
    }

    #[test]
    fn referenced_args_in_image_expressions() {
        assert_eq!(referenced_args("${BASE_IMAGE}"), ["BASE_IMAGE"]);
        assert_eq!(referenced_args("$REGISTRY/x:${TAG}"), ["REGISTRY", "TAG"]);
        assert!(referenced_args("debian:12").is_empty());
    }
}
