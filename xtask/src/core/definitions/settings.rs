//! The workspace settings: `[workspace.metadata.images]` in Cargo.toml.

use super::*;

#[derive(Deserialize)]
pub(super) struct CargoManifest {
    workspace: Option<CargoWorkspace>,
}

#[derive(Deserialize)]
pub(super) struct CargoWorkspace {
    metadata: Option<CargoMetadata>,
}

#[derive(Deserialize)]
pub(super) struct CargoMetadata {
    images: Option<RawSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    registry: Option<Spanned<String>>,
    namespace: Option<Spanned<String>>,
    platforms: Option<Spanned<Vec<Spanned<String>>>>,
    network: Option<Network>,
    tags: Option<RawTags>,
    release_tag: Option<Spanned<String>>,
    runners: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    builders: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    engine: Option<Spanned<String>>,
    cache_repository: Option<Spanned<String>>,
    ci: Option<RawCi>,
    analytics: Option<bool>,
}

/// `[workspace.metadata.images.ci]`: what starts the generated workflow, and which legs run.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCi {
    branches: Option<Vec<Spanned<String>>>,
    schedule: Option<Spanned<String>>,
    changed_only: Option<bool>,
}

/// Tag templates where every key is optional, for overriding the defaults.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTags {
    release: Option<Vec<Spanned<String>>>,
    release_variant: Option<Vec<Spanned<String>>>,
    branch: Option<Vec<Spanned<String>>>,
    branch_variant: Option<Vec<Spanned<String>>>,
    pull_request: Option<Vec<Spanned<String>>>,
    pull_request_variant: Option<Vec<Spanned<String>>>,
    schedule: Option<Vec<Spanned<String>>>,
    schedule_variant: Option<Vec<Spanned<String>>>,
}

/// Parses `[workspace.metadata.images]` out of the workspace Cargo.toml text.
pub fn validate_settings(file: &Utf8Path, text: &str) -> Result<Settings, DefinitionError> {
    let src = Source { file, text };
    let manifest: CargoManifest = toml::from_str(text).map_err(|e| src.parse_error(e))?;
    let raw = manifest.workspace.and_then(|w| w.metadata).and_then(|m| m.images).ok_or_else(|| {
        src.error(
            None,
            "no [workspace.metadata.images] table".to_string(),
            Some("add one with at least `platforms = [\"linux/amd64\", \"linux/arm64\"]`".to_string()),
        )
    })?;
    let raw_registry_span = raw.registry.as_ref().map(|r| r.span());
    let registry = match raw.registry {
        Some(r) => {
            check_registry_host(r.get_ref())
                .map_err(|why| src.at(&r, why, "use host[:port], e.g. \"localhost:5000\"".to_string()))?;
            r.into_inner()
        }
        None => "localhost:5000".to_string(),
    };
    let namespace = match raw.namespace {
        Some(ns) => {
            if !ns.get_ref().is_empty() {
                check_repository(ns.get_ref())
                    .map_err(|why| src.at(&ns, format!("invalid namespace: {why}"), REPOSITORY_HINT.to_string()))?;
            }
            ns.into_inner()
        }
        None => String::new(),
    };
    if is_docker_hub(&registry) && namespace.is_empty() {
        return Err(src.error(
            raw_registry_span,
            format!("registry {registry:?} is Docker Hub, where every image lives under a user or an organization"),
            Some("set `namespace` to your Docker Hub user or organization, e.g. namespace = \"acme\"".to_string()),
        ));
    }
    let platforms = match raw.platforms {
        Some(list) => validate_platforms(&src, list)?,
        None => vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
    };
    let tags = merge_tags(&src, &TagTemplates::default(), raw.tags.unwrap_or_default())?;
    let release_tag = match raw.release_tag {
        Some(template) => {
            crate::core::event::check_release_tag(template.get_ref()).map_err(|why| {
                src.at(
                    &template,
                    format!("invalid `release_tag` {:?}: {why}", template.get_ref()),
                    "write the git tag of a release with `{version}`, e.g. \"v{version}\", or \"{image}-v{version}\" in a monorepo that releases one image at a time".to_string(),
                )
            })?;
            template.into_inner()
        }
        None => crate::core::event::DEFAULT_RELEASE_TAG.to_string(),
    };
    let mut runners: BTreeMap<String, String> =
        DEFAULT_RUNNERS.iter().map(|(p, r)| (p.to_string(), r.to_string())).collect();
    runners.extend(validate_platform_names(
        &src,
        raw.runners.unwrap_or_default(),
        "runner label",
        "\"ubuntu-24.04-arm\"",
    )?);
    let builders = validate_platform_names(&src, raw.builders.unwrap_or_default(), "builder name", "\"arm-native\"")?;
    let engine = match raw.engine {
        Some(engine) => {
            crate::core::engine::check_context_name(engine.get_ref()).map_err(|why| {
                src.at(
                    &engine,
                    format!("invalid engine {:?}: {why}", engine.get_ref()),
                    "name a docker context: \"xtask\" (the project's engine), \"default\" (docker's own), or one of `docker context ls`".to_string(),
                )
            })?;
            engine.into_inner()
        }
        None => DEFAULT_ENGINE.to_string(),
    };
    let cache_repository = match raw.cache_repository {
        Some(template) => {
            check_cache_repository(template.get_ref()).map_err(|why| {
                src.at(
                    &template,
                    format!("invalid `cache_repository` {:?}: {why}", template.get_ref()),
                    format!("write a repository path, e.g. \"{DEFAULT_CACHE_REPOSITORY}\" (the default) or \"acme/buildcache\" for one shared by every image"),
                )
            })?;
            template.into_inner()
        }
        None => DEFAULT_CACHE_REPOSITORY.to_string(),
    };
    let ci = validate_ci(&src, raw.ci.unwrap_or_default())?;
    Ok(Settings {
        registry,
        namespace,
        platforms,
        network: raw.network.unwrap_or(Network::None),
        tags,
        release_tag,
        runners,
        builders,
        engine,
        cache_repository,
        ci,
        analytics: raw.analytics.unwrap_or(false),
    })
}

