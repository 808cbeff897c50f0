//! Shell-word processing as BuildKit's `shell.Lex` does it: quotes, escapes and `$VAR`,
//! `${VAR}`, `${VAR:-word}` and the other modifiers, expanded in one pass, so that quotes and
//! escapes only take effect where the shell's would (`'$X'` and `\$X` stay literal). Used for
//! FROM, ARG, ENV, COPY sources and the other instructions BuildKit expands, for the words of
//! shell-form arguments, and for heredoc markers.

/// How words are processed; the defaults are BuildKit's `NewLex('\\')`.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
    /// Keep quote characters in the result (they still group words).
    pub raw_quotes: bool,
    /// Keep escape characters in the result (they still escape).
    pub raw_escapes: bool,
    /// Leave references to unset variables as written instead of expanding them to nothing.
    pub skip_unset: bool,
}

impl Default for Lexer {
    fn default() -> Lexer {
        Lexer { escape: '\\', raw_quotes: false, raw_escapes: false, skip_unset: false }
    }
}

/// The outcome of processing one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processed {
    /// `ProcessWord`: the word expanded, quotes and escapes removed, spaces kept.
    pub text: String,
    /// `ProcessWords`: the same split into words after expansion (quoted spaces do not split).
    pub words: Vec<String>,
    /// Variables that were unset and had no default or alternative: they expanded to nothing.
    pub unset: Vec<String>,
    /// Every variable name looked up, in order.
    pub referenced: Vec<String>,
}

/// How deep `${A:-${B:-...}}` words nest before the rest is kept as written: real files nest
/// two or three, and a hostile one must not exhaust the stack.
pub const MAX_NESTING: usize = 32;

/// Work allowed for one `${X#pattern}`, `${X%pattern}` or `${X/pattern/new}` (pattern length
/// times value length, times the value length again for a search): a hostile 1 MiB file
/// must not take hours.
const PATTERN_BUDGET: usize = 50_000_000;

impl Lexer {
    /// Processes `word` with the variables `env` gives (`None`: unset). The error is BuildKit's
    /// wording: `failed to process "<word>": <why>`.
    pub fn process(&self, word: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Processed, String> {
        let mut state = State {
            lexer: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            unset: Vec::new(),
            referenced: Vec::new(),
        };
        match state.stop_on(None, self.raw_escapes, 0) {
            Ok((text, words)) => Ok(Processed { text, words, unset: state.unset, referenced: state.referenced }),
            Err(why) => Err(format!("failed to process {}: {why}", go_quote(word))),
        }
    }
}

struct State<'a> {
    lexer: Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Fn(&str) -> Option<String>,
    raw_escapes: bool,
    unset: Vec<String>,
    referenced: Vec<String>,
}

