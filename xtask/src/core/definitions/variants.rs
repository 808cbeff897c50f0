//! Variants, their dependencies and build args, the paths they name and the platforms they build.

use super::*;

/// What a variant takes from its image unless it says otherwise.
pub(super) struct ImageLevel<'a> {
    pub(super) dir: &'a Utf8Path,
    pub(super) dockerfile: &'a Utf8Path,
    pub(super) depends_on: &'a [Dependency],
    pub(super) name: &'a str,
    pub(super) platforms: &'a [String],
    pub(super) repository: &'a str,
}

pub(super) fn validate_variants(
    src: &Source<'_>,
    list: Vec<RawVariant>,
    image: &ImageLevel<'_>,
) -> Result<Vec<Variant>, DefinitionError> {
    let (dir, image_dockerfile, image_depends_on) = (image.dir, image.dockerfile, image.depends_on);
    let mut variants: Vec<Variant> = Vec::new();
    // Name to where it was first written: a map, as aliases may be many.
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let first_name = list.first().map(|v| v.name.span());
    let mut defaults = Vec::new();
    for raw in list {
        if raw.name.get_ref().len() > MAX_VARIANT_NAME {
            return Err(src.at(
                &raw.name,
                format!("variant name {:?} is longer than {MAX_VARIANT_NAME} characters", raw.name.get_ref()),
                "shorten it: it becomes part of tags such as `buildcache-<variant>-ppc64le`, which OCI limits to 128"
                    .to_string(),
            ));
        }
        for tag_name in std::iter::once(&raw.name).chain(&raw.aliases) {
            crate::oci::reference::check_tag(tag_name.get_ref()).map_err(|why| {
                src.at(
                    tag_name,
                    format!("invalid variant name {:?}: {why}", tag_name.get_ref()),
                    "variant names become tags: use letters, digits, `.`, `_` and `-`".to_string(),
                )
            })?;
            if let Some(&first) = names.get(tag_name.get_ref()) {
                let at = LineCol::of(src.text, first);
                return Err(src.at(
                    tag_name,
                    format!("variant name {:?} is used twice (first at line {})", tag_name.get_ref(), at.line),
                    "give each variant and alias a distinct name".to_string(),
                ));
            }
            names.insert(tag_name.get_ref().clone(), tag_name.span().start);
        }
        if let Some(d) = raw.default.as_ref().filter(|d| *d.get_ref()) {
            defaults.push(d.clone());
        }
        let dockerfile = match &raw.dockerfile {
            Some(d) => inside(src, d, dir, "dockerfile")?,
            None => image_dockerfile.to_owned(),
        };
        let own = parse_dependencies(src, raw.depends_on.unwrap_or_default(), image.name)?;
        let replaced: std::collections::BTreeSet<&str> = own.iter().map(|o| o.image.as_str()).collect();
        let mut depends_on: Vec<Dependency> =
            image_depends_on.iter().filter(|d| !replaced.contains(d.image.as_str())).cloned().collect();
        depends_on.extend(own);
        let platforms = match raw.platforms {
            Some(list) => {
                let span = list.span();
                let own = validate_platforms(src, list)?;
                if let Some(extra) = own.iter().find(|p| !image.platforms.contains(p)) {
                    return Err(src.error(
                        Some(span),
                        format!("variant {:?} builds for {extra}, which the image does not", raw.name.get_ref()),
                        Some(format!(
                            "a variant builds a subset of the image's platforms: {}",
                            image.platforms.join(", ")
                        )),
                    ));
                }
                own
            }
            None => image.platforms.to_vec(),
        };
        let repository = match raw.repository {
            Some(r) => {
                check_repository(r.get_ref())
                    .map_err(|why| src.at(&r, format!("invalid repository: {why}"), REPOSITORY_HINT.to_string()))?;
                r.into_inner()
            }
            None => image.repository.to_string(),
        };
        variants.push(Variant {
            name: Some(raw.name.into_inner()),
            aliases: raw.aliases.into_iter().map(Spanned::into_inner).collect(),
            args: validate_args(src, raw.args.unwrap_or_default())?,
            dockerfile,
            default: raw.default.is_some_and(Spanned::into_inner),
            depends_on,
            platforms,
            repository,
        });
    }
    match defaults.as_slice() {
        [_] => Ok(variants),
        [] => Err(src.error(
            first_name,
            "no variant is marked `default = true`".to_string(),
            Some("mark exactly one [[variants]] entry with `default = true`".to_string()),
        )),
        [first, second, ..] => {
            let at = LineCol::of(src.text, first.span().start);
            Err(src.at(
                second,
                format!("more than one variant is marked `default = true` (another at line {})", at.line),
                "keep `default = true` on exactly one variant".to_string(),
            ))
        }
    }
}

