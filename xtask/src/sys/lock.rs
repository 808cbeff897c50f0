//! One run at a time writes a workspace's records: `build`, `publish`, `rollback` and `sbom`
//! hold `target/xtask/run.lock` (an advisory lock the kernel drops when the process dies, so
//! a killed run leaves nothing to clean up). Two runs at once would interleave logs, digest
//! files, metadata files and release-record sequence numbers.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use camino::Utf8Path;

/// Held for the run; dropping it (or the process ending in any way) releases the lock.
pub struct RunLock {
    _file: File,
}

/// The most of the holder's line that is read back for the message.
const HOLDER_LIMIT: u64 = 512;

/// Takes the workspace's run lock for `command`, or fails at once naming who holds it.
pub fn acquire(target: &Utf8Path, command: &str) -> Result<RunLock> {
    std::fs::create_dir_all(target).with_context(|| format!("creating {target}"))?;
    let path = target.join("run.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {path}"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = (&file).take(HOLDER_LIMIT).read_to_string(&mut holder);
            let holder = crate::core::text::sanitize(holder.trim());
            let holder = if holder.is_empty() { "another run".to_string() } else { holder };
            bail!(
                "{holder} holds {path}: wait for it to finish, or stop it; two runs in one workspace would \
                 interleave its logs, digest files and release records"
            );
        }
        Err(TryLockError::Error(err)) => return Err(err).with_context(|| format!("locking {path}")),
    }
    let since = crate::core::event::utc(crate::sys::now_seconds()).1;
    let line = format!("`cargo xtask {command}` (pid {}, since {since})\n", std::process::id());
    file.set_len(0).and_then(|()| file.write_all(line.as_bytes())).with_context(|| format!("writing {path}"))?;
    Ok(RunLock { _file: file })
}
