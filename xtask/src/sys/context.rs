//! Build contexts on disk: their listings, `.dockerignore` files, and (for input digests)
//! their content, walked once and remembered by a stat-keyed digest cache.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::dockerignore::DockerIgnore;
use crate::core::inputs::{ContextEntry, EntryKind};
use crate::core::plan::Unit;
use crate::oci::digest::hex;

/// BuildKit reads `<Dockerfile>.dockerignore` next to the Dockerfile first, else `<context>/.dockerignore`.
pub fn read_dockerignore(root: &Utf8Path, unit: &Unit) -> Result<Option<String>> {
    let beside = root.join(format!("{}.dockerignore", unit.dockerfile));
    for file in [beside, root.join(&unit.context).join(".dockerignore")] {
        if file.is_file() {
            return std::fs::read_to_string(&file).map(Some).with_context(|| format!("reading {file}"));
        }
    }
    Ok(None)
}

/// Every file and directory below `dir`, relative to it; symlinks are listed, not followed.
pub fn list_files(dir: &Utf8Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(current) = todo.pop() {
        for entry in current.as_std_path().read_dir().with_context(|| format!("listing the build context {current}"))? {
            let entry = entry.with_context(|| format!("listing the build context {current}"))?;
            let Ok(name) = entry.file_name().into_string() else {
                bail!(
                    "{current}: the build context holds {:?}, a name that is not UTF-8\n  hint: rename it: a Dockerfile can only name files in UTF-8",
                    entry.file_name()
                );
            };
            let path = current.join(name);
            let relative = path.strip_prefix(dir).context("a listed file is outside its directory")?;
            out.insert(relative.as_str().to_string());
            if entry.file_type().with_context(|| format!("reading the type of {path}"))?.is_dir() {
                todo.push(path);
            }
        }
    }
    Ok(out)
}

/// Every entry of the context at `context_dir` that the build can see, with
/// `dockerignore` (the text of the .dockerignore that applies) honoured.
/// Files are streamed into their digests, never held whole; symlinks are not followed.
pub fn context_entries(context_dir: &Utf8Path, dockerignore: Option<&str>) -> Result<Vec<ContextEntry>> {
    Walker::new(dockerignore, None).entries(context_dir)
}

/// File digests from earlier runs, trusted while `stat` still reports the same file,
/// so a no-op build reads no file of an unchanged context (images/debian holds 180 MB
/// of rootfs tarballs). Only a cache: unreadable means empty, a lost write costs a re-read.
pub struct DigestCache {
    file: Utf8PathBuf,
    known: Mutex<BTreeMap<String, Known>>,
    /// A file changed more recently than this is hashed but not remembered: where
    /// timestamps are coarse, a second change within one tick would look like none.
    settle: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Known {
    stamp: Stamp,
    sha256: String,
}

/// What `stat` says of a file: any write changes its change time, a replacement its inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    ino: u64,
    dev: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: m.len(),
            ino: m.ino(),
            dev: m.dev(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

impl DigestCache {
    /// The cache kept in `<target_dir>/inputs-cache.json`.
    pub fn load(target_dir: &Utf8Path) -> DigestCache {
        let file = target_dir.join("inputs-cache.json");
        let known = std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        DigestCache { file, known: Mutex::new(known), settle: Duration::from_secs(2) }
    }

    /// [`context_entries`], reading only the files that changed since they were last hashed.
    pub fn context_entries(&self, context_dir: &Utf8Path, dockerignore: Option<&str>) -> Result<Vec<ContextEntry>> {
        Walker::new(dockerignore, Some(self)).entries(context_dir)
    }

    /// Writes what it knows of the files that still exist, for the next run.
    pub fn save(&self) -> Result<()> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner()).clone();
        known.retain(|path, _| Utf8Path::new(path).is_file());
        let text = serde_json::to_string(&known).context("serializing the digest cache")?;
        let dir = self.file.parent().context("the digest cache has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
        // A concurrent run reads the old file or the new one, never half of one.
        crate::sys::files::write_atomically(&self.file, text.as_bytes())
    }

    fn digest(&self, path: &Utf8Path, metadata: &std::fs::Metadata, buffer: &mut [u8]) -> Result<[u8; 32]> {
        let stamp = Stamp::of(metadata);
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner()).get(path.as_str()).cloned();
        if let Some(sha) = known.filter(|k| k.stamp == stamp).and_then(|k| unhex(&k.sha256)) {
            return Ok(sha);
        }
        let sha = file_sha256(path, buffer)?;
        let changed = SystemTime::UNIX_EPOCH + Duration::new(stamp.ctime.0 as u64, stamp.ctime.1 as u32);
        if SystemTime::now().duration_since(changed).is_ok_and(|age| age >= self.settle) {
            let known = Known { stamp, sha256: hex(&sha) };
            self.known.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_string(), known);
        }
        Ok(sha)
    }
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// One walk of a build context: the .dockerignore, the cache if any, one read buffer.
struct Walker<'a> {
    ignore: DockerIgnore,
    cache: Option<&'a DigestCache>,
    buffer: Vec<u8>,
}