pub(super) fn parse_dependencies(
    src: &Source<'_>,
    list: Vec<Spanned<String>>,
    image: &str,
) -> Result<Vec<Dependency>, DefinitionError> {
    list.into_iter()
        .map(|entry| {
            let (dep_image, variant) = match entry.get_ref().split_once(':') {
                Some((i, v)) => (i.to_string(), Some(v.to_string())),
                None => (entry.get_ref().clone(), None),
            };
            let bad = check_repository(&dep_image).is_err()
                || variant.as_deref().is_some_and(|v| crate::oci::reference::check_tag(v).is_err());
            if bad {
                return Err(src.at(
                    &entry,
                    format!("invalid dependency {:?}", entry.get_ref()),
                    "write the parent's directory name under images/, optionally with `:variant`".to_string(),
                ));
            }
            if dep_image == image {
                return Err(src.at(
                    &entry,
                    format!("image {image:?} depends on itself"),
                    "remove it from `depends_on`".to_string(),
                ));
            }
            Ok(Dependency { image: dep_image, variant })
        })
        .collect()
}

pub(super) fn validate_args(
    src: &Source<'_>,
    args: BTreeMap<Spanned<String>, String>,
) -> Result<BTreeMap<String, String>, DefinitionError> {
    args.into_iter()
        .map(|(key, value)| {
            if !is_arg_name(key.get_ref()) {
                return Err(src.at(
                    &key,
                    format!("invalid build arg name {:?}", key.get_ref()),
                    "build arg names are letters, digits and `_`, not starting with a digit".to_string(),
                ));
            }
            if value.contains('\0') {
                let message = format!("build arg {:?} holds a NUL character", key.get_ref());
                return Err(src.at(&key, message, NUL_HINT.to_string()));
            }
            Ok((key.into_inner(), value))
        })
        .collect()
}

/// Resolves `value` relative to the image directory and refuses paths that leave the workspace.
pub(super) fn inside(
    src: &Source<'_>,
    value: &Spanned<String>,
    dir: &Utf8Path,
    key: &str,
) -> Result<Utf8PathBuf, DefinitionError> {
    let path = Utf8Path::new(value.get_ref());
    let escape = || {
        src.at(
            value,
            format!("`{key}` {:?} points outside the workspace", value.get_ref()),
            format!("`{key}` is relative to {dir}; keep it inside the workspace"),
        )
    };
    if path.is_absolute() {
        return Err(escape());
    }
    if value.get_ref().contains('\0') {
        return Err(src.at(value, format!("`{key}` holds a NUL character"), NUL_HINT.to_string()));
    }
    let mut out = Utf8PathBuf::new();
    for part in dir.components().chain(path.components()) {
        match part {
            Utf8Component::Normal(p) => out.push(p),
            Utf8Component::ParentDir => {
                if !out.pop() {
                    return Err(escape());
                }
            }
            Utf8Component::CurDir => {}
            Utf8Component::RootDir | Utf8Component::Prefix(_) => return Err(escape()),
        }
    }
    Ok(if out.as_str().is_empty() { Utf8PathBuf::from(".") } else { out })
}

/// Every platform `platforms` may name (also the JSON Schema's choices).
pub const KNOWN_PLATFORMS: &[&str] = &[
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/386",
];

pub(super) fn validate_platforms(
    src: &Source<'_>,
    list: Spanned<Vec<Spanned<String>>>,
) -> Result<Vec<String>, DefinitionError> {
    if list.get_ref().is_empty() {
        return Err(src.at(
            &list,
            "`platforms` is empty".to_string(),
            "list at least one platform, e.g. [\"linux/amd64\"]".to_string(),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for p in list.into_inner() {
        check_platform(src, &p)?;
        let value = p.get_ref();
        if out.contains(value) {
            return Err(src.at(
                &p,
                format!("platform {value:?} is listed twice"),
                "list each platform once".to_string(),
            ));
        }
        out.push(value.clone());
    }
    Ok(out)
}

pub(super) fn check_platform(src: &Source<'_>, p: &Spanned<String>) -> Result<(), DefinitionError> {
    let value = p.get_ref();
    if KNOWN_PLATFORMS.contains(&value.as_str()) {
        return Ok(());
    }
    let hint = match nearest(value, KNOWN_PLATFORMS.iter().copied()) {
        Some(close) => format!("did you mean {close:?}? Known platforms: {}", KNOWN_PLATFORMS.join(", ")),
        None => format!("use os/arch[/variant], one of: {}", KNOWN_PLATFORMS.join(", ")),
    };
    Err(src.at(p, format!("unknown platform {value:?}"), hint))
}
