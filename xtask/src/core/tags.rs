//! The tag policy: which tags each unit gets for an event. One pure function,
//! `compute`, driven by the templates in `[workspace.metadata.images.tags]`.
//!
//! Two rules on top of the templates are safer than docker/metadata-action's, on purpose:
//! - a pre-release keeps only the templates that contain `{version}` (metadata-action renders
//!   `{{major}}` of `2.0.8-beta.67` as the whole version, so `v{{major}}` becomes
//!   `v2.0.8-beta.67`; here no pre-release tag is ever mistaken for a stable line);
//! - a template with `{major}` but no `{minor}` is skipped while the major is 0 (metadata-action
//!   documents this as an `enable=` expression users must add; here it is the default).
//!
//! As in metadata-action, build metadata (`+build.5`) is not part of any tag: `1.2.3+build.5`
//! tags `1.2.3`, `1.2` and `1`, and the version label keeps it.

use serde::Deserialize;

use crate::core::event::{Event, EventKind};
use crate::core::version::Version;
use crate::oci::reference::check_tag;

const PLACEHOLDERS: &[&str] =
    &["version", "major", "minor", "patch", "variant", "branch", "sha", "pr", "timestamp", "date"];

/// The variant a unit builds, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct VariantNames<'a> {
    /// `None` for an image without `[[variants]]`.
    pub name: Option<&'a str>,
    pub aliases: &'a [String],
    pub default: bool,
}

/// The tags (without repository) one unit gets for `event`, in template order, deduplicated.
pub fn compute(
    templates: &TagTemplates,
    event: &Event,
    version: Option<&Version>,
    variant: VariantNames<'_>,
) -> Result<Vec<String>, String> {
    let named = variant.name.map(|n| std::iter::once(n).chain(variant.aliases.iter().map(String::as_str)));
    let mut rendered: Vec<String> = Vec::new();
    let mut render_all = |list: &[String], variant_name: Option<&str>| -> Result<(), String> {
        for template in list {
            if let Some(tag) = render(template, event, version, variant_name)? {
                if !rendered.contains(&tag) {
                    rendered.push(tag);
                }
            }
        }
        Ok(())
    };
    match event.kind {
        EventKind::Release => {
            if version.is_none() {
                return Err(
                    "a release needs a version\n  hint: set `version` in image.toml, pass --version X.Y.Z, or tag HEAD vX.Y.Z"
                        .to_string(),
                );
            }
            if variant.default {
                render_all(&templates.release, variant.name)?;
            }
            for name in named.into_iter().flatten() {
                render_all(&templates.release_variant, Some(name))?;
            }
        }
        EventKind::Branch | EventKind::Manual => match (variant.default, variant.name) {
            (true, name) => render_all(&templates.branch, name)?,
            (false, Some(name)) => render_all(&templates.branch_variant, Some(name))?,
            (false, None) => unreachable!("an implicit variant is always the default"),
        },
        EventKind::PullRequest => match (variant.default, variant.name) {
            (true, name) => render_all(&templates.pull_request, name)?,
            (false, Some(name)) => render_all(&templates.pull_request_variant, Some(name))?,
            (false, None) => unreachable!("an implicit variant is always the default"),
        },
        EventKind::Schedule => match (variant.default, variant.name) {
            (true, name) => render_all(&templates.schedule, name)?,
            (false, Some(name)) => render_all(&templates.schedule_variant, Some(name))?,
            (false, None) => unreachable!("an implicit variant is always the default"),
        },
    }
    for extra in &event.extra_tags {
        let tag = match (variant.default, variant.name) {
            (false, Some(name)) => format!("{extra}-{name}"),
            _ => extra.clone(),
        };
        check_tag(&tag).map_err(|why| format!("--tag {extra:?} gives the invalid tag {tag:?}: {why}"))?;
        if !rendered.contains(&tag) {
            rendered.push(tag);
        }
    }
    Ok(rendered)
}

