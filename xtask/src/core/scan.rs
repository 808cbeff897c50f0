//! Vulnerability reports of trivy or grype, parsed and judged against each image's
//! `[[scan.allow]]`: a HIGH or CRITICAL finding fails the scan unless an allowance that has
//! not expired names it, and an expired allowance fails it by itself, so none outlives its date.

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::core::definitions::{Allowance, Date, ScanPolicy};
use crate::oci::reference::is_loopback;

/// Severities as the scanners name them, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VulnerabilitySeverity {
    Unknown,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl VulnerabilitySeverity {
    /// trivy writes `HIGH`, grype `High`; anything else is `Unknown`.
    pub fn parse(text: &str) -> VulnerabilitySeverity {
        match text.to_ascii_lowercase().as_str() {
            "critical" => VulnerabilitySeverity::Critical,
            "high" => VulnerabilitySeverity::High,
            "medium" => VulnerabilitySeverity::Medium,
            "low" => VulnerabilitySeverity::Low,
            "negligible" => VulnerabilitySeverity::Negligible,
            _ => VulnerabilitySeverity::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            VulnerabilitySeverity::Unknown => "UNKNOWN",
            VulnerabilitySeverity::Negligible => "NEGLIGIBLE",
            VulnerabilitySeverity::Low => "LOW",
            VulnerabilitySeverity::Medium => "MEDIUM",
            VulnerabilitySeverity::High => "HIGH",
            VulnerabilitySeverity::Critical => "CRITICAL",
        }
    }

    /// HIGH and CRITICAL fail a scan unless allowed.
    pub fn blocks(self) -> bool {
        self >= VulnerabilitySeverity::High
    }
}

/// One vulnerability in one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub installed: String,
    /// The versions that fix it, when there are any.
    pub fixed: Option<String>,
    pub severity: VulnerabilitySeverity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanner {
    Trivy,
    Grype,
}

impl Scanner {
    /// trivy if it is on the PATH, else grype.
    pub fn installed() -> Option<Scanner> {
        [Scanner::Trivy, Scanner::Grype].into_iter().find(|s| which::which(s.name()).is_ok())
    }

