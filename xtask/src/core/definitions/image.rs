//! One `images/<dir>/image.toml`: the image, its variants, platforms, rootfs, secrets and policies.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImage {
    description: Option<Spanned<String>>,
    licenses: Option<Spanned<String>>,
    repository: Option<Spanned<String>>,
    dockerfile: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
    platforms: Option<Spanned<Vec<Spanned<String>>>>,
    version: Option<Spanned<String>>,
    depends_on: Option<Vec<Spanned<String>>>,
    network: Option<Network>,
    args: Option<BTreeMap<Spanned<String>, String>>,
    variants: Option<Spanned<Vec<RawVariant>>>,
    matrix: Option<Spanned<RawMatrix>>,
    tags: Option<RawTags>,
    rootfs: Option<Spanned<RawRootfs>>,
    tests: Option<Vec<RawTest>>,
    size: Option<RawSize>,
    lint: Option<RawLint>,
    scan: Option<RawScan>,
    secrets: Option<BTreeMap<Spanned<String>, Spanned<RawSecret>>>,
}

/// One `[secrets]` entry: exactly one of `env` and `file`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecret {
    env: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScan {
    #[serde(default)]
    allow: Vec<RawAllowance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAllowance {
    id: Spanned<String>,
    /// A string or a TOML date: both read naturally.
    until: Spanned<toml::Value>,
    reason: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariant {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) aliases: Vec<Spanned<String>>,
    pub(super) args: Option<BTreeMap<Spanned<String>, String>>,
    pub(super) dockerfile: Option<Spanned<String>>,
    pub(super) default: Option<Spanned<bool>>,
    pub(super) depends_on: Option<Vec<Spanned<String>>>,
    pub(super) platforms: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) repository: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSize {
    max: Option<Spanned<String>>,
    max_growth: Option<Spanned<String>>,
    max_arch_spread: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRootfs {
    packages: Option<Spanned<Vec<Spanned<String>>>>,
    suite: Option<Spanned<String>>,
    variant: Option<Spanned<String>>,
    slim: Option<Spanned<bool>>,
    include: Option<Spanned<Vec<Spanned<String>>>>,
    mirror: Option<Spanned<String>>,
    security_mirror: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLint {
    #[serde(default)]
    allow: Vec<Spanned<String>>,
}

/// Parses and checks one image.toml. `dir` is the workspace-relative image
/// directory; its last component is the image name.
pub fn validate_image(
    file: &Utf8Path,
    text: &str,
    dir: &Utf8Path,
    settings: &Settings,
) -> Result<ImageDef, DefinitionError> {
    let src = Source { file, text };
    let raw: RawImage = toml::from_str(text).map_err(|e| src.parse_error(e))?;
    let name = dir.file_name().unwrap_or_default().to_string();
    if let Err(why) = check_repository(&name) {
        return Err(src.error(
            None,
            format!("image directory name {name:?} is not a valid image name: {why}"),
            Some(format!("rename the directory: {REPOSITORY_HINT}")),
        ));
    }

    let repository = match raw.repository {
        Some(r) => {
            check_repository(r.get_ref())
                .map_err(|why| src.at(&r, format!("invalid repository: {why}"), REPOSITORY_HINT.to_string()))?;
            r.into_inner()
        }
        None => name.clone(),
    };
    let context = match &raw.context {
        Some(c) => inside(&src, c, dir, "context")?,
        None => dir.to_owned(),
    };
    let dockerfile = match &raw.dockerfile {
        Some(d) => inside(&src, d, dir, "dockerfile")?,
        None => dir.join("Dockerfile"),
    };
    let platforms = match raw.platforms {
        Some(list) => validate_platforms(&src, list)?,
        None => settings.platforms.clone(),
    };
    let version = match raw.version {
        Some(v) => {
            crate::core::version::Version::parse(v.get_ref()).map_err(|why| {
                src.at(
                    &v,
                    format!("invalid version {:?}: {why}", v.get_ref()),
                    "use semantic versioning, e.g. \"1.4.2\" or \"2.0.0-rc.1\"".to_string(),
                )
            })?;
            Some(v.into_inner())
        }
        None => None,
    };
    let depends_on = parse_dependencies(&src, raw.depends_on.unwrap_or_default(), &name)?;
    let args = validate_args(&src, raw.args.unwrap_or_default())?;
    let tags = merge_tags(&src, &settings.tags, raw.tags.unwrap_or_default())?;

    let image_level = ImageLevel {
        dir,
        dockerfile: &dockerfile,
        depends_on: &depends_on,
        name: &name,
        platforms: &platforms,
        repository: &repository,
    };
    let variants = match (raw.variants, raw.matrix) {
        (Some(_), Some(matrix)) => {
            return Err(src.at(
                &matrix,
                "an image has either [matrix] or [[variants]], not both".to_string(),
                "write every variant in [[variants]], or generate them all with [matrix]".to_string(),
            ))
        }
        (None, Some(matrix)) => validate_variants(&src, expand_matrix(&src, matrix)?, &image_level)?,
        (None, None) => vec![Variant {
            name: None,
            aliases: vec![],
            args: BTreeMap::new(),
            dockerfile: dockerfile.clone(),
            default: true,
            depends_on: depends_on.clone(),
            platforms: platforms.clone(),
            repository: repository.clone(),
        }],
        (Some(list), None) if list.get_ref().is_empty() => {
            return Err(src.at(
                &list,
                "`variants` is empty".to_string(),
                "remove `variants`, or add a [[variants]] table".to_string(),
            ))
        }
        (Some(list), None) if list.get_ref().len() > MAX_VARIANTS => {
            return Err(src.at(
                &list,
                format!("{} variants, more than the {MAX_VARIANTS} an image may have", list.get_ref().len()),
                "split the image: every variant is built, tagged and tested on its own".to_string(),
            ))
        }
        (Some(list), None) => validate_variants(&src, list.into_inner(), &image_level)?,
    };
    let tests = validate_tests(&src, raw.tests.unwrap_or_default(), &platforms, &args, &variants)?;
    let size = validate_size(&src, raw.size)?;
    let lint = validate_lint(&src, raw.lint)?;
    let scan = validate_scan(&src, raw.scan)?;
    let rootfs = raw.rootfs.map(|r| validate_rootfs(&src, r, &args, &variants)).transpose()?;
    let secrets = validate_secrets(&src, raw.secrets.unwrap_or_default(), dir, &context)?;
    let description = raw.description.map(|d| no_nul(&src, d, "description")).transpose()?;
    let licenses = raw.licenses.map(|l| validate_licenses(&src, l)).transpose()?;

    Ok(ImageDef {
        name,
        dir: dir.to_owned(),
        description,
        licenses,
        repository,
        dockerfile,
        context,
        platforms,
        version,
        depends_on,
        network: raw.network.unwrap_or(settings.network),
        args,
        variants,
        tags,
        rootfs,
        size,
        tests,
        lint,
        scan,
        secrets,
    })
}

/// `[[scan.allow]]`: each id a vulnerability id, listed once, with a real date and a reason.
pub(super) fn validate_scan(src: &Source<'_>, raw: Option<RawScan>) -> Result<ScanPolicy, DefinitionError> {
    let mut allow: Vec<Allowance> = Vec::new();
    for entry in raw.map(|r| r.allow).unwrap_or_default() {
        let id = entry.id.get_ref();
        if let Err(why) = check_vulnerability_id(id) {
            return Err(src.at(
                &entry.id,
                format!("invalid vulnerability id {id:?}: {why}"),
                "write the id the scanner reports, e.g. \"CVE-2024-1234\" or \"GHSA-xxxx-xxxx-xxxx\"".to_string(),
            ));
        }
        if let Some(first) = allow.iter().find(|a| a.id == *id) {
            return Err(src.at(
                &entry.id,
                format!("{id} is allowed twice (first at {})", first.at),
                "keep one entry per id".to_string(),
            ));
        }
        let until = match entry.until.get_ref() {
            toml::Value::String(text) => Date::parse(text),
            toml::Value::Datetime(dt) => match (dt.date, dt.time) {
                (Some(d), None) => Ok(Date { year: d.year, month: d.month, day: d.day }),
                _ => Err(format!("{dt} is not a plain date")),
            },
            other => Err(format!("expected a date, found a {}", other.type_str())),
        }
        .map_err(|why| {
            src.at(
                &entry.until,
                format!("invalid `until`: {why}"),
                "write the last day it holds, e.g. \"2027-01-31\"".to_string(),
            )
        })?;
        if entry.reason.get_ref().trim().is_empty() {
            return Err(src.at(
                &entry.reason,
                format!("the allowance of {id} gives no reason"),
                "say why it is acceptable, e.g. \"not reachable: the image has no shell\"".to_string(),
            ));
        }
        let at = format!("{}:{}", src.file, LineCol::of(src.text, entry.id.span().start));
        allow.push(Allowance { id: id.clone(), until, reason: entry.reason.into_inner(), at });
    }
    Ok(ScanPolicy { allow })
}

/// `PREFIX-rest`: an upper-case source (`CVE`, `GHSA`, `RUSTSEC`, `GO`, `DSA` …), then letters,
/// digits, `.`, `_`, `:` and `-`; a CVE id is `CVE-YYYY-NNNN…`.
pub fn check_vulnerability_id(id: &str) -> Result<(), String> {
    let Some((prefix, rest)) = id.split_once('-') else { return Err("it has no `PREFIX-` such as `CVE-`".to_string()) };
    let prefix_ok = prefix.starts_with(|c: char| c.is_ascii_uppercase())
        && prefix.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let rest_ok =
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if !prefix_ok || !rest_ok {
        return Err("expected an upper-case source, `-`, then letters, digits, `.`, `_`, `:` or `-`".to_string());
    }
    if prefix == "CVE" {
        let cve_ok = rest.split_once('-').is_some_and(|(year, number)| {
            year.len() == 4 && number.len() >= 4 && (year.to_string() + number).bytes().all(|b| b.is_ascii_digit())
        });
        if !cve_ok {
            return Err("a CVE id is CVE-YYYY-NNNN (four or more digits)".to_string());
        }
    }
    Ok(())
}

/// Bounds on what one image.toml may declare. Real images stay far below; they keep the
/// checks that multiply (every test in every variant) fast on hostile input.
pub(super) const MAX_VARIANTS: usize = 64;
pub(super) const MAX_TESTS: usize = 256;
pub(super) const MAX_REGEX: usize = 4096;
/// Leaves room in the 128-character tag for `buildcache-` and `-<platform>`.
pub(super) const MAX_VARIANT_NAME: usize = 100;

/// No argv or label can carry a NUL, so a value holding one would only fail later, less clearly.
pub(super) const NUL_HINT: &str = "remove the `\\u0000`: no command line can carry a NUL character";

pub(super) fn no_nul(src: &Source<'_>, value: Spanned<String>, key: &str) -> Result<String, DefinitionError> {
    if value.get_ref().contains('\0') {
        return Err(src.at(&value, format!("`{key}` holds a NUL character"), NUL_HINT.to_string()));
    }
    Ok(value.into_inner())
}

/// `licenses`: an SPDX expression, since scanners and SBOM tools parse the label.
pub(super) fn validate_licenses(src: &Source<'_>, value: Spanned<String>) -> Result<String, DefinitionError> {
    crate::core::licenses::check_expression(value.get_ref()).map_err(|why| {
        src.at(
            &value,
            format!("`licenses` is not an SPDX license expression: {why}"),
            "write SPDX identifiers joined by AND, OR and WITH, e.g. `MIT`, `Apache-2.0 OR MIT`, \
             `GPL-2.0-or-later WITH Classpath-exception-2.0`, or `LicenseRef-<name>` for your own"
                .to_string(),
        )
    })?;
    Ok(value.into_inner().trim().to_string())
}

/// `[rootfs]`: either `packages` to unpack or a `suite` (with `variant`, `slim`) for mmdebstrap.
pub(super) fn validate_rootfs(
    src: &Source<'_>,
    raw: Spanned<RawRootfs>,
    args: &BTreeMap<String, String>,
    variants: &[Variant],
) -> Result<Rootfs, DefinitionError> {
    let table = raw.span();
    let raw = raw.into_inner();
    match (raw.packages, raw.suite) {
        (Some(_), Some(suite)) => Err(src.at(
            &suite,
            "[rootfs] sets both `packages` and `suite`".to_string(),
            "a root filesystem is either Debian packages unpacked (`packages`) or a Debian system \
             bootstrapped by mmdebstrap (`suite`): keep one"
                .to_string(),
        )),
        (None, None) => Err(src.error(
            Some(table),
            "[rootfs] has neither `packages` nor `suite`".to_string(),
            Some("write `suite = \"bookworm\"` for a Debian system, or `packages = [\"busybox-static\"]`".to_string()),
        )),
        (Some(packages), None) => {
            let mmdebstrap_only = (raw.variant.map(|v| ("variant", v.span())))
                .or(raw.slim.map(|s| ("slim", s.span())))
                .or(raw.include.map(|i| ("include", i.span())))
                .or(raw.mirror.as_ref().map(|m| ("mirror", m.span())))
                .or(raw.security_mirror.as_ref().map(|m| ("security_mirror", m.span())));
            if let Some((key, span)) = mmdebstrap_only {
                return Err(src.error(
                    Some(span),
                    format!("[rootfs] `{key}` applies to a `suite`, not to `packages`"),
                    Some(format!("remove `{key}`, or bootstrap a Debian system with `suite` instead of `packages`")),
                ));
            }
            validate_rootfs_packages(src, packages)
        }
        (None, Some(suite)) => {
            for variant in variants {
                let mut known = args.clone();
                known.extend(variant.args.clone());
                let what = variant.name.as_ref().map_or("this image".to_string(), |n| format!("variant {n:?}"));
                let resolved = substitute(suite.get_ref(), |name| known.get(name).cloned()).map_err(|name| {
                    let names: Vec<&str> = known.keys().map(String::as_str).collect();
                    src.at(
                        &suite,
                        format!("`{{{name}}}` in [rootfs] `suite` is not a build arg of {what}"),
                        format!(
                            "set {name} in [args] or in the variant's `args` (build args here: {})",
                            if names.is_empty() { "none".to_string() } else { names.join(", ") }
                        ),
                    )
                })?;
                let valid = resolved.starts_with(|c: char| c.is_ascii_lowercase())
                    && resolved.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !valid {
                    let of = if resolved == *suite.get_ref() { String::new() } else { format!(" (for {what})") };
                    return Err(src.at(
                        &suite,
                        format!("invalid Debian suite {resolved:?}{of}"),
                        "write a codename or suite such as \"bookworm\", \"trixie\" or \"stable\"".to_string(),
                    ));
                }
            }
            let variant = match raw.variant {
                Some(v) if MMDEBSTRAP_VARIANTS.contains(&v.get_ref().as_str()) => v.into_inner(),
                Some(v) => {
                    let hint = match nearest(v.get_ref(), MMDEBSTRAP_VARIANTS) {
                        Some(close) => format!("did you mean {close:?}? Variants: {}", MMDEBSTRAP_VARIANTS.join(", ")),
                        None => format!("use one of: {}", MMDEBSTRAP_VARIANTS.join(", ")),
                    };
                    return Err(src.at(&v, format!("unknown mmdebstrap variant {:?}", v.get_ref()), hint));
                }
                None => "minbase".to_string(),
            };
            let include = match raw.include {
                Some(list) => package_names(src, list.into_inner())?,
                None => Vec::new(),
            };
            let mirror = |key: &str, value: Option<Spanned<String>>| -> Result<Option<String>, DefinitionError> {
                let Some(value) = value else { return Ok(None) };
                match mirror_url(value.get_ref()) {
                    Ok(()) => Ok(Some(value.into_inner())),
                    Err(why) => Err(src.at(
                        &value,
                        format!("[rootfs] `{key}` {:?} {why}", value.get_ref()),
                        "write the archive's URL, e.g. \"http://deb.debian.org/debian\" or a snapshot such as \
                         \"http://snapshot.debian.org/archive/debian/20250520T000000Z\""
                            .to_string(),
                    )),
                }
            };
            Ok(Rootfs::Mmdebstrap(Bootstrap {
                suite: suite.into_inner(),
                variant,
                slim: raw.slim.is_some_and(Spanned::into_inner),
                include,
                mirror: mirror("mirror", raw.mirror)?,
                security_mirror: mirror("security_mirror", raw.security_mirror)?,
            }))
        }
    }
}

/// A Debian archive URL apt can read: http or https, a host, no login, nothing apt would
/// read as another field (space, control characters).
pub(super) fn mirror_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("is not an http:// or https:// URL")?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err("names no host");
    }
    if host.contains('@') {
        return Err("holds a login, which would be written into every image");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("holds a space or a control character");
    }
    Ok(())
}

/// `[rootfs] packages`: not empty.
pub(super) fn validate_rootfs_packages(
    src: &Source<'_>,
    packages: Spanned<Vec<Spanned<String>>>,
) -> Result<Rootfs, DefinitionError> {
    if packages.get_ref().is_empty() {
        return Err(src.at(
            &packages,
            "[rootfs] `packages` is empty".to_string(),
            "list the Debian packages to unpack, e.g. [\"busybox-static\"]".to_string(),
        ));
    }
    Ok(Rootfs::Packages(package_names(src, packages.into_inner())?))
}

/// Debian package names, which also keeps them from reading as apt or mmdebstrap options.
pub(super) fn package_names(src: &Source<'_>, packages: Vec<Spanned<String>>) -> Result<Vec<String>, DefinitionError> {
    for package in &packages {
        let name = package.get_ref();
        let valid = name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'));
        if !valid {
            return Err(src.at(
                package,
                format!("invalid Debian package name {name:?}"),
                "package names are lowercase letters, digits, `+`, `-` and `.`, starting alphanumeric".to_string(),
            ));
        }
    }
    Ok(packages.into_iter().map(Spanned::into_inner).collect())
}

/// `[secrets]`: ids as `RUN --mount=type=secret,id=<id>` names them, each with one source.
pub(super) fn validate_secrets(
    src: &Source<'_>,
    raw: BTreeMap<Spanned<String>, Spanned<RawSecret>>,
    dir: &Utf8Path,
    context: &Utf8Path,
) -> Result<BTreeMap<String, BuildSecret>, DefinitionError> {
    let mut secrets = BTreeMap::new();
    for (id, source) in raw {
        let valid = (1..=128).contains(&id.get_ref().len())
            && id.get_ref().bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !valid {
            return Err(src.at(
                &id,
                format!("invalid secret id {:?}", id.get_ref()),
                "secret ids are letters, digits, `_`, `.` and `-`, as in `RUN --mount=type=secret,id=npm_token`"
                    .to_string(),
            ));
        }
        let span = source.span();
        let source = source.into_inner();
        let secret = match (source.env, source.file) {
            (Some(env), None) if is_arg_name(env.get_ref()) => BuildSecret::Env(env.into_inner()),
            (Some(env), None) => {
                return Err(src.at(
                    &env,
                    format!("invalid environment variable name {:?}", env.get_ref()),
                    "names are letters, digits and `_`, not starting with a digit, e.g. \"NPM_TOKEN\"".to_string(),
                ))
            }
            (None, Some(file)) => BuildSecret::File(secret_file(src, file, dir, context)?),
            (Some(_), Some(file)) => {
                return Err(src.at(
                    &file,
                    format!("secret {:?} has both `env` and `file`", id.get_ref()),
                    "keep one of them: buildx reads a secret from one source".to_string(),
                ))
            }
            (None, None) => {
                return Err(src.error(
                    Some(span),
                    format!("secret {:?} has no source", id.get_ref()),
                    Some("write `{ env = \"VARIABLE\" }` or `{ file = \"~/path\" }`".to_string()),
                ))
            }
        };
        secrets.insert(id.into_inner(), secret);
    }
    Ok(secrets)
}

/// A secret file as buildx gets it: absolute and `~/...` as written, others relative to the
/// image directory, inside the workspace but not in the build context, where a `COPY` could
/// put it into the image. `,` and `"` would split or quote buildx's `--secret` list.
pub(super) fn secret_file(
    src: &Source<'_>,
    file: Spanned<String>,
    dir: &Utf8Path,
    context: &Utf8Path,
) -> Result<String, DefinitionError> {
    let path = file.get_ref();
    let home_relative = path.starts_with("~/") && path.len() > 2;
    let valid =
        !path.is_empty() && !path.contains([',', '"', '\n', '\r', '\0']) && (home_relative || !path.starts_with('~'));
    if !valid {
        return Err(src.at(
            &file,
            format!("invalid secret file {path:?}"),
            "write an absolute path, `~/...`, or a path relative to the image directory, without `,` or `\"`"
                .to_string(),
        ));
    }
    if home_relative || path.starts_with('/') {
        return Ok(file.into_inner());
    }
    let resolved = inside(src, &file, dir, "file")?;
    if context == "." || resolved.starts_with(context) {
        return Err(src.at(
            &file,
            format!(
                "secret file {resolved} is inside the build context {context}, where a COPY could put it in the image"
            ),
            "keep it outside the context, e.g. under ~/ or in the CI runner's temporary directory".to_string(),
        ));
    }
    Ok(resolved.into_string())
}

/// `[lint] allow`: rule ids, each known and listed once.
pub(super) fn validate_lint(src: &Source<'_>, raw: Option<RawLint>) -> Result<LintPolicy, DefinitionError> {
    let mut allow = Vec::new();
    for id in raw.map(|r| r.allow).unwrap_or_default() {
        let ids = crate::core::lint::Rule::ALL.map(crate::core::lint::Rule::id);
        let Some(rule) = crate::core::lint::Rule::from_id(id.get_ref()) else {
            let hint = match nearest(id.get_ref(), ids) {
                Some(close) => format!("did you mean `{close}`? Rules: {}", ids.join(", ")),
                None => format!("use one of: {}", ids.join(", ")),
            };
            return Err(src.at(&id, format!("unknown lint rule {:?}", id.get_ref()), hint));
        };
        if allow.contains(&rule) {
            return Err(src.at(
                &id,
                format!("lint rule {:?} is listed twice", id.get_ref()),
                "list each rule once".to_string(),
            ));
        }
        allow.push(rule);
    }
    Ok(LintPolicy { allow })
}

pub(super) fn validate_size(src: &Source<'_>, raw: Option<RawSize>) -> Result<SizeBudget, DefinitionError> {
    let Some(raw) = raw else { return Ok(SizeBudget::default()) };
    let percent = |value: Option<Spanned<String>>, key: &str| -> Result<Option<f64>, DefinitionError> {
        value
            .map(|v| {
                parse_percent(v.get_ref()).map_err(|why| {
                    src.at(
                        &v,
                        format!("invalid `{key}` {:?}: {why}", v.get_ref()),
                        "write a percentage, e.g. \"20%\"".to_string(),
                    )
                })
            })
            .transpose()
    };
    let max = raw
        .max
        .map(|v| {
            parse_bytes(v.get_ref()).map_err(|why| {
                src.at(
                    &v,
                    format!("invalid `max` {:?}: {why}", v.get_ref()),
                    "write a size, e.g. \"150MB\" or \"1.5GiB\"".to_string(),
                )
            })
        })
        .transpose()?;
    Ok(SizeBudget {
        max,
        max_growth: percent(raw.max_growth, "max_growth")?,
        max_arch_spread: percent(raw.max_arch_spread, "max_arch_spread")?,
    })
}

/// `150MB` (decimal) or `1.5GiB` (binary) in bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| "expected a number followed by a unit".to_string())?;
    let factor: f64 = match unit.trim() {
        "B" | "" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown unit {other:?}: use B, kB, MB, GB, KiB, MiB or GiB")),
    };
    Ok((number * factor).round() as u64)
}

/// `20%` as 0.2.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('%').ok_or("expected a number followed by `%`")?;
    let value: f64 = number.trim().parse().map_err(|_| "expected a number followed by `%`".to_string())?;
    if !(0.0..=1000.0).contains(&value) {
        return Err("expected a percentage from 0% to 1000%".to_string());
    }
    Ok(value / 100.0)
}
