//! What triggered this build: a release, a branch push, a pull request or a
//! manual run. Everything here is pure: `sys::git` and `sys::workspace` gather the facts.

use anyhow::{bail, Result};

use crate::core::tags::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Release,
    Branch,
    PullRequest,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub kind: EventKind,
    /// From --version or the release tag; image.toml `version` takes precedence per image.
    pub version: Option<String>,
    pub branch: Option<String>,
    pub sha: Option<String>,
    pub pr: Option<u64>,
    pub extra_tags: Vec<String>,
    /// UTC `YYYYMMDDHHMMSS`, for `{timestamp}`.
    pub timestamp: String,
}

impl Event {
    /// Pull requests build but do not publish unless asked to.
    pub fn publishes_by_default(&self) -> bool {
        self.kind != EventKind::PullRequest
    }
}

/// The event flags, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct EventFlags {
    pub event: Option<String>,
    pub version: Option<String>,
    pub branch: Option<String>,
    pub sha: Option<String>,
    pub pr: Option<u64>,
    pub tags: Vec<String>,
}

/// What git says about HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitFacts {
    pub sha: String,
    /// Committer time, seconds since the epoch.
    pub commit_time: u64,
    /// `None` on a detached HEAD.
    pub branch: Option<String>,
    /// The highest `vX.Y.Z` tag pointing at HEAD.
    pub release_tag: Option<String>,
}

/// Works out the event: flags beat GitHub Actions variables, which beat git.
pub fn detect(
    flags: &EventFlags,
    env: impl Fn(&str) -> Option<String>,
    git: Option<&GitFacts>,
    timestamp: String,
) -> Result<Event> {
    let mut event = from_github(&env).or_else(|| git.map(from_git)).unwrap_or(Event {
        kind: EventKind::Branch,
        version: None,
        branch: Some("local".to_string()),
        sha: None,
        pr: None,
        extra_tags: vec![],
        timestamp: String::new(),
    });
    event.timestamp = timestamp;
    if let Some(kind) = &flags.event {
        event.kind = match kind.as_str() {
            "release" => EventKind::Release,
            "branch" => EventKind::Branch,
            "pull-request" => EventKind::PullRequest,
            "manual" => EventKind::Manual,
            other => bail!("--event {other:?} is not an event: use release, branch, pull-request or manual"),
        };
    }
    if let Some(version) = &flags.version {
        Version::parse(version)
            .map_err(|why| anyhow::anyhow!("--version {version:?} is not a semantic version ({why}): use X.Y.Z"))?;
        event.version = Some(version.strip_prefix('v').unwrap_or(version).to_string());
    }
    if flags.branch.is_some() {
        event.branch = flags.branch.clone();
    }
    if let Some(sha) = &flags.sha {
        // It becomes part of tags and of the revision label: only what git prints is accepted.
        if sha.is_empty() || sha.len() > 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("--sha {sha:?} is not a commit SHA: pass the hex digits `git rev-parse HEAD` prints");
        }
        event.sha = Some(sha.clone());
    }
    if flags.pr.is_some() {
        event.pr = flags.pr;
    }
    for tag in &flags.tags {
        crate::oci::reference::check_tag(tag).map_err(|why| {
            anyhow::anyhow!("--tag {tag:?} is not a valid tag: {why}; use letters, digits, `_`, `.` and `-`")
        })?;
    }
    event.extra_tags = flags.tags.clone();
    if event.kind == EventKind::PullRequest && event.pr.is_none() {
        bail!("a pull-request build needs its number: pass --pr N");
    }
    Ok(event)
}

fn from_github(env: &impl Fn(&str) -> Option<String>) -> Option<Event> {
    let name = env("GITHUB_EVENT_NAME")?;
    let git_ref = env("GITHUB_REF").unwrap_or_default();
    let mut event = Event {
        kind: EventKind::Branch,
        version: None,
        branch: env("GITHUB_REF_NAME"),
        sha: env("GITHUB_SHA"),
        pr: None,
        extra_tags: vec![],
        timestamp: String::new(),
    };
    if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        if let Some(version) = release_version(tag) {
            event.kind = EventKind::Release;
            event.version = Some(version);
            event.branch = None;
        }
    } else if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        event.branch = Some(branch.to_string());
    }
    match name.as_str() {
        "pull_request" | "pull_request_target" => {
            event.kind = EventKind::PullRequest;
            event.pr =
                git_ref.strip_prefix("refs/pull/").and_then(|r| r.split('/').next()).and_then(|n| n.parse().ok());
            event.branch = env("GITHUB_HEAD_REF").or(event.branch);
        }
        "workflow_dispatch" if event.kind != EventKind::Release => event.kind = EventKind::Manual,
        _ => {}
    }
    Some(event)
}

