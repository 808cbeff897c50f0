//! `cargo xtask plan`: the units of this event in dependency order, with their tags.

use anyhow::{Context, Result};

use crate::cli::format::Format;
use crate::sys::workspace::Workspace;

/// `cargo xtask plan`: prints the units, as a table, as JSON or as a CI matrix.
pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Plan) -> Result<()> {
    let format = format.require("plan")?;
    let mut units = ws.plan(&flags.units)?;
    if let Some(since) = &flags.changed_since {
        units = changed_since(ws, units, since);
    }
    if format == Format::GithubMatrix {
        // One line: a step writes it to $GITHUB_OUTPUT as `matrix=<json>`.
        println!("{}", serde_json::to_string(&crate::core::matrix::github_matrix(&units, &ws.defs.settings)?)?);
        return Ok(());
    }
    if format == Format::Bake {
        // The cache settings of the engine this run would build on.
        let driver = crate::ops::drivers::current_driver()?;
        let labels = crate::ops::labels::unit_labels(ws, &units, crate::ops::labels::git_source(ws).as_deref())?;
        println!("{}", serde_json::to_string_pretty(&crate::core::bake::bake_file(&units, &labels, &driver))?);
        return Ok(());
    }
    let platforms: Vec<String> = units.iter().flat_map(|u| u.platforms.clone()).collect();
    let bases = crate::ops::bases::resolve(ws, &units, &platforms).context("resolving the base images")?;
    if format == Format::Json {
        let mut labels = crate::ops::labels::unit_labels(ws, &units, crate::ops::labels::git_source(ws).as_deref())?;
        let mut annotations = crate::ops::labels::index_annotations(ws, &units, &bases, &labels)?;
        let mut out = Vec::new();
        for unit in &units {
            let mut value = serde_json::to_value(unit)?;
            value["bases"] = serde_json::to_value(bases.of_unit(&unit.id))?;
            // Each platform image adds the base labels of what it is pinned to.
            value["labels"] = serde_json::to_value(labels.remove(&unit.id).unwrap_or_default())?;
            value["annotations"] = serde_json::to_value(annotations.remove(&unit.id).unwrap_or_default())?;
            out.push(value);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = units
        .iter()
        .map(|u| {
            let tags: Vec<&str> = u.tags.iter().map(|t| t.tag()).collect();
            let tags = if tags.is_empty() { "(built, not tagged)".to_string() } else { tags.join(" ") };
            let external: Vec<String> = bases
                .of_unit(&u.id)
                .iter()
                .map(|b| format!("{}@{}", b.reference, crate::oci::digest::short_digest(&b.index_digest)))
                .collect();
            let mut row = vec![u.id.clone(), u.platforms.join(","), u.depends_on.join(",")];
            // The column is there only when some unit builds on an image from outside.
            if !bases.resolved.is_empty() {
                row.push(external.join(" "));
            }
            row.push(tags);
            row
        })
        .collect();
    let headers: &[&str] = if bases.resolved.is_empty() {
        &["UNIT", "PLATFORMS", "DEPENDS ON", "TAGS"]
    } else {
        &["UNIT", "PLATFORMS", "DEPENDS ON", "BASES", "TAGS"]
    };
    // Which event, and where each of its facts came from: the first thing to check when a tag surprises.
    println!("{}", ws.event()?.explain());
    println!("{}", crate::core::text::table(headers, &rows));
    Ok(())
}

/// The units changed since `since`, and their children; all of them when git cannot tell (a
/// new branch's all-zero "before", a shallow checkout), said on stderr.
fn changed_since(ws: &Workspace, units: Vec<crate::core::plan::Unit>, since: &str) -> Vec<crate::core::plan::Unit> {
    let known = !since.is_empty() && !since.bytes().all(|b| b == b'0');
    match known.then(|| crate::sys::git::changed_files(&ws.root, since)).flatten() {
        Some(changed) => {
            let selected: Vec<String> =
                crate::core::plan::changed_units(&units, &changed).iter().map(|u| u.id.clone()).collect();
            eprintln!(
                "{} of {} unit(s) changed since {}, or build on one that did",
                selected.len(),
                units.len(),
                crate::core::text::sanitize(since)
            );
            units.into_iter().filter(|u| selected.contains(&u.id)).collect()
        }
        None => {
            eprintln!(
                "note: git cannot tell what changed since {:?}: planning every unit",
                crate::core::text::sanitize(since)
            );
            units
        }
    }
}
