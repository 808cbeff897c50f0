//! SPDX license expressions (SPDX 2.3, annex D): the value of `licenses` becomes the
//! `org.opencontainers.image.licenses` label, which scanners and SBOM tools parse. The
//! `spdx` crate parses them strictly and checks identifiers against the SPDX license list
//! it ships (`spdx::license_version()`); this module adds what the crate lets through
//! (lower-case operators, whitespace other than spaces, empty `LicenseRef-`, deep nesting,
//! deprecated exceptions) and turns its errors into messages that say how to fix them.

use ::spdx::error::Reason;
use ::spdx::identifiers::{EXCEPTIONS, LICENSES};
use ::spdx::{AdditionItem, Expression, LicenseId, ParseError, ParseMode};

use crate::core::diag::nearest;

/// Deeper nesting than this is not a license anyone declares.
const MAX_DEPTH: usize = 32;

/// Ok when `text` is an SPDX license expression, e.g. `MIT OR Apache-2.0` or
/// `GPL-2.0-or-later WITH Classpath-exception-2.0`; else why not.
pub fn check_expression(text: &str) -> Result<(), String> {
    check_words(text)?;
    let expression = Expression::parse_mode(text, ParseMode::STRICT).map_err(|err| explain(text, &err))?;
    for requirement in expression.requirements() {
        if let Some(AdditionItem::Spdx(exception)) = &requirement.req.addition {
            if exception.is_deprecated() {
                return Err(format!("`{}` is a deprecated SPDX exception identifier", exception.name));
            }
        }
    }
    Ok(())
}

/// What the crate accepts but SPDX 2.3 or an OCI label should not carry: characters other
/// than identifier characters, spaces and parentheses; operators not in upper case; a `+`
/// inside a word (the crate splits `MIT+and` into three tokens); empty or malformed
/// references; nesting deeper than `MAX_DEPTH`.
fn check_words(text: &str) -> Result<(), String> {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            ' ' | '-' | '.' | '+' | ':' => {}
            c if c.is_ascii_alphanumeric() => {}
            c => {
                return Err(format!(
                    "`{}` is not allowed: identifiers are letters, digits, `-` and `.`",
                    c.escape_debug()
                ))
            }
        }
    }
    for word in text.split([' ', '(', ')']).filter(|w| !w.is_empty()) {
        let upper = word.to_ascii_uppercase();
        if matches!(upper.as_str(), "AND" | "OR" | "WITH") && word != upper {
            return Err(format!("`{word}`: operators are upper case, `{upper}`"));
        }
        if word.find('+').is_some_and(|at| at + 1 < word.len()) {
            return Err(format!("`{word}`: a `+` only ends a license identifier, e.g. `MPL-1.1+`"));
        }
        if word.contains(':') || ["LicenseRef-", "DocumentRef-", "AdditionRef-"].iter().any(|p| word.starts_with(p)) {
            check_reference(word)?;
        }
    }
    if deepest > MAX_DEPTH {
        return Err(format!("parentheses nest deeper than {MAX_DEPTH}"));
    }
    Ok(())
}

/// `[DocumentRef-<id>:]LicenseRef-<id>`, or `AdditionRef-<id>` for WITH.
fn check_reference(word: &str) -> Result<(), String> {
    let reference = match word.split_once(':') {
        Some((document, reference)) => {
            if !document.strip_prefix("DocumentRef-").is_some_and(is_idstring) {
                return Err(format!("`{word}`: a `:` only follows `DocumentRef-<id>`"));
            }
            reference
        }
        None if word.starts_with("DocumentRef-") => {
            return Err(format!("`{word}`: a `DocumentRef-<id>` is followed by `:LicenseRef-<id>`"));
        }
        None => word,
    };
    match reference.strip_prefix("LicenseRef-").or_else(|| reference.strip_prefix("AdditionRef-")) {
        Some(id) if is_idstring(id) => Ok(()),
        _ => Err(format!("`{word}`: a reference is `LicenseRef-` and letters, digits, `-` or `.`")),
    }
}

