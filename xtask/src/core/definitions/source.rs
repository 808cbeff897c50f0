//! Errors that point into one file: its line, column and key, and how to fix it.

use super::*;

/// A definition error: where it is, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    pub file: Utf8PathBuf,
    pub at: Option<LineCol>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(at) = self.at {
            write!(f, ":{at}")?;
        }
        write!(f, ": {}", elide(&self.message))?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", elide(hint))?;
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionError {}

/// Messages quote the value at fault, which hostile input makes megabytes long: past
/// `SHOWN` characters, only its two ends are shown.
pub(super) fn elide(text: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 600;
    let count = text.chars().count();
    if count <= SHOWN {
        return text.into();
    }
    let head: String = text.chars().take(SHOWN / 2).collect();
    let tail: String = text.chars().skip(count - SHOWN / 4).collect();
    format!("{head}[... {} characters ...]{tail}", count - SHOWN / 2 - SHOWN / 4).into()
}

/// Builds errors that point into one file.
pub(super) struct Source<'a> {
    pub(super) file: &'a Utf8Path,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(super) fn error(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: String,
        hint: Option<String>,
    ) -> DefinitionError {
        DefinitionError { file: self.file.to_owned(), at: span.map(|s| LineCol::of(self.text, s.start)), message, hint }
    }

    pub(super) fn at<T>(
        &self,
        value: &Spanned<T>,
        message: String,
        hint: impl Into<Option<String>>,
    ) -> DefinitionError {
        self.error(Some(value.span()), message, hint.into())
    }

    /// Turns a serde/TOML error into one that names the key and suggests a fix.
    pub(super) fn parse_error(&self, err: toml::de::Error) -> DefinitionError {
        let message = err.message().trim_end().to_string();
        let span = err.span().or_else(|| long_dotted_key(self.text).map(|at| at..at));
        if let Some(unknown) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
            let expected: Vec<&str> = message
                .split_once("expected")
                .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
                .unwrap_or_default();
            let hint = match nearest(unknown, expected.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? Valid keys here: {}", expected.join(", ")),
                None if expected.is_empty() => "remove it".to_string(),
                None => format!("remove it, or use one of: {}", expected.join(", ")),
            };
            return self.error(span, format!("unknown key `{unknown}`"), Some(hint));
        }
        let hint = if message.contains("missing field") {
            Some("add the missing key".to_string())
        } else if message.starts_with("invalid type") {
            Some("check the value's type against the image.toml reference in README.md".to_string())
        } else if message.starts_with("unknown variant") {
            Some("use one of the values listed".to_string())
        } else if message.contains("recurs") {
            Some("nest tables, arrays and dotted keys less deeply".to_string())
        } else if message.starts_with("duplicate key") {
            Some("a key appears once per table: remove or rename one".to_string())
        } else {
            Some("fix the TOML syntax here (see https://toml.io)".to_string())
        };
        self.error(span, message, hint)
    }
}

/// Where the dotted key of 80 or more parts starts, the one error toml reports without a position.
pub(super) fn long_dotted_key(text: &str) -> Option<usize> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let key = line.split('=').next().unwrap_or_default();
        if key.matches('.').count() >= 79 {
            return Some(start + line.len() - line.trim_start().len());
        }
        start += line.len();
    }
    None
}
