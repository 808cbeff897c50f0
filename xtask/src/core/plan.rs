//! `plan`: definitions and an event in, build units in dependency order out.
//! Pure: the command module prints it, `build` executes it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use camino::Utf8PathBuf;
use serde::Serialize;

use crate::core::definitions::{BuildSecret, Definitions, Dependency, ImageDef, Network, Rootfs, SizeBudget, Variant};
use crate::core::dockerfile::refs::{image_refs, Target};
use crate::core::event::{Event, EventKind};
use crate::core::tags::{self, VariantNames};
use crate::core::version::Version;
use crate::oci::reference::{repository_of, TagRef};

/// One image × variant: what `build` runs buildx for, once per platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unit {
    /// `image` for an image without variants, else `image:variant`.
    pub id: String,
    pub image: String,
    pub variant: Option<String>,
    pub default: bool,
    pub description: Option<String>,
    pub licenses: Option<String>,
    /// `registry/namespace/repository`, without tag.
    pub repository: String,
    /// `registry/path:tag-prefix` of its registry build caches: the platform slug completes
    /// the tag (`core::buildx::cache_ref`).
    pub cache: String,
    pub platforms: Vec<String>,
    pub dockerfile: Utf8PathBuf,
    pub context: Utf8PathBuf,
    pub args: BTreeMap<String, String>,
    /// Ids of the units this one builds on.
    pub depends_on: Vec<String>,
    /// How each parent reaches the Dockerfile: `--build-arg <arg>=<parent>@<digest>`.
    pub parents: Vec<Parent>,
    /// Full references: `repository:tag`.
    pub tags: Vec<TagRef>,
    pub version: Option<String>,
    pub network: Network,
    /// What `build` writes to `rootfs/<arch>.tar` in the context first, its suite resolved.
    pub rootfs: Option<Rootfs>,
    pub size: SizeBudget,
    /// `[secrets]` of the image: ids and where buildx reads them, never values.
    pub secrets: BTreeMap<String, BuildSecret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parent {
    pub arg: String,
    pub unit: String,
    /// The references that name it literally (`FROM localhost:5000/acme/base:main`), as
    /// expanded: each becomes a named build context pinned to this run's digest, where the
    /// builder has named contexts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

impl Unit {
    /// A name safe for file names and staging tags: `image` or `image-variant`.
    pub fn slug(&self) -> String {
        self.id.replace(':', "-")
    }
}

/// The build arg that carries an in-repo parent: `BASE_IMAGE` for `images/base`.
pub fn parent_arg(image: &str) -> String {
    format!("{}_IMAGE", image.to_uppercase().replace('-', "_"))
}

fn unit_id(image: &str, variant: Option<&str>) -> String {
    match variant {
        Some(v) => format!("{image}:{v}"),
        None => image.to_string(),
    }
}

/// Resolves every unit (or the `selection` and what it depends on) for `event`, and refuses a
/// planned Dockerfile that BuildKit would reject, naming its file and line.
pub fn plan(defs: &Definitions, event: &Event, registry: &str, selection: &[String]) -> Result<Vec<Unit>> {
    let units = plan_lenient(defs, event, registry, selection)?;
    let mut checked = BTreeSet::new();
    for unit in &units {
        if !checked.insert(&unit.dockerfile) {
            continue;
        }
        let text = defs.dockerfiles.get(&unit.dockerfile).map(String::as_str).unwrap_or_default();
        if let Some(error) = crate::core::dockerfile::parse(text).check() {
            bail!("{}:{}: {}\n  hint: {}", unit.dockerfile, error.line, error.message, error.hint);
        }
    }
    Ok(units)
}

/// [`plan`] without refusing Dockerfiles BuildKit would reject: `lint` reports those as findings.
pub fn plan_lenient(defs: &Definitions, event: &Event, registry: &str, selection: &[String]) -> Result<Vec<Unit>> {
    let images: BTreeMap<&str, &ImageDef> = defs.images.iter().map(|i| (i.name.as_str(), i)).collect();
    let repositories = repositories(defs, registry);
    let mut units = BTreeMap::new();
    // A unit that cannot be planned stops the plan only when it is wanted: `plan a` on a
    // release does not fail on an image `b` that has no version.
    let mut failed: BTreeMap<String, anyhow::Error> = BTreeMap::new();
    for image in &defs.images {
        for variant in &image.variants {
            match resolve(defs, &images, &repositories, image, variant, event, registry) {
                Ok(unit) => {
                    units.insert(unit.id.clone(), unit);
                }
                Err(err) => {
                    failed.insert(unit_id(&image.name, variant.name.as_deref()), err);
                }
            }
        }
    }
    // A monorepo release builds what its tags name (and their parents), nothing else.
    let released: Vec<String> = event.releases.keys().cloned().collect();
    let selection = if selection.is_empty() && event.kind == EventKind::Release { &released[..] } else { selection };
    let wanted = select(&units, &failed, &images, selection)?;
    if let Some(id) = wanted.iter().find(|id| failed.contains_key(*id)).cloned() {
        return Err(failed.remove(&id).expect("found just now"));
    }
    let order = dependency_order(&units)?;
    let mut planned: Vec<Unit> = order
        .into_iter()
        .filter(|id| wanted.contains(id))
        .map(|id| units.remove(&id).expect("ordered ids come from units"))
        .collect();
    narrow_to_parents(&mut planned)?;
    Ok(planned)
}

/// Every in-repo repository, as [`repository_of`] writes it (`localhost:5000/acme/base`), to
/// the image and the variants published there.
pub fn repositories<'a>(defs: &'a Definitions, registry: &str) -> BTreeMap<String, Vec<(&'a ImageDef, &'a Variant)>> {
    let mut out: BTreeMap<String, Vec<(&ImageDef, &Variant)>> = BTreeMap::new();
    for image in &defs.images {
        for variant in &image.variants {
            let name = repository_of(&full_repository(registry, &defs.settings.namespace, &variant.repository));
            out.entry(name).or_default().push((image, variant));
        }
    }
    out
}

