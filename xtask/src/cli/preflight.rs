//! The argv check that runs before xflags, which on a typo says only
//! `unexpected argument: "pln"` (exit 2) and treats `--help` after any command as a request
//! for the whole help. Here a typo gets a "did you mean" from `diag::nearest` over the names
//! in the generated help text, and `CMD --help` that command's help. Pure: argv in, a
//! decision out; the caller prints and exits.

use std::fmt;

use super::help::{examples, parse, Arity, Cli, Command, Flag, HelpRequest};
use crate::core::diag::nearest;

/// A command line xflags would refuse or misread: what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n  hint: {}", self.message, self.hint)
    }
}

impl std::error::Error for Suggestion {}

/// Runs on the raw argv (without the program name) before xflags: `Ok(Some(_))` is help or
/// the version to print, `Ok(None)` hands over to xflags, `Err` is a mistake to report.
pub fn preflight(args: &[String]) -> Result<Option<HelpRequest>, Suggestion> {
    preflight_in(super::flags::Xtask::HELP, args)
}

/// [`preflight`] against the help text `help`. Follows xflags' rules: any argument starting
/// with `-` is a flag until `--`; a flag with a value takes the next argument, whatever it
/// is; flags of `xtask` go before or after the command; the rest are the command's arguments.
pub fn preflight_in(help: &str, args: &[String]) -> Result<Option<HelpRequest>, Suggestion> {
    let cli = parse(help);
    let (mut command, mut error, mut format) = (None::<&Command>, None::<Suggestion>, None::<&str>);
    let (mut help_asked, mut version_asked, mut after_dashes, mut positionals) = (false, false, false, 0);
    let mut args = args.iter().map(String::as_str);
    while let Some(arg) = args.next() {
        if !after_dashes && arg.starts_with('-') {
            match (arg, cli.flag(command, arg)) {
                ("--", _) => after_dashes = true,
                ("-h" | "--help", _) => help_asked = true,
                ("-V", _) => version_asked = true,
                (_, Some(flag)) if flag.value.is_some() => match args.next() {
                    Some(value) if flag.long == "--format" => format = Some(value),
                    Some(_) => {}
                    None => error = error.or(Some(missing_value(flag))),
                },
                (_, Some(_)) => {}
                (_, None) => error = error.or(Some(unknown_flag(&cli, command, arg))),
            }
            continue;
        }
        let mistake = match command {
            None if arg == "help" => {
                return match args.next().filter(|topic| !topic.starts_with('-')) {
                    None => Ok(Some(HelpRequest::All)),
                    Some(topic) => match cli.command(topic) {
                        Some(c) => Ok(Some(HelpRequest::Command(c.names[0].clone()))),
                        None if topic == "help" || topic == "version" => Ok(Some(HelpRequest::All)),
                        None => Err(unknown_command(&cli, topic)),
                    },
                };
            }
            None if arg == "version" => {
                version_asked = true;
                None
            }
            None => match cli.command(arg) {
                Some(c) => {
                    command = Some(c);
                    None
                }
                None => Some(unknown_command(&cli, arg)),
            },
            Some(c) => {
                positionals += 1;
                let most = c
                    .args
                    .iter()
                    .fold(0usize, |n, a| n.saturating_add(if a.arity == Arity::Repeated { usize::MAX } else { 1 }));
                (positionals > most).then(|| unexpected_argument(c, arg))
            }
        };
        error = error.or(mistake);
    }
    if help_asked {
        return Ok(Some(command.map_or(HelpRequest::All, |c| HelpRequest::Command(c.names[0].clone()))));
    }
    if version_asked {
        return Ok(Some(HelpRequest::Version));
    }
    if let Some(error) = error {
        return Err(error);
    }
    let Some(command) = command else { return Ok(Some(HelpRequest::All)) };
    let name = &command.names[0];
    let required = command.args.iter().filter(|a| a.arity == Arity::Required).collect::<Vec<_>>();
    if let Some(arg) = required.get(positionals) {
        let example = examples(name).first().map(|e| format!(", e.g. `{e}`")).unwrap_or_default();
        return Err(Suggestion {
            message: format!("`{name}` needs <{}>", arg.name),
            hint: format!("<{}>: {}{example}", arg.name, arg.doc.trim_end_matches('.')),
        });
    }
    // An unknown name is left to the workspace's check, whose message the bad-input corpus pins.
    if let Some(format) = format.filter(|f| super::format::FORMATS.contains(f)) {
        super::format::check_format(name, format)
            .map_err(|message| Suggestion { message, hint: format!("`cargo xtask help {name}` lists its formats") })?;
    }
    Ok(None)
}

