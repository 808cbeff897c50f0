//! The judgement of `size`: compressed sizes per platform against the `[size]` budgets, a
//! baseline and the spread between platforms, and the table and markdown they print as.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::definitions::SizeBudget;
use crate::core::text::human;

/// A saved report: what `--save` writes and `--baseline FILE` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeReport {
    pub units: Vec<UnitSize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitSize {
    pub unit: String,
    /// The tag measured.
    pub reference: String,
    pub platforms: Vec<PlatformSize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformSize {
    pub platform: String,
    pub digest: String,
    /// Layers plus config, as stored in the registry.
    pub compressed: u64,
    /// As unpacked in the local engine, when it has the image.
    pub uncompressed: Option<u64>,
    pub layers: usize,
    pub baseline: Option<u64>,
    /// Budget violations, one sentence each.
    #[serde(default)]
    pub over_budget: Vec<String>,
}

/// Fills in `over_budget` for every platform of one unit.
pub fn judge(budget: &SizeBudget, platforms: &mut [PlatformSize]) {
    let smallest = platforms.iter().map(|p| p.compressed).min().unwrap_or(0);
    let smallest_name =
        platforms.iter().find(|p| p.compressed == smallest).map(|p| p.platform.clone()).unwrap_or_default();
    for p in platforms.iter_mut() {
        p.over_budget.clear();
        if let Some(max) = budget.max.filter(|max| p.compressed > *max) {
            p.over_budget.push(format!("{} compressed, over the {} budget", human(p.compressed), human(max)));
        }
        if let (Some(limit), Some(base)) = (budget.max_growth, p.baseline) {
            if base > 0 && (p.compressed as f64 - base as f64) / base as f64 > limit {
                p.over_budget.push(format!(
                    "grew {} over the baseline ({} to {}), more than the {} allowed",
                    percent((p.compressed as f64 - base as f64) / base as f64),
                    human(base),
                    human(p.compressed),
                    percent(limit)
                ));
            }
        }
        if let Some(limit) = budget.max_arch_spread {
            if smallest > 0 && (p.compressed as f64 - smallest as f64) / smallest as f64 > limit {
                p.over_budget.push(format!(
                    "{} larger than {smallest_name}, more than the {} allowed",
                    percent((p.compressed as f64 - smallest as f64) / smallest as f64),
                    percent(limit)
                ));
            }
        }
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// `+1.2 MB (+3.4%)` against the baseline.
fn delta(p: &PlatformSize) -> String {
    match p.baseline {
        None => String::new(),
        Some(base) => {
            // Sizes come from the registry and may be anything up to 2^64 - 1: no signed casts.
            let diff = p.compressed.abs_diff(base);
            let sign = if p.compressed < base { "-" } else { "+" };
            let pct = if base > 0 { format!(" ({sign}{})", percent(diff as f64 / base as f64)) } else { String::new() };
            format!("{sign}{}{pct}", human(diff))
        }
    }
}

/// Rows shared by the table and markdown renderings.
pub fn rows(report: &SizeReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for u in &report.units {
        for p in &u.platforms {
            rows.push(vec![
                u.unit.clone(),
                p.platform.clone(),
                human(p.compressed),
                p.uncompressed.map(human).unwrap_or_default(),
                p.layers.to_string(),
                delta(p),
                if p.over_budget.is_empty() { "ok".to_string() } else { format!("OVER: {}", p.over_budget.join("; ")) },
            ]);
        }
    }
    rows
}

pub const HEADERS: [&str; 7] = ["UNIT", "PLATFORM", "COMPRESSED", "UNCOMPRESSED", "LAYERS", "VS BASELINE", "BUDGET"];

/// A GitHub-flavoured table, ready to paste as a pull-request comment.
pub fn markdown(report: &SizeReport) -> String {
    let over = report.units.iter().flat_map(|u| &u.platforms).filter(|p| !p.over_budget.is_empty()).count();
    let mut out = String::from("### Image sizes\n\n");
    out.push_str(&format!("| {} |\n|{}\n", HEADERS.join(" | "), "---|".repeat(HEADERS.len())));
    for row in rows(report) {
        let cells: Vec<String> = row.iter().map(|c| crate::core::text::markdown_cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push_str(&if over == 0 {
        "\nEvery image is within its size budget.\n".to_string()
    } else {
        format!("\n**{over} platform image(s) over budget.**\n")
    });
    out
}

pub fn parse_local_sizes(text: &str) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    for line in text.lines() {
        let Some((digests, size)) = line.rsplit_once(' ') else { continue };
        let (Ok(digests), Ok(size)) = (serde_json::from_str::<Vec<String>>(digests), size.parse::<u64>()) else {
            continue;
        };
        for reference in digests {
            sizes.insert(reference, size);
        }
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_sizes_and_baselines_neither_overflow_nor_wrap() {
        let budget = SizeBudget { max: Some(1), max_growth: Some(0.2), max_arch_spread: Some(0.25) };
        let mut platforms = vec![
            platform("linux/amd64", (1 << 63) + 5, Some(5)),
            platform("linux/arm64", 5, Some(u64::MAX)),
            platform("linux/arm/v7", u64::MAX, Some(u64::MAX)),
        ];
        judge(&budget, &mut platforms);
        assert_eq!(delta(&platforms[0]), "+9223372036.85 GB (+184467440737095516160.0%)");
        assert!(delta(&platforms[1]).starts_with("-18446744073.71 GB (-100.0%)"), "{}", delta(&platforms[1]));
        assert_eq!(delta(&platforms[2]), "+0 B (+0.0%)");
        assert!(platforms[0].over_budget.iter().any(|o| o.starts_with("grew")), "{:?}", platforms[0].over_budget);
        assert!(platforms[1].over_budget.len() == 1, "only the max: {:?}", platforms[1].over_budget);
        let report = SizeReport {
            units: vec![UnitSize { unit: "app".into(), reference: "r/app:1".into(), platforms: platforms.clone() }],
        };
        assert_eq!(rows(&report).len(), 3);
        assert!(markdown(&report).contains("over budget"));
    }
    use crate::oci::manifest::Manifest;
    use crate::oci::manifest::{Descriptor, ManifestBody};

    fn platform(name: &str, compressed: u64, baseline: Option<u64>) -> PlatformSize {
        PlatformSize {
            platform: name.into(),
            digest: "sha256:x".into(),
            compressed,
            uncompressed: None,
            layers: 2,
            baseline,
            over_budget: vec![],
        }
    }

    #[test]
    fn measure_sums_layers_and_config() {
        let d = |size| Descriptor {
            media_type: "m".into(),
            digest: "sha256:x".into(),
            size,
            platform: None,
            annotations: Default::default(),
        };
        let manifest = Manifest {
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            digest: "sha256:m".into(),
            body: ManifestBody {
                media_type: None,
                manifests: vec![],
                config: Some(d(1_000)),
                layers: vec![d(2_000_000), d(500)],
                annotations: Default::default(),
            },
        };
        assert_eq!(manifest.compressed_size(), (2_001_500, 2));
    }

    #[test]
    fn budgets_flag_size_growth_and_spread() {
        let budget = SizeBudget { max: Some(150_000_000), max_growth: Some(0.2), max_arch_spread: Some(0.25) };
        let mut platforms = vec![
            platform("linux/amd64", 100_000_000, Some(90_000_000)),
            platform("linux/arm64", 160_000_000, Some(120_000_000)),
        ];
        judge(&budget, &mut platforms);
        assert_eq!(platforms[0].over_budget, Vec::<String>::new());
        assert_eq!(
            platforms[1].over_budget,
            [
                "160.0 MB compressed, over the 150.0 MB budget",
                "grew 33.3% over the baseline (120.0 MB to 160.0 MB), more than the 20.0% allowed",
                "60.0% larger than linux/amd64, more than the 25.0% allowed",
            ]
        );
        let mut within = vec![platform("linux/amd64", 100, Some(100)), platform("linux/arm64", 110, None)];
        judge(&budget, &mut within);
        assert!(within.iter().all(|p| p.over_budget.is_empty()));
    }

    /// Each budget is a limit that may be reached, not passed: at the limit the image is within
    /// it, one byte over is not (kills `>` turned into `>=`, and the reverse off by one).
    #[test]
    fn budgets_are_inclusive_limits() {
        let budget = SizeBudget { max: Some(1_000), max_growth: Some(0.2), max_arch_spread: Some(0.25) };
        let judged = |sizes: &[(u64, Option<u64>)]| {
            let mut platforms: Vec<PlatformSize> =
                sizes.iter().enumerate().map(|(i, (size, base))| platform(&format!("p{i}"), *size, *base)).collect();
            judge(&budget, &mut platforms);
            platforms.into_iter().map(|p| p.over_budget).collect::<Vec<_>>()
        };
        let none = || Vec::<String>::new();
        // max: 1000 B is within, 1001 B is over.
        assert_eq!(judged(&[(1_000, None)]), [none()]);
        assert_eq!(judged(&[(1_001, None)]), [vec!["1.0 kB compressed, over the 1.0 kB budget".to_string()]]);
        // max_growth: exactly 20 % over the baseline is within, a byte more is over.
        assert_eq!(judged(&[(600, Some(500))]), [none()]);
        let grew = judged(&[(601, Some(500))]);
        assert_eq!(grew[0].len(), 1, "{grew:?}");
        assert!(grew[0][0].starts_with("grew 20.2% over the baseline"), "{grew:?}");
        // max_arch_spread: exactly 25 % larger than the smallest platform is within, a byte more is over.
        assert_eq!(judged(&[(400, None), (500, None)]), [none(), none()]);
        let spread = judged(&[(400, None), (501, None)]);
        assert_eq!(spread, [none(), vec!["25.2% larger than p0, more than the 25.0% allowed".to_string()]]);
    }

    #[test]
    fn renderings_show_deltas_and_escape_markdown() {
        let mut p = platform("linux/arm64", 1_500_000, Some(1_000_000));
        p.over_budget = vec!["a|b".into()];
        let report = SizeReport {
            units: vec![UnitSize {
                unit: "app".into(),
                reference: "r/app:1".into(),
                platforms: vec![p, platform("linux/amd64", 900, Some(1_000))],
            }],
        };
        let md = markdown(&report);
        assert!(md.contains("| app | linux/arm64 | 1.5 MB |  | 2 | +500.0 kB (+50.0%) | OVER: a\\|b |"), "{md}");
        assert!(md.contains("| app | linux/amd64 | 900 B |  | 2 | -100 B (-10.0%) | ok |"), "{md}");
        assert!(md.ends_with("**1 platform image(s) over budget.**\n"), "{md}");
    }

    #[test]
    fn local_sizes_map_every_repo_digest() {
        let text = "[\"r/a@sha256:1\",\"s/a@sha256:1\"] 2048\n[] 7\nnot json 5\n";
        let sizes = parse_local_sizes(text);
        assert_eq!(sizes.len(), 2);
        assert_eq!(sizes["s/a@sha256:1"], 2048);
    }

    #[test]
    fn reports_round_trip_as_baselines() {
        let report = SizeReport {
            units: vec![UnitSize {
                unit: "a".into(),
                reference: "r/a:1".into(),
                platforms: vec![platform("linux/amd64", 5, None)],
            }],
        };
        let back: SizeReport = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        assert_eq!(back, report);
    }
}
