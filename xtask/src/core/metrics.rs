//! Build metrics as records: one line of `target/xtask/metrics.jsonl` per run of `build`,
//! `test` or `verify-manifests`. `sys::metrics` reads and appends the file; `report` and the
//! scheduler read these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One run of one command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `<YYYYMMDDHHMMSS>-<pid>` of the start: unique among the runs of one machine.
    pub run_id: String,
    /// `build`, `test` or `verify-manifests`.
    pub command: String,
    /// The event kind: `release`, `branch`, `pull-request` or `manual`.
    pub event: String,
    pub git_sha: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub seconds: f64,
    /// Whether the command exited 0.
    pub success: bool,
    pub units: Vec<UnitPlatformRecord>,
}

/// What one run did to one unit on one platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitPlatformRecord {
    pub unit: String,
    pub platform: String,
    /// The command's own word for it: `built`, `failed`, `skipped`; `passed`; `ok`.
    pub status: String,
    /// `None` where the command does not time units apart (`verify-manifests`).
    #[serde(default)]
    pub seconds: Option<f64>,
    /// The platform image's manifest digest.
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub input_digest: Option<String>,
    /// Not built: an image with the same input digest already existed.
    #[serde(default)]
    pub skipped: bool,
    /// Layers plus config, as the registry stores them.
    #[serde(default)]
    pub compressed_size: Option<u64>,
}

/// The records in `text` and how many non-empty lines were not records.
pub fn parse(text: &str) -> (Vec<RunRecord>, usize) {
    let mut records = Vec::new();
    let mut malformed = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(_) => malformed += 1,
        }
    }
    (records, malformed)
}

/// The `last` newest runs of each command among `runs` (oldest first), in the same order.
pub fn window(runs: &[RunRecord], last: usize) -> Vec<&RunRecord> {
    let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
    let mut window: Vec<&RunRecord> = Vec::new();
    for run in runs.iter().rev() {
        let count = taken.entry(&run.command).or_default();
        if *count < last {
            *count += 1;
            window.push(run);
        }
    }
    window.reverse();
    window
}

/// The seconds of the latest real build of each (unit, platform) in `records`: what the
/// scheduler expects it to take next time.
pub fn last_build_seconds(records: &[RunRecord]) -> BTreeMap<(String, String), f64> {
    let mut seconds = BTreeMap::new();
    for record in records.iter().filter(|r| r.command == "build") {
        for unit in record.units.iter().filter(|u| u.status == "built" && !u.skipped) {
            if let Some(s) = unit.seconds {
                seconds.insert((unit.unit.clone(), unit.platform.clone()), s);
            }
        }
    }
    seconds
}