fn unknown_command(cli: &Cli, word: &str) -> Suggestion {
    let names: Vec<&str> = cli.commands.iter().flat_map(|c| c.names.iter().map(String::as_str)).collect();
    let message = match nearest(word, names.iter().copied().chain(["help", "version"])) {
        Some(near) => format!("unknown command `{word}`; did you mean `{near}`?"),
        None => format!("unknown command `{word}`"),
    };
    Suggestion { message, hint: format!("the commands are {}; `cargo xtask help` describes them", names.join(", ")) }
}

fn unknown_flag(cli: &Cli, command: Option<&Command>, arg: &str) -> Suggestion {
    let name = command.map(|c| c.names[0].as_str());
    let of = name.map(|n| format!(" for `{n}`")).unwrap_or_default();
    let help = name.map_or("`cargo xtask help` lists the flags".to_string(), |n| {
        format!("`cargo xtask help {n}` lists its flags")
    });
    // `--format=json`, `-j2`: xflags takes a flag's value from the next argument only.
    let split = arg.split_once('=').or_else(|| (!arg.starts_with("--") && arg.len() > 2).then(|| arg.split_at(2)));
    if let Some((flag, value)) = split.filter(|(flag, _)| cli.flag(command, flag).is_some_and(|f| f.value.is_some())) {
        return Suggestion {
            message: format!("unknown flag `{arg}`{of}; did you mean `{flag} {value}`?"),
            hint: "a flag's value is the next argument, after a space".to_string(),
        };
    }
    let own = command.map_or(&[][..], |c| &c.flags[..]);
    let message = match nearest(arg, own.iter().chain(&cli.global).map(|f| f.long.as_str())) {
        Some(near) => format!("unknown flag `{arg}`{of}; did you mean `{near}`?"),
        None => format!("unknown flag `{arg}`{of}"),
    };
    let owners: Vec<String> = cli
        .commands
        .iter()
        .filter(|c| c.flags.iter().any(|f| f.long == arg))
        .map(|c| format!("`{}`", c.names[0]))
        .collect();
    let hint = match (owners.is_empty(), name) {
        (true, _) => help,
        (false, None) => format!("`{arg}` is a flag of {}: write it after the command name", owners.join(" and ")),
        (false, Some(_)) => format!("`{arg}` is a flag of {}; {help}", owners.join(" and ")),
    };
    Suggestion { message, hint }
}

fn missing_value(flag: &Flag) -> Suggestion {
    let value = flag.value.as_deref().unwrap_or("value");
    let mut hint = format!("`{} <{value}>`: {}", flag.long, flag.doc);
    if flag.long == "--version" {
        hint.push_str(" The xtask's own version: `cargo xtask version`.");
    }
    Suggestion { message: format!("`{}` needs a value", flag.long), hint }
}

