//! `cargo xtask help [COMMAND]`, `COMMAND --help` and `version`: the generated help text
//! (`Xtask::HELP`) read back into commands, arguments and flags, so that what
//! `preflight` checks and what one command's help shows cannot drift from flags.rs. Only
//! the examples are written here; a test requires them for every command and parses each.
//! Pure: text in, text out.

/// What to print instead of running a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpRequest {
    /// `help`, `--help`, `-h`, or no command at all: the whole help.
    All,
    /// `help plan`, `plan --help`, `plan -h`.
    Command(String),
    /// `version`, `-V`.
    Version,
}

/// The commit this binary was built from: build.rs runs `git rev-parse HEAD` at build time.
pub const COMMIT: &str = match option_env!("XTASK_GIT_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// `--jobs`; `short` is `-j`; `value` the placeholder of a flag that takes one.
    pub long: String,
    pub short: Option<String>,
    pub value: Option<String>,
    pub doc: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Optional,
    Required,
    Repeated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub arity: Arity,
    pub doc: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The name, then any aliases.
    pub names: Vec<String>,
    pub args: Vec<Arg>,
    pub flags: Vec<Flag>,
    /// Its part of the help text, from `xtask plan` to the next command.
    pub section: String,
}

/// The help text, read back into commands and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub program: String,
    /// Declared on `xtask` itself: accepted before or after the command name.
    pub global: Vec<Flag>,
    pub commands: Vec<Command>,
}

impl Cli {
    pub fn command(&self, name: &str) -> Option<&Command> {
        self.commands.iter().find(|c| c.names.iter().any(|n| n == name))
    }

    pub(crate) fn flag<'a>(&'a self, command: Option<&'a Command>, arg: &str) -> Option<&'a Flag> {
        let own = command.map_or(&[][..], |c| &c.flags[..]);
        own.iter().chain(&self.global).find(|f| f.long == arg || f.short.as_deref() == Some(arg))
    }
}

/// Reads xflags 0.3's layout: `xtask` and its doc, `OPTIONS:`, `SUBCOMMANDS:`, then per
/// command `xtask NAME`, `  ARGS:` and `  OPTIONS:`; items at 4 spaces, their docs at 6.
pub fn parse(help: &str) -> Cli {
    let mut lines = help.lines();
    let program = lines.next().unwrap_or("xtask").trim().to_string();
    let header = format!("{program} ");
    let mut cli = Cli { program, global: Vec::new(), commands: Vec::new() };
    let (mut in_args, mut last_is_flag) = (false, true);
    for line in lines {
        if let Some(names) = line.strip_prefix(&header) {
            let names = names.split(" | ").map(str::to_string).collect();
            cli.commands.push(Command { names, args: Vec::new(), flags: Vec::new(), section: String::new() });
        }
        let mut command = cli.commands.last_mut();
        if let Some(c) = command.as_deref_mut() {
            c.section.push_str(line);
            c.section.push('\n');
        }
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if matches!(text, "ARGS:" | "OPTIONS:" | "SUBCOMMANDS:") {
            in_args = text == "ARGS:";
        } else if indent == 4 && in_args {
            let Some(c) = command else { continue };
            let (arity, name) = match text.strip_suffix("...") {
                Some(name) => (Arity::Repeated, name),
                None if text.starts_with('[') => (Arity::Optional, text),
                None => (Arity::Required, text),
            };
            let name = name.trim_matches(['<', '>', '[', ']']).to_string();
            c.args.push(Arg { name, arity, doc: String::new() });
            last_is_flag = false;
        } else if indent == 4 && text.starts_with('-') {
            let (short, rest) = match text.split_once(", ") {
                Some((short, rest)) if !short.starts_with("--") => (Some(short.to_string()), rest),
                _ => (None, text),
            };
            let (long, value) = match rest.split_once(' ') {
                Some((long, value)) => (long, Some(value.trim_matches(['<', '>']).to_string())),
                None => (rest, None),
            };
            let flag = Flag { long: long.to_string(), short, value, doc: String::new() };
            command.map_or(&mut cli.global, |c| &mut c.flags).push(flag);
            last_is_flag = true;
        } else if indent >= 6 {
            let doc = match (command, last_is_flag) {
                (Some(c), false) => c.args.last_mut().map(|a| &mut a.doc),
                (Some(c), true) => c.flags.last_mut().map(|f| &mut f.doc),
                (None, _) => cli.global.last_mut().map(|f| &mut f.doc),
            };
            if let Some(doc) = doc {
                if !doc.is_empty() {
                    doc.push(' ');
                }
                doc.push_str(text);
            }
        }
    }
    cli
}

