//! Dockerfile policy checks, run by `lint` and by `build` first. Pure: a Dockerfile's text and
//! the facts around it (the build context's file list and .dockerignore, the image's allow
//! list, what in-repo parents hand down) in, findings out; `ops::lint` gathers the facts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use crate::core::dockerfile::{self, Dockerfile, Expanded, Instruction, Stage};
use crate::core::dockerignore::DockerIgnore;
use crate::core::severity::Severity;
use crate::oci::reference::repository_of;

mod arch;
mod cache;
mod hints;
mod images;
mod sources;

/// A policy rule; its id is what `[lint] allow` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    RootUser,
    Healthcheck,
    UnpinnedBase,
    InRepoByName,
    UnpinnedCopyFrom,
    HardcodedArch,
    AddChecksum,
    SecretInArg,
    PackageCache,
    MissingSource,
    /// What BuildKit rejects: a parse error, or an instruction it refuses before building.
    Syntax,
}

impl Rule {
    /// The rules `[lint] allow` may name: all but `syntax`, as BuildKit would not build the file.
    pub const ALL: [Rule; 10] = [
        Rule::RootUser,
        Rule::Healthcheck,
        Rule::UnpinnedBase,
        Rule::InRepoByName,
        Rule::UnpinnedCopyFrom,
        Rule::HardcodedArch,
        Rule::AddChecksum,
        Rule::SecretInArg,
        Rule::PackageCache,
        Rule::MissingSource,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::RootUser => "root-user",
            Rule::Healthcheck => "healthcheck",
            Rule::UnpinnedBase => "unpinned-base",
            Rule::InRepoByName => "in-repo-by-name",
            Rule::UnpinnedCopyFrom => "unpinned-copy-from",
            Rule::HardcodedArch => "hardcoded-arch",
            Rule::AddChecksum => "add-checksum",
            Rule::SecretInArg => "secret-in-arg",
            Rule::PackageCache => "package-cache",
            Rule::MissingSource => "missing-source",
            Rule::Syntax => "syntax",
        }
    }

    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// Errors stop `build`; warnings (size and operability) are printed and the build goes on.
    pub fn severity(self) -> Severity {
        match self {
            Rule::Healthcheck | Rule::PackageCache | Rule::AddChecksum => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: Utf8PathBuf,
    /// 1-based line of the instruction.
    pub line: usize,
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
    /// One line saying how to fix it.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}\n  fix: {}", self.file, self.line, self.rule, self.message, self.fix)
    }
}

/// Who the final stage runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    Root,
    NonRoot,
}

/// What an image hands down to the images built FROM it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inherited {
    /// `None` when no USER is set up the chain: the engine then runs as root.
    pub user: Option<User>,
    pub healthcheck: bool,
}

/// Everything `lint` needs besides the Dockerfile, as data.
#[derive(Debug, Clone, Default)]
pub struct LintContext {
    /// Rules the image's `[lint] allow` turns off.
    pub allow: Vec<Rule>,
    /// The unit's build args (`[args]` of the image and the variant).
    pub args: BTreeMap<String, String>,
    /// The unit's platforms, to expand `${TARGETARCH}` in COPY and ADD sources.
    pub platforms: Vec<String>,
    /// In-repo parents by the build arg that carries them (`BASE_IMAGE`), with what they hand down.
    pub parents: BTreeMap<String, Inherited>,
    /// Every other in-repo image's repositories (`localhost:5000/acme/base`, as
    /// `oci::reference::repository_of` writes them) to the build arg that carries it.
    pub in_repo: BTreeMap<String, String>,
    /// Workspace-relative build context, for messages.
    pub context: Utf8PathBuf,
    /// Every file and directory in the build context, relative to it, `/`-separated.
    pub files: BTreeSet<String>,
    /// The .dockerignore that applies to this Dockerfile, if any.
    pub dockerignore: Option<String>,
    /// The image has `[rootfs]`: `build` writes `rootfs/<arch>.tar` into the context first.
    pub rootfs: bool,
}

