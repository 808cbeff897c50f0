//! What triggered this build: a release, a branch push, a pull request, a manual run or a
//! schedule. Everything here is pure: `sys::git` and `sys::workspace` gather the facts (git,
//! the CI system's variables, the clock) and `detect` decides.
//!
//! Flags beat the CI system, which beats git; a tag that the workspace's `release_tag`
//! matches is a release (of one image, in a monorepo whose template names `{image}`).

mod ci;
mod release;

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::core::version::Version;

pub use ci::{CiEnv, VARIABLES as CI_VARIABLES};
pub use release::{check_template as check_release_tag, match_tag, Release, DEFAULT_RELEASE_TAG};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Release,
    Branch,
    PullRequest,
    Manual,
    /// A scheduled rebuild (nightly, weekly) that picks up base and security updates.
    Schedule,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Release => "release",
            EventKind::Branch => "branch",
            EventKind::PullRequest => "pull-request",
            EventKind::Manual => "manual",
            EventKind::Schedule => "schedule",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub kind: EventKind,
    /// From --version or the release tag; image.toml `version` takes precedence per image.
    pub version: Option<String>,
    /// A monorepo release (a `release_tag` with `{image}`): the version of each image its
    /// tags release. Only these images are released; the others are built when they are
    /// parents, and tagged not at all.
    pub releases: BTreeMap<String, String>,
    pub branch: Option<String>,
    pub sha: Option<String>,
    pub pr: Option<u64>,
    pub extra_tags: Vec<String>,
    /// UTC `YYYYMMDDHHMMSS` of the build time (SOURCE_DATE_EPOCH, else the commit), for
    /// `{timestamp}`: rebuilding a commit gives the same tag.
    pub timestamp: String,
    /// UTC `YYYYMMDD` of the run itself, for `{date}`: a scheduled rebuild of an unchanged
    /// commit gets a new date (as metadata-action's `{{date}}` does).
    pub date: String,
    /// Where each fact came from, in order (`event`, `version`, `branch`, `sha`, `pr`):
    /// what `plan` prints above its table.
    pub origins: Vec<(String, String)>,
}

impl Event {
    /// Pull requests build but do not publish unless asked to.
    pub fn publishes_by_default(&self) -> bool {
        self.kind != EventKind::PullRequest
    }

    /// Whether `image` is released by this event (every image, unless a monorepo tag names some).
    pub fn releases_image(&self, image: &str) -> bool {
        self.kind == EventKind::Release && (self.releases.is_empty() || self.releases.contains_key(image))
    }

    /// One line for people: the event and where each fact came from.
    pub fn explain(&self) -> String {
        let facts: Vec<String> = self.origins.iter().map(|(fact, origin)| format!("{fact} from {origin}")).collect();
        let mut line = format!("event: {}", self.kind.name());
        match (&self.version, self.releases.is_empty()) {
            (_, false) => {
                let list: Vec<String> = self.releases.iter().map(|(image, v)| format!("{image} {v}")).collect();
                line.push_str(&format!(" of {}", list.join(", ")));
            }
            (Some(version), true) => line.push_str(&format!(" {version}")),
            (None, true) => {}
        }
        if !facts.is_empty() {
            line.push_str(&format!(" ({})", facts.join("; ")));
        }
        line
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
    /// Every tag pointing at HEAD.
    pub tags: Vec<String>,
}

/// How the workspace names releases: its `release_tag` and its images.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseRule<'a> {
    pub template: &'a str,
    pub images: &'a [&'a str],
}

impl Default for ReleaseRule<'_> {
    fn default() -> Self {
        ReleaseRule { template: DEFAULT_RELEASE_TAG, images: &[] }
    }
}

/// The run's time: the build time stamped into tags, and today's date.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// UTC `YYYYMMDDHHMMSS` of the build time.
    pub timestamp: String,
    /// UTC `YYYYMMDD` of now.
    pub date: String,
}

impl Clock {
    /// A clock whose date is the build time's (for tests and callers without a clock).
    pub fn at(timestamp: &str) -> Clock {
        Clock { timestamp: timestamp.to_string(), date: timestamp.get(..8).unwrap_or_default().to_string() }
    }
}

