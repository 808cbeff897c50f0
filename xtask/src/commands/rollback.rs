//! `cargo xtask rollback`: undoes a release from its records: every tag moves
//! back to the digest it had, and tags the release created are deleted where
//! the registry allows it. The plan is printed first; `--dry-run` stops there.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::ops::publish::{ReleaseRecord, Snapshot};
use crate::sys::registry::{split_repository, Registry};
use crate::sys::workspace::Workspace;

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

pub fn run(ws: &Workspace, flags: &crate::cli::flags::Rollback) -> Result<()> {
    let dir = ws.target().join("releases");
    let records = match &flags.record {
        Some(path) => vec![read_record(
            &Utf8PathBuf::from_path_buf(path.clone()).map_err(|p| anyhow::anyhow!("{} is not UTF-8", p.display()))?,
        )?],
        None => newest_run(&dir)?,
    };
    let repositories: BTreeSet<&str> = records.iter().map(|r| r.repository.as_str()).collect();
    let host =
        repositories.iter().next().map(|r| split_repository(r).0).context("the release record names no repository")?;
    let client = Registry::new(host)?;
    // Every tag of the touched repositories, so no manifest still in use is deleted.
    let mut tags = Vec::new();
    for repository in &repositories {
        let (_, path) = split_repository(repository);
        tags.extend(client.tags(path)?.into_iter().map(|t| format!("{repository}:{t}")));
    }
    tags.extend(records.iter().flat_map(|r| r.moves.iter().map(|m| m.tag.clone())));
    tags.sort();
    tags.dedup();
    let now = crate::ops::publish::snapshot(&client, tags)?;
    let steps = plan(&records, &now);

    println!("Rolling back run {} ({} record(s)):", records[0].run, records.len());
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|step| match step {
            Step::MoveBack { tag, to } => vec![tag.clone(), format!("move back to {to}")],
            Step::Delete { digest, tags, .. } => vec![tags.join(", "), format!("delete {digest} (the tags are new)")],
            Step::Keep { tag, why } => vec![tag.clone(), format!("keep: {why}")],
        })
        .collect();
    println!("{}", crate::cli::output::table(&["TAG", "ACTION"], &rows));
    if flags.dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(());
    }

    let mut expected: BTreeMap<String, Option<String>> = BTreeMap::new();
    for step in &steps {
        match step {
            Step::MoveBack { tag, to } => {
                let (repo_ref, name) = tag.rsplit_once(':').context("a recorded tag has a tag")?;
                let (_, repository) = split_repository(repo_ref);
                let (manifest, bytes) = client
                    .manifest_with_bytes(repository, to)?
                    .with_context(|| format!("{repo_ref}@{to} is gone from the registry: {tag} cannot move back"))?;
                client
                    .put_manifest(repository, name, &manifest.media_type, &bytes)
                    .with_context(|| format!("moving {tag} back"))?;
                expected.insert(tag.clone(), Some(to.clone()));
            }
            Step::Delete { digest, repository, tags } => {
                if client.delete_manifest(split_repository(repository).1, digest)? {
                    for tag in tags {
                        expected.insert(tag.clone(), None);
                    }
                } else {
                    eprintln!("warning: {repository} does not allow deletes; {} stay(s) at {digest}", tags.join(", "));
                }
            }
            Step::Keep { .. } => {}
        }
    }
    let after = crate::ops::publish::snapshot(&client, expected.keys().cloned().collect())?;
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(tag, want)| after.get(*tag) != Some(want))
        .map(|(tag, want)| format!("{tag} is at {:?}, expected {:?}", after.get(tag).cloned().flatten(), want))
        .collect();
    if !wrong.is_empty() {
        bail!("the rollback did not land:\n  {}", wrong.join("\n  "));
    }
    println!("Rolled back and verified {} tag(s).", expected.len());
    Ok(())
}

fn read_record(path: &Utf8Path) -> Result<ReleaseRecord> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    serde_json::from_str(&text).with_context(|| format!("{path} is not a release record"))
}

/// The records of the newest run in `dir` (the run of the newest record).
fn newest_run(dir: &Utf8Path) -> Result<Vec<ReleaseRecord>> {
    let mut records = Vec::new();
    let entries = match dir.read_dir_utf8() {
        Ok(entries) => entries,
        Err(_) => bail!("no release records under {dir}: nothing to roll back"),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {dir}"))?;
        if entry.file_name().ends_with(".json") && !entry.file_name().starts_with('.') {
            records.push(read_record(entry.path())?);
        }
    }
    let newest = records.iter().max_by(|a, b| a.created.cmp(&b.created).then(a.run.cmp(&b.run))).map(|r| r.run.clone());
    let Some(newest) = newest else { bail!("no release records under {dir}: nothing to roll back") };
    records.retain(|r| r.run == newest);
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::publish::TagMove;

    fn record(moves: &[(&str, Option<&str>, &str)]) -> ReleaseRecord {
        ReleaseRecord {
            run: "r".into(),
            created: "t".into(),
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
