//! `missing-source`: every COPY and ADD source reaches the builder.

use std::collections::BTreeSet;

use super::arch::is_heredoc_word;
use super::{Add, LintContext, Rule, Scope};
use crate::core::dockerfile::Instruction;
use crate::core::dockerignore::{ancestors_and_self, DockerIgnore, Glob};

/// `missing-source`: every COPY/ADD source must reach the builder. Sources from
/// other stages and URLs are not files; variables other than the platform ARGs
/// are left alone.
pub(super) fn sources(
    instruction: &Instruction,
    scope: &Scope<'_>,
    ignore: &DockerIgnore,
    ctx: &LintContext,
    add: &mut Add<'_>,
) {
    if instruction.flag("from").is_some() {
        return;
    }
    // As written: BuildKit expands each source, removing quotes and escapes only then.
    let words: Vec<&String> = instruction.values.iter().filter(|w| !is_heredoc_word(w)).collect();
    let Some((_, sources)) = words.split_last() else { return };
    let generated: Vec<String> =
        ctx.platforms.iter().map(|p| format!("rootfs/{}", crate::oci::platform::tarball_name(p))).collect();
    'source: for source in sources {
        if source.contains("://") || source.starts_with("git@") {
            continue;
        }
        let mut paths: Vec<(Option<&str>, String)> = Vec::new();
        let platforms: Vec<Option<&str>> = match source.contains('$') {
            true => ctx.platforms.iter().map(|p| Some(p.as_str())).collect(),
            false => vec![None],
        };
        for platform in platforms {
            let expanded = scope.expand(source, platform);
            // A word that does not expand is the syntax rule's.
            if !expanded.unset.is_empty() || expanded.error.is_some() {
                continue 'source;
            }
            // With `# escape=`` (Windows images), `\` separates path parts, as on Windows.
            let text = match scope.escape {
                '`' => expanded.text.replace('\\', "/"),
                _ => expanded.text,
            };
            paths.push((platform, normalize(&text)));
        }
        for (platform, path) in paths {
            let on = platform.map(|p| format!(" for {p}")).unwrap_or_default();
            let excluded = |line: usize, pattern: &str| {
                (
                    format!(
                        "{} source `{source}`{on} is excluded by .dockerignore (line {line}: `{pattern}`)",
                        instruction.keyword
                    ),
                    format!("add `!{path}` to .dockerignore after line {line}, or remove that pattern"),
                )
            };
            let problem = if ctx.rootfs && generated.contains(&path) {
                ignore.excluded(&path).map(|(line, pattern)| excluded(line, pattern))
            } else {
                match availability(&path, &ctx.files, ignore) {
                    Availability::Present => None,
                    Availability::Excluded(line, pattern) => Some(excluded(line, pattern)),
                    Availability::Missing => Some((
                        format!(
                            "{} source `{source}`{on} is not in the build context {}",
                            instruction.keyword, ctx.context
                        ),
                        format!("create {}/{path} or fix the path: sources are relative to the context", ctx.context),
                    )),
                }
            };
            if let Some((message, fix)) = problem {
                add(instruction.line, Rule::MissingSource, message, fix);
                continue 'source;
            }
        }
    }
}

/// A source path relative to the context root: `./a/../b/` is `b`; `..` stops at the root.
fn normalize(source: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

enum Availability<'a> {
    Present,
    Missing,
    /// Excluded by the .dockerignore pattern on this line.
    Excluded(usize, &'a str),
}

/// Whether `path` (possibly a wildcard) reaches the builder: it exists and it,
/// or something below it that an exception lets through, is not ignored.
fn availability<'a>(path: &str, files: &BTreeSet<String>, ignore: &'a DockerIgnore) -> Availability<'a> {
    if path.is_empty() {
        return Availability::Present;
    }
    let candidates: Vec<&String> = if path.contains(['*', '?', '[']) {
        let glob = Glob::new(path, false);
        files.iter().filter(|f| ancestors_and_self(f).any(|a| glob.matches(a))).collect()
    } else {
        let below = format!("{path}/");
        files.iter().filter(|f| *f == path || f.starts_with(&below)).collect()
    };
    let mut first_exclusion = None;
    for candidate in candidates {
        match ignore.excluded(candidate) {
            None => return Availability::Present,
            Some(why) => {
                first_exclusion.get_or_insert(why);
            }
        }
    }
    match first_exclusion {
        Some((line, pattern)) => Availability::Excluded(line, pattern),
        None => Availability::Missing,
    }
}
