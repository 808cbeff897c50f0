//! The judgement of `verify-manifests`: given what was read from the registry for a unit
//! (`ops::observe`), whether its tags exist, list exactly the declared platforms whose
//! configs match their slots, agree on one digest, and carry the OCI labels.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use crate::core::metrics::UnitPlatformRecord;
use crate::core::plan::Unit;
use crate::core::severity::Severity;
use crate::oci::manifest::{is_attestation, is_index, Descriptor, ImageConfig, Manifest, ATTESTATION_SUBJECT};

/// Labels `build` sets on every image; their absence is a warning.
pub const EXPECTED_LABELS: &[&str] = &["created", "revision", "source", "title"];

/// Checked against image.toml's `licenses` where it is declared.
const LICENSES_LABEL: &str = "org.opencontainers.image.licenses";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub reference: String,
    pub severity: Severity,
    pub message: String,
}

/// Everything read from the registry for one unit. A failed read is kept as its message.
/// Manifests and configs are shared with the other units that reach them, not copied: a
/// registry may serve a config of tens of megabytes under many tags.
#[derive(Debug, Default)]
pub struct Observed {
    /// By full tag reference.
    pub tags: BTreeMap<String, Result<Option<Arc<Manifest>>, String>>,
    /// Platform manifests by digest.
    pub images: BTreeMap<String, Result<Option<Arc<Manifest>>, String>>,
    /// Image configs by digest.
    pub configs: BTreeMap<String, Result<Arc<ImageConfig>, String>>,
}

#[derive(Debug, Serialize)]
pub struct UnitReport {
    pub unit: String,
    pub digest: Option<String>,
    pub tags: Vec<String>,
    pub platforms: Vec<String>,
    pub problems: Vec<Problem>,
}

/// BuildKit's attestations in an index: each about a platform image of that index, and, once
/// an engine attests at all, one for every platform (an error on a release).
fn check_attestations(tag: &str, index: &Manifest, images: &[&Descriptor], release: bool, problems: &mut Vec<Problem>) {
    let attestations: Vec<&Descriptor> = index.body.manifests.iter().filter(|d| is_attestation(d)).collect();
    let mut problem = |severity: Severity, message: String| {
        problems.push(Problem { reference: tag.to_string(), severity, message });
    };
    for attestation in &attestations {
        match attestation.annotations.get(ATTESTATION_SUBJECT) {
            Some(subject) if images.iter().any(|i| i.digest == *subject) => {}
            Some(subject) => problem(
                Severity::Error,
                format!(
                    "holds an attestation ({}) about {}, which is no platform image of it",
                    attestation.digest,
                    crate::core::text::sanitize(subject)
                ),
            ),
            None => {
                problem(Severity::Error, format!("holds an attestation ({}) that names no image", attestation.digest))
            }
        }
    }
    let about = |image: &&Descriptor| {
        attestations.iter().any(|a| a.annotations.get(ATTESTATION_SUBJECT) == Some(&image.digest))
    };
    if !images.iter().any(about) {
        return;
    }
    for image in images {
        let attested = attestations.iter().any(|a| a.annotations.get(ATTESTATION_SUBJECT) == Some(&image.digest));
        if !attested {
            let name = image.platform.as_ref().map_or_else(|| image.digest.clone(), |p| p.name());
            let severity = if release { Severity::Error } else { Severity::Warning };
            problem(severity, format!("its {name} image has no provenance, although the other platforms have"));
        }
    }
}

