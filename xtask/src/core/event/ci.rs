//! What a CI system says about the build it runs, from its own variables: GitHub Actions,
//! GitLab CI, Buildkite, CircleCI and Jenkins. A CI checkout is often a bare commit, so the
//! branch, tag and pull request come from here, not from git.
//!
//! | system | detected by | event | tag | branch | pull request | commit |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | GitHub Actions | `GITHUB_EVENT_NAME` | `GITHUB_EVENT_NAME` | `GITHUB_REF=refs/tags/…` | `GITHUB_HEAD_REF`, `GITHUB_REF_NAME` | event payload `number`, `refs/pull/N/merge` | `GITHUB_SHA` |
//! | GitLab CI | `GITLAB_CI` | `CI_PIPELINE_SOURCE` | `CI_COMMIT_TAG` | `CI_MERGE_REQUEST_SOURCE_BRANCH_NAME`, `CI_COMMIT_BRANCH`, `CI_COMMIT_REF_NAME` | `CI_MERGE_REQUEST_IID` | `CI_COMMIT_SHA` |
//! | Buildkite | `BUILDKITE` | `BUILDKITE_SOURCE` | `BUILDKITE_TAG` | `BUILDKITE_BRANCH` | `BUILDKITE_PULL_REQUEST` | `BUILDKITE_COMMIT` |
//! | CircleCI | `CIRCLECI` | `CIRCLE_PIPELINE_TRIGGER_SOURCE` | `CIRCLE_TAG` | `CIRCLE_BRANCH` | `CIRCLE_PR_NUMBER`, `CIRCLE_PULL_REQUEST` | `CIRCLE_SHA1` |
//! | Jenkins | `JENKINS_URL` | — | `TAG_NAME` | `CHANGE_BRANCH`, `BRANCH_NAME`, `GIT_BRANCH` | `CHANGE_ID` | `GIT_COMMIT` |
//!
//! Empty values count as unset: CI systems export empty variables for what does not apply.

use std::collections::BTreeMap;

/// Every variable read, so that `sys` reads exactly these and nothing else.
pub const VARIABLES: &[&str] = &[
    "GITHUB_EVENT_NAME",
    "GITHUB_REF",
    "GITHUB_REF_NAME",
    "GITHUB_HEAD_REF",
    "GITHUB_SHA",
    "GITLAB_CI",
    "CI_PIPELINE_SOURCE",
    "CI_COMMIT_TAG",
    "CI_COMMIT_BRANCH",
    "CI_COMMIT_REF_NAME",
    "CI_MERGE_REQUEST_IID",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "CI_COMMIT_SHA",
    "BUILDKITE",
    "BUILDKITE_SOURCE",
    "BUILDKITE_TAG",
    "BUILDKITE_BRANCH",
    "BUILDKITE_PULL_REQUEST",
    "BUILDKITE_COMMIT",
    "CIRCLECI",
    "CIRCLE_TAG",
    "CIRCLE_BRANCH",
    "CIRCLE_PR_NUMBER",
    "CIRCLE_PULL_REQUEST",
    "CIRCLE_SHA1",
    "CIRCLE_PIPELINE_TRIGGER_SOURCE",
    "JENKINS_URL",
    "TAG_NAME",
    "CHANGE_BRANCH",
    "BRANCH_NAME",
    "GIT_BRANCH",
    "CHANGE_ID",
    "GIT_COMMIT",
];

/// The CI environment: the variables of [`VARIABLES`] that are set and not empty, and the
/// GitHub event payload (the file `GITHUB_EVENT_PATH` names), both read by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiEnv {
    pub variables: BTreeMap<String, String>,
    pub event_payload: Option<String>,
}

impl CiEnv {
    pub fn from_pairs(pairs: &[(&str, &str)]) -> CiEnv {
        let variables = pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string()));
        CiEnv { variables: variables.collect(), event_payload: None }
    }

    fn get(&self, name: &str) -> Option<(String, String)> {
        let value = self.variables.get(name).filter(|v| !v.is_empty())?;
        Some((value.clone(), format!("{name}={value}")))
    }

    /// The first of `names` that is set, with where it came from.
    fn first(&self, names: &[&str]) -> Option<(String, String)> {
        names.iter().find_map(|name| self.get(name))
    }
}

/// What kind of run the CI system says this is, before release tags are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiKind {
    Push,
    PullRequest,
    Manual,
    Schedule,
}

/// A fact and where it came from (`GITHUB_SHA=…`), for `plan`'s header.
pub type Sourced<T> = Option<(T, String)>;

/// What the CI system said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiFacts {
    pub system: &'static str,
    pub kind: (CiKind, String),
    pub tag: Sourced<String>,
    pub branch: Sourced<String>,
    pub pr: Sourced<u64>,
    pub sha: Sourced<String>,
}

