//! `cargo xtask report`: the last run and the trends of each command, summarized by
//! `core::report` from `target/xtask/metrics.jsonl`, and the charts and DORA figures of
//! `core::dashboard` from those and the release records, as markdown or one HTML page.

use anyhow::{bail, Context, Result};

use crate::cli::format::Format;
use crate::core::report::*;
use crate::sys::metrics;
use crate::sys::workspace::{display_path, Workspace};

pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Report) -> Result<()> {
    let format = format.require("report")?;
    let last = match flags.last {
        Some(0) => bail!("--last 0 covers no run: pass 1 or more"),
        Some(n) => n,
        None => DEFAULT_LAST,
    };
    if flags.output.is_some() && format != Format::Html {
        bail!("--output writes the HTML page: add --format html (the other formats print to stdout)");
    }
    let file = metrics::path(&ws.target());
    let runs = if file.exists() { metrics::read_all(&file)? } else { Vec::new() };
    // The release records feed the DORA figures, which the table leaves out.
    let releases = || -> Result<Vec<crate::core::release::ReleaseRecord>> {
        let (releases, unreadable) = crate::ops::publish::read_records(&ws.target().join("releases"))?;
        for why in unreadable {
            eprintln!("warning: {why}");
        }
        Ok(releases)
    };
    if format == Format::Html {
        // The budgets the size charts draw; a broken image.toml leaves them out, not the page.
        let budgets = match ws.plan(&[]) {
            Ok(units) => units.iter().filter_map(|u| Some((u.id.clone(), u.size.max?))).collect(),
            Err(err) => {
                eprintln!("warning: the size budgets are left out: {err:#}");
                Default::default()
            }
        };
        let dashboard = crate::core::dashboard::dashboard(&runs, last, &budgets, &releases()?);
        let path = match &flags.output {
            Some(path) => camino::Utf8PathBuf::from_path_buf(path.clone())
                .map_err(|p| anyhow::anyhow!("--output {} is not UTF-8", p.display()))?,
            None => ws.target().join("report.html"),
        };
        let generated = crate::core::event::utc(crate::sys::now_seconds()).1;
        let page = crate::core::dashboard::html::page(&dashboard, crate::sys::provision::host_platform(), &generated);
        if let Some(dir) = path.parent().filter(|d| !d.as_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
        }
        std::fs::write(&path, page).with_context(|| format!("writing {path}"))?;
        println!("wrote {}", display_path(&ws.root, &path));
        return Ok(());
    }
    let Some(summary) = summarize(&runs, last) else {
        println!(
            "No metrics yet: run `cargo xtask build` first (build, test and verify-manifests each add a line to {}).",
            display_path(&ws.root, &file)
        );
        return Ok(());
    };
    let text = match format {
        Format::Json => {
            let mut doc = serde_json::to_value(&summary).context("serializing the report")?;
            let dora = crate::core::dashboard::dora(&runs, &releases()?);
            doc["dora"] = serde_json::to_value(&dora).context("serializing the DORA figures")?;
            serde_json::to_string_pretty(&doc).context("serializing the report")?
        }
        Format::Markdown => {
            // The markdown draws no budget.
            let dashboard = crate::core::dashboard::dashboard(&runs, last, &Default::default(), &releases()?);
            format!("{}\n\n{}", markdown(&summary).trim_end(), crate::core::dashboard::markdown(&dashboard))
        }
        _ => table(&summary),
    };
    println!("{}", text.trim_end());
    Ok(())
}