fn from_git(git: &GitFacts) -> Event {
    let version = git.release_tag.as_deref().and_then(release_version);
    Event {
        kind: if version.is_some() { EventKind::Release } else { EventKind::Branch },
        version,
        branch: Some(git.branch.clone().unwrap_or_else(|| "detached".to_string())),
        sha: Some(git.sha.clone()),
        pr: None,
        extra_tags: vec![],
        timestamp: String::new(),
    }
}

/// `v1.2.3` (or `1.2.3`) as a version string, if it is one.
fn release_version(tag: &str) -> Option<String> {
    let bare = tag.strip_prefix('v')?;
    Version::parse(bare).ok().map(|_| bare.to_string())
}

/// Parses `%H%n%ct%n%D`: the decorations say `HEAD -> branch` and `tag: name`.
pub fn parse_git_log(text: &str) -> Option<GitFacts> {
    let mut lines = text.lines();
    let sha = lines.next()?.trim().to_string();
    let commit_time = lines.next()?.trim().parse().ok()?;
    let decorations: Vec<&str> = lines.next().unwrap_or_default().split(", ").map(str::trim).collect();
    let branch = decorations.iter().find_map(|d| d.strip_prefix("HEAD -> ")).map(str::to_string);
    let release_tag = decorations
        .iter()
        .filter_map(|d| d.strip_prefix("tag: "))
        .filter_map(|t| Some((Version::parse(t.strip_prefix('v')?).ok()?, t)))
        .max_by_key(|(v, _)| (v.major, v.minor, v.patch, v.pre.is_none()))
        .map(|(_, t)| t.to_string());
    Some(GitFacts { sha, commit_time, branch, release_tag })
}

/// Seconds since the epoch stamped into `created` and `{timestamp}`:
/// SOURCE_DATE_EPOCH, else HEAD's commit time (so rebuilding a commit gives
/// the same labels and digests), else now.
pub fn build_time(source_date_epoch: Option<&str>, git: Option<&GitFacts>, now: u64) -> u64 {
    let from_env = source_date_epoch.and_then(|s| s.parse().ok());
    from_env.or(git.map(|g| g.commit_time)).unwrap_or(now)
}

