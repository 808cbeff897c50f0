//! `.dockerignore`, matched as BuildKit does. Used by lint (is a COPY source sent?) and by
//! input digests (which files of a context count).

use std::collections::BTreeSet;

/// A .dockerignore, matched as BuildKit does: patterns in order, the last
/// match wins, `!` re-includes, and a pattern matching a directory covers
/// everything below it.
pub struct DockerIgnore {
    patterns: Vec<IgnorePattern>,
}

struct IgnorePattern {
    line: usize,
    /// As written, for messages.
    text: String,
    exception: bool,
    glob: Glob,
}

impl DockerIgnore {
    pub fn parse(text: &str) -> DockerIgnore {
        let mut patterns = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            if raw.starts_with('#') {
                continue;
            }
            let mut pattern = raw.trim();
            let exception = pattern.starts_with('!');
            if exception {
                pattern = pattern[1..].trim();
            }
            if pattern.is_empty() {
                continue;
            }
            let cleaned = clean_pattern(pattern);
            patterns.push(IgnorePattern {
                line: index + 1,
                text: raw.trim().to_string(),
                exception,
                glob: Glob::new(&cleaned, true),
            });
        }
        DockerIgnore { patterns }
    }

    /// The line and text of the pattern that keeps `path` out of the context, if one does.
    pub fn excluded(&self, path: &str) -> Option<(usize, &str)> {
        let mut verdict = None;
        for pattern in &self.patterns {
            if ancestors_and_self(path).any(|p| pattern.glob.matches(p)) {
                verdict = (!pattern.exception).then_some((pattern.line, pattern.text.as_str()));
            }
        }
        verdict
    }

    /// Whether a `!` pattern may bring back something below an excluded directory.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

/// Go's `filepath.Clean` for a pattern, without a leading `/`: `./a//b/` is `a/b`.
fn clean_pattern(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// A path wildcard: `*` and `?` stop at `/`, `[a-z]` classes, `\` escapes;
/// with `double_star`, `**` also spans directories (.dockerignore), without it
/// `**` is just `*` twice (Go's `filepath.Match`, used for COPY sources).
pub struct Glob {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `**/` or a `**` inside a pattern: any number of whole directories, even none.
    Dirs,
    /// `**` at the end: anything at all.
    Rest,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    pub fn new(pattern: &str, double_star: bool) -> Glob {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' if double_star && chars.peek() == Some(&'*') => {
                    chars.next();
                    if chars.peek() == Some(&'/') {
                        chars.next();
                    }
                    if chars.peek().is_none() {
                        Token::Rest
                    } else {
                        Token::Dirs
                    }
                }
                '*' => Token::Star,
                '?' => Token::One,
                '\\' => Token::Literal(chars.next().unwrap_or('\\')),
                '[' => {
                    let negated = chars.next_if(|&c| c == '^' || c == '!').is_some();
                    let mut ranges = Vec::new();
                    while let Some(c) = chars.next_if(|&c| c != ']') {
                        let c = if c == '\\' { chars.next().unwrap_or(c) } else { c };
                        match chars.next_if_eq(&'-') {
                            Some(_) => ranges.push((c, chars.next().unwrap_or(c))),
                            None => ranges.push((c, c)),
                        }
                    }
                    chars.next();
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            });
        }
        Glob { tokens }
    }

    pub fn matches(&self, path: &str) -> bool {
        // Longer than any path (PATH_MAX): refused rather than recursed through.
        if self.tokens.len() > 4096 {
            return false;
        }
        let text: Vec<char> = path.chars().collect();
        match_tokens(&self.tokens, &text, 0, 0, &mut BTreeSet::new())
    }
}

/// Whether `tokens[t..]` matches `text[p..]`. `failed` remembers the positions that do not:
/// without it, a pattern such as `*a*a*a*a*b` takes exponential time.
fn match_tokens(tokens: &[Token], text: &[char], t: usize, p: usize, failed: &mut BTreeSet<(usize, usize)>) -> bool {
    if failed.contains(&(t, p)) {
        return false;
    }
    let one = |ok: &dyn Fn(char) -> bool| text.get(p).is_some_and(|&c| c != '/' && ok(c));
    let matched = match tokens.get(t) {
        None => p == text.len(),
        Some(Token::Literal(l)) => text.get(p) == Some(l) && match_tokens(tokens, text, t + 1, p + 1, failed),
        Some(Token::One) => one(&|_| true) && match_tokens(tokens, text, t + 1, p + 1, failed),
        Some(Token::Class { negated, ranges }) => {
            one(&|c| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated)
                && match_tokens(tokens, text, t + 1, p + 1, failed)
        }
        Some(Token::Star) => (p..=text.len())
            .take_while(|&i| i == p || text[i - 1] != '/')
            .any(|i| match_tokens(tokens, text, t + 1, i, failed)),
        Some(Token::Dirs) => {
            match_tokens(tokens, text, t + 1, p, failed)
                || (p..text.len()).any(|i| text[i] == '/' && match_tokens(tokens, text, t + 1, i + 1, failed))
        }
        Some(Token::Rest) => true,
    };
    if !matched {
        failed.insert((t, p));
    }
    matched
}

/// `a`, `a/b`, `a/b/c` for `a/b/c`.
pub fn ancestors_and_self(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(|(i, _)| &path[..i]).chain(std::iter::once(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_matching() {
        let ignore = DockerIgnore::parse(
            "# comment\n *.log \ntarget\n/build/\n**/node_modules\ndocs/**\n!docs/keep.md\nsrc/**/*.tmp\nfile?.txt\n[ab].bin\n !  important.log\n#!x\n./dist//\n",
        );
        let excluded = |path: &str| ignore.excluded(path).map(|(line, _)| line);
        let cases = [
            ("app.log", Some(2)),
            ("sub/app.log", None),
            ("important.log", None),
            ("target", Some(3)),
            ("target/debug/x", Some(3)),
            ("targets", None),
            ("build/a", Some(4)),
            ("node_modules/x", Some(5)),
            ("a/b/node_modules", Some(5)),
            ("docs", None),
            ("docs/a.md", Some(6)),
            ("docs/keep.md", None),
            ("src/x.tmp", Some(8)),
            ("src/a/b/x.tmp", Some(8)),
            ("file1.txt", Some(9)),
            ("file10.txt", None),
            ("a.bin", Some(10)),
            ("c.bin", None),
            ("#!x", None),
            ("dist/x", Some(13)),
        ];
        for (path, line) in cases {
            assert_eq!(excluded(path), line, "{path}");
        }
        assert_eq!(ignore.excluded("target/x"), Some((3, "target")));
        assert_eq!(DockerIgnore::parse("**\n!keep\n").excluded("keep/a"), None);
        assert_eq!(DockerIgnore::parse("**\n!keep\n").excluded("other"), Some((1, "**")));
    }
}
