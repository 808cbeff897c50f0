//! GitHub workflow-command annotations (`--format github` of `lint`, `verify-manifests` and
//! `test`): one `::error file=F,line=N,title=T::message` (or `::warning`) line per finding.
//! Pure. Everything interpolated is escaped as the runner unescapes it, so that no text from a
//! Dockerfile, an image.toml or a registry can end the command or start another one.

use crate::core::checks::{CaseResult, Status};
use crate::core::lint::Finding;
use crate::core::sarif::image_toml;
use crate::core::severity::Severity;
use crate::core::text::unsafe_char;
use crate::core::verify::UnitReport;

/// A message: `%`, CR and LF as the runner decodes them (`%25`, `%0D`, `%0A`), so a message of
/// several lines stays one command; other control and bidirectional characters as `\u{..}`.
pub fn escape_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A property value (`file=`, `title=`): as [`escape_data`], and `:` and `,`, which would end
/// the properties or start the next one.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation line.
pub fn command(severity: Severity, file: Option<&str>, line: Option<usize>, title: &str, message: &str) -> String {
    let name = match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut properties = Vec::new();
    if let Some(file) = file {
        properties.push(format!("file={}", escape_property(file)));
        if let Some(line) = line {
            properties.push(format!("line={line}"));
        }
    }
    properties.push(format!("title={}", escape_property(title)));
    format!("::{name} {}::{}", properties.join(","), escape_data(message))
}

/// `lint --format github`: one annotation per finding, at its Dockerfile line.
pub fn lint(findings: &[&Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            let message = format!("{}\nfix: {}", f.message, f.fix);
            command(f.severity, Some(f.file.as_str()), Some(f.line), &format!("lint: {}", f.rule), &message)
        })
        .collect()
}

/// `verify-manifests --format github`: one annotation per problem, at the unit's image.toml.
pub fn verify(reports: &[UnitReport]) -> Vec<String> {
    reports
        .iter()
        .flat_map(|r| {
            let file = image_toml(&r.unit);
            r.problems.iter().map(move |p| {
                let title = format!("verify-manifests: {}", r.unit);
                command(p.severity, Some(&file), None, &title, &format!("{}: {}", p.reference, p.message))
            })
        })
        .collect()
}

/// `test --format github`: an error per failed case or case that could not run, a warning per
/// skipped one, at the unit's image.toml; passed cases make none.
pub fn test(results: &[CaseResult]) -> Vec<String> {
    results
        .iter()
        .filter_map(|r| {
            let (severity, what) = match r.status {
                Status::Passed => return None,
                Status::Failed => (Severity::Error, "failed"),
                Status::Error => (Severity::Error, "could not run"),
                Status::Skipped => (Severity::Warning, "skipped"),
            };
            let mut message = format!("{} {what}", r.test);
            for part in [&r.message, &r.details, &r.reproduce].into_iter().flatten() {
                message.push('\n');
                message.push_str(part);
            }
            let title = format!("test {} on {} {}", r.test, r.unit, r.platform);
            Some(command(severity, Some(&image_toml(&r.unit)), None, &title, &message))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::lint::Rule;
    use crate::core::verify::Problem;

    /// A runner reads a workflow command only at the start of a line: no output line but the
    /// first may start one, and the first holds exactly one `::` after its properties.
    fn assert_one_command(line: &str) {
        assert_eq!(line.lines().count(), 1, "{line:?} is one line");
        assert!(!line.contains('\r'), "{line:?}");
        let rest = line.strip_prefix("::").expect("starts a command");
        let (head, _message) = rest.split_once("::").expect("a command ends its properties with ::");
        assert!(!head.contains("::"));
    }

    #[test]
    fn escapes_as_the_runner_unescapes() {
        assert_eq!(escape_data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(escape_data("a: b, c"), "a: b, c", "a message keeps its colons and commas");
        assert_eq!(escape_data("\u{1b}[31m"), "\\u{1b}[31m");
    }

    #[test]
    fn a_hostile_message_cannot_end_the_command_or_start_another() {
        let hostile = "bad\n::error::x\r\n::add-mask::secret%0A::warning::y";
        let line = command(Severity::Error, Some("images/a,b:c/Dockerfile"), Some(4), "t::x,y=z", hostile);
        assert_one_command(&line);
        assert_eq!(
            line,
            "::error file=images/a%2Cb%3Ac/Dockerfile,line=4,title=t%3A%3Ax%2Cy=z::bad%0A::error::x%0D%0A::add-mask::\
             secret%250A::warning::y"
        );
    }

    #[test]
    fn lint_findings_are_annotations_at_their_line() {
        let f = Finding {
            file: "images/app/Dockerfile".into(),
            line: 3,
            rule: Rule::Healthcheck,
            severity: Severity::Warning,
            message: "no HEALTHCHECK\n::error::x".to_string(),
            fix: "add one".to_string(),
        };
        let lines = lint(&[&f]);
        assert_eq!(
            lines,
            ["::warning file=images/app/Dockerfile,line=3,title=lint%3A healthcheck::no HEALTHCHECK%0A::error::x%0Afix: \
              add one"]
        );
        assert_one_command(&lines[0]);
    }

    #[test]
    fn verify_problems_are_annotations_at_the_image_toml() {
        let reports = vec![UnitReport {
            unit: "debian:bookworm".to_string(),
            digest: None,
            tags: vec![],
            platforms: vec![],
            problems: vec![Problem {
                reference: "localhost:5000/acme/debian:bookworm".to_string(),
                severity: Severity::Warning,
                message: "no label `title`\n::error::registry text".to_string(),
            }],
        }];
        let lines = verify(&reports);
        assert_eq!(lines.len(), 1);
        assert_one_command(&lines[0]);
        assert!(lines[0]
            .starts_with("::warning file=images/debian/image.toml,title=verify-manifests%3A debian%3Abookworm::"));
        assert!(lines[0].ends_with("::localhost:5000/acme/debian:bookworm: no label `title`%0A::error::registry text"));
    }

    fn case(status: Status, message: Option<&str>) -> CaseResult {
        CaseResult {
            unit: "python:python3.11".to_string(),
            platform: "linux/arm64".to_string(),
            test: "imports".to_string(),
            status,
            seconds: 1.0,
            image: None,
            message: message.map(str::to_string),
            details: None,
            reproduce: None,
        }
    }

    #[test]
    fn failed_tests_are_errors_skipped_ones_warnings_and_passed_ones_silent() {
        let results = [
            case(Status::Passed, None),
            case(Status::Failed, Some("exit 1\n::error::x")),
            case(Status::Error, Some("docker failed")),
            case(Status::Skipped, None),
        ];
        let lines = test(&results);
        assert_eq!(lines.len(), 3);
        for line in &lines {
            assert_one_command(line);
        }
        assert_eq!(
            lines[0],
            "::error file=images/python/image.toml,title=test imports on python%3Apython3.11 linux/arm64::imports \
             failed%0Aexit 1%0A::error::x"
        );
        assert!(lines[1].starts_with("::error ") && lines[1].ends_with("::imports could not run%0Adocker failed"));
        assert!(lines[2].starts_with("::warning "));
    }
}
