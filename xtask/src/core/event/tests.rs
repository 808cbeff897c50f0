use super::*;

fn git(branch: Option<&str>, tag: Option<&str>) -> GitFacts {
    GitFacts {
        sha: "abcdef0123".to_string(),
        commit_time: 0,
        branch: branch.map(str::to_string),
        tags: tag.into_iter().map(str::to_string).collect(),
    }
}

fn env(pairs: &[(&str, &str)]) -> CiEnv {
    CiEnv::from_pairs(pairs)
}

fn detect_ok(flags: &EventFlags, ci: CiEnv, g: Option<&GitFacts>) -> Event {
    detect(flags, &ci, g, &ReleaseRule::default(), Clock::at("20260101000000")).unwrap()
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
fn a_tag_without_v_is_a_whole_release() {
    // metadata-action: `type=semver` takes `1.2.3` as it takes `v1.2.3`.
    let e = detect_ok(&EventFlags::default(), env(&[]), Some(&git(Some("main"), Some("1.2.3"))));
    assert_eq!((e.kind, e.version.as_deref()), (EventKind::Release, Some("1.2.3")));
    let e = detect_ok(
        &EventFlags::default(),
        env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/tags/1.2.3"), ("GITHUB_SHA", "f00")]),
        None,
    );
    assert_eq!((e.kind, e.version.as_deref()), (EventKind::Release, Some("1.2.3")));
}

#[test]
fn github_variables_beat_git() {
    let g = git(Some("main"), None);
    let e = detect_ok(
        &EventFlags::default(),
        env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/tags/v2.0.0-rc.1"), ("GITHUB_SHA", "f00")]),
        Some(&g),
    );
    assert_eq!((e.kind, e.version.as_deref(), e.sha.as_deref()), (EventKind::Release, Some("2.0.0-rc.1"), Some("f00")));
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
        env(&[("GITHUB_EVENT_NAME", "workflow_dispatch"), ("GITHUB_REF", "refs/heads/main"), ("GITHUB_SHA", "f00")]),
        None,
    );
    assert_eq!(e.kind, EventKind::Manual);
}

