//! Input digests: one sha256 over everything a platform build of a unit can
//! depend on, so `build` can tell an unchanged image from one that needs
//! building with a single HEAD on [`inputs_ref`] instead of running buildx.
//!
//! `input_digest` and `external_bases` are pure; `context_entries` and `DigestCache` walk the disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::dockerfile;
use crate::core::lint::DockerIgnore;
use crate::core::plan::Unit;
use crate::oci::digest::hex;

/// The meaning of the tool's definitions. Bump it when image.toml or the way a
/// build is run changes what the same files produce, so no old image is reused.
pub const SCHEMA_VERSION: u32 = 1;

/// The label every image built with an input digest carries, holding that digest.
pub const INPUT_DIGEST_LABEL: &str = "dev.xtask.input-digest";

/// Labels that change on every commit without changing what was built; they stay out of the digest.
const VOLATILE_LABELS: &[&str] = &["org.opencontainers.image.created", "org.opencontainers.image.revision"];

/// One file, directory or link of a build context that the build can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// Relative to the context, `/`-separated.
    pub path: String,
    /// Permission bits (`0o7777`): COPY keeps them.
    pub mode: u32,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// The sha256 of its bytes.
    File([u8; 32]),
    /// Its target, as text: COPY copies the link, not what it points at.
    Symlink(String),
    Dir,
    /// A fifo, socket or device: hashed by type and mode only.
    Other,
}

/// Everything one platform build of a unit depends on, as data.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub schema_version: u32,
    pub dockerfile: &'a [u8],
    /// In any order: the digest sorts them by path.
    pub context: &'a [ContextEntry],
    /// The unit's build args, without the in-repo parents' (those are `parents`).
    pub args: &'a BTreeMap<String, String>,
    pub platform: &'a str,
    /// The RUN network (`none`, `host`, `default`): a download step may behave differently.
    pub network: &'a str,
    /// The image's labels. `created`, `revision` and [`INPUT_DIGEST_LABEL`] are left out.
    pub labels: &'a BTreeMap<String, String>,
    /// In-repo parents: build arg (`BASE_IMAGE`) to the digest of the parent for this platform.
    pub parents: &'a BTreeMap<String, String>,
    /// External bases as [`external_bases`] lists them, to the digest the registry resolved.
    pub bases: &'a BTreeMap<String, String>,
}

/// `sha256:<hex>` over `inputs`. Every field is length-prefixed, so no two
/// different inputs can run together into the same bytes.
pub fn input_digest(inputs: &Inputs<'_>) -> String {
    let mut h = Sha256::new();
    put(&mut h, b"xtask input digest");
    h.update(inputs.schema_version.to_le_bytes());
    put(&mut h, inputs.dockerfile);
    put(&mut h, inputs.platform.as_bytes());
    put(&mut h, inputs.network.as_bytes());
    let labels = inputs
        .labels
        .iter()
        .filter(|(k, _)| !VOLATILE_LABELS.contains(&k.as_str()) && k.as_str() != INPUT_DIGEST_LABEL);
    for (section, map) in [
        ("args", inputs.args.iter().collect::<Vec<_>>()),
        ("labels", labels.collect()),
        ("parents", inputs.parents.iter().collect()),
        ("bases", inputs.bases.iter().collect()),
    ] {
        put(&mut h, section.as_bytes());
        h.update((map.len() as u64).to_le_bytes());
        for (key, value) in map {
            put(&mut h, key.as_bytes());
            put(&mut h, value.as_bytes());
        }
    }
    let mut entries: Vec<&ContextEntry> = inputs.context.iter().collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    put(&mut h, b"context");
    h.update((entries.len() as u64).to_le_bytes());
    for entry in entries {
        put(&mut h, entry.path.as_bytes());
        h.update(entry.mode.to_le_bytes());
        match &entry.kind {
            EntryKind::File(sha) => {
                h.update([b'f']);
                h.update(sha);
            }
            EntryKind::Symlink(target) => {
                h.update([b'l']);
                put(&mut h, target.as_bytes());
            }
            EntryKind::Dir => h.update([b'd']),
            EntryKind::Other => h.update([b'o']),
        }
    }
    format!("sha256:{}", hex(&h.finalize()))
}

fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The tag an image with these inputs is pushed under:
/// `<repository>:inputs-<first 32 hex of the digest>-<arch>`. One HEAD on it
/// before building says whether an image with exactly these inputs exists.
/// 128 bits of the digest keep tags short and collisions out of reach.
pub fn inputs_ref(repository: &str, input_digest: &str, platform: &str) -> String {
    let hex = input_digest.strip_prefix("sha256:").unwrap_or(input_digest);
    format!("{repository}:inputs-{}-{}", &hex[..hex.len().min(32)], crate::core::buildx::platform_slug(platform))
}