/// The in-repo unit a literal reference (`localhost:5000/acme/base:main-chrome`) names: the
/// variant published at that repository whose name or alias the tag is or ends with, else the
/// default variant there, else the first.
pub fn named_dependency(
    repositories: &BTreeMap<String, Vec<(&ImageDef, &Variant)>>,
    reference: &str,
) -> Option<Dependency> {
    let owners = repositories.get(&repository_of(reference))?;
    let (image, _) = owners.first()?;
    let here: Vec<&Variant> = owners.iter().filter(|(i, _)| i.name == image.name).map(|(_, v)| *v).collect();
    let name_tag = reference.split_once('@').map_or(reference, |(n, _)| n);
    let tag = name_tag.rsplit_once(':').map(|(_, t)| t).filter(|t| !t.contains('/'));
    let named = |v: &&&Variant| {
        let names = v.name.iter().chain(&v.aliases);
        let tag = tag.unwrap_or_default();
        names.into_iter().any(|n| tag == n || tag.ends_with(&format!("-{n}")))
    };
    let variant = match here.as_slice() {
        [only] => *only,
        _ => *here.iter().find(named).or_else(|| here.iter().find(|v| v.default)).or(here.first())?,
    };
    Some(Dependency { image: image.name.clone(), variant: variant.name.clone() })
}

