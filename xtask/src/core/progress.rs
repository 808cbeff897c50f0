//! Progress of long steps, as the executors report it: `cli::output::Progress` prints it, so
//! the executors in `ops` never depend on how it is shown.

use std::time::Instant;

/// Start and finish of named steps, from many threads at once.
pub trait Steps: Sync {
    /// A step began; the returned instant is handed back to `finish`.
    fn start(&self, what: &str) -> Instant;
    /// A step ended with `outcome` (e.g. `built sha256:…`, `FAILED`).
    fn finish(&self, what: &str, since: Instant, outcome: &str);
}