/// Checks one Dockerfile; findings come sorted by line.
pub fn lint(file: &Utf8Path, dockerfile_text: &str, ctx: &LintContext) -> Vec<Finding> {
    let doc = dockerfile::parse(dockerfile_text);
    let analysis = Analysis::new(&doc, ctx);
    let mut findings = Vec::new();
    // BuildKit would not build the file at all: reported whatever `[lint] allow` says.
    if let Some(error) = doc.check() {
        let (line, message, fix) = (error.line, error.message, error.hint);
        findings.push(Finding {
            file: file.to_owned(),
            line,
            rule: Rule::Syntax,
            severity: Severity::Error,
            message,
            fix,
        });
    }
    let mut add = |line: usize, rule: Rule, message: String, fix: String| {
        if !ctx.allow.contains(&rule) {
            findings.push(Finding { file: file.to_owned(), line, rule, severity: rule.severity(), message, fix });
        }
    };
    for arg in doc.global_args() {
        secret_names(arg, false, &mut add);
    }
    images::copy_from(&doc, ctx, &mut add);
    let ignore = DockerIgnore::parse(ctx.dockerignore.as_deref().unwrap_or(""));
    for (index, stage) in analysis.stages.iter().enumerate() {
        analysis.check_base(index, &mut add);
        let mut scope = Scope::new(ctx, &analysis.globals, doc.escape);
        for instruction in stage.body {
            match instruction.keyword.as_str() {
                "ARG" => secret_names(instruction, false, &mut add),
                "ENV" => {
                    secret_names(instruction, index + 1 == analysis.stages.len(), &mut add);
                    arch::env_arch(instruction, &mut add);
                }
                "RUN" => {
                    arch::run_arch(instruction, &mut add);
                    cache::package_cache(instruction, &scope, &mut add);
                }
                "COPY" | "ADD" => {
                    arch::copy_arch(instruction, &mut add);
                    images::add_checksum(instruction, &mut add);
                    sources::sources(instruction, &scope, &ignore, ctx, &mut add);
                }
                _ => {}
            }
            scope.apply(instruction);
        }
    }
    analysis.check_final_stage(&mut add);
    findings.sort_by_key(|f| (f.line, f.rule));
    findings
}

/// What the final stage of this Dockerfile hands down to images built on it.
pub fn inherited(dockerfile_text: &str, ctx: &LintContext) -> Inherited {
    let doc = dockerfile::parse(dockerfile_text);
    let analysis = Analysis::new(&doc, ctx);
    match analysis.stages.len() {
        0 => Inherited::default(),
        n => analysis.facts(n - 1).inherited,
    }
}

pub(super) type Add<'a> = dyn FnMut(usize, Rule, String, String) + 'a;

/// Where a stage's base comes from.
#[derive(Debug, Clone, PartialEq)]
enum Base {
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An in-repo parent, by the build arg that carries it.
    Parent(String),
    /// An in-repo image named literally (`localhost:5000/acme/base:main`), by its build arg.
    Named(String, String),
    External(String),
    /// The expression expands to nothing.
    Unresolved,
}

/// The final state of a stage, following its bases.
#[derive(Debug, Clone, Copy, Default)]
struct Facts {
    inherited: Inherited,
    /// The line of the USER in effect, when it is in this file.
    user_line: Option<usize>,
}

struct Analysis<'a> {
    ctx: &'a LintContext,
    globals: BTreeMap<String, Option<String>>,
    stages: Vec<Stage<'a>>,
    bases: Vec<Base>,
    escape: char,
}