fn resolve(
    defs: &Definitions,
    images: &BTreeMap<&str, &ImageDef>,
    repositories: &BTreeMap<String, Vec<(&ImageDef, &Variant)>>,
    image: &ImageDef,
    variant: &Variant,
    event: &Event,
    registry: &str,
) -> Result<Unit> {
    let file = image.dir.join("image.toml");
    let mut args = image.args.clone();
    args.extend(variant.args.clone());
    let mut dependencies: BTreeSet<Dependency> = variant.depends_on.iter().cloned().collect();
    // A `FROM ${X_IMAGE}` (or `COPY --from=`, `RUN --mount=from=`) naming an in-repo image, or
    // naming it literally in the workspace's registry, implies the dependency.
    let dockerfile = defs.dockerfiles.get(&variant.dockerfile).map(String::as_str).unwrap_or_default();
    let mut literal: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for reference in image_refs(&crate::core::dockerfile::parse(dockerfile), &args) {
        let by_arg = crate::core::dockerfile::referenced_args(&reference.written).into_iter().filter_map(|arg| {
            let name = images.keys().find(|name| parent_arg(name) == arg)?;
            Some(Dependency { image: name.to_string(), variant: None })
        });
        let by_name = match &reference.target {
            Target::Image(text) => named_dependency(repositories, text),
            _ => None,
        };
        // A reference pinned by digest names that image on purpose: it keeps it.
        if let (Some(named), Target::Image(text)) = (&by_name, &reference.target) {
            if !text.contains('@') {
                literal.entry(named.image.clone()).or_default().insert(text.clone());
            }
        }
        for implied in by_arg.chain(by_name) {
            if implied.image != image.name && !dependencies.iter().any(|d| d.image == implied.image) {
                dependencies.insert(implied);
            }
        }
    }

    let mut parents = Vec::new();
    // A child builds only what its parents' variants build (a variant may build fewer
    // platforms than its image); against the parent image, a missing platform is an error.
    let mut platforms = variant.platforms.clone();
    for dep in &dependencies {
        let Some(parent) = images.get(dep.image.as_str()) else {
            let hint = match crate::core::diag::nearest(&dep.image, images.keys().copied()) {
                Some(close) => format!("did you mean {close:?}?"),
                None => format!("in-repo images are: {}", images.keys().copied().collect::<Vec<_>>().join(", ")),
            };
            bail!("{file}: `depends_on` names {:?}, which is not an image under images/\n  hint: {hint}", dep.image);
        };
        let parent_variant = match &dep.variant {
            Some(v) => parent.variant(v).ok_or_else(|| {
                let names: Vec<&str> = parent.variants.iter().filter_map(|v| v.name.as_deref()).collect();
                anyhow::anyhow!("{file}: `depends_on` names {dep}, but image {:?} has no variant {v:?}\n  hint: its variants are: {}", dep.image, if names.is_empty() { "none".to_string() } else { names.join(", ") })
            })?,
            None => parent.default_variant(),
        };
        if let Some(missing) = variant.platforms.iter().find(|p| !parent.platforms.contains(p)) {
            bail!("{file}: builds for {missing}, but its parent {dep} does not\n  hint: add {missing} to the platforms of {}, or remove it here", parent.dir.join("image.toml"));
        }
        platforms.retain(|p| parent_variant.platforms.contains(p));
        if platforms.is_empty() {
            bail!("{file}: {} builds none of the platforms its parent {dep} builds ({})\n  hint: give it platforms its parent has", unit_id(&image.name, variant.name.as_deref()), parent_variant.platforms.join(", "));
        }
        parents.push(Parent {
            arg: parent_arg(&parent.name),
            unit: unit_id(&parent.name, parent_variant.name.as_deref()),
            names: literal.remove(&parent.name).into_iter().flatten().collect(),
        });
    }

    // A monorepo release names each image's version in its tag; other images are not released.
    let released = event.releases_image(&image.name);
    let version_text = match (event.releases.get(&image.name), event.releases.is_empty()) {
        (Some(version), _) => Some(version.as_str()),
        (None, false) => None,
        (None, true) => image.version.as_deref().or(event.version.as_deref()),
    };
    let version = version_text
        .map(Version::parse)
        .transpose()
        .map_err(|why| anyhow::anyhow!("version {version_text:?}: {why}"))?;
    let names = VariantNames { name: variant.name.as_deref(), aliases: &variant.aliases, default: variant.default };
    let repository = full_repository(registry, &defs.settings.namespace, &variant.repository);
    let tags = if event.kind == EventKind::Release && !released {
        // Built as a parent of what the release names, and tagged not at all.
        Vec::new()
    } else {
        let tags = tags::compute(&image.tags, event, version.as_ref(), names)
            .map_err(|why| anyhow::anyhow!("{file}: {why}"))?;
        if tags.is_empty() {
            let templates = image.tags.for_event(event.kind, variant.default);
            bail!(
                "{file}: {} gets no tag for this {} event{}: its templates {templates:?} render none\n  hint: add a template that applies, e.g. \"{{version}}\" for a pre-release, in [tags] of image.toml or the workspace",
                unit_id(&image.name, variant.name.as_deref()),
                event.kind.name(),
                version.as_ref().map(|v| format!(" (version {})", v.full)).unwrap_or_default(),
            );
        }
        tags
    };
    // Registry, namespace and repository are each valid; together they can still be too long.
    crate::oci::reference::check_name_length(&repository).map_err(|why| {
        anyhow::anyhow!(
            "{file}: the image name {repository:?} is invalid: {why}\n  hint: shorten `repository` or the namespace"
        )
    })?;

    let rootfs = image.rootfs.as_ref().map(|r| r.resolve(&args)).transpose().map_err(|name| {
        anyhow::anyhow!("{file}: [rootfs] `suite` names `{{{name}}}`, which is not a build arg of {}", image.name)
    })?;
    Ok(Unit {
        id: unit_id(&image.name, variant.name.as_deref()),
        image: image.name.clone(),
        variant: variant.name.clone(),
        default: variant.default,
        description: image.description.clone(),
        licenses: image.licenses.clone(),
        tags: tags.iter().map(|t| TagRef::new(repository.clone(), t.clone())).collect(),
        cache: cache_prefix(
            registry,
            &defs.settings.cache_repository,
            &full_repository("", &defs.settings.namespace, &variant.repository),
            &image.name,
            variant.name.as_deref(),
        ),
        repository,
        platforms,
        dockerfile: variant.dockerfile.clone(),
        context: image.context.clone(),
        args,
        depends_on: parents.iter().map(|p| p.unit.clone()).collect(),
        parents,
        version: version.map(|v| v.full),
        network: image.network,
        rootfs,
        size: image.size,
        secrets: image.secrets.clone(),
    })
}

