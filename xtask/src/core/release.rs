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
    /// The run's place in this workspace's history: one more than the highest of the records
    /// already there. Records are ordered by it, not by `created` (the build time: the
    /// commit's, for reproducible builds, so an older commit rebuilt today has an older one),
    /// so that a record dated in the future (a wrong clock, a copied file) cannot pass for
    /// the newest. Records written before it existed read as 0.
    #[serde(default)]
    pub sequence: u64,
    pub created: String,
    /// The commit's time and the moment the record was written (RFC 3339), for lead times;
    /// absent from records written before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
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

/// The moves of a release of `unit` to `index`, from what each tag names `now`. A tag that
/// names `index` already was moved by an earlier run of this same release that was cut short
/// (killed after its record, between two tags): its `before` is taken from that run's newest
/// record, so undoing the completed release restores what was there before either run.
pub fn tag_moves(unit: &str, index: &str, tags: &[String], now: &Snapshot, records: &[ReleaseRecord]) -> Vec<TagMove> {
    let mut earlier: Vec<&ReleaseRecord> = records.iter().filter(|r| r.unit == unit && r.index == index).collect();
    earlier.sort_by_key(|r| std::cmp::Reverse(r.sequence));
    tags.iter()
        .map(|tag| {
            let current = now.get(tag).cloned().flatten();
            let cut_short = earlier
                .iter()
                .find_map(|r| r.moves.iter().find(|m| m.tag == *tag && m.after == index))
                .filter(|_| current.as_deref() == Some(index));
            let before = cut_short.map_or(current, |m| m.before.clone());
            TagMove { tag: tag.clone(), before, after: index.to_string() }
        })
        .collect()
}

/// The run of the newest records: the highest `sequence`; `created` and then the run id only
/// break ties (records from before sequence numbers, or two runs that raced).
pub fn newest_run(records: &[ReleaseRecord]) -> Option<&str> {
    records
        .iter()
        .max_by(|a, b| (a.sequence, &a.created, &a.run).cmp(&(b.sequence, &b.created, &b.run)))
        .map(|r| r.run.as_str())
}

/// The sequence number of a new run after `records`.
pub fn next_sequence(records: &[ReleaseRecord]) -> u64 {
    records.iter().map(|r| r.sequence).max().unwrap_or(0).saturating_add(1)
}

#[cfg(test)]
mod tests {

    #[test]
    fn completing_a_release_cut_short_keeps_what_was_there_before_it() {
        let record = |sequence, index: &str, moves: &[(&str, Option<&str>)]| ReleaseRecord {
            run: format!("run-{sequence}"),
            sequence,
            created: "2026-12-01T00:00:00Z".into(),
            committed: None,
            published: None,
            unit: "app".into(),
            repository: "r/app".into(),
            index: index.into(),
            moves: moves
                .iter()
                .map(|(tag, before)| TagMove {
                    tag: tag.to_string(),
                    before: before.map(String::from),
                    after: index.into(),
                })
                .collect(),
        };
        let tags = ["r/app:1".to_string(), "r/app:latest".to_string(), "r/app:new".to_string()];
        // A killed run recorded 1 and latest from old to new, and moved 1 before it died.
        let cut_short =
            record(7, "sha256:new", &[("r/app:1", Some("sha256:old")), ("r/app:latest", Some("sha256:old"))]);
        let now: Snapshot = [
            ("r/app:1".to_string(), Some("sha256:new".to_string())),
            ("r/app:latest".to_string(), Some("sha256:old".to_string())),
            ("r/app:new".to_string(), None),
        ]
        .into();
        let moves = tag_moves("app", "sha256:new", &tags, &now, std::slice::from_ref(&cut_short));
        let before: Vec<Option<&str>> = moves.iter().map(|m| m.before.as_deref()).collect();
        assert_eq!(before, [Some("sha256:old"), Some("sha256:old"), None]);
        // Without that record, a tag already there says so; another release's record is no help.
        let other = record(8, "sha256:other", &[("r/app:1", Some("sha256:older"))]);
        let moves = tag_moves("app", "sha256:new", &tags, &now, &[other]);
        assert_eq!(moves[0].before.as_deref(), Some("sha256:new"));
        // A tag the earlier run recorded but that names something else now is taken as it is.
        let moved_back: Snapshot = [("r/app:1".to_string(), Some("sha256:third".to_string()))].into();
        let moves = tag_moves("app", "sha256:new", &tags[..1], &moved_back, &[cut_short]);
        assert_eq!(moves[0].before.as_deref(), Some("sha256:third"));
    }

    use super::*;

    fn record(run: &str, sequence: u64, created: &str) -> ReleaseRecord {
        ReleaseRecord {
            run: run.into(),
            sequence,
            created: created.into(),
            committed: None,
            published: None,
            unit: "app".into(),
            repository: "r/app".into(),
            index: "sha256:new".into(),
            moves: vec![],
        }
    }

    #[test]
    fn the_newest_run_is_the_highest_sequence_not_the_latest_date() {
        let records = [
            record("old", 0, "2026-01-01T00:00:00Z"),
            record("future", 1, "2099-01-01T00:00:00Z"),
            record("now", 2, "2026-11-24T21:00:00Z"),
        ];
        assert_eq!(newest_run(&records), Some("now"), "a future-dated record does not win");
        assert_eq!(next_sequence(&records), 3);
        // Records from before sequence numbers: the date decides, then the run.
        let legacy = [record("a", 0, "2026-01-02T00:00:00Z"), record("b", 0, "2026-01-01T00:00:00Z")];
        assert_eq!(newest_run(&legacy), Some("a"));
        assert_eq!(next_sequence(&legacy), 1);
        assert_eq!(newest_run(&[]), None);
        assert_eq!(next_sequence(&[record("max", u64::MAX, "x")]), u64::MAX);
    }

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
