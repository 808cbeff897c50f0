//! git, asked at most once per command that computes tags, and only by such commands.

use camino::Utf8Path;

use crate::core::event::{parse_git_log, GitFacts};

/// Reads HEAD's commit, time, branch and release tag in one `git` call; `None` outside a checkout.
pub fn head_facts(root: &Utf8Path) -> Option<GitFacts> {
    let text = duct::cmd!("git", "-C", root, "log", "-1", "--format=%H%n%ct%n%D").stderr_null().read().ok()?;
    parse_git_log(&text)
}

/// `remote.origin.url`, for the `org.opencontainers.image.source` label.
pub fn origin_url(root: &Utf8Path) -> Option<String> {
    duct::cmd!("git", "-C", root, "config", "--get", "remote.origin.url").stderr_null().read().ok()
}
