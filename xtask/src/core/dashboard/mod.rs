//! What `report --format html|markdown` shows, computed from the records alone: the chart
//! series of `metrics.jsonl` and the DORA figures of the release records and rollbacks. Pure:
//! `commands::report` reads the files, `html` draws.

pub mod html;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::core::event::parse_utc;
use crate::core::metrics::RunRecord;
use crate::core::release::ReleaseRecord;
use crate::core::text::markdown_cell;

/// A compressed size this much larger than the previous one is marked.
pub const GROWTH_MARK: f64 = 0.20;

/// One line of a chart: a label and its points, oldest first, each `(x label, value)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub label: String,
    pub points: Vec<(String, f64)>,
}

/// The compressed size of one unit on one platform over the runs that measured it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeSeries {
    pub unit: String,
    pub platform: String,
    pub points: Vec<(String, f64)>,
    /// The unit's `[size] max` budget, drawn as a line.
    pub budget: Option<u64>,
    /// Indexes of the points that grew more than [`GROWTH_MARK`] over the one before.
    pub grown: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    /// Build seconds per unit, one chart per platform (native beside emulated).
    pub durations: BTreeMap<String, Vec<Series>>,
    /// Per command: runs, and how many succeeded.
    pub success: Vec<(String, usize, usize)>,
    pub sizes: Vec<SizeSeries>,
    /// Per unit, the latest amd64 and arm64 compressed sizes.
    pub spread: Vec<(String, u64, u64)>,
    /// Per build run (its start): platforms built, and platforms found up to date.
    pub noop: Vec<(String, usize, usize)>,
    pub dora: Dora,
}

/// The four DORA figures, each with what it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dora {
    /// Publishing runs (one or more release records sharing a run id).
    pub deployments: usize,
    pub weeks: f64,
    pub per_week: Option<f64>,
    /// Median seconds from commit to publish, over the records that know both.
    pub lead_time: Option<f64>,
    pub lead_time_samples: usize,
    /// Deployments later rolled back, or followed by a failed `verify-manifests` or `test`
    /// before the next deployment.
    pub failed: Vec<String>,
    pub change_failure_rate: Option<f64>,
    /// Median seconds from a failed deployment to the rollback or next good deployment.
    pub time_to_restore: Option<f64>,
    pub restores: usize,
}

