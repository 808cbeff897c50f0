//! The summary `report` prints: the last run and the trends of each command, from the records
//! of `target/xtask/metrics.jsonl`, rendered as a table or markdown.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::core::metrics::{RunRecord, UnitPlatformRecord};
use crate::core::text::human;

/// How many runs of each command the trends cover unless `--last` says otherwise.
pub const DEFAULT_LAST: usize = 20;

/// The status of a unit and platform that `build` really built; only those time a build.
const BUILT: &str = "built";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The trends cover at most this many recent runs of each command.
    pub last: usize,
    pub last_run: RunRecord,
    /// Per unit and platform, ordered by both.
    pub trends: Vec<UnitTrend>,
    pub commands: Vec<CommandTrend>,
    /// The median over units of each unit's median arm64/amd64 build-time ratio, where
    /// one run built both platforms: what emulation costs.
    pub arm64_to_amd64: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitTrend {
    pub unit: String,
    pub platform: String,
    /// Over the builds that ran (not those skipped as unchanged).
    pub median_build_seconds: Option<f64>,
    pub builds: usize,
    /// The newest compressed size any command recorded.
    pub latest_size: Option<u64>,
    /// The newest size minus the oldest one in the window.
    pub size_change: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandTrend {
    pub command: String,
    pub runs: usize,
    pub succeeded: usize,
}

/// Sums up `runs` (oldest first); trends cover the `last` newest runs of each command.
/// `None` when there is no run.
pub fn summarize(runs: &[RunRecord], last: usize) -> Option<Summary> {
    let last_run = runs.last()?.clone();
    let window = crate::core::metrics::window(runs, last);
    let names: std::collections::BTreeSet<&str> = window.iter().map(|r| r.command.as_str()).collect();

    let commands = names
        .iter()
        .map(|command| {
            let of_command: Vec<&&RunRecord> = window.iter().filter(|r| r.command == *command).collect();
            CommandTrend {
                command: command.to_string(),
                runs: of_command.len(),
                succeeded: of_command.iter().filter(|r| r.success).count(),
            }
        })
        .collect();

    let mut times: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    let mut sizes: BTreeMap<(&str, &str), Vec<u64>> = BTreeMap::new();
    let mut ratios: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in &window {
        let built: BTreeMap<(&str, &str), f64> = if run.command == "build" {
            run.units.iter().filter_map(|u| Some(((u.unit.as_str(), u.platform.as_str()), build_seconds(u)?))).collect()
        } else {
            BTreeMap::new()
        };
        for u in &run.units {
            let key = (u.unit.as_str(), u.platform.as_str());
            times.entry(key).or_default().extend(built.get(&key));
            sizes.entry(key).or_default().extend(u.compressed_size);
        }
        for ((unit, _), arm) in built.iter().filter(|((_, p), _)| *p == "linux/arm64") {
            if let Some(amd) = built.get(&(*unit, "linux/amd64")).filter(|s| **s > 0.0) {
                ratios.entry(unit).or_default().push(arm / amd);
            }
        }
    }
    let trends = times
        .into_iter()
        .filter_map(|((unit, platform), times)| {
            let sizes = &sizes[&(unit, platform)];
            if times.is_empty() && sizes.is_empty() {
                return None;
            }
            Some(UnitTrend {
                unit: unit.to_string(),
                platform: platform.to_string(),
                median_build_seconds: median(times.clone()),
                builds: times.len(),
                latest_size: sizes.last().copied(),
                size_change: sizes.first().zip(sizes.last()).map(|(a, b)| *b as i64 - *a as i64),
            })
        })
        .collect();
    let arm64_to_amd64 = median(ratios.into_values().filter_map(median).collect());
    Some(Summary { last, last_run, trends, commands, arm64_to_amd64 })
}

/// The seconds of a unit and platform that was really built.
fn build_seconds(u: &UnitPlatformRecord) -> Option<f64> {
    (u.status == BUILT && !u.skipped).then_some(u.seconds).flatten()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

fn seconds(s: f64) -> String {
    crate::core::text::duration(Duration::from_secs_f64(s.max(0.0)))
}

fn signed_size(change: i64) -> String {
    let sign = if change < 0 { "-" } else { "+" };
    format!("{sign}{}", human(change.unsigned_abs()))
}

/// A titled table, as both renderings show it.
struct Section {
    title: String,
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

/// The sections both renderings share, then closing sentences.
fn sections(s: &Summary) -> (Vec<Section>, Vec<String>) {
    let run = &s.last_run;
    let outcome = if run.success { "succeeded" } else { "failed" };
    let last_rows = run
        .units
        .iter()
        .map(|u| {
            vec![
                u.unit.clone(),
                u.platform.clone(),
                u.status.clone(),
                u.seconds.map(seconds).unwrap_or_default(),
                u.compressed_size.map(human).unwrap_or_default(),
            ]
        })
        .collect();
    let trend_rows = s
        .trends
        .iter()
        .map(|t| {
            vec![
                t.unit.clone(),
                t.platform.clone(),
                t.median_build_seconds.map(seconds).unwrap_or_default(),
                t.builds.to_string(),
                t.latest_size.map(human).unwrap_or_default(),
                t.size_change.map(signed_size).unwrap_or_default(),
            ]
        })
        .collect();
    let command_rows = s
        .commands
        .iter()
        .map(|c| {
            let rate = 100.0 * c.succeeded as f64 / c.runs.max(1) as f64;
            vec![c.command.clone(), c.runs.to_string(), c.succeeded.to_string(), format!("{rate:.0}%")]
        })
        .collect();
    let sections = vec![
        Section {
            title: format!(
                "Last run: {} {} at {}, {outcome} in {}",
                run.command,
                run.run_id,
                run.started_at,
                seconds(run.seconds)
            ),
            headers: vec!["UNIT", "PLATFORM", "STATUS", "DURATION", "SIZE"],
            rows: last_rows,
        },
        Section {
            title: format!("Trends over the last {} runs of each command", s.last),
            headers: vec!["UNIT", "PLATFORM", "MEDIAN BUILD", "BUILDS", "SIZE", "SIZE CHANGE"],
            rows: trend_rows,
        },
        Section {
            title: "Success rate".to_string(),
            headers: vec!["COMMAND", "RUNS", "SUCCEEDED", "RATE"],
            rows: command_rows,
        },
    ];
    let ratio = match s.arm64_to_amd64 {
        Some(r) => format!("arm64 builds take {r:.1}x as long as amd64 builds (median over units)."),
        None => "No run built both arm64 and amd64 of a unit, so there is no arm64/amd64 ratio yet.".to_string(),
    };
    (sections, vec![ratio])
}

/// Plain-text tables for the terminal.
pub fn table(s: &Summary) -> String {
    let (sections, notes) = sections(s);
    let mut out = Vec::new();
    for section in sections {
        out.push(format!("{}\n{}", section.title, crate::core::text::table(&section.headers, &section.rows)));
    }
    out.extend(notes);
    out.join("\n\n")
}

/// GitHub-flavoured markdown, ready to paste as a pull-request comment.
pub fn markdown(s: &Summary) -> String {
    let (sections, notes) = sections(s);
    let mut out = String::new();
    for Section { title, headers, rows } in sections {
        out.push_str(&format!("### {title}\n\n| {} |\n|{}\n", headers.join(" | "), "---|".repeat(headers.len())));
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out.push('\n');
    }
    out.push_str(&notes.join("\n"));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(unit: &str, platform: &str, seconds: f64, size: Option<u64>) -> UnitPlatformRecord {
        UnitPlatformRecord {
            unit: unit.into(),
            platform: platform.into(),
            status: BUILT.into(),
            seconds: Some(seconds),
            digest: None,
            input_digest: None,
            skipped: false,
            compressed_size: size,
        }
    }

    fn run(command: &str, id: &str, success: bool, units: Vec<UnitPlatformRecord>) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            command: command.into(),
            event: "branch".into(),
            git_sha: None,
            started_at: format!("2026-01-0{id}T00:00:00Z"),
            seconds: 90.0,
            success,
            units,
        }
    }

    const AMD: &str = "linux/amd64";
    const ARM: &str = "linux/arm64";

    fn history() -> Vec<RunRecord> {
        let reused =
            UnitPlatformRecord { status: "up-to-date".into(), skipped: true, ..unit("base", AMD, 0.1, Some(1300)) };
        vec![
            run("build", "1", true, vec![unit("base", AMD, 100.0, Some(1000)), unit("base", ARM, 900.0, None)]),
            run("build", "2", true, vec![unit("base", AMD, 10.0, Some(1100)), unit("base", ARM, 40.0, Some(2000))]),
            run(
                "verify-manifests",
                "3",
                false,
                vec![UnitPlatformRecord { seconds: None, ..unit("base", AMD, 0.0, Some(1200)) }],
            ),
            run(
                "build",
                "4",
                false,
                vec![
                    unit("base", AMD, 20.0, None),
                    unit("base", ARM, 100.0, None),
                    unit("httpd", AMD, 2.0, None),
                    UnitPlatformRecord { status: "failed".into(), ..unit("httpd", ARM, 50.0, None) },
                ],
            ),
            run("build", "5", true, vec![reused, unit("httpd", ARM, 8.0, None), unit("httpd", AMD, 4.0, None)]),
        ]
    }

    #[test]
    fn trends_cover_the_last_runs_of_each_command() {
        let s = summarize(&history(), 3).unwrap();
        assert_eq!(s.last_run.run_id, "5");
        // Build 1 is outside the window; the reused and the failed platform builds time nothing.
        let base_amd = &s.trends[0];
        assert_eq!((base_amd.unit.as_str(), base_amd.platform.as_str()), ("base", AMD));
        assert_eq!((base_amd.median_build_seconds, base_amd.builds), (Some(15.0), 2));
        assert_eq!((base_amd.latest_size, base_amd.size_change), (Some(1300), Some(200)));
        let base_arm = &s.trends[1];
        assert_eq!(
            (base_arm.median_build_seconds, base_arm.latest_size, base_arm.size_change),
            (Some(70.0), Some(2000), Some(0))
        );
        let httpd_arm = &s.trends[3];
        assert_eq!((httpd_arm.median_build_seconds, httpd_arm.builds, httpd_arm.latest_size), (Some(8.0), 1, None));
        assert_eq!(
            s.commands,
            [
                CommandTrend { command: "build".into(), runs: 3, succeeded: 2 },
                CommandTrend { command: "verify-manifests".into(), runs: 1, succeeded: 0 }
            ]
        );
        // base: 40/10 = 4 and 100/20 = 5, median 4.5; httpd: 8/4 = 2 (run 4's arm64 failed). Median of 4.5 and 2.
        assert_eq!(s.arm64_to_amd64, Some(3.25));
        let reused_as_built = UnitPlatformRecord { skipped: true, ..unit("base", AMD, 0.1, None) };
        assert_eq!(build_seconds(&reused_as_built), None, "a skipped unit times no build, whatever its status");
        let all = summarize(&history(), 20).unwrap();
        assert_eq!(all.trends[0].median_build_seconds, Some(20.0));
        assert_eq!(all.trends[0].size_change, Some(300));
    }

    #[test]
    fn nothing_to_summarize() {
        assert_eq!(summarize(&[], 20), None);
        let s = summarize(&[run("test", "1", true, vec![])], 20).unwrap();
        assert!(s.trends.is_empty());
        assert_eq!(s.arm64_to_amd64, None);
        assert!(table(&s).contains("no arm64/amd64 ratio yet"), "{}", table(&s));
    }

    #[test]
    fn renderings() {
        let s = summarize(&history(), 3).unwrap();
        let text = table(&s);
        assert!(text.starts_with("Last run: build 5 at 2026-01-05T00:00:00Z, succeeded in 1m30s\nUNIT"), "{text}");
        assert!(text.contains("base   linux/amd64  up-to-date  0.1s      1.3 kB"), "{text}");
        assert!(text.contains("base   linux/amd64  15.0s         2       1.3 kB  +200 B"), "{text}");
        assert!(text.contains("verify-manifests  1     0          0%"), "{text}");
        assert!(text.ends_with("arm64 builds take 3.2x as long as amd64 builds (median over units)."), "{text}");
        let md = markdown(&s);
        assert!(md.starts_with("### Last run: build 5 at 2026-01-05T00:00:00Z, succeeded in 1m30s\n\n| UNIT | PLATFORM | STATUS | DURATION | SIZE |\n|---|---|---|---|---|\n| base | linux/amd64 | up-to-date | 0.1s | 1.3 kB |\n"), "{md}");
        assert!(md.contains("### Success rate\n\n| COMMAND | RUNS | SUCCEEDED | RATE |\n|---|---|---|---|\n| build | 3 | 2 | 67% |\n"), "{md}");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["arm64_to_amd64"], 3.25);
        assert_eq!(json["trends"][0]["size_change"], 200);
    }
}