/// One or two command lines per command, shown under its help.
pub fn examples(command: &str) -> &'static [&'static str] {
    match command {
        "plan" => {
            &["cargo xtask plan --format json", "cargo xtask plan python:python3.11 --event release --version 1.4.0"]
        }
        "build" => &[
            "cargo xtask build python:python3.11 --platform linux/arm64",
            "cargo xtask build --load postgres pgbouncer",
        ],
        "publish" => &["cargo xtask publish --digests digests/*.json"],
        "rollback" => &["cargo xtask rollback --dry-run", "cargo xtask rollback"],
        "report" => &[
            "cargo xtask report",
            "cargo xtask report --last 50 --format markdown",
            "cargo xtask report --format html --output target/report.html",
        ],
        "analytics" => &[
            "cargo xtask analytics serve --listen 127.0.0.1:5099",
            "cargo xtask analytics --since 2026-12-01 --format json",
        ],
        "outdated" => &["cargo xtask outdated", "cargo xtask outdated api --event release --format json"],
        "verify-manifests" => &["cargo xtask verify-manifests", "cargo xtask verify-manifests debian --format json"],
        "size" => &["cargo xtask size --save target/sizes.json", "cargo xtask size --baseline 1.3.0 --format markdown"],
        "lint" => &[
            "cargo xtask lint",
            "cargo xtask lint runner:go --format json",
            "cargo xtask lint --format sarif > lint.sarif",
        ],
        "test" => &[
            "cargo xtask test python --platform linux/arm64",
            "cargo xtask test --local --format junit --output target/junit.xml",
        ],
        "bench" => &["cargo xtask bench noop --runs 3", "cargo xtask bench plan"],
        "new" => &["cargo xtask new myapp", "cargo xtask new myapp --from debian:trixie --variants slim,full"],
        "doctor" => &["cargo xtask doctor", "cargo xtask doctor --format json"],
        "docs" => &["cargo xtask docs", "cargo xtask docs --check"],
        "schema" => &["cargo xtask schema", "cargo xtask schema --check"],
        "ci-workflow" => &[
            "cargo xtask ci-workflow",
            "cargo xtask ci-workflow --check",
            "cargo xtask ci-workflow --rehearse --event pull-request --pr 1",
        ],
        "sbom" => &["cargo xtask sbom", "cargo xtask sbom postgres --format json"],
        "scan" => &["cargo xtask scan", "cargo xtask scan postgres --report trivy.json"],
        "provision" => &["cargo xtask provision"],
        "install" => &["cargo xtask install --dir \"$RUNNER_TEMP/xtask\""],
        "ci" => &["cargo xtask ci"],
        "version" => &["cargo xtask version"],
        _ => &[],
    }
}

/// What to print for `request`, from the generated help text `help`.
pub fn render(help: &str, request: &HelpRequest) -> String {
    let cli = parse(help);
    match request {
        HelpRequest::Version => format!("xtask {} (commit {COMMIT})", env!("CARGO_PKG_VERSION")),
        HelpRequest::Command(name) if cli.command(name).is_some() => command_help(&cli, cli.command(name).unwrap()),
        _ => format!(
            "{}\n\n`cargo xtask help COMMAND` shows one command with examples; `cargo xtask version` (or -V) the version.",
            help.trim_end()
        ),
    }
}

