//! Heredoc markers as BuildKit finds them: the logical line is split into shell words (quotes
//! and escapes kept, `<< EOF` one word), and each word of the form `[fd]<<[-][blanks]word` opens
//! a heredoc whose name is the word with its quotes and escapes removed; any quoting turns
//! expansion of the body off.

use super::lexer::Lexer;

/// An opened heredoc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub name: String,
    /// `3<<EOF` reads from file descriptor 3; 0 by default.
    pub fd: u32,
    /// No part of the word was quoted, so the body is expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are removed from the body and the terminator.
    pub chomp: bool,
}

/// The heredoc a word opens: `Ok(None)` when it opens none, an error when its quoting is broken.
pub fn parse_heredoc(word: &str) -> Result<Option<Marker>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else { return Ok(None) };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(['\t', '\n', '\u{c}', '\r', ' ']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    // Without quotes and escapes, then with the quotes: when they differ, part of it was quoted.
    let lexer = Lexer { skip_unset: true, ..Lexer::default() };
    let words = lexer.process(rest, &|_| None)?.words;
    let [name] = words.as_slice() else { return Ok(None) };
    let raw = Lexer { raw_quotes: true, ..lexer }.process(rest, &|_| None)?.words;
    let quotes = |w: &str| w.matches(['\'', '"']).count();
    let expand = raw.len() == 1 && quotes(name) == quotes(&raw[0]);
    let fd = word[..digits].parse().unwrap_or(0);
    Ok(Some(Marker { name: name.clone(), fd, expand, chomp }))
}

/// The heredocs a logical line opens, in order. A line whose words do not lex (an unterminated
/// quote) opens none.
pub fn heredocs_from_line(line: &str) -> Result<Vec<Marker>, String> {
    let lexer = Lexer { raw_quotes: true, raw_escapes: true, skip_unset: true, ..Lexer::default() };
    let Ok(processed) = lexer.process(line, &|_| None) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for word in &processed.words {
        out.extend(parse_heredoc(word)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let name = |w: &str| parse_heredoc(w).map(|m| m.map(|m| (m.name, m.expand, m.chomp, m.fd)));
        assert_eq!(name("<<eo'f'"), Ok(Some(("eof".into(), false, false, 0))));
        assert_eq!(name("3<<-\"EO\"F"), Ok(Some(("EOF".into(), false, true, 3))));
        assert_eq!(name("<< EOF"), Ok(Some(("EOF".into(), true, false, 0))));
        assert_eq!(name("<<EOF sh"), Ok(None));
        assert!(name("<<'EOF").is_err());
        let names = |line: &str| heredocs_from_line(line).unwrap().into_iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(names("RUN << -EOF <<'A B' \"<<C\""), ["-EOF", "A B"]);
        assert!(names("RUN <<'EOF").is_empty(), "an unbalanced quote opens nothing");
    }
}