#[test]
fn pull_request_target_reads_the_number_from_the_payload() {
    // metadata-action's event_pull_request_target fixture: GITHUB_REF is the base branch.
    let mut ci = env(&[
        ("GITHUB_EVENT_NAME", "pull_request_target"),
        ("GITHUB_REF", "refs/heads/master"),
        ("GITHUB_HEAD_REF", "feature-branch"),
        ("GITHUB_SHA", "1e9249f05bfc090e0688b8fb9c1b347586add504"),
    ]);
    ci.event_payload = Some(r#"{"action":"opened","number":15,"pull_request":{"number":15}}"#.to_string());
    let e = detect_ok(&EventFlags::default(), ci.clone(), None);
    assert_eq!((e.kind, e.pr, e.branch.as_deref()), (EventKind::PullRequest, Some(15), Some("feature-branch")));
    ci.event_payload = Some(r#"{"pull_request":{"number":7}}"#.to_string());
    assert_eq!(detect_ok(&EventFlags::default(), ci.clone(), None).pr, Some(7));
    ci.event_payload = None;
    let err = detect(&EventFlags::default(), &ci, None, &ReleaseRule::default(), Clock::default()).unwrap_err();
    assert!(err.to_string().contains("pass --pr N"), "{err}");
}

#[test]
fn empty_ci_values_count_as_unset() {
    // An empty GITHUB_SHA must not give `dev` and `dev-`; an empty event name leaves git in charge.
    let e = detect_ok(
        &EventFlags::default(),
        env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/heads/dev"), ("GITHUB_SHA", "")]),
        Some(&git(Some("dev"), None)),
    );
    assert_eq!(e.sha.as_deref(), Some("abcdef0123"), "from git");
    let e = detect_ok(&EventFlags::default(), env(&[("GITHUB_EVENT_NAME", "")]), Some(&git(None, Some("v3.1.0"))));
    assert_eq!((e.kind, e.version.as_deref()), (EventKind::Release, Some("3.1.0")));
}

#[test]
fn a_bare_ci_checkout_takes_the_branch_from_the_ci_system() {
    let detached = git(None, None);
    /// CI variables, and the event, branch and pull request they mean.
    type Case<'a> = (&'a [(&'a str, &'a str)], EventKind, &'a str, Option<u64>);
    let cases: &[Case] = &[
        (
            &[("GITLAB_CI", "true"), ("CI_COMMIT_BRANCH", "feature/a"), ("CI_COMMIT_SHA", "aa")],
            EventKind::Branch,
            "feature/a",
            None,
        ),
        (
            &[
                ("GITLAB_CI", "true"),
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_IID", "12"),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "fix/b"),
            ],
            EventKind::PullRequest,
            "fix/b",
            Some(12),
        ),
        (
            &[("GITLAB_CI", "true"), ("CI_PIPELINE_SOURCE", "schedule"), ("CI_COMMIT_REF_NAME", "main")],
            EventKind::Schedule,
            "main",
            None,
        ),
        (
            &[("BUILDKITE", "true"), ("BUILDKITE_BRANCH", "dev"), ("BUILDKITE_PULL_REQUEST", "false")],
            EventKind::Branch,
            "dev",
            None,
        ),
        (
            &[("BUILDKITE", "true"), ("BUILDKITE_BRANCH", "pr-x"), ("BUILDKITE_PULL_REQUEST", "31")],
            EventKind::PullRequest,
            "pr-x",
            Some(31),
        ),
        (&[("CIRCLECI", "true"), ("CIRCLE_BRANCH", "main"), ("CIRCLE_SHA1", "cc")], EventKind::Branch, "main", None),
        (
            &[
                ("CIRCLECI", "true"),
                ("CIRCLE_BRANCH", "y"),
                ("CIRCLE_PULL_REQUEST", "https://example.test/acme/app/pull/9"),
            ],
            EventKind::PullRequest,
            "y",
            Some(9),
        ),
        (&[("JENKINS_URL", "http://127.0.0.1/"), ("GIT_BRANCH", "origin/release")], EventKind::Branch, "release", None),
        (
            &[
                ("JENKINS_URL", "http://127.0.0.1/"),
                ("CHANGE_ID", "4"),
                ("CHANGE_BRANCH", "z"),
                ("BRANCH_NAME", "PR-4"),
            ],
            EventKind::PullRequest,
            "z",
            Some(4),
        ),
    ];
    for (vars, kind, branch, pr) in cases {
        let e = detect_ok(&EventFlags::default(), env(vars), Some(&detached));
        assert_eq!((e.kind, e.branch.as_deref(), e.pr), (*kind, Some(*branch), *pr), "{vars:?}");
    }
    for (vars, version) in [
        (&[("GITLAB_CI", "true"), ("CI_COMMIT_TAG", "v1.4.0"), ("CI_COMMIT_REF_NAME", "v1.4.0")][..], "1.4.0"),
        (&[("BUILDKITE", "true"), ("BUILDKITE_TAG", "v2.0.0")][..], "2.0.0"),
        (&[("CIRCLECI", "true"), ("CIRCLE_TAG", "3.0.0")][..], "3.0.0"),
        (&[("JENKINS_URL", "x"), ("TAG_NAME", "v4.0.1")][..], "4.0.1"),
    ] {
        let e = detect_ok(&EventFlags::default(), env(vars), Some(&detached));
        assert_eq!((e.kind, e.version.as_deref()), (EventKind::Release, Some(version)), "{vars:?}");
    }
}

#[test]
fn schedules_are_an_event() {
    let e = detect_ok(
        &EventFlags::default(),
        env(&[("GITHUB_EVENT_NAME", "schedule"), ("GITHUB_REF", "refs/heads/master"), ("GITHUB_SHA", "90dd603")]),
        None,
    );
    assert_eq!((e.kind, e.branch.as_deref()), (EventKind::Schedule, Some("master")));
    let flags = EventFlags { event: Some("schedule".into()), ..Default::default() };
    assert_eq!(detect_ok(&flags, env(&[]), None).kind, EventKind::Schedule);
    assert_eq!(detect_ok(&flags, env(&[]), None).date, "20260101");
}

#[test]
fn a_monorepo_tag_releases_its_image_only() {
    let rule = ReleaseRule { template: "{image}-v{version}", images: &["a", "b"] };
    let detect_with = |ci: CiEnv, g: Option<&GitFacts>| {
        detect(&EventFlags::default(), &ci, g, &rule, Clock::at("20260101000000")).unwrap()
    };
    let e = detect_with(env(&[]), Some(&git(Some("main"), Some("a-v1.0.0"))));
    assert_eq!(e.kind, EventKind::Release);
    assert_eq!(e.releases, BTreeMap::from([("a".to_string(), "1.0.0".to_string())]));
    assert!(e.releases_image("a") && !e.releases_image("b"));
    assert!(
        e.explain().contains("release of a 1.0.0 (event from git tag a-v1.0.0 matching release_tag"),
        "{}",
        e.explain()
    );
    let e = detect_with(env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/tags/b-v2.0.0")]), None);
    assert_eq!(e.releases, BTreeMap::from([("b".to_string(), "2.0.0".to_string())]));
    // A tag that names no image of the workspace is a tag build, like a branch.
    let e = detect_with(env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/tags/v2.0.0")]), None);
    assert_eq!((e.kind, e.branch.as_deref()), (EventKind::Branch, Some("v2.0.0")));
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
    assert_eq!(
        e.explain(),
        "event: release 3.0.1 (event from --event; version from --version; branch from --branch; sha from --sha)"
    );
}

#[test]
fn bad_flags_say_how_to_fix_them() {
    let check = |flags: EventFlags, needle: &str| {
        let err = detect(&flags, &env(&[]), None, &ReleaseRule::default(), Clock::default()).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    };
    check(
        EventFlags { event: Some("tag".into()), ..Default::default() },
        "use release, branch, pull-request, manual or schedule",
    );
    check(EventFlags { version: Some("1.2".into()), ..Default::default() }, "use X.Y.Z");
    check(EventFlags { event: Some("pull-request".into()), ..Default::default() }, "pass --pr N");
    check(EventFlags { tags: vec!["a/b".into()], ..Default::default() }, "--tag \"a/b\"");
    check(EventFlags { sha: Some("HEAD~1".into()), ..Default::default() }, "is not a commit SHA");
}

#[test]
fn git_log_decorations() {
    let facts =
        parse_git_log("abc123\n1700000000\nHEAD -> feature/x, tag: v1.2.3, tag: v1.10.0, tag: nightly, origin/main\n")
            .unwrap();
    assert_eq!(facts.sha, "abc123");
    assert_eq!(facts.commit_time, 1_700_000_000);
    assert_eq!(facts.branch.as_deref(), Some("feature/x"));
    assert_eq!(facts.tags, ["v1.2.3", "v1.10.0", "nightly"]);
    let e = detect_ok(&EventFlags::default(), env(&[]), Some(&facts));
    assert_eq!(e.version.as_deref(), Some("1.10.0"), "the highest release tag wins");
    let detached = parse_git_log("abc123\n1700000000\nHEAD, tag: v2.0.0-rc.1\n").unwrap();
    assert_eq!((detached.branch, detached.tags), (None, vec!["v2.0.0-rc.1".to_string()]));
    assert!(parse_git_log("").is_none());
}

#[test]
fn utc_formatting() {
    assert_eq!(utc(0), ("19700101000000".to_string(), "1970-01-01T00:00:00Z".to_string()));
    assert_eq!(utc(1_795_554_900).1, "2026-11-24T21:15:00Z");
    assert_eq!(utc(951_782_400).1, "2000-02-29T00:00:00Z");
}

#[test]
fn on_ci_only_the_ci_systems_tag_releases() {
    // A branch push of a commit that carries a release tag (a deep checkout sees it) is a branch build.
    let tagged = git(None, Some("v1.0.0"));
    let push = env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/heads/main"), ("GITHUB_SHA", "f00")]);
    let e = detect_ok(&EventFlags::default(), push, Some(&tagged));
    assert_eq!((e.kind, e.version.as_deref(), e.branch.as_deref()), (EventKind::Branch, None, Some("main")));
    let pr =
        env(&[("GITHUB_EVENT_NAME", "pull_request"), ("GITHUB_REF", "refs/pull/3/merge"), ("GITHUB_HEAD_REF", "x")]);
    assert_eq!(detect_ok(&EventFlags::default(), pr, Some(&tagged)).version, None);
}

#[test]
fn a_tag_build_asked_to_be_a_branch_build_is_named_after_the_tag() {
    let flags = EventFlags { event: Some("branch".into()), ..Default::default() };
    let e = detect_ok(&flags, env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/tags/v1.0.0")]), None);
    assert_eq!((e.kind, e.branch.as_deref(), e.version.as_deref()), (EventKind::Branch, Some("v1.0.0"), None));
}

#[test]
fn a_tag_that_is_no_release_says_why() {
    let e = detect_ok(
        &EventFlags::default(),
        env(&[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/tags/web-v1")]),
        None,
    );
    assert_eq!(e.kind, EventKind::Branch);
    assert!(
        e.explain().contains("GITHUB_REF=refs/tags/web-v1, which release_tag \"v{version}\" does not match"),
        "{}",
        e.explain()
    );
}

#[test]
fn circleci_schedules_and_the_date_of_the_run() {
    let e = detect_ok(
        &EventFlags::default(),
        env(&[
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_PIPELINE_TRIGGER_SOURCE", "scheduled_pipeline"),
        ]),
        None,
    );
    assert_eq!(e.kind, EventKind::Schedule);
    let clock = Clock { timestamp: "20200101000000".into(), date: "20261201".into() };
    let e = detect(&EventFlags::default(), &env(&[]), None, &ReleaseRule::default(), clock).unwrap();
    assert_eq!(
        (e.timestamp.as_str(), e.date.as_str()),
        ("20200101000000", "20261201"),
        "{{date}} is today, not the commit's"
    );
}

#[test]
fn utc_times_read_back() {
    for secs in [0, 951_782_400, 1_764_633_600, 4_102_444_799] {
        assert_eq!(parse_utc(&utc(secs).1), Some(secs), "{}", utc(secs).1);
    }
    for bad in [
        "",
        "2026-12-01",
        "2026-13-01T00:00:00Z",
        "2026-12-01T24:00:00Z",
        "2026-12-01T00:00:00+01:00",
        "x026-12-01T00:00:00Z",
    ] {
        assert_eq!(parse_utc(bad), None, "{bad}");
    }
}