fn validate_ci(src: &Source<'_>, raw: RawCi) -> Result<CiSettings, DefinitionError> {
    let defaults = CiSettings::default();
    let branches = match raw.branches {
        Some(list) => list
            .into_iter()
            .map(|branch| {
                let value = branch.get_ref();
                let valid = !value.is_empty()
                    && value.len() <= 200
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || "._-/*".contains(c))
                    && !value.starts_with(['-', '/']);
                match valid {
                    true => Ok(branch.into_inner()),
                    false => Err(src.at(
                        &branch,
                        format!("invalid branch {value:?} in [ci] branches"),
                        "use letters, digits, `.`, `_`, `-`, `/` and `*` globs, e.g. \"main\" or \"release/*\""
                            .to_string(),
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        None => defaults.branches,
    };
    let schedule = match raw.schedule {
        Some(cron) if cron.get_ref().is_empty() => None,
        Some(cron) => {
            check_cron(cron.get_ref()).map_err(|why| {
                src.at(
                    &cron,
                    format!("invalid [ci] schedule {:?}: {why}", cron.get_ref()),
                    "write five cron fields in UTC, e.g. \"17 4 * * 1\" (Mondays 04:17), or \"\" for no scheduled run"
                        .to_string(),
                )
            })?;
            Some(cron.into_inner())
        }
        None => defaults.schedule,
    };
    Ok(CiSettings { branches, schedule, changed_only: raw.changed_only.unwrap_or(defaults.changed_only) })
}

/// Five cron fields of digits, `*`, `/`, `,` and `-`, as GitHub's `schedule` takes them.
fn check_cron(cron: &str) -> Result<(), String> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("it has {} field(s), not 5 (minute hour day month weekday)", fields.len()));
    }
    match fields.iter().find(|f| !f.chars().all(|c| c.is_ascii_digit() || "*/,-".contains(c))) {
        Some(field) => Err(format!("field {field:?} holds more than digits, `*`, `/`, `,` and `-`")),
        None => Ok(()),
    }
}

/// `cache_repository`: a repository path where `{repository}` stands for the image's own path,
/// never that path itself (its cache tags would be listed as versions of the image).
fn check_cache_repository(template: &str) -> Result<(), String> {
    let rest = template.replace("{repository}", "");
    if rest.contains(['{', '}']) {
        return Err("the only placeholder is {repository}, the image's repository path".to_string());
    }
    if template.trim_matches('/') == "{repository}" {
        return Err("that is the image's own repository, where cache tags would be listed as its versions".to_string());
    }
    check_repository(&template.replace("{repository}", "acme/app")).map_err(|why| format!("the path {why}"))
}

/// `[runners]` and `[builders]`: a known platform to a name that is safe in YAML, in a
/// shell and in a `runs-on` (letters, digits, `.`, `_`, `-`, starting alphanumeric).
pub(super) fn validate_platform_names(
    src: &Source<'_>,
    raw: BTreeMap<Spanned<String>, Spanned<String>>,
    what: &str,
    example: &str,
) -> Result<BTreeMap<String, String>, DefinitionError> {
    let mut out = BTreeMap::new();
    for (platform, name) in raw {
        check_platform(src, &platform)?;
        let value = name.get_ref();
        let valid = value.len() <= 100
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(src.at(
                &name,
                format!("invalid {what} {value:?} for {}", platform.get_ref()),
                format!("use letters, digits, `.`, `_` and `-`, starting with a letter or digit, e.g. {example}"),
            ));
        }
        out.insert(platform.into_inner(), name.into_inner());
    }
    Ok(out)
}

