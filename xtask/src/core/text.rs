//! Small text helpers shared by every layer: tables, durations, sizes, plurals.

use std::time::Duration;

/// The last `n` lines of a process's output, for error messages.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `1 image`, `2 images`.
pub fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `12.3 MB` (decimal, as registries and budgets count).
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.2} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

/// A plain-text table with left-aligned columns. Every cell is `sanitize`d: cells hold
/// registry data (platform names, error messages, labels).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|row| row.iter().map(|cell| sanitize(cell)).collect()).collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(String::as_str).collect()));
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `1m05s`, `12.3s`: durations as people read them.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// A registry-sourced (or other foreign) value made safe for one line of a terminal or a CI
/// log: control characters (ESC, CR, LF, …), Unicode line separators and bidirectional
/// overrides are escaped (`\n`, `\u{1b}`), and a value that starts with `::` (a GitHub workflow command)
/// gets a `\` in front, so that no line can be made to begin with it.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    guard_workflow_command(&out)
}

/// A foreign value as one cell of a markdown table: cleaned as [`sanitize`] cleans it, its
/// `|` escaped so that it cannot end the cell.
pub fn markdown_cell(text: &str) -> String {
    sanitize(text).replace('|', "\\|")
}

/// Text of several lines from elsewhere (an error chain, a process's message): every line
/// cleaned as `sanitize` cleans a value, the line breaks kept.
pub fn sanitize_lines(text: &str) -> String {
    text.split('\n').map(|line| sanitize(line.strip_suffix('\r').unwrap_or(line))).collect::<Vec<_>>().join("\n")
}

/// Characters a terminal or a log viewer acts on rather than shows.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `::error::x` → `\::error::x` (after any leading spaces), which no runner reads as a command.
fn guard_workflow_command(text: &str) -> String {
    let body = text.trim_start();
    if body.starts_with("::") {
        let indent = &text[..text.len() - body.len()];
        format!("{indent}\\{body}")
    } else {
        text.to_string()
    }
}

/// `url` without the `user:password@` of its authority, which may hold a CI token
/// (`https://ci-token:SECRET@host/acme/app.git` → `https://host/acme/app.git`); scp-like
/// git remotes (`user@host:path`) lose their user too. Anything else is returned as it is.
pub fn without_userinfo(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        return match authority.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://{host}{tail}"),
            None => url.to_string(),
        };
    }
    // scp-like `user@host:path`: an `@` before the first `/`.
    let head = &url[..url.find('/').unwrap_or(url.len())];
    match head.rfind('@') {
        Some(at) if head[at..].contains(':') => url[at + 1..].to_string(),
        _ => url.to_string(),
    }
}

/// Text as XML or HTML character data (`attribute`: inside a quoted attribute value).
/// Characters XML 1.0 cannot hold (terminal escapes in a container's output), bidirectional
/// overrides and line separators are written out as `\u{..}`, so the document stays valid and
/// shows what it holds.
pub fn markup(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' || unsafe_char(c) => {
                out.push_str(&c.escape_unicode().to_string())
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_text_is_made_safe_for_a_terminal_and_a_ci_log() {
        assert_eq!(sanitize("linux/amd64"), "linux/amd64");
        assert_eq!(sanitize("a\u{1b}[31mred\u{7}"), "a\\u{1b}[31mred\\u{7}");
        assert_eq!(sanitize("x\n::error::pwned"), "x\\n::error::pwned");
        assert_eq!(sanitize("::error::pwned"), "\\::error::pwned");
        assert_eq!(sanitize("  ::set-output name=x::y"), "  \\::set-output name=x::y");
        assert_eq!(sanitize("right\u{202e}txt.exe\u{2028}"), "right\\u{202e}txt.exe\\u{2028}");
        assert_eq!(sanitize("tab\there\r"), "tab\\there\\r");
        assert_eq!(sanitize("héllo 名前 a::b"), "héllo 名前 a::b", "printable text stays");
        assert_eq!(
            sanitize_lines("error: x\n::error::y\r\n  caused by: \u{1b}]0;t\u{7}"),
            "error: x\n\\::error::y\n  caused by: \\u{1b}]0;t\\u{7}"
        );
        for line in sanitize_lines("a\n::x\n \t::y\r\u{85}::z").lines() {
            assert!(!line.trim_start().starts_with("::"), "{line:?}");
        }
    }

    #[test]
    fn userinfo_is_stripped_from_urls_and_git_remotes() {
        assert_eq!(without_userinfo("https://ci-token:SECRET@host/acme/app.git"), "https://host/acme/app.git");
        assert_eq!(without_userinfo("https://u@h.test:8443/a?b=c@d"), "https://h.test:8443/a?b=c@d");
        assert_eq!(without_userinfo("https://a:b@c@h.test/x"), "https://h.test/x", "the last @ ends the userinfo");
        assert_eq!(without_userinfo("ssh://git@h.test:22/a.git"), "ssh://h.test:22/a.git");
        assert_eq!(without_userinfo("https://h.test/a@b"), "https://h.test/a@b", "an @ in the path stays");
        assert_eq!(without_userinfo("oauth2:tok@h.test:acme/app.git"), "h.test:acme/app.git");
        assert_eq!(without_userinfo("git@h.test:acme/app.git"), "h.test:acme/app.git");
        assert_eq!(without_userinfo("/srv/git/app@v1"), "/srv/git/app@v1");
        assert_eq!(without_userinfo("../app"), "../app");
    }

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["base".to_string(), "linux/amd64".to_string()],
            vec!["python:python3.13".to_string(), "x".to_string()],
        ];
        assert_eq!(
            table(&["UNIT", "PLATFORM"], &rows),
            "UNIT               PLATFORM\n-----------------  -----------\nbase               linux/amd64\npython:python3.13  x"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(duration(Duration::from_secs(65)), "1m05s");
    }
}
