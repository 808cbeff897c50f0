//! `cargo xtask doctor`: gathers the facts (docker, buildx, binfmt, the registry and its
//! login) that `core::doctor` judges, and prints each check with its fix.

use anyhow::{bail, Context, Result};

use crate::cli::format::Format;
use crate::core::doctor::*;
use crate::sys::provision::{self};
use crate::sys::registry::{CredentialSource, Registry};
use crate::sys::workspace::Workspace;

/// Asks the machine, the engine and the registry.
fn gather(ws: &Workspace) -> Facts {
    let text = |result: Result<String>| result.map_err(|e| format!("{e:#}"));
    let client = text(crate::sys::engine::docker(&["--version"]));
    let (server, buildx) = match client {
        Ok(_) => {
            (Some(text(crate::sys::engine::docker_server_version())), Some(text(crate::sys::engine::buildx_version())))
        }
        Err(_) => (None, None),
    };
    let builder = match (&server, &buildx) {
        (Some(Ok(_)), Some(Ok(_))) => Some(text(crate::sys::engine::docker(&["buildx", "inspect"]))),
        _ => None,
    };
    let platforms = ws.all_platforms();
    let emulators = provision::emulators(&platforms)
        .map(|found| {
            found
                .into_iter()
                .map(|(platform, name)| Emulator {
                    platform: platform.to_string(),
                    name: name.to_string(),
                    state: provision::binfmt(name),
                    flags: binfmt_flags(name),
                })
                .collect()
        })
        .map_err(|e| e.to_string());
    Facts {
        client,
        server,
        buildx,
        builder,
        platforms,
        host_platform: provision::host_platform().to_string(),
        emulators,
        registry: gather_registry(ws),
        base_registries: crate::ops::bases::pull_checks(ws),
        engines: crate::sys::engine::survey(&ws.defs.settings.engine),
    }
}

/// The `flags:` line of a binfmt_misc entry; empty when it cannot be read.
fn binfmt_flags(emulator: &str) -> String {
    let entry = std::fs::read_to_string(format!("{}/{emulator}", provision::BINFMT_DIR)).unwrap_or_default();
    entry.lines().find_map(|l| l.strip_prefix("flags:")).unwrap_or_default().trim().to_string()
}

fn gather_registry(ws: &Workspace) -> RegistryFacts {
    let host = ws.registry.clone();
    let source = CredentialSource::from_env();
    let client = Registry::with_credentials(&host, source.clone());
    let ping = match &client {
        Ok(registry) => registry.ping().map_err(|e| format!("{e:#}")),
        Err(err) => Err(format!("{err:#}")),
    };
    // Reading a repository answers the registry's challenge with docker's login, as a pull would.
    let access = match (&client, &ping, ws.defs.images.first()) {
        (Ok(registry), Ok(()), Some(image)) => {
            let repository = crate::core::plan::full_repository("", &ws.defs.settings.namespace, &image.repository);
            let read = registry.tags(&repository).map(|_| ()).map_err(|e| format!("{e:#}"));
            Some((repository, read))
        }
        _ => None,
    };
    let login = source
        .lookup(crate::oci::reference::login_key(&host))
        .map(|found| found.map(|c| (c.username, c.origin)))
        .map_err(|e| format!("{e:#}"));
    RegistryFacts {
        loopback: crate::oci::reference::is_loopback(&host),
        can_serve: provision::on_path("docker-registry"),
        ping,
        access,
        login,
        config_file: source.config_file().display().to_string(),
        host,
    }
}

/// `cargo xtask doctor [--format json]`: non-zero when anything blocks building.
/// `broken` is why the image definitions could not be read: doctor still checks the rest.
pub fn run(
    ws: &Workspace,
    broken: Option<anyhow::Error>,
    format: Format,
    _flags: &crate::cli::flags::Doctor,
) -> Result<()> {
    let format = format.require("doctor")?;
    let mut rows = judge(&gather(ws));
    if let Some(err) = broken {
        rows.insert(
            0,
            row(
                "definitions",
                Status::Fail,
                "",
                format!("{err:#}"),
                "fix the file named above; `cargo xtask plan` shows the same error",
            ),
        );
    }
    let blocking: Vec<&str> = rows.iter().filter(|r| r.status == Status::Fail).map(|r| r.check.as_str()).collect();
    if format == Format::Json {
        let report = serde_json::json!({ "ready": blocking.is_empty(), "checks": rows });
        println!("{}", serde_json::to_string_pretty(&report).context("serializing the doctor report")?);
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.check.clone(),
                    r.status.as_str().to_string(),
                    r.version.clone(),
                    r.problem.clone(),
                    r.fix.clone(),
                ]
            })
            .collect();
        println!("{}", crate::core::text::table(&["CHECK", "STATUS", "VERSION", "PROBLEM", "FIX"], &cells));
    }
    if !blocking.is_empty() {
        let (what, fixes) =
            if blocking.len() == 1 { ("check blocks", "its fix") } else { ("checks block", "their fixes") };
        bail!("{} {what} building: {}; apply {fixes} above", blocking.len(), blocking.join(", "));
    }
    Ok(())
}