/// Renders one template; `None` when the policy skips it for this version.
fn render(
    template: &str,
    event: &Event,
    version: Option<&Version>,
    variant: Option<&str>,
) -> Result<Option<String>, String> {
    let uses = |p: &str| template.contains(&format!("{{{p}}}"));
    if let Some(v) = version.filter(|_| event.kind == EventKind::Release) {
        if v.is_prerelease() && !uses("version") {
            return Ok(None);
        }
        if v.major == 0 && uses("major") && !uses("minor") {
            return Ok(None);
        }
    }
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').ok_or_else(|| format!("unclosed `{{` in template {template:?}"))? + open;
        let name = &rest[open + 1..close];
        let missing = |what: &str| format!("template {template:?} uses {{{name}}}, but {what}");
        let value = match name {
            "version" => {
                version.ok_or_else(|| missing("no version is known (set `version` or pass --version)"))?.tag.clone()
            }
            "major" => version.ok_or_else(|| missing("no version is known"))?.major.to_string(),
            "minor" => version.ok_or_else(|| missing("no version is known"))?.minor.to_string(),
            "patch" => version.ok_or_else(|| missing("no version is known"))?.patch.to_string(),
            "variant" => variant.ok_or_else(|| missing("this image has no variants"))?.to_string(),
            "branch" => {
                sanitize_branch(event.branch.as_deref().ok_or_else(|| missing("no branch is known (pass --branch)"))?)
            }
            // Outside git there is no commit: the `-{sha}` tag is skipped, not an error.
            "sha" => match event.sha.as_deref() {
                Some(sha) => sha.chars().take(7).collect(),
                None => return Ok(None),
            },
            "pr" => event.pr.ok_or_else(|| missing("no pull request number is known (pass --pr)"))?.to_string(),
            "timestamp" => event.timestamp.clone(),
            "date" => event.date.clone(),
            other => return Err(format!("unknown placeholder {{{other}}} in template {template:?}")),
        };
        out.push_str(&value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    check_tag(&out).map_err(|why| {
        format!("template {template:?} renders the invalid tag {out:?}: {why}\n  hint: shorten the template, or the --branch, --tag or version it uses")
    })?;
    Ok(Some(out))
}

/// Turns a branch name into tag text, as docker/metadata-action does: every run of
/// characters a tag cannot hold becomes one `-` (`feature//x` is `feature-x`), and leading
/// `.` and `-` and trailing `-` go. Where that loses information metadata-action keeps
/// (letters outside ASCII), or the name is cut to 100 characters, the first 7 hex digits of
/// the name's SHA-256 follow, so two such branches never share a tag (`fé` and `fè` differ).
pub fn sanitize_branch(branch: &str) -> String {
    let mut out = String::new();
    let mut lossy = false;
    for c in branch.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else {
            lossy |= !c.is_ascii();
            if !out.ends_with('-') {
                out.push('-');
            }
        }
    }
    let trimmed = out.trim_start_matches(['.', '-']).trim_end_matches('-');
    // `-x`, `.x` and `x/` would all be `x`: dropping their ends keeps them apart by the hash.
    lossy |= trimmed.len() != out.len();
    let mut name = trimmed.to_string();
    if name.len() > 100 {
        // Room for the hash: 92 + `-` + 7 is still 100.
        name.truncate(92);
        lossy = true;
    }
    if name.is_empty() {
        name = "branch".to_string();
        lossy = !branch.is_empty();
    }
    if lossy {
        let hash = crate::oci::digest::sha256_digest(branch.as_bytes());
        name = format!("{}-{}", name.trim_end_matches('-'), &hash["sha256:".len().."sha256:".len() + 7]);
    }
    name
}

/// Checks a template's syntax and that it renders a valid tag for sample values.
pub fn check_template(template: &str) -> Result<(), String> {
    let mut sample = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        sample.push_str(&rest[..open]);
        let close = rest[open..].find('}').ok_or("unclosed `{`")? + open;
        let name = &rest[open + 1..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(match crate::core::diag::nearest(name, PLACEHOLDERS.iter().copied()) {
                Some(close) => format!("unknown placeholder {{{name}}}; did you mean {{{close}}}?"),
                None => format!("unknown placeholder {{{name}}}"),
            });
        }
        sample.push('x');
        rest = &rest[close + 1..];
    }
    sample.push_str(rest);
    if sample.contains('}') {
        return Err("unmatched `}`".to_string());
    }
    check_tag(&sample)
}

