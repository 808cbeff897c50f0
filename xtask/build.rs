//! Records the git commit this xtask is built from, for `cargo xtask version`: build time,
//! not run time, because the binary may run against another clone (`--root`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // For builds without a .git (a source tarball, a docker context): set it by hand.
    println!("cargo:rerun-if-env-changed=XTASK_GIT_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let commit = std::env::var("XTASK_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&dir, &["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=XTASK_GIT_COMMIT={commit}");

    // Run again when HEAD moves: HEAD itself (checkout, detached commits), the branch's ref
    // (a commit; its directory when the ref is packed, to see it become loose again) and
    // packed-refs. Only paths that exist: cargo reruns a build script on every build while a
    // watched path is missing, which would recompile xtask on every `cargo xtask`.
    let mut watch = vec![git_path(&dir, "HEAD"), git_path(&dir, "packed-refs")];
    if let Some(branch) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
        let refs = git_path(&dir, "refs");
        let loose = git_path(&dir, &branch);
        // The nearest directory holding the loose ref, but never above refs/ (all of .git).
        let holder = loose.as_deref().and_then(|l| l.ancestors().find(|p| p.exists()).map(Path::to_path_buf));
        watch.push(holder.filter(|h| refs.as_ref().is_some_and(|r| h.starts_with(r))));
    }
    for path in watch.into_iter().flatten().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `git ARGS` in `dir`: its trimmed stdout, or `None` without git, outside a repository or
/// when git refuses (e.g. `safe.directory`).
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).current_dir(dir).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

/// Where git keeps `name` (worktrees keep HEAD apart from the shared refs).
fn git_path(dir: &Path, name: &str) -> Option<PathBuf> {
    git(dir, &["rev-parse", "--git-path", name]).map(|p| dir.join(p))
}
