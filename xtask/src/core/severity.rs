//! How bad a finding is, for every check that reports findings (lint rules, verify-manifests):
//! an error blocks, a warning is shown.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}
