use super::*;
use crate::core::metrics::UnitPlatformRecord;

fn unit(unit: &str, platform: &str, status: &str, seconds: Option<f64>, size: Option<u64>) -> UnitPlatformRecord {
    UnitPlatformRecord {
        unit: unit.into(),
        platform: platform.into(),
        status: status.into(),
        seconds,
        digest: None,
        input_digest: None,
        skipped: status == "skipped",
        compressed_size: size,
    }
}

fn run(command: &str, started_at: &str, success: bool, units: Vec<UnitPlatformRecord>) -> RunRecord {
    RunRecord {
        run_id: started_at.into(),
        command: command.into(),
        event: "branch".into(),
        git_sha: None,
        started_at: started_at.into(),
        seconds: 1.0,
        success,
        units,
    }
}

fn release(run: &str, unit: &str, index: &str, committed: &str, published: &str) -> ReleaseRecord {
    ReleaseRecord {
        run: run.into(),
        sequence: 0,
        created: published.into(),
        committed: Some(committed.into()),
        published: Some(published.into()),
        unit: unit.into(),
        repository: format!("r/{unit}"),
        index: index.into(),
        moves: vec![],
    }
}

/// Three weeks: four releases, the second rolled back two hours later, the third followed
/// by a failed verify; builds on both platforms, one no-op, sizes that grow.
fn fixture() -> (Vec<RunRecord>, Vec<ReleaseRecord>) {
    let runs = vec![
        run(
            "build",
            "2026-11-02T10:00:00Z",
            true,
            vec![
                unit("app", "linux/amd64", "built", Some(20.0), Some(10_000)),
                unit("app", "linux/arm64", "built", Some(90.0), Some(11_000)),
            ],
        ),
        run(
            "build",
            "2026-11-09T10:00:00Z",
            true,
            vec![
                unit("app", "linux/amd64", "built", Some(22.0), Some(13_000)),
                unit("app", "linux/arm64", "built", Some(95.0), Some(11_500)),
            ],
        ),
        run(
            "rollback",
            "2026-11-09T12:00:00Z",
            true,
            vec![UnitPlatformRecord { digest: Some("sha256:b".into()), ..unit("app", "", "rolled-back", None, None) }],
        ),
        run(
            "build",
            "2026-11-16T10:00:00Z",
            true,
            vec![unit("app", "linux/amd64", "skipped", None, None), unit("app", "linux/arm64", "skipped", None, None)],
        ),
        run("verify-manifests", "2026-11-16T11:00:00Z", false, vec![]),
        run("test", "2026-11-23T11:00:00Z", true, vec![]),
    ];
    let releases = vec![
        release("r1", "app", "sha256:a", "2026-11-02T09:00:00Z", "2026-11-02T10:10:00Z"),
        release("r2", "app", "sha256:b", "2026-11-09T09:30:00Z", "2026-11-09T10:10:00Z"),
        release("r3", "app", "sha256:c", "2026-11-16T08:00:00Z", "2026-11-16T10:10:00Z"),
        release("r4", "app", "sha256:d", "2026-11-23T09:00:00Z", "2026-11-23T10:10:00Z"),
    ];
    (runs, releases)
}

