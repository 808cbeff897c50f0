//! `cargo xtask analytics [serve]`: receives a registry's pull notifications
//! (`sys::analytics`), or counts what was received (`core::analytics`).

use anyhow::{bail, Context, Result};

use crate::cli::format::Format;
use crate::sys::workspace::Workspace;

/// Where `serve` listens unless told: the address `analytics = true` gives the local registry.
pub const DEFAULT_LISTEN: &str = crate::sys::analytics::DEFAULT_LISTEN;

pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Analytics) -> Result<()> {
    let format = format.require("analytics")?;
    match flags.action.as_deref() {
        Some("serve") => serve(ws, flags.listen.as_deref().unwrap_or(DEFAULT_LISTEN)),
        Some(other) => bail!("`analytics {other}`: the one action is `serve`; without it, analytics reports"),
        None => {
            if flags.listen.is_some() {
                bail!("--listen is where `analytics serve` listens: add `serve`");
            }
            if let Some(since) = &flags.since {
                if crate::core::event::parse_utc(&format!("{since}T00:00:00Z")).is_none() {
                    bail!("--since {since:?}: write a day as YYYY-MM-DD");
                }
            }
            report(ws, format, flags.since.as_deref())
        }
    }
}

fn serve(ws: &Workspace, listen: &str) -> Result<()> {
    let listener = std::net::TcpListener::bind(listen).with_context(|| format!("listening on {listen}"))?;
    let secret = std::env::var(crate::sys::analytics::SECRET_VARIABLE).ok().filter(|s| !s.is_empty());
    let registry = crate::sys::registry::Registry::new(&ws.registry)?;
    if !listener.local_addr().is_ok_and(|a| a.ip().is_loopback()) && secret.is_none() {
        eprintln!(
            "warning: listening beyond loopback without {}: anyone who reaches {listen} can post pulls",
            crate::sys::analytics::SECRET_VARIABLE
        );
    }
    eprintln!(
        "Receiving {}'s notifications on http://{listen}/events{}, into {}",
        ws.registry,
        if secret.is_some() { " (with the shared secret)" } else { "" },
        crate::sys::analytics::pulls_path(&ws.target())
    );
    crate::sys::analytics::Receiver::new(ws.target(), registry, secret).serve(listener)
}

fn report(ws: &Workspace, format: Format, since: Option<&str>) -> Result<()> {
    let target = ws.target();
    let (records, skipped) = crate::sys::analytics::read_pulls(&target)?;
    if skipped > 0 {
        eprintln!("warning: {skipped} line(s) of {} are not pull records", crate::sys::analytics::pulls_path(&target));
    }
    let report = crate::core::analytics::report(&records, since, crate::sys::analytics::read_refused(&target));
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report).context("serializing the pulls")?),
        Format::Markdown => print!("{}", crate::core::analytics::text(&report, true)),
        Format::Html => {
            let generated = crate::core::event::utc(crate::sys::now_seconds()).1;
            print!("{}", crate::core::dashboard::html::pulls_page(&report, &generated));
        }
        _ => print!("{}", crate::core::analytics::text(&report, false)),
    }
    Ok(())
}
