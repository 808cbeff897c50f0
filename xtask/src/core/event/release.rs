//! Which git tags are releases: the workspace's `release_tag` template (`v{version}` by
//! default; `{image}-v{version}` or `{image}/v{version}` in a monorepo that releases one
//! image at a time). The `v` right before `{version}` is optional, so `1.2.3` releases as
//! `v1.2.3` does, as with docker/metadata-action's `type=semver`.

use std::collections::BTreeMap;

use crate::core::version::Version;

/// The default `release_tag`.
pub const DEFAULT_RELEASE_TAG: &str = "v{version}";

/// What a release tag says: the version, and the image when the template names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub image: Option<String>,
    pub version: String,
}

/// Checks a `release_tag` template: `{version}` once, `{image}` at most once, nothing else.
pub fn check_template(template: &str) -> Result<(), String> {
    if template.matches("{version}").count() != 1 {
        return Err("it must contain `{version}` exactly once".to_string());
    }
    if template.matches("{image}").count() > 1 {
        return Err("it may contain `{image}` once".to_string());
    }
    let rest = template.replace("{version}", "").replace("{image}", "");
    if rest.contains(['{', '}']) {
        return Err("its only placeholders are `{image}` and `{version}`".to_string());
    }
    if rest
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err("git does not allow that character in a tag name".to_string());
    }
    Ok(())
}

/// The release `tag` names under `template`, given the workspace's image names.
pub fn match_tag(tag: &str, template: &str, images: &[&str]) -> Option<Release> {
    let candidates: Vec<(Option<&str>, String)> = if template.contains("{image}") {
        // The longest names first, so `node-pnpm-v1` is not read as image `node`.
        let mut names = images.to_vec();
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        names.into_iter().map(|name| (Some(name), template.replace("{image}", name))).collect()
    } else {
        vec![(None, template.to_string())]
    };
    for (image, template) in candidates {
        let (before, after) = template.split_once("{version}")?;
        let mut prefixes = vec![before];
        prefixes.extend(before.strip_suffix('v'));
        for prefix in prefixes {
            let Some(middle) = tag.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(after)) else { continue };
            if middle.starts_with('v') || Version::parse(middle).is_err() {
                continue;
            }
            return Some(Release { image: image.map(str::to_string), version: middle.to_string() });
        }
    }
    None
}

/// The releases among `tags` (several may point at one commit): the highest version of the
/// whole workspace, or per image when the template names one.
pub fn releases(tags: &[String], template: &str, images: &[&str]) -> Vec<(Release, String)> {
    let mut best: BTreeMap<Option<String>, (Version, Release, String)> = BTreeMap::new();
    for tag in tags {
        let Some(release) = match_tag(tag, template, images) else { continue };
        let Ok(version) = Version::parse(&release.version) else { continue };
        let newer = best.get(&release.image).is_none_or(|(known, _, _)| version.precedence() > known.precedence());
        if newer {
            best.insert(release.image.clone(), (version, release, tag.clone()));
        }
    }
    best.into_values().map(|(_, release, tag)| (release, tag)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_template_takes_v_and_bare_versions() {
        let release = |tag| match_tag(tag, DEFAULT_RELEASE_TAG, &["app"]).map(|r| r.version);
        assert_eq!(release("v1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(release("1.2.3").as_deref(), Some("1.2.3"), "metadata-action's semver takes it too");
        assert_eq!(release("v2.0.8-beta.67").as_deref(), Some("2.0.8-beta.67"));
        assert_eq!(release("v1.2.3+build.5").as_deref(), Some("1.2.3+build.5"));
        for not_a_release in ["release1", "v1.2", "vv1.2.3", "app-v1.2.3", "1.2.3rc2", "v01.2.3"] {
            assert_eq!(release(not_a_release), None, "{not_a_release}");
        }
    }

    #[test]
    fn a_monorepo_template_names_the_image() {
        let images = ["node", "node-pnpm", "api"];
        let m = |tag, template| match_tag(tag, template, &images);
        assert_eq!(
            m("node-pnpm-v1.0.0", "{image}-v{version}"),
            Some(Release { image: Some("node-pnpm".into()), version: "1.0.0".into() })
        );
        assert_eq!(
            m("node-v22.1.0", "{image}-v{version}"),
            Some(Release { image: Some("node".into()), version: "22.1.0".into() })
        );
        assert_eq!(
            m("api/v2.3.0", "{image}/v{version}"),
            Some(Release { image: Some("api".into()), version: "2.3.0".into() })
        );
        assert_eq!(m("web-v1.0.0", "{image}-v{version}"), None, "not an image of the workspace");
        assert_eq!(m("v1.0.0", "{image}-v{version}"), None);
    }

    #[test]
    fn the_highest_release_per_image_wins() {
        let tags: Vec<String> =
            ["v1.2.3", "v1.10.0", "nightly", "v1.10.0-rc.1"].iter().map(|t| t.to_string()).collect();
        let found = releases(&tags, DEFAULT_RELEASE_TAG, &[]);
        assert_eq!(found, [(Release { image: None, version: "1.10.0".into() }, "v1.10.0".to_string())]);
        let tags: Vec<String> = ["a-v1.0.0", "b-v2.0.0", "a-v0.9.0"].iter().map(|t| t.to_string()).collect();
        let found: Vec<String> = releases(&tags, "{image}-v{version}", &["a", "b"])
            .into_iter()
            .map(|(r, _)| format!("{}@{}", r.image.unwrap(), r.version))
            .collect();
        assert_eq!(found, ["a@1.0.0", "b@2.0.0"]);
    }

    #[test]
    fn templates_are_checked() {
        assert_eq!(check_template("{image}-v{version}"), Ok(()));
        assert!(check_template("release").unwrap_err().contains("`{version}` exactly once"));
        assert!(check_template("{version}-{version}").is_err());
        assert!(check_template("{image}-{image}-{version}").unwrap_err().contains("`{image}` once"));
        assert!(check_template("{img}-{version}").unwrap_err().contains("only placeholders"));
        assert!(check_template("v {version}").unwrap_err().contains("git does not allow"));
    }
}
