//! `ci-workflow --rehearse`: the committed workflow file, run on this machine as GitHub would
//! run it. It is read (`core::workflow::read`), not described a second time: jobs in `needs`
//! order, each matrix leg, the `if:` conditions and `${{ }}` expressions
//! (`core::workflow::expr`), the `env`, and every `run:` script under bash. Each job gets a
//! fresh clone, temporary directory and docker config, as a fresh runner would; artifacts
//! pass through directories. Actions and the steps that only make sense on a hosted runner
//! are mapped to local equivalents, and reported as such.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};

use crate::core::workflow::expr::{self, Scope};
use crate::core::workflow::read::Node;
use crate::core::workflow::{BUILDER_STEP, COMPILE_STEP, INSTALL_STEP};

/// What to rehearse, and against what.
pub struct Rehearsal<'a> {
    /// The workspace: a git checkout holding the workflow file.
    pub root: &'a Utf8Path,
    pub workflow: &'a Node,
    /// `push`, `pull_request`, `schedule` or `workflow_dispatch`.
    pub event: &'a str,
    /// What `vars.REGISTRY` holds.
    pub registry: &'a str,
    /// Where jobs, artifacts and logs go; emptied first.
    pub dir: Utf8PathBuf,
}

/// How one job ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRun {
    pub job: String,
    pub legs: usize,
    /// `success`, `failure` or `skipped`, as `needs.<job>.result` says.
    pub result: String,
    pub seconds: f64,
}

/// Everything the rehearsal did: each job, and the steps it ran differently from GitHub.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub jobs: Vec<JobRun>,
    /// `job: step: what was done instead`, once per step.
    pub mapped: Vec<String>,
}

