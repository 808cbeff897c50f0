//! What `cargo xtask new` writes into `images/<name>/`: an image.toml, a Dockerfile that
//! follows the lint policy, and smoke tests, so that a new image passes `lint`, `build` and
//! `test` as generated. Pure: the command reads the workspace and writes the files.

use anyhow::{bail, Result};
use camino::Utf8PathBuf;

use crate::core::diag::nearest;
use crate::core::plan::parent_arg;
use crate::oci::reference::check_repository;

/// An image already in the workspace, as far as scaffolding cares.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub name: String,
    /// Named variants; empty for an image without `[[variants]]`.
    pub variants: Vec<String>,
    pub platforms: Vec<String>,
    /// It has no in-repo parent.
    pub root: bool,
    /// It is built `FROM scratch` from `[rootfs]`, so it builds without any outside registry.
    pub rootfs: bool,
}

/// What `cargo xtask new` was asked for, with the workspace facts it depends on.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub name: &'a str,
    /// `NAME` or `NAME:VARIANT`; `None` picks the workspace's base image.
    pub from: Option<&'a str>,
    pub variants: Vec<String>,
    pub known: &'a [Known],
    /// The workspace's `platforms`.
    pub platforms: &'a [String],
    /// Add a `#:schema` line pointing editors at docs/image.schema.json (when the workspace has it).
    pub schema_hint: bool,
}

/// A file to write, relative to the workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: Utf8PathBuf,
    pub text: String,
}

/// `--variants a,b` as a list.
pub fn parse_variants(list: &str) -> Result<Vec<String>> {
    let names: Vec<String> = list.split(',').map(|v| v.trim().to_string()).collect();
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            bail!("--variants {list:?} has an empty name: write names separated by commas, e.g. --variants slim,full");
        }
        crate::oci::reference::check_tag(name).map_err(|why| {
            anyhow::anyhow!(
                "variant name {name:?} is invalid: {why}\n  hint: variant names become tags: use letters, digits, `.`, `_` and `-`"
            )
        })?;
        if names[..i].contains(name) {
            bail!("--variants names {name:?} twice: give each variant a distinct name");
        }
    }
    Ok(names)
}

/// The in-repo image a new image builds on when `--from` is not given: the one root
/// image built from `[rootfs]` (it needs no outside registry), or among several the one named `base`.
fn default_parent(known: &[Known]) -> Result<&Known> {
    let bases: Vec<&Known> = known.iter().filter(|k| k.root && k.rootfs).collect();
    match bases.as_slice() {
        [only] => Ok(only),
        [] => bail!(
            "images/ has no base image to build on (a root image built FROM scratch from [rootfs])\n  \
             hint: pass `--from <image>` to build on an image under images/, or add a base first \
             (docs/adding-an-image.md, \"A base image\")"
        ),
        several => several.iter().copied().find(|k| k.name == "base").ok_or_else(|| {
            let names: Vec<&str> = several.iter().map(|k| k.name.as_str()).collect();
            anyhow::anyhow!(
                "images/ has several base images ({}): pass `--from <image>` to choose one",
                names.join(", ")
            )
        }),
    }
}

/// The parent named by `--from NAME[:VARIANT]`.
fn named_parent<'a>(known: &'a [Known], from: &str) -> Result<(&'a Known, Option<String>)> {
    let (image, variant) = match from.split_once(':') {
        Some((image, variant)) => (image, Some(variant.to_string())),
        None => (from, None),
    };
    let Some(parent) = known.iter().find(|k| k.name == image) else {
        let names = known.iter().map(|k| k.name.as_str());
        let hint = match nearest(image, names.clone()) {
            Some(close) => format!("did you mean {close:?}?"),
            None => format!("images are: {}", names.collect::<Vec<_>>().join(", ")),
        };
        bail!("--from {from:?}: there is no image {image:?} under images/\n  hint: {hint}");
    };
    if let Some(v) = &variant {
        if !parent.variants.contains(v) {
            let hint = if parent.variants.is_empty() {
                format!("{image} has no variants: write --from {image}")
            } else {
                format!("its variants are: {}", parent.variants.join(", "))
            };
            bail!("--from {from:?}: image {image:?} has no variant {v:?}\n  hint: {hint}");
        }
    }
    Ok((parent, variant))
}