    pub fn name(self) -> &'static str {
        match self {
            Scanner::Trivy => "trivy",
            Scanner::Grype => "grype",
        }
    }

    /// The scan of one image by digest, as JSON on stdout; without the program name.
    /// Plain HTTP only for loopback registries, as the registry client does.
    pub fn argv(self, reference: &str, registry: &str) -> Vec<String> {
        let mut argv: Vec<String> = match self {
            Scanner::Trivy => ["image", "--quiet", "--format", "json", "--scanners", "vuln"].map(String::from).to_vec(),
            Scanner::Grype => vec![format!("registry:{reference}"), "--output".into(), "json".into(), "--quiet".into()],
        };
        if self == Scanner::Trivy {
            if is_loopback(registry) {
                argv.push("--insecure".into());
            }
            argv.push(reference.into());
        }
        argv
    }

    /// No update checks: a build machine may have no way out.
    pub fn env(self, registry: &str) -> Vec<(&'static str, &'static str)> {
        match self {
            Scanner::Trivy => vec![("TRIVY_SKIP_VERSION_CHECK", "true")],
            Scanner::Grype if is_loopback(registry) => {
                vec![("GRYPE_CHECK_FOR_APP_UPDATE", "false"), ("GRYPE_REGISTRY_INSECURE_USE_HTTP", "true")]
            }
            Scanner::Grype => vec![("GRYPE_CHECK_FOR_APP_UPDATE", "false")],
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyReport {
    #[serde(default)]
    results: Option<Vec<TrivyResult>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    #[serde(default)]
    vulnerabilities: Option<Vec<TrivyVulnerability>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVulnerability {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    #[serde(default)]
    installed_version: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    severity: String,
}

#[derive(Deserialize)]
struct GrypeReport {
    matches: Vec<GrypeMatch>,
}

#[derive(Deserialize)]
struct GrypeMatch {
    vulnerability: GrypeVulnerability,
    artifact: GrypeArtifact,
}

#[derive(Deserialize)]
struct GrypeVulnerability {
    id: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    fix: Option<GrypeFix>,
}

#[derive(Deserialize)]
struct GrypeFix {
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct GrypeArtifact {
    name: String,
    #[serde(default)]
    version: String,
}

/// The findings of a trivy (`Results`) or grype (`matches`) JSON report, and which it was.
pub fn parse_report(text: &str) -> Result<(Scanner, Vec<Finding>)> {
    let value: serde_json::Value = serde_json::from_str(text).context("the report is not JSON")?;
    if value.get("matches").is_some() {
        let report: GrypeReport = serde_json::from_value(value).context("reading grype's `matches`")?;
        let findings = report
            .matches
            .into_iter()
            .map(|m| Finding {
                id: m.vulnerability.id,
                package: m.artifact.name,
                installed: m.artifact.version,
                fixed: m.vulnerability.fix.map(|f| f.versions.join(", ")).filter(|v| !v.is_empty()),
                severity: VulnerabilitySeverity::parse(&m.vulnerability.severity),
            })
            .collect();
        return Ok((Scanner::Grype, findings));
    }
    if value.get("SchemaVersion").is_some() || value.get("Results").is_some() {
        let report: TrivyReport = serde_json::from_value(value).context("reading trivy's `Results`")?;
        let findings = report
            .results
            .unwrap_or_default()
            .into_iter()
            .flat_map(|r| r.vulnerabilities.unwrap_or_default())
            .map(|v| Finding {
                id: v.vulnerability_id,
                package: v.pkg_name,
                installed: v.installed_version,
                fixed: v.fixed_version.filter(|f| !f.is_empty()),
                severity: VulnerabilitySeverity::parse(&v.severity),
            })
            .collect();
        return Ok((Scanner::Trivy, findings));
    }
    bail!("this is neither trivy's JSON (`Results`) nor grype's (`matches`): scan with `--format json` or `-o json`")
}

/// What the policy makes of one image's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// HIGH or CRITICAL without a valid allowance: fails the scan.
    Blocks,
    /// HIGH or CRITICAL, allowed until the given day.
    Allowed(String),
    /// Below HIGH: reported in the counts only.
    Below,
}

/// The verdict on `finding` under `policy` on `today`. An allowance holds through its `until` day.
pub fn verdict(finding: &Finding, policy: &ScanPolicy, today: Date) -> Verdict {
    if !finding.severity.blocks() {
        return Verdict::Below;
    }
    match policy.allow.iter().find(|a| a.id == finding.id && a.until >= today) {
        Some(allowance) => Verdict::Allowed(allowance.until.to_string()),
        None => Verdict::Blocks,
    }
}

/// The allowances of `policy` whose day has passed: each is an error until it is removed or renewed.
pub fn expired(policy: &ScanPolicy, today: Date) -> Vec<&Allowance> {
    policy.allow.iter().filter(|a| a.until < today).collect()
}

pub fn expired_message(allowance: &Allowance) -> String {
    format!(
        "{}: the allowance of {} expired on {} (\"{}\"): fix the finding, or set a later `until` if it still holds",
        allowance.at, allowance.id, allowance.until, allowance.reason
    )
}

/// One scanned image (or one report) and its findings.
#[derive(Debug, Serialize)]
pub struct Scan {
    pub unit: String,
    pub platform: String,
    pub scanner: &'static str,
    pub report: Utf8PathBuf,
    pub findings: Vec<Judged>,
}

#[derive(Debug, Serialize)]
pub struct Judged {
    #[serde(flatten)]
    pub finding: Finding,
    pub verdict: Verdict,
}

pub fn judge_all(findings: Vec<Finding>, policy: &ScanPolicy, today: Date) -> Vec<Judged> {
    let mut judged: Vec<Judged> =
        findings.into_iter().map(|f| Judged { verdict: verdict(&f, policy, today), finding: f }).collect();
    judged.sort_by(|a, b| b.finding.severity.cmp(&a.finding.severity).then(a.finding.id.cmp(&b.finding.id)));
    judged
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIVY: &str = include_str!("../../tests/fixtures/scan-reports/trivy.json");
    const GRYPE: &str = include_str!("../../tests/fixtures/scan-reports/grype.json");

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    fn allow(id: &str, until: &str) -> Allowance {
        Allowance { id: id.into(), until: date(until), reason: "r".into(), at: "images/app/image.toml:2:6".into() }
    }

    fn summary(findings: &[Finding]) -> Vec<String> {
        findings
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {} {}",
                    f.id,
                    f.severity.name(),
                    f.package,
                    f.installed,
                    f.fixed.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }

    #[test]
    fn trivy_reports_give_every_vulnerability_of_every_result() {
        let (scanner, findings) = parse_report(TRIVY).unwrap();
        assert_eq!(scanner, Scanner::Trivy);
        assert_eq!(
            summary(&findings),
            [
                "CVE-2011-3374 LOW apt 2.6.1 -",
                "CVE-2023-4911 HIGH libc-bin 2.36-9+deb12u1 2.36-9+deb12u3",
                "CVE-2023-4911 HIGH libc6 2.36-9+deb12u1 2.36-9+deb12u3",
                "CVE-2024-2961 HIGH libc6 2.36-9+deb12u1 2.36-9+deb12u7",
                "CVE-2023-45853 CRITICAL zlib1g 1:1.2.13.dfsg-1 -",
                "CVE-2024-28085 MEDIUM bsdutils 1:2.38.1-5+b1 2.38.1-5+deb12u1",
                "CVE-2024-6345 HIGH setuptools 65.5.0 70.0.0",
            ]
        );
        // A clean image: results without vulnerabilities, or none at all.
        let clean =
            r#"{"SchemaVersion": 2, "Results": [{"Target": "x", "Class": "os-pkgs", "Vulnerabilities": null}]}"#;
        assert_eq!(parse_report(clean).unwrap().1, []);
        assert_eq!(parse_report(r#"{"SchemaVersion": 2, "ArtifactName": "x"}"#).unwrap().1, []);
    }

    #[test]
    fn grype_reports_give_every_match() {
        let (scanner, findings) = parse_report(GRYPE).unwrap();
        assert_eq!(scanner, Scanner::Grype);
        assert_eq!(
            summary(&findings),
            [
                "CVE-2023-4911 HIGH libc6 2.36-9+deb12u1 2.36-9+deb12u3",
                "CVE-2023-45853 CRITICAL zlib1g 1:1.2.13.dfsg-1 -",
                "GHSA-cx63-2mw6-8hw5 HIGH setuptools 65.5.0 70.0.0",
                "CVE-2011-3374 NEGLIGIBLE apt 2.6.1 -",
            ]
        );
        assert_eq!(parse_report(r#"{"matches": [], "source": {}}"#).unwrap().1, []);
    }

    #[test]
    fn other_documents_are_refused() {
        let err = parse_report(r#"{"spdxVersion": "SPDX-2.3"}"#).unwrap_err().to_string();
        assert!(err.starts_with("this is neither trivy's JSON"), "{err}");
        assert!(parse_report("Total: 3 (HIGH: 2)").is_err());
        let broken = parse_report(r#"{"matches": [{"vulnerability": {}}]}"#).unwrap_err();
        assert!(format!("{broken:#}").contains("reading grype's `matches`"), "{broken:#}");
    }

    #[test]
    fn high_and_critical_block_unless_allowed_through_the_until_day() {
        let (_, findings) = parse_report(TRIVY).unwrap();
        let policy =
            ScanPolicy { allow: vec![allow("CVE-2023-4911", "2026-11-24"), allow("CVE-2023-45853", "2026-11-23")] };
        let verdicts: Vec<(String, Verdict)> = judge_all(findings, &policy, date("2026-11-24"))
            .into_iter()
            .map(|j| (format!("{} {}", j.finding.id, j.finding.package), j.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("CVE-2023-45853 zlib1g".to_string(), Verdict::Blocks),
                ("CVE-2023-4911 libc-bin".to_string(), Verdict::Allowed("2026-11-24".into())),
                ("CVE-2023-4911 libc6".to_string(), Verdict::Allowed("2026-11-24".into())),
                ("CVE-2024-2961 libc6".to_string(), Verdict::Blocks),
                ("CVE-2024-6345 setuptools".to_string(), Verdict::Blocks),
                ("CVE-2024-28085 bsdutils".to_string(), Verdict::Below),
                ("CVE-2011-3374 apt".to_string(), Verdict::Below),
            ]
        );
        let gone = expired(&policy, date("2026-11-24"));
        assert_eq!(gone.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["CVE-2023-45853"]);
        assert_eq!(
            expired_message(gone[0]),
            "images/app/image.toml:2:6: the allowance of CVE-2023-45853 expired on 2026-11-23 (\"r\"): fix the \
             finding, or set a later `until` if it still holds"
        );
    }

    #[test]
    fn severities_from_both_spellings() {
        assert_eq!(VulnerabilitySeverity::parse("HIGH"), VulnerabilitySeverity::High);
        assert_eq!(VulnerabilitySeverity::parse("Critical"), VulnerabilitySeverity::Critical);
        assert_eq!(VulnerabilitySeverity::parse("Negligible"), VulnerabilitySeverity::Negligible);
        assert_eq!(VulnerabilitySeverity::parse(""), VulnerabilitySeverity::Unknown);
        assert!(VulnerabilitySeverity::High.blocks() && VulnerabilitySeverity::Critical.blocks());
        assert!(!VulnerabilitySeverity::Medium.blocks() && !VulnerabilitySeverity::Unknown.blocks());
    }

    #[test]
    fn scanner_argv_reads_by_digest_over_http_only_on_loopback() {
        let reference = "localhost:5000/app@sha256:00";
        assert_eq!(
            Scanner::Trivy.argv(reference, "localhost:5000").join(" "),
            "image --quiet --format json --scanners vuln --insecure localhost:5000/app@sha256:00"
        );
        assert_eq!(
            Scanner::Trivy.argv("registry.example.test/app@sha256:00", "registry.example.test").join(" "),
            "image --quiet --format json --scanners vuln registry.example.test/app@sha256:00"
        );
        assert_eq!(
            Scanner::Grype.argv(reference, "localhost:5000").join(" "),
            "registry:localhost:5000/app@sha256:00 --output json --quiet"
        );
        assert!(Scanner::Grype.env("127.0.0.1:5000").contains(&("GRYPE_REGISTRY_INSECURE_USE_HTTP", "true")));
        assert!(!Scanner::Grype.env("registry.example.test").iter().any(|(k, _)| k.contains("INSECURE")));
    }
}
