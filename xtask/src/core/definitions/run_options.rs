//! How a test's containers run: the `docker run` options of `[[tests]]`, of
//! `[[tests.service]]` and of the companions a service starts beside it.

use super::test_cases::{validate_wait, TestArgs};
use super::*;

/// The `docker run` options a test may set; the image's own settings stay otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOptions {
    pub env: BTreeMap<String, String>,
    /// `--user`: a name or uid, optionally `:group`.
    pub user: Option<String>,
    /// `--tmpfs` mounts: an absolute path, optionally `:options` (`/run:size=16m,mode=1777`).
    pub tmpfs: Vec<String>,
    /// `--shm-size`, e.g. `256m`.
    pub shm_size: Option<String>,
    pub read_only: bool,
    pub network: TestNetwork,
}

/// The network of a test's containers. Nothing else is offered: the engine has no bridge
/// on build machines, and a test should not depend on the outside anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestNetwork {
    /// Loopback only.
    #[default]
    None,
    /// The host's network: for tests of what a container serves to the host.
    Host,
}

impl TestNetwork {
    pub fn as_str(self) -> &'static str {
        match self {
            TestNetwork::None => "none",
            TestNetwork::Host => "host",
        }
    }
}

/// Another unit of the workspace that a service runs beside, in the service's network
/// namespace: PostgreSQL for PgBouncer, a database for an API.
#[derive(Debug, Clone, PartialEq)]
pub struct Companion {
    /// `NAME` (its default variant) or `NAME:VARIANT`.
    pub unit: String,
    pub run: RunOptions,
    pub wait: Wait,
}

