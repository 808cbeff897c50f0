//! How bad a finding is, for every check that reports findings (lint rules, verify-manifests):
//! an error blocks, a warning is shown.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    /// The one exit rule of `lint` and `build`: an error fails; a warning only with
    /// `--deny-warnings`.
    pub fn fails(self, deny_warnings: bool) -> bool {
        self == Severity::Error || deny_warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_fail_and_warnings_only_when_denied() {
        assert!(Severity::Error.fails(false) && Severity::Error.fails(true));
        assert!(!Severity::Warning.fails(false) && Severity::Warning.fails(true));
    }
}