/// Judges one unit: tags exist, are lists of exactly the declared platforms whose
/// configs match their slots, agree on one digest, and carry the OCI labels.
pub fn check_unit(unit: &Unit, observed: &Observed, release: bool) -> UnitReport {
    let mut problems = Vec::new();
    // Judged beside the entries, reported after them.
    let mut attestation_problems = Vec::new();
    let mut error = |reference: &str, message: String| {
        problems.push(Problem { reference: reference.to_string(), severity: Severity::Error, message })
    };
    let mut found: Vec<(&str, &Manifest)> = Vec::new();
    let tags: Vec<String> = unit.tags.iter().map(ToString::to_string).collect();
    for tag in &tags {
        match observed.tags.get(tag) {
            Some(Ok(Some(manifest))) => found.push((tag, manifest)),
            Some(Ok(None)) => error(tag, "does not exist".to_string()),
            Some(Err(why)) => error(tag, format!("could not be read: {why}")),
            None => error(tag, "was not read".to_string()),
        }
    }
    // Every alias must point at one digest: the one most tags agree on (the first tag's on a tie).
    let consensus = consensus_digest(&found);
    if let Some(consensus) = &consensus {
        let agreeing: Vec<&str> = found
            .iter()
            .filter(|(_, m)| &m.digest == consensus)
            .map(|(t, _)| t.rsplit_once(':').map_or(*t, |(_, tag)| tag))
            .collect();
        let verb = if agreeing.len() == 1 { "points" } else { "point" };
        for (tag, manifest) in found.iter().filter(|(_, m)| &m.digest != consensus) {
            error(tag, format!("points at {}, but {} {verb} at {consensus}", manifest.digest, agreeing.join(", ")));
        }
    }
    let mut checked = BTreeSet::new();
    let mut configs: Vec<(&str, &ImageConfig)> = Vec::new();
    let mut indexes: Vec<(&str, &BTreeMap<String, String>)> = Vec::new();
    for (tag, manifest) in &found {
        if !checked.insert(manifest.digest.clone()) {
            continue; // the same content was judged under another tag
        }
        if !is_index(&manifest.media_type) {
            if unit.platforms.len() > 1 {
                error(
                    tag,
                    format!(
                        "is a single image ({}), not a manifest list of {}",
                        manifest.media_type,
                        unit.platforms.join(", ")
                    ),
                );
            }
            if let Some(config) = manifest.body.config.as_ref().and_then(|c| observed.configs.get(&c.digest)) {
                match config {
                    Ok(config) => configs.push((tag, config)),
                    Err(why) => error(tag, format!("its image config could not be read: {why}")),
                }
            }
            continue;
        }
        indexes.push((tag, &manifest.body.annotations));
        let entries: Vec<&Descriptor> = manifest.body.manifests.iter().filter(|d| !is_attestation(d)).collect();
        check_attestations(tag, manifest, &entries, release, &mut attestation_problems);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for entry in &entries {
            let name = entry.platform.as_ref().map_or_else(|| "an entry without platform".to_string(), |p| p.name());
            *seen.entry(name).or_default() += 1;
        }
        for platform in &unit.platforms {
            if !seen.contains_key(platform) {
                error(tag, format!("is missing {platform}"));
            }
        }
        for (name, count) in &seen {
            if !unit.platforms.contains(name) {
                error(tag, format!("holds {name}, which the image does not declare"));
            } else if *count > 1 {
                error(tag, format!("holds {name} {count} times"));
            }
        }
        for entry in entries {
            let Some(declared) = &entry.platform else { continue };
            let image = match observed.images.get(&entry.digest) {
                Some(Ok(Some(image))) => image,
                Some(Ok(None)) => {
                    error(
                        tag,
                        format!("its {} entry {} does not exist in the registry", declared.name(), entry.digest),
                    );
                    continue;
                }
                Some(Err(why)) => {
                    error(tag, format!("its {} entry could not be read: {why}", declared.name()));
                    continue;
                }
                None => continue,
            };
            let Some(config) = image.body.config.as_ref().and_then(|c| observed.configs.get(&c.digest)) else {
                error(tag, format!("its {} entry has no image config", declared.name()));
                continue;
            };
            match config {
                Ok(config) => {
                    let actual = config.platform();
                    if actual.os != declared.os
                        || actual.architecture != declared.architecture
                        || (declared.variant.is_some() && actual.variant != declared.variant)
                    {
                        error(
                            tag,
                            format!("its {} entry ({}) holds a {} image", declared.name(), entry.digest, actual.name()),
                        );
                    }
                    configs.push((tag, config));
                }
                Err(why) => {
                    error(tag, format!("the image config of its {} entry could not be read: {why}", declared.name()))
                }
            }
        }
    }
    problems.extend(attestation_problems);
    let mut expected: Vec<&str> = EXPECTED_LABELS.to_vec();
    if release {
        expected.push("version");
    }
    let mut warned = BTreeSet::new();
    for (tag, config) in configs {
        let labels = config.config.as_ref().and_then(|c| c.get("Labels")).and_then(|l| l.as_object());
        for key in &expected {
            let full = format!("org.opencontainers.image.{key}");
            if !labels.is_some_and(|l| l.contains_key(&full)) && warned.insert(full.clone()) {
                problems.push(Problem {
                    reference: tag.to_string(),
                    severity: Severity::Warning,
                    message: format!("is missing the label {full}"),
                });
            }
        }
        // A declared license that the published image does not carry is wrong metadata, not a gap.
        if let Some(declared) = &unit.licenses {
            let actual = labels.and_then(|l| l.get(LICENSES_LABEL)).and_then(|v| v.as_str());
            if actual != Some(declared.as_str()) {
                let platform = config.platform();
                let found = actual.map_or_else(|| "no licenses label".to_string(), |a| format!("licenses `{a}`"));
                problems.push(Problem {
                    reference: tag.to_string(),
                    severity: Severity::Error,
                    message: format!(
                        "its {} image has {found}, not the declared `{declared}`: `cargo xtask build` rebuilds it",
                        platform.name()
                    ),
                });
            }
        }
    }
    // The index's annotations are what registries show for a multi-arch image: checked alike.
    for (tag, annotations) in indexes {
        for key in &expected {
            let full = format!("org.opencontainers.image.{key}");
            if !annotations.contains_key(&full) {
                problems.push(Problem {
                    reference: tag.to_string(),
                    severity: Severity::Warning,
                    message: format!("its index is missing the annotation {full}"),
                });
            }
        }
        if let Some(declared) = &unit.licenses {
            let actual = annotations.get(LICENSES_LABEL);
            if actual != Some(declared) {
                let found = actual.map_or_else(
                    || "no licenses annotation".to_string(),
                    |a| format!("licenses `{}`", crate::core::text::sanitize(a)),
                );
                problems.push(Problem {
                    reference: tag.to_string(),
                    severity: Severity::Error,
                    message: format!(
                        "its index has {found}, not the declared `{declared}`: `cargo xtask build` publishes it again"
                    ),
                });
            }
        }
    }
    UnitReport {
        unit: unit.id.clone(),
        digest: consensus,
        tags: tags.clone(),
        platforms: unit.platforms.clone(),
        problems,
    }
}