/// Works out the event: flags beat the CI system's variables, which beat git.
pub fn detect(
    flags: &EventFlags,
    ci: &CiEnv,
    git: Option<&GitFacts>,
    rule: &ReleaseRule<'_>,
    clock: Clock,
) -> Result<Event> {
    let Clock { timestamp, date } = clock;
    let mut event = Event {
        kind: EventKind::Branch,
        version: None,
        releases: BTreeMap::new(),
        branch: None,
        sha: None,
        pr: None,
        extra_tags: vec![],
        timestamp,
        date,
        origins: vec![],
    };
    let mut origins: BTreeMap<&str, String> = BTreeMap::new();
    let ci_facts = ci::facts(ci);
    // Release tags: on CI, the tag the CI system says it builds (a branch push of a tagged
    // commit is no release); elsewhere the tags on HEAD.
    let tags: Vec<(String, String)> = match &ci_facts {
        Some(c) => c.tag.clone().into_iter().collect(),
        None => git.map(|g| g.tags.iter().map(|t| (t.clone(), format!("git tag {t}"))).collect()).unwrap_or_default(),
    };
    let names: Vec<String> = tags.iter().map(|(t, _)| t.clone()).collect();
    let found = release::releases(&names, rule.template, rule.images);
    let origin_of = |tag: &str| tags.iter().find(|(t, _)| t == tag).map(|(_, o)| o.clone()).unwrap_or_default();
    let rule_text = format!("release_tag {:?}", rule.template);
    for (release, tag) in &found {
        event.kind = EventKind::Release;
        match &release.image {
            Some(image) => {
                event.releases.insert(image.clone(), release.version.clone());
            }
            None => event.version = Some(release.version.clone()),
        }
        origins.insert("event", format!("{} matching {rule_text}", origin_of(tag)));
    }
    if found.is_empty() {
        if let Some((tag, origin)) = tags.first().filter(|_| ci_facts.as_ref().is_some_and(|c| c.tag.is_some())) {
            // Say why a tag build is no release: the first thing to check when one was meant.
            origins.insert("event", format!("{origin}, which {rule_text} does not match, so a build of tag {tag}"));
        }
    }
    if let Some(c) = &ci_facts {
        let (kind, source) = &c.kind;
        let released = event.kind == EventKind::Release;
        let ci_kind = match kind {
            ci::CiKind::PullRequest => Some(EventKind::PullRequest),
            ci::CiKind::Schedule => Some(EventKind::Schedule),
            ci::CiKind::Manual if !released => Some(EventKind::Manual),
            _ => None,
        };
        if let Some(kind) = ci_kind {
            event.kind = kind;
            origins.insert("event", format!("{} ({})", source, c.system));
        } else if !released {
            origins.entry("event").or_insert_with(|| format!("{} ({})", source, c.system));
        }
        if let Some((branch, source)) = &c.branch {
            event.branch = Some(branch.clone());
            origins.insert("branch", source.clone());
        } else if let Some((tag, source)) = c.tag.as_ref().filter(|_| event.kind != EventKind::Release) {
            // A tag that is no release builds like a branch named after it.
            event.branch = Some(tag.clone());
            origins.insert("branch", source.clone());
        }
        if let Some((sha, source)) = &c.sha {
            event.sha = Some(sha.clone());
            origins.insert("sha", source.clone());
        }
        if let Some((pr, source)) = &c.pr {
            event.pr = Some(*pr);
            origins.insert("pr", source.clone());
        }
    }
    if let Some(g) = git {
        if event.sha.is_none() {
            event.sha = Some(g.sha.clone());
            origins.insert("sha", "git".to_string());
        }
        if event.branch.is_none() {
            if let Some(branch) = &g.branch {
                event.branch = Some(branch.clone());
                origins.insert("branch", "git".to_string());
            }
        }
        if ci_facts.is_none() && !origins.contains_key("event") {
            origins.insert("event", "git".to_string());
        }
    }
    if let Some(kind) = &flags.event {
        event.kind = match kind.as_str() {
            "release" => EventKind::Release,
            "branch" => EventKind::Branch,
            "pull-request" => EventKind::PullRequest,
            "manual" => EventKind::Manual,
            "schedule" => EventKind::Schedule,
            other => bail!("--event {other:?} is not an event: use release, branch, pull-request, manual or schedule"),
        };
        origins.insert("event", "--event".to_string());
    }
    if let Some(version) = &flags.version {
        Version::parse(version)
            .map_err(|why| anyhow::anyhow!("--version {version:?} is not a semantic version ({why}): use X.Y.Z"))?;
        event.version = Some(version.strip_prefix('v').unwrap_or(version).to_string());
        event.releases.clear();
        origins.insert("version", "--version".to_string());
    }
    if flags.branch.is_some() {
        event.branch = flags.branch.clone();
        origins.insert("branch", "--branch".to_string());
    }
    if let Some(sha) = &flags.sha {
        // It becomes part of tags and of the revision label: only what git prints is accepted.
        if sha.is_empty() || sha.len() > 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("--sha {sha:?} is not a commit SHA: pass the hex digits `git rev-parse HEAD` prints");
        }
        event.sha = Some(sha.clone());
        origins.insert("sha", "--sha".to_string());
    }
    if flags.pr.is_some() {
        event.pr = flags.pr;
        origins.insert("pr", "--pr".to_string());
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
    if event.kind != EventKind::Release {
        event.releases.clear();
        if flags.version.is_none() {
            // A pull request or schedule on a tagged commit is no release of it.
            event.version = None;
        }
        if event.branch.is_none() {
            // A tag build asked to be a branch build, a checkout outside git, or a bare
            // commit that no CI variable names.
            let (branch, origin) = match (&tags.first(), git) {
                (Some((tag, origin)), _) => (tag.clone(), origin.clone()),
                (None, Some(_)) => ("detached".to_string(), "git (detached HEAD)".to_string()),
                (None, None) => ("local".to_string(), "no git checkout".to_string()),
            };
            event.branch = Some(branch);
            origins.insert("branch", origin);
        }
    }
    event.origins = ["event", "version", "branch", "sha", "pr"]
        .iter()
        .filter_map(|fact| Some((fact.to_string(), origins.remove(fact)?)))
        .collect();
    Ok(event)
}

/// Parses `%H%n%ct%n%D`: the decorations say `HEAD -> branch` and `tag: name`.
pub fn parse_git_log(text: &str) -> Option<GitFacts> {
    let mut lines = text.lines();
    let sha = lines.next()?.trim().to_string();
    let commit_time = lines.next()?.trim().parse().ok()?;
    let decorations: Vec<&str> = lines.next().unwrap_or_default().split(", ").map(str::trim).collect();
    let branch = decorations.iter().find_map(|d| d.strip_prefix("HEAD -> ")).map(str::to_string);
    let tags = decorations.iter().filter_map(|d| d.strip_prefix("tag: ")).map(str::to_string).collect();
    Some(GitFacts { sha, commit_time, branch, tags })
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

/// Reads back what [`utc`] writes (`YYYY-MM-DDTHH:MM:SSZ`): seconds since the epoch, or
/// `None` for anything else.
pub fn parse_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if mo > 2 { mo - 3 } else { mo + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()
}

#[cfg(test)]
mod tests;
