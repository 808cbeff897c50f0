//! `plan --format github-matrix`: the plan as one CI job per unit and platform, each on a
//! runner of that platform, so no leg needs an emulator. Pure.
//!
//! The shape is GitHub Actions' `strategy.matrix` (`{"include": [leg, ...]}`), but every
//! field is plain data another CI system can fan out over just as well.

use anyhow::{bail, Result};
use serde::Serialize;

use crate::core::definitions::Settings;
use crate::core::plan::Unit;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub include: Vec<Leg>,
}

/// One unit on one platform: `cargo xtask build <unit> --platform <platform>` on `runs-on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leg {
    pub unit: String,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub platform: String,
    /// `arm64`, `arm-v7`: the platform in tags and file names.
    pub arch: String,
    /// `<unit>-<arch>` with `:` as `-`: a name for this leg's digest file and artifact.
    pub slug: String,
    #[serde(rename = "runs-on")]
    pub runs_on: String,
    /// The buildx builder of `[builders]` for this platform, when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
    /// The unit's depth among in-repo parents: 0 for a unit built on none. Each level's legs
    /// run after the level above has pushed, and build on its images (`build --parents`).
    pub level: usize,
}

/// Each unit's level: 0 without in-repo parents, else one more than its deepest parent's.
/// `units` are in plan order, parents first; a parent outside them counts as level 0.
pub fn levels(units: &[Unit]) -> std::collections::BTreeMap<String, usize> {
    let mut levels = std::collections::BTreeMap::new();
    for unit in units {
        let level = unit.depends_on.iter().filter_map(|parent| levels.get(parent)).map(|l| l + 1).max().unwrap_or(0);
        levels.insert(unit.id.clone(), level);
    }
    levels
}

/// Every unit × platform in plan order; a platform without a runner is an error, since a
/// silent fallback would build it emulated.
pub fn github_matrix(units: &[Unit], settings: &Settings) -> Result<Matrix> {
    let levels = levels(units);
    let mut include = Vec::new();
    for unit in units {
        for platform in &unit.platforms {
            let Some(runner) = settings.runners.get(platform) else {
                bail!(
                    "{} builds for {platform}, which has no CI runner\n  hint: add `\"{platform}\" = \"<runner label>\"` \
                     under [workspace.metadata.images.runners] in Cargo.toml (an amd64 runner label builds it emulated)",
                    unit.id
                );
            };
            let arch = crate::core::buildx::platform_slug(platform);
            include.push(Leg {
                unit: unit.id.clone(),
                image: unit.image.clone(),
                variant: unit.variant.clone(),
                platform: platform.clone(),
                slug: format!("{}-{arch}", unit.slug()),
                arch,
                runs_on: runner.clone(),
                builder: settings.builders.get(platform).cloned(),
                level: levels[&unit.id],
            });
        }
    }
    Ok(Matrix { include })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::definitions::validate_settings;
    use camino::Utf8Path;

    fn settings(extra: &str) -> Settings {
        let text = format!("[workspace.metadata.images]\n{extra}");
        validate_settings(Utf8Path::new("Cargo.toml"), &text).unwrap()
    }

    #[test]
    fn one_leg_per_unit_and_platform_on_native_runners() {
        let mut base = crate::core::plan::tests::sample_unit();
        base.id = "base".into();
        base.image = "base".into();
        base.variant = None;
        let mut python = crate::core::plan::tests::sample_unit();
        python.depends_on = vec!["base".into()];
        let matrix = github_matrix(&[base, python], &settings("")).unwrap();
        let json = serde_json::to_value(&matrix).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"include": [
                {"unit": "base", "image": "base", "platform": "linux/amd64", "arch": "amd64",
                 "slug": "base-amd64", "runs-on": "ubuntu-24.04", "level": 0},
                {"unit": "base", "image": "base", "platform": "linux/arm64", "arch": "arm64",
                 "slug": "base-arm64", "runs-on": "ubuntu-24.04-arm", "level": 0},
                {"unit": "python:python3.13", "image": "python", "variant": "python3.13", "platform": "linux/amd64",
                 "arch": "amd64", "slug": "python-python3.13-amd64", "runs-on": "ubuntu-24.04", "level": 1},
                {"unit": "python:python3.13", "image": "python", "variant": "python3.13", "platform": "linux/arm64",
                 "arch": "arm64", "slug": "python-python3.13-arm64", "runs-on": "ubuntu-24.04-arm", "level": 1},
            ]})
        );
    }

    #[test]
    fn runners_and_builders_come_from_the_settings() {
        let mut unit = crate::core::plan::tests::sample_unit();
        unit.platforms = vec!["linux/arm64".into(), "linux/arm/v7".into()];
        let s = settings(
            "[workspace.metadata.images.runners]\n\"linux/arm64\" = \"arm-box\"\n\"linux/arm/v7\" = \"ubuntu-24.04\"\n\
             [workspace.metadata.images.builders]\n\"linux/arm64\" = \"arm-native\"\n",
        );
        let legs = github_matrix(&[unit.clone()], &s).unwrap().include;
        let got: Vec<(&str, &str, Option<&str>)> =
            legs.iter().map(|l| (l.arch.as_str(), l.runs_on.as_str(), l.builder.as_deref())).collect();
        assert_eq!(got, [("arm64", "arm-box", Some("arm-native")), ("arm-v7", "ubuntu-24.04", None)]);

        let err = github_matrix(&[unit], &settings("")).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "python:python3.13 builds for linux/arm/v7, which has no CI runner\n  hint: add `\"linux/arm/v7\" = "
            ),
            "{err}"
        );
    }

    #[test]
    fn a_unit_sits_one_level_below_its_deepest_parent() {
        let unit = |id: &str, parents: &[&str]| crate::core::plan::Unit {
            id: id.into(),
            depends_on: parents.iter().map(|p| p.to_string()).collect(),
            ..crate::core::plan::tests::sample_unit()
        };
        let units = [
            unit("debian", &[]),
            unit("python", &["debian"]),
            unit("tool", &[]),
            unit("app", &["python", "tool"]),
            unit("outside", &["not-selected"]),
        ];
        let got: Vec<(String, usize)> = levels(&units).into_iter().collect();
        let want = [("app", 2), ("debian", 0), ("outside", 0), ("python", 1), ("tool", 0)];
        assert_eq!(got, want.map(|(id, l)| (id.to_string(), l)));
    }
}
