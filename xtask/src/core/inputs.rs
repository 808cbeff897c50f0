//! Input digests: one sha256 over everything a platform build of a unit can
//! depend on, so `build` can tell an unchanged image from one that needs
//! building with a single HEAD on [`inputs_ref`] instead of running buildx.
//!
//! `input_digest` is pure; `context_entries` and `DigestCache` walk the disk.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::core::plan::Unit;
use crate::oci::digest::hex;
use crate::oci::reference::TagRef;

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
    /// External bases, normalized (`docker.io/library/python:3.11`), to the platform digest
    /// this run pinned them to (`core::bases`).
    pub bases: &'a BTreeMap<String, String>,
    /// Built with `--reproducible`: other bytes (timestamps, OCI media types) from the same
    /// inputs. Hashed only when set, so digests of ordinary builds stay as they were.
    pub reproducible: bool,
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
    if inputs.reproducible {
        put(&mut h, b"reproducible");
    }
    format!("sha256:{}", hex(&h.finalize()))
}

/// The inputs of one platform build of `unit`: its own build args and RUN network, with what
/// the caller read (the Dockerfile, the context entries) and resolved (the labels, the
/// parents' digests by build arg, the external bases' digests). One place maps a unit to its
/// inputs, so a field of the unit that stops reaching the digest fails a test here.
pub fn unit_inputs<'a>(
    unit: &'a Unit,
    platform: &'a str,
    dockerfile: &'a str,
    context: &'a [ContextEntry],
    labels: &'a BTreeMap<String, String>,
    parents: &'a BTreeMap<String, String>,
    bases: &'a BTreeMap<String, String>,
) -> Inputs<'a> {
    Inputs {
        schema_version: SCHEMA_VERSION,
        dockerfile: dockerfile.as_bytes(),
        context,
        args: &unit.args,
        platform,
        network: unit.network.as_str(),
        labels,
        parents,
        bases,
        reproducible: false,
    }
}

fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The tag an image with these inputs is pushed under:
/// `<repository>:inputs-<first 32 hex of the digest>-<arch>`. One HEAD on it
/// before building says whether an image with exactly these inputs exists.
/// 128 bits of the digest keep tags short and collisions out of reach.
pub fn inputs_ref(repository: &str, input_digest: &str, platform: &str) -> TagRef {
    let hex = input_digest.strip_prefix("sha256:").unwrap_or(input_digest);
    let tag = format!("inputs-{}-{}", &hex[..hex.len().min(32)], crate::core::buildx::platform_slug(platform));
    TagRef::new(repository, tag)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn file(path: &str, mode: u32, byte: u8) -> ContextEntry {
        ContextEntry { path: path.into(), mode, kind: EntryKind::File([byte; 32]) }
    }

    use crate::core::definitions::Network;
    use crate::core::plan::tests::sample_unit;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The inputs of one build, owned, so each test case can change one thing.
    #[derive(Clone)]
    pub(crate) struct Owned {
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
        pub(crate) fn inputs(&self) -> Inputs<'_> {
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
                reproducible: false,
            }
        }

        fn digest(&self) -> String {
            input_digest(&self.inputs())
        }
    }

    pub(crate) fn sample() -> Owned {
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

    /// The digest of `sample()`, pinned: any change to what is hashed, in what order or how it
    /// is framed (a section dropped, a length prefix left out, args and labels swapped) changes
    /// it. Changing it on purpose means bumping `SCHEMA_VERSION` too, or old images are reused.
    #[test]
    fn known_answer() {
        assert_eq!(sample().digest(), "sha256:8de469e13a18f0a82b30ec705c44c94018cd28779515109d149bbb5c9d885de1");
        let empty = BTreeMap::new();
        let bare = Inputs {
            schema_version: 1,
            dockerfile: b"FROM scratch\n",
            context: &[],
            args: &empty,
            platform: "linux/amd64",
            network: "none",
            labels: &empty,
            parents: &empty,
            bases: &empty,
            reproducible: false,
        };
        // Computed apart from this code, from the encoding as documented: sha256 over
        // put("xtask input digest"), 1u32 LE, put(dockerfile), put(platform), put(network), then
        // put(section) and 0u64 LE for "args", "labels", "parents", "bases" and "context", where
        // put(b) is len(b) as u64 LE followed by b.
        assert_eq!(input_digest(&bare), "sha256:087142d4d912348056fae84197140144b2233dce5aa2f54785bec891d521feca");
    }

    /// What `build` hashes for a unit: its build args and network, the labels, the parents'
    /// digests and the external bases each change the digest, and the result is pinned.
    #[test]
    fn a_units_args_network_labels_parents_and_bases_reach_its_digest() {
        let owned = sample();
        let digest = |unit: &Unit, labels: &BTreeMap<String, String>, parents, bases| {
            let dockerfile = std::str::from_utf8(&owned.dockerfile).unwrap();
            input_digest(&unit_inputs(unit, "linux/arm64", dockerfile, &owned.context, labels, parents, bases))
        };
        let unit = sample_unit();
        let (labels, parents, bases) = (&owned.labels, &owned.parents, &owned.bases);
        let base = digest(&unit, labels, parents, bases);
        assert_eq!(base, "sha256:6bb839c1bc70fef00c617e7db42abe56380741ecf46912ed03992eaca4d553f1");
        let mut seen = BTreeSet::from([base]);
        let mut changed_arg = sample_unit();
        changed_arg.args.insert("PY".into(), "3.11".into());
        let mut added_arg = sample_unit();
        added_arg.args.insert("EXTRA".into(), String::new());
        let mut no_args = sample_unit();
        no_args.args.clear();
        for (what, unit) in [("an arg's value", changed_arg), ("an added arg", added_arg), ("no args", no_args)] {
            assert!(seen.insert(digest(&unit, labels, parents, bases)), "{what} left the digest as it was");
        }
        for network in [Network::None, Network::Default] {
            let unit = Unit { network, ..sample_unit() };
            assert!(seen.insert(digest(&unit, labels, parents, bases)), "network {network:?} left the digest");
        }
        let mut other_labels = labels.clone();
        other_labels.insert("org.opencontainers.image.title".into(), "other".into());
        assert!(seen.insert(digest(&unit, &other_labels, parents, bases)), "a label left the digest as it was");
        let other_parents = map(&[("BASE_IMAGE", "sha256:a2")]);
        assert!(seen.insert(digest(&unit, labels, &other_parents, bases)), "a parent's digest left the digest");
        let other_bases = map(&[("debian:12", "sha256:b2")]);
        assert!(seen.insert(digest(&unit, labels, parents, &other_bases)), "a base's digest left the digest");
        // The platform and the Dockerfile come from the caller too.
        let dockerfile = std::str::from_utf8(&owned.dockerfile).unwrap();
        let amd64 = unit_inputs(&unit, "linux/amd64", dockerfile, &owned.context, labels, parents, bases);
        assert!(seen.insert(input_digest(&amd64)), "the platform left the digest as it was");
        let other = unit_inputs(&unit, "linux/arm64", "FROM scratch\n", &owned.context, labels, parents, bases);
        assert!(seen.insert(input_digest(&other)), "the Dockerfile left the digest as it was");
        let exported = Inputs {
            reproducible: true,
            ..unit_inputs(&unit, "linux/arm64", dockerfile, &owned.context, labels, parents, bases)
        };
        assert!(seen.insert(input_digest(&exported)), "--reproducible left the digest as it was");
        assert_eq!(amd64.schema_version, SCHEMA_VERSION);
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
}