/// The files of a new image directory, or why there can be none.
pub fn generate(req: &Request<'_>) -> Result<Vec<File>> {
    let name = req.name;
    if name.contains('/') {
        let dir = name.rsplit('/').next().unwrap_or(name);
        bail!(
            "{name:?} is a path: name one directory under images/ (e.g. {dir:?}), and set \
             `repository = {name:?}` in its image.toml for that registry path"
        );
    }
    check_repository(name).map_err(|why| {
        anyhow::anyhow!(
            "{name:?} is not a valid image name: {why}\n  hint: use lowercase letters, digits and single separators (`.`, `_`, `__`, `-`)"
        )
    })?;
    if req.known.iter().any(|k| k.name == name) {
        bail!("images/{name} already exists: choose another name (`new` never overwrites an image)");
    }
    if let Some(clash) = req.known.iter().find(|k| parent_arg(&k.name) == parent_arg(name)) {
        bail!(
            "{name:?} would reach its children as the build arg {}, which images/{} already uses: choose another name",
            parent_arg(name),
            clash.name
        );
    }
    let (parent, parent_variant) = match req.from {
        Some(from) => named_parent(req.known, from)?,
        None => (default_parent(req.known)?, None),
    };
    let dir = Utf8PathBuf::from("images").join(name);
    Ok(vec![
        File { path: dir.join("image.toml"), text: image_toml(req, parent, parent_variant.as_deref()) },
        File { path: dir.join("Dockerfile"), text: dockerfile(name, &parent.name, !req.variants.is_empty()) },
    ])
}

/// Where the Dockerfile leaves its proof of the build, read by the smoke test.
fn built_for(name: &str) -> String {
    format!("/usr/share/{name}/built-for")
}

fn image_toml(req: &Request<'_>, parent: &Known, parent_variant: Option<&str>) -> String {
    let name = req.name;
    let mut out = String::new();
    if req.schema_hint {
        // Editors with a TOML language server (taplo) validate and complete against it.
        out.push_str("#:schema ../../docs/image.schema.json\n");
    }
    out.push_str(&format!(
        "# {name}: built on the in-repo image `{parent}`. Every key is described in docs/image-toml.md;\n\
         # `cargo xtask plan {name}` shows the units and tags it makes.\n\
         description = \"{name}, built on {parent}\"\n\
         # The OCI `licenses` label, an SPDX expression; verify-manifests checks it once declared.\n\
         # licenses = \"MIT\"\n",
        parent = parent.name
    ));
    if let Some(variant) = parent_variant {
        out.push_str(&format!(
            "# `FROM ${{{arg}}}` alone means {parent}'s default variant; this names another.\n\
             depends_on = [\"{parent}:{variant}\"]\n",
            arg = parent_arg(&parent.name),
            parent = parent.name
        ));
    }
    if parent.platforms.as_slice() != req.platforms {
        let list: Vec<String> = parent.platforms.iter().map(|p| format!("\"{p}\"")).collect();
        out.push_str(&format!(
            "# A child builds only the platforms its parent builds.\nplatforms = [{}]\n",
            list.join(", ")
        ));
    }
    for (i, variant) in req.variants.iter().enumerate() {
        if i == 0 {
            out.push_str(
                "\n# Each variant is a unit with its own tags; the default one also gets `latest` and the\n\
                 # release tags. `VARIANT` reaches the Dockerfile as a build arg and the tests as {VARIANT}.\n",
            );
        }
        out.push_str(&format!("[[variants]]\nname = \"{variant}\"\n"));
        if i == 0 {
            out.push_str("default = true\n");
        }
        out.push_str(&format!("args = {{ VARIANT = \"{variant}\" }}\n\n"));
    }
    let expected = if req.variants.is_empty() {
        format!("{name} {{TARGETARCH}}")
    } else {
        format!("{name} {{VARIANT}} {{TARGETARCH}}")
    };
    if req.variants.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!(
        "# `cargo xtask test {name}` runs each test on every platform (emulated ones too).\n\
         [[tests]]\n\
         name = \"smoke: built for its platform\"\n\
         command = [\"cat\", \"{file}\"]\n\
         stdout = \"{expected}\"\n\
         \n\
         [[tests]]\n\
         name = \"runs as a non-root user\"\n\
         \n\
         [tests.metadata]\n\
         user = \"nonroot\"\n",
        file = built_for(name)
    ));
    out
}

