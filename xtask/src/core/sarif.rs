//! SARIF 2.1.0 documents for code scanning (`--format sarif` of `lint`, `scan` and
//! `verify-manifests`): one run, the tool's rules, one result per finding. Pure: findings in,
//! JSON text out. Paths are relative to the workspace root, as code scanning resolves them
//! against the checkout; text from files and registries is cleaned with `text::sanitize`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::core::lint::{Finding, Rule};
use crate::core::scan::{Scan, Verdict};
use crate::core::severity::Severity;
use crate::core::text::{sanitize, sanitize_lines};
use crate::core::verify::UnitReport;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where a result points: a file (and a line when there is one), and optionally a named
/// thing that is not a file (an image reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub uri: String,
    pub line: Option<usize>,
    pub logical: Option<String>,
}

/// One finding, as SARIF reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
}

/// One document: the tool (`cargo xtask <command>`, `version`), its rules with a one-line
/// description each (in the order given), and the results.
pub fn render(command: &str, version: &str, rules: &[(String, String)], items: &[Item]) -> String {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(id, text)| json!({ "id": sanitize(id), "shortDescription": { "text": sanitize(text) } }))
        .collect();
    let results: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut physical = json!({ "artifactLocation": { "uri": item.location.uri, "uriBaseId": "%SRCROOT%" } });
            if let Some(line) = item.location.line {
                physical["region"] = json!({ "startLine": line.max(1) });
            }
            let mut location = json!({ "physicalLocation": physical });
            if let Some(name) = &item.location.logical {
                location["logicalLocations"] = json!([{ "fullyQualifiedName": sanitize(name), "kind": "module" }]);
            }
            let level = match item.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            json!({
                "ruleId": sanitize(&item.rule),
                "level": level,
                "message": { "text": sanitize_lines(&item.message) },
                "locations": [location],
            })
        })
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": format!("cargo xtask {command}"),
                "version": version,
                "rules": rules,
            }},
            "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "the workspace root" } } },
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// The rules of `items`, each once, in order of first appearance, described by `describe`.
fn rules_of(items: &[Item], describe: impl Fn(&str) -> String) -> Vec<(String, String)> {
    let mut seen = BTreeMap::new();
    let mut rules = Vec::new();
    for item in items {
        if seen.insert(item.rule.clone(), ()).is_none() {
            rules.push((item.rule.clone(), describe(&item.rule)));
        }
    }
    rules
}

/// `lint --format sarif`: each finding at its Dockerfile and line; the rule is its lint rule.
pub fn lint(findings: &[&Finding], version: &str) -> String {
    let items: Vec<Item> = findings
        .iter()
        .map(|f| Item {
            rule: f.rule.id().to_string(),
            severity: f.severity,
            message: format!("{}\nfix: {}", f.message, f.fix),
            location: Location { uri: f.file.to_string(), line: Some(f.line), logical: None },
        })
        .collect();
    // Every rule, so that code scanning knows the ones that found nothing this time too.
    let rules: Vec<(String, String)> = Rule::ALL
        .into_iter()
        .chain([Rule::Syntax])
        .map(|rule| (rule.id().to_string(), format!("lint rule `{rule}` (see README.md, \"Lint rules\")")))
        .collect();
    render("lint", version, &rules, &items)
}

/// The image.toml that declares `unit` (`image` or `image:variant`), relative to the root.
pub fn image_toml(unit: &str) -> String {
    format!("images/{}/image.toml", unit.split(':').next().unwrap_or(unit))
}

/// `scan --format sarif`: each HIGH or CRITICAL finding (an error unless allowed, then a
/// warning) at the image.toml of its unit, the scanned unit and platform as a logical
/// location; the rule is the vulnerability id. `expired` are the allowances past their day,
/// as `(file:line:col, message)`: errors at the line of their entry.
pub fn scan(scans: &[Scan], expired: &[(String, String)], version: &str) -> String {
    let mut items = Vec::new();
    for scan in scans {
        for judged in &scan.findings {
            let f = &judged.finding;
            let (severity, verdict) = match &judged.verdict {
                Verdict::Below => continue,
                Verdict::Blocks => (Severity::Error, "no allowance".to_string()),
                Verdict::Allowed(until) => (Severity::Warning, format!("allowed until {until}")),
            };
            let fixed = f.fixed.as_deref().map_or_else(|| "no fix yet".to_string(), |v| format!("fixed in {v}"));
            items.push(Item {
                rule: f.id.clone(),
                severity,
                message: format!(
                    "{} {} in {} {} on {} {} ({fixed}; {verdict})",
                    f.severity.name(),
                    f.id,
                    f.package,
                    f.installed,
                    scan.unit,
                    scan.platform
                ),
                location: Location {
                    uri: image_toml(&scan.unit),
                    line: None,
                    logical: Some(format!("{} {}", scan.unit, scan.platform)),
                },
            });
        }
    }
    for (at, message) in expired {
        let (uri, line) = file_and_line(at);
        items.push(Item {
            rule: "expired-allowance".to_string(),
            severity: Severity::Error,
            message: message.clone(),
            location: Location { uri, line, logical: None },
        });
    }
    let rules = rules_of(&items, |id| match id {
        "expired-allowance" => "a [[scan.allow]] entry past its `until` day".to_string(),
        id => format!("vulnerability {id}"),
    });
    render("scan", version, &rules, &items)
}

