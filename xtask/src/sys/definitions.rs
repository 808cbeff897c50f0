//! Reads the definitions from disk: Cargo.toml and every `images/<dir>/image.toml`, with the
//! Dockerfiles they name, defensively (regular files of bounded size, inside the workspace).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use toml::Spanned;

use crate::core::definitions::*;
use crate::core::diag::LineCol;

/// The largest Cargo.toml, image.toml or Dockerfile read. Definitions are a few kilobytes:
/// a bigger file is a mistake (or hostile), refused before parsing rather than parsed slowly.
pub const MAX_DEFINITION_BYTES: u64 = 1024 * 1024;

/// Reads the workspace settings and every `images/*/image.toml` below `root`, and checks
/// the paths they name on disk: symlinks must not lead a context or Dockerfile out of it.
/// The workspace settings alone, for commands that need no image definitions.
pub fn load_settings(root: &Utf8Path) -> Result<Settings> {
    let real_root = std::fs::canonicalize(root).with_context(|| format!("resolving {root}"))?;
    let disk = Disk { root, real_root: &real_root };
    let manifest = Utf8Path::new("Cargo.toml");
    Ok(validate_settings(manifest, &disk.read(manifest)?)?)
}

pub fn load(root: &Utf8Path) -> Result<Definitions> {
    let real_root = std::fs::canonicalize(root).with_context(|| format!("resolving {root}"))?;
    let disk = Disk { root, real_root: &real_root };
    let manifest = Utf8Path::new("Cargo.toml");
    let settings = validate_settings(manifest, &disk.read(manifest)?)?;

    let images_dir = root.join("images");
    let listing = match std::fs::read_dir(&images_dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(no_images("there is no images/ directory"))?,
        listing => listing.with_context(|| format!("reading {images_dir}"))?,
    };
    let mut dirs = Vec::new();
    for entry in listing {
        let entry = entry.with_context(|| format!("reading {images_dir}"))?;
        let Ok(name) = entry.file_name().into_string() else {
            Err(DefinitionError {
                file: "images/".into(),
                at: None,
                message: format!("the entry {:?} has a name that is not UTF-8", entry.file_name()),
                hint: Some("rename it: an image's directory name is its name, in ASCII".to_string()),
            })?
        };
        if entry.path().join("image.toml").is_file() {
            dirs.push(name);
        }
    }
    dirs.sort();
    if dirs.is_empty() {
        Err(no_images("no directory under images/ holds an image.toml"))?;
    }
    let mut images = Vec::new();
    let mut dockerfiles = BTreeMap::new();
    for name in dirs {
        let dir = Utf8PathBuf::from("images").join(&name);
        let file = dir.join("image.toml");
        let text = disk.read(&file)?;
        let mut image = validate_image(&file, &text, &dir, &settings)?;
        // buildx does not expand `~`; a missing HOME leaves it for `build` to report.
        if let Some(home) = std::env::var("HOME").ok().filter(|h| !h.is_empty()) {
            for secret in image.secrets.values_mut() {
                if let BuildSecret::File(path) = secret {
                    if let Some(rest) = path.strip_prefix("~/") {
                        *path = format!("{}/{rest}", home.trim_end_matches('/'));
                    }
                }
            }
        }
        // Validation passed, so this parse does too; it only recovers where the paths were written.
        let spans: Option<PathSpans> = toml::from_str(&text).ok();
        let at = |span: Option<&Spanned<String>>| span.map(|s| LineCol::of(&text, s.span().start));
        let error = |span: Option<&Spanned<String>>, message: String, hint: &str| DefinitionError {
            file: file.clone(),
            at: at(span),
            message,
            hint: Some(hint.to_string()),
        };

        let context_span = spans.as_ref().and_then(|s| s.context.as_ref());
        match disk.locate(&image.context)? {
            Located::Missing => Err(error(
                context_span,
                format!("the build context {} does not exist", image.context),
                "create the directory, or point `context` at one",
            ))?,
            Located::Outside(real) => Err(error(
                context_span,
                format!("the build context {} resolves to {}, outside the workspace", image.context, real.display()),
                OUTSIDE_HINT,
            ))?,
            Located::Inside(real) if !real.is_dir() => Err(error(
                context_span,
                format!("the build context {} is not a directory", image.context),
                "point `context` at a directory",
            ))?,
            Located::Inside(_) => {}
        }
        for (index, variant) in image.variants.iter().enumerate() {
            if dockerfiles.contains_key(&variant.dockerfile) {
                continue;
            }
            let span = spans
                .as_ref()
                .and_then(|s| s.variants.get(index).and_then(|v| v.dockerfile.as_ref()).or(s.dockerfile.as_ref()));
            match disk.locate(&variant.dockerfile)? {
                Located::Missing => Err(error(
                    span,
                    format!("the Dockerfile {} does not exist", variant.dockerfile),
                    "create it, or set `dockerfile` to the right file",
                ))?,
                Located::Outside(real) => Err(error(
                    span,
                    format!(
                        "the Dockerfile {} resolves to {}, outside the workspace",
                        variant.dockerfile,
                        real.display()
                    ),
                    OUTSIDE_HINT,
                ))?,
                Located::Inside(_) => {}
            }
            dockerfiles.insert(variant.dockerfile.clone(), disk.read(&variant.dockerfile)?);
        }
        images.push(image);
    }
    Ok(Definitions { settings, images, dockerfiles })
}

