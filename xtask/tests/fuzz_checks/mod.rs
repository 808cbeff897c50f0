//! What the parsers must do with any input, shared by the cargo-fuzz targets (`fuzz/`) and
//! the generated-corpus test (`tests/fuzz_parsers.rs`): never panic (nor do the registry
//! client's parsers of what a registry sends, `registry`); refuse image.toml text
//! with an error that has a location and a hint; and, when they accept it, produce only
//! what later steps rely on (one default variant, paths inside the workspace, image
//! references that docker reads as meant, `--secret` values with their one comma).

#![allow(dead_code)] // Each fuzz target uses one half of this module.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use camino::{Utf8Path, Utf8PathBuf};
use xtask::core::definitions::{self, Definitions, Settings};
use xtask::core::event::{self, Event, EventFlags};
use xtask::core::lint::{self, LintContext};

const FILE: &str = "images/orb/image.toml";

fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        definitions::validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\n").unwrap()
    })
}

/// A branch build and a release, so both sets of tag templates are rendered.
fn events() -> &'static [Event; 2] {
    static EVENTS: OnceLock<[Event; 2]> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let detect = |flags: EventFlags| {
            event::detect(
                &flags,
                &event::CiEnv::default(),
                None,
                &event::ReleaseRule::default(),
                event::Clock::at("20260101000000"),
            )
            .unwrap()
        };
        [
            detect(EventFlags {
                branch: Some("main".into()),
                sha: Some("0123456789abcdef".into()),
                ..Default::default()
            }),
            detect(EventFlags { event: Some("release".into()), version: Some("1.2.3".into()), ..Default::default() }),
        ]
    })
}

/// What a check made of one input, for a corpus that counts how much of it got far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not UTF-8: no parser was reached.
    NotText,
    /// Refused, with an error that passed the checks.
    Refused,
    /// Accepted, and planned with its invariants checked.
    Planned,
}

/// image.toml text, and the same text as a workspace Cargo.toml.
pub fn image_toml(data: &[u8]) {
    image_toml_outcome(data);
}

/// `image_toml`, saying how far the input got.
pub fn image_toml_outcome(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(data) else { return Outcome::NotText };
    settings_toml(text);
    let file = Utf8Path::new(FILE);
    let image = match definitions::validate_image(file, text, Utf8Path::new("images/orb"), settings()) {
        Ok(image) => image,
        Err(err) => {
            let shown = err.to_string();
            assert!(err.at.is_some(), "an image.toml error without a location: {shown}");
            assert!(err.hint.is_some(), "an image.toml error without a hint: {shown}");
            assert!(shown.starts_with(&format!("{FILE}:")), "{shown}");
            let at = err.at.unwrap();
            assert!(at.line >= 1 && at.line <= text.lines().count() + 1 && at.col >= 1, "{shown} is beyond the text");
            return Outcome::Refused;
        }
    };
    assert_eq!(image.variants.iter().filter(|v| v.default).count(), 1, "not one default variant");
    for path in std::iter::once(&image.context).chain(image.variants.iter().map(|v| &v.dockerfile)) {
        assert!(!path.is_absolute() && !path.as_str().split('/').any(|p| p == ".."), "{path} leaves the workspace");
    }
    let dockerfiles: BTreeMap<Utf8PathBuf, String> =
        image.variants.iter().map(|v| (v.dockerfile.clone(), "FROM scratch\n".to_string())).collect();
    let defs = Definitions { settings: settings().clone(), images: vec![image], dockerfiles };
    let mut outcome = Outcome::Refused;
    for event in events() {
        let Ok(units) = xtask::core::plan::plan(&defs, event, "localhost:5000", &[]) else { continue };
        outcome = Outcome::Planned;
        for unit in &units {
            for tag in &unit.tags {
                xtask::oci::reference::TagRef::parse(&tag.to_string())
                    .unwrap_or_else(|why| panic!("planned tag {tag}: {why}"));
            }
            for platform in &unit.platforms {
                for reference in
                    [xtask::core::buildx::staging_ref(unit, platform), xtask::core::buildx::cache_ref(unit, platform)]
                {
                    xtask::oci::reference::parse(&reference).unwrap_or_else(|why| panic!("{reference:?}: {why}"));
                }
            }
            for (id, secret) in &unit.secrets {
                let flag = xtask::core::buildx::secret_flag(id, secret);
                assert_eq!(flag.matches(',').count(), 1, "{flag:?} splits into more than id and source");
            }
        }
    }
    outcome
}

/// Settings errors carry a location, except a manifest without the table at all.
fn settings_toml(text: &str) {
    if let Err(err) = definitions::validate_settings(Utf8Path::new("Cargo.toml"), text) {
        let shown = err.to_string();
        assert!(err.at.is_some() || shown.contains("no [workspace.metadata.images] table"), "no location: {shown}");
        assert!(err.hint.is_some(), "a Cargo.toml error without a hint: {shown}");
    }
}

