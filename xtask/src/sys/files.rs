//! Files the commands write: generated documents (checked for drift in CI), records put in
//! place whole, and the xtask's own binary.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;

/// Writes `text` to `file`, or with `check` fails when the file differs from it.
pub fn write_or_check(root: &Utf8Path, file: &str, text: &str, check: bool, command: &str) -> Result<()> {
    let path = root.join(file);
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != text {
            bail!("{file} is out of date with xtask/src/core/schema/keys.rs: run `{command}` and commit the result");
        }
        println!("{file} is up to date");
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {path}"))?;
    println!("wrote {file}");
    Ok(())
}

/// `cargo xtask install --dir DIR`: this binary, copied to `DIR/xtask` (atomically, executable),
/// so that the jobs of a CI run share one compile per runner instead of each compiling it.
pub fn install_self(dir: &std::path::Path) -> Result<()> {
    let exe = std::env::current_exe().context("finding this xtask binary")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let target = dir.join("xtask");
    let partial = dir.join(".xtask.partial");
    std::fs::copy(&exe, &partial).with_context(|| format!("copying {} to {}", exe.display(), partial.display()))?;
    std::fs::rename(&partial, &target).with_context(|| format!("placing {}", target.display()))?;
    println!("installed {}", target.display());
    Ok(())
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file beside it (named for this
/// process, hidden, so that concurrent writers and directory listings never see half of one),
/// synced, then renamed into place.
pub fn write_atomically(path: &Utf8Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_str().is_empty()).unwrap_or(Utf8Path::new("."));
    let name = path.file_name().with_context(|| format!("{path} names no file"))?;
    let partial = dir.join(format!(".{name}.partial.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().with_context(|| format!("writing {partial}"))?;
    std::fs::rename(&partial, path).with_context(|| format!("renaming {partial} to {path}"))
}

/// The bytes of `path` (`what` it is, for the error), refused past `limit`: a file read from
/// disk is bounded as a registry's reply is. The limit holds however the file grows meanwhile.
pub fn read_bounded(path: &Utf8Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("reading {path}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).with_context(|| format!("reading {path}"))?;
    if bytes.len() as u64 > limit {
        bail!("{path}: {what} past the {limit}-byte bound");
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded_and_writes_land_whole() {
        let dir = camino::Utf8PathBuf::from_path_buf(
            std::env::temp_dir().join(format!("xtask-files-{}", std::process::id())),
        )
        .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("index.json");
        write_atomically(&path, b"0123456789").unwrap();
        assert_eq!(read_bounded(&path, 10, "an index.json").unwrap(), b"0123456789");
        let err = read_bounded(&path, 9, "an index.json").unwrap_err().to_string();
        assert!(err.ends_with("index.json: an index.json past the 9-byte bound"), "{err}");
        let names: Vec<String> = dir.read_dir_utf8().unwrap().map(|e| e.unwrap().file_name().to_string()).collect();
        assert_eq!(names, ["index.json"], "no temporary is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
