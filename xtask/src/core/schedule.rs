//! A dependency-ordered scheduler as a pure state machine: `build` asks for
//! ready tasks and reports how each ended; threads and processes live there.
//! Tasks have weights that share a capacity (`--jobs`), so work does not oversubscribe
//! the cores, and estimated costs: of the ready tasks, the one heading the costliest
//! chain of work starts first, so long emulated chains do not end up alone at the end.

/// How a task ended, or why it never ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Waiting,
    Running,
    Done,
    Failed,
    /// Something it depends on failed or was skipped.
    SkippedParentFailed,
    /// An earlier failure (without `--keep-going`) or an interrupt stopped the run.
    NotStarted,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub deps: Vec<usize>,
    /// Slots of the capacity it holds while it runs; 0 for bookkeeping.
    pub weight: usize,
    /// Estimated duration, in any unit shared by all tasks.
    pub cost: u64,
}

#[derive(Debug)]
pub struct Schedule {
    tasks: Vec<Task>,
    states: Vec<State>,
    /// Per task: its cost plus that of the costliest chain of tasks depending on it.
    priority: Vec<u64>,
    capacity: usize,
    in_use: usize,
    keep_going: bool,
    stopped: bool,
}

impl Schedule {
    /// `capacity` is at least 1; a task heavier than the capacity runs alone.
    pub fn new(tasks: Vec<Task>, capacity: usize, keep_going: bool) -> Schedule {
        let states = vec![State::Waiting; tasks.len()];
        let priority = chain_costs(&tasks);
        Schedule { tasks, states, priority, capacity: capacity.max(1), in_use: 0, keep_going, stopped: false }
    }

    /// The next task whose dependencies are done and that fits the free capacity, now Running.
    pub fn next_ready(&mut self) -> Option<usize> {
        if self.stopped {
            return None;
        }
        // The costliest chain first; among equals, the order the tasks were given in.
        let ready = (0..self.tasks.len())
            .filter(|&i| {
                self.states[i] == State::Waiting
                    && self.tasks[i].deps.iter().all(|&d| self.states[d] == State::Done)
                    && self.fits(self.tasks[i].weight)
            })
            .min_by_key(|&i| (std::cmp::Reverse(self.priority[i]), i))?;
        self.states[ready] = State::Running;
        self.in_use += self.cost(ready);
        Some(ready)
    }

    fn cost(&self, task: usize) -> usize {
        self.tasks[task].weight.min(self.capacity)
    }

    fn fits(&self, weight: usize) -> bool {
        weight == 0 || self.in_use + weight.min(self.capacity) <= self.capacity
    }

    /// Records how `task` ended; a failure skips everything that depends on it and,
    /// unless keep-going, stops the run from starting anything new.
    pub fn finish(&mut self, task: usize, ok: bool) {
        debug_assert_eq!(self.states[task], State::Running);
        self.in_use -= self.cost(task);
        self.states[task] = if ok { State::Done } else { State::Failed };
        if ok {
            return;
        }
        // Dependents, transitively: tasks are not ordered, so sweep until nothing changes.
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..self.tasks.len() {
                let blocked = self.tasks[i]
                    .deps
                    .iter()
                    .any(|&d| matches!(self.states[d], State::Failed | State::SkippedParentFailed));
                if self.states[i] == State::Waiting && blocked {
                    self.states[i] = State::SkippedParentFailed;
                    changed = true;
                }
            }
        }
        if !self.keep_going {
            self.stop();
        }
    }

    /// Starts nothing new (after a failure or an interrupt); running tasks may still finish.
    pub fn stop(&mut self) {
        self.stopped = true;
        for state in &mut self.states {
            if *state == State::Waiting {
                *state = State::NotStarted;
            }
        }
    }

    pub fn running(&self) -> usize {
        self.states.iter().filter(|s| **s == State::Running).count()
    }

    /// Nothing runs and nothing more can start.
    pub fn is_finished(&self) -> bool {
        self.running() == 0 && !self.states.contains(&State::Waiting)
    }

    pub fn state(&self, task: usize) -> State {
        self.states[task]
    }
}

