//! SPDX license expressions (SPDX 2.3, annex D), checked for their grammar: the value of
//! `licenses` becomes the `org.opencontainers.image.licenses` label, which scanners and
//! SBOM tools parse. Identifiers are not checked against the SPDX license list, which
//! changes every few months and would have to be shipped with the tool.

/// Deeper nesting than this is not a license anyone declares; bounding it bounds the recursion.
const MAX_DEPTH: usize = 32;

/// Ok when `text` is an SPDX license expression, e.g. `MIT OR Apache-2.0` or
/// `GPL-2.0-or-later WITH Classpath-exception-2.0`; else why not.
pub fn check_expression(text: &str) -> Result<(), String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("it is empty".to_string());
    }
    let mut parser = Parser { tokens: &tokens, at: 0 };
    parser.or_expression(0)?;
    match parser.peek() {
        None => Ok(()),
        Some(")") => Err("a `)` closes no `(`".to_string()),
        Some(token) => Err(format!("`{token}` follows a complete expression; join expressions with AND or OR")),
    }
}

fn tokenize(text: &str) -> Result<Vec<&str>, String> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let separator = c == ' ' || c == '(' || c == ')';
        if separator {
            if let Some(s) = start.take() {
                tokens.push(&text[s..i]);
            }
            if c != ' ' {
                tokens.push(&text[i..i + 1]);
            }
        } else if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+' | ':') {
            start.get_or_insert(i);
        } else {
            return Err(format!("`{}` is not allowed: identifiers are letters, digits, `-` and `.`", c.escape_debug()));
        }
    }
    if let Some(s) = start {
        tokens.push(&text[s..]);
    }
    for token in &tokens {
        let upper = token.to_ascii_uppercase();
        if matches!(upper.as_str(), "AND" | "OR" | "WITH") && *token != upper {
            return Err(format!("`{token}`: operators are upper case, `{upper}`"));
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [&'a str],
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.at).copied()
    }

    fn next(&mut self) -> Option<&'a str> {
        let token = self.peek();
        self.at += usize::from(token.is_some());
        token
    }

    /// OR binds loosest, then AND, then WITH.
    fn or_expression(&mut self, depth: usize) -> Result<(), String> {
        self.joined("OR", depth, Self::and_expression)
    }

    fn and_expression(&mut self, depth: usize) -> Result<(), String> {
        self.joined("AND", depth, Self::with_expression)
    }

    /// `operand (operator operand)*`.
    fn joined(
        &mut self,
        operator: &str,
        depth: usize,
        operand: fn(&mut Self, usize) -> Result<(), String>,
    ) -> Result<(), String> {
        operand(self, depth)?;
        while self.peek() == Some(operator) {
            self.next();
            operand(self, depth)?;
        }
        Ok(())
    }

    fn with_expression(&mut self, depth: usize) -> Result<(), String> {
        let simple = self.primary(depth)?;
        if self.peek() == Some("WITH") {
            self.next();
            if !simple {
                return Err("WITH follows a parenthesized expression; it applies to one license".to_string());
            }
            match self.next() {
                Some(exception) if is_identifier(exception) && !exception.contains('+') => {}
                Some(token) => return Err(format!("`{token}` after WITH is not an exception identifier")),
                None => return Err("WITH ends the expression; name the exception".to_string()),
            }
        }
        Ok(())
    }

    /// Parses a license or a parenthesized expression; true for a single license.
    fn primary(&mut self, depth: usize) -> Result<bool, String> {
        match self.next() {
            Some("(") => {
                if depth >= MAX_DEPTH {
                    return Err(format!("parentheses nest deeper than {MAX_DEPTH}"));
                }
                self.or_expression(depth + 1)?;
                match self.next() {
                    Some(")") => Ok(false),
                    Some(token) => Err(format!("`{token}` where a `)` or an operator belongs")),
                    None => Err("a `(` is never closed".to_string()),
                }
            }
            Some(operator @ ("AND" | "OR" | "WITH")) => Err(format!("{operator} where a license belongs")),
            Some(")") => Err("`)` where a license belongs".to_string()),
            Some(license) => {
                check_license(license)?;
                Ok(true)
            }
            None => Err("the expression ends where a license belongs".to_string()),
        }
    }
}

