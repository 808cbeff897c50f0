//! External base images: which references of a Dockerfile name images outside the
//! workspace and for which platform each is pulled, how a registry's answer pins one to a
//! digest per platform, and the Dockerfile that builds on exactly those digests.
//!
//! Everything here is pure: `ops::bases` asks the registries.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::core::dockerfile::refs::{image_refs, RefKind, Target};
use crate::core::dockerfile::{self, Dockerfile};
use crate::core::plan::Unit;
use crate::oci::manifest::{is_attestation, is_index, Manifest};
use crate::oci::platform::{platform_matches, Platform};
use crate::oci::reference::{repository_of, ImageName};

/// The standard label (and annotation) naming the image the final stage is built on.
pub const BASE_NAME_LABEL: &str = "org.opencontainers.image.base.name";
/// Its digest, for the platform of the image that carries it.
pub const BASE_DIGEST_LABEL: &str = "org.opencontainers.image.base.digest";
/// Every external image the build pulled, `name[:tag]@digest`, space-separated: what
/// `outdated` compares with what the tags point at now.
pub const BASES_LABEL: &str = "dev.xtask.bases";

/// One reference of a platform build to an image outside the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUse {
    /// As expanded: `python:3.11-slim`.
    pub reference: String,
    /// 1-based line of the instruction, or of the `# syntax` directive.
    pub line: usize,
    /// `FROM`, `COPY --from`, `RUN --mount=from` or `# syntax`.
    pub instruction: String,
    /// The platform it is pulled for: the build's, or the one `FROM --platform=` names.
    pub platform: String,
    /// How the instruction writes it, so that it can be pinned in place; `None` for the frontend.
    pub written: Option<(RefKind, String)>,
}

/// The platform values BuildKit sets for a build of `platform` on a `build_platform` host.
pub fn platform_args(platform: &str, build_platform: &str) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    for (prefix, value) in [("TARGET", platform), ("BUILD", build_platform)] {
        let parsed = Platform::parse(value);
        args.insert(format!("{prefix}PLATFORM"), value.to_string());
        args.insert(format!("{prefix}OS"), parsed.os);
        args.insert(format!("{prefix}ARCH"), parsed.architecture);
        args.insert(format!("{prefix}VARIANT"), parsed.variant.unwrap_or_default());
    }
    args
}

/// The build args a build of `unit` for `platform` sees: the platform values, then the unit's
/// own args, which win as `--build-arg` does.
pub fn unit_build_args(unit: &Unit, platform: &str, build_platform: &str) -> BTreeMap<String, String> {
    let mut args = platform_args(platform, build_platform);
    args.extend(unit.args.clone());
    args
}

/// The images a build of `unit` for `platform` pulls from outside the workspace, after ARG
/// substitution with the unit's args and the platform values: every `FROM`, `COPY --from=`
/// and `RUN --mount=from=` image except `scratch`, stages, in-repo parents (`${X_IMAGE}`) and
/// names of workspace repositories (`in_repo`), plus the `# syntax` frontend, which is pulled
/// like a base for the build host. In file order; the same reference may appear twice.
pub fn base_uses(
    dockerfile_text: &str,
    unit: &Unit,
    platform: &str,
    build_platform: &str,
    in_repo: &BTreeSet<String>,
) -> Vec<BaseUse> {
    let doc = dockerfile::parse(dockerfile_text);
    let args = unit_build_args(unit, platform, build_platform);
    let globals = doc.global_arg_values(&args);
    let stages = doc.stages();
    let mut out = Vec::new();
    if let Some(syntax) = &doc.syntax {
        let line = syntax_line(dockerfile_text);
        out.push(BaseUse {
            reference: syntax.clone(),
            line,
            instruction: "# syntax".to_string(),
            platform: build_platform.to_string(),
            written: None,
        });
    }
    for reference in image_refs(&doc, &args) {
        let Target::Image(image) = reference.target else { continue };
        let by_arg =
            dockerfile::referenced_args(&reference.written).iter().any(|a| unit.parents.iter().any(|p| p.arg == *a));
        if by_arg || in_repo.contains(&repository_of(&image)) {
            continue;
        }
        let pulled_for = match reference.kind {
            RefKind::From => stages[reference.stage].from.flag("platform").map(|flag| {
                let lookup = |n: &str| args.get(n).cloned().or_else(|| globals.get(n).cloned().flatten());
                stages[reference.stage].from.expand(flag, lookup).text
            }),
            _ => None,
        };
        out.push(BaseUse {
            reference: image,
            line: reference.line,
            instruction: reference.kind.describe(&reference.keyword),
            platform: pulled_for.filter(|p| !p.is_empty()).unwrap_or_else(|| platform.to_string()),
            written: Some((reference.kind, reference.written)),
        });
    }
    out
}