/// A metrics record per declared platform: the image it has in the index most tags
/// agree on, that image's compressed size and the input digest it is labelled with.
pub fn platform_metrics(unit: &Unit, report: &UnitReport, observed: &Observed) -> Vec<UnitPlatformRecord> {
    let failed = report.problems.iter().any(|p| p.severity == Severity::Error);
    let top = observed
        .tags
        .values()
        .filter_map(|m| m.as_ref().ok()?.as_ref())
        .find(|m| report.digest.as_ref() == Some(&m.digest));
    unit.platforms
        .iter()
        .map(|platform| {
            let image = top.and_then(|top| platform_image(unit, observed, top, platform));
            let config = image.and_then(|m| image_config(observed, m));
            UnitPlatformRecord {
                unit: unit.id.clone(),
                platform: platform.clone(),
                status: if failed { "failed" } else { "ok" }.to_string(),
                seconds: None,
                digest: image.map(|m| m.digest.clone()),
                input_digest: config.and_then(|c| c.labels().remove(crate::core::inputs::INPUT_DIGEST_LABEL)),
                skipped: false,
                compressed_size: image.map(|m| m.compressed_size().0),
            }
        })
        .collect()
}

/// `platform`'s image under `top`: its index entry, or `top` itself for a one-platform unit.
fn platform_image<'a>(unit: &Unit, observed: &'a Observed, top: &'a Manifest, platform: &str) -> Option<&'a Manifest> {
    if !is_index(&top.media_type) {
        return (unit.platforms.len() == 1).then_some(top);
    }
    let entry = top
        .body
        .manifests
        .iter()
        .filter(|d| !is_attestation(d))
        .find(|d| d.platform.as_ref().is_some_and(|p| p.name() == platform))?;
    observed.images.get(&entry.digest)?.as_ref().ok()?.as_deref()
}

fn image_config<'a>(observed: &'a Observed, image: &Manifest) -> Option<&'a ImageConfig> {
    observed.configs.get(&image.body.config.as_ref()?.digest)?.as_ref().ok().map(|c| &**c)
}

