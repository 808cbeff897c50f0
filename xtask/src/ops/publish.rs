//! Atomic publishing: a unit's tags move only to a complete, verified index.
//!
//! Order, per unit: (1) every platform image is already pushed; (2) the index is
//! pushed by digest; (3) it is read back and every platform's config checked;
//! (4) a release record is written; (5) the tags move, each only if nobody else
//! moved it since this run started; (6) each tag is read back.
//! Used by `build` and by `publish` (joining digest files from CI legs).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::plan::Unit;
use crate::core::release::{moved_by_others, tag_moves, ReleaseRecord, Snapshot};
use crate::oci::manifest::{index_bytes, Descriptor, PlatformImage};
use crate::oci::platform::platform_matches;
use crate::oci::reference::split_repository;
use crate::oci::reference::TagRef;
use crate::sys::pool::map_concurrent;
use crate::sys::registry::Registry;

/// What every tag of `units` points at now, read concurrently.
pub fn snapshot(client: &Registry, tags: Vec<TagRef>) -> Result<Snapshot> {
    let read = map_concurrent(tags, 8, |tag| {
        let digest = client.head_manifest(tag.path(), tag.tag()).map(|d| d.map(|d| d.digest));
        (tag.to_string(), digest)
    });
    read.into_iter().map(|(tag, digest)| Ok((tag.clone(), digest.with_context(|| format!("reading {tag}"))?))).collect()
}

/// Said by a publish that failed after moving some of its tags, so that no summary claims
/// that none moved.
pub const PARTIAL_MOVE: &str = "tag(s) moved before this failure";

/// Everything one publish needs from the run.
pub struct Publisher<'a> {
    pub client: &'a Registry,
    /// Tag digests when the run started.
    pub before: &'a Snapshot,
    /// Move tags even if another publisher moved them during this run.
    pub force_tags: bool,
    pub releases_dir: Utf8PathBuf,
    pub run: String,
    /// This run's sequence number in `releases_dir` (`next_sequence` of the records there).
    pub sequence: u64,
    pub created: String,
    /// HEAD's commit time (RFC 3339): the start of each release's lead time.
    pub committed: Option<String>,
}