/// The line of the `# syntax` directive (after a `#!` line, BuildKit still finds it).
fn syntax_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('#').trim_start();
            l.len() > 6 && l[..6].eq_ignore_ascii_case("syntax") && l[6..].trim_start().starts_with('=')
        })
        .map_or(1, |i| i + 1)
}

/// The image the final stage is built on, following `FROM <stage>` back to an image:
/// `None` for `scratch` and for what does not expand.
pub fn final_base(doc: &Dockerfile, args: &BTreeMap<String, String>) -> Option<String> {
    let froms: BTreeMap<usize, Target> =
        image_refs(doc, args).into_iter().filter(|r| r.kind == RefKind::From).map(|r| (r.stage, r.target)).collect();
    let mut stage = froms.keys().next_back().copied()?;
    for _ in 0..=froms.len() {
        match froms.get(&stage)? {
            Target::Stage(earlier) => stage = *earlier,
            Target::Image(image) => return Some(image.clone()),
            Target::Scratch | Target::Empty => return None,
        }
    }
    None
}

/// The name and digest of what the final stage of one platform build is built on, for the
/// standard base labels: a reference pinned by digest (an in-repo parent's `repo@digest`, or
/// the user's pin) names its own, an external one takes what `pulled` resolved it to.
/// `args` are those of the build, parents and platform values included.
pub fn final_base_pin(
    doc: &Dockerfile,
    args: &BTreeMap<String, String>,
    pulled: &BTreeMap<String, String>,
) -> Option<(String, String)> {
    let name = crate::oci::reference::normalize(&final_base(doc, args)?).ok()?;
    let unpinned = ImageName { digest: None, ..name.clone() }.to_string();
    match (pulled.get(&name.to_string()), name.digest) {
        (Some(digest), _) => Some((unpinned, digest.clone())),
        (None, Some(digest)) => Some((unpinned, digest)),
        (None, None) => None,
    }
}

/// The final stage's external base as the index names it: the tag it was written with and
/// the digest that tag named this run (`resolved`, by normalized reference). `None` when the
/// final stage is built on scratch, on an in-repo parent, or on what was not resolved.
pub fn final_external_base(
    doc: &Dockerfile,
    args: &BTreeMap<String, String>,
    resolved: &BTreeMap<String, Resolved>,
) -> Option<(String, String)> {
    let name = crate::oci::reference::normalize(&final_base(doc, args)?).ok()?;
    let found = resolved.get(&name.to_string())?;
    Some((ImageName { digest: None, ..name }.to_string(), found.index_digest.clone()))
}

/// A base resolved in a registry: the digest its reference names now, and each platform's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// As normalized: `docker.io/library/python:3.11-slim`.
    pub reference: String,
    /// The digest the reference names: an index, or a single image.
    pub index_digest: String,
    /// The image for each platform it is pulled for.
    pub digests: BTreeMap<String, String>,
}

/// Why a base could not be pinned, in the words of the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    NoSuchTag,
    NoSuchPlatform { has: Vec<String> },
    Unreachable(String),
    AccessDenied(String),
    Invalid(String),
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolved::NoSuchTag => write!(f, "no such tag"),
            Unresolved::NoSuchPlatform { has } if has.is_empty() => write!(f, "no such platform in its index"),
            Unresolved::NoSuchPlatform { has } => {
                write!(f, "no such platform in its index (it has {})", has.join(", "))
            }
            Unresolved::Unreachable(why) => write!(f, "unreachable registry ({why})"),
            Unresolved::AccessDenied(why) => write!(f, "access denied ({why})"),
            Unresolved::Invalid(why) => write!(f, "invalid reference: {why}"),
        }
    }
}

