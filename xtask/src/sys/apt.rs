//! Fetch `.deb` files of any Debian suite and architecture through a private
//! apt state directory, so the system's sources, lists and dpkg architectures
//! stay untouched (no `dpkg --add-architecture`, no trixie in the system apt).

use std::fs::{self, File};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::text::last_lines;

/// The system's deb822 sources: every private suite borrows their mirror and
/// keyring, so no host name is ever written into the repository.
pub const SYSTEM_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";

/// Private lists older than this are refreshed before downloading.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// A private apt for one suite and a set of architectures, under
/// `<cache>/apt/<suite>`.
pub struct IsolatedApt {
    dir: Utf8PathBuf,
    suite: String,
    archs: Vec<String>,
    sources: String,
}

impl IsolatedApt {
    /// An apt for `suite` (e.g. "trixie") that knows the packages of `archs` (Debian names).
    pub fn new(cache: &Utf8Path, suite: &str, archs: &[&str]) -> Result<IsolatedApt> {
        let system = fs::read_to_string(SYSTEM_SOURCES).with_context(|| format!("reading {SYSTEM_SOURCES}"))?;
        Ok(IsolatedApt {
            dir: cache.join("apt").join(suite),
            suite: suite.to_owned(),
            archs: archs.iter().map(|a| a.to_string()).collect(),
            sources: sources_for_suite(&system, suite)?,
        })
    }

    /// The `.deb` of `package` for `arch`, downloaded once and then reused from the cache.
    pub fn download(&self, package: &str, arch: &str) -> Result<Utf8PathBuf> {
        if !self.archs.iter().any(|a| a == arch) {
            bail!("apt for {} was not set up for architecture {arch}", self.suite);
        }
        // apt-get fails rather than waits on a held lists lock, and parallel builds share
        // this state directory: take turns, across threads and processes alike.
        fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir))?;
        let lock = self.dir.join("xtask.lock");
        let _turn = File::create(&lock)
            .and_then(|file| file.lock().map(|()| file))
            .with_context(|| format!("locking {lock}"))?;
        let debs = self.dir.join("debs").join(arch);
        if let Some(deb) = cached_deb(&debs, package)? {
            return Ok(deb);
        }
        self.update_if_stale()?;
        // A private directory per process: a failed download leaves nothing that looks cached.
        let partial = debs.join(format!(".partial-{}", std::process::id()));
        if partial.exists() {
            fs::remove_dir_all(&partial).with_context(|| format!("removing {partial}"))?;
        }
        fs::create_dir_all(&partial).with_context(|| format!("creating {partial}"))?;
        run(self.apt_get(&["download", &format!("{package}:{arch}")]).dir(&partial))
            .with_context(|| format!("apt-get download {package}:{arch} from {}", self.suite))?;
        let fetched = cached_deb(&partial, package)?
            .with_context(|| format!("apt-get download left no {package} .deb in {partial}"))?;
        let deb = debs.join(fetched.file_name().expect("a .deb has a file name"));
        fs::rename(&fetched, &deb).with_context(|| format!("moving {fetched} to {deb}"))?;
        fs::remove_dir_all(&partial).with_context(|| format!("removing {partial}"))?;
        Ok(deb)
    }

    /// Runs `apt-get update` for this state directory when its lists are missing,
    /// older than a day, or were fetched for other sources or architectures.
    fn update_if_stale(&self) -> Result<()> {
        let stamp = self.dir.join("updated");
        let fingerprint = format!("{}\nArchitectures: {}\n", self.sources, self.archs.join(","));
        let previous = fs::read_to_string(&stamp).ok().zip(fs::metadata(&stamp).and_then(|m| m.modified()).ok());
        let previous = previous.as_ref().map(|(text, at)| (text.as_str(), *at));
        if !lists_stale(previous, &fingerprint, SystemTime::now()) {
            return Ok(());
        }
        for sub in ["lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d"] {
            let dir = self.dir.join(sub);
            fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
        }
        let sources = self.dir.join(format!("etc/sources.list.d/{}.sources", self.suite));
        fs::write(&sources, &self.sources).with_context(|| format!("writing {sources}"))?;
        run(self.apt_get(&["update"]))
            .with_context(|| format!("apt-get update for {} ({})", self.suite, self.archs.join(",")))?;
        fs::write(&stamp, fingerprint).with_context(|| format!("writing {stamp}"))
    }

    /// apt-get confined to this state directory; only dpkg's status is shared, read-only.
    fn apt_get(&self, args: &[&str]) -> duct::Expression {
        let d = &self.dir;
        let options = [
            format!("Dir::State={d}"),
            format!("Dir::State::Lists={d}/lists"),
            "Dir::State::status=/var/lib/dpkg/status".to_owned(),
            format!("Dir::Cache={d}/cache"),
            "Dir::Etc::SourceList=/dev/null".to_owned(),
            format!("Dir::Etc::SourceParts={d}/etc/sources.list.d"),
            "Dir::Etc::Preferences=/dev/null".to_owned(),
            format!("Dir::Etc::PreferencesParts={d}/etc/preferences.d"),
            format!("APT::Architectures={}", self.archs.join(",")),
            // Root-owned state under target/ is not writable by the `_apt` sandbox user.
            "APT::Sandbox::User=root".to_owned(),
        ];
        let mut argv = vec!["-q".to_owned()];
        for option in options {
            argv.push("-o".to_owned());
            argv.push(option);
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        duct::cmd("apt-get", argv)
    }
}

