//! `cargo xtask report`: the last run and the trends of each command, summarized by
//! `core::report` from `target/xtask/metrics.jsonl`.

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
    let file = metrics::path(&ws.target());
    let runs = if file.exists() { metrics::read_all(&file)? } else { Vec::new() };
    let Some(summary) = summarize(&runs, last) else {
        println!(
            "No metrics yet: run `cargo xtask build` first (build, test and verify-manifests each add a line to {}).",
            display_path(&ws.root, &file)
        );
        return Ok(());
    };
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&summary).context("serializing the report")?,
        Format::Markdown => markdown(&summary),
        _ => table(&summary),
    };
    println!("{}", text.trim_end());
    Ok(())
}
