//! What a Dockerfile pulls besides its bases: `COPY --from=` and `RUN --mount=from=` images
//! (`unpinned-copy-from`, `in-repo-by-name`), and `ADD <url>` downloads (`add-checksum`).

use super::arch::is_heredoc_word;
use super::{Add, LintContext, Rule};
use crate::core::dockerfile::refs::{image_refs, RefKind, Target};
use crate::core::dockerfile::{referenced_args, Dockerfile, Instruction};
use crate::oci::reference::repository_of;

/// Message and fix of `in-repo-by-name` for `what` (`FROM`, `COPY --from`) naming `reference`,
/// an in-repo image carried by the build arg `arg`.
pub(super) fn by_name(what: &str, reference: &str, arg: &str) -> (String, String) {
    let message = format!(
        "{what} names the in-repo image `{reference}` by name, so the build takes whatever that tag holds, not the parent this run builds"
    );
    let stage = arg.trim_end_matches("_IMAGE").to_ascii_lowercase().replace('_', "-");
    let fix = match what {
        "FROM" => format!(
            "declare `ARG {arg}` before the first FROM and write `FROM ${{{arg}}}`: `build` passes the parent pinned by digest"
        ),
        _ => format!(
            "declare `ARG {arg}` before the first FROM, add `FROM ${{{arg}}} AS {stage}` and use `--from={stage}`: `build` passes the parent pinned by digest"
        ),
    };
    (message, fix)
}

/// `COPY --from=` and `RUN --mount=from=` naming an image: an external one must be pinned by
/// digest; an in-repo one must come in through its build arg.
pub(super) fn copy_from(doc: &Dockerfile, ctx: &LintContext, add: &mut Add<'_>) {
    for reference in image_refs(doc, &ctx.args) {
        let Target::Image(text) = &reference.target else { continue };
        if reference.kind == RefKind::From || !reference.complete {
            continue;
        }
        let what = reference.kind.describe(&reference.keyword);
        if referenced_args(&reference.written).iter().any(|a| ctx.parents.contains_key(a)) {
            continue;
        }
        if let Some(arg) = ctx.in_repo.get(&repository_of(text)) {
            let (message, fix) = by_name(&what, text, arg);
            add(reference.line, Rule::InRepoByName, message, fix);
        } else if !text.contains("@sha256:") {
            let name = text.split('@').next().unwrap_or(text);
            add(
                reference.line,
                Rule::UnpinnedCopyFrom,
                format!("{what} image `{text}` is not pinned by digest, so what it brings changes when the tag moves"),
                format!(
                    "pin it: `{name}@sha256:<digest>` (`docker buildx imagetools inspect {name}` shows the digest)"
                ),
            );
        }
    }
}

/// A git source, which `--checksum` does not verify the same way.
fn is_git(url: &str) -> bool {
    let path = url.split('#').next().unwrap_or(url);
    url.starts_with("git@") || path.ends_with(".git") || url.starts_with("git://")
}

/// `add-checksum`: `ADD <url>` without `--checksum` takes whatever the server sends.
pub(super) fn add_checksum(instruction: &Instruction, add: &mut Add<'_>) {
    if instruction.keyword != "ADD" || instruction.flag("checksum").is_some() {
        return;
    }
    let words = instruction.words();
    let Some((_, sources)) = words.split_last() else { return };
    let url = sources.iter().filter(|w| !is_heredoc_word(w)).find(|w| {
        let lower = w.to_ascii_lowercase();
        (lower.starts_with("https://") || lower.starts_with("http://")) && !is_git(w)
    });
    let Some(url) = url else { return };
    let per_arch = ["TARGETARCH", "TARGETPLATFORM", "TARGETVARIANT"].iter().any(|a| url.contains(a));
    let fix = match per_arch {
        true => "the file differs per architecture: download it in a `RUN` that checks each architecture's sha256 (`case \"$TARGETARCH\"` and `sha256sum -c`)".to_string(),
        false => "add `--checksum=sha256:<hex>` (`ADD --checksum=sha256:... <url> <dest>`), or download it in a `RUN` that checks `sha256sum -c`".to_string(),
    };
    add(
        instruction.line,
        Rule::AddChecksum,
        format!("ADD downloads `{url}` without `--checksum`, so a changed or tampered file goes unnoticed"),
        fix,
    );
}