impl Unresolved {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Unresolved::NoSuchTag => "check the tag on the registry, or pin a digest that exists",
            Unresolved::NoSuchPlatform { .. } => {
                "pick a base that is published for this platform, or drop the platform from `platforms`"
            }
            Unresolved::Unreachable(_) => "check the network and the registry's name; `cargo xtask doctor` pings it",
            Unresolved::AccessDenied(_) => "run `docker login <registry>` with an account that may pull it",
            Unresolved::Invalid(_) => "write the image as docker reads it: `[registry/]path[:tag][@sha256:<hex>]`",
        }
    }
}

/// The image of `platform` in `manifest`: the matching entry of an index (attestations are
/// not images), or the manifest itself when it is one image of that platform (`single` is
/// its config's platform, read by the caller).
pub fn platform_digest(manifest: &Manifest, single: Option<&Platform>, platform: &str) -> Result<String, Unresolved> {
    if !is_index(&manifest.media_type) {
        return match single {
            Some(p) if platform_matches(platform, p) => Ok(manifest.digest.clone()),
            other => Err(Unresolved::NoSuchPlatform { has: other.map(Platform::name).into_iter().collect() }),
        };
    }
    let images: Vec<_> = manifest.body.manifests.iter().filter(|d| !is_attestation(d)).collect();
    let found = images.iter().find(|d| d.platform.as_ref().is_some_and(|p| platform_matches(platform, p)));
    match found {
        Some(descriptor) => Ok(descriptor.digest.clone()),
        None => {
            let has: BTreeSet<String> = images.iter().filter_map(|d| d.platform.as_ref()).map(Platform::name).collect();
            Err(Unresolved::NoSuchPlatform { has: has.into_iter().collect() })
        }
    }
}

/// Rewrites `text` so that each pinned use names its digest: `(line, kind, written, pinned)`.
/// Only the reference itself changes, on the line where it is written, so every line number
/// of BuildKit's messages still points at the user's file.
pub fn pinned_dockerfile(text: &str, pins: &[(usize, RefKind, String, String)]) -> Result<String, String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    for (line, kind, written, pinned) in pins {
        let (old, new) = match kind {
            RefKind::From => (written.clone(), pinned.clone()),
            RefKind::CopyFrom => (format!("--from={written}"), format!("--from={pinned}")),
            RefKind::MountFrom => (format!("from={written}"), format!("from={pinned}")),
        };
        // An instruction may go on over continuation lines: look from its first line on.
        // `from=` follows a `,` or the `--mount=` itself.
        let after_equals = *kind == RefKind::MountFrom;
        let found = (line.saturating_sub(1)..lines.len())
            .find_map(|i| word_at(&lines[i], &old, after_equals).map(|at| (i, at)));
        let Some((i, at)) = found else {
            return Err(format!("line {line}: {written:?} could not be found to pin it"));
        };
        lines[i].replace_range(at..at + old.len(), &new);
    }
    Ok(lines.concat())
}

/// Where `word` starts in `line` as a word of its own: after a space, `,` or `"` (or `=` when
/// `after_equals`) or at the start, and before a space, `,`, `"` or the end.
fn word_at(line: &str, word: &str, after_equals: bool) -> Option<usize> {
    let boundary = |c: Option<char>| c.is_none_or(|c| c.is_whitespace() || c == ',' || c == '"');
    line.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = line[..at].chars().next_back();
        (boundary(before) || (after_equals && before == Some('='))) && boundary(line[at + word.len()..].chars().next())
    })
}

/// The labels a platform image gets from its bases: the standard pair for the final stage's
/// base, when that is external or an in-repo parent, and [`BASES_LABEL`] for all of them.
pub fn base_labels(final_base: Option<(&str, &str)>, pulled: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if let Some((name, digest)) = final_base {
        labels.insert(BASE_NAME_LABEL.to_string(), name.to_string());
        labels.insert(BASE_DIGEST_LABEL.to_string(), digest.to_string());
    }
    if !pulled.is_empty() {
        let list: Vec<String> = pulled.iter().map(|(name, digest)| pin_of(name, digest)).collect();
        labels.insert(BASES_LABEL.to_string(), list.join(" "));
    }
    labels
}

/// `name@digest`, with a digest already in `name` replaced.
fn pin_of(name: &str, digest: &str) -> String {
    format!("{}@{digest}", name.split_once('@').map_or(name, |(n, _)| n))
}

/// Reads [`BASES_LABEL`] back: normalized name (with tag) to digest. Junk is skipped.
pub fn pulled_bases(label: &str) -> BTreeMap<String, String> {
    label
        .split_whitespace()
        .filter_map(|pin| pin.rsplit_once('@'))
        .filter(|(_, digest)| crate::oci::reference::check_digest(digest).is_ok())
        .map(|(name, digest)| (name.to_string(), digest.to_string()))
        .collect()
}