impl Publisher<'_> {
    /// Publishes `unit` from its pushed platform digests, as an index carrying `annotations`;
    /// returns the index digest.
    pub fn publish(
        &self,
        unit: &Unit,
        digests: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<String> {
        let (_, repository) = split_repository(&unit.repository);
        for platform in &unit.platforms {
            if !digests.contains_key(platform) {
                bail!("{}: no {platform} image to publish; every declared platform must be built first", unit.id);
            }
        }
        // (1) The platform images exist, with their exact sizes and media types. An engine that
        // attests pushes each platform as an index of its image and attestations: flattened.
        let mut images = Vec::new();
        let mut attestations = Vec::new();
        for platform in &unit.platforms {
            let digest = &digests[platform];
            let found = self.client.head_manifest(repository, digest)?;
            let descriptor =
                found.with_context(|| format!("{}: the {platform} image {digest} is not in the registry", unit.id))?;
            if crate::oci::manifest::is_index(&descriptor.media_type) {
                let index = self
                    .client
                    .manifest_by_digest(repository, digest)?
                    .with_context(|| format!("{}: the {platform} index {digest} vanished", unit.id))?;
                let (image, about) = crate::oci::manifest::platform_entries(&index, platform)
                    .map_err(|why| anyhow::anyhow!("{}: {why}", unit.id))?;
                images.push(image);
                attestations.extend(about);
                continue;
            }
            images.push(PlatformImage {
                platform: platform.clone(),
                digest: digest.clone(),
                media_type: descriptor.media_type,
                size: descriptor.size,
            });
        }
        self.publish_entries(unit, &images, &attestations, annotations)
    }

    /// Steps (2) to (6) for entries already in the registry: the platform `images` and the
    /// attestation manifests about them (`sbom` adds its own to a published index this way).
    pub fn publish_entries(
        &self,
        unit: &Unit,
        images: &[PlatformImage],
        attestations: &[Descriptor],
        annotations: &BTreeMap<String, String>,
    ) -> Result<String> {
        let (_, repository) = split_repository(&unit.repository);
        // (2) The index, pushed by digest: no tag points at it yet.
        let (media_type, bytes) = index_bytes(images, attestations, annotations);
        let index = crate::oci::digest::sha256_digest(&bytes);
        self.client.put_manifest(repository, &index, &media_type, &bytes).context("pushing the index by digest")?;
        // (3) Read back and verified.
        self.verify_index(unit, repository, &index, images, annotations)?;
        crate::sys::crash::point("after-index");
        // (4) Nobody else moved the tags since the run started.
        let now = snapshot(self.client, unit.tags.clone())?;
        let moved = moved_by_others(self.before, &now, &index);
        if !moved.is_empty() && !self.force_tags {
            bail!(
                "another publisher moved {} since this run started; refusing to move them (pass --force-tags to override)",
                moved.join(", ")
            );
        }
        // (5) The record first: a publish that cannot be undone does not happen. Tags that an
        // earlier run of this release moved before it was killed keep their older `before`.
        // Records that cannot be read are none here: writing this one fails the same way, with
        // the sentence that says no tag moved.
        let earlier = read_records(&self.releases_dir).map(|(records, _)| records).unwrap_or_default();
        let tags: Vec<String> = unit.tags.iter().map(ToString::to_string).collect();
        let record = ReleaseRecord {
            run: self.run.clone(),
            sequence: self.sequence,
            created: self.created.clone(),
            committed: self.committed.clone(),
            published: Some(crate::core::event::utc(crate::sys::now_seconds()).1),
            unit: unit.id.clone(),
            repository: unit.repository.clone(),
            index: index.clone(),
            moves: tag_moves(&unit.id, &index, &tags, &now, &earlier),
        };
        write_record(&self.releases_dir, &record).context("writing the release record; no tag was moved")?;
        crate::sys::crash::point("after-record");
        // (6) Move each tag, then read it back. A failure here leaves some tags moved: the
        // error says which, and what finishes or undoes it.
        for (moved, full) in unit.tags.iter().enumerate() {
            self.move_tag(repository, full, &media_type, &bytes, &index).with_context(|| {
                let done: Vec<String> = unit.tags[..moved].iter().map(|t| t.tag().to_string()).collect();
                format!(
                    "{moved} of {} {PARTIAL_MOVE} ({}), and {} may have too: run the build again to move the rest \
                     to {index}, or `cargo xtask rollback` to move them back",
                    unit.tags.len(),
                    if done.is_empty() { "none".to_string() } else { done.join(", ") },
                    full.tag()
                )
            })?;
            crate::sys::crash::point(&format!("after-tag-{}", moved + 1));
        }
        Ok(index)
    }

    /// Points `full` at the index `bytes` (digest `index`) and reads it back.
    fn move_tag(&self, repository: &str, full: &TagRef, media_type: &str, bytes: &[u8], index: &str) -> Result<()> {
        let tag = full.tag();
        self.client.put_manifest(repository, tag, media_type, bytes).with_context(|| format!("moving {full}"))?;
        let landed = self.client.head_manifest(repository, tag).with_context(|| format!("reading {full} back"))?;
        let landed = landed.map(|d| d.digest);
        if landed.as_deref() != Some(index) {
            bail!("{full} reads back as {landed:?} after moving it to {index}");
        }
        Ok(())
    }

    /// Every platform is present and each config's os/architecture/variant matches its slot.
    fn verify_index(
        &self,
        unit: &Unit,
        repository: &str,
        index: &str,
        images: &[PlatformImage],
        annotations: &BTreeMap<String, String>,
    ) -> Result<()> {
        let list = self
            .client
            .manifest_by_digest(repository, index)?
            .with_context(|| format!("the index {index} did not land"))?;
        if list.body.annotations != *annotations {
            bail!("{}: the index {index} read back without the annotations it was pushed with", unit.id);
        }
        for image in images {
            let entry = list.body.manifests.iter().find(|m| m.digest == image.digest);
            let platform = entry.and_then(|e| e.platform.as_ref()).map(|p| p.name());
            if platform.as_deref() != Some(image.platform.as_str()) {
                bail!(
                    "{}: the index read back holds {platform:?} for {}, expected {}",
                    unit.id,
                    image.digest,
                    image.platform
                );
            }
            let manifest = self
                .client
                .manifest_by_digest(repository, &image.digest)?
                .with_context(|| format!("{} vanished", image.digest))?;
            let config = manifest.body.config.with_context(|| format!("{} has no config", image.digest))?;
            let config = self.client.config(repository, &config.digest)?;
            let actual = config.platform();
            if !platform_matches(&image.platform, &actual) {
                bail!("{}: the {} image {} is a {} image", unit.id, image.platform, image.digest, actual.name());
            }
        }
        Ok(())
    }
}

