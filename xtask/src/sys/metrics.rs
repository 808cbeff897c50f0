//! Build metrics: every `build`, `test` and `verify-manifests` run appends one
//! JSON line to `target/xtask/metrics.jsonl`, which `report` summarizes.
//!
//! The file is append-only and each line goes out in one `write_all` with
//! `O_APPEND`, so concurrent runs never interleave within a line.

use std::io::Write;
use std::time::SystemTime;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::metrics::{parse, RunRecord, UnitPlatformRecord};
use crate::sys::workspace::Workspace;

/// The metrics file under `target_dir` (`target/xtask`).
pub fn path(target_dir: &Utf8Path) -> Utf8PathBuf {
    target_dir.join("metrics.jsonl")
}

/// Appends `record` as one line of the metrics file under `target_dir`.
pub fn append(target_dir: &Utf8Path, record: &RunRecord) -> Result<()> {
    let file = path(target_dir);
    let mut line = serde_json::to_vec(record).context("serializing the metrics record")?;
    line.push(b'\n');
    std::fs::create_dir_all(target_dir).with_context(|| format!("creating {target_dir}"))?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(&line))
        .with_context(|| format!("appending to {file}"))
}

/// Every record in the metrics file at `file`, oldest first. Malformed lines (a
/// run killed mid-write, a hand edit, an older format) are skipped with one warning.
pub fn read_all(file: &Utf8Path) -> Result<Vec<RunRecord>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let (records, malformed) = parse(&text);
    if malformed > 0 {
        eprintln!("warning: {file}: skipped {malformed} malformed line(s)");
    }
    Ok(records)
}

/// Appends the line of a run of `command` that began at `started`. Metrics
/// never fail a command: a write error is a warning.
pub fn record(ws: &Workspace, command: &str, started: SystemTime, success: bool, units: Vec<UnitPlatformRecord>) {
    let since_epoch = started.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
    let (stamp, rfc3339) = crate::core::event::utc(since_epoch);
    let record = RunRecord {
        run_id: format!("{stamp}-{}", std::process::id()),
        command: command.to_string(),
        event: ws
            .event()
            .ok()
            .and_then(|event| serde_json::to_value(event.kind).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        git_sha: ws.event().ok().and_then(|event| event.sha.clone()),
        started_at: rfc3339,
        seconds: started.elapsed().unwrap_or_default().as_secs_f64(),
        success,
        units,
    };
    if let Err(err) = append(&ws.target(), &record) {
        eprintln!("warning: the metrics of this run were not saved: {err:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::metrics::last_build_seconds;

    fn unit(unit: &str, platform: &str, seconds: f64) -> UnitPlatformRecord {
        UnitPlatformRecord {
            unit: unit.into(),
            platform: platform.into(),
            status: "built".into(),
            seconds: Some(seconds),
            digest: Some("sha256:aa".into()),
            input_digest: Some("sha256:bb".into()),
            skipped: false,
            compressed_size: Some(1000),
        }
    }

    fn run(id: &str, units: Vec<UnitPlatformRecord>) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            command: "build".into(),
            event: "branch".into(),
            git_sha: Some("abc".into()),
            started_at: "2026-01-01T00:00:00Z".into(),
            seconds: 3.5,
            success: true,
            units,
        }
    }

    #[test]
    fn appended_lines_read_back_and_bad_lines_are_skipped() {
        let dir = Utf8PathBuf::try_from(std::env::temp_dir())
            .unwrap()
            .join(format!("xtask-metrics-{}", std::process::id()))
            .join("target/xtask");
        let _ = std::fs::remove_dir_all(&dir);
        let first = run("1", vec![unit("base", "linux/amd64", 2.0)]);
        let second = run("2", vec![]);
        append(&dir, &first).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(path(&dir))
            .unwrap()
            .write_all(b"{\"run_id\": \"cut\n\n")
            .unwrap();
        append(&dir, &second).unwrap();
        let text = std::fs::read_to_string(path(&dir)).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with('{')).count(), 3, "one line per record:\n{text}");
        assert_eq!(parse(&text), (vec![first.clone(), second.clone()], 1));
        assert_eq!(read_all(&path(&dir)).unwrap(), [first, second]);
        std::fs::remove_dir_all(dir.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn concurrent_appends_do_not_interleave() {
        let dir = Utf8PathBuf::try_from(std::env::temp_dir())
            .unwrap()
            .join(format!("xtask-metrics-concurrent-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Lines of about 20 kB: several times a pipe buffer, so split writes would show.
        let units: Vec<UnitPlatformRecord> = (0..100).map(|i| unit(&format!("unit-{i}"), "linux/arm64", 1.0)).collect();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let (dir, units) = (&dir, &units);
                scope.spawn(move || {
                    for i in 0..25 {
                        append(dir, &run(&format!("{t}-{i}"), units.clone())).unwrap();
                    }
                });
            }
        });
        let (records, malformed) = parse(&std::fs::read_to_string(path(&dir)).unwrap());
        assert_eq!((records.len(), malformed), (100, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_latest_real_build_of_each_unit_and_platform_is_its_expected_time() {
        let failed = UnitPlatformRecord { status: "failed".into(), ..unit("base", "linux/amd64", 1.0) };
        let up_to_date = UnitPlatformRecord { skipped: true, ..unit("base", "linux/arm64", 0.1) };
        let tested = RunRecord { command: "test".into(), ..run("3", vec![unit("base", "linux/arm64", 9.0)]) };
        let records = [
            run("1", vec![unit("base", "linux/amd64", 20.0), unit("base", "linux/arm64", 150.0)]),
            run("2", vec![failed, up_to_date, unit("app", "linux/arm64", 30.0)]),
            tested,
        ];
        let seconds: Vec<(String, String, f64)> =
            last_build_seconds(&records).into_iter().map(|((u, p), s)| (u, p, s)).collect();
        assert_eq!(
            seconds,
            [
                ("app".into(), "linux/arm64".into(), 30.0),
                ("base".into(), "linux/amd64".into(), 20.0),
                ("base".into(), "linux/arm64".into(), 150.0),
            ],
            "failures, up-to-date skips and test runs say nothing about a build's duration"
        );
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let line = r#"{"run_id":"x","command":"test","event":"branch","git_sha":null,"started_at":"t","seconds":1.0,"success":false,"units":[{"unit":"a","platform":"linux/arm64","status":"passed"}]}"#;
        let (records, malformed) = parse(line);
        assert_eq!(malformed, 0);
        let u = &records[0].units[0];
        assert_eq!((u.seconds, u.skipped, u.compressed_size), (None, false, None));
    }
}
