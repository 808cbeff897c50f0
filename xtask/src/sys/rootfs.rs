//! Root filesystems for images built `FROM scratch`: a tarball per platform that
//! the Dockerfile adds with `ADD rootfs/${TARGETARCH}${TARGETVARIANT}.tar /`.
//! Two sources (`[rootfs]` in image.toml): Debian packages unpacked as they are
//! (a busybox userland), or a Debian system bootstrapped by mmdebstrap. Both are
//! built once under `<cache>/rootfs`, keyed by their inputs, and reused until one changes.

use std::fs::File;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

use crate::core::definitions::{Bootstrap, Rootfs};
use crate::oci::digest::hex;
use crate::oci::platform::tarball_name;
use crate::sys::apt::{self, IsolatedApt, SYSTEM_SOURCES};

/// Bumped when the tarball layout changes, so cached tarballs are rebuilt.
const LAYOUT_VERSION: u32 = 2;

/// mmdebstrap's own hook: a merged /usr from the `usr-is-merged` package instead of
/// `usrmerge`, which would pull perl into every image (70 MB of the 170 MB minbase).
const MERGED_USR_HOOK: &str = "/usr/share/mmdebstrap/hooks/maybe-merged-usr";

/// What `slim = true` keeps out, as dpkg path filters: the same set as Docker's official
/// `-slim` Debian images. They are written into the image, so packages that children
/// install leave these out too.
const SLIM_FILTERS: &[&str] = &[
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/lintian/overrides/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/man/*",
];

/// apt settings of every bootstrapped image: a container has no use for translated package
/// descriptions, and without them each `apt-get update` fetches and parses less.
const IMAGE_APT_OPTIONS: &[&str] = &["Acquire::Languages \"none\""];

/// Host apt settings that also hold inside the image: a mirror serving an archive snapshot
/// needs its `Valid-Until` and `Date` checks off wherever apt runs.
const INHERITED_APT_OPTIONS: &[&str] = &["Acquire::Check-Valid-Until", "Acquire::Check-Date"];

/// `<context>/rootfs/<arch>.tar`, in place for one build. Variants of an image share its
/// context: while this is held, another build waits before replacing the same tarball.
pub struct Prepared {
    _turn: File,
}

/// Writes `<context>/rootfs/<arch>.tar` for `platform` from the cached tarball of `rootfs`,
/// building that first when its inputs changed. Hold the result until the build has read it.
pub fn prepare(
    cache: &Utf8Path,
    apt: Option<&IsolatedApt>,
    context: &Utf8Path,
    rootfs: &Rootfs,
    platform: &str,
) -> Result<Prepared> {
    let cached = match rootfs {
        Rootfs::Packages(packages) => {
            let apt = apt.context("unpacking Debian packages needs the isolated apt of this run")?;
            unpacked(cache, apt, packages, platform)?
        }
        Rootfs::Mmdebstrap(bootstrap) => {
            let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
                Ok(text) if !text.is_empty() => Some(
                    text.parse().with_context(|| format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds"))?,
                ),
                _ => None,
            };
            bootstrapped(cache, bootstrap, platform, epoch)?
        }
    };
    place(cache, &cached, context, platform)
}

/// Debian packages of the host's suite, unpacked without maintainer scripts.
fn unpacked(cache: &Utf8Path, apt: &IsolatedApt, packages: &[String], platform: &str) -> Result<Utf8PathBuf> {
    let arch = apt::debian_arch(platform)?;
    let debs: Vec<Utf8PathBuf> = packages.iter().map(|p| apt.download(p, arch)).collect::<Result<_>>()?;
    let names: Vec<&str> = debs.iter().filter_map(|d| d.file_name()).collect();
    let key = cache_key("packages", &names);
    let dir = cache.join("rootfs");
    let tarball = dir.join(format!("{key}.tar"));
    if tarball.is_file() {
        return Ok(tarball);
    }
    // Private names: concurrent builds never see a half-written tarball.
    let tree = dir.join(format!("{key}.d.{}", private_suffix()));
    if tree.exists() {
        std::fs::remove_dir_all(&tree).with_context(|| format!("removing {tree}"))?;
    }
    std::fs::create_dir_all(&tree).with_context(|| format!("creating {tree}"))?;
    for deb in &debs {
        duct::cmd!("dpkg-deb", "-x", deb, &tree).stdin_null().run().with_context(|| format!("unpacking {deb}"))?;
    }
    let partial = dir.join(format!("{key}.tar.partial.{}", private_suffix()));
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

/// Everything one mmdebstrap run depends on. The same inputs give the same tarball, byte
/// for byte: the cache key is made of them, so a tarball is rebuilt exactly when one changes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BootstrapInputs {
    suite: String,
    variant: String,
    slim: bool,
    include: Vec<String>,
    /// Debian architecture name: `amd64`, `arm64`.
    arch: String,
    /// deb822 sources for the suite on the host's mirrors; they end up in the image too.
    sources: String,
    /// sha256 of each suite's InRelease, in the order of `sources`: the archive's state.
    releases: Vec<String>,
    /// `--aptopt` values carried over from the host.
    apt_options: Vec<String>,
    /// Timestamps in the tarball, and the day of every account's last password change.
    source_date_epoch: u64,
    /// `mmdebstrap --version`: another version may lay files out differently.
    mmdebstrap: String,
}

impl BootstrapInputs {
    fn key(&self) -> String {
        let epoch = self.source_date_epoch.to_string();
        let slim = if self.slim { "slim" } else { "full" };
        let include = self.include.join(",");
        let mut parts = vec![
            self.suite.as_str(),
            &self.variant,
            slim,
            &include,
            &self.arch,
            &self.sources,
            &epoch,
            &self.mmdebstrap,
            MERGED_USR_HOOK,
        ];
        parts.extend(self.releases.iter().map(String::as_str));
        parts.extend(self.apt_options.iter().map(String::as_str));
        cache_key("mmdebstrap", &parts)
    }

    /// mmdebstrap's arguments, writing an uncompressed tarball to `out` from `sources_file`.
    fn argv(&self, sources_file: &Utf8Path, out: &Utf8Path) -> Vec<String> {
        let mut argv = vec![
            format!("--variant={}", self.variant),
            format!("--architectures={}", self.arch),
            // The output's name ends in `.partial.<suffix>`: say what to write.
            "--format=tar".to_owned(),
            format!("--hook-dir={MERGED_USR_HOOK}"),
        ];
        if !self.include.is_empty() {
            argv.push(format!("--include={}", self.include.join(",")));
        }
        argv.extend(self.apt_options.iter().map(|o| format!("--aptopt={o}")));
        if self.slim {
            argv.extend(SLIM_FILTERS.iter().map(|f| format!("--dpkgopt={f}")));
        }
        argv.extend(["--".to_owned(), self.suite.clone(), out.to_string(), sources_file.to_string()]);
        argv
    }
}

/// The cached mmdebstrap tarball of `bootstrap` for `platform`, built when missing.
/// `source_date_epoch` fixes the timestamps; by default they are the archive's own date
/// (its newest InRelease), so a tarball changes only when the archive does.
pub fn bootstrapped(
    cache: &Utf8Path,
    bootstrap: &Bootstrap,
    platform: &str,
    source_date_epoch: Option<u64>,
) -> Result<Utf8PathBuf> {
    // The image's own mirrors; else the host's Debian mirrors where it has them; else Debian's
    // own, so that an Ubuntu runner, or a Debian host without deb822 sources, still bootstraps.
    let configured = (bootstrap.mirror.is_some() || bootstrap.security_mirror.is_some()).then(|| {
        let mirror = bootstrap.mirror.as_deref().unwrap_or(DEFAULT_MIRROR);
        sources_on(&bootstrap.suite, mirror, bootstrap.security_mirror.as_deref().unwrap_or(DEFAULT_SECURITY_MIRROR))
    });
    let sources = match (configured, std::fs::read_to_string(SYSTEM_SOURCES)) {
        (Some(sources), _) => sources,
        (None, Ok(system)) => mirror_sources(&system, &bootstrap.suite)?,
        (None, Err(err)) if err.kind() == std::io::ErrorKind::NotFound => {
            sources_on(&bootstrap.suite, DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR)
        }
        (None, Err(err)) => return Err(err).with_context(|| format!("reading {SYSTEM_SOURCES}")),
    };
    let agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(60)))
        .user_agent("xtask-rootfs")
        .build()
        .new_agent();
    let mut releases = Vec::new();
    let mut newest = 0;
    for url in release_urls(&sources)? {
        let body = agent
            .get(&url)
            .call()
            .and_then(|mut reply| reply.body_mut().read_to_string())
            .with_context(|| format!("fetching {url} (the archive state the root filesystem is keyed by)"))?;
        let date = release_date(&body).with_context(|| format!("reading the Date of {url}"))?;
        newest = newest.max(date);
        releases.push(hex(&Sha256::digest(body.as_bytes())));
    }
    let mmdebstrap = duct::cmd!("mmdebstrap", "--version")
        .stdin_null()
        .stderr_to_stdout()
        .read()
        .context("running `mmdebstrap --version` (run `cargo xtask provision`)")?;
    let dump = duct::cmd!("apt-config", "dump").stdin_null().read().context("running `apt-config dump`")?;
    let mut apt_options: Vec<String> = IMAGE_APT_OPTIONS.iter().map(|o| o.to_string()).collect();
    apt_options.extend(inherited_apt_options(&dump));
    let inputs = BootstrapInputs {
        suite: bootstrap.suite.clone(),
        variant: bootstrap.variant.clone(),
        slim: bootstrap.slim,
        include: bootstrap.include.clone(),
        arch: apt::debian_arch(platform)?.to_owned(),
        sources,
        releases,
        apt_options,
        source_date_epoch: source_date_epoch.unwrap_or(newest),
        mmdebstrap: mmdebstrap.trim().to_owned(),
    };
    run_mmdebstrap(cache, &inputs)
}

/// Builds `<cache>/rootfs/<key>.tar` with mmdebstrap unless it is there already.
fn run_mmdebstrap(cache: &Utf8Path, inputs: &BootstrapInputs) -> Result<Utf8PathBuf> {
    let key = inputs.key();
    let dir = cache.join("rootfs");
    let tarball = dir.join(format!("{key}.tar"));
    if tarball.is_file() {
        return Ok(tarball);
    }
    // The sources file's name becomes the image's `/etc/apt/sources.list.d/0000debian.sources`.
    let work = dir.join(format!("{key}.d.{}", private_suffix()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {work}"))?;
    let sources_file = work.join("debian.sources");
    std::fs::write(&sources_file, &inputs.sources).with_context(|| format!("writing {sources_file}"))?;
    let partial = dir.join(format!("{key}.tar.partial.{}", private_suffix()));
    let what = format!("mmdebstrap {} {} for {}", inputs.variant, inputs.suite, inputs.arch);
    let ran = apt::run(
        duct::cmd("mmdebstrap", inputs.argv(&sources_file, &partial))
            .env("SOURCE_DATE_EPOCH", inputs.source_date_epoch.to_string())
            .dir(&work),
    );
    if let Err(err) = ran {
        let _ = std::fs::remove_file(&partial);
        let _ = std::fs::remove_dir_all(&work);
        return Err(err)
            .context(format!("{what} (foreign architectures run through qemu: `cargo xtask provision` sets it up)"));
    }
    std::fs::rename(&partial, &tarball).with_context(|| format!("renaming {partial}"))?;
    std::fs::remove_dir_all(&work).with_context(|| format!("removing {work}"))?;
    Ok(tarball)
}

/// Puts `cached` at `<context>/rootfs/<arch>.tar` once no other build reads that path.
fn place(cache: &Utf8Path, cached: &Utf8Path, context: &Utf8Path, platform: &str) -> Result<Prepared> {
    let dir = context.join("rootfs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    let dest = dir.join(tarball_name(platform));
    let locks = cache.join("rootfs/locks");
    std::fs::create_dir_all(&locks).with_context(|| format!("creating {locks}"))?;
    let lock = locks.join(format!("{}.lock", cache_key("dest", &[dest.as_str()])));
    let turn =
        File::create(&lock).and_then(|file| file.lock().map(|()| file)).with_context(|| format!("locking {lock}"))?;
    if !same_file(cached, &dest) {
        // Link (or copy) beside it, then rename over it: a reader never sees half a tarball.
        let partial = dir.join(format!(".{}.partial.{}", tarball_name(platform), private_suffix()));
        let _ = std::fs::remove_file(&partial);
        if std::fs::hard_link(cached, &partial).is_err() {
            std::fs::copy(cached, &partial).with_context(|| format!("copying {cached} to {partial}"))?;
        }
        std::fs::rename(&partial, &dest).with_context(|| format!("renaming {partial} to {dest}"))?;
    }
    Ok(Prepared { _turn: turn })
}

/// A name part no other process, nor another build thread of this one, uses at the same time.
fn private_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// Whether `a` and `b` are one file (a hard link made by an earlier build).
fn same_file(a: &Utf8Path, b: &Utf8Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// A file name made of `kind` and the sha256 of `parts`, each length-prefixed.
fn cache_key(kind: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    hash.update(LAYOUT_VERSION.to_le_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    format!("{kind}-{}", &hex(&hash.finalize())[..32])
}

/// deb822 sources for `suite` on the host's mirrors: every enabled binary stanza of
/// `system` (main archive, updates, security), with the host's suite name swapped for
/// `suite` (`bookworm-security` becomes `trixie-security`). No host name is written anywhere.
fn mirror_sources(system: &str, suite: &str) -> Result<String> {
    let host = apt::suite_of(system)?;
    let mut out: Vec<String> = Vec::new();
    for stanza in apt::stanzas(system) {
        let field = |name: &str| apt::field(&stanza, name);
        let binary = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let enabled = field("Enabled").is_none_or(|e| !e.eq_ignore_ascii_case("no"));
        let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else { continue };
        if !binary || !enabled {
            continue;
        }
        let renamed: Vec<String> = suites
            .split_whitespace()
            .filter_map(|s| s.strip_prefix(host.as_str()))
            .filter(|rest| rest.is_empty() || rest.starts_with('-'))
            .map(|rest| format!("{suite}{rest}"))
            .collect();
        if renamed.is_empty() {
            continue;
        }
        let mut text = format!("Types: deb\nURIs: {uris}\nSuites: {}\n", renamed.join(" "));
        for name in ["Components", "Signed-By"] {
            if let Some(value) = field(name) {
                // A value may start on the next line, as an inline key does.
                let gap = if value.starts_with('\n') { "" } else { " " };
                text.push_str(&format!("{name}:{gap}{value}\n"));
            }
        }
        if !out.contains(&text) {
            out.push(text);
        }
    }
    if out.is_empty() {
        bail!("{SYSTEM_SOURCES} has no enabled `deb` stanza for suite {host:?} to take the mirrors from");
    }
    Ok(out.join("\n"))
}

/// deb822 sources for `suite` on `mirror` and `security`: the archive with its updates and
/// the security archive (neither exists for unstable), signed by `debian-archive-keyring`.
fn sources_on(suite: &str, mirror: &str, security: &str) -> String {
    let stanza = |uri: &str, suites: &str| {
        format!("Types: deb\nURIs: {uri}\nSuites: {suites}\nComponents: main\nSigned-By: {DEBIAN_KEYRING}\n")
    };
    if matches!(suite, "sid" | "unstable" | "experimental") {
        return stanza(mirror, suite);
    }
    [stanza(mirror, &format!("{suite} {suite}-updates")), stanza(security, &format!("{suite}-security"))].join("\n")
}

/// Debian's mirror network and its security archive, where a host has no mirror of its own.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
const DEFAULT_SECURITY_MIRROR: &str = "http://deb.debian.org/debian-security";
/// What `debian-archive-keyring` installs, on Debian and on Ubuntu alike.
const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// The InRelease URL of every URI and suite in deb822 `sources`.
fn release_urls(sources: &str) -> Result<Vec<String>> {
    let mut urls = Vec::new();
    for stanza in apt::stanzas(sources) {
        let (Some(uris), Some(suites)) = (apt::field(&stanza, "URIs"), apt::field(&stanza, "Suites")) else {
            bail!("a sources stanza without URIs or Suites:\n{stanza:?}");
        };
        for uri in uris.split_whitespace() {
            for suite in suites.split_whitespace() {
                urls.push(format!("{}/dists/{suite}/InRelease", uri.trim_end_matches('/')));
            }
        }
    }
    Ok(urls)
}

/// Seconds since the epoch of a Release file's `Date: Sat, 11 Jul 2026 10:16:37 UTC`.
fn release_date(release: &str) -> Result<u64> {
    let value = release.lines().find_map(|line| line.strip_prefix("Date:")).context("no `Date:` field")?.trim();
    let bad = || anyhow::anyhow!("`Date: {value}` is not an RFC 2822 date in UTC");
    let words: Vec<&str> = value.split_whitespace().collect();
    let [_weekday, day, month, year, time, "UTC" | "GMT" | "+0000"] = words.as_slice() else { return Err(bad()) };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| m == month).ok_or_else(bad)? as i64 + 1;
    let day: i64 = day.parse().map_err(|_| bad())?;
    let year: i64 = year.parse().map_err(|_| bad())?;
    let hms: Vec<i64> = time.split(':').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    let [h, m, s] = hms.as_slice() else { return Err(bad()) };
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).map_err(|_| bad())
}

/// `--aptopt` values for the [`INHERITED_APT_OPTIONS`] that `apt-config dump` shows set on the host.
fn inherited_apt_options(dump: &str) -> Vec<String> {
    let mut options = Vec::new();
    for line in dump.lines() {
        let Some((name, value)) = line.split_once(' ') else { continue };
        if INHERITED_APT_OPTIONS.contains(&name) {
            let option = format!("{name} {}", value.trim_end_matches(';'));
            if !options.contains(&option) {
                options.push(option);
            }
        }
    }
    options.sort();
    options
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

    /// The host's sources, with a source-only stanza that no bootstrap uses.
    fn bookworm() -> String {
        format!(
            "{}\nTypes: deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm\n",
            crate::sys::apt::tests::BOOKWORM
        )
    }

    #[test]
    fn mirror_sources_carry_the_host_mirrors_updates_and_security_over_to_the_suite() {
        let trixie = mirror_sources(&bookworm(), "trixie").unwrap();
        assert_eq!(
            trixie,
            "Types: deb\nURIs: http://mirror.example/debian\nSuites: trixie trixie-updates\nComponents: main\n\
             Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
             Types: deb\nURIs: http://mirror.example/debian-security\nSuites: trixie-security\nComponents: main\n\
             Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        );
        assert_eq!(
            release_urls(&trixie).unwrap(),
            [
                "http://mirror.example/debian/dists/trixie/InRelease",
                "http://mirror.example/debian/dists/trixie-updates/InRelease",
                "http://mirror.example/debian-security/dists/trixie-security/InRelease",
            ]
        );
        let same = mirror_sources(&bookworm(), "bookworm").unwrap();
        assert!(same.contains("Suites: bookworm bookworm-updates\n") && same.contains("Suites: bookworm-security\n"));
    }

    #[test]
    fn a_host_without_debian_sources_bootstraps_from_debians_own_mirrors() {
        let trixie = sources_on("trixie", DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR);
        assert_eq!(
            release_urls(&trixie).unwrap(),
            [
                "http://deb.debian.org/debian/dists/trixie/InRelease",
                "http://deb.debian.org/debian/dists/trixie-updates/InRelease",
                "http://deb.debian.org/debian-security/dists/trixie-security/InRelease",
            ]
        );
        assert!(trixie.contains("Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"), "{trixie}");
        let sid = sources_on("sid", DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR);
        assert_eq!(release_urls(&sid).unwrap(), ["http://deb.debian.org/debian/dists/sid/InRelease"]);
        // An image's own mirrors (a snapshot, say) replace them.
        let snapshot = sources_on("bookworm", "http://snap.test/debian/20250520T000000Z", "http://snap.test/security");
        assert_eq!(
            release_urls(&snapshot).unwrap(),
            [
                "http://snap.test/debian/20250520T000000Z/dists/bookworm/InRelease",
                "http://snap.test/debian/20250520T000000Z/dists/bookworm-updates/InRelease",
                "http://snap.test/security/dists/bookworm-security/InRelease",
            ]
        );
    }

    #[test]
    fn mirror_sources_skip_disabled_stanzas_and_other_suites() {
        let system = "\
Types: deb
URIs: http://a.example/debian
Suites: stable stable-updates
Components: main contrib

Types: deb
URIs: http://off.example/debian
Suites: stable
Components: main
Enabled: no

Types: deb
URIs: http://b.example/debian
Suites: stable-backports
Components: main

Types: deb
URIs: http://c.example/extra
Suites: sid
Components: main
";
        assert_eq!(
            mirror_sources(system, "trixie").unwrap(),
            "Types: deb\nURIs: http://a.example/debian\nSuites: trixie trixie-updates\nComponents: main contrib\n\n\
             Types: deb\nURIs: http://b.example/debian\nSuites: trixie-backports\nComponents: main\n"
        );
        assert!(mirror_sources("", "trixie").is_err());
    }

    #[test]
    fn release_dates_are_read_as_utc_seconds() {
        let release = "Origin: Debian\nLabel: Debian\nDate: Sat, 11 Jul 2026 10:16:37 UTC\nValid-Until: x\n";
        assert_eq!(release_date(release).unwrap(), 1_783_764_997);
        assert_eq!(release_date("Date: Tue, 29 Feb 2000 00:00:00 UTC\n").unwrap(), 951_782_400);
        assert_eq!(release_date("Date: Thu, 01 Jan 1970 00:00:01 UTC\n").unwrap(), 1);
        for bad in ["Origin: Debian\n", "Date: 2026-07-11\n", "Date: Sat, 11 Jly 2026 10:16:37 UTC\n"] {
            assert!(release_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_inherited_apt_options_that_the_host_sets_are_carried_over() {
        let dump = "APT \"\";\nAcquire::Check-Valid-Until \"false\";\nAcquire::Languages \"none\";\n\
                    Acquire::Check-Date \"false\";\nAcquire::Check-Valid-Until \"false\";\n";
        assert_eq!(
            inherited_apt_options(dump),
            ["Acquire::Check-Date \"false\"", "Acquire::Check-Valid-Until \"false\""]
        );
        assert!(inherited_apt_options("Acquire::Languages \"none\";\n").is_empty());
    }

    fn inputs() -> BootstrapInputs {
        BootstrapInputs {
            suite: "bookworm".into(),
            variant: "minbase".into(),
            slim: true,
            include: vec!["ca-certificates".into()],
            arch: "arm64".into(),
            sources: "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n".into(),
            releases: vec!["aa".into()],
            apt_options: vec!["Acquire::Check-Valid-Until \"false\"".into()],
            source_date_epoch: 1_700_000_000,
            mmdebstrap: "mmdebstrap 1.3.5".into(),
        }
    }

    #[test]
    fn the_mmdebstrap_argv_names_variant_architecture_hooks_options_suite_and_mirror() {
        let argv = inputs().argv(Utf8Path::new("w/debian.sources"), Utf8Path::new("c/k.tar.partial.7"));
        let mut expected = vec![
            "--variant=minbase".to_string(),
            "--architectures=arm64".into(),
            "--format=tar".into(),
            "--hook-dir=/usr/share/mmdebstrap/hooks/maybe-merged-usr".into(),
            "--include=ca-certificates".into(),
            "--aptopt=Acquire::Check-Valid-Until \"false\"".into(),
        ];
        expected.extend(SLIM_FILTERS.iter().map(|f| format!("--dpkgopt={f}")));
        expected.extend(["--".into(), "bookworm".into(), "c/k.tar.partial.7".into(), "w/debian.sources".into()]);
        assert_eq!(argv, expected);
        let plain = BootstrapInputs { slim: false, include: vec![], ..inputs() };
        let argv = plain.argv(Utf8Path::new("s"), Utf8Path::new("o"));
        assert!(!argv.iter().any(|a| a.starts_with("--dpkgopt") || a.starts_with("--include")), "{argv:?}");
    }

    #[test]
    fn every_input_changes_the_cache_key_and_nothing_else_does() {
        let base = inputs();
        assert_eq!(base.key(), inputs().key());
        assert!(base.key().starts_with("mmdebstrap-") && base.key().len() == "mmdebstrap-".len() + 32);
        let changed = [
            BootstrapInputs { suite: "trixie".into(), ..inputs() },
            BootstrapInputs { variant: "apt".into(), ..inputs() },
            BootstrapInputs { slim: false, ..inputs() },
            BootstrapInputs { include: vec!["ca-certificates".into(), "curl".into()], ..inputs() },
            BootstrapInputs { arch: "amd64".into(), ..inputs() },
            BootstrapInputs { sources: "Types: deb\nURIs: http://other.example/debian\n".into(), ..inputs() },
            BootstrapInputs { releases: vec!["ab".into()], ..inputs() },
            BootstrapInputs { apt_options: vec![], ..inputs() },
            BootstrapInputs { source_date_epoch: 1_700_000_001, ..inputs() },
            BootstrapInputs { mmdebstrap: "mmdebstrap 1.5.7".into(), ..inputs() },
        ];
        let mut keys: Vec<String> = changed.iter().map(BootstrapInputs::key).collect();
        keys.push(base.key());
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), changed.len() + 1, "two different inputs share a key");
        // Parts are length-prefixed: moving text from one part to the next changes the key.
        assert_ne!(cache_key("k", &["ab", "c"]), cache_key("k", &["a", "bc"]));
    }
}
