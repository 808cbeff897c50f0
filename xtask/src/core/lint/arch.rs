//! `hardcoded-arch`: architecture names in the URLs and paths of RUN, COPY and ADD.

use super::{Add, Rule};
use crate::core::dockerfile::Instruction;

const ARCH_FIX: &str = "declare `ARG TARGETARCH` and use `${TARGETARCH}` (map it where a vendor spells it differently: `case $TARGETARCH in amd64) a=x86_64;; arm64) a=aarch64;; esac`)";

/// Architecture names as vendors spell them in file names and paths.
const ARCH_WORDS: [&str; 8] = ["x86_64", "amd64", "x64", "linux64", "aarch64", "arm64", "armhf", "i386"];

/// An architecture name standing alone in `word` (`tool-amd64.tgz`, `/usr/lib/x86_64-linux-gnu`,
/// `node-v20.11.1-linux-x64.tar.xz`).
pub(super) fn hardcoded_arch(word: &str) -> Option<&'static str> {
    ARCH_WORDS.into_iter().find(|arch| {
        word.match_indices(arch).any(|(at, _)| {
            let before = word[..at].chars().next_back();
            let after = word[at + arch.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
        })
    })
}

/// The whole script a RUN executes: exec form, shell form or heredoc bodies, continuations joined.
pub(super) fn script(instruction: &Instruction) -> String {
    let mut text = instruction.exec_form().map_or_else(|| instruction.args.clone(), |e| e.join(" "));
    for heredoc in &instruction.heredocs {
        text.push('\n');
        text.push_str(&heredoc.body.replace("\\\n", " "));
    }
    text
}

/// `hardcoded-arch` in RUN: URLs and paths. A RUN that derives the architecture
/// itself (`$TARGETARCH`, `uname -m`) may name each one in its branches.
pub(super) fn run_arch(instruction: &Instruction, add: &mut Add<'_>) {
    let text = script(instruction);
    let derives = ["TARGETARCH", "TARGETPLATFORM", "uname -m", "dpkg --print-architecture", "apk --print-arch"];
    if derives.iter().any(|d| text.contains(d)) {
        return;
    }
    let tokens = text.split(|c: char| c.is_whitespace() || "\"'`;|&()<>=".contains(c));
    // `GOARCH=amd64 go build`, `export DPKG_ARCH=arm64`: a variable of an architecture, set to one.
    let assigned = text.split(|c: char| c.is_whitespace() || "\"';|&()".contains(c)).find_map(|word| {
        let (name, value) = word.split_once('=')?;
        let arch = hardcoded_arch(value).filter(|a| value == *a)?;
        (name.to_ascii_uppercase().ends_with("ARCH")).then_some((word, arch))
    });
    let found = tokens.filter(|t| t.contains('/')).find_map(|t| Some((t, hardcoded_arch(t)?))).or(assigned);
    if let Some((word, arch)) = found {
        add(
            instruction.line,
            Rule::HardcodedArch,
            format!("RUN hard-codes `{arch}` in `{word}`"),
            ARCH_FIX.to_string(),
        );
    }
}

/// `hardcoded-arch` in ENV: a path such as `LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu`.
pub(super) fn env_arch(instruction: &Instruction, add: &mut Add<'_>) {
    let found = instruction.assignments().into_iter().find_map(|(name, value)| {
        let value = value?;
        let word = value.split(':').find(|part| part.contains('/') && hardcoded_arch(part).is_some())?.to_string();
        Some((name, hardcoded_arch(&word)?, word))
    });
    if let Some((name, arch, word)) = found {
        add(
            instruction.line,
            Rule::HardcodedArch,
            format!("ENV `{name}` hard-codes `{arch}` in `{word}`"),
            ARCH_FIX.to_string(),
        );
    }
}

/// `hardcoded-arch` in COPY and ADD: every argument is a path or URL.
pub(super) fn copy_arch(instruction: &Instruction, add: &mut Add<'_>) {
    let words = instruction.words();
    if let Some((word, arch)) = words.iter().filter(|w| !is_heredoc_word(w)).find_map(|w| Some((w, hardcoded_arch(w)?)))
    {
        let keyword = &instruction.keyword;
        add(
            instruction.line,
            Rule::HardcodedArch,
            format!("{keyword} hard-codes `{arch}` in `{word}`"),
            ARCH_FIX.to_string(),
        );
    } else if let Some((url, binary)) = release_binary(instruction) {
        add(
            instruction.line,
            Rule::HardcodedArch,
            format!("ADD downloads the release binary `{binary}` from `{url}`: one architecture's build, on every platform"),
            format!("download the release's asset for each architecture: `ARG TARGETARCH` and `ADD <release>/{binary}-${{TARGETARCH}} <dest>` (or a `RUN` with `case \"$TARGETARCH\"` where the names differ)"),
        );
    }
}

/// An `ADD` of a release asset without an extension or any architecture in its URL (tini's
/// `.../releases/download/v0.19.0/tini`): vendors publish such a name for amd64 alone.
fn release_binary(instruction: &Instruction) -> Option<(String, String)> {
    if instruction.keyword != "ADD" {
        return None;
    }
    let words = instruction.words();
    let (_, sources) = words.split_last()?;
    sources.iter().find_map(|url| {
        let lower = url.to_ascii_lowercase();
        let path = lower.split(['?', '#']).next().unwrap_or_default();
        let name = path.rsplit('/').next().unwrap_or_default();
        let arch_var = ["TARGETARCH", "TARGETPLATFORM", "ARCH"].iter().any(|v| url.contains(v));
        let binary = lower.starts_with("http")
            && path.contains("/releases/download/")
            && !name.is_empty()
            && !name.contains('.')
            && !arch_var;
        binary.then(|| {
            (
                url.clone(),
                url.split(['?', '#']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string(),
            )
        })
    })
}

pub(super) fn is_heredoc_word(word: &str) -> bool {
    word.trim_start_matches(|c: char| c.is_ascii_digit()).starts_with("<<")
}