/// UTC calendar time for `secs`: (`YYYYMMDDHHMMSS`, RFC 3339).
pub fn utc(secs: u64) -> (String, String) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    (format!("{y:04}{mo:02}{d:02}{h:02}{m:02}{s:02}"), format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    fn git(branch: Option<&str>, tag: Option<&str>) -> GitFacts {
        GitFacts {
            sha: "abcdef0123".to_string(),
            commit_time: 0,
            branch: branch.map(str::to_string),
            release_tag: tag.map(str::to_string),
        }
    }

    fn detect_ok(flags: &EventFlags, e: impl Fn(&str) -> Option<String>, g: Option<&GitFacts>) -> Event {
        detect(flags, e, g, "20260101000000".to_string()).unwrap()
    }

    #[test]
    fn outside_git_without_flags_is_a_local_branch_build() {
        let e = detect_ok(&EventFlags::default(), env(&[]), None);
        assert_eq!((e.kind, e.branch.as_deref(), e.sha.as_deref()), (EventKind::Branch, Some("local"), None));
    }

    #[test]
    fn git_tag_on_head_means_release() {
        let e = detect_ok(&EventFlags::default(), env(&[]), Some(&git(Some("main"), Some("v1.2.3"))));
        assert_eq!((e.kind, e.version.as_deref()), (EventKind::Release, Some("1.2.3")));
        let e = detect_ok(&EventFlags::default(), env(&[]), Some(&git(Some("feature/x"), None)));
        assert_eq!(
            (e.kind, e.branch.as_deref(), e.sha.as_deref()),
            (EventKind::Branch, Some("feature/x"), Some("abcdef0123"))
        );
        let e = detect_ok(&EventFlags::default(), env(&[]), Some(&git(None, None)));
        assert_eq!(e.branch.as_deref(), Some("detached"));
    }

    #[test]
    fn github_variables_beat_git() {
        let g = git(Some("main"), None);
        let e = detect_ok(
            &EventFlags::default(),
            env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/tags/v2.0.0-rc.1"), ("GITHUB_SHA", "f00")]),
            Some(&g),
        );
        assert_eq!(
            (e.kind, e.version.as_deref(), e.sha.as_deref()),
            (EventKind::Release, Some("2.0.0-rc.1"), Some("f00"))
        );
        let e = detect_ok(
            &EventFlags::default(),
            env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/heads/dev"), ("GITHUB_SHA", "f00")]),
            Some(&g),
        );
        assert_eq!((e.kind, e.branch.as_deref()), (EventKind::Branch, Some("dev")));
        let e = detect_ok(
            &EventFlags::default(),
            env(&[
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_REF", "refs/pull/17/merge"),
                ("GITHUB_HEAD_REF", "fix/y"),
                ("GITHUB_SHA", "f00"),
            ]),
            Some(&g),
        );
        assert_eq!((e.kind, e.pr, e.branch.as_deref()), (EventKind::PullRequest, Some(17), Some("fix/y")));
        assert!(!e.publishes_by_default());
        let e = detect_ok(
            &EventFlags::default(),
            env(&[
                ("GITHUB_EVENT_NAME", "workflow_dispatch"),
                ("GITHUB_REF", "refs/heads/main"),
                ("GITHUB_SHA", "f00"),
            ]),
            None,
        );
        assert_eq!(e.kind, EventKind::Manual);
    }

    #[test]
    fn flags_override_detection() {
        let flags = EventFlags {
            event: Some("release".to_string()),
            version: Some("v3.0.1".to_string()),
            branch: Some("b".to_string()),
            sha: Some("123".to_string()),
            pr: None,
            tags: vec!["nightly".to_string()],
        };
        let e = detect_ok(&flags, env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/heads/dev")]), None);
        assert_eq!(
            (e.kind, e.version.as_deref(), e.branch.as_deref(), e.sha.as_deref()),
            (EventKind::Release, Some("3.0.1"), Some("b"), Some("123"))
        );
        assert_eq!(e.extra_tags, ["nightly"]);
    }

    #[test]
    fn bad_flags_say_how_to_fix_them() {
        let check = |flags: EventFlags, needle: &str| {
            let err = detect(&flags, env(&[]), None, String::new()).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        };
        check(
            EventFlags { event: Some("tag".into()), ..Default::default() },
            "use release, branch, pull-request or manual",
        );
        check(EventFlags { version: Some("1.2".into()), ..Default::default() }, "use X.Y.Z");
        check(EventFlags { event: Some("pull-request".into()), ..Default::default() }, "pass --pr N");
        check(EventFlags { tags: vec!["a/b".into()], ..Default::default() }, "--tag \"a/b\"");
        check(EventFlags { sha: Some("HEAD~1".into()), ..Default::default() }, "is not a commit SHA");
    }

    #[test]
    fn git_log_decorations() {
        let facts = parse_git_log(
            "abc123\n1700000000\nHEAD -> feature/x, tag: v1.2.3, tag: v1.10.0, tag: nightly, origin/main\n",
        )
        .unwrap();
        assert_eq!(facts.sha, "abc123");
        assert_eq!(facts.commit_time, 1_700_000_000);
        assert_eq!(facts.branch.as_deref(), Some("feature/x"));
        assert_eq!(facts.release_tag.as_deref(), Some("v1.10.0"), "the highest release tag wins");
        let detached = parse_git_log("abc123\n1700000000\nHEAD, tag: v2.0.0-rc.1\n").unwrap();
        assert_eq!((detached.branch, detached.release_tag.as_deref()), (None, Some("v2.0.0-rc.1")));
        assert!(parse_git_log("").is_none());
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(utc(0), ("19700101000000".to_string(), "1970-01-01T00:00:00Z".to_string()));
        assert_eq!(utc(1_795_554_900).1, "2026-11-24T21:15:00Z");
        assert_eq!(utc(951_782_400).1, "2000-02-29T00:00:00Z");
    }
}
