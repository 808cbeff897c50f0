//! `cargo xtask scan`: runs trivy (else grype) on each published platform image, or reads a
//! report made elsewhere; `core::scan` parses the reports and judges each finding against
//! the image's `[scan]` allowances.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;

use crate::cli::format::Format;
use crate::core::buildx::platform_slug;
use crate::core::definitions::{Date, ScanPolicy};
use crate::core::scan::*;
use crate::sys::workspace::Workspace;

/// Today in UTC: allowances expire by the calendar, whatever SOURCE_DATE_EPOCH says.
fn today() -> Result<Date> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("reading the clock")?;
    let (_, rfc3339) = crate::core::event::utc(now.as_secs());
    Date::parse(&rfc3339[..10]).map_err(anyhow::Error::msg)
}

/// `cargo xtask scan [IMAGE...] [--report FILE]`.
pub fn run(ws: &Workspace, format: Format, flags: &crate::cli::flags::Scan) -> Result<()> {
    let format = format.require("scan")?;
    let today = today()?;
    let policies: BTreeMap<&str, &ScanPolicy> = ws.defs.images.iter().map(|i| (i.name.as_str(), &i.scan)).collect();
    let scans = match &flags.report {
        Some(report) => vec![judge_report(ws, &flags.units, report, &policies, today)?],
        None => scan_published(ws, &flags.units, &policies, today)?,
    };
    let images: std::collections::BTreeSet<&str> =
        scans.iter().map(|s| s.unit.split(':').next().unwrap_or(&s.unit)).collect();
    let stale: Vec<(String, String)> = images
        .iter()
        .filter_map(|image| policies.get(image))
        .flat_map(|policy| expired(policy, today))
        .map(|allowance| (allowance.at.clone(), expired_message(allowance)))
        .collect();
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&scans).context("serializing the scan results")?);
    } else if format == Format::Sarif {
        print!("{}", crate::core::sarif::scan(&scans, &stale, env!("CARGO_PKG_VERSION")));
    } else {
        print_table(&scans);
    }
    let blocking: Vec<String> = scans
        .iter()
        .flat_map(|s| {
            s.findings.iter().filter(|j| j.verdict == Verdict::Blocks).map(move |j| {
                let fix =
                    j.finding.fixed.as_deref().map_or_else(|| "no fix yet".to_string(), |f| format!("fixed in {f}"));
                format!(
                    "{} {}: {} {} in {} {} ({fix})",
                    s.unit,
                    s.platform,
                    j.finding.severity.name(),
                    j.finding.id,
                    j.finding.package,
                    j.finding.installed
                )
            })
        })
        .collect();
    if blocking.is_empty() && stale.is_empty() {
        return Ok(());
    }
    let mut message = String::new();
    if !blocking.is_empty() {
        message.push_str(&format!(
            "{} HIGH or CRITICAL finding(s) without an allowance:\n  {}\n  hint: update the package, or add a \
             [[scan.allow]] entry with `id`, `until` and `reason` to the image's image.toml",
            blocking.len(),
            blocking.join("\n  ")
        ));
    }
    for (_, line) in stale {
        if !message.is_empty() {
            message.push('\n');
        }
        message.push_str(&line);
    }
    Err(crate::cli::exit::Failure::new(crate::cli::exit::Exit::Findings, message).into())
}

/// `--report FILE`: one image's report made elsewhere, judged against that image's allowances.
fn judge_report(
    ws: &Workspace,
    units: &[String],
    report: &std::path::Path,
    policies: &BTreeMap<&str, &ScanPolicy>,
    today: Date,
) -> Result<Scan> {
    let [unit] = units else {
        bail!("`scan --report` judges one image's report: name the image, e.g. `cargo xtask scan app --report FILE`");
    };
    let image = unit.split(':').next().unwrap_or(unit);
    let Some(policy) = policies.get(image) else {
        let hint = crate::core::diag::nearest(image, policies.keys().copied()).map_or_else(
            || "run `cargo xtask plan` to list the images".to_string(),
            |c| format!("did you mean {c:?}?"),
        );
        bail!("{image:?} is not an image in images/\n  hint: {hint}");
    };
    let text = std::fs::read_to_string(report).with_context(|| format!("reading {}", report.display()))?;
    let (scanner, findings) = parse_report(&text).with_context(|| format!("reading {}", report.display()))?;
    let path = Utf8PathBuf::from_path_buf(report.to_path_buf()).unwrap_or_else(|p| p.display().to_string().into());
    Ok(Scan {
        unit: unit.clone(),
        platform: "-".into(),
        scanner: scanner.name(),
        report: crate::sys::workspace::display_path(&ws.root, &path).to_owned(),
        findings: judge_all(findings, policy, today),
    })
}