/// The release records in `dir` (none when it does not exist), and a sentence for each file
/// that is not one (truncated by a crash, edited, foreign): such a file is skipped, so one
/// damaged old record cannot block every later rollback or publish.
pub fn read_records(dir: &Utf8Path) -> Result<(Vec<ReleaseRecord>, Vec<String>)> {
    let (mut records, mut skipped) = (Vec::new(), Vec::new());
    let entries = match dir.read_dir_utf8() {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((records, skipped)),
        Err(err) => return Err(err).with_context(|| format!("listing {dir}")),
    };
    let mut paths: Vec<Utf8PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {dir}"))?;
        if entry.file_name().ends_with(".json") && !entry.file_name().starts_with('.') {
            paths.push(entry.into_path());
        }
    }
    paths.sort();
    for path in paths {
        let read = std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|text| {
            serde_json::from_str::<ReleaseRecord>(&text).map_err(|e| format!("not a release record: {e}"))
        });
        match read {
            Ok(record) => records.push(record),
            Err(why) => skipped.push(format!("skipping {path}: {why}")),
        }
    }
    Ok((records, skipped))
}

/// The sequence number for a new run that records into `dir`. A directory that cannot be
/// read counts as empty: writing the record there fails later, before any tag moves.
pub fn next_sequence(dir: &Utf8Path) -> u64 {
    read_records(dir).map_or(1, |(records, _)| crate::core::release::next_sequence(&records))
}

/// Writes `record` atomically (temporary file, then rename) under a unique name.
pub fn write_record(dir: &Utf8Path, record: &ReleaseRecord) -> Result<Utf8PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    let stamp = record.created.replace([':', '-'], "");
    let name = format!("{stamp}-{}-{}.json", record.run, record.unit.replace(':', "-"));
    let path = dir.join(&name);
    let json = serde_json::to_vec_pretty(record).context("serializing the release record")?;
    crate::sys::files::write_atomically(&path, &json)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::release::TagMove;

    #[test]
    fn records_are_written_whole_and_refused_when_the_directory_cannot_exist() {
        let dir =
            Utf8PathBuf::from_path_buf(std::env::temp_dir().join(format!("xtask-records-{}", std::process::id())))
                .unwrap();
        let record = ReleaseRecord {
            run: "r1".into(),
            sequence: 7,
            created: "2026-11-24T21:00:00Z".into(),
            committed: None,
            published: None,
            unit: "app:quiet".into(),
            repository: "r/app".into(),
            index: "sha256:new".into(),
            moves: vec![TagMove { tag: "r/app:latest".into(), before: None, after: "sha256:new".into() }],
        };
        let path = write_record(&dir, &record).unwrap();
        assert_eq!(path.file_name(), Some("20261124T210000Z-r1-app-quiet.json"));
        let back: ReleaseRecord = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, record);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no partial file is left behind");
        // A file where the directory should be: the write fails, so the publish stops.
        let blocked = dir.join("blocked");
        std::fs::write(&blocked, "").unwrap();
        assert!(write_record(&blocked.join("releases"), &record).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
