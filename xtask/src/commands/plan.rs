//! `cargo xtask plan`: the units of this event in dependency order, with their tags.

use anyhow::Result;

use crate::cli::format::Format;
use crate::sys::workspace::Workspace;

/// `cargo xtask plan`: prints the units, as a table, as JSON or as a CI matrix.
pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Plan) -> Result<()> {
    let format = format.require("plan")?;
    let units = ws.plan(&flags.units)?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&units)?);
        return Ok(());
    }
    if format == Format::GithubMatrix {
        // One line: a step writes it to $GITHUB_OUTPUT as `matrix=<json>`.
        println!("{}", serde_json::to_string(&crate::core::matrix::github_matrix(&units, &ws.defs.settings)?)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = units
        .iter()
        .map(|u| {
            let tags: Vec<&str> = u.tags.iter().map(|t| t.tag()).collect();
            let tags = if tags.is_empty() { "(built, not tagged)".to_string() } else { tags.join(" ") };
            vec![u.id.clone(), u.platforms.join(","), u.depends_on.join(","), tags]
        })
        .collect();
    // Which event, and where each of its facts came from: the first thing to check when a tag surprises.
    println!("{}", ws.event()?.explain());
    println!("{}", crate::core::text::table(&["UNIT", "PLATFORMS", "DEPENDS ON", "TAGS"], &rows));
    Ok(())
}