/// The facts of the CI system this runs on, if any.
pub fn facts(ci: &CiEnv) -> Option<CiFacts> {
    if let Some((event, source)) = ci.get("GITHUB_EVENT_NAME") {
        return Some(github(ci, &event, source));
    }
    let number = |found: Option<(String, String)>| found.and_then(|(v, s)| Some((v.trim().parse::<u64>().ok()?, s)));
    if ci.get("GITLAB_CI").is_some() {
        let source = ci.get("CI_PIPELINE_SOURCE");
        let kind = match source.as_ref().map(|(v, _)| v.as_str()) {
            Some("merge_request_event") => CiKind::PullRequest,
            Some("schedule") => CiKind::Schedule,
            Some("web" | "api" | "trigger") => CiKind::Manual,
            _ => CiKind::Push,
        };
        return Some(CiFacts {
            system: "GitLab CI",
            kind: (kind, source.map_or_else(|| "GITLAB_CI".to_string(), |(_, s)| s)),
            tag: ci.get("CI_COMMIT_TAG"),
            branch: ci.first(&["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH"]).or_else(|| {
                // CI_COMMIT_REF_NAME is the tag's name on a tag pipeline.
                ci.get("CI_COMMIT_REF_NAME").filter(|_| ci.get("CI_COMMIT_TAG").is_none())
            }),
            pr: number(ci.get("CI_MERGE_REQUEST_IID")),
            sha: ci.get("CI_COMMIT_SHA"),
        });
    }
    if ci.get("BUILDKITE").is_some() {
        let pr = number(ci.get("BUILDKITE_PULL_REQUEST"));
        let source = ci.get("BUILDKITE_SOURCE");
        let kind = match (&pr, source.as_ref().map(|(v, _)| v.as_str())) {
            (Some(_), _) => CiKind::PullRequest,
            (None, Some("schedule")) => CiKind::Schedule,
            (None, Some("ui" | "api")) => CiKind::Manual,
            _ => CiKind::Push,
        };
        let origin = pr.as_ref().map(|(_, s)| s.clone()).or(source.map(|(_, s)| s));
        return Some(CiFacts {
            system: "Buildkite",
            kind: (kind, origin.unwrap_or_else(|| "BUILDKITE".to_string())),
            tag: ci.get("BUILDKITE_TAG"),
            branch: ci.get("BUILDKITE_BRANCH"),
            pr,
            sha: ci.get("BUILDKITE_COMMIT"),
        });
    }
    if ci.get("CIRCLECI").is_some() {
        let pr = number(ci.get("CIRCLE_PR_NUMBER")).or_else(|| {
            let (url, source) = ci.get("CIRCLE_PULL_REQUEST")?;
            Some((url.rsplit('/').next()?.parse().ok()?, source))
        });
        let trigger = ci.get("CIRCLE_PIPELINE_TRIGGER_SOURCE");
        let kind = match (&pr, &trigger) {
            (Some((_, source)), _) => (CiKind::PullRequest, source.clone()),
            (None, Some((source, origin))) if source == "scheduled_pipeline" => (CiKind::Schedule, origin.clone()),
            _ => (CiKind::Push, "CIRCLECI".to_string()),
        };
        return Some(CiFacts {
            system: "CircleCI",
            kind,
            tag: ci.get("CIRCLE_TAG"),
            branch: ci.get("CIRCLE_BRANCH"),
            pr,
            sha: ci.get("CIRCLE_SHA1"),
        });
    }
    if ci.get("JENKINS_URL").is_some() {
        let pr = number(ci.get("CHANGE_ID"));
        let kind = match &pr {
            Some((_, source)) => (CiKind::PullRequest, source.clone()),
            None => (CiKind::Push, "JENKINS_URL".to_string()),
        };
        let branch = ci.first(&["CHANGE_BRANCH", "BRANCH_NAME"]).or_else(|| {
            let (name, source) = ci.get("GIT_BRANCH")?;
            Some((name.strip_prefix("origin/").unwrap_or(&name).to_string(), source))
        });
        return Some(CiFacts {
            system: "Jenkins",
            kind,
            tag: ci.get("TAG_NAME"),
            branch,
            pr,
            sha: ci.get("GIT_COMMIT"),
        });
    }
    None
}

fn github(ci: &CiEnv, event: &str, source: String) -> CiFacts {
    let git_ref = ci.get("GITHUB_REF");
    let tag = git_ref.as_ref().and_then(|(r, s)| Some((r.strip_prefix("refs/tags/")?.to_string(), s.clone())));
    let kind = match event {
        "pull_request" | "pull_request_target" => CiKind::PullRequest,
        "schedule" => CiKind::Schedule,
        "workflow_dispatch" => CiKind::Manual,
        _ => CiKind::Push,
    };
    // On pull_request_target GITHUB_REF is the base branch: the number is in the payload.
    let pr = (kind == CiKind::PullRequest)
        .then(|| {
            let from_payload =
                ci.event_payload.as_deref().and_then(payload_number).map(|n| (n, "the event payload".into()));
            from_payload.or_else(|| {
                let (r, s) = git_ref.as_ref()?;
                let n = r.strip_prefix("refs/pull/")?.split('/').next()?.parse().ok()?;
                Some((n, s.clone()))
            })
        })
        .flatten();
    let branch = if kind == CiKind::PullRequest {
        ci.first(&["GITHUB_HEAD_REF", "GITHUB_REF_NAME"])
    } else {
        git_ref
            .as_ref()
            .and_then(|(r, s)| Some((r.strip_prefix("refs/heads/")?.to_string(), s.clone())))
            .or_else(|| ci.get("GITHUB_REF_NAME").filter(|_| tag.is_none()))
    };
    CiFacts { system: "GitHub Actions", kind: (kind, source), tag, branch, pr, sha: ci.get("GITHUB_SHA") }
}

/// `number`, else `pull_request.number`, of a GitHub event payload.
fn payload_number(payload: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    value.get("number").and_then(|n| n.as_u64()).or_else(|| value.get("pull_request")?.get("number")?.as_u64())
}