fn command_help(cli: &Cli, command: &Command) -> String {
    let name = &command.names[0];
    let mut out = format!("cargo {}\n\n", command.section.trim_end());
    if let Some(formats) = super::format::accepted(name) {
        out.push_str(&format!("  --format: {}\n", formats.join(", ")));
    }
    let global: Vec<&str> = cli.global.iter().map(|f| f.long.as_str()).filter(|f| *f != "--help").collect();
    out.push_str(&format!("  Global flags, before or after `{name}`: {} (see `cargo xtask help`)\n", global.join(" ")));
    if !examples(name).is_empty() {
        out.push_str(&format!("\n  EXAMPLES:\n    {}\n", examples(name).join("\n    ")));
    }
    out.trim_end().to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parts of the real `Xtask::HELP` (xflags 0.3.2), copied verbatim: the global flags,
    /// plan, build, bench and doctor. The tests at the end read the real one.
    pub(crate) const FIXTURE: &str = r#"xtask
  Build, tag, publish and verify the multi-arch images under images/.

OPTIONS:
    --root <root>
      Workspace root (default: the directory holding the top Cargo.toml).

    --registry <registry>
      Registry host[:port], overriding the workspace setting and XTASK_REGISTRY.

    --format <format>
      Output format: table (default), json; some commands add markdown, junit, github-matrix, sarif, github, bake or html.

    --event <event>
      Event to build for: release, branch, pull-request or manual (default: detected).

    --version <version>
      Release version X.Y.Z (default: image.toml `version`, else the git tag vX.Y.Z).

    --branch <branch>
      Branch name for branch tags (default: detected).

    --sha <sha>
      Commit SHA for `{sha}` (default: detected).

    --pr <pr>
      Pull-request number for `pr-N` tags (default: detected).

    --tag <tag>
      Extra tag for every unit (repeatable); non-default variants get `TAG-VARIANT`.

    -h, --help
      Prints help information.

SUBCOMMANDS:

xtask plan
  Print the resolved build units in dependency order.

  ARGS:
    <units>...
      Images to plan, as NAME or NAME:VARIANT (default: all).


xtask build
  Build every platform with docker buildx, push, and publish manifest lists.

  ARGS:
    <units>...
      Images to build, as NAME or NAME:VARIANT (default: all).

  OPTIONS:
    --platform <platform>
      Build only this platform (repeatable; default: each image's platforms).

    --push
      Push and publish even for a pull request.

    --no-push
      Build only, publish nothing.

    --load
      Build the host platform only and load it into the local engine.

    --no-lint
      Skip the Dockerfile policy checks that run before building.

    --force
      Rebuild even when the registry already holds an image with the same inputs.

    --force-tags
      Move tags even when another publisher moved them since this run started.

    --keep-going
      Keep building units that do not depend on a failed one.

    -j, --jobs <jobs>
      How many platform builds run at once (default: the number of CPUs; emulated count double).

    --digest-file <digest_file>
      Build and push only, and record each unit's platform digests in FILE (for `publish`).


xtask bench
  Benchmarks with their baselines, measured in the same run.

  ARGS:
    <benchmark>
      Which benchmark: verify, noop, parallel, plan or compile.

  OPTIONS:
    --runs <runs>
      Timed runs per side (the median is reported).


xtask doctor
  Show each prerequisite, its version, what is wrong and the fix.
"#;

    #[test]
    fn reads_commands_arguments_and_flags_from_the_help_text() {
        let cli = parse(FIXTURE);
        assert_eq!(cli.program, "xtask");
        let names: Vec<&str> = cli.commands.iter().map(|c| c.names[0].as_str()).collect();
        assert_eq!(names, ["plan", "build", "bench", "doctor"]);
        let global: Vec<&str> = cli.global.iter().map(|f| f.long.as_str()).collect();
        assert_eq!(
            global,
            [
                "--root",
                "--registry",
                "--format",
                "--event",
                "--version",
                "--branch",
                "--sha",
                "--pr",
                "--tag",
                "--help"
            ]
        );
        assert_eq!(cli.global[2].value.as_deref(), Some("format"));
        assert_eq!(cli.global[9].short.as_deref(), Some("-h"));
        assert!(cli.global[2].doc.starts_with("Output format: table (default), json;"));

        let build = cli.command("build").unwrap();
        assert_eq!(
            build.args,
            [Arg {
                name: "units".into(),
                arity: Arity::Repeated,
                doc: "Images to build, as NAME or NAME:VARIANT (default: all).".into()
            }]
        );
        let jobs = build.flags.iter().find(|f| f.long == "--jobs").unwrap();
        assert_eq!((jobs.short.as_deref(), jobs.value.as_deref()), (Some("-j"), Some("jobs")));
        assert_eq!(build.flags.iter().find(|f| f.long == "--push").unwrap().value, None);
        assert_eq!(cli.command("bench").unwrap().args[0].arity, Arity::Required);
        assert!(cli.command("doctor").unwrap().args.is_empty() && cli.command("doctor").unwrap().flags.is_empty());
        assert!(cli.command("plan").unwrap().flags.is_empty(), "global flags are not plan's own");
    }

    #[test]
    fn one_command_shows_its_section_the_global_flags_in_one_line_and_examples() {
        let text = render(FIXTURE, &HelpRequest::Command("plan".into()));
        assert_eq!(
            text,
            "cargo xtask plan\n  Print the resolved build units in dependency order.\n\n  ARGS:\n    <units>...\n      \
             Images to plan, as NAME or NAME:VARIANT (default: all).\n\n  --format: table, json, github-matrix, bake\n  \
             Global flags, before or after `plan`: --root --registry --format --event --version --branch --sha --pr --tag \
             (see `cargo xtask help`)\n\n  EXAMPLES:\n    cargo xtask plan --format json\n    \
             cargo xtask plan python:python3.11 --event release --version 1.4.0"
        );
        let build = render(FIXTURE, &HelpRequest::Command("build".into()));
        assert!(build.contains("    -j, --jobs <jobs>\n") && build.contains("--platform linux/arm64"), "{build}");
        assert!(!build.contains("xtask bench") && !build.contains("--registry <registry>"), "{build}");
        assert!(render(FIXTURE, &HelpRequest::Command("bench".into())).contains("\n  --format: table\n"));
    }

    #[test]
    fn the_whole_help_is_the_generated_text_and_a_pointer_to_per_command_help() {
        let text = render(FIXTURE, &HelpRequest::All);
        assert!(text.starts_with(FIXTURE.trim_end()));
        assert!(text.ends_with(
            "`cargo xtask help COMMAND` shows one command with examples; `cargo xtask version` (or -V) the version."
        ));
        assert!(render(FIXTURE, &HelpRequest::Version).starts_with(concat!(
            "xtask ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        )));
    }

    #[test]
    fn every_real_command_has_examples_that_parse() {
        let help = crate::cli::flags::Xtask::HELP;
        let cli = parse(help);
        assert_eq!(cli.commands.len(), help.matches("\n\nxtask ").count());
        for command in &cli.commands {
            let name = &command.names[0];
            assert!(!examples(name).is_empty(), "write examples for `{name}` in help::examples");
            for example in examples(name) {
                let argv: Vec<String> = example.split(' ').skip(2).map(str::to_string).collect();
                assert_eq!(argv[0], *name, "{example}");
                let expected = if name == "version" { Some(HelpRequest::Version) } else { None };
                assert_eq!(super::super::preflight::preflight(&argv), Ok(expected), "{example}");
                let parsed = crate::cli::flags::Xtask::from_vec(argv.iter().map(Into::into).collect());
                assert!(parsed.is_ok(), "{example}: {}", parsed.unwrap_err());
            }
            assert!(render(help, &HelpRequest::Command(name.clone())).contains("\n  EXAMPLES:\n    cargo xtask "));
        }
    }
}