/// The units that `changed` (paths relative to the workspace root) touch, with every unit
/// built on one of them, in plan order. A path outside every unit's files touches all of them
/// (the settings, the xtask itself), unless it is documentation (`*.md`, `docs/`).
pub fn changed_units<'a>(units: &'a [Unit], changed: &[String]) -> Vec<&'a Unit> {
    let owns = |unit: &Unit, path: &str| {
        let under = |dir: &str| !dir.is_empty() && path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'));
        under(&format!("images/{}", unit.image))
            || under(unit.context.as_str().trim_end_matches('/'))
            || path == unit.dockerfile.as_str()
    };
    let documentation = |path: &str| path.ends_with(".md") || path.starts_with("docs/");
    if changed.iter().any(|path| !documentation(path) && !units.iter().any(|u| owns(u, path))) {
        return units.iter().collect();
    }
    let mut selected: Vec<&Unit> = Vec::new();
    for unit in units {
        let touched = changed.iter().any(|path| owns(unit, path));
        if touched || unit.depends_on.iter().any(|parent| selected.iter().any(|s| s.id == *parent)) {
            selected.push(unit);
        }
    }
    selected
}

/// Where a unit's build caches go: `cache_repository` with `{repository}` as the unit's path
/// (`…/python-cache:buildcache-[<variant>-]`), or a shared repository, whose tags then name the
/// image too (`…/buildcache:buildcache-python-[<variant>-]`).
/// `path` is the unit's repository path (namespace included); a shared repository is a path
/// on the registry as written.
fn cache_prefix(registry: &str, template: &str, path: &str, image: &str, variant: Option<&str>) -> String {
    let cache = full_repository(registry, "", &template.replace("{repository}", path));
    let image = if template.contains("{repository}") { String::new() } else { format!("{image}-") };
    let variant = variant.map(|v| format!("{v}-")).unwrap_or_default();
    format!("{cache}:buildcache-{image}{variant}")
}

/// `registry/namespace/repository` (the path alone without a registry); a Docker Hub name of one part is an official image
/// (`library/`), as docker reads it.
pub fn full_repository(registry: &str, namespace: &str, repository: &str) -> String {
    let path = [namespace, repository].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("/");
    match registry {
        "" => path,
        hub if crate::oci::reference::is_docker_hub(hub) && !path.contains('/') => format!("{hub}/library/{path}"),
        _ => format!("{registry}/{path}"),
    }
}

/// The selected unit ids plus everything they depend on.
/// A child builds only what its parents build, down every chain (a grandchild of a variant
/// that builds amd64 only builds amd64 only). `units` are in dependency order.
fn narrow_to_parents(units: &mut [Unit]) -> Result<()> {
    for i in 0..units.len() {
        let parents: Vec<Vec<String>> = units[i]
            .depends_on
            .iter()
            .filter_map(|id| units[..i].iter().find(|u| u.id == *id).map(|u| u.platforms.clone()))
            .collect();
        let unit = &mut units[i];
        unit.platforms.retain(|p| parents.iter().all(|of_parent| of_parent.contains(p)));
        if unit.platforms.is_empty() {
            bail!(
                "images/{}/image.toml: {} builds none of the platforms its parents build\n  hint: give it platforms its parents have",
                unit.image,
                unit.id
            );
        }
    }
    Ok(())
}

fn select(
    units: &BTreeMap<String, Unit>,
    failed: &BTreeMap<String, anyhow::Error>,
    images: &BTreeMap<&str, &ImageDef>,
    selection: &[String],
) -> Result<BTreeSet<String>> {
    if selection.is_empty() {
        return Ok(units.keys().chain(failed.keys()).cloned().collect());
    }
    let image_of = |id: &str| id.split(':').next().unwrap_or(id).to_string();
    let mut wanted = BTreeSet::new();
    let mut todo: Vec<String> = Vec::new();
    for item in selection {
        let matching: Vec<&String> =
            units.keys().chain(failed.keys()).filter(|id| *id == item || image_of(id) == *item).collect();
        if matching.is_empty() {
            let hint = match crate::core::diag::nearest(
                item,
                units.keys().map(String::as_str).chain(images.keys().copied()),
            ) {
                Some(close) => format!("did you mean {close:?}?"),
                None => "run `cargo xtask plan` to list the units".to_string(),
            };
            bail!("{item:?} is not an image or image:variant in images/\n  hint: {hint}");
        }
        todo.extend(matching.into_iter().cloned());
    }
    while let Some(id) = todo.pop() {
        if wanted.insert(id.clone()) {
            todo.extend(units.get(&id).into_iter().flat_map(|u| u.depends_on.iter().cloned()));
        }
    }
    Ok(wanted)
}

