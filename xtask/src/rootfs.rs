//! Root filesystems for images built `FROM scratch`: Debian packages of the
//! target architecture, unpacked and packed into a reproducible tarball that
//! the Dockerfile adds with `ADD rootfs/${TARGETARCH}${TARGETVARIANT}.tar /`.

use std::hash::{Hash, Hasher};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::apt::IsolatedApt;

/// Bumped when the tarball layout changes, so cached tarballs are rebuilt.
const LAYOUT_VERSION: u32 = 1;

/// The file name the Dockerfile adds for `platform`: `arm64.tar`, `armv7.tar`.
pub fn tarball_name(platform: &str) -> String {
    let mut parts = platform.split('/').skip(1);
    let arch = parts.next().unwrap_or(platform);
    format!("{arch}{}.tar", parts.next().unwrap_or(""))
}

/// Writes `<context>/rootfs/<arch>.tar` for `platform`, reusing the tarball
/// cached under `<cache>/rootfs` when its inputs (the .deb files) are unchanged.
pub fn prepare(
    cache: &Utf8Path,
    apt: &IsolatedApt,
    context: &Utf8Path,
    packages: &[String],
    platform: &str,
) -> Result<Utf8PathBuf> {
    let arch = crate::apt::debian_arch(platform)?;
    let debs: Vec<Utf8PathBuf> = packages.iter().map(|p| apt.download(p, arch)).collect::<Result<_>>()?;
    let cached = cached_tarball(cache, &debs)?;
    let dest_dir = context.join("rootfs");
    let dest = dest_dir.join(tarball_name(platform));
    let same = std::fs::read(&dest).ok().zip(std::fs::read(&cached).ok()).is_some_and(|(a, b)| a == b);
    if !same {
        std::fs::create_dir_all(&dest_dir).with_context(|| format!("creating {dest_dir}"))?;
        std::fs::copy(&cached, &dest).with_context(|| format!("copying {cached} to {dest}"))?;
    }
    Ok(dest)
}

fn cached_tarball(cache: &Utf8Path, debs: &[Utf8PathBuf]) -> Result<Utf8PathBuf> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    LAYOUT_VERSION.hash(&mut hasher);
    for deb in debs {
        deb.file_name().hash(&mut hasher);
    }
    let cache = cache.join("rootfs");
    let tarball = cache.join(format!("{:016x}.tar", hasher.finish()));
    if tarball.is_file() {
        return Ok(tarball);
    }
    // Private names per process: concurrent builds never see a half-written tarball.
    let tree = cache.join(format!("{:016x}.d.{}", hasher.finish(), std::process::id()));
    if tree.exists() {
        std::fs::remove_dir_all(&tree).with_context(|| format!("removing {tree}"))?;
    }
    std::fs::create_dir_all(&tree).with_context(|| format!("creating {tree}"))?;
    for deb in debs {
        duct::cmd!("dpkg-deb", "-x", deb, &tree).stdin_null().run().with_context(|| format!("unpacking {deb}"))?;
    }
    let partial = tarball.with_extension(format!("tar.partial.{}", std::process::id()));
    // Sorted names, fixed owners and times: the same packages always give the same bytes.
    duct::cmd!(
        "tar",
        "--sort=name",
        "--mtime=@0",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "--format=gnu",
        "-C",
        &tree,
        "-cf",
        &partial,
        "."
    )
    .stdin_null()
    .run()
    .with_context(|| format!("packing {tree} into {partial}"))?;
    std::fs::rename(&partial, &tarball).with_context(|| format!("renaming {partial}"))?;
    std::fs::remove_dir_all(&tree).with_context(|| format!("removing {tree}"))?;
    Ok(tarball)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tarball_names_match_targetarch_and_targetvariant() {
        assert_eq!(tarball_name("linux/amd64"), "amd64.tar");
        assert_eq!(tarball_name("linux/arm64"), "arm64.tar");
        assert_eq!(tarball_name("linux/arm/v7"), "armv7.tar");
    }
}
