//! The build's job graph, pure: one job per unit and platform (and per unit's publish), with
//! what each waits for and what it is expected to cost, for `core::schedule` to order.

use std::collections::BTreeMap;

use crate::core::plan::Unit;
use crate::core::schedule::Task;

/// One piece of work for the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Build { unit: usize, platform: usize },
    Publish { unit: usize },
}

/// Expected seconds of a build never timed here (no metrics line has it): an emulated build
/// took 3.5× (a Debian bootstrap) to 11× (byte-compiling Python) as long as the native one.
const NATIVE_ESTIMATE_SECS: u64 = 20;
const EMULATED_ESTIMATE_SECS: u64 = 100;

/// The jobs and their dependencies: a platform build waits for its parents' builds of the
/// same platform only (it is pinned to their digests), so an arm64 chain never waits for
/// amd64; a publish waits for every platform of its unit and for its parents' publish, so
/// no child is published on a parent that was not.
/// Each build's cost is its duration in the last run that built it (`history`), else an estimate.
pub fn jobs_for(
    units: &[Unit],
    platforms: &[String],
    given: &BTreeMap<(String, String), String>,
    publishing: bool,
    host: &str,
    history: &BTreeMap<(String, String), f64>,
) -> (Vec<Job>, Vec<Task>) {
    let mut jobs = Vec::new();
    let mut index = BTreeMap::new();
    for (u, unit) in units.iter().enumerate() {
        for (p, platform) in unit.platforms.iter().enumerate() {
            if platforms.contains(platform) && !given.contains_key(&(unit.id.clone(), platform.clone())) {
                index.insert(Job::Build { unit: u, platform: p }, jobs.len());
                jobs.push(Job::Build { unit: u, platform: p });
            }
        }
        if publishing {
            index.insert(Job::Publish { unit: u }, jobs.len());
            jobs.push(Job::Publish { unit: u });
        }
    }
    let unit_index = |id: &str| units.iter().position(|u| u.id == id);
    let tasks = jobs
        .iter()
        .map(|job| match *job {
            Job::Build { unit, platform } => {
                let name = &units[unit].platforms[platform];
                let mut deps = Vec::new();
                for parent in units[unit].depends_on.iter().filter_map(|id| unit_index(id)) {
                    let parent_platform = units[parent].platforms.iter().position(|p| p == name);
                    deps.extend(parent_platform.and_then(|p| index.get(&Job::Build { unit: parent, platform: p })));
                }
                // Every build holds one slot: emulation makes a build slower, not wider (one
                // emulated build leaves the second core of this machine half idle).
                let estimate = if name == host { NATIVE_ESTIMATE_SECS } else { EMULATED_ESTIMATE_SECS };
                let timed = history.get(&(units[unit].id.clone(), name.clone()));
                Task { deps, weight: 1, cost: timed.map_or(estimate, |s| (s.ceil() as u64).max(1)) }
            }
            Job::Publish { unit } => Task {
                deps: (0..units[unit].platforms.len())
                    .filter_map(|p| index.get(&Job::Build { unit, platform: p }).copied())
                    .chain(
                        units[unit]
                            .depends_on
                            .iter()
                            .filter_map(|id| unit_index(id))
                            .filter_map(|parent| index.get(&Job::Publish { unit: parent }).copied()),
                    )
                    .collect(),
                weight: 0,
                cost: 0,
            },
        })
        .collect();
    (jobs, tasks)
}

impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Job {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let key = |job: &Job| match *job {
            Job::Build { unit, platform } => (unit, 0, platform),
            Job::Publish { unit } => (unit, 1, 0),
        };
        key(self).cmp(&key(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, depends_on: &[&str]) -> Unit {
        Unit {
            id: id.into(),
            depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            ..crate::core::plan::tests::sample_unit()
        }
    }

    #[test]
    fn jobs_wait_for_parents_and_publishes_wait_for_platforms() {
        let units = [unit("base", &[]), unit("app", &["base"])];
        let platforms = vec!["linux/amd64".to_string(), "linux/arm64".to_string()];
        let (jobs, tasks) = jobs_for(&units, &platforms, &BTreeMap::new(), true, "linux/amd64", &BTreeMap::new());
        assert_eq!(
            jobs,
            [
                Job::Build { unit: 0, platform: 0 },
                Job::Build { unit: 0, platform: 1 },
                Job::Publish { unit: 0 },
                Job::Build { unit: 1, platform: 0 },
                Job::Build { unit: 1, platform: 1 },
                Job::Publish { unit: 1 },
            ]
        );
        let deps: Vec<&[usize]> = tasks.iter().map(|t| t.deps.as_slice()).collect();
        // The child's arm64 build waits for the parent's arm64 build alone; its publish for
        // both its platforms and the parent's publish.
        assert_eq!(deps, [&[][..], &[], &[0, 1], &[0], &[1], &[3, 4, 2]]);
        let weights: Vec<(usize, u64)> = tasks.iter().map(|t| (t.weight, t.cost)).collect();
        assert_eq!(
            weights,
            [(1, 20), (1, 100), (0, 0), (1, 20), (1, 100), (0, 0)],
            "a build holds a slot, an emulated one costs more; publishing takes no slot"
        );
        let history = BTreeMap::from([(("app".to_string(), "linux/arm64".to_string()), 321.4)]);
        let (_, tasks) = jobs_for(&units, &platforms, &BTreeMap::new(), true, "linux/amd64", &history);
        let costs: Vec<u64> = tasks.iter().map(|t| t.cost).collect();
        assert_eq!(costs, [20, 100, 0, 20, 322, 0], "a build timed before costs what it took");
    }

    #[test]
    fn recording_digests_builds_one_platform_without_publishing() {
        let units = [unit("base", &[]), unit("app", &["base"])];
        let (jobs, tasks) =
            jobs_for(&units, &["linux/arm64".to_string()], &BTreeMap::new(), false, "linux/amd64", &BTreeMap::new());
        assert_eq!(jobs, [Job::Build { unit: 0, platform: 1 }, Job::Build { unit: 1, platform: 1 }]);
        assert_eq!(tasks[1].deps, [0], "the child's arm64 build waits for the parent's arm64 build");
    }

    #[test]
    fn a_parent_given_by_an_earlier_leg_is_not_built_and_nothing_waits_for_it() {
        let units = [unit("base", &[]), unit("app", &["base"])];
        let given = BTreeMap::from([(("base".to_string(), "linux/arm64".to_string()), "sha256:aa".to_string())]);
        let (jobs, tasks) =
            jobs_for(&units, &["linux/arm64".to_string()], &given, false, "linux/amd64", &BTreeMap::new());
        assert_eq!(jobs, [Job::Build { unit: 1, platform: 1 }]);
        assert!(tasks[0].deps.is_empty());
        // Another platform of the parent is not given: it is built, and the child waits for it.
        let platforms = ["linux/amd64".to_string(), "linux/arm64".to_string()];
        let (jobs, tasks) = jobs_for(&units, &platforms, &given, false, "linux/amd64", &BTreeMap::new());
        assert_eq!(
            jobs,
            [
                Job::Build { unit: 0, platform: 0 },
                Job::Build { unit: 1, platform: 0 },
                Job::Build { unit: 1, platform: 1 }
            ]
        );
        let deps: Vec<&[usize]> = tasks.iter().map(|t| t.deps.as_slice()).collect();
        assert_eq!(deps, [&[][..], &[0], &[]]);
    }
}