/// Each task's cost plus the largest such sum among the tasks that depend on it: the
/// length of the critical path that starts with it (list scheduling's "bottom level").
fn chain_costs(tasks: &[Task]) -> Vec<u64> {
    let mut dependents = vec![Vec::new(); tasks.len()];
    let mut pending: Vec<usize> = tasks.iter().map(|t| t.deps.len()).collect();
    for (i, task) in tasks.iter().enumerate() {
        for &d in &task.deps {
            dependents[d].push(i);
        }
    }
    // Kahn's order: parents before children.
    let mut order: Vec<usize> = (0..tasks.len()).filter(|&i| pending[i] == 0).collect();
    let mut next = 0;
    while next < order.len() {
        for &child in &dependents[order[next]] {
            pending[child] -= 1;
            if pending[child] == 0 {
                order.push(child);
            }
        }
        next += 1;
    }
    let mut priority: Vec<u64> = tasks.iter().map(|t| t.cost).collect();
    for &i in order.iter().rev() {
        let longest = dependents[i].iter().map(|&c| priority[c]).max().unwrap_or(0);
        priority[i] = tasks[i].cost + longest;
    }
    priority
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(deps: &[usize], weight: usize) -> Task {
        Task { deps: deps.to_vec(), weight, cost: 1 }
    }

    fn costly(deps: &[usize], cost: u64) -> Task {
        Task { deps: deps.to_vec(), weight: 1, cost }
    }

    /// Runs the schedule to the end, finishing tasks in start order; `fails` lists failing tasks.
    fn drive(mut s: Schedule, fails: &[usize]) -> (Vec<Vec<usize>>, Schedule) {
        let mut waves = Vec::new();
        while !s.is_finished() {
            let mut wave = Vec::new();
            while let Some(t) = s.next_ready() {
                wave.push(t);
            }
            assert!(!wave.is_empty(), "a schedule that is not finished must make progress");
            for &t in &wave {
                s.finish(t, !fails.contains(&t));
            }
            waves.push(wave);
        }
        (waves, s)
    }

    #[test]
    fn parents_first_and_independent_work_in_parallel() {
        // 0,1: base amd64/arm64; 2: publish base; 3,4: app amd64/arm64 after base is published.
        let tasks = vec![task(&[], 1), task(&[], 1), task(&[0, 1], 0), task(&[2], 1), task(&[2], 1)];
        let (waves, s) = drive(Schedule::new(tasks, 4, false), &[]);
        assert_eq!(waves, [vec![0, 1], vec![2], vec![3, 4]]);
        assert!((0..5).all(|t| s.state(t) == State::Done));
    }

    #[test]
    fn weights_share_the_capacity() {
        // An emulated build (weight 2) and two native ones (weight 1) with capacity 2.
        let tasks = vec![task(&[], 2), task(&[], 1), task(&[], 1)];
        let (waves, _) = drive(Schedule::new(tasks, 2, false), &[]);
        assert_eq!(waves, [vec![0], vec![1, 2]]);
        // A task heavier than the capacity still runs, alone.
        let (waves, _) = drive(Schedule::new(vec![task(&[], 5), task(&[], 1)], 2, false), &[]);
        assert_eq!(waves, [vec![0], vec![1]]);
    }

    #[test]
    fn the_costliest_chain_starts_first() {
        // 0, 1: native builds of two images; 2: an emulated build whose child 3 is emulated too.
        let tasks = vec![costly(&[], 1), costly(&[], 1), costly(&[], 5), costly(&[2], 5)];
        assert_eq!(chain_costs(&tasks), [1, 1, 10, 5]);
        let (waves, _) = drive(Schedule::new(tasks, 2, false), &[]);
        assert_eq!(waves, [vec![2, 0], vec![3, 1]]);
        // A cheap task that heads a long chain goes before a costlier lone one.
        let tasks = vec![costly(&[], 3), costly(&[], 1), costly(&[1], 4), costly(&[2], 4)];
        let (waves, _) = drive(Schedule::new(tasks, 1, false), &[]);
        assert_eq!(waves, [vec![1], vec![2], vec![3], vec![0]]);
    }

    #[test]
    fn a_failure_skips_dependents_and_stops_the_rest() {
        let tasks = vec![task(&[], 1), task(&[0], 1), task(&[1], 1), task(&[], 1)];
        let (_, s) = drive(Schedule::new(tasks.clone(), 1, false), &[0]);
        assert_eq!(s.state(0), State::Failed);
        assert_eq!(s.state(1), State::SkippedParentFailed);
        assert_eq!(s.state(2), State::SkippedParentFailed);
        assert_eq!(s.state(3), State::NotStarted);

        let (_, s) = drive(Schedule::new(tasks, 1, true), &[0]);
        assert_eq!(s.state(2), State::SkippedParentFailed);
        assert_eq!(s.state(3), State::Done, "keep-going builds what does not depend on the failure");
    }

    #[test]
    fn stop_lets_running_tasks_finish_but_starts_nothing() {
        let mut s = Schedule::new(vec![task(&[], 1), task(&[], 1), task(&[0], 1)], 1, false);
        assert_eq!(s.next_ready(), Some(0));
        s.stop();
        assert_eq!(s.next_ready(), None);
        assert!(!s.is_finished());
        s.finish(0, true);
        assert!(s.is_finished());
        assert_eq!((s.state(1), s.state(2)), (State::NotStarted, State::NotStarted));
    }
}