/// The base images a platform build pulls from outside the repo, after ARG
/// substitution with the unit's args and the platform's `TARGET*` values:
/// every `FROM` except `scratch`, earlier stages and in-repo parents
/// (`${X_IMAGE}`), plus the `# syntax` frontend, which is pulled like a base.
/// Sorted, without repeats: the caller resolves each with one HEAD.
pub fn external_bases(dockerfile_text: &str, unit: &Unit, platform: &str) -> Vec<String> {
    let doc = dockerfile::parse(dockerfile_text);
    let mut args = unit.args.clone();
    let mut parts = platform.split('/');
    let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
    for (name, value) in
        [("TARGETPLATFORM", Some(platform)), ("TARGETOS", os), ("TARGETARCH", arch), ("TARGETVARIANT", variant)]
    {
        args.entry(name.to_string()).or_insert_with(|| value.unwrap_or_default().to_string());
    }
    let globals = doc.global_arg_values(&args);
    let mut stages: Vec<String> = Vec::new();
    let mut out = BTreeSet::new();
    for stage in doc.stages() {
        let expression = stage.image();
        let in_repo = dockerfile::referenced_args(&expression).iter().any(|a| unit.parents.iter().any(|p| p.arg == *a));
        let resolved = dockerfile::expand(&expression, |n| globals.get(n).cloned().flatten()).text;
        let lower = resolved.to_ascii_lowercase();
        if !in_repo && !resolved.is_empty() && lower != "scratch" && !stages.contains(&lower) {
            out.insert(resolved);
        }
        stages.extend(stage.name());
    }
    out.extend(doc.directives.iter().filter(|(k, _)| k == "syntax").map(|(_, v)| v.clone()));
    out.into_iter().collect()
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
        // Renamed into place: a concurrent run reads the old file or the new one, never half of one.
        let partial = self.file.with_extension(format!("json.{}", std::process::id()));
        std::fs::write(&partial, text).with_context(|| format!("writing {partial}"))?;
        std::fs::rename(&partial, &self.file).with_context(|| format!("renaming {partial} to {}", self.file))
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
            let metadata = child.metadata().with_context(|| format!("reading the metadata of {}", child.path()))?;
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
                EntryKind::File(match self.cache {
                    Some(cache) => cache.digest(child.path(), &metadata, &mut self.buffer)?,
                    None => file_sha256(child.path(), &mut self.buffer)?,
                })
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
    use crate::core::plan::{sample_unit, Parent};
    use camino::Utf8PathBuf;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn file(path: &str, mode: u32, byte: u8) -> ContextEntry {
        ContextEntry { path: path.into(), mode, kind: EntryKind::File([byte; 32]) }
    }

    /// The inputs of one build, owned, so each test case can change one thing.
    #[derive(Clone)]
    struct Owned {
        schema_version: u32,
        dockerfile: Vec<u8>,
        context: Vec<ContextEntry>,
        args: BTreeMap<String, String>,
        platform: String,
        network: String,
        labels: BTreeMap<String, String>,
        parents: BTreeMap<String, String>,
        bases: BTreeMap<String, String>,
    }

    impl Owned {
        fn inputs(&self) -> Inputs<'_> {
            Inputs {
                schema_version: self.schema_version,
                dockerfile: &self.dockerfile,
                context: &self.context,
                args: &self.args,
                platform: &self.platform,
                network: &self.network,
                labels: &self.labels,
                parents: &self.parents,
                bases: &self.bases,
            }
        }

        fn digest(&self) -> String {
            input_digest(&self.inputs())
        }
    }

    fn sample() -> Owned {
        Owned {
            schema_version: SCHEMA_VERSION,
            dockerfile: b"ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY site/ /www/\n".to_vec(),
            context: vec![
                ContextEntry { path: "site".into(), mode: 0o755, kind: EntryKind::Dir },
                file("site/index.html", 0o644, 1),
                ContextEntry { path: "site/latest".into(), mode: 0o777, kind: EntryKind::Symlink("index.html".into()) },
            ],
            args: map(&[("A", "1"), ("B", "2")]),
            platform: "linux/arm64".into(),
            network: "none".into(),
            labels: map(&[
                ("org.opencontainers.image.created", "2026-01-01T00:00:00Z"),
                ("org.opencontainers.image.revision", "abc"),
                ("org.opencontainers.image.title", "httpd"),
            ]),
            parents: map(&[("BASE_IMAGE", "sha256:aa")]),
            bases: map(&[("debian:12", "sha256:bb")]),
        }
    }

    #[test]
    fn every_input_changes_the_digest() {
        let base = sample();
        let digest = base.digest();
        assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
        type Change = fn(&mut Owned);
        let changes: &[(&str, Change)] = &[
            ("schema version", |o| o.schema_version += 1),
            ("dockerfile", |o| o.dockerfile.push(b'\n')),
            ("file content", |o| o.context[1].kind = EntryKind::File([2; 32])),
            ("file mode", |o| o.context[1].mode = 0o755),
            ("file path", |o| o.context[1].path = "site/index.htm".into()),
            ("symlink target", |o| o.context[2].kind = EntryKind::Symlink("other.html".into())),
            ("symlink became a file", |o| o.context[2].kind = EntryKind::File([0; 32])),
            ("directory mode", |o| o.context[0].mode = 0o700),
            ("directory became another kind", |o| o.context[0].kind = EntryKind::Other),
            ("added file", |o| o.context.push(file("site/new.css", 0o644, 3))),
            ("removed file", |o| drop(o.context.remove(1))),
            ("arg value", |o| drop(o.args.insert("A".into(), "9".into()))),
            ("arg name", |o| o.args = map(&[("A", "1"), ("C", "2")])),
            ("added arg", |o| drop(o.args.insert("Z".into(), String::new()))),
            ("platform", |o| o.platform = "linux/amd64".into()),
            ("network", |o| o.network = "host".into()),
            ("label", |o| drop(o.labels.insert("org.opencontainers.image.description".into(), "x".into()))),
            ("parent digest", |o| drop(o.parents.insert("BASE_IMAGE".into(), "sha256:cc".into()))),
            ("parent arg", |o| o.parents = map(&[("OTHER_IMAGE", "sha256:aa")])),
            ("external base digest", |o| drop(o.bases.insert("debian:12".into(), "sha256:dd".into()))),
            ("external base", |o| o.bases = map(&[("debian:13", "sha256:bb")])),
        ];
        let mut seen = BTreeSet::from([digest.clone()]);
        for (what, change) in changes {
            let mut changed = base.clone();
            change(&mut changed);
            assert!(
                seen.insert(changed.digest()),
                "changing the {what} left the digest as it was or as another change"
            );
        }
    }

    #[test]
    fn order_and_volatile_labels_do_not_change_the_digest() {
        let base = sample();
        let mut same = base.clone();
        same.context.reverse();
        same.labels.insert("org.opencontainers.image.created".into(), "2027-01-01T00:00:00Z".into());
        same.labels.insert("org.opencontainers.image.revision".into(), "def".into());
        same.labels.insert(INPUT_DIGEST_LABEL.into(), "sha256:ee".into());
        assert_eq!(same.digest(), base.digest());
    }

    #[test]
    fn fields_do_not_run_together() {
        let mut one = sample();
        one.args = map(&[("AB", "C")]);
        let mut other = sample();
        other.args = map(&[("A", "BC")]);
        assert_ne!(one.digest(), other.digest());
        // An arg moved into the labels is another input.
        let mut moved = sample();
        moved.args = map(&[("B", "2")]);
        moved.labels.insert("A".into(), "1".into());
        assert_ne!(moved.digest(), sample().digest());
    }

    #[test]
    fn inputs_refs_name_the_digest_and_the_platform() {
        let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert_eq!(
            inputs_ref("localhost:5000/acme/python", &digest, "linux/arm/v7"),
            "localhost:5000/acme/python:inputs-0123456789abcdef0123456789abcdef-arm-v7"
        );
    }

    #[test]
    fn external_bases_after_arg_substitution() {
        let mut unit = sample_unit();
        unit.args = map(&[("PY", "3.13")]);
        unit.parents = vec![Parent { arg: "DEBIAN_IMAGE".into(), unit: "debian:trixie".into() }];
        let text = "# syntax=docker/dockerfile:1.7\nARG DEBIAN_IMAGE\nARG PY=3.11\nARG TARGETARCH\nARG REG=docker.io\n\
            FROM --platform=$BUILDPLATFORM ${REG}/library/python:${PY} AS Build\n\
            FROM build AS again\n\
            FROM ghcr.io/tools/${TARGETARCH}:1.0\n\
            FROM scratch AS empty\n\
            FROM ${UNSET}\n\
            FROM docker.io/library/python:3.13\n\
            FROM ${DEBIAN_IMAGE}\n";
        assert_eq!(
            external_bases(text, &unit, "linux/arm64"),
            ["docker.io/library/python:3.13", "docker/dockerfile:1.7", "ghcr.io/tools/arm64:1.0"]
        );
        assert_eq!(external_bases(text, &unit, "linux/amd64")[2], "ghcr.io/tools/amd64:1.0");
        assert!(external_bases("FROM scratch\n", &unit, "linux/amd64").is_empty());
    }

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

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
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
}
