//! Crash points for the fault tests: `XTASK_CRASH_AT=<point>` kills this process with SIGKILL
//! when it reaches that point, as a power cut or an OOM kill would, with no destructor or
//! handler run. Only tests set it; a point nobody names costs one environment read.

/// Dies here when `XTASK_CRASH_AT` names `point`.
pub fn point(point: &str) {
    if std::env::var_os("XTASK_CRASH_AT").is_some_and(|at| at == point) {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
        std::process::abort();
    }
}