/// A license id, optionally followed by `+`, or `[DocumentRef-<id>:]LicenseRef-<id>`.
fn check_license(token: &str) -> Result<(), String> {
    let (reference, id) = match token.split_once(':') {
        Some((document, license)) => {
            let document_id = document.strip_prefix("DocumentRef-").filter(|id| is_idstring(id));
            if document_id.is_none() {
                return Err(format!("`{token}`: a `:` only follows `DocumentRef-<id>`"));
            }
            (true, license)
        }
        None => (token.starts_with("LicenseRef-"), token),
    };
    if reference {
        return match id.strip_prefix("LicenseRef-") {
            Some(id) if is_idstring(id) => Ok(()),
            _ => Err(format!("`{token}`: a reference is `LicenseRef-` and letters, digits, `-` or `.`")),
        };
    }
    if is_identifier(id) && id != "+" {
        Ok(())
    } else {
        Err(format!("`{token}` is not a license identifier such as `MIT`, `Apache-2.0` or `GPL-2.0+`"))
    }
}

/// An idstring with an optional trailing `+` (“or later”).
fn is_identifier(token: &str) -> bool {
    is_idstring(token.strip_suffix('+').unwrap_or(token))
}

fn is_idstring(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_of_the_spdx_grammar() {
        for ok in [
            "MIT",
            "Apache-2.0",
            "GPL-2.0+",
            "MIT OR Apache-2.0",
            "LGPL-2.1-only AND MIT AND BSD-2-Clause",
            "GPL-2.0-or-later WITH Classpath-exception-2.0",
            "(MIT OR Apache-2.0) AND Unicode-3.0",
            "((MIT))",
            "LicenseRef-Acme-Proprietary",
            "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
            "MIT AND (LGPL-2.1-or-later OR BSD-3-Clause)",
            "  MIT   OR  PostgreSQL ",
        ] {
            assert_eq!(check_expression(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (bad, why) in [
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("MIT or Apache-2.0", "`or`: operators are upper case, `OR`"),
            ("(MIT With Foo-exception)", "`With`: operators are upper case, `WITH`"),
            ("MIT/Apache-2.0", "`/` is not allowed"),
            ("MIT, BSD-3-Clause", "`,` is not allowed"),
            ("MIT Apache-2.0", "`Apache-2.0` follows a complete expression"),
            ("MIT AND", "the expression ends where a license belongs"),
            ("AND MIT", "AND where a license belongs"),
            ("(MIT", "a `(` is never closed"),
            ("MIT)", "a `)` closes no `(`"),
            ("()", "`)` where a license belongs"),
            ("(MIT OR BSD-2-Clause) WITH Classpath-exception-2.0", "WITH follows a parenthesized expression"),
            ("GPL-2.0 WITH", "WITH ends the expression"),
            ("GPL-2.0 WITH (x)", "`(` after WITH"),
            ("LicenseRef-", "a reference is `LicenseRef-`"),
            ("Foo:LicenseRef-x", "a `:` only follows `DocumentRef-<id>`"),
            ("DocumentRef-a:MIT", "a reference is `LicenseRef-`"),
            ("+", "`+` is not a license identifier"),
            ("MIT++", "`MIT++` is not a license identifier"),
            ("MIT\nOR BSD-2-Clause", "`\\n` is not allowed"),
        ] {
            let err = check_expression(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}MIT{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(check_expression(&deep), Ok(()));
        let deeper = format!("{}MIT{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(check_expression(&deeper).unwrap_err().contains("nest deeper than 32"));
    }
}
