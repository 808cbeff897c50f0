//! `package-cache`: package managers must not leave their caches in the layer.

use std::collections::BTreeMap;

use super::arch::script;
use super::{Add, Rule, Scope};
use crate::core::dockerfile::Instruction;

/// Targets of this RUN's `--mount=type=cache,...` flags.
pub(super) fn cache_mounts(instruction: &Instruction) -> Vec<String> {
    instruction
        .flags
        .iter()
        .filter(|f| f.name == "mount")
        .filter_map(|f| {
            let options: BTreeMap<&str, &str> =
                f.value.as_deref()?.split(',').filter_map(|o| o.split_once('=')).collect();
            let target = ["target", "dst", "destination"].iter().find_map(|k| options.get(k))?;
            (options.get("type") == Some(&"cache")).then(|| target.trim_end_matches('/').to_string())
        })
        .collect()
}

/// Simple commands of a script, as words, without leading `VAR=x`, `sudo` or `env`.
pub(super) fn simple_commands(script: &str) -> Vec<Vec<String>> {
    script
        .split(|c: char| "\n;|&()`".contains(c))
        .filter_map(|command| {
            let words: Vec<String> =
                command.split_whitespace().map(|w| w.trim_matches(['"', '\'']).to_string()).collect();
            let wrapper = |w: &str| matches!(w, "sudo" | "env" | "exec" | "command" | "nice" | "nohup" | "time");
            let assignment = |w: &str| {
                w.split_once('=').is_some_and(|(n, _)| {
                    n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            };
            let skip = words
                .iter()
                .take_while(|w| wrapper(w.as_str()) || assignment(w.as_str()) || w.starts_with('-'))
                .count();
            let mut words = words[skip..].to_vec();
            let first = words.first_mut()?;
            *first = first.rsplit('/').next().unwrap_or_default().to_string();
            Some(words)
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Apt,
    Pip,
    Apk,
    Npm,
    Yarn,
    Pnpm,
    Gem,
}

fn tool(command: &[String]) -> Option<Tool> {
    let has = |word: &str| command[1..].iter().any(|w| w == word);
    let name = command[0].as_str();
    let pip = name == "pip"
        || name.strip_prefix("pip").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        || (name.starts_with("python") && command.windows(2).any(|w| w[0] == "-m" && w[1] == "pip"));
    match name {
        "apt-get" | "apt" | "aptitude"
            if ["install", "upgrade", "dist-upgrade", "full-upgrade"].into_iter().any(has) =>
        {
            Some(Tool::Apt)
        }
        "apk" if has("add") => Some(Tool::Apk),
        "npm" if ["install", "i", "ci"].into_iter().any(has) => Some(Tool::Npm),
        // A bare `yarn` installs.
        "yarn" if command.len() == 1 || ["install", "add"].into_iter().any(|v| command[1] == v) => Some(Tool::Yarn),
        "pnpm" if ["install", "i", "add", "fetch"].into_iter().any(has) => Some(Tool::Pnpm),
        "gem" if has("install") => Some(Tool::Gem),
        "bundle" | "bundler" if command.len() == 1 || command[1] == "install" => Some(Tool::Gem),
        _ if pip && has("install") => Some(Tool::Pip),
        _ => None,
    }
}

/// The directory a `--cache DIR` or `--cache=DIR` style flag moves the cache to.
fn cache_dir(command: &[String], flag: &str) -> Option<String> {
    command.iter().enumerate().find_map(|(i, w)| match w.strip_prefix(flag)? {
        "" => command.get(i + 1).cloned(),
        rest => rest.strip_prefix('=').map(str::to_string),
    })
}

/// `package-cache`: package managers must not leave their caches in the layer.
pub(super) fn package_cache(instruction: &Instruction, scope: &Scope<'_>, add: &mut Add<'_>) {
    let text = script(instruction);
    let commands = simple_commands(&text);
    let mounts = cache_mounts(instruction);
    let mounted = |prefixes: &[&str]| mounts.iter().any(|m| prefixes.iter().any(|p| m.starts_with(p)));
    let removes = |prefix: &str| {
        commands.iter().any(|c| c[0] == "rm" && c[1..].iter().any(|w| w.trim_end_matches('*').starts_with(prefix)))
    };
    // A path that names the tool, removed or under a cache mount: `/usr/local/share/.cache/yarn`.
    let mentions = |w: &str, names: &[&str]| names.iter().any(|n| w.to_ascii_lowercase().contains(n));
    let mounted_named = |names: &[&str]| mounts.iter().any(|m| mentions(m, names));
    let removes_named = |names: &[&str]| {
        commands.iter().any(|c| c[0] == "rm" && c[1..].iter().any(|w| !w.starts_with('-') && mentions(w, names)))
    };
    // A directory of the RUN's own choosing: under a cache mount, or removed again.
    let inside = |dir: &str, of: &str| {
        let of = of.trim_end_matches(['/', '*']);
        !of.is_empty() && (dir == of || dir.starts_with(&format!("{of}/")))
    };
    let dir_clean = |dir: &str| {
        let dir = dir.trim_end_matches('/');
        mounts.iter().any(|m| inside(dir, m))
            || commands.iter().any(|c| c[0] == "rm" && c[1..].iter().any(|w| !w.starts_with('-') && inside(dir, w)))
    };
    let command_is =
        |words: &[&str]| commands.iter().any(|c| c.len() >= words.len() && c.iter().zip(words).all(|(a, b)| a == b));
    let mut reported = Vec::new();
    for command in &commands {
        let Some(tool) = tool(command) else { continue };
        let has = |flag: &str| command.iter().any(|w| w.starts_with(flag));
        let clean = match tool {
            Tool::Apt => mounted(&["/var/cache/apt", "/var/lib/apt"]) || removes("/var/lib/apt/lists"),
            Tool::Pip => {
                has("--no-cache-dir")
                    || text.contains("PIP_NO_CACHE_DIR")
                    || scope.vars.contains_key("PIP_NO_CACHE_DIR")
                    || mounts.iter().any(|m| m.ends_with("/.cache/pip") || m.ends_with("/.cache"))
            }
            Tool::Apk => {
                has("--no-cache") || mounted(&["/var/cache/apk", "/etc/apk/cache"]) || removes("/var/cache/apk")
            }
            Tool::Npm => match cache_dir(command, "--cache") {
                Some(dir) => dir_clean(&dir) || command_is(&["npm", "cache", "clean"]),
                None => mounts.iter().any(|m| m.ends_with("/.npm")) || command_is(&["npm", "cache", "clean"]),
            },
            Tool::Yarn => match cache_dir(command, "--cache-folder") {
                Some(dir) => dir_clean(&dir) || command_is(&["yarn", "cache", "clean"]),
                None => mounted_named(&["yarn"]) || removes_named(&["yarn"]) || command_is(&["yarn", "cache", "clean"]),
            },
            Tool::Pnpm => match cache_dir(command, "--store-dir") {
                Some(dir) => dir_clean(&dir) || command_is(&["pnpm", "store", "prune"]),
                None => mounted_named(&["pnpm"]) || removes_named(&["pnpm"]) || command_is(&["pnpm", "store", "prune"]),
            },
            Tool::Gem => {
                // Read whole: `rm -rf "$(gem env gemdir)"/cache` holds a command substitution.
                let removed = text.split(['\n', ';', '&', '|']).map(str::trim).any(|segment| {
                    segment.starts_with("rm ") && mentions(segment, &["gem", "bundle"]) && segment.contains("cache")
                });
                mounted_named(&["gem", "bundle"]) || removed
            }
        };
        if clean || reported.contains(&tool) {
            continue;
        }
        reported.push(tool);
        let verb = command[1..].iter().find(|w| !w.starts_with('-')).map_or("", String::as_str);
        let what = match verb {
            "" => format!("`{}`", command[0]),
            verb => format!("`{} {verb}`", command[0]),
        };
        let (message, fix) = match tool {
            Tool::Apt => (
                format!("{what} leaves the apt package lists in the layer"),
                "end the same RUN with `&& rm -rf /var/lib/apt/lists/*`, or use `RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt`",
            ),
            Tool::Pip => (
                format!("{what} keeps pip's download cache in the layer"),
                "add `--no-cache-dir`, or use `RUN --mount=type=cache,target=/root/.cache/pip`",
            ),
            Tool::Apk => (
                format!("{what} keeps the apk index in the layer"),
                "use `apk add --no-cache`, or `RUN --mount=type=cache,target=/var/cache/apk`",
            ),
            Tool::Npm => (
                format!("{what} keeps npm's cache in the layer"),
                "use `RUN --mount=type=cache,target=/root/.npm`, or end the same RUN with `&& npm cache clean --force`",
            ),
            Tool::Yarn => (
                format!("{what} keeps yarn's cache in the layer"),
                "use `RUN --mount=type=cache,target=/usr/local/share/.cache/yarn` (yarn 1 as root), or end the same RUN with `&& yarn cache clean`",
            ),
            Tool::Pnpm => (
                format!("{what} keeps pnpm's store in the layer"),
                "use `RUN --mount=type=cache,target=/root/.local/share/pnpm/store` (or `--store-dir` on a cache mount), or end the same RUN with `&& pnpm store prune`",
            ),
            Tool::Gem => (
                format!("{what} keeps the downloaded .gem files in the layer"),
                "end the same RUN with `&& rm -rf \"$(gem env gemdir)\"/cache`, or use `RUN --mount=type=cache,target=/usr/local/bundle/cache`",
            ),
        };
        // A cache moved with a flag is fixed where it went.
        let moved = match tool {
            Tool::Npm => cache_dir(command, "--cache"),
            Tool::Yarn => cache_dir(command, "--cache-folder"),
            Tool::Pnpm => cache_dir(command, "--store-dir"),
            _ => None,
        };
        let (message, fix) = match moved {
            Some(dir) => (
                format!("{message}, in {dir}"),
                format!("use `RUN --mount=type=cache,target={dir}`, or end the same RUN with `&& rm -rf {dir}`"),
            ),
            None => (message, fix.to_string()),
        };
        add(instruction.line, Rule::PackageCache, message, fix);
    }
}