impl<'a> Walker<'a> {
    fn new(dockerignore: Option<&str>, cache: Option<&'a DigestCache>) -> Walker<'a> {
        Walker { ignore: DockerIgnore::parse(dockerignore.unwrap_or("")), cache, buffer: vec![0u8; 1 << 16] }
    }

    fn entries(mut self, context_dir: &Utf8Path) -> Result<Vec<ContextEntry>> {
        let mut out = Vec::new();
        self.walk(context_dir, "", &mut out)?;
        Ok(out)
    }

    fn walk(&mut self, dir: &Utf8Path, prefix: &str, out: &mut Vec<ContextEntry>) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mut children = Vec::new();
        for entry in dir.read_dir_utf8().with_context(|| format!("listing the build context {dir}"))? {
            children.push(entry.with_context(|| format!("listing the build context {dir}"))?);
        }
        children.sort_by(|a, b| a.file_name().cmp(b.file_name()));
        for child in children {
            let path = format!("{prefix}{}", child.file_name());
            // A file another build renames away while this one lists (a platform's rootfs
            // tarball being put in place) was not in the context when it was read: skipped.
            let metadata = match child.metadata() {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                other => other.with_context(|| format!("reading the metadata of {}", child.path()))?,
            };
            let mode = metadata.permissions().mode() & 0o7777;
            let excluded = self.ignore.excluded(&path).is_some();
            let file_type = metadata.file_type();
            if file_type.is_dir() {
                // An excluded directory is still walked when a `!` pattern may bring back something below it.
                if excluded && !self.ignore.has_exceptions() {
                    continue;
                }
                let mut below = Vec::new();
                self.walk(child.path(), &format!("{path}/"), &mut below)?;
                if !excluded || !below.is_empty() {
                    out.push(ContextEntry { path, mode, kind: EntryKind::Dir });
                    out.append(&mut below);
                }
                continue;
            }
            if excluded {
                continue;
            }
            let kind = if file_type.is_symlink() {
                let link =
                    child.path().read_link_utf8().with_context(|| format!("reading the link {}", child.path()))?;
                EntryKind::Symlink(link.into_string())
            } else if file_type.is_file() {
                let digest = match self.cache {
                    Some(cache) => cache.digest(child.path(), &metadata, &mut self.buffer),
                    None => file_sha256(child.path(), &mut self.buffer),
                };
                match digest {
                    Err(_) if !child.path().exists() => continue,
                    digest => EntryKind::File(digest?),
                }
            } else {
                EntryKind::Other
            };
            out.push(ContextEntry { path, mode, kind });
        }
        Ok(())
    }
}

