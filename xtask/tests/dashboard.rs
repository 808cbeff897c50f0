//! `report --format html` opened in a real headless Chromium (Debian's package, which
//! `cargo xtask provision` installs): every chart is drawn with the points the recorded
//! metrics give, nothing is fetched, and a screenshot is kept under the test target directory.

mod common;

use std::process::Command;

use common::{fixture, xtask_ok};
use xtask::core::metrics::{RunRecord, UnitPlatformRecord};
use xtask::core::release::ReleaseRecord;

fn platform(unit: &str, platform: &str, status: &str, seconds: Option<f64>, size: Option<u64>) -> UnitPlatformRecord {
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

fn run(command: &str, at: &str, success: bool, units: Vec<UnitPlatformRecord>) -> RunRecord {
    RunRecord {
        run_id: at.into(),
        command: command.into(),
        event: "branch".into(),
        git_sha: None,
        started_at: at.into(),
        seconds: 3.0,
        success,
        units,
    }
}

/// Headless Chromium as the issue prescribes it, with a profile of its own.
fn chromium(profile: &camino::Utf8Path, args: &[&str]) -> std::process::Output {
    Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        .arg(format!("--user-data-dir={profile}"))
        .args(args)
        .output()
        .expect("chromium runs (cargo xtask provision installs it)")
}

#[test]
fn the_html_report_draws_every_chart_in_a_real_browser() {
    let root = fixture("multi");
    let target = root.join("target/xtask");
    std::fs::create_dir_all(target.join("releases")).unwrap();
    let runs = [
        run(
            "build",
            "2026-11-02T10:00:00Z",
            true,
            vec![
                platform("base", "linux/amd64", "built", Some(12.0), Some(900_000)),
                platform("base", "linux/arm64", "built", Some(41.0), Some(950_000)),
                platform("app:quiet", "linux/amd64", "built", Some(3.0), Some(910_000)),
                platform("app:quiet", "linux/arm64", "built", Some(9.0), Some(960_000)),
            ],
        ),
        run(
            "build",
            "2026-11-09T10:00:00Z",
            true,
            vec![
                platform("base", "linux/amd64", "skipped", None, None),
                platform("base", "linux/arm64", "skipped", None, None),
                platform("app:quiet", "linux/amd64", "built", Some(4.0), Some(1_200_000)),
                platform("app:quiet", "linux/arm64", "built", Some(11.0), Some(990_000)),
            ],
        ),
        run("verify-manifests", "2026-11-09T10:05:00Z", false, vec![]),
        run("test", "2026-11-09T10:06:00Z", true, vec![]),
    ];
    let lines: Vec<String> = runs.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    std::fs::write(target.join("metrics.jsonl"), lines.join("\n") + "\n").unwrap();
    for (i, (run, published)) in [("r1", "2026-11-02T10:10:00Z"), ("r2", "2026-11-09T10:10:00Z")].iter().enumerate() {
        let record = ReleaseRecord {
            run: run.to_string(),
            sequence: i as u64 + 1,
            created: published.to_string(),
            committed: Some("2026-11-02T09:10:00Z".into()),
            published: Some(published.to_string()),
            unit: "app:quiet".into(),
            repository: "localhost:5000/app".into(),
            index: format!("sha256:{}", i.to_string().repeat(64)),
            moves: vec![],
        };
        std::fs::write(target.join(format!("releases/{i}-{run}.json")), serde_json::to_string(&record).unwrap())
            .unwrap();
    }
    let page = root.join("report.html");
    let out = xtask_ok(&root, "localhost:5000", &["report", "--format", "html", "--output", page.as_str()]);
    assert!(out.contains("report.html"), "{out}");
    // The same figures for a job summary and for machines.
    let markdown = xtask_ok(&root, "localhost:5000", &["--format", "markdown", "report"]);
    assert!(markdown.contains("| Change failure rate | 50 % |"), "{markdown}");
    let json: serde_json::Value =
        serde_json::from_str(&xtask_ok(&root, "localhost:5000", &["--format", "json", "report"])).unwrap();
    assert_eq!(
        (json["dora"]["deployments"].as_u64(), json["dora"]["change_failure_rate"].as_f64()),
        (Some(2), Some(0.5))
    );

    let profile = root.join("chromium-profile");
    let dom = chromium(&profile, &["--dump-dom", &format!("file://{page}")]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    let drawn: Vec<(String, usize)> = dom
        .split("<figure class=\"chart\" data-chart=\"")
        .skip(1)
        .map(|figure| {
            let id = figure.split('"').next().unwrap().to_string();
            let body = &figure[..figure.find("</figure>").expect("the browser closed every figure")];
            (id, body.matches("class=\"point\"").count())
        })
        .collect();
    let expected = [
        // On each platform: base once (its second run was a no-op), app:quiet twice.
        ("durations-linux/amd64", 3),
        ("durations-linux/arm64", 3),
        // build (2 ok), test (1 ok), verify-manifests (1 failed).
        ("success", 3),
        ("size-app:quiet", 4),
        ("size-base", 2),
        ("spread", 2),
        // Run one built four, run two built two and found two up to date.
        ("noop", 3),
    ];
    let expected: Vec<(String, usize)> = expected.iter().map(|(id, n)| (id.to_string(), *n)).collect();
    assert_eq!(drawn, expected, "the charts the browser shows");
    assert!(dom.contains("Change failure rate") && dom.contains("50 %"), "r2 was followed by a failed verify");
    assert!(dom.contains("class=\"grown\""), "910 kB to 1.2 MB is ringed");

    let shot = camino::Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let taken =
        chromium(&profile, &[&format!("--screenshot={shot}"), "--window-size=820,2600", &format!("file://{page}")]);
    assert!(taken.status.success(), "{}", String::from_utf8_lossy(&taken.stderr));
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real picture: {} bytes", png.len());
}
