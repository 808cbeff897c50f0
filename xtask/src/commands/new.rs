//! `cargo xtask new`: scaffolds `images/NAME/` from what `core::scaffold` generates for the
//! workspace's images; never overwrites.

use anyhow::{bail, Context, Result};

use crate::core::scaffold::*;
use crate::sys::workspace::Workspace;

/// What the workspace's images look like to `generate`.
fn known_images(ws: &Workspace) -> Result<Vec<Known>> {
    let units = ws.plan(&[]).context("planning the workspace's images")?;
    Ok(ws
        .defs
        .images
        .iter()
        .map(|image| Known {
            name: image.name.clone(),
            variants: image.variants.iter().filter_map(|v| v.name.clone()).collect(),
            platforms: image.platforms.clone(),
            root: units.iter().filter(|u| u.image == image.name).all(|u| u.depends_on.is_empty()),
            rootfs: image.rootfs.is_some(),
        })
        .collect())
}

/// `cargo xtask new <name> [--from IMAGE[:VARIANT]] [--variants a,b]`.
pub fn run(ws: &Workspace, flags: &crate::cli::flags::New) -> Result<()> {
    let variants = flags.variants.as_deref().map(parse_variants).transpose()?.unwrap_or_default();
    let known = known_images(ws)?;
    let request = Request {
        name: &flags.name,
        from: flags.from.as_deref(),
        variants,
        known: &known,
        platforms: &ws.defs.settings.platforms,
        schema_hint: ws.root.join(crate::core::schema::SCHEMA_FILE).is_file(),
    };
    let files = generate(&request)?;
    let dir = ws.root.join("images").join(&flags.name);
    if dir.exists() {
        bail!("{dir} already exists: choose another name (`new` never overwrites)");
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    for file in &files {
        let path = ws.root.join(&file.path);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating {path}"))?;
        std::io::Write::write_all(&mut out, file.text.as_bytes()).with_context(|| format!("writing {path}"))?;
        println!("created {}", file.path);
    }
    let name = &flags.name;
    println!("next: cargo xtask lint {name} && cargo xtask build {name} && cargo xtask test {name}");
    Ok(())
}