const OUTSIDE_HINT: &str =
    "a symlink leads out of the workspace, which would hand files from elsewhere on this machine to the build: \
     replace the symlink with a copy of what it points to";

fn no_images(message: &str) -> DefinitionError {
    DefinitionError {
        file: "images/".into(),
        at: None,
        message: message.to_string(),
        hint: Some(
            "add images/<name>/image.toml and images/<name>/Dockerfile (see README.md, \"Adding an image\")".into(),
        ),
    }
}

/// Where image.toml wrote its paths, for the errors found on disk after validation.
#[derive(Deserialize)]
struct PathSpans {
    context: Option<Spanned<String>>,
    dockerfile: Option<Spanned<String>>,
    #[serde(default)]
    variants: Vec<VariantPathSpans>,
}

#[derive(Deserialize)]
struct VariantPathSpans {
    dockerfile: Option<Spanned<String>>,
}

/// The workspace on disk, with its real location to tell where symlinks lead.
struct Disk<'a> {
    root: &'a Utf8Path,
    real_root: &'a std::path::Path,
}

enum Located {
    Missing,
    /// Inside the workspace, at this real path.
    Inside(std::path::PathBuf),
    /// Its real path, outside the workspace.
    Outside(std::path::PathBuf),
}

impl Disk<'_> {
    /// Where a workspace-relative path really is, symlinks resolved.
    fn locate(&self, path: &Utf8Path) -> Result<Located> {
        match std::fs::canonicalize(self.root.join(path)) {
            Ok(real) if real.starts_with(self.real_root) => Ok(Located::Inside(real)),
            Ok(real) => Ok(Located::Outside(real)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Located::Missing),
            Err(err) => Err(err).with_context(|| format!("resolving {path}")),
        }
    }

    /// A definition file's text: a regular file inside the workspace, at most
    /// `MAX_DEFINITION_BYTES`, UTF-8. Reads no more than the limit, whatever the file claims.
    fn read(&self, file: &Utf8Path) -> Result<String> {
        use std::io::Read;
        let error = |at: Option<LineCol>, message: String, hint: &str| DefinitionError {
            file: file.to_owned(),
            at,
            message,
            hint: Some(hint.to_string()),
        };
        match self.locate(file)? {
            Located::Missing => Err(error(None, "does not exist".to_string(), "create it"))?,
            Located::Outside(real) => {
                Err(error(None, format!("resolves to {}, outside the workspace", real.display()), OUTSIDE_HINT))?
            }
            Located::Inside(real) if !real.is_file() => {
                Err(error(None, "is not a regular file".to_string(), "replace it with a text file"))?
            }
            Located::Inside(_) => {}
        }
        let path = self.root.join(file);
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_DEFINITION_BYTES + 1).read_to_end(&mut bytes))
            .with_context(|| format!("reading {file}"))?;
        if bytes.len() as u64 > MAX_DEFINITION_BYTES {
            let size = std::fs::metadata(&path).map_or(bytes.len() as u64, |m| m.len());
            Err(error(
                None,
                format!("is {size} bytes, over the {MAX_DEFINITION_BYTES}-byte (1 MiB) limit for definition files"),
                "definitions hold settings and build steps, not data: move large content into the build context",
            ))?;
        }
        String::from_utf8(bytes).map_err(|err| {
            let valid = err.utf8_error().valid_up_to();
            let bytes = err.as_bytes();
            let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
            let message = format!("is not UTF-8 text (byte 0x{:02x})", bytes[valid]);
            error(Some(LineCol::of(before, valid)), message, "save it as UTF-8").into()
        })
    }
}