/// Each child against its in-repo parents as published: where a child's platform image records
/// a parent as its base (`org.opencontainers.image.base.*`), that must be the image the parent's
/// first tag names for the platform. Otherwise the child sits on a parent that was never
/// published (a CI leg rebuilt it) or that has moved on since. Problems by child unit id.
pub fn check_parents(units: &[Unit], observed: &BTreeMap<String, Observed>) -> BTreeMap<String, Vec<Problem>> {
    let mut problems: BTreeMap<String, Vec<Problem>> = BTreeMap::new();
    let top = |unit: &Unit| -> Option<(String, &Manifest)> {
        let tag = unit.tags.first()?.to_string();
        let manifest = observed.get(&unit.id)?.tags.get(&tag)?.as_ref().ok()?.as_deref()?;
        Some((tag, manifest))
    };
    for child in units {
        let (Some((child_tag, child_top)), Some(child_seen)) = (top(child), observed.get(&child.id)) else { continue };
        for parent in &child.parents {
            let Some(parent_unit) = units.iter().find(|u| u.id == parent.unit) else { continue };
            let (Some((parent_tag, parent_top)), Some(parent_seen)) = (top(parent_unit), observed.get(&parent_unit.id))
            else {
                continue;
            };
            let Ok(parent_name) = crate::oci::reference::normalize(&parent_unit.repository) else { continue };
            for platform in &child.platforms {
                let Some(config) =
                    platform_image(child, child_seen, child_top, platform).and_then(|i| image_config(child_seen, i))
                else {
                    continue;
                };
                let labels = config.labels();
                let (Some(name), Some(digest)) = (
                    labels.get(crate::core::bases::BASE_NAME_LABEL),
                    labels.get(crate::core::bases::BASE_DIGEST_LABEL),
                ) else {
                    continue;
                };
                let names_parent = crate::oci::reference::normalize(name)
                    .is_ok_and(|n| n.registry == parent_name.registry && n.repository == parent_name.repository);
                let Some(published) = platform_image(parent_unit, parent_seen, parent_top, platform) else { continue };
                if names_parent && *digest != published.digest {
                    problems.entry(child.id.clone()).or_default().push(Problem {
                        reference: child_tag.clone(),
                        severity: Severity::Error,
                        message: format!(
                            "its {platform} image was built on {}@{}, but {parent_tag} names {} for {platform}: \
                             rebuild {} on the published parent (`cargo xtask build {}`), or publish both from one run",
                            parent_unit.repository,
                            crate::core::text::sanitize(digest),
                            published.digest,
                            child.id,
                            child.id
                        ),
                    });
                }
            }
        }
    }
    problems
}