/// The suite of the system's main archive (e.g. "bookworm"), read from [`SYSTEM_SOURCES`].
pub fn system_suite() -> Result<String> {
    let system = fs::read_to_string(SYSTEM_SOURCES).with_context(|| format!("reading {SYSTEM_SOURCES}"))?;
    suite_of(&system)
}

/// The Debian architecture name of an OCI platform such as "linux/arm64".
pub fn debian_arch(platform: &str) -> Result<&'static str> {
    Ok(match platform {
        "linux/amd64" => "amd64",
        "linux/arm64" => "arm64",
        "linux/arm/v7" => "armhf",
        "linux/arm/v6" => "armel",
        "linux/386" => "i386",
        "linux/ppc64le" => "ppc64el",
        "linux/s390x" => "s390x",
        "linux/riscv64" => "riscv64",
        other => bail!("no Debian architecture corresponds to platform {other}"),
    })
}

/// Runs `expr` with no stdin and its output captured, so a failure reports
/// that output and a success stays quiet. Returns stdout and stderr interleaved.
pub(crate) fn run(expr: duct::Expression) -> Result<String> {
    let output = expr.stdin_null().stderr_to_stdout().stdout_capture().unchecked().run()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("{}; its last output:\n{}", output.status, last_lines(&text, 20));
    }
    Ok(text)
}

/// A `<package>_<version>_<arch>.deb` in `dir`, if one was downloaded before.
fn cached_deb(dir: &Utf8Path, package: &str) -> Result<Option<Utf8PathBuf>> {
    if !dir.exists() {
        return Ok(None);
    }
    let prefix = format!("{package}_");
    for entry in dir.read_dir_utf8().with_context(|| format!("listing {dir}"))? {
        let entry = entry.with_context(|| format!("listing {dir}"))?;
        let name = entry.file_name();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            return Ok(Some(entry.into_path()));
        }
    }
    Ok(None)
}

/// Whether lists fetched at the time and for the fingerprint in `stamp` must be fetched again.
fn lists_stale(stamp: Option<(&str, SystemTime)>, fingerprint: &str, now: SystemTime) -> bool {
    match stamp {
        None => true,
        Some((previous, at)) => previous != fingerprint || now.duration_since(at).is_ok_and(|age| age > LISTS_MAX_AGE),
    }
}

/// The deb822 stanzas of `text`: fields in order, values keeping their continuation lines.
pub(crate) fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut stanzas = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !fields.is_empty() {
                stanzas.push(std::mem::take(&mut fields));
            }
        } else if line.starts_with('#') {
            continue;
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    if !fields.is_empty() {
        stanzas.push(fields);
    }
    stanzas
}

pub(crate) fn field<'a>(stanza: &'a [(String, String)], name: &str) -> Option<&'a str> {
    stanza.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The enabled binary stanzas of the main archive: not the security archive, whose suites