#[test]
fn dora_counts_deployments_lead_times_failures_and_restores() {
    let (runs, releases) = fixture();
    let d = dora(&runs, &releases);
    assert_eq!(d.deployments, 4);
    assert!((d.weeks - 3.0).abs() < 1e-9, "{}", d.weeks);
    assert!((d.per_week.unwrap() - 4.0 / 3.0).abs() < 1e-9);
    // Leads: 70, 40, 130 and 70 minutes: the median is 70.
    assert_eq!((d.lead_time, d.lead_time_samples), (Some(4200.0), 4));
    assert_eq!(d.failed, ["r2", "r3"], "r2 was rolled back, verify failed after r3");
    assert_eq!(d.change_failure_rate, Some(0.5));
    // r2: rolled back after 1 h 50 min; r3: restored by r4 a week later.
    assert_eq!(d.restores, 2);
    assert_eq!(d.time_to_restore, Some((6600.0 + 7.0 * 86_400.0) / 2.0));
    let rows = dora_rows(&d);
    assert_eq!(rows[0][1], "1.3 per week");
    assert_eq!(rows[1][1], "70.0 min");
    assert_eq!(rows[2][1], "50 %");
    assert_eq!(rows[2][3], "failed: r2, r3");

    // A later deployment that failed too is no restore; a re-publish of the same index is
    // what a rollback after it undoes, not the first publish.
    let (mut runs, mut releases) = fixture();
    runs.push(run("verify-manifests", "2026-11-23T12:00:00Z", false, vec![]));
    releases.push(release("r5", "app", "sha256:e", "2026-11-30T09:00:00Z", "2026-11-30T10:10:00Z"));
    let d = dora(&runs, &releases);
    assert_eq!(d.failed, ["r2", "r3", "r4"]);
    assert_eq!(d.restores, 3);
    releases.push(release("r6", "app", "sha256:a", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"));
    runs.push(run(
        "rollback",
        "2026-12-01T11:00:00Z",
        true,
        vec![UnitPlatformRecord { digest: Some("sha256:a".into()), ..unit("app", "", "rolled-back", None, None) }],
    ));
    let d = dora(&runs, &releases);
    assert_eq!(d.failed, ["r2", "r3", "r4", "r6"], "the rollback undid r6, not r1");

    let empty = dora(&[], &[]);
    assert_eq!((empty.deployments, empty.per_week, empty.lead_time, empty.change_failure_rate), (0, None, None, None));
    assert!(dora_rows(&empty).iter().all(|r| r[1] == "no data"));
}

#[test]
fn the_charts_take_their_series_from_the_window() {
    let (runs, releases) = fixture();
    let budgets = BTreeMap::from([("app".to_string(), 12_500)]);
    let d = dashboard(&runs, 20, &budgets, &releases);
    let amd64 = &d.durations["linux/amd64"];
    assert_eq!(amd64.len(), 1);
    assert_eq!(amd64[0].points, [("2026-11-02 10:00".to_string(), 20.0), ("2026-11-09 10:00".to_string(), 22.0)]);
    assert_eq!(d.durations["linux/arm64"][0].points.len(), 2, "the no-op run times no build");
    assert_eq!(
        d.success,
        [("build".into(), 3, 3), ("rollback".into(), 1, 1), ("test".into(), 1, 1), ("verify-manifests".into(), 1, 0)]
    );
    let amd64_size = d.sizes.iter().find(|s| s.platform == "linux/amd64").unwrap();
    assert_eq!((amd64_size.budget, amd64_size.grown.as_slice()), (Some(12_500), &[1][..]), "10 000 to 13 000 is 30 %");
    assert!(d.sizes.iter().find(|s| s.platform == "linux/arm64").unwrap().grown.is_empty());
    assert_eq!(d.spread, [("app".to_string(), 13_000, 11_500)]);
    assert_eq!(d.noop.iter().map(|(_, b, s)| (*b, *s)).collect::<Vec<_>>(), [(2, 0), (2, 0), (0, 2)]);
    // The window: the last run of each command.
    let last = dashboard(&runs, 1, &budgets, &releases);
    assert_eq!(last.noop.len(), 1);
    assert_eq!(last.dora, d.dora, "DORA covers every record, not the window");
}

#[test]
fn the_page_draws_every_point_and_escapes_what_it_reads() {
    let (mut runs, releases) = fixture();
    runs.push(run(
        "build",
        "2026-11-30T10:00:00Z",
        true,
        vec![unit("<script>x</script>", "linux/amd64", "built", Some(5.0), None)],
    ));
    let d = dashboard(&runs, 20, &BTreeMap::new(), &releases);
    let page = html::page(&d, "linux/amd64", "2026-12-01T00:00:00Z");
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
    assert!(!page.contains("<script") && page.contains("&lt;script&gt;x&lt;/script&gt;"));
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("src="), "nothing is fetched");
    let charts: Vec<(&str, usize)> = page
        .split("<figure class=\"chart\" data-chart=\"")
        .skip(1)
        .map(|f| {
            let id = f.split('"').next().unwrap();
            let body = &f[..f.find("</figure>").unwrap()];
            let declared: usize =
                body.split("data-points=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
            assert_eq!(body.matches("class=\"point\"").count(), declared, "{id}");
            (id, declared)
        })
        .collect();
    assert_eq!(
        charts,
        [
            ("durations-linux/amd64", 3),
            ("durations-linux/arm64", 2),
            ("success", 4),
            ("size-app", 4),
            ("spread", 1),
            ("noop", 4)
        ]
    );
    assert!(page.contains("(native), seconds") && page.contains("(emulated), seconds"));
    assert!(page.contains("class=\"grown\""), "the 30 % growth is ringed");
    let md = markdown(&d);
    assert!(md.contains("| Change failure rate | 50 % |"), "{md}");
    assert!(md.contains("Grew more than 20 %: app linux/amd64 at 2026-11-09 10:00"), "{md}");
}

#[test]
fn the_pulls_page_charts_each_image_by_platform() {
    let record = |repository: &str, platform: &str| crate::core::analytics::PullRecord {
        time: "2026-12-01T10:00:00Z".into(),
        repository: repository.into(),
        tag: Some("1.0".into()),
        digest: format!("sha256:{}", "a".repeat(64)),
        platform: Some(platform.into()),
        user_agent: "docker".into(),
    };
    let records = [
        record("acme/app", "linux/arm64"),
        record("acme/app", "linux/amd64"),
        record("<b>", "linux/arm64"),
        record("acme/app", "</title><script>x</script>"),
    ];
    let report = crate::core::analytics::report(&records, None, BTreeMap::new());
    let page = html::pulls_page(&report, "2026-12-01T11:00:00Z");
    assert!(page.contains("arm64 share: <strong>50 %</strong>"), "{page}");
    assert!(!page.contains("<script>"), "a platform name from a registry is escaped everywhere");
    assert!(
        page.contains("data-chart=\"pulls\" data-points=\"4\"")
            && page.contains("data-chart=\"top-arm64\" data-points=\"2\"")
    );
    assert!(!page.contains("<b>") && page.contains("&lt;b&gt;"));
}