/// The last `last` runs of each command, the `[size] max` budgets by unit id, and every
/// release record, oldest first.
pub fn dashboard(
    runs: &[RunRecord],
    last: usize,
    budgets: &BTreeMap<String, u64>,
    releases: &[ReleaseRecord],
) -> Dashboard {
    let window = crate::core::metrics::window(runs, last);
    let when = |run: &RunRecord| run.started_at.get(..16).unwrap_or(&run.started_at).replace('T', " ");

    let mut durations: BTreeMap<String, BTreeMap<String, Vec<(String, f64)>>> = BTreeMap::new();
    let mut sizes: BTreeMap<(String, String), Vec<(String, f64)>> = BTreeMap::new();
    let mut noop = Vec::new();
    for run in &window {
        for unit in &run.units {
            if let Some(size) = unit.compressed_size {
                let series = sizes.entry((unit.unit.clone(), unit.platform.clone())).or_default();
                // One point per run: several commands may measure the same image.
                if series.last().is_none_or(|(x, v)| *x != when(run) || *v != size as f64) {
                    series.push((when(run), size as f64));
                }
            }
        }
        if run.command != "build" {
            continue;
        }
        let built: Vec<_> = run.units.iter().filter(|u| u.status == "built" && !u.skipped).collect();
        let up_to_date = run.units.iter().filter(|u| u.skipped).count();
        noop.push((when(run), built.len(), up_to_date));
        for unit in built {
            if let Some(seconds) = unit.seconds {
                let chart = durations.entry(unit.platform.clone()).or_default();
                chart.entry(unit.unit.clone()).or_default().push((when(run), seconds));
            }
        }
    }
    let mut success: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for run in &window {
        let entry = success.entry(run.command.clone()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(run.success);
    }
    let sizes: Vec<SizeSeries> = sizes
        .into_iter()
        .map(|((unit, platform), points)| {
            let grown = (1..points.len())
                .filter(|&i| points[i - 1].1 > 0.0 && points[i].1 > points[i - 1].1 * (1.0 + GROWTH_MARK))
                .collect();
            let budget = budgets.get(&unit).copied();
            SizeSeries { unit, platform, points, budget, grown }
        })
        .collect();
    let latest = |unit: &str, platform: &str| {
        sizes
            .iter()
            .find(|s| s.unit == unit && s.platform == platform)
            .and_then(|s| s.points.last())
            .map(|p| p.1 as u64)
    };
    let units: BTreeSet<&str> = sizes.iter().map(|s| s.unit.as_str()).collect();
    let spread = units
        .into_iter()
        .filter_map(|u| Some((u.to_string(), latest(u, "linux/amd64")?, latest(u, "linux/arm64")?)))
        .collect();
    Dashboard {
        durations: durations
            .into_iter()
            .map(|(platform, units)| {
                (platform, units.into_iter().map(|(label, points)| Series { label, points }).collect())
            })
            .collect(),
        success: success.into_iter().map(|(c, (runs, ok))| (c, runs, ok)).collect(),
        sizes,
        spread,
        noop,
        dora: dora(runs, releases),
    }
}

/// The DORA figures of `releases` (any order) and the rollbacks and checks among `runs`.
pub fn dora(runs: &[RunRecord], releases: &[ReleaseRecord]) -> Dora {
    // A deployment is a publishing run: its time is its earliest record's.
    let mut deployments: BTreeMap<&str, (u64, Vec<&ReleaseRecord>)> = BTreeMap::new();
    for record in releases {
        let Some(at) = record.published.as_deref().or(Some(record.created.as_str())).and_then(parse_utc) else {
            continue;
        };
        let entry = deployments.entry(&record.run).or_insert((at, Vec::new()));
        entry.0 = entry.0.min(at);
        entry.1.push(record);
    }
    let mut ordered: Vec<(&str, u64, Vec<&ReleaseRecord>)> =
        deployments.into_iter().map(|(run, (at, records))| (run, at, records)).collect();
    ordered.sort_by_key(|(run, at, _)| (*at, *run));
    let weeks = match (ordered.first(), ordered.last()) {
        (Some(first), Some(last)) => ((last.1 - first.1) as f64 / (7.0 * 86_400.0)).max(1.0),
        _ => 0.0,
    };
    let mut leads: Vec<f64> = releases
        .iter()
        .filter_map(|r| {
            let committed = parse_utc(r.committed.as_deref()?)?;
            let published = parse_utc(r.published.as_deref()?)?;
            published.checked_sub(committed).map(|s| s as f64)
        })
        .collect();
    let rollbacks: Vec<(u64, &str, &str)> = runs
        .iter()
        .filter(|r| r.command == "rollback" && r.success)
        .filter_map(|r| Some((parse_utc(&r.started_at)?, r)))
        .flat_map(|(at, r)| r.units.iter().filter_map(move |u| Some((at, u.unit.as_str(), u.digest.as_deref()?))))
        .collect();
    let failed_checks: Vec<u64> = runs
        .iter()
        .filter(|r| !r.success && (r.command == "verify-manifests" || r.command == "test"))
        .filter_map(|r| parse_utc(&r.started_at))
        .collect();
    // A rollback undoes the latest deployment at or before it that published the index.
    let undone_by = |i: usize| -> Option<u64> {
        let (_, at, records) = &ordered[i];
        rollbacks
            .iter()
            .filter(|(t, unit, index)| {
                *t >= *at
                    && records.iter().any(|r| r.unit == *unit && r.index == *index)
                    && !ordered[i + 1..].iter().any(|(_, later_at, later)| {
                        *later_at <= *t && later.iter().any(|r| r.unit == *unit && r.index == *index)
                    })
            })
            .map(|(t, _, _)| *t)
            .min()
    };
    let outcomes: Vec<(Option<u64>, bool)> = (0..ordered.len())
        .map(|i| {
            let (at, next) = (ordered[i].1, ordered.get(i + 1).map(|n| n.1));
            let check_failed = failed_checks.iter().any(|t| *t >= at && next.is_none_or(|n| *t < n));
            (undone_by(i), check_failed)
        })
        .collect();
    let is_failed = |i: usize| outcomes[i].0.is_some() || outcomes[i].1;
    let mut failed = Vec::new();
    let mut restores: Vec<f64> = Vec::new();
    for (i, (run, at, _)) in ordered.iter().enumerate() {
        if !is_failed(i) {
            continue;
        }
        failed.push(run.to_string());
        // Restored by its rollback, or by the next deployment that did not fail itself.
        let next_good = (i + 1..ordered.len()).find(|&j| !is_failed(j)).map(|j| ordered[j].1);
        if let Some(restored) = [outcomes[i].0, next_good].into_iter().flatten().min() {
            restores.push(restored.saturating_sub(*at) as f64);
        }
    }
    let count = ordered.len();
    Dora {
        deployments: count,
        weeks,
        per_week: (count > 0).then(|| count as f64 / weeks),
        lead_time_samples: leads.len(),
        lead_time: median(&mut leads),
        change_failure_rate: (count > 0).then(|| failed.len() as f64 / count as f64),
        failed,
        restores: restores.len(),
        time_to_restore: median(&mut restores),
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] })
}