/// Words as `ProcessWords` builds them: unquoted spaces split, quoted text never does.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() && self.in_word {
            if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else if !c.is_whitespace() {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_raw(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

impl State<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        self.referenced.push(name.to_string());
        (self.env)(name)
    }

    /// Processes up to `stop` (consumed) or the end.
    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        depth: usize,
    ) -> Result<(String, Vec<String>), String> {
        if depth > MAX_NESTING {
            return self.verbatim(stop);
        }
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.stop_on_inner(stop, depth);
        self.raw_escapes = saved;
        result
    }

    fn stop_on_inner(&mut self, stop: Option<char>, depth: usize) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let special = match c {
                '$' => Some(self.dollar(depth)?),
                '<' => Some(self.possible_heredoc()),
                '\'' => Some(self.single_quote()?),
                '"' => Some(self.double_quote(depth)?),
                _ => None,
            };
            if let Some(text) = special {
                result.push_str(&text);
                if c == '$' {
                    text.chars().for_each(|c| words.add_char(c));
                } else {
                    words.add_raw(&text);
                }
                continue;
            }
            self.pos += 1;
            if c == self.lexer.escape {
                if self.raw_escapes {
                    words.add_raw_char(c);
                    result.push(c);
                }
                // The escape escapes anything but the end of the word.
                let Some(escaped) = self.next() else { break };
                words.add_raw_char(escaped);
                result.push(escaped);
            } else {
                words.add_char(c);
                result.push(c);
            }
        }
        match stop {
            Some(stop) => Err(format!("unexpected end of statement while looking for matching {stop}")),
            None => Ok((result, words.finish())),
        }
    }

    /// Past the nesting limit: the text up to the `}` that closes this `${`, kept as written.
    fn verbatim(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut text = String::new();
        let mut open = 0usize;
        while let Some(c) = self.next() {
            if c == '$' && self.peek() == Some('{') {
                open += 1;
            } else if c == '}' && open > 0 {
                open -= 1;
            } else if Some(c) == stop {
                return Ok((text.clone(), vec![text]));
            }
            text.push(c);
        }
        match stop {
            Some(_) => Err("syntax error: missing '}'".to_string()),
            None => Ok((text.clone(), vec![text])),
        }
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".into()),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self, depth: usize) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar(depth)?),
                Some(c) => {
                    self.pos += 1;
                    let mut c = c;
                    if c == self.lexer.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            // An escape at the end of the word is dropped.
                            None => continue,
                            // Only these can be escaped inside double quotes; other escapes stay.
                            Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                                c = n;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `<<` and the blanks after it stay one word with what follows (`<< EOF`).
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.pos += 1;
        let mut out = "<<".to_string();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    /// A name, a run of digits (a positional parameter) or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphabetic() || c.is_numeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }

    fn dollar(&mut self, depth: usize) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${name}"),
                None => {
                    self.unset.push(name);
                    String::new()
                }
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let c = self.next();
        let mut modifier = c.map_or('\u{fffd}'.to_string(), String::from);
        match c {
            Some('}') => {
                return Ok(match self.lookup(&name) {
                    Some(value) => value,
                    None if self.lexer.skip_unset => format!("${{{name}}}"),
                    None => {
                        self.unset.push(name);
                        String::new()
                    }
                });
            }
            Some('/') => return self.replace(&name, depth),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {}
            _ => return Err(format!("unsupported modifier ({modifier}) in substitution")),
        }
        let mut op = c;
        let null_is_unset = c == Some(':');
        if null_is_unset {
            op = self.next();
            modifier.push(op.unwrap_or('\u{fffd}'));
        }
        let pattern = matches!(op, Some('#' | '%'));
        if null_is_unset && pattern {
            return Err(format!("unsupported modifier ({modifier}) in substitution"));
        }
        let word = match self.stop_on(Some('}'), pattern, depth + 1) {
            Ok((word, _)) => word,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(why) => return Err(why),
        };
        let value = self.lookup(&name);
        if self.lexer.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let set = value.as_ref().is_some_and(|v| !(null_is_unset && v.is_empty()));
        match op {
            Some('-') => Ok(if set { value.unwrap_or_default() } else { word }),
            Some('+') => Ok(if set { word } else { String::new() }),
            Some('?') => match value {
                None => Err(format!("{name}: {}", if word.is_empty() { "is not allowed to be unset" } else { &word })),
                Some(v) if null_is_unset && v.is_empty() => {
                    Err(format!("{name}: {}", if word.is_empty() { "is not allowed to be empty" } else { &word }))
                }
                Some(v) => Ok(v),
            },
            Some(op @ ('#' | '%')) => {
                let (greedy, word) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                let value = value.unwrap_or_default();
                let glob = Glob::new(&word).map_err(|e| format!("invalid pattern ({word}) in substitution: {e}"))?;
                let value: Vec<char> = value.chars().collect();
                let trimmed = if op == '#' {
                    let end = glob.prefix(&value, greedy)?.unwrap_or(0);
                    value[end..].iter().collect()
                } else {
                    let reversed: Vec<char> = value.iter().rev().copied().collect();
                    let end = glob.reversed().prefix(&reversed, greedy)?.unwrap_or(0);
                    value[..value.len() - end].iter().collect()
                };
                Ok(trimmed)
            }
            _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, name: &str, depth: usize) -> Result<String, String> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = match self.stop_on(Some('/'), true, depth + 1) {
            Ok((word, _)) => word,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '/' in ${}".into()),
            Err(why) => return Err(why),
        };
        let replacement = match self.stop_on(Some('}'), true, depth + 1) {
            Ok((word, _)) => word,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(why) => return Err(why),
        };
        let value = self.lookup(name);
        if self.lexer.skip_unset && value.is_none() {
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        let glob = Glob::new(&pattern).map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
        let value: Vec<char> = value.unwrap_or_default().chars().collect();
        let mut out = String::new();
        let mut at = 0;
        let mut last_end = None;
        let mut budget = PATTERN_BUDGET;
        while at <= value.len() {
            let Some((start, end)) = glob.find(&value, at, &mut budget)? else { break };
            // An empty match right after the previous match is skipped, as Go's regexp does.
            if start == end && last_end == Some(start) {
                out.extend(value.get(start));
                at = start + 1;
                continue;
            }
            out.extend(&value[at..start]);
            out.push_str(&replacement);
            last_end = Some(end);
            if !all {
                at = end;
                break;
            }
            if start == end {
                out.extend(value.get(start));
                at = end + 1;
            } else {
                at = end;
            }
        }
        if at < value.len() {
            out.extend(&value[at..]);
        }
        Ok(out)
    }
}

/// A shell pattern: `*`, `?` and literal characters (`\*`, `\?`, `\\` escape; `\}` and `\/`
/// are the characters themselves), without bracket expressions, as BuildKit supports.
#[derive(Debug, Clone)]
struct Glob(Vec<Token>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Star,
    Any,
    Char(char),
}

impl Glob {
    fn new(pattern: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Star,
                '?' => Token::Any,
                '\\' if matches!(chars.peek(), Some('}' | '/')) => continue,
                '\\' => match chars.next() {
                    Some(e @ ('*' | '?' | '\\')) => Token::Char(e),
                    other => return Err(format!("invalid escape '\\{}'", other.unwrap_or('\u{fffd}'))),
                },
                c => Token::Char(c),
            });
        }
        Ok(Glob(tokens))
    }

    fn reversed(&self) -> Glob {
        Glob(self.0.iter().rev().copied().collect())
    }

    /// Adds `state` and what a `*` lets it skip to.
    fn close(&self, states: &mut [bool], mut state: usize) {
        while state <= self.0.len() && !states[state] {
            states[state] = true;
            if self.0.get(state) != Some(&Token::Star) {
                break;
            }
            state += 1;
        }
    }

    /// The end of the shortest (or, `greedy`, longest) match at `start`, by stepping the set
    /// of pattern positions along the text.
    fn match_at(&self, text: &[char], start: usize, greedy: bool, budget: &mut usize) -> Result<Option<usize>, String> {
        let n = self.0.len();
        let mut states = vec![false; n + 1];
        self.close(&mut states, 0);
        let mut found = None;
        let mut at = start;
        loop {
            if states[n] {
                found = Some(at);
                if !greedy {
                    return Ok(found);
                }
            }
            if at == text.len() || !states.contains(&true) {
                return Ok(found);
            }
            *budget = budget.checked_sub(n + 1).ok_or("pattern too costly to match")?;
            let c = text[at];
            let mut next = vec![false; n + 1];
            for (state, _) in states.iter().enumerate().filter(|(_, on)| **on) {
                match self.0.get(state) {
                    Some(Token::Star) => self.close(&mut next, state),
                    Some(Token::Any) => self.close(&mut next, state + 1),
                    Some(Token::Char(want)) if *want == c => self.close(&mut next, state + 1),
                    _ => {}
                }
            }
            states = next;
            at += 1;
        }
    }

    /// The length of the matching prefix of `text`, shortest or longest.
    fn prefix(&self, text: &[char], greedy: bool) -> Result<Option<usize>, String> {
        let mut budget = PATTERN_BUDGET;
        self.match_at(text, 0, greedy, &mut budget)
    }

    /// The leftmost, longest match starting at or after `from`.
    fn find(&self, text: &[char], from: usize, budget: &mut usize) -> Result<Option<(usize, usize)>, String> {
        for start in from..=text.len() {
            if let Some(end) = self.match_at(text, start, true, budget)? {
                return Ok(Some((start, end)));
            }
        }
        Ok(None)
    }
}