pub fn rehearse(rehearsal: &Rehearsal<'_>) -> Result<Report> {
    let dir = &rehearsal.dir;
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {dir}"))?;
    }
    for sub in ["jobs", "artifacts", "logs"] {
        std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("creating {dir}/{sub}"))?;
    }
    let github = github_context(rehearsal)?;
    let event_path = dir.join("event.json");
    std::fs::write(&event_path, serde_json::to_string(&github["event"])?).context("writing the event payload")?;
    let jobs = rehearsal.workflow.get("jobs").context("the workflow has no jobs")?.entries();
    let order = needs_order(jobs)?;
    let mut report = Report::default();
    let mut needs: serde_json::Map<String, Value> = serde_json::Map::new();
    let mut failed_jobs: Vec<String> = Vec::new();
    let mut skipped_jobs: Vec<String> = Vec::new();
    for name in order {
        let job = jobs.iter().find(|(k, _)| *k == name).map(|(_, v)| v).context("a job vanished")?;
        let direct: Vec<String> = names(job.get("needs"));
        let ancestors = ancestors(jobs, &name);
        let contexts = json!({
            "github": github,
            "needs": direct.iter().map(|n| (n.clone(), needs.get(n).cloned().unwrap_or(Value::Null))).collect::<serde_json::Map<_, _>>(),
            "vars": {"REGISTRY": rehearsal.registry},
            "secrets": {"GITHUB_TOKEN": "rehearsal-token"},
            "inputs": github["event"]["inputs"],
        });
        let scope = Scope {
            contexts: &contexts,
            failed: ancestors.iter().any(|a| failed_jobs.contains(a)),
            skipped: ancestors.iter().any(|a| skipped_jobs.contains(a)),
            cancelled: false,
        };
        let started = Instant::now();
        let condition = job.get("if").and_then(Node::str).unwrap_or("success()");
        if !expr::condition(condition, &scope).map_err(|why| anyhow::anyhow!("job {name}: if: {why}"))? {
            eprintln!("job {name}: skipped");
            skipped_jobs.push(name.clone());
            needs.insert(name.clone(), json!({"result": "skipped", "outputs": {}}));
            report.jobs.push(JobRun { job: name, legs: 0, result: "skipped".into(), seconds: 0.0 });
            continue;
        }
        let legs = matrix_legs(job, &scope).with_context(|| format!("job {name}: strategy.matrix"))?;
        let mut outputs = serde_json::Map::new();
        let mut ok = true;
        for (index, leg) in legs.iter().enumerate() {
            let mut leg_contexts = contexts.clone();
            leg_contexts["matrix"] = leg.clone();
            let run = JobLeg { rehearsal, name: &name, index, contexts: leg_contexts, event_path: &event_path };
            match run.run(job, &mut report.mapped) {
                Ok(leg_outputs) => outputs.extend(leg_outputs),
                Err(err) => {
                    eprintln!("job {name} leg {index}: FAILED: {err:#}");
                    ok = false;
                }
            }
        }
        let result = if ok { "success" } else { "failure" };
        if !ok {
            failed_jobs.push(name.clone());
        }
        eprintln!("job {name}: {result} ({} leg(s))", legs.len());
        needs.insert(name.clone(), json!({"result": result, "outputs": outputs}));
        report.jobs.push(JobRun {
            job: name,
            legs: legs.len(),
            result: result.into(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(report)
}

/// The `github` context of the event, from the checkout's HEAD.
fn github_context(rehearsal: &Rehearsal<'_>) -> Result<Value> {
    let git = |args: &[&str]| -> Result<String> {
        let mut argv = vec!["-C", rehearsal.root.as_str()];
        argv.extend(args);
        duct::cmd("git", argv).stderr_null().read().with_context(|| format!("git {}", args.join(" ")))
    };
    let sha = git(&["rev-parse", "HEAD"])?;
    let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"])?;
    let before = git(&["rev-parse", "HEAD~1"]).unwrap_or_else(|_| "0".repeat(40));
    let (reference, event) = match rehearsal.event {
        "push" => (format!("refs/heads/{branch}"), json!({"before": before, "after": sha})),
        "pull_request" => (
            "refs/pull/1/merge".to_string(),
            json!({"number": 1, "pull_request": {"number": 1, "base": {"sha": before}, "head": {"repo": {"fork": false}}}}),
        ),
        "schedule" => (format!("refs/heads/{branch}"), json!({"schedule": "rehearsal"})),
        "workflow_dispatch" => (format!("refs/heads/{branch}"), json!({"inputs": {"units": "", "tags": ""}})),
        other => bail!("--event {other}: rehearse push, pull_request, schedule or workflow_dispatch"),
    };
    Ok(json!({
        "event_name": rehearsal.event,
        "event": event,
        "ref": reference,
        "ref_name": reference.rsplit('/').next(),
        "sha": sha,
        "actor": "rehearsal",
        "repository": "rehearsal/images",
    }))
}

/// Job names in an order where every job comes after those it needs.
fn needs_order(jobs: &[(String, Node)]) -> Result<Vec<String>> {
    let mut order: Vec<String> = Vec::new();
    while order.len() < jobs.len() {
        let before = order.len();
        for (name, job) in jobs {
            if !order.contains(name) && names(job.get("needs")).iter().all(|n| order.contains(n)) {
                order.push(name.clone());
            }
        }
        if order.len() == before {
            bail!("the jobs' needs form a cycle or name a missing job");
        }
    }
    Ok(order)
}

/// Every job `name` needs, directly or through others.
fn ancestors(jobs: &[(String, Node)], name: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut queue = vec![name.to_string()];
    while let Some(next) = queue.pop() {
        let job = jobs.iter().find(|(k, _)| *k == next).map(|(_, v)| v);
        for parent in names(job.and_then(|j| j.get("needs"))) {
            if !found.contains(&parent) {
                queue.push(parent.clone());
                found.push(parent);
            }
        }
    }
    found
}

/// A `needs:` value: one name or a list.
fn names(node: Option<&Node>) -> Vec<String> {
    match node {
        Some(Node::Scalar(name)) => vec![name.clone()],
        Some(Node::List(items)) => items.iter().filter_map(Node::str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// The matrix legs of a job: its `include` entries, or the product of its lists; one empty
/// leg without a matrix.
fn matrix_legs(job: &Node, scope: &Scope<'_>) -> Result<Vec<Value>> {
    let Some(matrix) = job.get("strategy").and_then(|s| s.get("matrix")) else { return Ok(vec![json!({})]) };
    let value = match matrix {
        Node::Scalar(text) => expr::substitute(text, scope).map_err(anyhow::Error::msg)?,
        node => to_json(node),
    };
    let mut legs = vec![serde_json::Map::new()];
    for (key, values) in value.as_object().into_iter().flatten().filter(|(k, _)| *k != "include") {
        let values = values.as_array().with_context(|| format!("matrix key {key} is not a list"))?;
        legs = legs
            .iter()
            .flat_map(|leg| {
                values.iter().map(move |v| {
                    let mut leg = leg.clone();
                    leg.insert(key.clone(), v.clone());
                    leg
                })
            })
            .collect();
    }
    let include = value.get("include").and_then(Value::as_array);
    Ok(match include {
        Some(entries) => entries.clone(),
        None => legs.into_iter().map(Value::Object).collect(),
    })
}

fn to_json(node: &Node) -> Value {
    match node {
        Node::Scalar(text) => Value::String(text.clone()),
        Node::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Node::List(items) => Value::Array(items.iter().map(to_json).collect()),
    }
}

/// One leg of one job, on its own fresh "runner".
struct JobLeg<'a> {
    rehearsal: &'a Rehearsal<'a>,
    name: &'a str,
    index: usize,
    contexts: Value,
    event_path: &'a Utf8Path,
}

impl JobLeg<'_> {
    /// Runs the steps in order; returns the job's `outputs`.
    fn run(mut self, job: &Node, mapped: &mut Vec<String>) -> Result<serde_json::Map<String, Value>> {
        let home = self.rehearsal.dir.join("jobs").join(format!("{}-{}", self.name, self.index));
        let (workspace, temp, docker_config) = (home.join("workspace"), home.join("temp"), home.join("docker"));
        for dir in [&workspace, &temp, &docker_config] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
        }
        self.contexts["runner"] = json!({"temp": temp.as_str(), "os": "Linux"});
        self.contexts["steps"] = json!({});
        let mut path_prefix: Vec<String> = Vec::new();
        for (number, step) in job.get("steps").map(Node::items).unwrap_or_default().iter().enumerate() {
            let label = step.get("name").and_then(Node::str).map_or_else(|| format!("step {number}"), str::to_string);
            let scope = Scope { contexts: &self.contexts, failed: false, skipped: false, cancelled: false };
            let condition = step.get("if").and_then(Node::str).unwrap_or("success()");
            if !expr::condition(condition, &scope).map_err(|why| anyhow::anyhow!("{label}: if: {why}"))? {
                continue;
            }
            let substitute =
                |text: &str| expr::substitute(text, &scope).map(|v| expr::render(&v)).map_err(anyhow::Error::msg);
            // The workflow's env, then the step's, each value substituted.
            let mut env: BTreeMap<String, String> = BTreeMap::new();
            for source in [self.rehearsal.workflow.get("env"), step.get("env")].into_iter().flatten() {
                for (key, value) in source.entries() {
                    env.insert(key.clone(), substitute(value.str().unwrap_or(""))?);
                }
            }
            let outputs_file = home.join(format!("output-{number}"));
            let path_file = home.join(format!("path-{number}"));
            let log = self.rehearsal.dir.join("logs").join(format!("{}-{}-{number}.log", self.name, self.index));
            let what = format!("{} #{} {label}", self.name, self.index);
            eprintln!("  {what}");
            let outcome: Result<()> = (|| {
                if let Some(action) = step.get("uses").and_then(Node::str) {
                    let with = |key: &str| -> Result<Option<String>> {
                        step.get("with").and_then(|w| w.get(key)).and_then(Node::str).map(substitute).transpose()
                    };
                    return self.action(action, &with, &workspace, mapped, &label);
                }
                let script =
                    step.get("run").and_then(Node::str).with_context(|| format!("{label}: neither uses nor run"))?;
                let script = match label.as_str() {
                    INSTALL_STEP => {
                        note(
                            mapped,
                            self.name,
                            &label,
                            "skipped: `cargo xtask provision` installed these on this machine",
                        );
                        return Ok(());
                    }
                    // Every leg starts from an empty BuildKit cache, as on a fresh runner; the
                    // engine's own builder stands in for the docker-container one.
                    BUILDER_STEP => {
                        note(
                            mapped,
                            self.name,
                            &label,
                            "replaced: the engine's build cache pruned, its docker builder used",
                        );
                        "docker buildx prune --all --force > /dev/null\n".to_string()
                    }
                    COMPILE_STEP => {
                        note(
                            mapped,
                            self.name,
                            &label,
                            "replaced: this xtask binary installed (`xtask install --dir`)",
                        );
                        let exe = std::env::current_exe().context("finding this xtask binary")?;
                        let exe = exe.to_str().context("this binary's path is not UTF-8")?;
                        format!("'{}' install --dir \"$RUNNER_TEMP/xtask\"\n", exe.replace('\'', "'\\''"))
                    }
                    _ => script.to_string(),
                };
                let script_file = home.join(format!("script-{number}.sh"));
                std::fs::write(&script_file, &script).with_context(|| format!("writing {script_file}"))?;
                let mut vars = runner_env();
                let host_path = vars.remove("PATH").unwrap_or_default();
                let path = path_prefix.iter().rev().cloned().chain([host_path]).collect::<Vec<_>>().join(":");
                let github = &self.contexts["github"];
                let rehearsal = self.rehearsal;
                for (key, value) in [
                    ("PATH", path),
                    ("CI", "true".to_string()),
                    ("GITHUB_ACTIONS", "true".to_string()),
                    ("GITHUB_EVENT_NAME", rehearsal.event.to_string()),
                    ("GITHUB_EVENT_PATH", self.event_path.to_string()),
                    ("GITHUB_REF", expr::render(&github["ref"])),
                    ("GITHUB_SHA", expr::render(&github["sha"])),
                    ("GITHUB_WORKSPACE", workspace.to_string()),
                    ("GITHUB_OUTPUT", outputs_file.to_string()),
                    ("GITHUB_PATH", path_file.to_string()),
                    ("GITHUB_STEP_SUMMARY", home.join("summary.md").to_string()),
                    ("RUNNER_TEMP", temp.to_string()),
                    // A fresh runner's docker config (logins, buildx state), and this
                    // machine's engine in place of the runner's own.
                    ("DOCKER_CONFIG", docker_config.to_string()),
                    ("DOCKER_HOST", crate::sys::engine::private_socket()),
                    // Downloads (Debian packages for root filesystems) are shared, as an
                    // actions/cache would share them; BuildKit's cache is not.
                    ("XTASK_CACHE_DIR", rehearsal.root.join("target/xtask/cache").to_string()),
                ] {
                    vars.insert(key.to_string(), value);
                }
                vars.extend(env.clone());
                let command = duct::cmd!("bash", "--noprofile", "--norc", "-eo", "pipefail", &script_file)
                    .dir(&workspace)
                    .full_env(vars)
                    .stdin_null()
                    .stderr_to_stdout()
                    .stdout_path(&log)
                    .unchecked();
                let status = command.run().with_context(|| format!("running {label}"))?.status;
                if !status.success() {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    bail!("{label}: {status}; its last lines:\n{}", crate::core::text::last_lines(&text, 15));
                }
                Ok(())
            })();
            if let Err(err) = outcome {
                eprintln!("  {what}: FAILED (log: {log})");
                return Err(err);
            }
            if let Some(id) = step.get("id").and_then(Node::str) {
                self.contexts["steps"][id] = json!({"outputs": read_outputs(&outputs_file)?});
            }
            if let Ok(text) = std::fs::read_to_string(&path_file) {
                path_prefix.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_string));
            }
        }
        let scope = Scope { contexts: &self.contexts, failed: false, skipped: false, cancelled: false };
        let mut outputs = serde_json::Map::new();
        for (key, value) in job.get("outputs").map(Node::entries).unwrap_or_default() {
            let value = expr::substitute(value.str().unwrap_or(""), &scope).map_err(anyhow::Error::msg)?;
            outputs.insert(key.clone(), Value::String(expr::render(&value)));
        }
        Ok(outputs)
    }

    /// The local equivalent of an action.
    fn action(
        &self,
        action: &str,
        with: &dyn Fn(&str) -> Result<Option<String>>,
        workspace: &Utf8Path,
        mapped: &mut Vec<String>,
        label: &str,
    ) -> Result<()> {
        let artifacts = self.rehearsal.dir.join("artifacts");
        let name = action.split('@').next().unwrap_or(action);
        match name {
            "actions/checkout" => {
                note(mapped, self.name, label, "a local clone of the workspace's HEAD");
                let source = self.rehearsal.root.as_str();
                duct::cmd!("git", "clone", "--quiet", "--no-hardlinks", source, workspace)
                    .stderr_to_stdout()
                    .read()
                    .context("cloning the workspace")?;
                Ok(())
            }
            "actions/upload-artifact" => {
                note(mapped, self.name, label, "copied into the rehearsal's artifacts directory");
                let artifact = with("name")?.context("upload-artifact without a name")?;
                let path = resolve(workspace, &with("path")?.context("upload-artifact without a path")?);
                if !path.exists() {
                    match with("if-no-files-found")?.as_deref() {
                        Some("error") => bail!("upload-artifact {artifact}: {} does not exist", path.display()),
                        _ => return Ok(()),
                    }
                }
                copy_into(&path, &artifacts.join(&artifact).into_std_path_buf())
            }
            "actions/download-artifact" => {
                note(mapped, self.name, label, "copied from the rehearsal's artifacts directory");
                let target = resolve(workspace, &with("path")?.unwrap_or_else(|| ".".to_string()));
                let wanted: Vec<Utf8PathBuf> = match (with("name")?, with("pattern")?) {
                    (Some(artifact), _) => {
                        let found = artifacts.join(&artifact);
                        if !found.exists() {
                            bail!("download-artifact: no artifact {artifact}");
                        }
                        vec![found]
                    }
                    (None, Some(pattern)) => {
                        let prefix = pattern.strip_suffix('*').context("only `prefix*` patterns are rehearsed")?;
                        let mut found = Vec::new();
                        for entry in artifacts.read_dir_utf8().context("listing the artifacts")? {
                            let entry = entry.context("listing the artifacts")?;
                            if entry.file_name().starts_with(prefix) {
                                found.push(entry.path().to_path_buf());
                            }
                        }
                        found.sort();
                        found
                    }
                    (None, None) => bail!("download-artifact without name or pattern"),
                };
                for artifact in wanted {
                    for entry in artifact.read_dir_utf8().with_context(|| format!("listing {artifact}"))? {
                        let entry = entry.with_context(|| format!("listing {artifact}"))?;
                        copy_into(entry.path().as_std_path(), &target)?;
                    }
                }
                Ok(())
            }
            "github/codeql-action/upload-sarif" => {
                note(mapped, self.name, label, "not uploaded: the file checked to be a SARIF 2.1.0 document");
                let file = resolve(workspace, &with("sarif_file")?.context("upload-sarif without sarif_file")?);
                let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let doc: Value =
                    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
                if doc["version"] != "2.1.0" || !doc["runs"].is_array() {
                    bail!("{} is not a SARIF 2.1.0 document", file.display());
                }
                Ok(())
            }
            other => bail!("{label}: the rehearsal has no local equivalent of {other}"),
        }
    }
}

/// What a fresh runner's environment shares with this one: the programs and the locale, not
/// this process's cargo, docker or xtask variables (`CARGO_MANIFEST_DIR` would make every step
/// plan the workspace the rehearsal was started from).
fn runner_env() -> BTreeMap<String, String> {
    ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "TZ", "SSL_CERT_FILE"]
        .into_iter()
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
        .collect()
}