/// A duration in seconds as people read it: `42 s`, `3.5 min`, `2.1 h`, `4.0 d`.
pub fn span(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5400.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

/// The DORA figures as rows: name, value, definition and source.
pub fn dora_rows(d: &Dora) -> Vec<[String; 4]> {
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "no data".to_string());
    vec![
        [
            "Deployment frequency".into(),
            or_none(d.per_week.map(|f| format!("{f:.1} per week"))),
            "publishing runs per week, over the weeks between the first and the last (at least one)".into(),
            format!("{} run(s) in target/xtask/releases over {:.1} week(s)", d.deployments, d.weeks),
        ],
        [
            "Lead time for changes".into(),
            or_none(d.lead_time.map(span)),
            "median time from the commit to its release record".into(),
            format!("{} release record(s) with both times", d.lead_time_samples),
        ],
        [
            "Change failure rate".into(),
            or_none(d.change_failure_rate.map(|r| format!("{:.0} %", r * 100.0))),
            "deployments later rolled back, or followed by a failed verify-manifests or test before the next".into(),
            match d.failed.is_empty() {
                true => "none failed".into(),
                false => format!("failed: {}", d.failed.join(", ")),
            },
        ],
        [
            "Time to restore".into(),
            or_none(d.time_to_restore.map(span)),
            "median time from a failed deployment to its rollback or the next good deployment".into(),
            format!("{} restore(s)", d.restores),
        ],
    ]
}

/// The same figures for a CI job summary.
pub fn markdown(d: &Dashboard) -> String {
    let mut out =
        String::from("## Builds, sizes and DORA\n\n| DORA | value | definition | from |\n| --- | --- | --- | --- |\n");
    for row in dora_rows(&d.dora) {
        out.push_str(&format!("| {} |\n", row.map(|c| markdown_cell(&c)).join(" | ")));
    }
    out.push_str("\n| command | runs | succeeded |\n| --- | --- | --- |\n");
    for (command, runs, ok) in &d.success {
        out.push_str(&format!(
            "| {} | {runs} | {ok} ({:.0} %) |\n",
            markdown_cell(command),
            *ok as f64 * 100.0 / *runs as f64
        ));
    }
    if !d.spread.is_empty() {
        out.push_str("\n| unit | amd64 | arm64 | arm64 / amd64 |\n| --- | --- | --- | --- |\n");
        for (unit, amd64, arm64) in &d.spread {
            let ratio = *arm64 as f64 / (*amd64).max(1) as f64;
            let (a, b) = (crate::core::text::human(*amd64), crate::core::text::human(*arm64));
            out.push_str(&format!("| {} | {a} | {b} | {ratio:.2} |\n", markdown_cell(unit)));
        }
    }
    let grown: Vec<String> = d
        .sizes
        .iter()
        .flat_map(|s| s.grown.iter().map(move |&i| format!("{} {} at {}", s.unit, s.platform, s.points[i].0)))
        .collect();
    if !grown.is_empty() {
        out.push_str(&format!("\nGrew more than {:.0} %: {}\n", GROWTH_MARK * 100.0, markdown_cell(&grown.join("; "))));
    }
    out
}

#[cfg(test)]
mod tests;
