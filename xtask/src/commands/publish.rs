//! `cargo xtask publish`: joins digest files written by `build --digest-file` on CI legs into
//! manifest lists and moves the tags, with the same checks as `build`.

use anyhow::{bail, Result};

use crate::cli::flags;
use crate::core::plan::Unit;
use crate::oci::digest::short_digest;
use crate::ops::build::run_id;
use crate::ops::digest_file::read_digest_files;
use crate::ops::publish::{self, Publisher};
use crate::sys::registry::Registry;
use crate::sys::workspace::Workspace;

/// `cargo xtask publish`: joins digest files into manifest lists and moves the tags,
/// with the same checks as `build`.
pub fn run(ws: &Workspace, flags: &flags::Publish) -> Result<()> {
    if flags.files.is_empty() {
        bail!("no digest files given: `cargo xtask publish --digests out/*.json`");
    }
    let recorded = read_digest_files(&flags.files)?;
    if recorded.registry != ws.registry {
        bail!(
            "the digest files record images in {}, but this run publishes to {}: pass --registry {}",
            recorded.registry,
            ws.registry,
            recorded.registry
        );
    }
    let wanted: Vec<String> = recorded.units.keys().cloned().collect();
    let units: Vec<Unit> = ws.plan(&wanted)?.into_iter().filter(|u| recorded.units.contains_key(&u.id)).collect();
    let client = Registry::new(&ws.registry)?;
    let before = publish::snapshot(&client, units.iter().flat_map(|u| u.tags.clone()).collect())?;
    let publisher = Publisher {
        client: &client,
        before: &before,
        force_tags: flags.force_tags,
        releases_dir: ws.target().join("releases"),
        run: run_id(),
        sequence: publish::next_sequence(&ws.target().join("releases")),
        created: crate::core::event::utc(ws.build_time()?).1,
        committed: ws.committed()?,
    };
    let mut rows = Vec::new();
    let mut failures = 0;
    for unit in &units {
        let annotations = recorded.annotations.get(&unit.id).cloned().unwrap_or_default();
        match publisher.publish(unit, &recorded.units[&unit.id], &annotations) {
            Ok(index) => {
                rows.push(vec![unit.id.clone(), format!("published {} tag(s)", unit.tags.len()), short_digest(&index)])
            }
            Err(err) => {
                failures += 1;
                rows.push(vec![unit.id.clone(), "NOT PUBLISHED".to_string(), format!("{err:#}")]);
            }
        }
    }
    println!("{}", crate::core::text::table(&["UNIT", "RESULT", "DETAIL"], &rows));
    if failures > 0 {
        bail!("{failures} of {} unit(s) were not published; their tags did not move", units.len());
    }
    Ok(())
}