/// Dockerfile text (and, after a `\0\0`, a .dockerignore) through the parser and every lint rule.
pub fn dockerfile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (dockerfile, ignore) = text.split_once("\0\0").unwrap_or((text, ""));
    let doc = xtask::core::dockerfile::parse(dockerfile);
    let lines = dockerfile.lines().count();
    let mut previous = 0;
    for instruction in &doc.instructions {
        assert!(instruction.line > previous && instruction.line <= lines, "line {} out of order", instruction.line);
        previous = instruction.line;
        assert!(!instruction.keyword.is_empty() && instruction.keyword == instruction.keyword.to_ascii_uppercase());
        instruction.words();
        instruction.assignments();
    }
    if let Some(error) = doc.check() {
        assert!(error.line >= 1 && error.line <= lines.max(1), "error line {} of {lines}", error.line);
        assert!(!error.message.is_empty() && !error.hint.is_empty(), "an error without words: {error:?}");
    }
    xtask::core::dockerfile::dump(&doc);
    let args = BTreeMap::from([("BASE_IMAGE".to_string(), "localhost:5000/base:1".to_string())]);
    for (_, value) in doc.global_arg_values(&args) {
        if let Some(value) = value {
            xtask::core::dockerfile::expand(&value, |name| args.get(name).cloned());
        }
    }
    for from in xtask::core::dockerfile::froms(dockerfile) {
        xtask::core::dockerfile::referenced_args(&from.image);
    }
    let ctx = LintContext {
        args,
        platforms: vec!["linux/amd64".into(), "linux/arm64".into(), "linux/arm/v7".into()],
        context: "images/orb".into(),
        files: BTreeSet::from(["app".into(), "app/main.py".into(), "rootfs".into()]),
        dockerignore: Some(ignore.to_string()),
        rootfs: true,
        ..LintContext::default()
    };
    for finding in lint::lint(Utf8Path::new("images/orb/Dockerfile"), dockerfile, &ctx) {
        assert!(finding.line >= 1 && finding.line <= lines.max(1), "finding at line {}: {finding}", finding.line);
    }
    lint::inherited(dockerfile, &ctx);
}

/// The registry replies a hostile registry controls, by the first byte: 0 a manifest or index
/// (its `Content-Type`, a newline, its body), 1 an image config, 2 a `WWW-Authenticate` value,
/// 3 a `Link` header, 4 a token reply, 5 a tag-list page. None may panic; what each accepts
/// must be what the client relies on, and a refused token reply never quotes the reply.
pub fn registry(data: &[u8]) {
    use xtask::oci::distribution::*;
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 6 {
        0 => {
            let split = rest.iter().position(|&b| b == b'\n').unwrap_or(0);
            let content_type = std::str::from_utf8(&rest[..split]).ok().filter(|t| !t.is_empty());
            let body = rest.get(split + 1..).unwrap_or_default();
            match parse_manifest("app:1", content_type, body) {
                Ok((media_type, manifest)) => {
                    assert!(xtask::oci::manifest::MANIFEST_MEDIA_TYPES.contains(&media_type.as_str()), "{media_type}");
                    assert!(manifest.manifests.len() <= MAX_INDEX_ENTRIES);
                    for entry in &manifest.manifests {
                        entry.platform.as_ref().map(|p| p.name());
                        xtask::oci::manifest::is_attestation(entry);
                    }
                    let whole = xtask::oci::manifest::Manifest {
                        media_type,
                        digest: xtask::oci::digest::sha256_digest(body),
                        body: manifest,
                    };
                    whole.compressed_size();
                }
                Err(err) => assert!(format!("{err:#}").contains("app:1"), "an error that names no manifest: {err:#}"),
            }
        }
        1 => {
            if let Ok(config) = parse_config(rest) {
                config.platform().name();
                config.labels();
            }
        }
        2 => {
            parse_challenges(&text).ok();
            let lower = text.to_ascii_lowercase();
            match parse_challenge(&text) {
                Ok(Challenge::Basic) => assert!(lower.contains("basic"), "Basic from {text:?}"),
                Ok(Challenge::Bearer { realm, .. }) => {
                    assert!(lower.contains("bearer") && lower.contains("realm"), "Bearer {realm:?} from {text:?}")
                }
                Err(err) => assert!(!format!("{err:#}").is_empty()),
            }
        }
        3 => {
            if let Some(target) = next_link(&text) {
                assert!(text.contains(&format!("<{target}>")), "{target:?} from {text:?}");
            }
        }
        4 => match parse_token(rest) {
            Ok(token) => assert!(!token.is_empty(), "an empty token from {text:?}"),
            Err(err) => {
                let shown = format!("{err:#}");
                assert!(
                    shown.starts_with("the reply is no token JSON (")
                        || shown == "the reply has neither a token nor an access_token",
                    "a token error that may quote the reply: {shown}"
                );
            }
        },
        _ => {
            for tag in parse_tag_page(rest).unwrap_or_default() {
                let _ = xtask::oci::reference::check_tag(&tag);
            }
        }
    }
}
