//! `[[tests.service]]`: the image run with its own command, its companions (other units of
//! the workspace) started first in one network namespace, each waited for, then probed from
//! inside.

use super::*;
use crate::core::definitions::{Companion, RunOptions};

/// The images companions run as, by (unit name as the test writes it, platform).
pub type CompanionImages = BTreeMap<(String, String), Result<Prepared, String>>;

/// One container of a service's group, as a reader would start it by hand.
struct Member<'a> {
    name: &'a str,
    image: &'a Prepared,
    run: &'a RunOptions,
    wait: &'a Wait,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn check_service(
    ctx: &Ctx,
    platform: &str,
    image: &Prepared,
    service: &ServiceCheck,
    companions: &CompanionImages,
    values: &Values,
    test: &TestDef,
    deadline: Instant,
) -> Result<Verdict> {
    // Every image first, so that a missing companion fails before anything starts.
    let mut group = Vec::new();
    for companion in &service.companions {
        match companions.get(&(companion.unit.clone(), platform.to_string())) {
            Some(Ok(prepared)) => group.push((companion, prepared)),
            Some(Err(why)) => {
                return Ok(fail(
                    vec![format!("companion {}: no image to run: {why}", companion.unit)],
                    None,
                    String::new(),
                ))
            }
            None => bail!("companion {} on {platform} was not prepared", companion.unit),
        }
    }
    let containers: Vec<Container> = group.iter().map(|_| ctx.container()).collect();
    let service_container = ctx.container();
    let members: Vec<(Option<&Companion>, Member<'_>)> = group
        .iter()
        .zip(&containers)
        .map(|((c, prepared), container)| {
            (Some(*c), Member { name: &container.name, image: prepared, run: &c.run, wait: &c.wait })
        })
        .chain(std::iter::once((
            None,
            Member { name: &service_container.name, image, run: &service.run, wait: &service.wait },
        )))
        .collect();
    // The first container holds the namespace; the others join it, so all share loopback.
    let network = service.run.network.as_str().to_string();
    let joined = members.first().map(|(_, m)| format!("container:{}", m.name));
    let network_of = |index: usize| if index == 0 { network.clone() } else { joined.clone().unwrap_or_default() };

    let mut by_hand = Vec::new();
    for (index, (_, member)) in members.iter().enumerate() {
        by_hand.push(shell_words(&run_argv(
            &short_name(index, members.len()),
            platform,
            &network_of(index),
            member,
            values,
        )));
    }
    let probe = service.probe.as_ref().map(|p| values.fill_all(p));
    let mut reproduce = by_hand.iter().map(|c| format!("docker {c}")).collect::<Vec<_>>().join(" && ");
    if let Some(probe) = &probe {
        reproduce.push_str(&format!(" && docker exec svc {}", shell_words(probe)));
    }

    for (index, (companion, member)) in members.iter().enumerate() {
        let who = companion.map(|c| format!("companion {}", c.unit));
        let who = who.as_deref();
        let named = who.unwrap_or("the service");
        if *member.wait == Wait::Healthy && !has_healthcheck(&member.image.config) {
            let why = match who {
                Some(who) => format!("{who}: wait = \"healthy\", but its image has no HEALTHCHECK"),
                None => "wait = \"healthy\", but the image has no HEALTHCHECK".to_string(),
            };
            return Ok(fail(vec![why], None, reproduce));
        }
        let mut argv = vec!["run".to_string(), "--detach".to_string()];
        argv.extend(ctx.isolation(member.name, platform, &network_of(index)));
        argv.extend(member_flags(member, values));
        argv.push(member.image.reference.clone());
        let started = match docker_until(ctx, &argv, deadline)? {
            Ok(ran) => ran,
            Err(stop) => return Ok(stop.verdict(test, &format!("starting {named}"), reproduce)),
        };
        if started.exit_code != 0 {
            let why = format!("{named} did not start: {}", last_lines(started.stderr.trim(), TAIL));
            return Ok(fail(vec![why], None, reproduce));
        }
        if let Some(verdict) = wait_until_ready(ctx, member.name, member.wait, who, test, deadline, &reproduce)? {
            return Ok(verdict);
        }
    }

    let Some(probe) = probe else { return Ok(Verdict::Pass) };
    let mut argv = vec!["exec".to_string(), service_container.name.clone()];
    argv.extend(probe);
    let ran = match docker_until(ctx, &argv, deadline)? {
        Ok(ran) => ran,
        Err(stop) => return Ok(stop.verdict(test, "running the probe", reproduce)),
    };
    let misses = judge(&service.expect, values, &ran);
    if misses.is_empty() {
        return Ok(Verdict::Pass);
    }
    let details = format!(
        "{}\n{}",
        expected_vs_actual(&service.expect, values, &ran),
        tail("service output", &logs(&service_container.name)?)
    );
    Ok(fail(misses.into_iter().map(|m| format!("probe: {m}")).collect(), Some(details), reproduce))
}

/// `svc` for the service, `c1`, `c2`... for its companions: names for the commands a reader runs.
fn short_name(index: usize, members: usize) -> String {
    if index + 1 == members {
        "svc".to_string()
    } else {
        format!("c{}", index + 1)
    }
}

/// `run --detach ...` for one member as a reader would type it, with short names.
fn run_argv(name: &str, platform: &str, network: &str, member: &Member<'_>, values: &Values) -> Vec<String> {
    let network = match network.strip_prefix("container:") {
        Some(_) => "container:c1".to_string(),
        None => network.to_string(),
    };
    let mut argv: Vec<String> =
        ["run", "--detach", "--name", name, "--network", &network, "--platform", platform].map(str::to_string).to_vec();
    argv.extend(member_flags(member, values));
    argv.push(member.image.reference.clone());
    argv
}

/// The health-check interval and the run options of one member.
fn member_flags(member: &Member<'_>, values: &Values) -> Vec<String> {
    let mut argv = Vec::new();
    if *member.wait == Wait::Healthy {
        argv.extend(["--health-interval".to_string(), HEALTH_INTERVAL.to_string()]);
    }
    argv.extend(run_flags(member.run, values));
    argv
}

/// Polls `container` until `wait` says it is ready; `Some` verdict when it will not be.
/// `who` names a companion; `None` is the service itself.
fn wait_until_ready(
    ctx: &Ctx,
    container: &str,
    wait: &Wait,
    who: Option<&str>,
    test: &TestDef,
    deadline: Instant,
    reproduce: &str,
) -> Result<Option<Verdict>> {
    let named = who.unwrap_or("the service");
    let since = Instant::now();
    loop {
        let inspect = ["inspect", "--format", "{{json .State}}", container].map(str::to_string);
        let state = match docker_until(ctx, &inspect, deadline)? {
            Ok(ran) => serde_json::from_str::<Value>(&ran.stdout).context("parsing the container's state")?,
            Err(stop) => return Ok(Some(stop.verdict(test, &format!("waiting for {named}"), reproduce.to_string()))),
        };
        let logs = match wait {
            Wait::Log(_) => logs(container)?,
            _ => String::new(),
        };
        match readiness(wait, &state, &logs, since.elapsed()) {
            Readiness::Ready => return Ok(None),
            Readiness::Failed(why) => {
                let (label, why) = match who {
                    Some(who) => (format!("{who}'s output"), format!("{who}: {why}")),
                    None => ("service output".to_string(), why),
                };
                let details = tail(&label, &self::logs(container)?);
                return Ok(Some(fail(vec![why], Some(details), reproduce.to_string())));
            }
            Readiness::Pending => {}
        }
        if ctx.stopped() {
            return Ok(Some(Verdict::Interrupted));
        }
        if Instant::now() >= deadline {
            let during = format!("waiting for {named} to be ready");
            return Ok(Some(Stop::TimedOut.verdict(test, &during, reproduce.to_string())));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub(super) fn logs(container: &str) -> Result<String> {
    let out = duct::cmd!("docker", "logs", container)
        .stdin_null()
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .context("running docker logs")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