/// `s` quoted as Go's `strconv.Quote` does, which BuildKit's messages and AST dumps use.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.IsPrint`, near enough: no controls, no spaces but ' ', no format characters.
fn printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let code = c as u32;
    let format = matches!(code, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe0001 | 0xe0020..=0xe007f);
    let private_or_unassigned = matches!(code, 0xe000..=0xf8ff | 0xf0000..=0x10ffff | 0xfffe | 0xffff);
    !c.is_control() && !c.is_whitespace() && !format && !private_or_unassigned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Result<String, String> {
        let env = |name: &str| match name {
            "PWD" => Some("/home".to_string()),
            "EMPTY" => Some(String::new()),
            "V" => Some("a/b/c.tar.gz".to_string()),
            _ => None,
        };
        Lexer::default().process(text, &env).map(|p| p.text)
    }

    #[test]
    fn quotes_and_escapes_apply_after_expansion() {
        assert_eq!(word("'$PWD'").unwrap(), "$PWD");
        assert_eq!(word("\\$PWD").unwrap(), "$PWD");
        assert_eq!(word("${NOPE:-\\$PWD}").unwrap(), "$PWD");
        assert_eq!(word("\"$PWD\"'x'").unwrap(), "/homex");
        assert_eq!(word("$1$@$#x").unwrap(), "x");
        assert_eq!(word("${NOPE:-bbb {foo}").unwrap(), "bbb {foo");
    }

    #[test]
    fn errors_in_buildkit_words() {
        let cases = [
            (
                "\"abc",
                "failed to process \"\\\"abc\": unexpected end of statement while looking for matching double-quote",
            ),
            ("'abc", "failed to process \"'abc\": unexpected end of statement while looking for matching single-quote"),
            ("${}", "failed to process \"${}\": syntax error: bad substitution"),
            ("${X", "failed to process \"${X\": unsupported modifier (\u{fffd}) in substitution"),
            ("${X:-a", "failed to process \"${X:-a\": syntax error: missing '}'"),
            ("${X:=a}", "failed to process \"${X:=a}\": unsupported modifier (:=) in substitution"),
            ("${X:?}", "failed to process \"${X:?}\": X: is not allowed to be unset"),
            ("${EMPTY:?no}", "failed to process \"${EMPTY:?no}\": EMPTY: no"),
        ];
        for (text, message) in cases {
            assert_eq!(word(text), Err(message.to_string()), "{text}");
        }
    }

    #[test]
    fn patterns() {
        assert_eq!(word("${V#*/}|${V##*/}|${V%.*}|${V%%.*}").unwrap(), "b/c.tar.gz|c.tar.gz|a/b/c.tar|a/b/c");
        assert_eq!(word("${V/\\//-}|${V//\\//-}|${V//?/x}").unwrap(), "a-b/c.tar.gz|a-b-c.tar.gz|xxxxxxxxxxxx");
        assert_eq!(word("${NOPE//*/x}|${V/q/x}|${V/z/x}").unwrap(), "x|a/b/c.tar.gz|a/b/c.tar.gx");
        assert!(word("${V#\\x}").unwrap_err().contains("invalid pattern (\\x) in substitution: invalid escape '\\x'"));
        assert!(word("${V:#x}").unwrap_err().contains("unsupported modifier (:#)"));
        let huge = format!("${{H//{}b/x}}", "*a".repeat(3000));
        let long = "a".repeat(100_000);
        let env = |_: &str| Some(long.clone());
        let started = std::time::Instant::now();
        assert!(Lexer::default().process(&huge, &env).is_err(), "a hostile pattern runs out of budget");
        assert!(started.elapsed().as_secs() < 20);
    }

    #[test]
    fn skip_unset_keeps_references() {
        let lexer = Lexer { skip_unset: true, ..Lexer::default() };
        let got = lexer.process("$A ${B} ${C:-d} ${E/x/y} \"q\"", &|_| None).unwrap();
        assert_eq!(got.text, "$A ${B} ${C:-d} ${E/x/y} q");
        assert_eq!(got.words, ["$A", "${B}", "${C:-d}", "${E/x/y}", "q"]);
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("a\"b\\c\n\u{0}é♥\u{a0}\u{feff}"), "\"a\\\"b\\\\c\\n\\x00é♥\\u00a0\\ufeff\"");
    }
}