/// Tag templates per event; variant templates apply to named variants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagTemplates {
    pub release: Vec<String>,
    pub release_variant: Vec<String>,
    pub branch: Vec<String>,
    pub branch_variant: Vec<String>,
    pub pull_request: Vec<String>,
    pub pull_request_variant: Vec<String>,
    pub schedule: Vec<String>,
    pub schedule_variant: Vec<String>,
}

impl TagTemplates {
    /// The templates `kind` renders for the default variant (`default`) or a named one.
    pub fn for_event(&self, kind: crate::core::event::EventKind, default: bool) -> &[String] {
        use crate::core::event::EventKind::*;
        match (kind, default) {
            (Release, true) => &self.release,
            (Release, false) => &self.release_variant,
            (Branch | Manual, true) => &self.branch,
            (Branch | Manual, false) => &self.branch_variant,
            (PullRequest, true) => &self.pull_request,
            (PullRequest, false) => &self.pull_request_variant,
            (Schedule, true) => &self.schedule,
            (Schedule, false) => &self.schedule_variant,
        }
    }
}

impl Default for TagTemplates {
    fn default() -> Self {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        TagTemplates {
            release: list(&["latest", "{version}", "{major}.{minor}", "{major}"]),
            release_variant: list(&["{variant}", "{version}-{variant}"]),
            branch: list(&["{branch}", "{branch}-{sha}"]),
            branch_variant: list(&["{branch}-{variant}"]),
            pull_request: list(&["pr-{pr}"]),
            pull_request_variant: list(&["pr-{pr}-{variant}"]),
            schedule: list(&["nightly", "nightly-{date}"]),
            schedule_variant: list(&["nightly-{variant}"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> Event {
        Event {
            kind,
            version: None,
            branch: Some("main".to_string()),
            sha: Some("0123456789abcdef".to_string()),
            pr: Some(42),
            extra_tags: vec![],
            timestamp: "20261124211500".to_string(),
            releases: Default::default(),
            date: "20261124".into(),
            origins: vec![],
        }
    }

    fn tags(event: &Event, version: Option<&str>, name: Option<&str>, aliases: &[&str], default: bool) -> Vec<String> {
        try_tags(event, version, name, aliases, default).unwrap()
    }

    fn try_tags(
        event: &Event,
        version: Option<&str>,
        name: Option<&str>,
        aliases: &[&str],
        default: bool,
    ) -> Result<Vec<String>, String> {
        let version = version.map(|v| Version::parse(v).unwrap());
        let aliases: Vec<String> = aliases.iter().map(|s| s.to_string()).collect();
        compute(&TagTemplates::default(), event, version.as_ref(), VariantNames { name, aliases: &aliases, default })
    }

    #[test]
    fn release_of_an_image_without_variants() {
        let e = event(EventKind::Release);
        assert_eq!(tags(&e, Some("1.4.2"), None, &[], true), ["latest", "1.4.2", "1.4", "1"]);
    }

    #[test]
    fn release_of_the_orb_example_from_the_spec() {
        let e = event(EventKind::Release);
        assert_eq!(
            tags(&e, Some("0.2.3"), Some("python3.13"), &[], true),
            ["latest", "0.2.3", "0.2", "python3.13", "0.2.3-python3.13"]
        );
        for v in ["python3.9", "python3.10", "python3.11", "python3.12"] {
            assert_eq!(tags(&e, Some("0.2.3"), Some(v), &[], false), [v.to_string(), format!("0.2.3-{v}")]);
        }
    }

    #[test]
    fn major_zero_skips_the_bare_major_tag_only() {
        let e = event(EventKind::Release);
        assert_eq!(tags(&e, Some("0.9.0"), None, &[], true), ["latest", "0.9.0", "0.9"]);
        assert_eq!(tags(&e, Some("10.0.0"), None, &[], true), ["latest", "10.0.0", "10.0", "10"]);
    }

    #[test]
    fn prerelease_gets_only_exact_tags() {
        let e = event(EventKind::Release);
        assert_eq!(tags(&e, Some("1.0.0-rc.1"), None, &[], true), ["1.0.0-rc.1"]);
        assert_eq!(
            tags(&e, Some("1.0.0-rc.1"), Some("python3.13"), &[], true),
            ["1.0.0-rc.1", "1.0.0-rc.1-python3.13"]
        );
        assert_eq!(tags(&e, Some("1.0.0-rc.1"), Some("python3.11"), &[], false), ["1.0.0-rc.1-python3.11"]);
        // Build metadata is no part of a tag (it read as the pre-release `2.0.0-build.5`).
        assert_eq!(tags(&e, Some("2.0.0+build.5"), None, &[], true), ["latest", "2.0.0", "2.0", "2"]);
        assert_eq!(Version::parse("2.0.0+build.5").unwrap().full, "2.0.0+build.5", "the label keeps it");
    }

    #[test]
    fn variant_aliases_get_variant_tags() {
        let e = event(EventKind::Release);
        assert_eq!(
            tags(&e, Some("1.0.0"), Some("bookworm"), &["12"], true),
            ["latest", "1.0.0", "1.0", "1", "bookworm", "1.0.0-bookworm", "12", "1.0.0-12"]
        );
        assert_eq!(
            tags(&e, Some("1.0.0"), Some("trixie"), &["13"], false),
            ["trixie", "1.0.0-trixie", "13", "1.0.0-13"]
        );
    }

    #[test]
    fn release_without_version_is_an_error_with_the_fix() {
        let err = try_tags(&event(EventKind::Release), None, None, &[], true).unwrap_err();
        assert!(err.contains("--version"), "{err}");
    }

    #[test]
    fn branch_tags_use_sanitized_branch_and_short_sha() {
        let mut e = event(EventKind::Branch);
        assert_eq!(tags(&e, None, None, &[], true), ["main", "main-0123456"]);
        assert_eq!(tags(&e, None, Some("python3.13"), &[], true), ["main", "main-0123456"]);
        assert_eq!(tags(&e, None, Some("python3.11"), &[], false), ["main-python3.11"]);
        e.branch = Some("feature/Ünïcode x".to_string());
        // Letters outside ASCII are dropped: one `-` per run, and the name's hash keeps it apart.
        assert_eq!(tags(&e, None, None, &[], true), ["feature-n-code-x-aa8029f", "feature-n-code-x-aa8029f-0123456"]);
    }

    #[test]
    fn sanitize_branch_cases() {
        assert_eq!(sanitize_branch("feature/x"), "feature-x");
        // Ends a tag cannot start or end with are dropped, and the hash keeps `-.lead` from `lead`.
        let lead = sanitize_branch("-.lead");
        assert!(lead.starts_with("lead-") && lead.len() == "lead-".len() + 7, "{lead}");
        assert_ne!(lead, sanitize_branch("lead"));
        assert_ne!(sanitize_branch("x/"), sanitize_branch("x"));
        assert_eq!(sanitize_branch("release/1.2"), "release-1.2");
        assert!(sanitize_branch("///").starts_with("branch-"), "nothing is left: the name's hash keeps it apart");
        assert_eq!(sanitize_branch(&"a".repeat(300)).len(), 100);
        assert_ne!(sanitize_branch(&"a".repeat(300)), sanitize_branch(&"a".repeat(301)));
        // metadata-action: runs of invalid characters become one `-`.
        assert_eq!(sanitize_branch("a//b"), "a-b");
        assert!(
            sanitize_branch("feature/my branch!").starts_with("feature-my-branch-"),
            "the `!` at the end is dropped"
        );
        assert_eq!(sanitize_branch("my/branch"), "my-branch");
        // Letters outside ASCII are dropped, and the hash keeps the names apart.
        let (e_acute, e_grave) = (sanitize_branch("fé"), sanitize_branch("fè"));
        assert!(e_acute.starts_with("f-") && e_acute.len() == "f-".len() + 7, "{e_acute}");
        assert_ne!(e_acute, e_grave);
        assert_eq!(sanitize_branch("fé"), e_acute, "stable");
    }

    #[test]
    fn pull_request_tags() {
        let e = event(EventKind::PullRequest);
        assert_eq!(tags(&e, None, None, &[], true), ["pr-42"]);
        assert_eq!(tags(&e, None, Some("python3.11"), &[], false), ["pr-42-python3.11"]);
    }

    #[test]
    fn extra_tags_apply_to_every_event() {
        let mut e = event(EventKind::Manual);
        e.extra_tags = vec!["nightly".to_string(), "main".to_string()];
        assert_eq!(tags(&e, None, None, &[], true), ["main", "main-0123456", "nightly"]);
        assert_eq!(tags(&e, None, Some("go"), &[], false), ["main-go", "nightly-go"], "duplicates are dropped");
        e.extra_tags = vec!["bad tag".to_string()];
        assert!(try_tags(&e, None, None, &[], true).unwrap_err().contains("--tag \"bad tag\""));
    }

    #[test]
    fn custom_templates_render_every_placeholder() {
        let templates = TagTemplates {
            release: vec!["v{major}.{minor}.{patch}".to_string(), "{version}-{timestamp}".to_string()],
            branch: vec!["{branch}.{sha}.{timestamp}".to_string()],
            ..TagTemplates::default()
        };
        let v = Version::parse("3.1.4").unwrap();
        let names = VariantNames { name: None, aliases: &[], default: true };
        assert_eq!(
            compute(&templates, &event(EventKind::Release), Some(&v), names).unwrap(),
            ["v3.1.4", "3.1.4-20261124211500"]
        );
        assert_eq!(
            compute(&templates, &event(EventKind::Branch), None, names).unwrap(),
            ["main.0123456.20261124211500"]
        );
    }

    #[test]
    fn templates_missing_their_inputs_fail_clearly() {
        let templates = TagTemplates { branch: vec!["{version}".to_string()], ..TagTemplates::default() };
        let err = compute(
            &templates,
            &event(EventKind::Branch),
            None,
            VariantNames { name: None, aliases: &[], default: true },
        )
        .unwrap_err();
        assert!(err.contains("uses {version}, but no version is known"), "{err}");
        let mut e = event(EventKind::Branch);
        e.sha = None;
        e.branch = Some("local".to_string());
        assert_eq!(tags(&e, None, None, &[], true), ["local"], "no commit known: the sha tag is skipped");
    }

    #[test]
    fn template_checks() {
        assert_eq!(check_template("{version}-{variant}"), Ok(()));
        assert_eq!(check_template("latest"), Ok(()));
        assert_eq!(
            check_template("{vesion}"),
            Err("unknown placeholder {vesion}; did you mean {version}?".to_string())
        );
        assert!(check_template("{version").is_err());
        assert!(check_template("a}b").is_err());
        assert!(check_template("-{version}").is_err(), "a tag cannot start with `-`");
        assert!(check_template("a/b").is_err());
        assert!(check_template("").is_err());
    }

    #[test]
    fn tag_grammar() {
        assert_eq!(check_tag("_a.b-C9"), Ok(()));
        assert!(check_tag(&"a".repeat(128)).is_ok());
        assert!(check_tag(&"a".repeat(129)).is_err());
        assert!(check_tag(".a").is_err());
        assert!(check_tag("a:b").is_err());
    }

    #[test]
    fn schedules_and_dates() {
        let e = event(EventKind::Schedule);
        assert_eq!(tags(&e, None, None, &[], true), ["nightly", "nightly-20261124"]);
        assert_eq!(tags(&e, None, Some("slim"), &[], false), ["nightly-slim"]);
        let custom = TagTemplates { branch: vec!["{branch}-{date}".into()], ..TagTemplates::default() };
        let rendered =
            compute(&custom, &event(EventKind::Branch), None, VariantNames { name: None, aliases: &[], default: true });
        assert_eq!(rendered.unwrap(), ["main-20261124"]);
        assert_eq!(check_template("nightly-{date}"), Ok(()));
    }

    /// docker/metadata-action's documented examples (README, `type=semver`, `type=ref`,
    /// `type=sha`, pull requests, `latest`), with the default templates here. Where the
    /// README of this project states another policy on purpose, the case asserts that policy
    /// and says which: the pre-release rule and the major-zero rule (see the module doc), and
    /// the branch tag with the short sha beside it (README, "Tag policy").
    #[test]
    fn metadata_action_examples() {
        /// A case: what metadata-action documents, the event here, and the tags expected here.
        struct Case {
            documented: &'static str,
            kind: EventKind,
            version: Option<&'static str>,
            branch: &'static str,
            expected: &'static [&'static str],
            /// Where this project states another policy on purpose (README, "Tag policy").
            policy: Option<&'static str>,
        }
        let sha = "90dd6032fac8bda1b6c4436a2e65de27961ed071";
        let cases = [
            Case {
                documented: "type=semver {{version}}, {{major}}.{{minor}}, {{major}} on v1.2.3, latest=auto: 1.2.3, 1.2, 1, latest",
                kind: EventKind::Release,
                version: Some("v1.2.3"),
                branch: "main",
                expected: &["latest", "1.2.3", "1.2", "1"],
                policy: None,
            },
            Case {
                documented: "type=semver on v2.0.8-beta.67: 2.0.8-beta.67 for every pattern, no latest",
                kind: EventKind::Release,
                version: Some("v2.0.8-beta.67"),
                branch: "main",
                expected: &["2.0.8-beta.67"],
                policy: Some("a pre-release keeps only templates with {version}"),
            },
            Case {
                documented: "major version zero, v0.1.2: 0.1.2, 0.1, and {{major}} disabled by an enable= expression",
                kind: EventKind::Release,
                version: Some("v0.1.2"),
                branch: "main",
                expected: &["latest", "0.1.2", "0.1"],
                policy: Some("{major} alone is skipped while the major is 0, by default"),
            },
            Case {
                documented: "meta.test.ts fixture v9.5.7-alpha.2+fork.3.1.8: no build metadata in a tag",
                kind: EventKind::Release,
                version: Some("v9.5.7-alpha.2+fork.3.1.8"),
                branch: "main",
                expected: &["9.5.7-alpha.2"],
                policy: None,
            },
            Case {
                documented: "type=ref,event=branch on refs/heads/my/branch: my-branch; type=sha: sha-90dd603",
                kind: EventKind::Branch,
                version: None,
                branch: "my/branch",
                expected: &["my-branch", "my-branch-90dd603"],
                policy: Some("the short sha goes beside the branch, not as sha-<sha>"),
            },
            Case {
                documented: "latest on a branch push: none (latest comes only with semver, ref,event=tag or match)",
                kind: EventKind::Branch,
                version: None,
                branch: "dev",
                expected: &["dev", "dev-90dd603"],
                policy: None,
            },
            Case {
                documented: "type=ref,event=tag on refs/tags/release1 (no semver): release1",
                kind: EventKind::Branch,
                version: None,
                branch: "release1",
                expected: &["release1", "release1-90dd603"],
                policy: Some("a tag that is no release builds like a branch named after it, sha beside it"),
            },
            Case {
                documented: "type=ref,event=pr on refs/pull/2/merge: pr-2",
                kind: EventKind::PullRequest,
                version: None,
                branch: "feature",
                expected: &["pr-2"],
                policy: None,
            },
            Case {
                documented: "type=schedule, default pattern: nightly",
                kind: EventKind::Schedule,
                version: None,
                branch: "main",
                expected: &["nightly", "nightly-20261124"],
                policy: Some("a dated tag beside nightly, from the schedule templates"),
            },
        ];
        for case in cases {
            let mut e = event(case.kind);
            e.branch = Some(case.branch.to_string());
            e.sha = Some(sha.to_string());
            e.pr = Some(2);
            let got = tags(&e, case.version.map(|v| v.strip_prefix('v').unwrap_or(v)), None, &[], true);
            assert_eq!(got, case.expected, "{} (policy: {:?})", case.documented, case.policy);
        }
        assert_eq!(Version::parse("v1.2.3").unwrap().tag, "1.2.3", "`v1.2.3` with {{version}} is `1.2.3`");
    }
}
