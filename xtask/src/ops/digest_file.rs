//! Digest files: per unit, the digest of each platform image a CI leg pushed, written by
//! `build --digest-file` and joined by `publish`.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::ops::build::UnitResult;
use crate::sys::workspace::Workspace;

/// Per unit, the digest of each platform image: what `--digest-file` records and `publish` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestFile {
    pub registry: String,
    pub units: BTreeMap<String, BTreeMap<String, String>>,
    /// Per unit, the annotations its index gets: every leg computes them; they must agree.
    #[serde(default)]
    pub annotations: BTreeMap<String, BTreeMap<String, String>>,
}

pub fn write_digest_file(ws: &Workspace, path: &std::path::Path, results: &[&UnitResult]) -> Result<()> {
    let mut file = DigestFile { registry: ws.registry.clone(), ..DigestFile::default() };
    for r in results.iter().filter(|r| r.error.is_none()) {
        let digests: BTreeMap<String, String> =
            r.platforms.iter().filter_map(|p| Some((p.platform.clone(), p.digest.clone()?))).collect();
        file.units.insert(r.unit.clone(), digests);
        file.annotations.insert(r.unit.clone(), r.annotations.clone());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(&file).context("serializing the digest file")?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

/// Reads and merges digest files from CI legs; a unit's platforms may come from several files.
pub fn read_digest_files(paths: &[std::path::PathBuf]) -> Result<DigestFile> {
    let mut merged = DigestFile::default();
    for path in paths {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: DigestFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a digest file written by `build --digest-file`", path.display()))?;
        if !merged.registry.is_empty() && merged.registry != file.registry {
            bail!(
                "{} records images in {}, the others in {}: publish them separately",
                path.display(),
                file.registry,
                merged.registry
            );
        }
        merged.registry = file.registry;
        for (unit, annotations) in file.annotations {
            match merged.annotations.get(&unit) {
                // Legs that resolved a base to different digests built on different images.
                Some(other) if *other != annotations => bail!(
                    "{}: the legs disagree on what {unit}'s index says ({}): build them from one commit, \
                     and again if a base moved between legs",
                    path.display(),
                    disagreement(other, &annotations)
                ),
                _ => {
                    merged.annotations.insert(unit, annotations);
                }
            }
        }
        for (unit, platforms) in file.units {
            let entry = merged.units.entry(unit.clone()).or_default();
            for (platform, digest) in platforms {
                crate::oci::reference::check_digest(&digest).map_err(|why| {
                    anyhow::anyhow!(
                        "{}: {} {}: {why}: use the file `build --digest-file` wrote",
                        path.display(),
                        crate::core::text::sanitize(&unit),
                        crate::core::text::sanitize(&platform)
                    )
                })?;
                if let Some(other) = entry.get(&platform).filter(|d| **d != digest) {
                    bail!("{}: {unit} {platform} is {digest} there but {other} in another file", path.display());
                }
                entry.insert(platform, digest);
            }
        }
    }
    Ok(merged)
}

/// The first key two annotation sets disagree on, with both values.
fn disagreement(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .find(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {:?} against {:?}", a.get(k), b.get(k)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_files_merge_and_refuse_conflicts() {
        let dir = std::env::temp_dir().join(format!("xtask-digests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write_on = |name: &str, platform: &str, digest: &str, base: &str| {
            let file = DigestFile {
                registry: "r".into(),
                units: [("app".to_string(), [(platform.to_string(), digest.to_string())].into())].into(),
                annotations: [("app".to_string(), [("base.digest".to_string(), base.to_string())].into())].into(),
            };
            let path = dir.join(name);
            std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
            path
        };
        let write = |name: &str, platform: &str, digest: &str| write_on(name, platform, digest, "sha256:base");
        let (aa, bb, cc) = (
            format!("sha256:{}", "a".repeat(64)),
            format!("sha256:{}", "b".repeat(64)),
            format!("sha256:{}", "c".repeat(64)),
        );
        let amd64 = write("amd64.json", "linux/amd64", &aa);
        let arm64 = write("arm64.json", "linux/arm64", &bb);
        let merged = read_digest_files(&[amd64.clone(), arm64]).unwrap();
        assert_eq!(merged.units["app"].len(), 2);
        let clash = write("clash.json", "linux/amd64", &cc);
        let err = read_digest_files(&[amd64.clone(), clash]).unwrap_err().to_string();
        assert!(err.contains(&format!("app linux/amd64 is {cc} there but {aa} in another file")), "{err}");
        // Not a digest: refused with the file, unit and platform, its text escaped.
        let junk = write("junk.json", "linux/amd64", "sha256:aa\u{1b}[2J");
        let err = read_digest_files(&[junk]).unwrap_err().to_string();
        assert!(err.contains("junk.json: app linux/amd64: digest") && !err.contains('\u{1b}'), "{err}");
        // A leg that pinned the base elsewhere built on another image: one index must not mix them.
        let moved = write_on("moved.json", "linux/arm64", &bb, "sha256:moved");
        let err = read_digest_files(&[amd64, moved]).unwrap_err().to_string();
        assert!(err.contains("the legs disagree on what app's index says (base.digest"), "{err}");
        assert!(err.contains("\"sha256:base\"") && err.contains("\"sha256:moved\""), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