/// are named differently and whose packages a private suite does not need.
fn archive_stanzas(system: &str) -> Result<Vec<Vec<(String, String)>>> {
    let found: Vec<_> = stanzas(system)
        .into_iter()
        .filter(|s| field(s, "Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb")))
        .filter(|s| field(s, "Enabled").is_none_or(|e| !e.eq_ignore_ascii_case("no")))
        .filter(|s| field(s, "URIs").is_some_and(|u| !u.contains("security")))
        .collect();
    if found.is_empty() {
        bail!("{SYSTEM_SOURCES} has no stanza for the main Debian archive");
    }
    Ok(found)
}

/// deb822 sources for `suite` on the same mirror(s), components and keyring as `system`.
fn sources_for_suite(system: &str, suite: &str) -> Result<String> {
    let mut out: Vec<String> = Vec::new();
    for stanza in archive_stanzas(system)? {
        let mut text = format!("Types: deb\nSuites: {suite}\n");
        for name in ["URIs", "Components", "Signed-By"] {
            if let Some(value) = field(&stanza, name) {
                // A value may start on the next line, as an inline key does.
                let gap = if value.starts_with('\n') { "" } else { " " };
                text.push_str(&format!("{name}:{gap}{value}\n"));
            }
        }
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Ok(out.join("\n"))
}

pub(crate) fn suite_of(system: &str) -> Result<String> {
    archive_stanzas(system)?
        .iter()
        .find_map(|s| field(s, "Suites").and_then(|v| v.split_whitespace().next()))
        .map(str::to_owned)
        .with_context(|| format!("{SYSTEM_SOURCES} names no suite for the main Debian archive"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A bookworm host's deb822 sources: main archive with updates, and security.
    pub(crate) const BOOKWORM: &str = "\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn trixie_sources_keep_mirror_and_keyring_but_not_security() {
        assert_eq!(
            sources_for_suite(BOOKWORM, "trixie").unwrap(),
            "Types: deb\nSuites: trixie\nURIs: http://mirror.example/debian\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        );
        assert_eq!(suite_of(BOOKWORM).unwrap(), "bookworm");
    }

    #[test]
    fn sources_skip_disabled_and_source_only_stanzas_and_keep_inline_keys() {
        let system = "\
Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb deb-src
URIs: http://a.example/debian http://b.example/debian
Suites: stable
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7UgrTXUmHZ8Ywbl
 -----END PGP PUBLIC KEY BLOCK-----
";
        assert_eq!(
            sources_for_suite(system, "trixie").unwrap(),
            "Types: deb\nSuites: trixie\nURIs: http://a.example/debian http://b.example/debian\n\
             Components: main contrib\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n \
             mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7UgrTXUmHZ8Ywbl\n \
             -----END PGP PUBLIC KEY BLOCK-----\n"
        );
        assert_eq!(suite_of(system).unwrap(), "stable");
    }

    #[test]
    fn sources_without_a_main_archive_are_an_error() {
        let security_only = BOOKWORM.split("\n\n").nth(1).unwrap();
        assert!(sources_for_suite(security_only, "trixie").is_err());
        assert!(suite_of("").is_err());
    }

    #[test]
    fn lists_are_refetched_when_missing_old_or_for_other_sources() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10 * 24 * 60 * 60);
        let hour_ago = now - Duration::from_secs(60 * 60);
        let two_days_ago = now - Duration::from_secs(2 * 24 * 60 * 60);
        assert!(lists_stale(None, "a", now));
        assert!(!lists_stale(Some(("a", hour_ago)), "a", now));
        assert!(lists_stale(Some(("a", two_days_ago)), "a", now));
        assert!(lists_stale(Some(("a", hour_ago)), "a+arm64", now));
    }

    #[test]
    fn cached_deb_matches_the_whole_package_name() {
        let dir =
            Utf8PathBuf::try_from(std::env::temp_dir()).unwrap().join(format!("xtask-apt-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("busybox-static_1%3a1.35.0-4_arm64.deb"), "").unwrap();
        assert_eq!(cached_deb(&dir, "busybox").unwrap(), None);
        assert_eq!(
            cached_deb(&dir, "busybox-static").unwrap(),
            Some(dir.join("busybox-static_1%3a1.35.0-4_arm64.deb"))
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn platforms_map_to_debian_architectures() {
        assert_eq!(debian_arch("linux/arm64").unwrap(), "arm64");
        assert_eq!(debian_arch("linux/arm/v7").unwrap(), "armhf");
        assert_eq!(debian_arch("linux/ppc64le").unwrap(), "ppc64el");
        assert!(debian_arch("windows/amd64").is_err());
    }
}
