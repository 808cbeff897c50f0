//! `cargo xtask rollback`: reads the release records, prints the plan `core::rollback` makes,
//! and carries it out unless `--dry-run`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::release::ReleaseRecord;
use crate::core::rollback::*;
use crate::oci::reference::split_repository;
use crate::oci::reference::TagRef;
use crate::sys::registry::Registry;
use crate::sys::workspace::Workspace;

pub fn run(ws: &Workspace, flags: &crate::cli::flags::Rollback) -> Result<()> {
    let began = std::time::SystemTime::now();
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
        let list = client.tag_list(path)?;
        if !list.junk.is_empty() {
            // Never requested: a name outside the OCI grammar would walk out of the URL path.
            let names: Vec<String> = list.junk.iter().take(5).map(|t| format!("{t:?}")).collect();
            let line = format!(
                "warning: {repository} lists {} tag name(s) that are not OCI tags, skipped: {}",
                list.junk.len(),
                names.join(", ")
            );
            eprintln!("{}", crate::core::text::sanitize(&line));
        }
        tags.extend(list.tags.into_iter().map(|t| TagRef::new(*repository, t)));
    }
    for recorded in records.iter().flat_map(|r| &r.moves) {
        tags.push(recorded_tag(&recorded.tag)?);
    }
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
    println!("{}", crate::core::text::table(&["TAG", "ACTION"], &rows));
    if flags.dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(());
    }

    let mut expected: BTreeMap<String, Option<String>> = BTreeMap::new();
    for step in &steps {
        match step {
            Step::MoveBack { tag, to } => {
                let recorded = recorded_tag(tag)?;
                crate::oci::reference::check_digest(to)
                    .map_err(|why| anyhow::anyhow!("the release record moves {tag} back to {to:?}: {why}"))?;
                let (manifest, bytes) = client.manifest_with_bytes(recorded.path(), to)?.with_context(|| {
                    format!("{}@{to} is gone from the registry: {tag} cannot move back", recorded.repository())
                })?;
                client
                    .put_manifest(recorded.path(), recorded.tag(), &manifest.media_type, &bytes)
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
    let after =
        crate::ops::publish::snapshot(&client, expected.keys().map(|t| recorded_tag(t)).collect::<Result<_>>()?)?;
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(tag, want)| after.get(*tag) != Some(want))
        .map(|(tag, want)| format!("{tag} is at {:?}, expected {:?}", after.get(tag).cloned().flatten(), want))
        .collect();
    if !wrong.is_empty() {
        bail!("the rollback did not land:\n  {}", wrong.join("\n  "));
    }
    println!("Rolled back and verified {} tag(s).", expected.len());
    // Each undone index, for the change failure rate and time to restore (`report`).
    let undone = records.iter().map(|r| crate::core::metrics::UnitPlatformRecord {
        unit: r.unit.clone(),
        platform: String::new(),
        status: "rolled-back".to_string(),
        seconds: None,
        digest: Some(r.index.clone()),
        input_digest: None,
        skipped: false,
        compressed_size: None,
    });
    crate::sys::metrics::record(ws, "rollback", began, true, undone.collect());
    Ok(())
}

fn read_record(path: &Utf8Path) -> Result<ReleaseRecord> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    serde_json::from_str(&text).with_context(|| format!("{path} is not a release record"))
}

/// The records of the newest run in `dir`: the highest sequence number (see
/// `core::release::newest_run`). A file that is no record is named and skipped.
fn newest_run(dir: &Utf8Path) -> Result<Vec<ReleaseRecord>> {
    let (mut records, skipped) = match dir.is_dir() {
        true => crate::ops::publish::read_records(dir)?,
        false => bail!("no release records under {dir}: nothing to roll back"),
    };
    for why in &skipped {
        eprintln!("{}", crate::core::text::sanitize(&format!("warning: {why}")));
    }
    let newest = crate::core::release::newest_run(&records).map(str::to_string);
    let Some(newest) = newest else { bail!("no release records under {dir}: nothing to roll back") };
    records.retain(|r| r.run == newest);
    Ok(records)
}

/// A tag as a release record names it: records are files, so the name is checked again.
fn recorded_tag(tag: &str) -> Result<TagRef> {
    TagRef::parse(tag).map_err(|why| anyhow::anyhow!("the release record is damaged: {why}"))
}
