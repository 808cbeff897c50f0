//! The judgement of `doctor`: facts about the machine (docker, buildx, the builder, binfmt,
//! the registry and its login) in, one row per prerequisite out: its version, what is
//! wrong and the fix.

use anyhow::Result;
use serde::Serialize;

use crate::core::buildx::Driver;

const PROVISION: &str = "run `cargo xtask provision`";

/// What the machine said, each answer as text or the error it gave.
#[derive(Debug)]
pub struct Facts {
    /// `docker --version`.
    pub client: Result<String, String>,
    /// Server version; `None` when there is no client to ask.
    pub server: Option<Result<String, String>>,
    /// `docker buildx version`; `None` without a client.
    pub buildx: Option<Result<String, String>>,
    /// `docker buildx inspect`; `None` without a server or buildx.
    pub builder: Option<Result<String, String>>,
    /// Every platform an image declares.
    pub platforms: Vec<String>,
    pub host_platform: String,
    /// The foreign platforms' emulators, or why they are not known.
    pub emulators: Result<Vec<Emulator>, String>,
    pub registry: RegistryFacts,
    /// The engines of this machine and the one this run uses, each with what it can do.
    pub engines: Vec<EngineFacts>,
    /// Each registry the external bases come from, with one of its references and whether
    /// it could be read (pulled) with docker's login, or anonymously.
    pub base_registries: Vec<BasePull>,
}

/// One engine: its docker context, whether this run builds on it, and its version and
/// capabilities or why it did not answer.
#[derive(Debug)]
pub struct EngineFacts {
    pub name: String,
    pub selected: bool,
    pub report: Result<(String, crate::core::engine::Capabilities), String>,
}

/// A pull of one external base's manifest, as a build would pull it.
#[derive(Debug)]
pub struct BasePull {
    pub registry: String,
    pub reference: String,
    pub read: Result<(), String>,
}

#[derive(Debug)]
pub struct Emulator {
    pub platform: String,
    /// The binfmt_misc entry, e.g. `qemu-aarch64`.
    pub name: String,
    pub state: Binfmt,
    /// The entry's `flags:` line, e.g. `PF`.
    pub flags: String,
}

#[derive(Debug)]
pub struct RegistryFacts {
    pub host: String,
    /// On this machine's loopback: `build` starts it when nothing answers.
    pub loopback: bool,
    /// `docker-registry` is on PATH, so a local registry can be started.
    pub can_serve: bool,
    /// `GET /v2/` answered (401 included).
    pub ping: Result<(), String>,
    /// A repository read with the login docker would use, and how that went; `None` when
    /// there was nothing to read (no image) or the registry did not answer.
    pub access: Option<(String, Result<(), String>)>,
    /// The login for the host: (user, where it came from), `None` for anonymous.
    pub login: Result<Option<(String, String)>, String>,
    pub config_file: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not right, but `build` copes (it fixes it itself, or it only slows things down).
    Warn,
    /// Building cannot work until it is fixed.
    Fail,
    /// Not checked: something it needs failed first.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub check: String,
    pub status: Status,
    pub version: String,
    pub problem: String,
    pub fix: String,
}

