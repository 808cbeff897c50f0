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
    })
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