/// What a published image says it was built on, from its labels: [`BASES_LABEL`], else the
/// standard base name and digest pair (which other tools write too); empty when it says nothing.
pub fn built_on(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    if let Some(list) = labels.get(BASES_LABEL) {
        return pulled_bases(list);
    }
    match (labels.get(BASE_NAME_LABEL), labels.get(BASE_DIGEST_LABEL)) {
        (Some(name), Some(digest)) => pulled_bases(&pin_of(name, digest)),
        _ => BTreeMap::new(),
    }
}

/// A base whose tag names another image than the one a published image was built on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    pub unit: String,
    pub platform: String,
    pub base: String,
    pub old_digest: String,
    pub new_digest: String,
}

/// The bases of `built` (what a published image's label says) that `now` resolves elsewhere.
/// A base that is pinned by digest cannot move; one `now` lacks is left to the caller's error.
pub fn moved_bases(
    unit: &str,
    platform: &str,
    built: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Vec<Moved> {
    built
        .iter()
        .filter_map(|(base, old)| {
            let new = now.get(base)?;
            (new != old).then(|| Moved {
                unit: unit.to_string(),
                platform: platform.to_string(),
                base: base.clone(),
                old_digest: old.clone(),
                new_digest: new.clone(),
            })
        })
        .collect()
}

/// A reference normalized as docker does, or why it cannot be.
pub fn normalized(reference: &str) -> Result<ImageName, Unresolved> {
    crate::oci::reference::normalize(reference).map_err(Unresolved::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::tests::sample_unit;
    use crate::core::plan::Parent;
    use crate::oci::manifest::{Descriptor, ManifestBody, OCI_INDEX, OCI_MANIFEST};

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn refs(text: &str, unit: &Unit, platform: &str) -> Vec<(String, usize, String)> {
        base_uses(text, unit, platform, "linux/amd64", &BTreeSet::from(["localhost:5000/acme/base".to_string()]))
            .into_iter()
            .map(|u| (u.reference, u.line, u.platform))
            .collect()
    }

    fn owned(items: &[(&str, usize, &str)]) -> Vec<(String, usize, String)> {
        items.iter().map(|(r, l, p)| (r.to_string(), *l, p.to_string())).collect()
    }

    #[test]
    fn external_references_after_arg_substitution_with_the_platform_they_are_pulled_for() {
        let mut unit = sample_unit();
        unit.args = map(&[("PY", "3.13")]);
        unit.parents = vec![Parent { arg: "DEBIAN_IMAGE".into(), unit: "debian:trixie".into(), names: vec![] }];
        let text = "# syntax=docker/dockerfile:1.7\nARG DEBIAN_IMAGE\nARG PY=3.11\nARG TARGETARCH\nARG REG=docker.io\n\
            FROM --platform=$BUILDPLATFORM ${REG}/library/python:${PY} AS Build\n\
            FROM build AS again\n\
            FROM ghcr.io/tools/${TARGETARCH}:1.0\n\
            FROM scratch AS empty\n\
            FROM ${UNSET}\n\
            FROM docker.io/library/python:3.13\n\
            FROM ${DEBIAN_IMAGE}\n\
            FROM localhost:5000/acme/base:main\n\
            FROM --platform=linux/arm64 busybox\n";
        assert_eq!(
            refs(text, &unit, "linux/arm64"),
            owned(&[
                ("docker/dockerfile:1.7", 1, "linux/amd64"),
                ("docker.io/library/python:3.13", 6, "linux/amd64"),
                ("ghcr.io/tools/arm64:1.0", 8, "linux/arm64"),
                ("docker.io/library/python:3.13", 11, "linux/arm64"),
                ("busybox", 14, "linux/arm64"),
            ]),
            "stages, scratch, in-repo parents by arg and by name are left out"
        );
        assert_eq!(refs(text, &unit, "linux/amd64")[2].0, "ghcr.io/tools/amd64:1.0");
        assert!(refs("FROM scratch\n", &unit, "linux/amd64").is_empty());
        let frontend = |text: &str| refs(text, &unit, "linux/arm64");
        assert_eq!(frontend("#!/bin/sh\n# syntax=img:1\nFROM scratch\n"), owned(&[("img:1", 2, "linux/amd64")]));
        assert_eq!(frontend("FROM '$X'\nFROM \\$X\n"), owned(&[("$X", 1, "linux/arm64"), ("$X", 2, "linux/arm64")]));
    }

    #[test]
    fn copy_from_and_mount_images_are_bases_too() {
        let mut unit = sample_unit();
        unit.parents = vec![Parent { arg: "DEBIAN_IMAGE".into(), unit: "debian:trixie".into(), names: vec![] }];
        let text = "ARG DEBIAN_IMAGE\nFROM scratch AS build\nARG TARGETARCH\n\
            COPY --from=composer.test/composer:2 /usr/bin/composer /c\n\
            RUN --mount=type=bind,from=tools.test/t-${TARGETARCH}:1,target=/t true\n\
            COPY --from=build /a /a\nCOPY --from=0 /a /a\nCOPY --from=${DEBIAN_IMAGE} /a /a\n";
        let uses = base_uses(text, &unit, "linux/arm64", "linux/amd64", &BTreeSet::new());
        let found: Vec<(&str, &str)> = uses.iter().map(|u| (u.reference.as_str(), u.instruction.as_str())).collect();
        assert_eq!(found, [("composer.test/composer:2", "COPY --from"), ("tools.test/t-arm64:1", "RUN --mount=from")]);
    }

    #[test]
    fn the_final_base_follows_stages_back_to_an_image() {
        let doc = |t: &str| dockerfile::parse(t);
        let args = map(&[("V", "3.12")]);
        assert_eq!(
            final_base(&doc("ARG V\nFROM python:${V} AS base\nFROM golang AS build\nFROM base\n"), &args),
            Some("python:3.12".into())
        );
        assert_eq!(final_base(&doc("FROM golang AS build\nFROM scratch\nCOPY --from=build /a /a\n"), &args), None);
        assert_eq!(final_base(&doc("FROM debian\n"), &args), Some("debian".into()));
    }

    fn entry(platform: Option<(&str, &str, Option<&str>)>, digest: &str, attestation: bool) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 1,
            platform: platform.map(|(os, arch, variant)| Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(str::to_string),
            }),
            annotations: if attestation {
                map(&[("vnd.docker.reference.type", "attestation-manifest")])
            } else {
                BTreeMap::new()
            },
        }
    }

    #[test]
    fn an_index_gives_each_platform_its_image_and_names_what_it_has() {
        let index = Manifest {
            media_type: OCI_INDEX.into(),
            digest: "sha256:index".into(),
            body: ManifestBody {
                manifests: vec![
                    entry(Some(("linux", "amd64", None)), "sha256:amd", false),
                    entry(Some(("linux", "arm64", Some("v8"))), "sha256:arm", false),
                    entry(Some(("unknown", "unknown", None)), "sha256:att", true),
                ],
                ..ManifestBody::default()
            },
        };
        assert_eq!(platform_digest(&index, None, "linux/amd64"), Ok("sha256:amd".into()));
        assert_eq!(platform_digest(&index, None, "linux/arm64"), Ok("sha256:arm".into()));
        let missing = platform_digest(&index, None, "linux/s390x").unwrap_err();
        assert_eq!(missing.to_string(), "no such platform in its index (it has linux/amd64, linux/arm64/v8)");

        let single =
            Manifest { media_type: OCI_MANIFEST.into(), digest: "sha256:one".into(), body: ManifestBody::default() };
        let amd64 = Platform::parse("linux/amd64");
        assert_eq!(platform_digest(&single, Some(&amd64), "linux/amd64"), Ok("sha256:one".into()));
        assert_eq!(
            platform_digest(&single, Some(&amd64), "linux/arm64").unwrap_err(),
            Unresolved::NoSuchPlatform { has: vec!["linux/amd64".into()] }
        );
    }

    #[test]
    fn pinning_changes_only_the_reference_and_keeps_every_line() {
        let text = "ARG PY=3.11\nFROM --platform=$BUILDPLATFORM python:${PY} AS build\n\
            COPY --from=composer:2 \\\n  /usr/bin/composer /c\n\
            RUN --mount=type=bind,from=node:20,target=/n \\\n    --mount=from=node:20-slim,target=/m true\n\
            FROM python:${PY}-slim\n";
        let pins = [
            (2, RefKind::From, "python:${PY}".to_string(), "docker.io/library/python:3.11@sha256:a".to_string()),
            (3, RefKind::CopyFrom, "composer:2".to_string(), "docker.io/library/composer:2@sha256:b".to_string()),
            (5, RefKind::MountFrom, "node:20-slim".to_string(), "docker.io/library/node:20-slim@sha256:c".to_string()),
            (5, RefKind::MountFrom, "node:20".to_string(), "docker.io/library/node:20@sha256:d".to_string()),
            (7, RefKind::From, "python:${PY}-slim".to_string(), "x.test/p@sha256:e".to_string()),
        ];
        let pinned = pinned_dockerfile(text, &pins).unwrap();
        assert_eq!(
            pinned,
            "ARG PY=3.11\nFROM --platform=$BUILDPLATFORM docker.io/library/python:3.11@sha256:a AS build\n\
            COPY --from=docker.io/library/composer:2@sha256:b \\\n  /usr/bin/composer /c\n\
            RUN --mount=type=bind,from=docker.io/library/node:20@sha256:d,target=/n \\\n    \
            --mount=from=docker.io/library/node:20-slim@sha256:c,target=/m true\n\
            FROM x.test/p@sha256:e\n"
        );
        assert_eq!(pinned.lines().count(), text.lines().count());
        let lost = pinned_dockerfile("FROM a\n", &[(1, RefKind::From, "b".into(), "c".into())]).unwrap_err();
        assert!(lost.contains("\"b\" could not be found"), "{lost}");
    }

    #[test]
    fn the_final_base_pin_names_a_parent_digest_or_what_was_resolved() {
        let doc = dockerfile::parse("ARG BASE_IMAGE\nARG V=3.11\nFROM python:${V} AS py\nFROM ${BASE_IMAGE}\n");
        let parent = format!("localhost:5000/acme/debian@sha256:{}", "1".repeat(64));
        let args = map(&[("BASE_IMAGE", parent.as_str())]);
        assert_eq!(
            final_base_pin(&doc, &args, &BTreeMap::new()),
            Some(("localhost:5000/acme/debian".into(), format!("sha256:{}", "1".repeat(64))))
        );
        let doc = dockerfile::parse("FROM python:3.11\n");
        let pulled = map(&[("docker.io/library/python:3.11", "sha256:p")]);
        assert_eq!(
            final_base_pin(&doc, &BTreeMap::new(), &pulled),
            Some(("docker.io/library/python:3.11".into(), "sha256:p".into()))
        );
        assert_eq!(final_base_pin(&doc, &BTreeMap::new(), &BTreeMap::new()), None, "not resolved: no label");
    }

    #[test]
    fn base_labels_round_trip_and_moved_bases_are_found() {
        let pulled = map(&[("docker.io/library/python:3.11", "sha256:old"), ("x.test/t:1@sha256:pin", "sha256:pin")]);
        let labels = base_labels(Some(("docker.io/library/python:3.11", "sha256:old")), &pulled);
        assert_eq!(labels[BASE_NAME_LABEL], "docker.io/library/python:3.11");
        let valid = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let label = format!("a.test/x:1@{} b.test/y@{} junk c.test/z@md5:1", valid('a'), valid('b'));
        assert_eq!(
            pulled_bases(&label),
            map(&[("a.test/x:1", valid('a').as_str()), ("b.test/y", valid('b').as_str())])
        );
        assert_eq!(labels[BASES_LABEL], "docker.io/library/python:3.11@sha256:old x.test/t:1@sha256:pin");
        let other_tool = map(&[(BASE_NAME_LABEL, "a.test/x:1"), (BASE_DIGEST_LABEL, valid('a').as_str())]);
        assert_eq!(built_on(&other_tool), map(&[("a.test/x:1", valid('a').as_str())]));
        assert!(built_on(&BTreeMap::new()).is_empty());
        let built = map(&[("a.test/x:1", "sha256:1"), ("b.test/y:2", "sha256:2")]);
        let now = map(&[("a.test/x:1", "sha256:1"), ("b.test/y:2", "sha256:3")]);
        assert_eq!(
            moved_bases("app", "linux/amd64", &built, &now),
            [Moved {
                unit: "app".into(),
                platform: "linux/amd64".into(),
                base: "b.test/y:2".into(),
                old_digest: "sha256:2".into(),
                new_digest: "sha256:3".into()
            }]
        );
    }
}