fn dockerfile(name: &str, parent: &str, variants: bool) -> String {
    let arg = parent_arg(parent);
    let (variant_arg, label) = if variants { ("ARG VARIANT\n", " ${VARIANT}") } else { ("", "") };
    format!(
        "# {name}: built on the in-repo image `{parent}`. It arrives as a build arg pinned by\n\
         # digest for each platform (README.md, \"How it works\"), so its tag needs no pinning.\n\
         ARG {arg}\n\
         FROM ${{{arg}}}\n\
         ARG TARGETARCH\n\
         {variant_arg}\
         # Set up as root; the image itself runs as a non-root user (lint rule `root-user`).\n\
         USER 0:0\n\
         # Caches are keyed by architecture, so amd64 and emulated arm64 builds never share one:\n\
         # put package and download caches under such a mount, not in the layers.\n\
         RUN --mount=type=cache,id={name}-${{TARGETARCH}},target=/var/cache/{name} \\\n    \
             mkdir -p /usr/share/{name} \\\n \
          && echo \"{name}{label} ${{TARGETARCH}}\" | tee /var/cache/{name}/last > {file}\n\
         USER 65534:65534\n\
         CMD [\"cat\", \"{file}\"]\n",
        file = built_for(name)
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use camino::Utf8Path;

    use super::*;
    use crate::core::definitions::{validate_image, validate_settings, ImageDef};
    use crate::core::lint::{lint, Inherited, LintContext, User};

    fn both() -> Vec<String> {
        vec!["linux/amd64".to_string(), "linux/arm64".to_string()]
    }

    fn known(name: &str, variants: &[&str], root: bool, rootfs: bool) -> Known {
        Known {
            name: name.into(),
            variants: variants.iter().map(|v| v.to_string()).collect(),
            platforms: both(),
            root,
            rootfs,
        }
    }

    fn workspace() -> Vec<Known> {
        vec![known("base", &[], true, true), known("tool", &["v1", "v2"], false, false)]
    }

    fn generate_with(name: &str, from: Option<&str>, variants: &[&str], known: &[Known]) -> Result<Vec<File>> {
        let platforms = both();
        generate(&Request {
            name,
            from,
            variants: variants.iter().map(|v| v.to_string()).collect(),
            known,
            platforms: &platforms,
            schema_hint: false,
        })
    }

    /// The generated image.toml as the parser reads it, and the lint findings of its Dockerfile.
    fn check(files: &[File], parent: &str) -> (ImageDef, Vec<String>) {
        let [toml, dockerfile] = files else { panic!("two files: {files:?}") };
        let dir = toml.path.parent().unwrap();
        let settings = validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\n").unwrap();
        let image = validate_image(&toml.path, &toml.text, dir, &settings)
            .unwrap_or_else(|e| panic!("{e}\n--- image.toml:\n{}", toml.text));
        assert_eq!(dockerfile.path, dir.join("Dockerfile"));
        let mut findings = Vec::new();
        for variant in &image.variants {
            let ctx = LintContext {
                args: variant.args.clone(),
                platforms: image.platforms.clone(),
                // A parent that itself ends as a non-root user, like every image that passes lint.
                parents: BTreeMap::from([(
                    parent_arg(parent),
                    Inherited { user: Some(User::NonRoot), healthcheck: false },
                )]),
                context: dir.to_owned(),
                files: BTreeSet::from(["Dockerfile".to_string(), "image.toml".to_string()]),
                ..LintContext::default()
            };
            findings.extend(lint(&dockerfile.path, &dockerfile.text, &ctx).iter().map(|f| f.to_string()));
        }
        (image, findings)
    }

    #[test]
    fn a_plain_image_parses_lints_clean_and_tests_its_platform() {
        let files = generate_with("hello", Some("base"), &[], &workspace()).unwrap();
        let (image, findings) = check(&files, "base");
        assert_eq!(findings, Vec::<String>::new());
        assert_eq!(image.variants.len(), 1);
        assert_eq!(image.description.as_deref(), Some("hello, built on base"));
        let [smoke, user] = &image.tests[..] else { panic!("two tests: {:?}", image.tests) };
        assert_eq!(smoke.command.as_deref(), Some(&["cat".to_string(), "/usr/share/hello/built-for".to_string()][..]));
        assert_eq!(smoke.expect.stdout.as_deref(), Some("hello {TARGETARCH}"));
        assert_eq!(user.metadata.as_ref().unwrap().user.as_deref(), Some("nonroot"));
        let dockerfile = &files[1].text;
        assert!(dockerfile.contains("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"), "{dockerfile}");
        assert!(dockerfile.contains("--mount=type=cache,id=hello-${TARGETARCH},"), "{dockerfile}");
        // Straight into the image: variants sharing the cache mount may build at once.
        assert!(
            dockerfile
                .contains("echo \"hello ${TARGETARCH}\" | tee /var/cache/hello/last > /usr/share/hello/built-for"),
            "{dockerfile}"
        );
        assert!(dockerfile.trim_end().ends_with("USER 65534:65534\nCMD [\"cat\", \"/usr/share/hello/built-for\"]"));
        assert!(!files[0].text.contains("#:schema"));
    }

    #[test]
    fn variants_get_args_a_default_and_a_test_placeholder() {
        let files = generate_with("duo", Some("base"), &["one", "two"], &workspace()).unwrap();
        let (image, findings) = check(&files, "base");
        assert_eq!(findings, Vec::<String>::new());
        let names: Vec<(Option<&str>, bool, Option<&String>)> =
            image.variants.iter().map(|v| (v.name.as_deref(), v.default, v.args.get("VARIANT"))).collect();
        assert_eq!(
            names,
            [(Some("one"), true, Some(&"one".to_string())), (Some("two"), false, Some(&"two".to_string()))]
        );
        assert_eq!(image.tests[0].expect.stdout.as_deref(), Some("duo {VARIANT} {TARGETARCH}"));
        assert!(
            files[1].text.contains("ARG VARIANT\n") && files[1].text.contains("echo \"duo ${VARIANT} ${TARGETARCH}\"")
        );
    }

    #[test]
    fn from_a_parent_variant_declares_it_and_follows_the_parents_platforms() {
        let mut known = workspace();
        known[1].platforms = vec!["linux/amd64".to_string()];
        let files = generate_with("tool-plus", Some("tool:v1"), &[], &known).unwrap();
        let (image, findings) = check(&files, "tool");
        assert_eq!(findings, Vec::<String>::new());
        assert_eq!(image.depends_on[0].to_string(), "tool:v1");
        assert_eq!(image.platforms, ["linux/amd64"]);
        assert!(files[1].text.contains("ARG TOOL_IMAGE\nFROM ${TOOL_IMAGE}\n"));
    }

    #[test]
    fn without_from_the_workspace_base_is_used_or_the_fix_is_named() {
        // The one rootfs root, whatever its name.
        let debian = [known("debian", &[], true, true), known("app", &[], false, false)];
        let files = generate_with("hello", None, &[], &debian).unwrap();
        assert!(files[1].text.contains("FROM ${DEBIAN_IMAGE}"));
        // Among several, `base`.
        let several = [known("alpha", &[], true, true), known("base", &[], true, true)];
        assert!(generate_with("hello", None, &[], &several).unwrap()[1].text.contains("FROM ${BASE_IMAGE}"));
        let err = generate_with(
            "hello",
            None,
            &[],
            &several[..1].iter().cloned().chain([known("beta", &[], true, true)]).collect::<Vec<_>>(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "images/ has several base images (alpha, beta): pass `--from <image>` to choose one");
        // A root built on an outside image is no base: it may not build here.
        let err = generate_with("hello", None, &[], &[known("upstream", &[], true, false)]).unwrap_err().to_string();
        assert!(
            err.starts_with("images/ has no base image to build on") && err.contains("pass `--from <image>`"),
            "{err}"
        );
    }

    #[test]
    fn bad_names_parents_and_variants_are_refused_with_the_fix() {
        let ws = workspace();
        let err = |name: &str, from: Option<&str>| generate_with(name, from, &[], &ws).unwrap_err().to_string();
        assert!(err("Hello", None)
            .starts_with("\"Hello\" is not a valid image name: \"Hello\" breaks the OCI name grammar"));
        assert!(err("a__", None).contains("is not a valid image name"));
        assert!(err("acme/hello", None).contains("(e.g. \"hello\"), and set `repository = \"acme/hello\"`"));
        assert_eq!(
            err("base", None),
            "images/base already exists: choose another name (`new` never overwrites an image)"
        );
        let clash = generate_with(
            "my_app",
            Some("base"),
            &[],
            &[known("base", &[], true, true), known("my-app", &[], false, false)],
        );
        assert_eq!(
            clash.unwrap_err().to_string(),
            "\"my_app\" would reach its children as the build arg MY_APP_IMAGE, which images/my-app already uses: choose another name"
        );
        assert_eq!(
            err("hello", Some("bse")),
            "--from \"bse\": there is no image \"bse\" under images/\n  hint: did you mean \"base\"?"
        );
        assert_eq!(
            err("hello", Some("tool:v3")),
            "--from \"tool:v3\": image \"tool\" has no variant \"v3\"\n  hint: its variants are: v1, v2"
        );
        assert!(err("hello", Some("base:x")).ends_with("hint: base has no variants: write --from base"));
        assert_eq!(parse_variants(" one, two ").unwrap(), ["one", "two"]);
        assert!(parse_variants("one,,two").unwrap_err().to_string().contains("an empty name"));
        assert!(parse_variants("one,one").unwrap_err().to_string().contains("twice"));
        assert!(parse_variants("a b").unwrap_err().to_string().contains("variant name \"a b\" is invalid"));
    }

    #[test]
    fn the_schema_hint_points_at_the_generated_schema() {
        let platforms = both();
        let known = workspace();
        let files = generate(&Request {
            name: "hello",
            from: None,
            variants: vec![],
            known: &known,
            platforms: &platforms,
            schema_hint: true,
        })
        .unwrap();
        assert!(files[0].text.starts_with("#:schema ../../docs/image.schema.json\n"));
        assert!(check(&files, "base").1.is_empty());
    }
}
