//! Fault points for the fault tests, switched on only by the tests' environment; a point
//! nobody names costs two environment reads.
//! - `XTASK_CRASH_AT=<point>` kills this process with SIGKILL there, as a power cut or an
//!   OOM kill would, with no destructor or handler run;
//! - `XTASK_PAUSE_AT=<point>` with `XTASK_PAUSE_FILE=<path>` creates that file there and waits
//!   until the test removes it, so the test can break something (stop the registry) at
//!   exactly that step.

use std::time::Duration;

/// Dies or waits here when the environment names `point`.
pub fn point(point: &str) {
    if std::env::var_os("XTASK_CRASH_AT").is_some_and(|at| at == point) {
        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGKILL);
        std::process::abort();
    }
    if std::env::var_os("XTASK_PAUSE_AT").is_some_and(|at| at == point) {
        let Some(file) = std::env::var_os("XTASK_PAUSE_FILE") else { return };
        if std::fs::write(&file, point).is_err() {
            return;
        }
        // Bounded, so a test that never resumes cannot leave a run behind for ever.
        for _ in 0..6000 {
            if !std::path::Path::new(&file).exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