fn is_idstring(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The crate's error as a sentence; `check_words` already rejected what it could.
fn explain(text: &str, err: &ParseError) -> String {
    let at = text.get(err.span.clone()).unwrap_or_default().trim();
    let plus = text[err.span.end.min(text.len())..].starts_with('+');
    let written = if plus { format!("{at}+") } else { at.to_string() };
    match &err.reason {
        Reason::Empty => "it is empty".to_string(),
        Reason::UnclosedParens => "a `(` is never closed".to_string(),
        Reason::UnopenedParens => "a `)` closes no `(`".to_string(),
        Reason::SeparatedPlus => "a space before `+`: it directly follows the license, e.g. `MPL-1.1+`".to_string(),
        Reason::InvalidCharacters => {
            let c = at.chars().next().unwrap_or(' ').escape_debug();
            format!("`{c}` is not allowed: identifiers are letters, digits, `-` and `.`")
        }
        Reason::UnknownTerm if previous_word(text, err.span.start) == Some("WITH") => {
            let names = || EXCEPTIONS.iter().map(|e| e.name);
            // Compared without their common `-exception…` tail, which would make any two close.
            let stem = |name: &str| name.split("-exception").next().unwrap_or_default().len();
            let fix = names()
                .find(|n| n.eq_ignore_ascii_case(at))
                .or_else(|| shortest_starting_with(at, names()))
                .or_else(|| {
                    let close = nearest(&at[..stem(at)], names().map(|n| &n[..stem(n)])).filter(|_| stem(at) >= 5)?;
                    names().find(|n| n[..stem(n)] == *close)
                });
            match fix {
                Some(fix) => format!("unknown exception identifier `{at}`; did you mean `{fix}`?"),
                None => format!("unknown exception identifier `{at}`: it is not on the SPDX exception list"),
            }
        }
        Reason::UnknownTerm | Reason::UnknownLicense | Reason::UnknownException => match license_suggestion(at, plus) {
            Some(fix) => format!("unknown license identifier `{written}`; did you mean `{fix}`?"),
            None => format!("unknown license identifier `{written}`: it is not on the SPDX license list"),
        },
        Reason::DeprecatedLicenseId => match ::spdx::license_id(at).and_then(|id| successor(id, plus)) {
            Some(fix) => format!("`{written}` is a deprecated SPDX license identifier; write `{fix}`"),
            None => format!("`{written}` is a deprecated SPDX license identifier"),
        },
        Reason::GnuNoPlus | Reason::GnuPlusWithSuffix => {
            let license = previous_word(text, err.span.end).unwrap_or_default().trim_end_matches('+');
            let base = license.trim_end_matches("-only").trim_end_matches("-or-later");
            match ::spdx::gnu_license_id(base, true) {
                Some(fix) => format!("`{license}+`: GNU licenses take no `+`; write `{}`", fix.name),
                None => format!("`{license}+`: GNU licenses take no `+`; write `-or-later`"),
            }
        }
        Reason::Unexpected(expected) => unexpected(at, expected),
    }
}

/// A token where the grammar wants one of `expected` (the crate's names for them).
fn unexpected(at: &str, expected: &[&str]) -> String {
    match (at, expected.first().copied()) {
        ("", Some("<addition>")) => "WITH ends the expression; name the exception".to_string(),
        ("", _) => "the expression ends where a license belongs".to_string(),
        (_, Some("<addition>")) => format!("`{at}` after WITH is not an exception identifier"),
        ("AND" | "OR" | "WITH", Some("<license>")) => format!("{at} where a license belongs"),
        (_, Some("<license>")) if ::spdx::exception_id(at).is_some() || at.starts_with("AdditionRef-") => {
            format!("`{at}` is an exception, which follows WITH, e.g. `GPL-2.0-or-later WITH Classpath-exception-2.0`")
        }
        (_, Some("<license>")) => format!("`{at}` where a license belongs"),
        ("WITH", _) if expected == ["AND", "OR"] => {
            "WITH follows a parenthesized expression; it applies to one license".to_string()
        }
        ("+", _) => "`+` only follows a license identifier, e.g. `MPL-1.1+`".to_string(),
        ("WITH", _) => "a second WITH: a license takes one exception".to_string(),
        _ => format!("`{at}` follows a complete expression; join expressions with AND or OR"),
    }
}

/// The word of `text` that ends before byte `end`, skipping spaces and parentheses.
fn previous_word(text: &str, end: usize) -> Option<&str> {
    text[..end].trim_end_matches([' ', '(', ')']).rsplit([' ', '(', ')']).next().filter(|w| !w.is_empty())
}

/// A listed identifier that `word` (not on the list) probably means.
fn license_suggestion(word: &str, or_later: bool) -> Option<String> {
    if let Some((prefix, id)) = word.split_at_checked("LicenseRef-".len()) {
        if prefix.eq_ignore_ascii_case("LicenseRef-") && is_idstring(id) {
            return Some(format!("LicenseRef-{id}"));
        }
    }
    // Not licenses but the lack of one (npm's `UNLICENSED` is not the `Unlicense`).
    if ["NONE", "NOASSERTION", "UNLICENSED"].iter().any(|w| w.eq_ignore_ascii_case(word)) {
        return None;
    }
    let names = || LICENSES.iter().map(|l| l.name);
    let name = names()
        .find(|n| n.eq_ignore_ascii_case(word))
        // The crate's list of common misspellings, e.g. `Apache2`, `GPLv3`; it matches
        // prefixes, so only a match of the whole word counts.
        .or_else(|| ::spdx::imprecise_license_id(word).filter(|&(_, len)| len == word.len()).map(|(id, _)| id.name))
        .or_else(|| shortest_starting_with(word, names()))
        .or_else(|| nearest(word, names()).filter(|_| word.len() >= 5))?;
    successor(::spdx::license_id(name)?, or_later)
}

/// The shortest candidate that starts with the word `word`, ignoring case: `BSD-3-Clause`
/// for `BSD-3`, `LLVM-exception` for `LLVM`.
fn shortest_starting_with<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let starts = |c: &str| {
        c.get(..word.len()).is_some_and(|p| p.eq_ignore_ascii_case(word))
            && c[word.len()..].starts_with(|n: char| !n.is_ascii_alphanumeric())
    };
    candidates.filter(|c| word.len() >= 3 && starts(c)).min_by_key(|c| c.len())
}