impl<'a> Analysis<'a> {
    fn new(doc: &'a Dockerfile, ctx: &'a LintContext) -> Analysis<'a> {
        let globals = doc.global_arg_values(&ctx.args);
        let stages = doc.stages();
        let mut bases = Vec::new();
        // The latest stage of each name so far (a name may be reused: the nearest one counts),
        // so a file of thousands of stages is not searched again for each.
        let mut named: BTreeMap<String, usize> = BTreeMap::new();
        for (index, stage) in stages.iter().enumerate() {
            let expression = stage.image();
            let parent = dockerfile::referenced_args(&expression).into_iter().find(|a| ctx.parents.contains_key(a));
            let resolved = dockerfile::expand_with(&expression, doc.escape, |n| globals.get(n).cloned().flatten()).text;
            let lower = resolved.to_ascii_lowercase();
            let base = if let Some(arg) = parent {
                Base::Parent(arg)
            } else if resolved.is_empty() {
                Base::Unresolved
            } else if lower == "scratch" {
                Base::Scratch
            } else if let Some(&earlier) = named.get(&lower) {
                Base::Stage(earlier)
            } else if let Some(arg) = ctx.in_repo.get(&repository_of(&resolved)) {
                Base::Named(resolved, arg.clone())
            } else {
                Base::External(resolved)
            };
            bases.push(base);
            if let Some(name) = stage.name() {
                named.insert(name, index);
            }
        }
        Analysis { ctx, globals, stages, bases, escape: doc.escape }
    }

    fn facts(&self, index: usize) -> Facts {
        // The stages this one is built on, walked without recursion: a Dockerfile can chain
        // tens of thousands, deeper than the stack.
        let mut chain = vec![index];
        let mut root = index;
        while let Base::Stage(earlier) = self.bases[root] {
            root = earlier;
            chain.push(root);
        }
        let mut facts = match &self.bases[root] {
            Base::Parent(arg) => Facts { inherited: self.ctx.parents[arg], user_line: None },
            Base::Named(_, arg) => {
                Facts { inherited: self.ctx.parents.get(arg).copied().unwrap_or_default(), user_line: None }
            }
            _ => Facts::default(),
        };
        for &stage in chain.iter().rev() {
            let mut scope = Scope::new(self.ctx, &self.globals, self.escape);
            for instruction in self.stages[stage].body {
                match instruction.keyword.as_str() {
                    "USER" => {
                        let user = scope.expand(&instruction.values.concat(), None);
                        facts.inherited.user = Some(user_kind(&user));
                        facts.user_line = Some(instruction.line);
                    }
                    "HEALTHCHECK" => {
                        let none = instruction.words().first().is_some_and(|w| w.eq_ignore_ascii_case("NONE"));
                        facts.inherited.healthcheck = !none;
                    }
                    _ => {}
                }
                scope.apply(instruction);
            }
        }
        facts
    }

    /// The text of a stage and the stages it is built on (base image names, instructions,
    /// heredoc bodies): what hints read to guess the image's tools.
    fn chain_text(&self, index: usize) -> String {
        let mut text = String::new();
        let mut stage = index;
        loop {
            if let Base::External(name) | Base::Named(name, _) = &self.bases[stage] {
                text.push_str(name);
                text.push('\n');
            }
            for instruction in self.stages[stage].body {
                text.push_str(&instruction.original);
                text.push('\n');
                for heredoc in &instruction.heredocs {
                    text.push_str(&heredoc.body);
                }
            }
            match self.bases[stage] {
                Base::Stage(earlier) => stage = earlier,
                _ => return text,
            }
        }
    }

    /// For a stage built up from `scratch` (no shell, no tools), the program its exec-form
    /// ENTRYPOINT (or CMD) runs, `/app` when there is none.
    fn scratch_program(&self, index: usize) -> Option<String> {
        let mut chain = vec![index];
        while let Base::Stage(earlier) = self.bases[*chain.last()?] {
            chain.push(earlier);
        }
        if self.bases[*chain.last()?] != Base::Scratch {
            return None;
        }
        let program = chain.iter().find_map(|&stage| {
            let body = self.stages[stage].body;
            let run = |keyword: &str| body.iter().rev().find(|i| i.keyword == keyword)?.exec_form()?.first().cloned();
            run("ENTRYPOINT").or_else(|| run("CMD"))
        });
        Some(program.unwrap_or_else(|| "/app".to_string()))
    }

    /// `unpinned-base`: a registry image needs a version tag or a digest.
    fn check_base(&self, index: usize, add: &mut Add<'_>) {
        let from = self.stages[index].from;
        let expression = self.stages[index].image();
        let pin_fix = |name: &str| {
            format!("pin a version tag or a digest, e.g. `FROM {name}:<version>` or `FROM {name}@sha256:<digest>`")
        };
        match &self.bases[index] {
            Base::Unresolved => add(
                from.line,
                Rule::UnpinnedBase,
                format!("base image `{expression}` expands to nothing"),
                "give the ARG a pinned default before the first FROM, or set it in image.toml [args]".to_string(),
            ),
            Base::External(reference) => {
                let (name, tag, digest) = split_reference(reference);
                let why = match tag {
                    _ if digest => return,
                    None => "has no tag, so it means `latest`".to_string(),
                    Some(tag) if is_floating(tag) => format!("follows `{tag}`, a moving tag"),
                    Some(_) => return,
                };
                add(from.line, Rule::UnpinnedBase, format!("base image `{reference}` {why}"), pin_fix(name));
            }
            Base::Named(reference, arg) => {
                let (message, fix) = images::by_name("FROM", reference, arg);
                add(from.line, Rule::InRepoByName, message, fix);
            }
            Base::Scratch | Base::Stage(_) | Base::Parent(_) => {}
        }
    }

    /// `root-user` and `healthcheck`, which look at what the image finally is.
    fn check_final_stage(&self, add: &mut Add<'_>) {
        let Some(last) = self.stages.len().checked_sub(1) else { return };
        let facts = self.facts(last);
        let from = self.stages[last].from;
        let user_fix = "end the final stage with a non-root `USER`, e.g. `USER 65534:65534`".to_string();
        match (facts.inherited.user, facts.user_line) {
            (Some(User::NonRoot), _) => {}
            (Some(User::Root), Some(line)) => {
                add(line, Rule::RootUser, "the final stage runs as root".to_string(), user_fix)
            }
            (Some(User::Root), None) => add(
                from.line,
                Rule::RootUser,
                "the final stage inherits root from its in-repo parent and sets no USER".to_string(),
                user_fix,
            ),
            (None, _) => add(
                from.line,
                Rule::RootUser,
                "the final stage sets no USER, so the image runs as root".to_string(),
                user_fix,
            ),
        }
        let expose = self.stages[last].body.iter().find(|i| i.keyword == "EXPOSE");
        if let (Some(expose), false) = (expose, facts.inherited.healthcheck) {
            let ports: Vec<String> =
                self.stages[last].body.iter().filter(|i| i.keyword == "EXPOSE").flat_map(|i| i.words()).collect();
            add(
                expose.line,
                Rule::Healthcheck,
                format!("the image EXPOSEs {} but declares no HEALTHCHECK", expose.args),
                match self.scratch_program(last) {
                    Some(program) => hints::scratch_healthcheck_fix(&program),
                    None => hints::healthcheck_fix(&ports, &self.chain_text(last)),
                },
            );
        }
    }
}