pub(super) fn merge_tags(src: &Source<'_>, base: &TagTemplates, raw: RawTags) -> Result<TagTemplates, DefinitionError> {
    let pick = |over: Option<Vec<Spanned<String>>>, base: &Vec<String>| -> Result<Vec<String>, DefinitionError> {
        let Some(over) = over else { return Ok(base.clone()) };
        over.into_iter()
            .map(|t| {
                crate::core::tags::check_template(t.get_ref()).map_err(|why| {
                    src.at(&t, format!("invalid tag template {:?}: {why}", t.get_ref()), TEMPLATE_HINT.to_string())
                })?;
                Ok(t.into_inner())
            })
            .collect()
    };
    Ok(TagTemplates {
        release: pick(raw.release, &base.release)?,
        release_variant: pick(raw.release_variant, &base.release_variant)?,
        branch: pick(raw.branch, &base.branch)?,
        branch_variant: pick(raw.branch_variant, &base.branch_variant)?,
        pull_request: pick(raw.pull_request, &base.pull_request)?,
        pull_request_variant: pick(raw.pull_request_variant, &base.pull_request_variant)?,
        schedule: pick(raw.schedule, &base.schedule)?,
        schedule_variant: pick(raw.schedule_variant, &base.schedule_variant)?,
    })
}

pub(super) const TEMPLATE_HINT: &str = "templates are tag text with placeholders {version} {major} {minor} {patch} {variant} {branch} {sha} {pr} {timestamp} {date}";
pub(super) const REPOSITORY_HINT: &str =
    "use lowercase letters, digits and single separators (`.`, `_`, `__`, `-`), with `/` between path parts";

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\n").unwrap()
    }

    #[test]
    fn the_cache_repository_and_the_ci_triggers_are_checked() {
        let parse = |extra: &str| {
            validate_settings(Utf8Path::new("Cargo.toml"), &format!("[workspace.metadata.images]\n{extra}"))
        };
        assert_eq!(settings().cache_repository, "{repository}-cache");
        assert_eq!(parse("cache_repository = \"acme/buildcache\"\n").unwrap().cache_repository, "acme/buildcache");
        let own = parse("cache_repository = \"{repository}\"\n").unwrap_err().to_string();
        assert!(
            own.starts_with("Cargo.toml:2:20: invalid `cache_repository` \"{repository}\": that is the image's own"),
            "{own}"
        );
        let other = parse("cache_repository = \"{image}-cache\"\n").unwrap_err().to_string();
        assert!(other.contains("the only placeholder is {repository}"), "{other}");
        assert!(parse("cache_repository = \"Caches\"\n").is_err());

        assert_eq!(settings().ci, CiSettings::default());
        let ci = parse(
            "[workspace.metadata.images.ci]\nbranches = [\"main\", \"release/*\"]\nschedule = \"\"\nchanged_only = false\n",
        )
        .unwrap()
        .ci;
        assert_eq!(
            ci,
            CiSettings { branches: vec!["main".into(), "release/*".into()], schedule: None, changed_only: false }
        );
        let err = parse("[workspace.metadata.images.ci]\nbranches = [\"main\", \"a b\"]\n").unwrap_err().to_string();
        assert!(err.starts_with("Cargo.toml:3:21: invalid branch \"a b\" in [ci] branches"), "{err}");
        let err = parse("[workspace.metadata.images.ci]\nschedule = \"weekly\"\n").unwrap_err().to_string();
        assert!(
            err.starts_with("Cargo.toml:3:12: invalid [ci] schedule \"weekly\": it has 1 field(s), not 5"),
            "{err}"
        );
        let err = parse("[workspace.metadata.images.ci]\nschedule = \"0 4 * * MON\"\n").unwrap_err().to_string();
        assert!(err.contains("field \"MON\""), "{err}");
    }
}
