//! The edge: processes, files, HTTP and the clock.

pub mod analytics;
pub mod apt;
pub mod context;
pub mod crash;
pub mod definitions;
pub mod engine;
pub mod files;
pub mod git;
pub mod lock;
pub mod metrics;
pub mod pool;
pub mod provision;
pub mod registry;
pub mod rootfs;
pub mod workspace;

/// Seconds since the epoch by this machine's clock (0 for a clock set before it).
pub fn now_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