fn file_sha256(path: &Utf8Path, buffer: &mut [u8]) -> Result<[u8; 32]> {
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let mut h = Sha256::new();
    loop {
        let n = file.read(buffer).with_context(|| format!("reading {path}"))?;
        if n == 0 {
            break;
        }
        h.update(&buffer[..n]);
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::inputs::tests::sample;
    use crate::core::inputs::{input_digest, Inputs};

    /// A directory under the system's temporary directory, removed when dropped.
    struct TempDir(Utf8PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = Utf8PathBuf::try_from(std::env::temp_dir())
                .unwrap()
                .join(format!("xtask-inputs-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    #[test]
    fn context_on_disk() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = TempDir::new("context");
        let context = tmp.0.join("image");
        let write = |path: &str, text: &str| {
            let path = tmp.0.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("image/Dockerfile", "FROM scratch\n");
        write("image/site/index.html", "<h1>hi</h1>\n");
        write("image/rootfs/arm64.tar", "tarball");
        write("image/notes.log", "ignored\n");
        write("image/cache/a", "ignored\n");
        write("image/docs/keep.md", "kept by an exception\n");
        write("image/docs/drop.md", "ignored\n");
        write("unrelated.txt", "outside the context\n");
        std::os::unix::fs::symlink("index.html", context.join("site/latest")).unwrap();
        let ignore = "*.log\ncache\ndocs\n!docs/keep.md\n";
        let digest = |ignore: &str| {
            let entries = context_entries(&context, Some(ignore)).unwrap();
            let owned = sample();
            input_digest(&Inputs { context: &entries, ..owned.inputs() })
        };

        let entries = context_entries(&context, Some(ignore)).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "Dockerfile",
                "docs",
                "docs/keep.md",
                "rootfs",
                "rootfs/arm64.tar",
                "site",
                "site/index.html",
                "site/latest"
            ]
        );
        assert_eq!(entries[7].kind, EntryKind::Symlink("index.html".into()));
        assert_eq!(entries[5].kind, EntryKind::Dir);
        let tar = sha2::Sha256::digest(b"tarball");
        assert_eq!(entries[4].kind, EntryKind::File(tar.into()));
        assert_eq!(context_entries(&context, None).unwrap().len(), 12, "without .dockerignore everything counts");

        let before = digest(ignore);
        // What the build cannot see changes nothing.
        write("unrelated.txt", "changed\n");
        write("image/notes.log", "changed\n");
        write("image/more.log", "new\n");
        write("image/cache/b", "new\n");
        write("image/docs/drop.md", "changed\n");
        assert_eq!(digest(ignore), before);
        // Touching a file without changing it changes nothing either, as in BuildKit's cache.
        let index = context.join("site/index.html");
        std::fs::File::options().append(true).open(&index).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
        assert_eq!(digest(ignore), before);

        let mut seen = BTreeSet::from([before]);
        let mut expect_change = |what: &str, digest: String| assert!(seen.insert(digest), "{what} did not change it");
        write("image/docs/keep.md", "changed\n");
        expect_change("an excepted file's content", digest(ignore));
        expect_change("the .dockerignore", digest("*.log\ncache\n"));
        write("image/rootfs/arm64.tar", "another tarball");
        expect_change("a generated tarball", digest(ignore));
        std::fs::set_permissions(&index, std::fs::Permissions::from_mode(0o600)).unwrap();
        expect_change("a file mode", digest(ignore));
        std::fs::remove_file(context.join("site/latest")).unwrap();
        std::os::unix::fs::symlink("other.html", context.join("site/latest")).unwrap();
        expect_change("a symlink target", digest(ignore));
        std::fs::rename(&index, context.join("site/home.html")).unwrap();
        expect_change("a rename", digest(ignore));
        write("image/site/sub/new.css", "");
        expect_change("a new empty file in a new directory", digest(ignore));
    }

    #[test]
    fn digest_cache_trusts_unchanged_files_only() {
        let tmp = TempDir::new("cache");
        let (context, target) = (tmp.0.join("context"), tmp.0.join("target"));
        std::fs::create_dir_all(&context).unwrap();
        let file = context.join("big.tar");
        std::fs::write(&file, "one").unwrap();
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().append(true).open(&file).unwrap().set_modified(an_hour_ago).unwrap();
        let sha = |entries: Vec<ContextEntry>| match &entries[0].kind {
            EntryKind::File(sha) => *sha,
            other => panic!("{other:?}"),
        };
        let one: [u8; 32] = Sha256::digest(b"one").into();

        let cache = DigestCache { settle: Duration::ZERO, ..DigestCache::load(&target) };
        assert_eq!(sha(cache.context_entries(&context, None).unwrap()), one);
        // A remembered digest is used while stat says the file is the same: plant a wrong one to see it.
        cache.known.lock().unwrap().get_mut(file.as_str()).unwrap().sha256 = "00".repeat(32);
        assert_eq!(sha(cache.context_entries(&context, None).unwrap()), [0; 32]);
        cache.save().unwrap();
        let reloaded = DigestCache { settle: Duration::ZERO, ..DigestCache::load(&target) };
        assert_eq!(sha(reloaded.context_entries(&context, None).unwrap()), [0; 32], "saved and loaded");
        // A rewrite with the same size changes the stamp: the file is read again.
        std::fs::write(&file, "two").unwrap();
        assert_eq!(sha(reloaded.context_entries(&context, None).unwrap()), <[u8; 32]>::from(Sha256::digest(b"two")));
        // What changed within `settle` is hashed but not remembered.
        let fresh = DigestCache::load(&tmp.0.join("elsewhere"));
        fresh.context_entries(&context, None).unwrap();
        assert!(fresh.known.lock().unwrap().is_empty());
        // Deleted files are forgotten when saving.
        std::fs::remove_file(&file).unwrap();
        reloaded.save().unwrap();
        assert!(DigestCache::load(&target).known.lock().unwrap().is_empty());
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