/// `root`, `0`, `root:root`, `0:0` are root; a user that does not resolve is taken as meant to be non-root.
fn user_kind(user: &Expanded) -> User {
    let name = user.text.split(':').next().unwrap_or_default();
    if user.unset.is_empty() && (name == "root" || name.parse::<u32>() == Ok(0)) {
        User::Root
    } else {
        User::NonRoot
    }
}

/// `(name, tag, has digest)` of `[registry[:port]/]path[:tag][@digest]`.
fn split_reference(reference: &str) -> (&str, Option<&str>, bool) {
    let (name, digest) = match reference.split_once('@') {
        Some((name, _)) => (name, true),
        None => (reference, false),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].find(':') {
        Some(colon) => (&name[..last_slash + colon], Some(&name[last_slash + colon + 1..]), digest),
        None => (name, None, digest),
    }
}

/// Tags that follow a channel rather than name a release: `latest`, `stable-slim`, `lts-alpine`.
fn is_floating(tag: &str) -> bool {
    const CHANNELS: &[&str] =
        &["latest", "stable", "edge", "lts", "current", "mainline", "nightly", "rolling", "testing", "unstable", "sid"];
    let first = tag.split(['-', '_', '.']).next().unwrap_or(tag);
    CHANNELS.contains(&first.to_ascii_lowercase().as_str())
}

