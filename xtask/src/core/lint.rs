//! Dockerfile policy checks, run by `lint` and by `build` first. Pure: a Dockerfile's text and
//! the facts around it (the build context's file list and .dockerignore, the image's allow
//! list, what in-repo parents hand down) in, findings out; `ops::lint` gathers the facts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use crate::core::dockerfile::{self, Dockerfile, Expanded, Instruction, Stage};
use crate::core::dockerignore::{ancestors_and_self, DockerIgnore, Glob};
use crate::core::severity::Severity;

/// A policy rule; its id is what `[lint] allow` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    RootUser,
    Healthcheck,
    UnpinnedBase,
    HardcodedArch,
    SecretInArg,
    PackageCache,
    MissingSource,
    /// What BuildKit rejects: a parse error, or an instruction it refuses before building.
    Syntax,
}

impl Rule {
    /// The rules `[lint] allow` may name: all but `syntax`, as BuildKit would not build the file.
    pub const ALL: [Rule; 7] = [
        Rule::RootUser,
        Rule::Healthcheck,
        Rule::UnpinnedBase,
        Rule::HardcodedArch,
        Rule::SecretInArg,
        Rule::PackageCache,
        Rule::MissingSource,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::RootUser => "root-user",
            Rule::Healthcheck => "healthcheck",
            Rule::UnpinnedBase => "unpinned-base",
            Rule::HardcodedArch => "hardcoded-arch",
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
            Rule::Healthcheck | Rule::PackageCache => Severity::Warning,
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
        secret_names(arg, &mut add);
    }
    let ignore = DockerIgnore::parse(ctx.dockerignore.as_deref().unwrap_or(""));
    for (index, stage) in analysis.stages.iter().enumerate() {
        analysis.check_base(index, &mut add);
        let mut scope = Scope::new(ctx, &analysis.globals, doc.escape);
        for instruction in stage.body {
            match instruction.keyword.as_str() {
                "ARG" | "ENV" => secret_names(instruction, &mut add),
                "RUN" => {
                    run_arch(instruction, &mut add);
                    package_cache(instruction, &scope, &mut add);
                }
                "COPY" | "ADD" => {
                    copy_arch(instruction, &mut add);
                    sources(instruction, &scope, &ignore, ctx, &mut add);
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

type Add<'a> = dyn FnMut(usize, Rule, String, String) + 'a;

/// Where a stage's base comes from.
#[derive(Debug, Clone, PartialEq)]
enum Base {
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An in-repo parent, by the build arg that carries it.
    Parent(String),
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
                    Some(tag) if is_floating(tag) => format!("`{tag}` is a moving tag"),
                    Some(_) => return,
                };
                add(from.line, Rule::UnpinnedBase, format!("base image `{reference}` {why}"), pin_fix(name));
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
            let port = expose.words().first().map_or("8080".to_string(), |p| p.split('/').next().unwrap_or(p).into());
            add(
                expose.line,
                Rule::Healthcheck,
                format!("the image EXPOSEs {} but declares no HEALTHCHECK", expose.args),
                format!("add e.g. `HEALTHCHECK CMD wget -q -O /dev/null http://127.0.0.1:{port}/ || exit 1`"),
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
struct Scope<'a> {
    ctx: &'a LintContext,
    globals: &'a BTreeMap<String, Option<String>>,
    vars: BTreeMap<String, Option<String>>,
    /// Automatic platform ARGs this stage declared; their values depend on the platform.
    platform_args: BTreeSet<String>,
    escape: char,
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
    fn expand(&self, word: &str, platform: Option<&str>) -> Expanded {
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
fn secret_names(instruction: &Instruction, add: &mut Add<'_>) {
    for (name, _) in instruction.assignments() {
        let upper = name.to_ascii_uppercase();
        let secret = ["TOKEN", "PASSWORD", "SECRET"].iter().any(|s| upper.contains(s)) || upper.ends_with("_KEY");
        if secret {
            add(
                instruction.line,
                Rule::SecretInArg,
                format!("{} `{name}` looks like a secret, and its value is kept in the image", instruction.keyword),
                format!(
                    "use a BuildKit secret: `RUN --mount=type=secret,id={},env={name} ...` and `--secret` at build time",
                    name.to_ascii_lowercase()
                ),
            );
        }
    }
}

const ARCH_FIX: &str = "declare `ARG TARGETARCH` and use `${TARGETARCH}` (map it where a vendor spells it differently: `case $TARGETARCH in amd64) a=x86_64;; arm64) a=aarch64;; esac`)";

/// An architecture name standing alone in `word` (`tool-amd64.tgz`, `/usr/lib/x86_64-linux-gnu`).
fn hardcoded_arch(word: &str) -> Option<&'static str> {
    ["x86_64", "amd64", "aarch64", "arm64"].into_iter().find(|arch| {
        word.match_indices(arch).any(|(at, _)| {
            let before = word[..at].chars().next_back();
            let after = word[at + arch.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
        })
    })
}

/// The whole script a RUN executes: exec form, shell form or heredoc bodies, continuations joined.
fn script(instruction: &Instruction) -> String {
    let mut text = instruction.exec_form().map_or_else(|| instruction.args.clone(), |e| e.join(" "));
    for heredoc in &instruction.heredocs {
        text.push('\n');
        text.push_str(&heredoc.body.replace("\\\n", " "));
    }
    text
}

/// `hardcoded-arch` in RUN: URLs and paths. A RUN that derives the architecture
/// itself (`$TARGETARCH`, `uname -m`) may name each one in its branches.
fn run_arch(instruction: &Instruction, add: &mut Add<'_>) {
    let text = script(instruction);
    let derives = ["TARGETARCH", "TARGETPLATFORM", "uname -m", "dpkg --print-architecture", "apk --print-arch"];
    if derives.iter().any(|d| text.contains(d)) {
        return;
    }
    let tokens = text.split(|c: char| c.is_whitespace() || "\"'`;|&()<>=".contains(c));
    if let Some((word, arch)) = tokens.filter(|t| t.contains('/')).find_map(|t| Some((t, hardcoded_arch(t)?))) {
        add(
            instruction.line,
            Rule::HardcodedArch,
            format!("RUN hard-codes `{arch}` in `{word}`"),
            ARCH_FIX.to_string(),
        );
    }
}

/// `hardcoded-arch` in COPY and ADD: every argument is a path or URL.
fn copy_arch(instruction: &Instruction, add: &mut Add<'_>) {
    let words = instruction.words();
    if let Some((word, arch)) = words.iter().filter(|w| !is_heredoc_word(w)).find_map(|w| Some((w, hardcoded_arch(w)?)))
    {
        let keyword = &instruction.keyword;
        add(
            instruction.line,
            Rule::HardcodedArch,
            format!("{keyword} hard-codes `{arch}` in `{word}`"),
            ARCH_FIX.to_string(),
        );
    }
}

fn is_heredoc_word(word: &str) -> bool {
    word.trim_start_matches(|c: char| c.is_ascii_digit()).starts_with("<<")
}

/// Targets of this RUN's `--mount=type=cache,...` flags.
fn cache_mounts(instruction: &Instruction) -> Vec<String> {
    instruction
        .flags
        .iter()
        .filter(|f| f.name == "mount")
        .filter_map(|f| {
            let options: BTreeMap<&str, &str> =
                f.value.as_deref()?.split(',').filter_map(|o| o.split_once('=')).collect();
            let target = ["target", "dst", "destination"].iter().find_map(|k| options.get(k))?;
            (options.get("type") == Some(&"cache")).then(|| target.trim_end_matches('/').to_string())
        })
        .collect()
}

/// Simple commands of a script, as words, without leading `VAR=x`, `sudo` or `env`.
fn simple_commands(script: &str) -> Vec<Vec<String>> {
    script
        .split(|c: char| "\n;|&()`".contains(c))
        .filter_map(|command| {
            let words: Vec<String> =
                command.split_whitespace().map(|w| w.trim_matches(['"', '\'']).to_string()).collect();
            let wrapper = |w: &str| matches!(w, "sudo" | "env" | "exec" | "command" | "nice" | "nohup" | "time");
            let assignment = |w: &str| {
                w.split_once('=').is_some_and(|(n, _)| {
                    n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            };
            let skip = words
                .iter()
                .take_while(|w| wrapper(w.as_str()) || assignment(w.as_str()) || w.starts_with('-'))
                .count();
            let mut words = words[skip..].to_vec();
            let first = words.first_mut()?;
            *first = first.rsplit('/').next().unwrap_or_default().to_string();
            Some(words)
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Apt,
    Pip,
    Apk,
    Npm,
}

fn tool(command: &[String]) -> Option<Tool> {
    let has = |word: &str| command[1..].iter().any(|w| w == word);
    let name = command[0].as_str();
    let pip = name == "pip"
        || name.strip_prefix("pip").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        || (name.starts_with("python") && command.windows(2).any(|w| w[0] == "-m" && w[1] == "pip"));
    match name {
        "apt-get" | "apt" | "aptitude"
            if ["install", "upgrade", "dist-upgrade", "full-upgrade"].into_iter().any(has) =>
        {
            Some(Tool::Apt)
        }
        "apk" if has("add") => Some(Tool::Apk),
        "npm" if ["install", "i", "ci"].into_iter().any(has) => Some(Tool::Npm),
        _ if pip && has("install") => Some(Tool::Pip),
        _ => None,
    }
}

/// `package-cache`: package managers must not leave their caches in the layer.
fn package_cache(instruction: &Instruction, scope: &Scope<'_>, add: &mut Add<'_>) {
    let text = script(instruction);
    let commands = simple_commands(&text);
    let mounts = cache_mounts(instruction);
    let mounted = |prefixes: &[&str]| mounts.iter().any(|m| prefixes.iter().any(|p| m.starts_with(p)));
    let removes = |prefix: &str| {
        commands.iter().any(|c| c[0] == "rm" && c[1..].iter().any(|w| w.trim_end_matches('*').starts_with(prefix)))
    };
    let mut reported = Vec::new();
    for command in &commands {
        let Some(tool) = tool(command) else { continue };
        let has = |flag: &str| command.iter().any(|w| w.starts_with(flag));
        let clean = match tool {
            Tool::Apt => mounted(&["/var/cache/apt", "/var/lib/apt"]) || removes("/var/lib/apt/lists"),
            Tool::Pip => {
                has("--no-cache-dir")
                    || text.contains("PIP_NO_CACHE_DIR")
                    || scope.vars.contains_key("PIP_NO_CACHE_DIR")
                    || mounts.iter().any(|m| m.ends_with("/.cache/pip") || m.ends_with("/.cache"))
            }
            Tool::Apk => {
                has("--no-cache") || mounted(&["/var/cache/apk", "/etc/apk/cache"]) || removes("/var/cache/apk")
            }
            Tool::Npm => {
                mounts.iter().any(|m| m.ends_with("/.npm"))
                    || commands.iter().any(|c| c.len() > 2 && c[0] == "npm" && c[1] == "cache" && c[2] == "clean")
            }
        };
        if clean || reported.contains(&tool) {
            continue;
        }
        reported.push(tool);
        let verb = command[1..].iter().find(|w| !w.starts_with('-')).map_or("", String::as_str);
        let what = format!("`{} {verb}`", command[0]);
        let (message, fix) = match tool {
            Tool::Apt => (
                format!("{what} leaves the apt package lists in the layer"),
                "end the same RUN with `&& rm -rf /var/lib/apt/lists/*`, or use `RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt`",
            ),
            Tool::Pip => (
                format!("{what} keeps pip's download cache in the layer"),
                "add `--no-cache-dir`, or use `RUN --mount=type=cache,target=/root/.cache/pip`",
            ),
            Tool::Apk => (
                format!("{what} keeps the apk index in the layer"),
                "use `apk add --no-cache`, or `RUN --mount=type=cache,target=/var/cache/apk`",
            ),
            Tool::Npm => (
                format!("{what} keeps npm's cache in the layer"),
                "use `RUN --mount=type=cache,target=/root/.npm`, or end the same RUN with `&& npm cache clean --force`",
            ),
        };
        add(instruction.line, Rule::PackageCache, message, fix.to_string());
    }
}

/// `missing-source`: every COPY/ADD source must reach the builder. Sources from
/// other stages and URLs are not files; variables other than the platform ARGs
/// are left alone.
fn sources(instruction: &Instruction, scope: &Scope<'_>, ignore: &DockerIgnore, ctx: &LintContext, add: &mut Add<'_>) {
    if instruction.flag("from").is_some() {
        return;
    }
    // As written: BuildKit expands each source, removing quotes and escapes only then.
    let words: Vec<&String> = instruction.values.iter().filter(|w| !is_heredoc_word(w)).collect();
    let Some((_, sources)) = words.split_last() else { return };
    let generated: Vec<String> =
        ctx.platforms.iter().map(|p| format!("rootfs/{}", crate::oci::platform::tarball_name(p))).collect();
    'source: for source in sources {
        if source.contains("://") || source.starts_with("git@") {
            continue;
        }
        let mut paths: Vec<(Option<&str>, String)> = Vec::new();
        let platforms: Vec<Option<&str>> = match source.contains('$') {
            true => ctx.platforms.iter().map(|p| Some(p.as_str())).collect(),
            false => vec![None],
        };
        for platform in platforms {
            let expanded = scope.expand(source, platform);
            // A word that does not expand is the syntax rule's.
            if !expanded.unset.is_empty() || expanded.error.is_some() {
                continue 'source;
            }
            paths.push((platform, normalize(&expanded.text)));
        }
        for (platform, path) in paths {
            let on = platform.map(|p| format!(" for {p}")).unwrap_or_default();
            let excluded = |line: usize, pattern: &str| {
                (
                    format!(
                        "{} source `{source}`{on} is excluded by .dockerignore (line {line}: `{pattern}`)",
                        instruction.keyword
                    ),
                    format!("add `!{path}` to .dockerignore after line {line}, or remove that pattern"),
                )
            };
            let problem = if ctx.rootfs && generated.contains(&path) {
                ignore.excluded(&path).map(|(line, pattern)| excluded(line, pattern))
            } else {
                match availability(&path, &ctx.files, ignore) {
                    Availability::Present => None,
                    Availability::Excluded(line, pattern) => Some(excluded(line, pattern)),
                    Availability::Missing => Some((
                        format!(
                            "{} source `{source}`{on} is not in the build context {}",
                            instruction.keyword, ctx.context
                        ),
                        format!("create {}/{path} or fix the path: sources are relative to the context", ctx.context),
                    )),
                }
            };
            if let Some((message, fix)) = problem {
                add(instruction.line, Rule::MissingSource, message, fix);
                continue 'source;
            }
        }
    }
}

/// A source path relative to the context root: `./a/../b/` is `b`; `..` stops at the root.
fn normalize(source: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

enum Availability<'a> {
    Present,
    Missing,
    /// Excluded by the .dockerignore pattern on this line.
    Excluded(usize, &'a str),
}

/// Whether `path` (possibly a wildcard) reaches the builder: it exists and it,
/// or something below it that an exception lets through, is not ignored.
fn availability<'a>(path: &str, files: &BTreeSet<String>, ignore: &'a DockerIgnore) -> Availability<'a> {
    if path.is_empty() {
        return Availability::Present;
    }
    let candidates: Vec<&String> = if path.contains(['*', '?', '[']) {
        let glob = Glob::new(path, false);
        files.iter().filter(|f| ancestors_and_self(f).any(|a| glob.matches(a))).collect()
    } else {
        let below = format!("{path}/");
        files.iter().filter(|f| *f == path || f.starts_with(&below)).collect()
    };
    let mut first_exclusion = None;
    for candidate in candidates {
        match ignore.excluded(candidate) {
            None => return Availability::Present,
            Some(why) => {
                first_exclusion.get_or_insert(why);
            }
        }
    }
    match first_exclusion {
        Some((line, pattern)) => Availability::Excluded(line, pattern),
        None => Availability::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> LintContext {
        LintContext {
            platforms: vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
            context: Utf8PathBuf::from("images/t"),
            ..LintContext::default()
        }
    }

    fn found_with(text: &str, ctx: &LintContext) -> Vec<(usize, &'static str)> {
        lint(Utf8Path::new("images/t/Dockerfile"), text, ctx).iter().map(|f| (f.line, f.rule.id())).collect()
    }

    fn found(text: &str) -> Vec<(usize, &'static str)> {
        found_with(text, &ctx())
    }

    fn messages(text: &str, ctx: &LintContext) -> Vec<String> {
        lint(Utf8Path::new("images/t/Dockerfile"), text, ctx).iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn clean_dockerfile_has_no_findings() {
        let text = "# syntax=docker/dockerfile:1\nARG DEBIAN=debian:12.5\nFROM ${DEBIAN} AS build\nRUN --mount=type=cache,target=/var/cache/apt apt-get update && apt-get install -y curl\nFROM scratch\nCOPY --from=build /usr/bin/curl /curl\nUSER 65534:65534\n";
        assert_eq!(found(text), []);
    }

    #[test]
    fn root_user() {
        assert_eq!(found("FROM debian:12\nRUN true\n"), [(1, "root-user")], "no USER at all");
        for user in ["0", "root", "0:0", "root:root"] {
            assert_eq!(found(&format!("FROM debian:12\nUSER {user}\n")), [(2, "root-user")], "USER {user}");
        }
        assert_eq!(found("FROM debian:12\nUSER 0:0\nRUN true\nUSER 65534:65534\n"), []);
        assert_eq!(found("FROM debian:12\nUSER 1000\nRUN true\nUSER root\n"), [(4, "root-user")]);
        assert_eq!(found("FROM debian:12\nARG RUN_AS=root\nUSER ${RUN_AS}\n"), [(3, "root-user")]);
        assert_eq!(found("FROM debian:12\nUSER $UNKNOWN\n"), [], "an unresolved user is taken as meant non-root");
        assert_eq!(found("FROM debian:12 AS base\nUSER 1000\nFROM base\nRUN true\n"), [], "inherited from a stage");
        assert_eq!(found("FROM debian:12 AS base\nUSER 1000\nFROM debian:12\n"), [(3, "root-user")]);
        assert_eq!(found("FROM debian:12\nUSER 1000\nFROM scratch\n"), [(3, "root-user")], "only the final stage");
    }

    #[test]
    fn root_user_follows_in_repo_parents() {
        let text = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN true\n";
        let mut ctx = ctx();
        ctx.parents.insert("BASE_IMAGE".to_string(), Inherited { user: Some(User::NonRoot), healthcheck: false });
        assert_eq!(found_with(text, &ctx), []);
        ctx.parents.insert("BASE_IMAGE".to_string(), Inherited { user: Some(User::Root), healthcheck: false });
        assert_eq!(messages(text, &ctx), ["images/t/Dockerfile:2: root-user: the final stage inherits root from its in-repo parent and sets no USER\n  fix: end the final stage with a non-root `USER`, e.g. `USER 65534:65534`"]);
        ctx.parents.insert("BASE_IMAGE".to_string(), Inherited::default());
        assert_eq!(found_with(text, &ctx), [(2, "root-user")]);

        let parent = "FROM scratch\nUSER 0\nHEALTHCHECK CMD true\nUSER 65534\n";
        assert_eq!(inherited(parent, &ctx), Inherited { user: Some(User::NonRoot), healthcheck: true });
        assert_eq!(inherited("FROM scratch\nHEALTHCHECK NONE\n", &ctx), Inherited::default());
    }

    #[test]
    fn healthcheck_for_services() {
        let text = "FROM nginx:1.27\nUSER 101\nEXPOSE 8080/tcp\n";
        assert_eq!(messages(text, &ctx()), ["images/t/Dockerfile:3: healthcheck: the image EXPOSEs 8080/tcp but declares no HEALTHCHECK\n  fix: add e.g. `HEALTHCHECK CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1`"]);
        assert_eq!(found("FROM nginx:1.27\nUSER 101\nEXPOSE 80\nHEALTHCHECK CMD curl -f http://localhost/\n"), []);
        assert_eq!(found("FROM nginx:1.27\nUSER 101\nEXPOSE 80\nHEALTHCHECK NONE\n"), [(3, "healthcheck")]);
        assert_eq!(found("FROM nginx:1.27 AS a\nEXPOSE 80\nFROM nginx:1.27\nUSER 101\n"), [], "not a service");
        let mut ctx = ctx();
        ctx.parents.insert("BASE_IMAGE".to_string(), Inherited { user: Some(User::NonRoot), healthcheck: true });
        assert_eq!(found_with("ARG BASE_IMAGE\nFROM $BASE_IMAGE\nEXPOSE 80\n", &ctx), [], "inherited HEALTHCHECK");
    }

    #[test]
    fn unpinned_base() {
        let user = "\nUSER 1\n";
        let cases: [(&str, Vec<(usize, &str)>); 11] = [
            ("FROM debian", vec![(1, "unpinned-base")]),
            ("FROM debian:latest", vec![(1, "unpinned-base")]),
            ("FROM node:lts-alpine", vec![(1, "unpinned-base")]),
            ("FROM localhost:5000/debian", vec![(1, "unpinned-base")]),
            ("FROM debian:12.5", vec![]),
            ("FROM debian:bookworm-slim", vec![]),
            ("FROM localhost:5000/debian:12", vec![]),
            ("FROM debian@sha256:0123", vec![]),
            ("FROM --platform=$BUILDPLATFORM scratch", vec![]),
            ("ARG V=12\nARG IMG=debian:${V}\nFROM $IMG AS Build\nFROM build", vec![]),
            ("ARG IMG\nFROM ${IMG}", vec![(2, "unpinned-base")]),
        ];
        for (text, expected) in cases {
            assert_eq!(found(&format!("{text}{user}")), expected, "{text}");
        }
        let text = "ARG IMG=debian\nFROM ${IMG}\nUSER 1\n";
        assert_eq!(messages(text, &ctx()), ["images/t/Dockerfile:2: unpinned-base: base image `debian` has no tag, so it means `latest`\n  fix: pin a version tag or a digest, e.g. `FROM debian:<version>` or `FROM debian@sha256:<digest>`"]);
        let mut ctx = ctx();
        ctx.args.insert("IMG".to_string(), "debian:12".to_string());
        assert_eq!(found_with(text, &ctx), [], "image.toml args override ARG defaults");
        assert_eq!(
            found_with("FROM build\nUSER 1\nFROM debian:12 AS build\nUSER 1\n", &ctx)[0],
            (1, "unpinned-base"),
            "a stage named later is an image"
        );
        let mut ctx = self::ctx();
        ctx.parents.insert("BASE_IMAGE".to_string(), Inherited { user: Some(User::NonRoot), healthcheck: false });
        assert_eq!(
            found_with("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n", &ctx),
            [],
            "in-repo parents are pinned by digest"
        );
    }

    #[test]
    fn hardcoded_arch() {
        let head = "FROM debian:12\nUSER 1\n";
        let cases: [(&str, Vec<(usize, &str)>); 8] = [
            ("RUN curl -fsSLo /t.tgz https://example.test/tool-linux-amd64.tgz", vec![(3, "hardcoded-arch")]),
            ("RUN ln -s /usr/lib/x86_64-linux-gnu/libz.so /lib/", vec![(3, "hardcoded-arch")]),
            ("ADD https://example.test/aarch64/tool /usr/bin/", vec![(3, "hardcoded-arch")]),
            ("COPY bin/arm64/tool /usr/bin/", vec![(3, "hardcoded-arch")]),
            ("ARG TARGETARCH\nRUN curl -o /t https://example.test/tool-${TARGETARCH}", vec![]),
            (
                "RUN case \"$TARGETARCH\" in amd64) a=x86_64;; arm64) a=aarch64;; esac; curl https://x.test/$a/x86_64",
                vec![],
            ),
            ("RUN dpkg --add-architecture arm64 && echo amd64", vec![]),
            ("RUN curl https://example.test/tool-arm64v8.tgz", vec![]),
        ];
        let mut ctx = ctx();
        ctx.files = BTreeSet::from(["bin".to_string(), "bin/arm64".to_string(), "bin/arm64/tool".to_string()]);
        for (text, expected) in cases {
            assert_eq!(found_with(&format!("{head}{text}\n"), &ctx), expected, "{text}");
        }
    }

    #[test]
    fn secret_in_arg() {
        let text = "ARG NPM_TOKEN\nFROM debian:12\nARG VERSION=1 DB_PASSWORD=x\nENV API_SECRET=s GPG_KEY=abc KEYBOARD=us\nENV LEGACY_TOKEN value\nUSER 1\n";
        assert_eq!(
            found(text),
            [
                (1, "secret-in-arg"),
                (3, "secret-in-arg"),
                (4, "secret-in-arg"),
                (4, "secret-in-arg"),
                (5, "secret-in-arg")
            ]
        );
        let first = &lint(Utf8Path::new("D"), text, &ctx())[0];
        assert_eq!(first.fix, "use a BuildKit secret: `RUN --mount=type=secret,id=npm_token,env=NPM_TOKEN ...` and `--secret` at build time");
    }

    #[test]
    fn package_cache() {
        let head = "FROM debian:12\nUSER 1\n";
        let cases: [(&str, Vec<(usize, &str)>); 14] = [
            ("RUN apt-get update && apt-get install -y curl", vec![(3, "package-cache")]),
            ("RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*", vec![]),
            ("RUN --mount=type=cache,id=apt-${TARGETARCH},target=/var/cache/apt,sharing=locked apt-get install -y curl", vec![]),
            ("RUN --mount=type=bind,target=/var/cache/apt apt-get install -y curl", vec![(3, "package-cache")]),
            ("RUN DEBIAN_FRONTEND=noninteractive sudo apt -y install curl", vec![(3, "package-cache")]),
            ("RUN pip install requests", vec![(3, "package-cache")]),
            ("RUN python3 -m pip install --no-cache-dir requests", vec![]),
            ("RUN --mount=type=cache,target=/root/.cache/pip pip3 install requests", vec![]),
            ("ENV PIP_NO_CACHE_DIR=1\nRUN pip install requests", vec![]),
            ("RUN apk add curl", vec![(3, "package-cache")]),
            ("RUN apk add --no-cache curl", vec![]),
            ("RUN npm ci && npm run build", vec![(3, "package-cache")]),
            ("RUN npm ci && npm cache clean --force", vec![]),
            ("RUN [\"apt-get\", \"install\", \"-y\", \"curl\"]", vec![(3, "package-cache")]),
        ];
        for (text, expected) in cases {
            assert_eq!(found(&format!("{head}{text}\n")), expected, "{text}");
        }
        let text = format!("{head}RUN <<EOF\napt-get update\napt-get install -y \\\n  curl\npip install x\nEOF\n");
        assert_eq!(
            messages(&text, &ctx()),
            [
                "images/t/Dockerfile:3: package-cache: `apt-get install` leaves the apt package lists in the layer\n  fix: end the same RUN with `&& rm -rf /var/lib/apt/lists/*`, or use `RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt`",
                "images/t/Dockerfile:3: package-cache: `pip install` keeps pip's download cache in the layer\n  fix: add `--no-cache-dir`, or use `RUN --mount=type=cache,target=/root/.cache/pip`",
            ]
        );
    }

    #[test]
    fn lines_after_continuations_and_heredocs() {
        // Heredoc bodies hold instruction-like text that must not count as instructions.
        let text = "FROM debian:12\nRUN apt-get update \\\n  # comment\n && apt-get install -y curl \\\n && rm -rf /var/lib/apt/lists/*\nARG GITHUB_TOKEN\nRUN <<EOF\nUSER root\nARG NPM_TOKEN\nEOF\nCOPY <<-EOF /etc/motd\n\tENV API_PASSWORD=x\n\tEOF\nUSER 1000\nENV DB_PASSWORD=x\n";
        assert_eq!(found(text), [(6, "secret-in-arg"), (15, "secret-in-arg")]);
    }

    #[test]
    fn missing_source() {
        let mut ctx = ctx();
        ctx.files =
            ["site", "site/index.html", "site/logs", "site/logs/a.log", "app.py", "notes.md", "docs", "docs/x.md"]
                .into_iter()
                .map(str::to_string)
                .collect();
        ctx.dockerignore = Some("# logs stay out\nsite/logs\n*.md\n!docs/*.md\n".to_string());
        let head = "FROM debian:12\nUSER 1\n";
        let cases: [(&str, Vec<(usize, &str)>); 12] = [
            ("COPY site/ app.py ./ /srv/", vec![]),
            ("COPY ./site/../app.py /srv/", vec![]),
            ("COPY [\"app.py\", \"/srv/\"]", vec![]),
            ("COPY missing.txt /srv/", vec![(3, "missing-source")]),
            ("COPY site/logs /srv/", vec![(3, "missing-source")]),
            ("COPY notes.md /srv/", vec![(3, "missing-source")]),
            ("COPY docs /srv/", vec![]),
            ("COPY *.py /srv/", vec![]),
            ("COPY *.txt /srv/", vec![(3, "missing-source")]),
            ("COPY --from=build /nowhere /srv/\nADD https://example.test/x.tgz /srv/", vec![]),
            ("ARG WHERE\nCOPY ${WHERE}/x /srv/\nCOPY <<EOF /srv/x\nhi\nEOF", vec![]),
            ("ARG TARGETARCH\nADD rootfs/${TARGETARCH}.tar /", vec![(4, "missing-source")]),
        ];
        for (text, expected) in cases {
            assert_eq!(found_with(&format!("{head}{text}\n"), &ctx), expected, "{text}");
        }
        let messages = messages(&format!("{head}COPY site/logs missing /srv/\n"), &ctx);
        assert_eq!(
            messages,
            [
                "images/t/Dockerfile:3: missing-source: COPY source `site/logs` is excluded by .dockerignore (line 2: `site/logs`)\n  fix: add `!site/logs` to .dockerignore after line 2, or remove that pattern",
                "images/t/Dockerfile:3: missing-source: COPY source `missing` is not in the build context images/t\n  fix: create images/t/missing or fix the path: sources are relative to the context",
            ]
        );
    }

    #[test]
    fn generated_rootfs_tarballs_count_as_present() {
        let text =
            "FROM scratch\nARG TARGETARCH\nARG TARGETVARIANT\nADD rootfs/${TARGETARCH}${TARGETVARIANT}.tar /\nUSER 1\n";
        let mut ctx = ctx();
        ctx.platforms.push("linux/arm/v7".to_string());
        assert_eq!(
            messages(text, &ctx)[0].lines().next().unwrap(),
            "images/t/Dockerfile:4: missing-source: ADD source `rootfs/${TARGETARCH}${TARGETVARIANT}.tar` for linux/amd64 is not in the build context images/t"
        );
        ctx.rootfs = true;
        assert_eq!(found_with(text, &ctx), []);
        ctx.dockerignore = Some("rootfs/armv7.tar\n".to_string());
        assert_eq!(found_with(text, &ctx), [(4, "missing-source")], ".dockerignore still applies");
    }

    #[test]
    fn allow_turns_rules_off() {
        let mut ctx = ctx();
        ctx.allow = vec![Rule::RootUser, Rule::UnpinnedBase];
        assert_eq!(found_with("FROM debian\nARG SECRET\n", &ctx), [(2, "secret-in-arg")]);
    }

    #[test]
    fn rule_ids_round_trip() {
        for rule in Rule::ALL {
            assert_eq!(Rule::from_id(rule.id()), Some(rule));
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.id());
        }
        assert_eq!(Rule::from_id("root"), None);
    }

    #[test]
    fn wildcards_for_copy_sources() {
        let glob = Glob::new("src/*.r[st]", false);
        assert!(glob.matches("src/a.rs") && glob.matches("src/b.rt"));
        assert!(!glob.matches("src/a/b.rs") && !glob.matches("src/a.ru"));
        assert!(!Glob::new("**.rs", false).matches("a/b.rs"), "`**` is `*` for COPY");
        assert!(Glob::new("[^a]?", false).matches("bc") && !Glob::new("[^a]?", false).matches("ac"));
        // Backtracking alone would take longer than the age of the universe on these.
        let name = "a".repeat(200);
        assert!(!Glob::new(&format!("{}b", "*a".repeat(40)), false).matches(&name));
        assert!(Glob::new(&format!("{}a", "*a".repeat(40)), false).matches(&name));
        let dirs = format!("{}b", "**/".repeat(50));
        assert!(!Glob::new(&dirs, true).matches(&format!("{}a", "x/".repeat(100))));
        assert!(Glob::new(&dirs, true).matches(&format!("{}b", "x/".repeat(100))));
        assert!(!Glob::new(&"*".repeat(5000), false).matches(""), "longer than any path");
    }
}
