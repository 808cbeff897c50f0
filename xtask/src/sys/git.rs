//! git, asked at most once per command that computes tags, and only by such commands.

use camino::Utf8Path;

use crate::core::event::{parse_git_log, GitFacts};

/// Reads HEAD's commit, time, branch and release tag in one `git` call; `None` outside a checkout.
pub fn head_facts(root: &Utf8Path) -> Option<GitFacts> {
    let text = duct::cmd!("git", "-C", root, "log", "-1", "--format=%H%n%ct%n%D").stderr_null().read().ok()?;
    parse_git_log(&text)
}

/// The paths that differ between `since` and HEAD (both sides of a rename), relative to the
/// repository root; `None` when git cannot tell (an unknown or unfetched commit, no checkout).
pub fn changed_files(root: &Utf8Path, since: &str) -> Option<Vec<String>> {
    // A revision that looks like an option would be read as one.
    if since.starts_with('-') || since.is_empty() {
        return None;
    }
    let prefix = duct::cmd!("git", "-C", root, "rev-parse", "--show-prefix").stderr_null().read().ok()?;
    let output = duct::cmd!("git", "-C", root, "diff", "--name-only", "--no-renames", "-z", since, "HEAD", "--")
        .stderr_null()
        .stdout_capture()
        .unchecked()
        .run()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    // git names paths from the top of the repository; the workspace may sit below it.
    let text = String::from_utf8_lossy(&output.stdout);
    Some(
        text.split('\0')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.strip_prefix(prefix.trim()).map(str::to_string))
            .collect(),
    )
}

/// `remote.origin.url`, for the `org.opencontainers.image.source` label.
pub fn origin_url(root: &Utf8Path) -> Option<String> {
    duct::cmd!("git", "-C", root, "config", "--get", "remote.origin.url").stderr_null().read().ok()
}