/// Variables visible to one stage's instructions: its ARGs (build args win over
/// defaults, global values fill bare redeclarations) and ENVs.
pub(super) struct Scope<'a> {
    ctx: &'a LintContext,
    globals: &'a BTreeMap<String, Option<String>>,
    pub(super) vars: BTreeMap<String, Option<String>>,
    /// Automatic platform ARGs this stage declared; their values depend on the platform.
    platform_args: BTreeSet<String>,
    pub(super) escape: char,
}

const PLATFORM_ARGS: [&str; 4] = ["TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT"];

impl<'a> Scope<'a> {
    fn new(ctx: &'a LintContext, globals: &'a BTreeMap<String, Option<String>>, escape: char) -> Scope<'a> {
        Scope { ctx, globals, vars: BTreeMap::new(), platform_args: BTreeSet::new(), escape }
    }

    fn apply(&mut self, instruction: &Instruction) {
        if !matches!(instruction.keyword.as_str(), "ARG" | "ENV") {
            return;
        }
        for (name, value) in instruction.raw_assignments() {
            if instruction.keyword == "ARG" && PLATFORM_ARGS.contains(&name.as_str()) {
                self.platform_args.insert(name);
                continue;
            }
            let value = match instruction.keyword.as_str() {
                "ARG" => self.ctx.args.get(&name).cloned().or_else(|| match value {
                    Some(default) => Some(self.expand(&default, None).text),
                    None => self.globals.get(&name).cloned().flatten(),
                }),
                _ => Some(self.expand(value.as_deref().unwrap_or_default(), None).text),
            };
            self.vars.insert(name, value);
        }
    }

    /// Expands `word`; platform ARGs resolve only for a given `platform` such as `linux/arm/v7`.
    pub(super) fn expand(&self, word: &str, platform: Option<&str>) -> Expanded {
        dockerfile::expand_with(word, self.escape, |name| {
            if !self.platform_args.contains(name) {
                return self.vars.get(name).cloned().flatten();
            }
            let platform = platform?;
            let mut parts = platform.split('/');
            let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
            let value = match name {
                "TARGETPLATFORM" => platform,
                "TARGETOS" => os.unwrap_or_default(),
                "TARGETARCH" => arch.unwrap_or_default(),
                _ => variant.unwrap_or_default(),
            };
            Some(value.to_string())
        })
    }
}

/// `secret-in-arg`: ARG and ENV values stay in the image's history and config.
fn secret_names(instruction: &Instruction, runtime: bool, add: &mut Add<'_>) {
    for (name, _) in instruction.assignments() {
        let upper = name.to_ascii_uppercase();
        let secret = ["TOKEN", "PASSWORD", "SECRET"].iter().any(|s| upper.contains(s)) || upper.ends_with("_KEY");
        if secret {
            add(
                instruction.line,
                Rule::SecretInArg,
                format!("{} `{name}` looks like a secret, and its value is kept in the image", instruction.keyword),
                hints::secret_fix(&instruction.keyword, &name, runtime),
            );
        }
    }
}

#[cfg(test)]
mod tests;