/// What to write instead of `id` (with `+` when `or_later`): itself unless it is deprecated.
fn successor(id: LicenseId, or_later: bool) -> Option<String> {
    let plus = if or_later { "+" } else { "" };
    if !id.is_deprecated() {
        return Some(format!("{}{plus}", id.name));
    }
    if id.is_gnu() && !id.name.contains("-with-") {
        return ::spdx::gnu_license_id(id.name, or_later).map(|id| id.name.to_string());
    }
    // Identifiers the SPDX list deprecated in favour of another one or of an expression.
    let fix = match id.name {
        "BSD-2-Clause-FreeBSD" | "BSD-2-Clause-NetBSD" => "BSD-2-Clause",
        "Nunit" => "zlib-acknowledgement",
        "StandardML-NJ" => "SMLNJ",
        "bzip2-1.0.5" => "bzip2-1.0.6",
        "eCos-2.0" => "GPL-2.0-or-later WITH eCos-exception-2.0",
        "wxWindows" => "LGPL-2.0-or-later WITH WxWindows-exception-3.1",
        "GPL-2.0-with-autoconf-exception" => "GPL-2.0-only WITH Autoconf-exception-2.0",
        "GPL-2.0-with-bison-exception" => "GPL-2.0-only WITH Bison-exception-2.2",
        "GPL-2.0-with-classpath-exception" => "GPL-2.0-only WITH Classpath-exception-2.0",
        "GPL-2.0-with-font-exception" => "GPL-2.0-only WITH Font-exception-2.0",
        "GPL-2.0-with-GCC-exception" => "GPL-2.0-only WITH GCC-exception-2.0",
        "GPL-3.0-with-autoconf-exception" => "GPL-3.0-only WITH Autoconf-exception-3.0",
        "GPL-3.0-with-GCC-exception" => "GPL-3.0-only WITH GCC-exception-3.1",
        _ => return None,
    };
    (!or_later || !fix.contains(' ')).then(|| format!("{fix}{plus}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_of_the_spdx_grammar_with_listed_identifiers() {
        for ok in [
            "MIT",
            "Apache-2.0",
            "MPL-1.1+",
            "GPL-2.0-or-later",
            "MIT OR Apache-2.0",
            "LGPL-2.1-only AND MIT AND BSD-2-Clause",
            "GPL-2.0-or-later WITH Classpath-exception-2.0",
            "(MIT OR Apache-2.0) AND Unicode-3.0",
            "((MIT))",
            "LicenseRef-acme",
            "LicenseRef-Acme-Proprietary",
            "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
            "LicenseRef-acme WITH Classpath-exception-2.0",
            "GPL-2.0-only WITH AdditionRef-acme-linking",
            "MIT AND (LGPL-2.1-or-later OR BSD-3-Clause)",
            "  MIT   OR  PostgreSQL ",
            "PSF-2.0 AND 0BSD",
            "ISC",
        ] {
            assert_eq!(check_expression(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong_and_how_to_fix_it() {
        for (bad, why) in [
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("Apache2", "unknown license identifier `Apache2`; did you mean `Apache-2.0`?"),
            ("MIT OR apache-2.0", "unknown license identifier `apache-2.0`; did you mean `Apache-2.0`?"),
            ("GPLv3", "unknown license identifier `GPLv3`; did you mean `GPL-3.0-only`?"),
            ("BSD-3-Claus", "unknown license identifier `BSD-3-Claus`; did you mean `BSD-3-Clause`?"),
            ("licenseref-acme", "unknown license identifier `licenseref-acme`; did you mean `LicenseRef-acme`?"),
            ("Acme-Proprietary", "unknown license identifier `Acme-Proprietary`: it is not on the SPDX license list"),
            ("garbage", "unknown license identifier `garbage`: it is not on the SPDX license list"),
            ("garbage!", "`!` is not allowed"),
            (
                "GPL-2.0-or-later WITH Classpath-exception",
                "unknown exception identifier `Classpath-exception`; did you mean `Classpath-exception-2.0`?",
            ),
            (
                "MIT WITH Foo-bar-baz",
                "unknown exception identifier `Foo-bar-baz`: it is not on the SPDX exception list",
            ),
            ("GPL-2.0", "`GPL-2.0` is a deprecated SPDX license identifier; write `GPL-2.0-only`"),
            ("MIT OR GPL-2.0+", "`GPL-2.0+` is a deprecated SPDX license identifier; write `GPL-2.0-or-later`"),
            ("StandardML-NJ", "`StandardML-NJ` is a deprecated SPDX license identifier; write `SMLNJ`"),
            ("GPL-2.0-only+", "`GPL-2.0-only+`: GNU licenses take no `+`; write `GPL-2.0-or-later`"),
            ("GPL-2.0-only WITH Nokia-Qt-exception-1.1", "`Nokia-Qt-exception-1.1` is a deprecated SPDX exception"),
            ("MIT or Apache-2.0", "`or`: operators are upper case, `OR`"),
            ("(MIT With Classpath-exception-2.0)", "`With`: operators are upper case, `WITH`"),
            ("MIT/Apache-2.0", "`/` is not allowed"),
            ("MIT, BSD-3-Clause", "`,` is not allowed"),
            ("MIT\nOR BSD-2-Clause", "`\\n` is not allowed"),
            ("MIT\tOR BSD-2-Clause", "`\\t` is not allowed"),
            ("MIT Apache-2.0", "`Apache-2.0` follows a complete expression; join expressions with AND or OR"),
            ("MIT AND", "the expression ends where a license belongs"),
            ("AND MIT", "AND where a license belongs"),
            ("(MIT", "a `(` is never closed"),
            ("MIT)", "a `)` closes no `(`"),
            ("()", "`)` where a license belongs"),
            ("(MIT OR BSD-2-Clause) WITH Classpath-exception-2.0", "WITH follows a parenthesized expression"),
            ("GPL-2.0-only WITH", "WITH ends the expression"),
            ("GPL-2.0-only WITH (x)", "`(` after WITH is not an exception identifier"),
            ("GPL-2.0-only WITH MIT", "`MIT` after WITH is not an exception identifier"),
            ("Classpath-exception-2.0", "`Classpath-exception-2.0` is an exception, which follows WITH"),
            ("MIT +", "a space before `+`"),
            ("+", "`+` where a license belongs"),
            ("MIT++", "`MIT++`: a `+` only ends a license identifier"),
            ("MIT+and MIT", "`MIT+and`: a `+` only ends a license identifier"),
            ("(MIT)+", "`+` only follows a license identifier"),
            ("LicenseRef-", "a reference is `LicenseRef-`"),
            ("DocumentRef-a:LicenseRef-", "a reference is `LicenseRef-`"),
            ("DocumentRef-:LicenseRef-a", "a `:` only follows `DocumentRef-<id>`"),
            ("Foo:LicenseRef-x", "a `:` only follows `DocumentRef-<id>`"),
            ("DocumentRef-a:MIT", "a reference is `LicenseRef-`"),
            ("DocumentRef-a", "is followed by `:LicenseRef-<id>`"),
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

    #[test]
    fn every_suggested_successor_is_accepted() {
        for license in LICENSES.iter().filter(|l| l.flags & ::spdx::flags::IS_DEPRECATED != 0) {
            let id = ::spdx::license_id(license.name).unwrap();
            for or_later in [false, true] {
                if let Some(fix) = successor(id, or_later) {
                    assert_eq!(check_expression(&fix), Ok(()), "{} -> {fix}", license.name);
                }
            }
        }
    }
}