/// Scans every platform image behind each selected unit's first tag, by digest.
fn scan_published(
    ws: &Workspace,
    units: &[String],
    policies: &BTreeMap<&str, &ScanPolicy>,
    today: Date,
) -> Result<Vec<Scan>> {
    let Some(scanner) = Scanner::installed() else {
        let message = "neither trivy nor grype is installed: install either (with its vulnerability database), \
                       or judge a report made elsewhere with `cargo xtask scan IMAGE --report FILE`";
        return Err(super::missing_tool(message));
    };
    let units = ws.plan(units)?;
    let client = super::reachable_registry(ws)?;
    let dir = ws.target().join("scan");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    let mut scans = Vec::new();
    for unit in &units {
        for image in crate::ops::observe::published_platforms(&client, unit)? {
            let reference = format!("{}@{}", unit.repository, image.digest);
            let mut command = duct::cmd(scanner.name(), scanner.argv(&reference, &ws.registry));
            for (key, value) in scanner.env(&ws.registry) {
                command = command.env(key, value);
            }
            let output = command
                .stdin_null()
                .stdout_capture()
                .stderr_capture()
                .unchecked()
                .run()
                .with_context(|| format!("running {}", scanner.name()))?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                bail!("{} failed on {reference}:\n{}", scanner.name(), crate::core::text::last_lines(&stderr, 20));
            }
            let file = dir.join(format!("{}-{}.{}.json", unit.slug(), platform_slug(&image.platform), scanner.name()));
            std::fs::write(&file, &output.stdout).with_context(|| format!("writing {file}"))?;
            let text = String::from_utf8_lossy(&output.stdout);
            let (_, findings) =
                parse_report(&text).with_context(|| format!("reading {}'s report on {reference}", scanner.name()))?;
            scans.push(Scan {
                unit: unit.id.clone(),
                platform: image.platform,
                scanner: scanner.name(),
                report: crate::sys::workspace::display_path(&ws.root, &file).to_owned(),
                findings: judge_all(findings, policies[unit.image.as_str()], today),
            });
        }
    }
    Ok(scans)
}

fn print_table(scans: &[Scan]) {
    let mut rows = Vec::new();
    for scan in scans {
        for j in scan.findings.iter().filter(|j| j.verdict != Verdict::Below) {
            let verdict = match &j.verdict {
                Verdict::Allowed(until) => format!("allowed until {until}"),
                _ => "BLOCKS".to_string(),
            };
            let f = &j.finding;
            rows.push(vec![
                scan.unit.clone(),
                scan.platform.clone(),
                f.id.clone(),
                f.severity.name().to_string(),
                f.package.clone(),
                f.installed.clone(),
                f.fixed.clone().unwrap_or_else(|| "-".into()),
                verdict,
            ]);
        }
        let below = scan.findings.iter().filter(|j| j.verdict == Verdict::Below).count();
        let line = format!(
            "scan: {} {} by {}: {below} finding(s) below HIGH ({})",
            scan.unit, scan.platform, scan.scanner, scan.report
        );
        eprintln!("{}", crate::core::text::sanitize(&line));
    }
    if rows.is_empty() {
        println!("no HIGH or CRITICAL findings");
        return;
    }
    let headers = ["UNIT", "PLATFORM", "ID", "SEVERITY", "PACKAGE", "INSTALLED", "FIXED IN", "VERDICT"];
    println!("{}", crate::core::text::table(&headers, &rows));
}
