//! What users see: progress lines on stderr while work runs, tables at the end.

use crate::core::progress::Steps;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A plain-text table with left-aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(String::as_str).collect()));
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `1m05s`, `12.3s`: durations as people read them.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

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
        eprintln!("[{:>7}] {what}: {outcome} in {}", duration(self.started.elapsed()), duration(since.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["base".to_string(), "linux/amd64".to_string()],
            vec!["python:python3.13".to_string(), "x".to_string()],
        ];
        assert_eq!(
            table(&["UNIT", "PLATFORM"], &rows),
            "UNIT               PLATFORM\n-----------------  -----------\nbase               linux/amd64\npython:python3.13  x"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(duration(Duration::from_secs(65)), "1m05s");
    }
}