/// `file:line:col` (or `file:line`, or `file`) → the file and the line.
fn file_and_line(at: &str) -> (String, Option<usize>) {
    let mut parts: Vec<&str> = at.rsplitn(3, ':').collect();
    parts.reverse();
    match parts.as_slice() {
        [file, line, col] if col.parse::<usize>().is_ok() && line.parse::<usize>().is_ok() => {
            (file.to_string(), line.parse().ok())
        }
        _ => match at.rsplit_once(':') {
            Some((file, line)) if line.parse::<usize>().is_ok() => (file.to_string(), line.parse().ok()),
            _ => (at.to_string(), None),
        },
    }
}

/// `verify-manifests --format sarif`: each problem at the image.toml of its unit, the tag
/// reference as a logical location; one rule, as problems carry no finer kind.
pub fn verify(reports: &[UnitReport], version: &str) -> String {
    let items: Vec<Item> = reports
        .iter()
        .flat_map(|r| {
            r.problems.iter().map(|p| Item {
                rule: "published-state".to_string(),
                severity: p.severity,
                message: format!("{}: {}", p.reference, p.message),
                location: Location { uri: image_toml(&r.unit), line: None, logical: Some(p.reference.clone()) },
            })
        })
        .collect();
    let rules = vec![(
        "published-state".to_string(),
        "the registry holds what the plan says: tags, platforms, one digest, labels".to_string(),
    )];
    render("verify-manifests", version, &rules, &items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::scan::{Judged, VulnerabilitySeverity};
    use crate::core::verify::Problem;

    fn finding(line: usize, rule: Rule, message: &str) -> Finding {
        Finding {
            file: "images/app/Dockerfile".into(),
            line,
            rule,
            severity: rule.severity(),
            message: message.to_string(),
            fix: "do it right".to_string(),
        }
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("the document is JSON")
    }

    /// The keys SARIF 2.1.0 requires (and code scanning reads) on every level of a document.
    fn assert_shape(doc: &Value) {
        assert_eq!(doc["version"], "2.1.0");
        assert_eq!(doc["$schema"], SCHEMA);
        let runs = doc["runs"].as_array().expect("runs is an array");
        assert_eq!(runs.len(), 1, "one run");
        let driver = &runs[0]["tool"]["driver"];
        assert!(driver["name"].as_str().is_some_and(|n| n.starts_with("cargo xtask ")));
        assert!(driver["version"].is_string());
        let rules = driver["rules"].as_array().expect("rules is an array");
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().expect("a rule has an id")).collect();
        for rule in rules {
            assert!(rule["shortDescription"]["text"].is_string(), "{rule}");
        }
        for result in runs[0]["results"].as_array().expect("results is an array") {
            let rule = result["ruleId"].as_str().expect("ruleId");
            assert!(ids.contains(&rule), "{rule} is among the driver's rules");
            assert!(matches!(result["level"].as_str(), Some("error" | "warning")), "{result}");
            assert!(result["message"]["text"].is_string());
            let locations = result["locations"].as_array().expect("locations");
            assert!(!locations.is_empty());
            let uri = locations[0]["physicalLocation"]["artifactLocation"]["uri"].as_str().expect("uri");
            assert!(!uri.starts_with('/'), "{uri} is relative to the workspace root");
            if let Some(line) = locations[0]["physicalLocation"]["region"].get("startLine") {
                assert!(line.as_u64().is_some_and(|l| l >= 1));
            }
        }
    }

    #[test]
    fn lint_findings_point_at_their_file_and_line_under_their_rule() {
        let a = finding(3, Rule::RootUser, "the final stage runs as root");
        let b = finding(7, Rule::Healthcheck, "no HEALTHCHECK");
        let c = finding(9, Rule::RootUser, "again");
        let doc = parse(&lint(&[&a, &b, &c], "1.2.3"));
        assert_shape(&doc);
        let run = &doc["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "cargo xtask lint");
        assert_eq!(run["tool"]["driver"]["version"], "1.2.3");
        let ids: Vec<&str> =
            run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), Rule::ALL.len() + 1, "every rule, syntax too: {ids:?}");
        let first = &run["results"][0];
        assert_eq!(first["ruleId"], "root-user");
        assert_eq!(first["level"], "error");
        assert_eq!(first["message"]["text"], "the final stage runs as root\nfix: do it right");
        let physical = &first["locations"][0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uri"], "images/app/Dockerfile");
        assert_eq!(physical["region"]["startLine"], 3);
        assert_eq!(run["results"][1]["level"], "warning");
    }

    #[test]
    fn no_findings_is_a_run_with_no_results() {
        let doc = parse(&lint(&[], "1.0.0"));
        assert_shape(&doc);
        assert_eq!(doc["runs"][0]["results"], json!([]));
        let doc = parse(&verify(&[], "1.0.0"));
        assert_shape(&doc);
        assert_eq!(doc["runs"][0]["results"], json!([]));
    }

    #[test]
    fn scan_rules_are_each_vulnerability_once_in_order() {
        let scans: Vec<Scan> = ["linux/amd64", "linux/arm64"]
            .into_iter()
            .map(|platform| Scan {
                unit: "app".to_string(),
                platform: platform.to_string(),
                scanner: "grype",
                report: "r.json".into(),
                findings: vec![
                    judged("CVE-2", VulnerabilitySeverity::High, Verdict::Blocks),
                    judged("CVE-1", VulnerabilitySeverity::High, Verdict::Blocks),
                ],
            })
            .collect();
        let doc = parse(&scan(&scans, &[], "1.0.0"));
        assert_shape(&doc);
        let rules: Vec<&str> = doc["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(rules, ["CVE-2", "CVE-1"]);
        assert_eq!(doc["runs"][0]["results"].as_array().unwrap().len(), 4);
        assert_eq!(
            doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "images/app/image.toml"
        );
    }

    #[test]
    fn foreign_text_is_cleaned_of_control_characters() {
        let a = finding(1, Rule::Syntax, "bad \u{1b}[31mred\u{202e} text");
        let doc = parse(&lint(&[&a], "1.0.0"));
        let text = doc["runs"][0]["results"][0]["message"]["text"].as_str().unwrap();
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'), "{text}");
    }

    fn judged(id: &str, severity: VulnerabilitySeverity, verdict: Verdict) -> Judged {
        Judged {
            finding: crate::core::scan::Finding {
                id: id.to_string(),
                package: "openssl".to_string(),
                installed: "3.0.1".to_string(),
                fixed: Some("3.0.2".to_string()),
                severity,
            },
            verdict,
        }
    }

    #[test]
    fn scan_findings_sit_at_the_image_toml_with_the_image_as_a_logical_location() {
        let scans = vec![Scan {
            unit: "python:python3.13".to_string(),
            platform: "linux/arm64".to_string(),
            scanner: "trivy",
            report: "target/xtask/scan/x.json".into(),
            findings: vec![
                judged("CVE-2024-1", VulnerabilitySeverity::Critical, Verdict::Blocks),
                judged("CVE-2024-2", VulnerabilitySeverity::High, Verdict::Allowed("2030-01-01".into())),
                judged("CVE-2024-3", VulnerabilitySeverity::Low, Verdict::Below),
            ],
        }];
        let expired = vec![("images/python/image.toml:12:1".to_string(), "the allowance expired".to_string())];
        let doc = parse(&scan(&scans, &expired, "1.0.0"));
        assert_shape(&doc);
        let results = doc["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 3, "below HIGH is left out");
        assert_eq!(results[0]["ruleId"], "CVE-2024-1");
        assert_eq!(results[0]["level"], "error");
        assert_eq!(results[1]["level"], "warning");
        let location = &results[0]["locations"][0];
        assert_eq!(location["physicalLocation"]["artifactLocation"]["uri"], "images/python/image.toml");
        assert!(location["physicalLocation"].get("region").is_none());
        assert_eq!(location["logicalLocations"][0]["fullyQualifiedName"], "python:python3.13 linux/arm64");
        assert_eq!(results[2]["ruleId"], "expired-allowance");
        assert_eq!(results[2]["locations"][0]["physicalLocation"]["region"]["startLine"], 12);
    }

    #[test]
    fn file_and_line_reads_what_definitions_record() {
        assert_eq!(file_and_line("images/a/image.toml:4:9"), ("images/a/image.toml".into(), Some(4)));
        assert_eq!(file_and_line("images/a/image.toml:4"), ("images/a/image.toml".into(), Some(4)));
        assert_eq!(file_and_line("images/a/image.toml"), ("images/a/image.toml".into(), None));
    }

    #[test]
    fn verify_problems_point_at_the_units_image_toml_and_name_the_tag() {
        let reports = vec![UnitReport {
            unit: "debian:bookworm".to_string(),
            digest: None,
            tags: vec!["localhost:5000/acme/debian:bookworm".to_string()],
            platforms: vec![],
            problems: vec![Problem {
                reference: "localhost:5000/acme/debian:bookworm".to_string(),
                severity: Severity::Error,
                message: "does not exist".to_string(),
            }],
        }];
        let doc = parse(&verify(&reports, "1.0.0"));
        assert_shape(&doc);
        let result = &doc["runs"][0]["results"][0];
        assert_eq!(result["message"]["text"], "localhost:5000/acme/debian:bookworm: does not exist");
        assert_eq!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "images/debian/image.toml");
        assert_eq!(
            result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "localhost:5000/acme/debian:bookworm"
        );
    }
}