/// The run options as image.toml writes them, taken from whichever table holds them.
pub(super) struct RawRun {
    pub env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pub user: Option<Spanned<String>>,
    pub tmpfs: Option<Vec<Spanned<String>>>,
    pub shm_size: Option<Spanned<String>>,
    pub read_only: Option<bool>,
    pub network: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCompanion {
    unit: Spanned<String>,
    env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    user: Option<Spanned<String>>,
    tmpfs: Option<Vec<Spanned<String>>>,
    shm_size: Option<Spanned<String>>,
    read_only: Option<bool>,
    wait: Option<Spanned<String>>,
}

/// At most this many companions per service: each is a container started and waited for.
const MAX_COMPANIONS: usize = 8;

pub(super) fn validate_run(src: &Source<'_>, args: &TestArgs<'_>, raw: RawRun) -> Result<RunOptions, DefinitionError> {
    let user = match raw.user {
        Some(user) if !valid_user(user.get_ref()) => {
            return Err(src.at(
                &user,
                format!("invalid user {:?}", user.get_ref()),
                "write a user name or uid, optionally with `:group`, e.g. \"65534:65534\" or \"postgres\"".to_string(),
            ))
        }
        user => user.map(Spanned::into_inner),
    };
    let tmpfs = raw
        .tmpfs
        .unwrap_or_default()
        .into_iter()
        .map(|mount| {
            check_tmpfs(mount.get_ref()).map(|()| mount.get_ref().clone()).map_err(|why| {
                src.at(
                    &mount,
                    format!("invalid tmpfs mount {:?}: {why}", mount.get_ref()),
                    "write an absolute path, optionally with docker's options, e.g. \"/run:size=16m,mode=1777\""
                        .to_string(),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let shm_size = match raw.shm_size {
        Some(size) if !valid_size(size.get_ref()) => {
            return Err(src.at(
                &size,
                format!("invalid shm_size {:?}", size.get_ref()),
                "write a size as docker reads it: digits with b, k, m or g, e.g. \"256m\"".to_string(),
            ))
        }
        size => size.map(Spanned::into_inner),
    };
    let network = match raw.network {
        None => TestNetwork::None,
        Some(n) => match n.get_ref().as_str() {
            "none" => TestNetwork::None,
            "host" => TestNetwork::Host,
            other => {
                return Err(src.at(
                    &n,
                    format!("invalid network {other:?}"),
                    "write \"none\" (loopback only, the default) or \"host\"".to_string(),
                ))
            }
        },
    };
    Ok(RunOptions {
        env: args.env(src, raw.env)?,
        user,
        tmpfs,
        shm_size,
        read_only: raw.read_only.unwrap_or(false),
        network,
    })
}

pub(super) fn validate_companions(
    src: &Source<'_>,
    args: &TestArgs<'_>,
    raw: Vec<RawCompanion>,
) -> Result<Vec<Companion>, DefinitionError> {
    if let Some(extra) = raw.get(MAX_COMPANIONS) {
        return Err(src.at(
            &extra.unit,
            format!("{} companions, more than the {MAX_COMPANIONS} a service may start", raw.len()),
            "test fewer units together".to_string(),
        ));
    }
    raw.into_iter()
        .map(|c| {
            if !valid_unit_name(c.unit.get_ref()) {
                return Err(src.at(
                    &c.unit,
                    format!("invalid companion unit {:?}", c.unit.get_ref()),
                    "name an image of the workspace as NAME or NAME:VARIANT, e.g. \"postgres\"".to_string(),
                ));
            }
            let wait = validate_wait(src, c.wait)?;
            let run = RawRun {
                env: c.env,
                user: c.user,
                tmpfs: c.tmpfs,
                shm_size: c.shm_size,
                read_only: c.read_only,
                network: None,
            };
            Ok(Companion { unit: c.unit.into_inner(), run: validate_run(src, args, run)?, wait })
        })
        .collect()
}

/// `name`, `uid`, `name:group` or `uid:gid`: docker's `--user` without anything a shell or a
/// flag could make of it.
fn valid_user(user: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 64
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    !user.starts_with('-') && user.splitn(2, ':').all(part)
}

fn check_tmpfs(mount: &str) -> Result<(), String> {
    let (path, options) = mount.split_once(':').unwrap_or((mount, ""));
    if !path.starts_with('/') {
        return Err("the path is not absolute".to_string());
    }
    if path == "/" || path.split('/').any(|p| p == "..") {
        return Err("a tmpfs cannot replace the root or climb out of it".to_string());
    }
    let path_ok = path.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
    let options_ok =
        options.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b',' | b'_' | b'.' | b'-'));
    if !path_ok || !options_ok {
        return Err("only letters, digits and `/_.-` in the path, and `=,_.-` in the options".to_string());
    }
    Ok(())
}

/// Digits with an optional unit, as docker's `--shm-size` reads it.
fn valid_size(size: &str) -> bool {
    let digits = size.trim_end_matches(|c: char| "bBkKmMgG".contains(c));
    !digits.is_empty()
        && size.len() - digits.len() <= 1
        && digits.len() <= 12
        && digits.bytes().all(|b| b.is_ascii_digit())
}

fn valid_unit_name(name: &str) -> bool {
    let part = |p: &str| {
        p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    };
    name.splitn(2, ':').all(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_options_refuse_what_docker_would_read_otherwise() {
        for ok in ["postgres", "65534", "65534:65534", "app:staff"] {
            assert!(valid_user(ok), "{ok}");
        }
        for bad in ["", "-u", "a b", "root:", ":0", "$(id)"] {
            assert!(!valid_user(bad), "{bad}");
        }
        assert_eq!(check_tmpfs("/run:size=16m,mode=1777"), Ok(()));
        assert_eq!(check_tmpfs("/tmp"), Ok(()));
        for bad in ["tmp", "/", "/a/../b", "/run:size=1m;rm", "/with space"] {
            assert!(check_tmpfs(bad).is_err(), "{bad}");
        }
        for ok in ["256m", "1g", "65536", "64M"] {
            assert!(valid_size(ok), "{ok}");
        }
        for bad in ["", "m", "1mb", "-1m", "1.5g"] {
            assert!(!valid_size(bad), "{bad}");
        }
        assert!(valid_unit_name("postgres") && valid_unit_name("runner:go"));
        assert!(!valid_unit_name("Postgres") && !valid_unit_name("a:") && !valid_unit_name("--rm"));
    }
}