/// Unit ids so that parents come before children; ties broken by id. A cycle is an error showing its path.
fn dependency_order(units: &BTreeMap<String, Unit>) -> Result<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        id: &str,
        units: &BTreeMap<String, Unit>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<()> {
        match marks.get(id) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let start = path.iter().position(|p| p == id).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(id.to_string());
                bail!(
                    "images/{}/image.toml: dependency cycle: {}\n  hint: remove one of these `depends_on` entries or FROM lines",
                    units[id].image,
                    cycle.join(" -> ")
                );
            }
            None => {}
        }
        marks.insert(id.to_string(), Mark::Visiting);
        path.push(id.to_string());
        for parent in &units[id].depends_on {
            visit(parent, units, marks, path, out)?;
        }
        path.pop();
        marks.insert(id.to_string(), Mark::Done);
        out.push(id.to_string());
        Ok(())
    }
    let mut marks = BTreeMap::new();
    let mut out = Vec::new();
    for id in units.keys() {
        visit(id, units, &mut marks, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

/// A fully populated unit for other modules' unit tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A unit for the tests of other modules.
    pub(crate) fn sample_unit() -> Unit {
        Unit {
            id: "python:python3.13".into(),
            image: "python".into(),
            variant: Some("python3.13".into()),
            default: true,
            description: Some("Python runtime".into()),
            licenses: None,
            repository: "localhost:5000/acme/python".into(),
            cache: "localhost:5000/acme/python-cache:buildcache-python3.13-".into(),
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            dockerfile: "images/python/Dockerfile".into(),
            context: "images/python".into(),
            args: BTreeMap::from([("PY".into(), "3.13".into())]),
            depends_on: vec!["debian:trixie".into()],
            parents: vec![],
            tags: vec![
                TagRef::new("localhost:5000/acme/python", "main"),
                TagRef::new("localhost:5000/acme/python", "main-abc1234"),
            ],
            version: None,
            network: Network::Host,
            rootfs: None,
            size: SizeBudget::default(),
            secrets: BTreeMap::new(),
        }
    }
    use crate::core::definitions::{validate_image, validate_settings};
    use crate::core::event::EventKind;
    use camino::Utf8Path;

    /// A workspace from inline (dir, image.toml, Dockerfile) triples.
    fn defs(images: &[(&str, &str, &str)]) -> Definitions {
        let settings =
            validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\nnamespace = \"acme\"\n")
                .unwrap();
        let mut dockerfiles = BTreeMap::new();
        let images = images
            .iter()
            .map(|(name, toml, dockerfile)| {
                let dir = Utf8PathBuf::from(format!("images/{name}"));
                let image = validate_image(&dir.join("image.toml"), toml, &dir, &settings).unwrap();
                for v in &image.variants {
                    dockerfiles.insert(v.dockerfile.clone(), dockerfile.to_string());
                }
                image
            })
            .collect();
        Definitions { settings, images, dockerfiles }
    }

    fn branch() -> Event {
        Event {
            kind: EventKind::Branch,
            version: None,
            branch: Some("main".into()),
            sha: Some("abcdef123".into()),
            pr: None,
            extra_tags: vec![],
            timestamp: "t".into(),
            releases: Default::default(),
            date: "20261124".into(),
            origins: vec![],
        }
    }

    fn ids(units: &[Unit]) -> Vec<&str> {
        units.iter().map(|u| u.id.as_str()).collect()
    }

    const FROM_BASE: &str = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n";

    #[test]
    fn parents_come_first_and_are_inferred_from_from_lines() {
        let d = defs(&[
            ("app", "", FROM_BASE),
            ("base", "", "FROM scratch\n"),
            ("zzz-tool", "depends_on = [\"app\"]", "FROM scratch\n"),
        ]);
        let units = plan(&d, &branch(), "localhost:5000", &[]).unwrap();
        assert_eq!(ids(&units), ["base", "app", "zzz-tool"]);
        assert_eq!(units[1].parents, [Parent { arg: "BASE_IMAGE".into(), unit: "base".into(), names: vec![] }]);
        assert_eq!(units[1].tags, ["localhost:5000/acme/app:main", "localhost:5000/acme/app:main-abcdef1"]);
        assert_eq!(units[2].parents, [Parent { arg: "APP_IMAGE".into(), unit: "app".into(), names: vec![] }]);
    }

    #[test]
    fn variants_are_units_with_their_own_parents_args_and_tags() {
        let d = defs(&[
            ("debian", "[[variants]]\nname = \"bookworm\"\ndefault = true\n[[variants]]\nname = \"trixie\"\n", "FROM scratch\n"),
            (
                "python",
                "depends_on = [\"debian\"]\n[args]\nA = \"1\"\n[[variants]]\nname = \"python3.11\"\nargs = { PY = \"3.11\", A = \"2\" }\n[[variants]]\nname = \"python3.13\"\ndefault = true\ndepends_on = [\"debian:trixie\"]\n",
                "ARG DEBIAN_IMAGE\nFROM $DEBIAN_IMAGE\n",
            ),
        ]);
        let units = plan(&d, &branch(), "r.test", &[]).unwrap();
        assert_eq!(ids(&units), ["debian:bookworm", "debian:trixie", "python:python3.11", "python:python3.13"]);
        assert_eq!(units[2].depends_on, ["debian:bookworm"]);
        assert_eq!(units[3].depends_on, ["debian:trixie"]);
        assert_eq!(
            units[2].args,
            BTreeMap::from([("A".to_string(), "2".to_string()), ("PY".to_string(), "3.11".to_string())])
        );
        assert_eq!(units[2].tags, ["r.test/acme/python:main-python3.11"]);
        assert_eq!(units[3].tags, ["r.test/acme/python:main", "r.test/acme/python:main-abcdef1"]);
    }

    #[test]
    fn selection_pulls_in_dependencies_only() {
        let d = defs(&[("app", "", FROM_BASE), ("base", "", "FROM scratch\n"), ("other", "", "FROM scratch\n")]);
        assert_eq!(ids(&plan(&d, &branch(), "r", &["app".into()]).unwrap()), ["base", "app"]);
        let err = plan(&d, &branch(), "r", &["ap".into()]).unwrap_err().to_string();
        assert!(err.contains("\"ap\" is not an image") && err.contains("did you mean \"app\"?"), "{err}");
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        let d = defs(&[
            ("a", "depends_on = [\"b\"]", "FROM scratch\n"),
            ("b", "depends_on = [\"c\"]", "FROM scratch\n"),
            ("c", "", "ARG A_IMAGE\nFROM ${A_IMAGE}\n"),
        ]);
        let err = plan(&d, &branch(), "r", &[]).unwrap_err().to_string();
        assert!(err.starts_with("images/a/image.toml: dependency cycle: a -> b -> c -> a"), "{err}");
    }

    #[test]
    fn literal_in_repo_names_are_dependencies() {
        // FROM, COPY --from and RUN --mount=from= in the workspace's registry, by name.
        let d = defs(&[
            ("app", "", "FROM localhost:5000/acme/tools:main AS t\nFROM LOCALHOST:5000/acme/base@sha256:0123\n"),
            ("base", "", "FROM scratch\n"),
            ("tools", "", "FROM scratch\nCOPY --from=localhost:5000/acme/base:main /a /a\n"),
            ("web", "", "FROM scratch\nRUN --mount=from=localhost:5000/acme/app,target=/app true\n"),
            ("other", "", "FROM other.test/acme/base:main\nCOPY --from=localhost:5000/elsewhere/base:1 /a /a\n"),
        ]);
        let units = plan(&d, &branch(), "localhost:5000", &[]).unwrap();
        assert_eq!(ids(&units), ["base", "tools", "app", "other", "web"]);
        let depends = |id: &str| units.iter().find(|u| u.id == id).unwrap().depends_on.clone();
        assert_eq!(depends("app"), ["base", "tools"]);
        assert_eq!(depends("tools"), ["base"]);
        assert_eq!(depends("web"), ["app"]);
        assert!(depends("other").is_empty(), "another registry or namespace is not in-repo");
        assert_eq!(units[2].parents[0], Parent { arg: "BASE_IMAGE".into(), unit: "base".into(), names: vec![] });
        let tools = &units[1].parents[0];
        assert_eq!(tools.names, ["localhost:5000/acme/base:main"], "named contexts pin names by tag, not by digest");
        let web = &units[4].parents[0];
        assert_eq!(web.names, ["localhost:5000/acme/app"]);
        // Another registry given to plan: the same names are external.
        let units = plan(&d, &branch(), "r.test", &[]).unwrap();
        assert!(units.iter().all(|u| u.depends_on.is_empty()));
    }

    #[test]
    fn literal_names_pick_the_variant_their_repository_or_tag_names() {
        let variants = "[[variants]]\nname = \"standard\"\ndefault = true\n[[variants]]\nname = \"slim\"\n[[variants]]\nname = \"chrome\"\nrepository = \"base-chrome\"\n";
        let d = defs(&[
            ("a", "", "FROM localhost:5000/acme/base-chrome:main\n"),
            ("b", "", "FROM localhost:5000/acme/base:main-slim\n"),
            ("c", "", "FROM localhost:5000/acme/base:main\n"),
            ("base", variants, "FROM scratch\n"),
        ]);
        let units = plan(&d, &branch(), "localhost:5000", &[]).unwrap();
        let depends = |id: &str| units.iter().find(|u| u.id == id).unwrap().depends_on.clone();
        assert_eq!(depends("a"), ["base:chrome"]);
        assert_eq!(depends("b"), ["base:slim"]);
        assert_eq!(depends("c"), ["base:standard"]);
    }

    #[test]
    fn a_cycle_written_with_literal_names_is_an_error() {
        let d = defs(&[
            ("a", "", "FROM localhost:5000/acme/b:main\n"),
            ("b", "", "FROM scratch\nCOPY --from=localhost:5000/acme/c:main /x /x\n"),
            ("c", "", "FROM localhost:5000/acme/a:main\n"),
        ]);
        let err = plan(&d, &branch(), "localhost:5000", &[]).unwrap_err().to_string();
        assert!(err.starts_with("images/a/image.toml: dependency cycle: a -> b -> c -> a"), "{err}");
        // An image naming its own repository is not its own parent.
        let d = defs(&[("a", "", "FROM localhost:5000/acme/a:previous\n")]);
        assert!(plan(&d, &branch(), "localhost:5000", &[]).unwrap()[0].depends_on.is_empty());
    }

    #[test]
    fn unknown_parents_and_platform_gaps_are_errors() {
        let d = defs(&[("app", "depends_on = [\"bsae\"]", "FROM scratch\n"), ("base", "", "FROM scratch\n")]);
        let err = plan(&d, &branch(), "r", &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("images/app/image.toml: `depends_on` names \"bsae\"")
                && err.contains("did you mean \"base\"?"),
            "{err}"
        );

        let d = defs(&[("app", "depends_on = [\"base:nope\"]", "FROM scratch\n"), ("base", "", "FROM scratch\n")]);
        let err = plan(&d, &branch(), "r", &[]).unwrap_err().to_string();
        assert!(err.contains("image \"base\" has no variant \"nope\""), "{err}");

        let d = defs(&[("app", "", FROM_BASE), ("base", "platforms = [\"linux/amd64\"]", "FROM scratch\n")]);
        let err = plan(&d, &branch(), "r", &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("images/app/image.toml: builds for linux/arm64, but its parent base does not"),
            "{err}"
        );
    }

    #[test]
    fn release_version_comes_from_the_image_first() {
        let d = defs(&[("a", "version = \"2.1.0\"", "FROM scratch\n"), ("b", "", "FROM scratch\n")]);
        let mut event = branch();
        event.kind = EventKind::Release;
        event.version = Some("0.5.0".into());
        let units = plan(&d, &event, "r", &[]).unwrap();
        assert_eq!(units[0].tags, ["r/acme/a:latest", "r/acme/a:2.1.0", "r/acme/a:2.1", "r/acme/a:2"]);
        assert_eq!(units[1].tags, ["r/acme/b:latest", "r/acme/b:0.5.0", "r/acme/b:0.5"]);
    }

    #[test]
    fn slugs_and_parent_args() {
        assert_eq!(parent_arg("ci-runner"), "CI_RUNNER_IMAGE");
        let d = defs(&[("py", "[[variants]]\nname = \"3.13\"\ndefault = true\n", "FROM scratch\n")]);
        assert_eq!(plan(&d, &branch(), "r", &[]).unwrap()[0].slug(), "py-3.13");
    }

    #[test]
    fn a_monorepo_tag_releases_one_image_and_builds_its_parents_untagged() {
        let d = defs(&[
            ("app", "version = \"9.9.9\"", FROM_BASE),
            ("base", "version = \"3.0.0\"", "FROM scratch\n"),
            ("tool", "", "FROM scratch\n"),
        ]);
        let mut event = branch();
        event.kind = EventKind::Release;
        event.releases = BTreeMap::from([("app".to_string(), "1.0.0".to_string())]);
        let units = plan(&d, &event, "localhost:5000", &[]).unwrap();
        assert_eq!(ids(&units), ["base", "app"], "tool is not part of app's release");
        assert!(units[0].tags.is_empty(), "the parent is built, not tagged: {:?}", units[0].tags);
        assert_eq!(units[0].version, None, "its own `version` key is ignored for this event");
        assert_eq!(
            units[1].tags,
            [
                "localhost:5000/acme/app:latest",
                "localhost:5000/acme/app:1.0.0",
                "localhost:5000/acme/app:1.0",
                "localhost:5000/acme/app:1"
            ]
        );
        assert_eq!(units[1].version.as_deref(), Some("1.0.0"), "the tag's version, not image.toml's");
        // Asking for tool on such an event plans it, untagged.
        let units = plan(&d, &event, "localhost:5000", &["tool".to_string()]).unwrap();
        assert_eq!((ids(&units), units[0].tags.len()), (vec!["tool"], 0));
    }

    #[test]
    fn a_unit_without_tags_is_an_error_that_names_its_templates() {
        let d = defs(&[("app", "[tags]\nrelease = [\"latest\", \"{major}\"]\n", "FROM scratch\n")]);
        let mut event = branch();
        event.kind = EventKind::Release;
        event.version = Some("2.0.0-rc.1".into());
        let err = plan(&d, &event, "localhost:5000", &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("images/app/image.toml: app gets no tag for this release event (version 2.0.0-rc.1)"),
            "{err}"
        );
        assert!(err.contains(r#"["latest", "{major}"]"#) && err.contains("hint:"), "{err}");
    }

    #[test]
    fn a_variant_narrows_platforms_for_its_children_and_has_its_own_repository() {
        let d = defs(&[
            ("app", "depends_on = [\"base:chrome\"]", FROM_BASE),
            (
                "base",
                "[[variants]]\nname = \"standard\"\ndefault = true\n[[variants]]\nname = \"chrome\"\nplatforms = [\"linux/amd64\"]\nrepository = \"base-chrome\"\n",
                "FROM scratch\n",
            ),
        ]);
        let units = plan(&d, &branch(), "localhost:5000", &[]).unwrap();
        let by_id = |id: &str| units.iter().find(|u| u.id == id).unwrap();
        assert_eq!(by_id("base:chrome").platforms, ["linux/amd64"]);
        assert_eq!(by_id("base:chrome").repository, "localhost:5000/acme/base-chrome");
        assert_eq!(by_id("base:chrome").tags, ["localhost:5000/acme/base-chrome:main-chrome"]);
        assert_eq!(by_id("base:standard").platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(by_id("app").platforms, ["linux/amd64"], "the child builds what its parent variant builds");
    }

    #[test]
    fn grandchildren_build_what_their_chain_builds_and_unasked_images_do_not_stop_a_plan() {
        let d = defs(&[
            ("app", "", "ARG MID_IMAGE\nFROM ${MID_IMAGE}\n"),
            (
                "base",
                "[[variants]]\nname = \"standard\"\ndefault = true\n[[variants]]\nname = \"chrome\"\nplatforms = [\"linux/amd64\"]\n",
                "FROM scratch\n",
            ),
            ("mid", "depends_on = [\"base:chrome\"]", FROM_BASE),
        ]);
        let units = plan(&d, &branch(), "localhost:5000", &[]).unwrap();
        let app = units.iter().find(|u| u.id == "app").unwrap();
        assert_eq!(app.platforms, ["linux/amd64"], "mid builds amd64 only, so app does too");

        let d = defs(&[("a", "version = \"1.0.0\"", "FROM scratch\n"), ("b", "", "FROM scratch\n")]);
        let mut release = branch();
        release.kind = EventKind::Release;
        let units = plan(&d, &release, "localhost:5000", &["a".to_string()]).unwrap();
        assert_eq!(ids(&units), ["a"]);
        let err = plan(&d, &release, "localhost:5000", &[]).unwrap_err().to_string();
        assert!(err.starts_with("images/b/image.toml: a release needs a version"), "{err}");
    }

    #[test]
    fn build_caches_go_beside_the_image_or_to_one_shared_repository_never_into_its_own() {
        let beside = cache_prefix("r.test", "{repository}-cache", "acme/python", "python", Some("slim"));
        assert_eq!(beside, "r.test/acme/python-cache:buildcache-slim-");
        assert_eq!(cache_prefix("r.test", "{repository}-cache", "base", "base", None), "r.test/base-cache:buildcache-");
        let shared = cache_prefix("r.test", "acme/buildcache", "acme/python", "python", Some("slim"));
        assert_eq!(
            shared, "r.test/acme/buildcache:buildcache-python-slim-",
            "a shared repository's tags name the image"
        );
        let hub = cache_prefix("docker.io", "{repository}-cache", "acme/python", "python", None);
        assert_eq!(hub, "docker.io/acme/python-cache:buildcache-");
    }

    #[test]
    fn a_change_selects_its_units_and_their_children_and_one_outside_them_selects_all() {
        let unit = |id: &str, image: &str, parents: &[&str]| Unit {
            id: id.into(),
            image: image.into(),
            context: format!("images/{image}").into(),
            dockerfile: format!("images/{image}/Dockerfile").into(),
            depends_on: parents.iter().map(|p| p.to_string()).collect(),
            ..sample_unit()
        };
        let units = [
            unit("debian", "debian", &[]),
            unit("python:3.13", "python", &["debian"]),
            unit("app", "app", &["python:3.13"]),
            unit("go", "go", &[]),
        ];
        let ids = |changed: &[&str]| -> Vec<String> {
            let changed: Vec<String> = changed.iter().map(|s| s.to_string()).collect();
            changed_units(&units, &changed).iter().map(|u| u.id.clone()).collect()
        };
        assert_eq!(ids(&["images/python/image.toml"]), ["python:3.13", "app"]);
        assert_eq!(ids(&["images/go/main.go", "README.md", "docs/x.md"]), ["go"]);
        assert_eq!(ids(&["images/debian/Dockerfile"]), ["debian", "python:3.13", "app"]);
        assert!(ids(&["docs/image-toml.md"]).is_empty(), "documentation builds nothing");
        assert_eq!(ids(&["Cargo.toml"]).len(), 4, "the settings may touch every image");
        assert_eq!(ids(&["xtask/src/core/plan.rs"]).len(), 4);
        assert_eq!(ids(&["images/golang/x"]).len(), 4, "a prefix of another image's name is not its");
    }
}
