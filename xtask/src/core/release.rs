//! Release records: what a publish moved, written before any tag moves, so that a run can
//! be undone as a whole; and the check that nobody else moved a tag meanwhile.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a tag pointed at when the run started (`None`: it did not exist).
pub type Snapshot = BTreeMap<String, Option<String>>;

/// One tag's move, as recorded for rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagMove {
    /// Full reference, `registry/repo:tag`.
    pub tag: String,
    pub before: Option<String>,
    pub after: String,
}

/// `target/xtask/releases/<timestamp>-<unit>.json`: written before any tag moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// Shared by every record of one run, so a run can be undone as a whole.
    pub run: String,
    pub created: String,
    pub unit: String,
    pub repository: String,
    pub index: String,
    pub moves: Vec<TagMove>,
}

/// The tags another publisher moved since `before` was taken (and not to `index`).
pub fn moved_by_others(before: &Snapshot, now: &Snapshot, index: &str) -> Vec<String> {
    now.iter()
        .filter(|(tag, current)| {
            let was = before.get(*tag).cloned().flatten();
            **current != was && current.as_deref() != Some(index)
        })
        .map(|(tag, _)| tag.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_publishers_are_detected() {
        let before: Snapshot =
            [("r/a:latest".to_string(), Some("sha256:old".to_string())), ("r/a:1.0".to_string(), None)].into();
        // Unchanged, or already where we are going: fine.
        let now: Snapshot = [
            ("r/a:latest".to_string(), Some("sha256:old".to_string())),
            ("r/a:1.0".to_string(), Some("sha256:new".to_string())),
        ]
        .into();
        assert!(moved_by_others(&before, &now, "sha256:new").is_empty());
        // Someone else moved `latest`, and created `1.0` elsewhere.
        let now: Snapshot = [
            ("r/a:latest".to_string(), Some("sha256:theirs".to_string())),
            ("r/a:1.0".to_string(), Some("sha256:theirs".to_string())),
        ]
        .into();
        assert_eq!(moved_by_others(&before, &now, "sha256:new"), ["r/a:1.0", "r/a:latest"]);
    }
}