/// Records how a step was rehearsed, once per job and step.
fn note(mapped: &mut Vec<String>, job: &str, step: &str, how: &str) {
    let line = format!("{job}: {step}: {how}");
    if !mapped.contains(&line) {
        mapped.push(line);
    }
}

fn resolve(workspace: &Utf8Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        workspace.as_std_path().join(path)
    }
}

/// Copies a file or a directory's contents into `dir`.
fn copy_into(from: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if from.is_dir() {
        for entry in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
            let entry = entry.with_context(|| format!("listing {}", from.display()))?;
            let target = dir.join(entry.file_name());
            if entry.path().is_dir() {
                copy_into(&entry.path(), &target)?;
            } else {
                std::fs::copy(entry.path(), &target).with_context(|| format!("copying {}", entry.path().display()))?;
            }
        }
        return Ok(());
    }
    let name = from.file_name().with_context(|| format!("{} has no file name", from.display()))?;
    std::fs::copy(from, dir.join(name)).with_context(|| format!("copying {}", from.display()))?;
    Ok(())
}

/// `$GITHUB_OUTPUT`: `name=value` lines, and `name<<DELIMITER` blocks.
fn read_outputs(file: &Utf8Path) -> Result<serde_json::Map<String, Value>> {
    let mut outputs = serde_json::Map::new();
    let Ok(text) = std::fs::read_to_string(file) else { return Ok(outputs) };
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        // Whichever comes first decides: `a=1<<2` is a value, `a<<EOF` a block.
        let block = match (line.find('='), line.find("<<")) {
            (Some(equals), Some(heredoc)) => heredoc < equals,
            (None, Some(_)) => true,
            _ => false,
        };
        if let Some((name, delimiter)) = line.split_once("<<").filter(|_| block) {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            outputs.insert(name.to_string(), Value::String(value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_string(), Value::String(value.to_string()));
        }
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::workflow::read::parse;

    #[test]
    fn jobs_run_after_what_they_need_and_a_cycle_is_refused() {
        let doc =
            parse("jobs:\n  c:\n    needs:\n      - a\n      - b\n  b:\n    needs: a\n  a:\n    name: a\n").unwrap();
        let jobs = doc.get("jobs").unwrap().entries();
        assert_eq!(needs_order(jobs).unwrap(), ["a", "b", "c"]);
        assert_eq!(ancestors(jobs, "c"), ["a", "b"]);
        let cycle = parse("jobs:\n  a:\n    needs: b\n  b:\n    needs: a\n").unwrap();
        assert!(needs_order(cycle.get("jobs").unwrap().entries()).is_err());
    }

    #[test]
    fn matrix_legs_come_from_include_or_the_product_of_lists() {
        let contexts =
            json!({"needs": {"plan": {"outputs": {"m": "{\"include\":[{\"unit\":\"a\"},{\"unit\":\"b\"}]}"}}}});
        let scope = Scope { contexts: &contexts, failed: false, skipped: false, cancelled: false };
        let job = parse("strategy:\n  matrix: ${{ fromJSON(needs.plan.outputs.m) }}\n").unwrap();
        assert_eq!(matrix_legs(&job, &scope).unwrap(), [json!({"unit": "a"}), json!({"unit": "b"})]);
        let job = parse("strategy:\n  matrix:\n    runs-on:\n      - x\n      - y\n").unwrap();
        assert_eq!(matrix_legs(&job, &scope).unwrap(), [json!({"runs-on": "x"}), json!({"runs-on": "y"})]);
        assert_eq!(matrix_legs(&parse("name: one\n").unwrap(), &scope).unwrap(), [json!({})]);
    }

    #[test]
    fn step_outputs_are_lines_or_delimited_blocks() {
        let file =
            Utf8PathBuf::from_path_buf(std::env::temp_dir().join(format!("outputs-{}", std::process::id()))).unwrap();
        std::fs::write(&file, "a=1\nb<<EOF\nline one\nline two\nEOF\nc=x=y\nd=1<<2\n").unwrap();
        let outputs = read_outputs(&file).unwrap();
        assert_eq!(Value::Object(outputs), json!({"a": "1", "b": "line one\nline two", "c": "x=y", "d": "1<<2"}));
        std::fs::remove_file(&file).unwrap();
    }
}