pub fn row(
    check: impl Into<String>,
    status: Status,
    version: impl Into<String>,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> Row {
    Row { check: check.into(), status, version: version.into(), problem: problem.into(), fix: fix.into() }
}

fn skipped(check: &str, needs: &str) -> Row {
    row(check, Status::Skipped, "", format!("not checked: needs {needs}"), "")
}

/// The first line of a tool's error: enough for a table cell.
fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

/// `Docker version 28.2.2, build e6534b4` → `28.2.2`.
fn client_version(text: &str) -> &str {
    text.strip_prefix("Docker version ").and_then(|rest| rest.split(',').next()).unwrap_or(text).trim()
}

/// `github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3` → `0.13.1+ds1`.
fn buildx_version(text: &str) -> &str {
    text.split_whitespace().nth(1).unwrap_or(text)
}

/// One row per prerequisite, in the order a build needs them.
pub fn judge(facts: &Facts) -> Vec<Row> {
    let mut rows = Vec::new();
    let client_ok = match &facts.client {
        Ok(text) => {
            rows.push(row("docker client", Status::Ok, client_version(text), "", ""));
            true
        }
        Err(err) => {
            rows.push(row(
                "docker client",
                Status::Fail,
                "",
                format!("docker does not run: {}", first_line(err)),
                PROVISION,
            ));
            false
        }
    };
    let server_ok = match &facts.server {
        None => {
            rows.push(skipped("docker engine", "the docker client"));
            false
        }
        Some(Ok(version)) => {
            rows.push(row("docker engine", Status::Ok, version.as_str(), "", ""));
            true
        }
        Some(Err(err)) if err.contains("permission denied") => {
            rows.push(row(
                "docker engine",
                Status::Fail,
                "",
                "this user may not talk to the docker daemon",
                "run as root, or join the `docker` group",
            ));
            false
        }
        Some(Err(err)) => {
            rows.push(row(
                "docker engine",
                Status::Fail,
                "",
                format!("the docker daemon does not answer: {}", first_line(err)),
                format!("{PROVISION} (it starts containerd and dockerd)"),
            ));
            false
        }
    };
    let buildx_ok = match &facts.buildx {
        None => {
            rows.push(skipped("buildx", "the docker client"));
            false
        }
        Some(Ok(text)) => {
            rows.push(row("buildx", Status::Ok, buildx_version(text), "", ""));
            true
        }
        Some(Err(err)) => {
            rows.push(row(
                "buildx",
                Status::Fail,
                "",
                format!("docker buildx is not installed: {}", first_line(err)),
                format!("{PROVISION} (it installs docker-buildx from Debian 13)"),
            ));
            false
        }
    };
    match facts.builder.as_ref().filter(|_| client_ok && server_ok && buildx_ok) {
        None => rows.push(skipped("builder", "the engine and buildx")),
        Some(Err(err)) => rows.push(row(
            "builder",
            Status::Fail,
            "",
            format!("`docker buildx inspect` failed: {}", first_line(err)),
            "`docker buildx use default`, or create a builder with `docker buildx create --use`",
        )),
        Some(Ok(inspect)) => rows.push(judge_builder(inspect, &facts.platforms)),
    }
    match &facts.emulators {
        Err(err) => rows.push(row("binfmt", Status::Fail, "", err.as_str(), "remove the platform from image.toml")),
        Ok(emulators) if emulators.is_empty() => rows.push(row(
            "binfmt",
            Status::Ok,
            "",
            format!("no emulator needed: every declared platform runs natively on {}", facts.host_platform),
            "",
        )),
        Ok(emulators) => rows.extend(emulators.iter().map(judge_emulator)),
    }
    rows.extend(judge_registry(&facts.registry));
    rows.extend(facts.engines.iter().map(judge_engine));
    rows.extend(facts.base_registries.iter().map(judge_base_pull));
    rows
}

/// An engine's version, image store and capabilities; what it lacks, with the fix, when this
/// run builds on it. One that does not answer only blocks building when it is this run's.
fn judge_engine(engine: &EngineFacts) -> Row {
    let used = if engine.selected { " (this run's)" } else { "" };
    let check = format!("engine {}{used}", engine.name);
    match &engine.report {
        Ok((version, capabilities)) => {
            let (has, lacks): (Vec<_>, Vec<_>) = capabilities.features().into_iter().partition(|(_, has)| *has);
            let names = |list: Vec<(&str, bool)>| list.into_iter().map(|(n, _)| n).collect::<Vec<_>>().join(", ");
            let summary = format!("Docker {version}, {} image store", capabilities.image_store());
            let summary = if has.is_empty() { summary } else { format!("{summary}: {}", names(has)) };
            if lacks.is_empty() || !engine.selected {
                row(check, Status::Ok, summary, "", "")
            } else {
                row(
                    check,
                    Status::Warn,
                    summary,
                    format!("no {}: builds use the classic strategy", names(lacks)),
                    "for them, build on the containerd image store: `engine = \"xtask\"` after `cargo xtask provision`",
                )
            }
        }
        Err(err) if engine.selected => {
            row(check, Status::Fail, "", format!("does not answer: {}", first_line(err)), PROVISION)
        }
        Err(err) => row(check, Status::Warn, "", format!("does not answer: {}", first_line(err)), PROVISION),
    }
}

/// Pull access to a registry of external bases: a build stops on a base it cannot pin.
fn judge_base_pull(pull: &BasePull) -> Row {
    let check = format!("base registry {}", pull.registry);
    match &pull.read {
        Ok(()) => row(check, Status::Ok, "", format!("{} can be pulled", pull.reference), ""),
        Err(err) => row(
            check,
            Status::Fail,
            "",
            format!("{} cannot be pulled: {}", pull.reference, first_line(err)),
            format!("check the network and the name, or run `docker login {}`", pull.registry),
        ),
    }
}

fn judge_builder(inspect: &str, platforms: &[String]) -> Row {
    let driver = match Driver::from_inspect(inspect) {
        Ok(driver) => driver,
        Err(err) => return row("builder", Status::Fail, "", err.to_string(), "`docker buildx use default`"),
    };
    let listed = crate::core::buildx::builder_platforms(inspect);
    let cache = match driver {
        Driver::Docker => "inline cache",
        Driver::Container(_) | Driver::ContainerdStore => "registry cache",
    };
    let version = format!("driver {} ({cache}); {}", driver.name(), listed.join(", "));
    let missing: Vec<&str> = platforms.iter().map(String::as_str).filter(|p| !listed.contains(p)).collect();
    if missing.is_empty() {
        return row("builder", Status::Ok, version, "", "");
    }
    row(
        "builder",
        Status::Fail,
        version,
        format!("the builder cannot build {}", missing.join(", ")),
        "enable the emulators (see the binfmt rows), then restart dockerd so BuildKit finds them",
    )
}

fn judge_emulator(emulator: &Emulator) -> Row {
    let check = format!("binfmt {}", emulator.platform);
    let name = emulator.name.as_str();
    let version = format!("{name} (flags {})", if emulator.flags.is_empty() { "none" } else { &emulator.flags });
    match emulator.state {
        Binfmt::Missing => {
            row(check, Status::Fail, name, format!("the {name} emulator is not registered with binfmt_misc"), PROVISION)
        }
        Binfmt::Disabled => row(
            check,
            Status::Warn,
            version,
            format!("{name} is registered but switched off"),
            format!("none needed: `build` switches it on (or `echo 1 > /proc/sys/fs/binfmt_misc/{name}`)"),
        ),
        // Without F (fix binary) the kernel looks for the interpreter inside each container, where it is not.
        Binfmt::Enabled if !emulator.flags.contains('F') => row(
            check,
            Status::Fail,
            version,
            format!("{name} lacks the F flag, so RUN steps of {} fail in containers", emulator.platform),
            format!(
                "install qemu-user-static, then `update-binfmts --disable {name} && update-binfmts --enable {name}`"
            ),
        ),
        Binfmt::Enabled => row(check, Status::Ok, version, "", ""),
    }
}

fn judge_registry(facts: &RegistryFacts) -> Vec<Row> {
    let host = facts.host.as_str();
    let reach = format!("registry {host}");
    let mut rows = Vec::new();
    let answers = match &facts.ping {
        Ok(()) => {
            rows.push(row(&reach, Status::Ok, "answers /v2/", "", ""));
            true
        }
        Err(_) if facts.loopback && facts.can_serve => {
            rows.push(row(
                &reach,
                Status::Warn,
                "",
                "nothing answers yet; `build` starts the local registry itself",
                "none needed (or `cargo xtask provision` to start it now)",
            ));
            false
        }
        Err(_) if facts.loopback => {
            rows.push(row(
                &reach,
                Status::Fail,
                "",
                "nothing answers, and docker-registry is not installed to start it",
                PROVISION,
            ));
            false
        }
        Err(err) => {
            rows.push(row(
                &reach,
                Status::Fail,
                "",
                format!("unreachable: {}", first_line(err)),
                "check the host, port and network, or pick another with --registry or XTASK_REGISTRY \
                 (plain HTTP to a non-loopback host needs XTASK_INSECURE_REGISTRIES)",
            ));
            false
        }
    };
    let access = "registry access";
    match (&facts.access, answers) {
        (_, false) => rows.push(skipped(access, "a registry that answers")),
        (None, true) => rows.push(row(access, Status::Ok, "", "no image to read yet", "")),
        (Some((repository, Ok(()))), true) => rows.push(row(access, Status::Ok, format!("reads {repository}"), "", "")),
        (Some((repository, Err(err))), true) => {
            let fix = if err.contains("requires a login") || err.contains("refused the credentials") {
                format!("`docker login {host}`")
            } else {
                "see the problem; `cargo xtask verify-manifests` shows the full error".to_string()
            };
            rows.push(row(access, Status::Fail, "", format!("reading {repository}: {}", first_line(err)), fix));
        }
    }
    rows.push(match &facts.login {
        Ok(Some((user, origin))) => row("credentials", Status::Ok, format!("{user} from {origin}"), "", ""),
        Ok(None) => {
            row("credentials", Status::Ok, format!("anonymous: no login for {host} in {}", facts.config_file), "", "")
        }
        Err(err) => row(
            "credentials",
            Status::Fail,
            "",
            first_line(err),
            format!("fix {}: install the credential helper it names, or remove it", facts.config_file),
        ),
    });
    rows
}

#[derive(Debug, PartialEq)]
pub enum Binfmt {
    Enabled,
    /// Registered with the kernel but switched off.
    Disabled,
    /// Not registered, or binfmt_misc is not mounted.
    Missing,
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSPECT: &str = "Name:          default\nDriver:        docker\n\nNodes:\nName:             default\n\
                           Status:           running\nPlatforms:        linux/amd64, linux/arm64, linux/386\n";

    fn healthy() -> Facts {
        Facts {
            client: Ok("Docker version 28.2.2, build e6534b4".into()),
            server: Some(Ok("20.10.24+dfsg1".into())),
            buildx: Some(Ok("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3".into())),
            builder: Some(Ok(INSPECT.into())),
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            host_platform: "linux/amd64".into(),
            emulators: Ok(vec![Emulator {
                platform: "linux/arm64".into(),
                name: "qemu-aarch64".into(),
                state: Binfmt::Enabled,
                flags: "PF".into(),
            }]),
            registry: RegistryFacts {
                host: "localhost:5000".into(),
                loopback: true,
                can_serve: true,
                ping: Ok(()),
                access: Some(("base".into(), Ok(()))),
                login: Ok(None),
                config_file: "/root/.docker/config.json".into(),
            },
            base_registries: Vec::new(),
            engines: Vec::new(),
        }
    }

    #[test]
    fn engines_report_their_store_and_what_the_used_one_lacks() {
        use crate::core::engine::Capabilities;
        let two = vec!["linux/amd64".to_string(), "linux/arm64".to_string()];
        let modern = Capabilities::from_reports("io.containerd.snapshotter.v1", two.clone());
        let classic = Capabilities::from_reports("extfs", two);
        let mut facts = healthy();
        facts.engines = vec![
            EngineFacts { name: "xtask".into(), selected: true, report: Ok(("26.1.5".into(), modern)) },
            EngineFacts { name: "default".into(), selected: false, report: Ok(("20.10.24".into(), classic.clone())) },
            EngineFacts { name: "desktop".into(), selected: false, report: Err("Cannot connect".into()) },
        ];
        let rows = judge(&facts);
        let xtask = by_check(&rows, "engine xtask (this run's)");
        assert_eq!(xtask.status, Status::Ok);
        assert!(xtask
            .version
            .starts_with("Docker 26.1.5, containerd image store: multi-platform, registry cache export"));
        assert_eq!(by_check(&rows, "engine default").status, Status::Ok, "not used: nothing to fix");
        assert_eq!(by_check(&rows, "engine desktop").status, Status::Warn);
        facts.engines =
            vec![EngineFacts { name: "default".into(), selected: true, report: Ok(("20.10.24".into(), classic)) }];
        let used = by_check(&judge(&facts), "engine default (this run's)").clone();
        assert_eq!(used.status, Status::Warn);
        assert!(used.problem.starts_with("no registry cache export, attestations, named contexts"), "{used:?}");
        assert!(used.fix.contains("engine = \"xtask\""), "{used:?}");
    }

    #[test]
    fn each_base_registry_is_checked_for_pull_access() {
        let mut facts = healthy();
        facts.base_registries = vec![
            BasePull { registry: "docker.io".into(), reference: "docker.io/library/python:3.11".into(), read: Ok(()) },
            BasePull {
                registry: "ghcr.io".into(),
                reference: "ghcr.io/acme/private:1".into(),
                read: Err("ghcr.io requires a login (HTTP 401)\nmore".into()),
            },
        ];
        let rows = judge(&facts);
        assert_eq!(by_check(&rows, "base registry docker.io").status, Status::Ok);
        let denied = by_check(&rows, "base registry ghcr.io");
        assert_eq!(denied.status, Status::Fail);
        assert!(denied.problem.ends_with("cannot be pulled: ghcr.io requires a login (HTTP 401)"), "{denied:?}");
        assert!(denied.fix.contains("docker login ghcr.io"), "{denied:?}");
    }

    fn by_check<'a>(rows: &'a [Row], check: &str) -> &'a Row {
        rows.iter().find(|r| r.check == check).unwrap_or_else(|| panic!("no {check} row in {rows:#?}"))
    }

    #[test]
    fn a_healthy_machine_is_all_ok_with_versions() {
        let rows = judge(&healthy());
        let summary: Vec<(&str, Status, &str)> =
            rows.iter().map(|r| (r.check.as_str(), r.status, r.version.as_str())).collect();
        assert_eq!(
            summary,
            [
                ("docker client", Status::Ok, "28.2.2"),
                ("docker engine", Status::Ok, "20.10.24+dfsg1"),
                ("buildx", Status::Ok, "0.13.1+ds1"),
                ("builder", Status::Ok, "driver docker (inline cache); linux/amd64, linux/arm64, linux/386"),
                ("binfmt linux/arm64", Status::Ok, "qemu-aarch64 (flags PF)"),
                ("registry localhost:5000", Status::Ok, "answers /v2/"),
                ("registry access", Status::Ok, "reads base"),
                ("credentials", Status::Ok, "anonymous: no login for localhost:5000 in /root/.docker/config.json"),
            ]
        );
        assert!(rows.iter().all(|r| r.problem.is_empty() && r.fix.is_empty()));
    }

    #[test]
    fn no_engine_fails_once_and_skips_what_needs_it() {
        let mut facts = healthy();
        facts.server =
            Some(Err("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\nIs it running?".into()));
        facts.builder = None;
        let rows = judge(&facts);
        let engine = by_check(&rows, "docker engine");
        assert_eq!(engine.status, Status::Fail);
        assert_eq!(
            engine.problem,
            "the docker daemon does not answer: Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
        );
        assert_eq!(engine.fix, "run `cargo xtask provision` (it starts containerd and dockerd)");
        assert_eq!(by_check(&rows, "builder").status, Status::Skipped);

        facts.server = Some(Err("Got permission denied while trying to connect".into()));
        assert_eq!(judge(&facts)[1].fix, "run as root, or join the `docker` group");

        let mut facts = healthy();
        facts.client = Err("running docker: No such file or directory".into());
        (facts.server, facts.buildx, facts.builder) = (None, None, None);
        let rows = judge(&facts);
        let statuses: Vec<Status> = rows[..4].iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Status::Fail, Status::Skipped, Status::Skipped, Status::Skipped]);
    }

    #[test]
    fn missing_buildx_and_builder_platforms_block() {
        let mut facts = healthy();
        facts.buildx = Some(Err("docker: 'buildx' is not a docker command.".into()));
        let rows = judge(&facts);
        assert_eq!(by_check(&rows, "buildx").status, Status::Fail);
        assert!(by_check(&rows, "buildx").fix.contains("cargo xtask provision"));
        assert_eq!(by_check(&rows, "builder").status, Status::Skipped);

        let mut facts = healthy();
        facts.builder = Some(Ok(INSPECT.replace(", linux/arm64", "")));
        let builder = judge(&facts).into_iter().find(|r| r.check == "builder").unwrap();
        assert_eq!((builder.status, builder.problem.as_str()), (Status::Fail, "the builder cannot build linux/arm64"));
        assert!(builder.fix.contains("restart dockerd"));

        facts.builder = Some(Ok(INSPECT.replace("Driver:        docker", "Driver:        docker-container")));
        let builder = judge(&facts).into_iter().find(|r| r.check == "builder").unwrap();
        assert!(builder.version.starts_with("driver docker-container (registry cache)"), "{builder:?}");
    }

    #[test]
    fn emulators_missing_disabled_or_without_fix_binary() {
        let mut facts = healthy();
        let emulator = |state, flags: &str| Emulator {
            platform: "linux/arm64".into(),
            name: "qemu-aarch64".into(),
            state,
            flags: flags.into(),
        };
        facts.emulators = Ok(vec![emulator(Binfmt::Missing, "")]);
        let row = judge(&facts)[4].clone();
        assert_eq!((row.status, row.fix.as_str()), (Status::Fail, "run `cargo xtask provision`"));
        facts.emulators = Ok(vec![emulator(Binfmt::Disabled, "PF")]);
        assert_eq!(judge(&facts)[4].status, Status::Warn, "build switches it on itself");
        facts.emulators = Ok(vec![emulator(Binfmt::Enabled, "P")]);
        let row = judge(&facts)[4].clone();
        assert_eq!(row.status, Status::Fail);
        assert!(row.problem.contains("lacks the F flag") && row.fix.contains("update-binfmts --enable qemu-aarch64"));
        facts.emulators = Ok(vec![]);
        assert!(judge(&facts)[4].problem.contains("runs natively on linux/amd64"));
    }

    #[test]
    fn registry_rows_tell_local_from_remote_and_name_the_login() {
        let mut facts = healthy();
        facts.registry.ping = Err("connection refused".into());
        let rows = judge(&facts);
        assert_eq!(by_check(&rows, "registry localhost:5000").status, Status::Warn, "build starts it");
        assert_eq!(by_check(&rows, "registry access").status, Status::Skipped);
        facts.registry.can_serve = false;
        assert_eq!(judge(&facts)[5].status, Status::Fail);

        let mut facts = healthy();
        facts.registry.host = "ghcr.io".into();
        facts.registry.loopback = false;
        facts.registry.ping = Err("GET https://ghcr.io/v2/: dns error\n  caused by: ...".into());
        let row = judge(&facts)[5].clone();
        assert_eq!(
            (row.status, row.problem.as_str()),
            (Status::Fail, "unreachable: GET https://ghcr.io/v2/: dns error")
        );

        let mut facts = healthy();
        facts.registry.ping = Ok(());
        facts.registry.access = Some((
            "acme/base".into(),
            Err("localhost:5000 requires a login (HTTP 401) and /root/.docker/config.json holds none for it".into()),
        ));
        facts.registry.login = Ok(Some(("ci".into(), "docker-credential-pass".into())));
        let rows = judge(&facts);
        let access = by_check(&rows, "registry access");
        assert_eq!((access.status, access.fix.as_str()), (Status::Fail, "`docker login localhost:5000`"));
        assert_eq!(by_check(&rows, "credentials").version, "ci from docker-credential-pass");

        facts.registry.login =
            Err("/root/.docker/config.json names the credential helper docker-credential-gone, which is not on PATH"
                .into());
        let credentials = judge(&facts).into_iter().find(|r| r.check == "credentials").unwrap();
        assert_eq!(credentials.status, Status::Fail);
        assert!(credentials.fix.starts_with("fix /root/.docker/config.json"));
    }
}