/// The digest most of `found` point at; the earliest tag's wins a tie.
fn consensus_digest(found: &[(&str, &Manifest)]) -> Option<String> {
    let count = |digest: &str| found.iter().filter(|(_, m)| m.digest == digest).count();
    let mut best: Option<(&str, usize)> = None;
    for (_, manifest) in found {
        let n = count(&manifest.digest);
        if best.is_none_or(|(_, b)| n > b) {
            best = Some((&manifest.digest, n));
        }
    }
    best.map(|(digest, _)| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::manifest::ManifestBody;
    use crate::oci::platform::Platform;
    use crate::oci::reference::TagRef;

    const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    const IMAGE: &str = "application/vnd.docker.distribution.manifest.v2+json";

    fn unit(platforms: &[&str]) -> Unit {
        Unit {
            repository: "r.test/app".into(),
            platforms: platforms.iter().map(|p| p.to_string()).collect(),
            tags: vec![TagRef::new("r.test/app", "latest"), TagRef::new("r.test/app", "1.0.0")],
            ..crate::core::plan::tests::sample_unit()
        }
    }

    fn descriptor(digest: &str, platform: Option<(&str, &str)>) -> Descriptor {
        Descriptor {
            media_type: IMAGE.to_string(),
            digest: digest.to_string(),
            size: 1,
            platform: platform.map(|(os, arch)| Platform { os: os.into(), architecture: arch.into(), variant: None }),
            annotations: BTreeMap::new(),
        }
    }

    /// The annotations `build` gives an index: the expected keys and a version.
    fn annotations() -> BTreeMap<String, String> {
        EXPECTED_LABELS
            .iter()
            .chain(["version"].iter())
            .map(|k| (format!("org.opencontainers.image.{k}"), "x".into()))
            .collect()
    }

    fn index(digest: &str, entries: Vec<Descriptor>) -> Arc<Manifest> {
        Arc::new(Manifest {
            media_type: LIST.to_string(),
            digest: digest.to_string(),
            body: ManifestBody {
                media_type: Some(LIST.to_string()),
                manifests: entries,
                config: None,
                layers: vec![],
                annotations: annotations(),
            },
        })
    }

    fn image(digest: &str, config: &str) -> Arc<Manifest> {
        Arc::new(Manifest {
            media_type: IMAGE.to_string(),
            digest: digest.to_string(),
            body: ManifestBody {
                media_type: Some(IMAGE.to_string()),
                manifests: vec![],
                config: Some(descriptor(config, None)),
                layers: vec![],
                annotations: Default::default(),
            },
        })
    }

    fn config(arch: &str, labelled: bool) -> Arc<ImageConfig> {
        let labels: serde_json::Value = if labelled {
            EXPECTED_LABELS
                .iter()
                .chain(["version"].iter())
                .map(|k| (format!("org.opencontainers.image.{k}"), serde_json::json!("x")))
                .collect::<serde_json::Map<_, _>>()
                .into()
        } else {
            serde_json::json!({})
        };
        Arc::new(ImageConfig {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
            config: Some(serde_json::json!({ "Labels": labels })),
        })
    }

    /// A healthy two-platform state: both tags at one index of amd64 and arm64.
    fn healthy() -> Observed {
        let list = index(
            "sha256:idx",
            vec![descriptor("sha256:a", Some(("linux", "amd64"))), descriptor("sha256:b", Some(("linux", "arm64")))],
        );
        let mut o = Observed::default();
        o.tags.insert("r.test/app:latest".into(), Ok(Some(list.clone())));
        o.tags.insert("r.test/app:1.0.0".into(), Ok(Some(list)));
        o.images.insert("sha256:a".into(), Ok(Some(image("sha256:a", "sha256:ca"))));
        o.images.insert("sha256:b".into(), Ok(Some(image("sha256:b", "sha256:cb"))));
        o.configs.insert("sha256:ca".into(), Ok(config("amd64", true)));
        o.configs.insert("sha256:cb".into(), Ok(config("arm64", true)));
        o
    }

    fn messages(report: &UnitReport) -> Vec<String> {
        report.problems.iter().map(|p| format!("{}: {}", p.reference, p.message)).collect()
    }

    #[test]
    fn healthy_state_passes() {
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &healthy(), true);
        assert_eq!(messages(&report), Vec::<String>::new());
        assert_eq!(report.digest.as_deref(), Some("sha256:idx"));
    }

    #[test]
    fn metrics_name_each_platform_image_its_size_and_input_digest() {
        let unit = unit(&["linux/amd64", "linux/arm64", "linux/arm/v7"]);
        let mut o = healthy();
        let mut labelled = config("arm64", true);
        Arc::make_mut(&mut labelled).config =
            Some(serde_json::json!({ "Labels": { crate::core::inputs::INPUT_DIGEST_LABEL: "sha256:in" } }));
        o.configs.insert("sha256:cb".into(), Ok(labelled));
        let report = check_unit(&unit, &o, true);
        let records = platform_metrics(&unit, &report, &o);
        let got: Vec<String> = records
            .iter()
            .map(|r| {
                let (digest, input) = (r.digest.as_deref(), r.input_digest.as_deref());
                format!("{} {} {digest:?} {:?} {input:?}", r.platform, r.status, r.compressed_size)
            })
            .collect();
        // `descriptor` sizes are 1: a config and no layers.
        assert_eq!(
            got,
            [
                "linux/amd64 failed Some(\"sha256:a\") Some(1) None",
                "linux/arm64 failed Some(\"sha256:b\") Some(1) Some(\"sha256:in\")",
                "linux/arm/v7 failed None None None",
            ]
        );
        let two = unit.platforms[..2].to_vec();
        let unit = Unit { platforms: two, ..unit };
        let report = check_unit(&unit, &healthy(), true);
        assert!(platform_metrics(&unit, &report, &healthy()).iter().all(|r| r.status == "ok"));
    }

    #[test]
    fn missing_platform_and_unexpected_platform() {
        let mut o = healthy();
        let list = index(
            "sha256:idx2",
            vec![descriptor("sha256:a", Some(("linux", "amd64"))), descriptor("sha256:a", Some(("linux", "386")))],
        );
        o.tags.insert("r.test/app:latest".into(), Ok(Some(list.clone())));
        o.tags.insert("r.test/app:1.0.0".into(), Ok(Some(list)));
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true);
        assert_eq!(
            messages(&report),
            [
                "r.test/app:latest: is missing linux/arm64",
                "r.test/app:latest: holds linux/386, which the image does not declare",
                "r.test/app:latest: its linux/386 entry (sha256:a) holds a linux/amd64 image",
            ]
        );
    }

    /// An index that lists a declared platform twice is refused, though every declared
    /// platform is there and nothing undeclared is (kills removing the `count > 1` check).
    #[test]
    fn a_platform_listed_twice_is_an_error() {
        let mut o = healthy();
        let list = index(
            "sha256:twice",
            vec![
                descriptor("sha256:a", Some(("linux", "amd64"))),
                descriptor("sha256:b", Some(("linux", "arm64"))),
                descriptor("sha256:b", Some(("linux", "arm64"))),
            ],
        );
        o.tags.insert("r.test/app:latest".into(), Ok(Some(list.clone())));
        o.tags.insert("r.test/app:1.0.0".into(), Ok(Some(list)));
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true);
        assert_eq!(messages(&report), ["r.test/app:latest: holds linux/arm64 2 times"]);
        assert!(report.problems.iter().all(|p| p.severity == Severity::Error));
        // Three times is counted as such; an undeclared platform listed twice is reported once, as undeclared.
        let list = index(
            "sha256:thrice",
            vec![
                descriptor("sha256:a", Some(("linux", "amd64"))),
                descriptor("sha256:a", Some(("linux", "amd64"))),
                descriptor("sha256:a", Some(("linux", "amd64"))),
                descriptor("sha256:b", Some(("linux", "arm64"))),
                descriptor("sha256:b", Some(("linux", "386"))),
                descriptor("sha256:b", Some(("linux", "386"))),
            ],
        );
        o.tags.insert("r.test/app:latest".into(), Ok(Some(list.clone())));
        o.tags.insert("r.test/app:1.0.0".into(), Ok(Some(list)));
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true);
        assert_eq!(
            messages(&report),
            [
                "r.test/app:latest: holds linux/386, which the image does not declare",
                "r.test/app:latest: holds linux/amd64 3 times",
                "r.test/app:latest: its linux/386 entry (sha256:b) holds a linux/arm64 image",
                "r.test/app:latest: its linux/386 entry (sha256:b) holds a linux/arm64 image",
            ]
        );
    }

    #[test]
    fn alias_pointing_elsewhere_and_deleted_tag() {
        let mut o = healthy();
        let other = index(
            "sha256:other",
            vec![descriptor("sha256:a", Some(("linux", "amd64"))), descriptor("sha256:b", Some(("linux", "arm64")))],
        );
        o.tags.insert("r.test/app:1.0.0".into(), Ok(Some(other)));
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true);
        assert_eq!(messages(&report), ["r.test/app:1.0.0: points at sha256:other, but latest points at sha256:idx"]);
        // The odd one out is the tag that disagrees with the majority, whichever comes first.
        let mut three = unit(&["linux/amd64", "linux/arm64"]);
        three.tags.push(TagRef::new("r.test/app", "1.0"));
        let mut o = healthy();
        let other = index(
            "sha256:other",
            vec![descriptor("sha256:a", Some(("linux", "amd64"))), descriptor("sha256:b", Some(("linux", "arm64")))],
        );
        o.tags.insert("r.test/app:latest".into(), Ok(Some(other)));
        o.tags.insert("r.test/app:1.0".into(), o.tags["r.test/app:1.0.0"].clone());
        let report = check_unit(&three, &o, true);
        assert_eq!(
            messages(&report),
            ["r.test/app:latest: points at sha256:other, but 1.0.0, 1.0 point at sha256:idx"]
        );
        assert_eq!(report.digest.as_deref(), Some("sha256:idx"));

        let mut o = healthy();
        o.tags.insert("r.test/app:1.0.0".into(), Ok(None));
        assert_eq!(
            messages(&check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true)),
            ["r.test/app:1.0.0: does not exist"]
        );
    }

    #[test]
    fn arm64_slot_holding_an_amd64_image() {
        let mut o = healthy();
        o.configs.insert("sha256:cb".into(), Ok(config("amd64", true)));
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true);
        assert_eq!(
            messages(&report),
            ["r.test/app:latest: its linux/arm64 entry (sha256:b) holds a linux/amd64 image"]
        );
    }

    #[test]
    fn attestations_are_not_platforms() {
        let mut o = healthy();
        let attestation = |digest: &str, subject: &str| {
            let mut d = descriptor(digest, Some(("unknown", "unknown")));
            d.annotations.insert("vnd.docker.reference.type".into(), "attestation-manifest".into());
            d.annotations.insert(ATTESTATION_SUBJECT.into(), subject.into());
            d
        };
        let list = index(
            "sha256:idx",
            vec![
                descriptor("sha256:a", Some(("linux", "amd64"))),
                descriptor("sha256:b", Some(("linux", "arm64"))),
                attestation("sha256:att", "sha256:a"),
                attestation("sha256:atb", "sha256:b"),
            ],
        );
        o.tags.insert("r.test/app:latest".into(), Ok(Some(list.clone())));
        o.tags.insert("r.test/app:1.0.0".into(), Ok(Some(list)));
        assert_eq!(messages(&check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true)), Vec::<String>::new());

        // The annotation alone does not make an attestation: an undeclared platform shows.
        let mut hidden = descriptor("sha256:a", Some(("linux", "386")));
        hidden.annotations.insert("vnd.docker.reference.type".into(), "attestation-manifest".into());
        let list = index(
            "sha256:idx",
            vec![
                descriptor("sha256:a", Some(("linux", "amd64"))),
                descriptor("sha256:b", Some(("linux", "arm64"))),
                hidden,
            ],
        );
        o.tags.insert("r.test/app:latest".into(), Ok(Some(list.clone())));
        o.tags.insert("r.test/app:1.0.0".into(), Ok(Some(list)));
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true);
        assert!(
            messages(&report)
                .contains(&"r.test/app:latest: holds linux/386, which the image does not declare".to_string()),
            "{:?}",
            messages(&report)
        );
    }

    #[test]
    fn single_image_where_a_list_is_expected_and_single_platform_images() {
        let mut o = healthy();
        o.tags.insert("r.test/app:latest".into(), Ok(Some(image("sha256:a", "sha256:ca"))));
        o.tags.insert("r.test/app:1.0.0".into(), Ok(Some(image("sha256:a", "sha256:ca"))));
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true);
        assert_eq!(
            messages(&report),
            [format!(
                "r.test/app:latest: is a single image ({IMAGE}), not a manifest list of linux/amd64, linux/arm64"
            )]
        );
        assert_eq!(messages(&check_unit(&unit(&["linux/amd64"]), &o, true)), Vec::<String>::new());
    }

    #[test]
    fn missing_labels_are_warnings() {
        let mut o = healthy();
        o.configs.insert("sha256:ca".into(), Ok(config("amd64", false)));
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true);
        assert!(report.problems.iter().all(|p| p.severity == Severity::Warning));
        assert_eq!(report.problems.len(), 5, "{:?}", messages(&report));
        assert!(messages(&report)[0].ends_with("is missing the label org.opencontainers.image.created"));
    }

    #[test]
    fn attestations_are_about_images_of_the_index_and_cover_every_platform() {
        let attestation = |digest: &str, subject: Option<&str>| {
            let mut d = descriptor(digest, Some(("unknown", "unknown")));
            d.annotations.insert("vnd.docker.reference.type".into(), "attestation-manifest".into());
            if let Some(subject) = subject {
                d.annotations.insert(ATTESTATION_SUBJECT.into(), subject.into());
            }
            d
        };
        let with = |extra: Vec<Descriptor>| {
            let mut o = healthy();
            for tag in o.tags.values_mut() {
                Arc::make_mut(tag.as_mut().unwrap().as_mut().unwrap()).body.manifests.extend(extra.clone());
            }
            o
        };
        let unit = unit(&["linux/amd64", "linux/arm64"]);
        let both = with(vec![attestation("sha256:pa", Some("sha256:a")), attestation("sha256:pb", Some("sha256:b"))]);
        assert_eq!(messages(&check_unit(&unit, &both, true)), Vec::<String>::new());
        let one = with(vec![attestation("sha256:pa", Some("sha256:a"))]);
        let report = check_unit(&unit, &one, true);
        assert_eq!(
            messages(&report),
            ["r.test/app:latest: its linux/arm64 image has no provenance, although the other platforms have"]
        );
        assert_eq!(report.problems[0].severity, Severity::Error, "a release carries provenance for every platform");
        assert_eq!(check_unit(&unit, &one, false).problems[0].severity, Severity::Warning);
        let stray = with(vec![
            attestation("sha256:pa", Some("sha256:a")),
            attestation("sha256:pb", Some("sha256:b")),
            attestation("sha256:px", Some("sha256:elsewhere")),
            attestation("sha256:pn", None),
        ]);
        assert_eq!(
            messages(&check_unit(&unit, &stray, false)),
            [
                "r.test/app:latest: holds an attestation (sha256:px) about sha256:elsewhere, which is no platform image of it",
                "r.test/app:latest: holds an attestation (sha256:pn) that names no image",
            ]
        );
    }

    #[test]
    fn the_index_carries_the_annotations_and_the_declared_licenses() {
        let mut o = healthy();
        for tag in o.tags.values_mut() {
            let index = Arc::make_mut(tag.as_mut().unwrap().as_mut().unwrap());
            index.body.annotations.remove("org.opencontainers.image.source");
            index.body.annotations.insert(LICENSES_LABEL.into(), "MIT\u{1b}[2J".into());
        }
        let report = check_unit(&unit(&["linux/amd64", "linux/arm64"]), &o, true);
        assert_eq!(
            messages(&report),
            ["r.test/app:latest: its index is missing the annotation org.opencontainers.image.source"]
        );
        let declared = Unit { licenses: Some("Apache-2.0".into()), ..unit(&["linux/amd64", "linux/arm64"]) };
        let report = check_unit(&declared, &o, true);
        let licenses: Vec<String> = messages(&report).into_iter().filter(|m| m.contains("its index has")).collect();
        assert_eq!(
            licenses,
            ["r.test/app:latest: its index has licenses `MIT\\u{1b}[2J`, not the declared `Apache-2.0`: `cargo xtask build` publishes it again"]
        );
    }

    #[test]
    fn declared_licenses_must_be_the_label_of_every_platform_image() {
        let unit = Unit { licenses: Some("MIT OR Apache-2.0".into()), ..unit(&["linux/amd64", "linux/arm64"]) };
        let mut o = healthy();
        let with_licenses = |arch: &str, licenses: &str| {
            let mut config = config(arch, true);
            Arc::make_mut(&mut config).config.as_mut().unwrap()["Labels"][LICENSES_LABEL] = serde_json::json!(licenses);
            config
        };
        o.configs.insert("sha256:ca".into(), Ok(with_licenses("amd64", "MIT OR Apache-2.0")));
        o.configs.insert("sha256:cb".into(), Ok(with_licenses("arm64", "MIT OR Apache-2.0")));
        for tag in o.tags.values_mut() {
            let index = Arc::make_mut(tag.as_mut().unwrap().as_mut().unwrap());
            index.body.annotations.insert(LICENSES_LABEL.into(), "MIT OR Apache-2.0".into());
        }
        assert_eq!(messages(&check_unit(&unit, &o, true)), Vec::<String>::new());

        o.configs.insert("sha256:cb".into(), Ok(with_licenses("arm64", "MIT")));
        let report = check_unit(&unit, &o, true);
        assert_eq!(
            messages(&report),
            ["r.test/app:latest: its linux/arm64 image has licenses `MIT`, not the declared `MIT OR Apache-2.0`: \
              `cargo xtask build` rebuilds it"]
        );
        assert!(report.problems.iter().all(|p| p.severity == Severity::Error));

        o.configs.insert("sha256:cb".into(), Ok(config("arm64", true)));
        assert!(messages(&check_unit(&unit, &o, true))[0].contains("has no licenses label, not the declared"));
        // Undeclared, the label is not looked at.
        let undeclared = Unit { licenses: None, ..unit };
        assert_eq!(messages(&check_unit(&undeclared, &o, true)), Vec::<String>::new());
    }

    #[test]
    fn a_child_must_sit_on_the_image_its_parent_publishes_for_each_platform() {
        let mut base = unit(&["linux/amd64", "linux/arm64"]);
        base.id = "base".into();
        base.repository = "r.test/base".into();
        base.tags = vec![TagRef::new("r.test/base", "latest")];
        let mut app = unit(&["linux/amd64", "linux/arm64"]);
        app.id = "app".into();
        app.parents = vec![crate::core::plan::Parent { arg: "BASE_IMAGE".into(), unit: "base".into(), names: vec![] }];
        let mut parent = Observed::default();
        parent.tags.insert(
            "r.test/base:latest".into(),
            Ok(Some(index(
                "sha256:pidx",
                vec![
                    descriptor("sha256:pa", Some(("linux", "amd64"))),
                    descriptor("sha256:pb", Some(("linux", "arm64"))),
                ],
            ))),
        );
        let on = |arch: &str, digest: &str| {
            Arc::new(ImageConfig {
                os: "linux".into(),
                architecture: arch.into(),
                variant: None,
                config: Some(serde_json::json!({"Labels": {
                    "org.opencontainers.image.base.name": "r.test/base",
                    "org.opencontainers.image.base.digest": digest,
                }})),
            })
        };
        let child = |arm64_base: &str| {
            let mut o = healthy();
            o.configs.insert("sha256:ca".into(), Ok(on("amd64", "sha256:pa")));
            o.configs.insert("sha256:cb".into(), Ok(on("arm64", arm64_base)));
            o
        };
        for digest in ["sha256:pa", "sha256:pb"] {
            parent.images.insert(digest.into(), Ok(Some(image(digest, "sha256:pc"))));
        }
        let units = [base, app];
        let observed = |child: Observed| {
            let parent =
                Observed { tags: parent.tags.clone(), images: parent.images.clone(), configs: BTreeMap::new() };
            BTreeMap::from([("app".to_string(), child), ("base".to_string(), parent)])
        };
        assert!(check_parents(&units, &observed(child("sha256:pb"))).is_empty(), "both sit on the published parent");

        let problems = check_parents(&units, &observed(child("sha256:stale")));
        let messages: Vec<String> =
            problems["app"].iter().map(|p| format!("{}: {:?}: {}", p.reference, p.severity, p.message)).collect();
        assert_eq!(
            messages,
            ["r.test/app:latest: Error: its linux/arm64 image was built on r.test/base@sha256:stale, but \
              r.test/base:latest names sha256:pb for linux/arm64: rebuild app on the published parent \
              (`cargo xtask build app`), or publish both from one run"]
        );

        // A platform image that records no parent as its base is not compared.
        let mut other = child("sha256:stale");
        other.configs.insert("sha256:cb".into(), Ok(config("arm64", true)));
        assert!(check_parents(&units, &observed(other)).is_empty());
    }
}
