//! What users see: progress lines on stderr while work runs, tables at the end.

use crate::core::progress::Steps;
use crate::core::text::duration;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Start and finish lines for long steps, plus a heartbeat naming what is
/// still running, so a quiet emulated build never looks hung.
pub struct Progress {
    running: Arc<Mutex<Vec<(String, Instant)>>>,
    started: Instant,
}

impl Progress {
    pub fn new(heartbeat: Duration) -> Progress {
        let running: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let shared = Arc::clone(&running);
        std::thread::spawn(move || loop {
            std::thread::sleep(heartbeat);
            let list: Vec<String> = shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(what, since)| format!("{what} ({})", duration(since.elapsed())))
                .collect();
            if !list.is_empty() {
                eprintln!("  … still running: {}", list.join(", "));
            }
        });
        Progress { running, started: Instant::now() }
    }
}

impl Steps for Progress {
    fn start(&self, what: &str) -> Instant {
        eprintln!("[{:>7}] {what}: started", duration(self.started.elapsed()));
        self.running.lock().unwrap_or_else(|p| p.into_inner()).push((what.to_string(), Instant::now()));
        Instant::now()
    }

    fn finish(&self, what: &str, since: Instant, outcome: &str) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).retain(|(w, _)| w != what);
        let outcome = crate::core::text::sanitize(outcome);
        eprintln!("[{:>7}] {what}: {outcome} in {}", duration(self.started.elapsed()), duration(since.elapsed()));
    }
}

/// `error: …` and its `caused by:` lines, as `main` prints them. Messages quote registry data:
/// every line is `sanitize`d, so no control character or `::` line reaches a CI log.
pub fn error_report(err: &anyhow::Error) -> String {
    let mut out = crate::core::text::sanitize_lines(&format!("error: {err}"));
    out.push('\n');
    for cause in err.chain().skip(1) {
        out.push_str(&crate::core::text::sanitize_lines(&format!("  caused by: {cause}")));
        out.push('\n');
    }
    out
}