fn unexpected_argument(command: &Command, arg: &str) -> Suggestion {
    let name = &command.names[0];
    let takes = match &command.args[..] {
        [] => "no arguments".to_string(),
        [one] => format!("one argument, <{}>", one.name),
        more => format!("{} arguments", more.len()),
    };
    Suggestion {
        message: format!("unexpected argument `{arg}` for `{name}`"),
        hint: format!("`{name}` takes {takes}; `cargo xtask help {name}` shows how to call it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::help::tests::FIXTURE;

    fn check(argv: &str) -> Result<Option<HelpRequest>, Suggestion> {
        preflight_in(FIXTURE, &argv.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    }

    fn error(argv: &str) -> String {
        check(argv).unwrap_err().to_string()
    }

    #[test]
    fn help_and_version_requests() {
        let one = |c: &str| Ok(Some(HelpRequest::Command(c.to_string())));
        for argv in
            ["help plan", "plan --help", "plan -h", "--format json plan -h", "plan python --help", "help plan extra"]
        {
            assert_eq!(check(argv), one("plan"), "{argv}");
        }
        for argv in
            ["", "help", "--help", "-h", "--format json", "help --format", "help help", "--registry localhost:5000"]
        {
            assert_eq!(check(argv), Ok(Some(HelpRequest::All)), "{argv}");
        }
        for argv in ["version", "-V", "--root /tmp version", "plan -V"] {
            assert_eq!(check(argv), Ok(Some(HelpRequest::Version)), "{argv}");
        }
        // `--help` wins over a mistake made earlier on the same line.
        assert_eq!(check("plan --formt --help"), one("plan"));
    }

    #[test]
    fn valid_command_lines_go_on_to_xflags() {
        for argv in [
            "plan",
            "plan --format json",
            "--format json plan",
            "plan python:python3.11 debian",
            "build python:python3.11 --platform linux/arm64",
            "build -j 2 --jobs 3 -- --odd-unit-name -h",
            "--tag nightly build plan",
            "plan --format --help",
            "--event release --version 1.4.0 plan",
            "bench plan --runs 3",
            "-- plan",
        ] {
            assert_eq!(check(argv), Ok(None), "{argv}");
        }
    }

    #[test]
    fn an_unknown_command_gets_the_nearest_one() {
        assert_eq!(
            error("pln"),
            "unknown command `pln`; did you mean `plan`?\n  hint: the commands are plan, build, bench, doctor; \
             `cargo xtask help` describes them"
        );
        assert!(error("--format json biuld").starts_with("unknown command `biuld`; did you mean `build`?\n"));
        assert!(error("verison").starts_with("unknown command `verison`; did you mean `version`?"));
        assert!(error("help pln").starts_with("unknown command `pln`; did you mean `plan`?"));
        assert!(error("python:python3.11").starts_with("unknown command `python:python3.11`\n  hint: the commands are"));
    }

    #[test]
    fn an_unknown_flag_gets_the_nearest_flag_of_the_command_or_a_global_one() {
        assert_eq!(
            error("plan --formt json"),
            "unknown flag `--formt` for `plan`; did you mean `--format`?\n  hint: `cargo xtask help plan` lists its flags"
        );
        assert!(error("build --platfrom linux/arm64")
            .starts_with("unknown flag `--platfrom` for `build`; did you mean `--platform`?"));
        assert!(error("build --keepgoing")
            .starts_with("unknown flag `--keepgoing` for `build`; did you mean `--keep-going`?"));
        assert!(error("--regsitry x plan").starts_with("unknown flag `--regsitry`; did you mean `--registry`?"));
        assert_eq!(
            error("plan --push"),
            "unknown flag `--push` for `plan`\n  hint: `--push` is a flag of `build`; `cargo xtask help plan` lists its flags"
        );
        assert_eq!(
            error("--push build"),
            "unknown flag `--push`\n  hint: `--push` is a flag of `build`: write it after the command name"
        );
        assert_eq!(
            error("plan --format=json"),
            "unknown flag `--format=json` for `plan`; did you mean `--format json`?\n  hint: a flag's value is the next argument, after a space"
        );
        assert!(error("build -j2").starts_with("unknown flag `-j2` for `build`; did you mean `-j 2`?"));
        assert!(error("plan -x").starts_with("unknown flag `-x` for `plan`\n"));
    }

    #[test]
    fn arguments_and_values_that_are_missing_or_too_many() {
        assert_eq!(
            error("plan --format"),
            "`--format` needs a value\n  hint: `--format <format>`: Output format: table (default), json; some commands add \
             markdown, junit, github-matrix, sarif, github, bake or html."
        );
        assert!(error("--version").ends_with("The xtask's own version: `cargo xtask version`."));
        assert_eq!(
            error("doctor extra"),
            "unexpected argument `extra` for `doctor`\n  hint: `doctor` takes no arguments; `cargo xtask help doctor` shows how to call it"
        );
        assert!(error("bench noop plan")
            .starts_with("unexpected argument `plan` for `bench`\n  hint: `bench` takes one argument, <benchmark>;"));
        assert_eq!(
            error("bench"),
            "`bench` needs <benchmark>\n  hint: <benchmark>: Which benchmark: verify, noop, parallel, plan or compile, \
             e.g. `cargo xtask bench noop --runs 3`"
        );
    }

    #[test]
    fn a_format_the_command_cannot_print_is_refused_and_an_unknown_one_left_to_the_workspace() {
        assert_eq!(
            error("--format junit plan"),
            "`plan` prints table or json or github-matrix or bake, not junit: pass --format table\n  hint: `cargo xtask help plan` lists its formats"
        );
        assert!(error("doctor --format markdown").starts_with("`doctor` prints table or json, not markdown"));
        assert_eq!(check("--format yaml plan"), Ok(None));
    }

    #[test]
    fn the_real_help_text_works_the_same() {
        let argv = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert!(preflight(&argv("pln")).unwrap_err().message.ends_with("did you mean `plan`?"));
        assert!(preflight(&argv("verify-manfests")).unwrap_err().message.ends_with("did you mean `verify-manifests`?"));
        assert!(preflight(&argv("test --jbos 2")).unwrap_err().message.ends_with("did you mean `--jobs`?"));
        assert_eq!(preflight(&argv("ci-workflow -h")), Ok(Some(HelpRequest::Command("ci-workflow".into()))));
        assert_eq!(preflight(&argv("publish --digests a.json b.json")), Ok(None));
        assert!(preflight(&argv("rollback --format json"))
            .unwrap_err()
            .message
            .starts_with("`rollback` prints table,"));
    }
}
