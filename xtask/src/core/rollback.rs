//! The plan of `rollback`: from release records and what the tags point at now, which tags
//! move back to the digest they had and which manifests the release created may be deleted.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::release::{ReleaseRecord, Snapshot};

/// What rollback does to one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Point the tag back at this digest.
    MoveBack { tag: String, to: String },
    /// Delete this manifest: only tags the release created point at it.
    Delete { digest: String, repository: String, tags: Vec<String> },
    /// Leave the tag alone, and say why.
    Keep { tag: String, why: String },
}

/// The steps that undo `records` (newest first), given what every tag of their
/// repositories points at now.
pub fn plan(records: &[ReleaseRecord], now: &Snapshot) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut deletable: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut kept_digests: BTreeSet<String> = BTreeSet::new();
    for record in records.iter().rev() {
        for m in &record.moves {
            let current = now.get(&m.tag).cloned().flatten();
            if current.as_deref() != Some(m.after.as_str()) {
                let now_text = current.as_deref().unwrap_or("nothing");
                steps.push(Step::Keep {
                    tag: m.tag.clone(),
                    why: format!("moved since the release (it points at {now_text})"),
                });
                continue;
            }
            match &m.before {
                Some(before) => steps.push(Step::MoveBack { tag: m.tag.clone(), to: before.clone() }),
                None => deletable.entry((record.repository.clone(), m.after.clone())).or_default().push(m.tag.clone()),
            }
        }
    }
    // A manifest can go only if no tag outside the new ones keeps pointing at it after rollback.
    for (tag, digest) in now {
        let Some(digest) = digest else { continue };
        let is_new = deletable.values().any(|tags| tags.contains(tag));
        let moves_back = steps.iter().any(|s| matches!(s, Step::MoveBack { tag: t, .. } if t == tag));
        if !is_new && !moves_back {
            kept_digests.insert(digest.clone());
        }
    }
    for ((repository, digest), tags) in deletable {
        if kept_digests.contains(&digest) {
            for tag in tags {
                steps.push(Step::Keep {
                    tag,
                    why: format!(
                        "new in the release, but {digest} is also tagged elsewhere and this registry deletes by digest"
                    ),
                });
            }
        } else {
            steps.push(Step::Delete { digest, repository, tags });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::release::TagMove;

    fn record(moves: &[(&str, Option<&str>, &str)]) -> ReleaseRecord {
        ReleaseRecord {
            run: "r".into(),
            sequence: 1,
            created: "t".into(),
            committed: None,
            published: None,
            unit: "app".into(),
            repository: "reg/app".into(),
            index: "sha256:new".into(),
            moves: moves
                .iter()
                .map(|(t, b, a)| TagMove { tag: t.to_string(), before: b.map(str::to_string), after: a.to_string() })
                .collect(),
        }
    }

    fn snapshot(pairs: &[(&str, Option<&str>)]) -> Snapshot {
        pairs.iter().map(|(t, d)| (t.to_string(), d.map(str::to_string))).collect()
    }

    #[test]
    fn moved_tags_go_back_and_new_tags_are_deleted() {
        let records =
            [record(&[("reg/app:latest", Some("sha256:old"), "sha256:new"), ("reg/app:1.1.0", None, "sha256:new")])];
        let now = snapshot(&[
            ("reg/app:latest", Some("sha256:new")),
            ("reg/app:1.1.0", Some("sha256:new")),
            ("reg/app:1.0.0", Some("sha256:old")),
        ]);
        assert_eq!(
            plan(&records, &now),
            [
                Step::MoveBack { tag: "reg/app:latest".into(), to: "sha256:old".into() },
                Step::Delete {
                    digest: "sha256:new".into(),
                    repository: "reg/app".into(),
                    tags: vec!["reg/app:1.1.0".into()]
                },
            ]
        );
    }

    #[test]
    fn tags_moved_since_are_left_alone() {
        let records = [record(&[("reg/app:latest", Some("sha256:old"), "sha256:new")])];
        let now = snapshot(&[("reg/app:latest", Some("sha256:newer"))]);
        assert_eq!(
            plan(&records, &now),
            [Step::Keep {
                tag: "reg/app:latest".into(),
                why: "moved since the release (it points at sha256:newer)".into()
            }]
        );
    }

    #[test]
    fn a_manifest_tagged_elsewhere_is_not_deleted() {
        // `nightly` (not part of the release) also points at the new index.
        let records = [record(&[("reg/app:1.1.0", None, "sha256:new")])];
        let now = snapshot(&[("reg/app:1.1.0", Some("sha256:new")), ("reg/app:nightly", Some("sha256:new"))]);
        let steps = plan(&records, &now);
        assert!(
            matches!(&steps[..], [Step::Keep { tag, why }] if tag == "reg/app:1.1.0" && why.contains("also tagged elsewhere")),
            "{steps:?}"
        );
    }
}
