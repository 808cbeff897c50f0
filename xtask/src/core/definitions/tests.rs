use super::*;

fn settings() -> Settings {
    validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\n").unwrap()
}

fn image(text: &str) -> Result<ImageDef, String> {
    validate_image(Utf8Path::new("images/orb/image.toml"), text, Utf8Path::new("images/orb"), &settings())
        .map_err(|e| e.to_string())
}

#[test]
fn settings_defaults_are_the_documented_ones() {
    let s = settings();
    assert_eq!(s.registry, "localhost:5000");
    assert_eq!(s.namespace, "");
    assert_eq!(s.platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(s.network, Network::None);
    assert_eq!(s.tags, TagTemplates::default());
}

#[test]
fn settings_override_and_validate() {
    let text = "[package]\nname = \"x\"\n[workspace.metadata.images]\nregistry = \"ghcr.io\"\nnamespace = \"acme/team\"\n[workspace.metadata.images.tags]\nbranch = [\"edge\"]\n";
    let s = validate_settings(Utf8Path::new("Cargo.toml"), text).unwrap();
    assert_eq!((s.registry.as_str(), s.namespace.as_str()), ("ghcr.io", "acme/team"));
    assert_eq!(s.tags.branch, ["edge"]);
    assert_eq!(s.tags.release, TagTemplates::default().release);

    let err = validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\nnamespace = \"Acme\"\n")
        .unwrap_err();
    assert_eq!(err.at, Some(LineCol { line: 2, col: 13 }));
    assert!(err.message.contains("invalid namespace"), "{err}");

    assert_eq!(settings().engine, "xtask");
    let engine =
        validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\nengine = \"desktop-linux\"\n");
    assert_eq!(engine.unwrap().engine, "desktop-linux");
    let err =
        validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\nengine = \"a b\"\n").unwrap_err();
    assert!(err.to_string().starts_with("Cargo.toml:2:10: invalid engine \"a b\""), "{err}");
    let hub = "[workspace.metadata.images]\nregistry = \"docker.io\"\nnamespace = \"acme\"\n";
    assert_eq!(validate_settings(Utf8Path::new("Cargo.toml"), hub).unwrap().registry, "docker.io");
    let err = validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\nregistry = \"docker.io\"\n")
        .unwrap_err();
    assert_eq!(err.at, Some(LineCol { line: 2, col: 12 }));
    assert!(err.message.contains("is Docker Hub") && err.to_string().contains("set `namespace`"), "{err}");
    assert_eq!(crate::core::plan::full_repository("docker.io", "", "app"), "docker.io/library/app");
    assert_eq!(crate::core::plan::full_repository("docker.io", "acme", "app"), "docker.io/acme/app");

    let err =
        validate_settings(Utf8Path::new("Cargo.toml"), "[workspace.metadata.images]\nregistyr = \"x\"\n").unwrap_err();
    assert_eq!(err.to_string(), "Cargo.toml:2:1: unknown key `registyr`\n  hint: did you mean `registry`? Valid keys here: registry, namespace, platforms, network, tags, release_tag, runners, builders, engine, cache_repository, ci, analytics");
}

#[test]
fn runners_and_builders_map_known_platforms_to_safe_names() {
    let s = settings();
    assert_eq!(s.runners["linux/amd64"], "ubuntu-24.04");
    assert_eq!(s.runners["linux/arm64"], "ubuntu-24.04-arm");
    assert!(s.builders.is_empty());

    let text =
        "[workspace.metadata.images.runners]\n\"linux/arm64\" = \"arm-box\"\n\"linux/arm/v7\" = \"ubuntu-24.04\"\n\
                [workspace.metadata.images.builders]\n\"linux/arm64\" = \"arm-native\"\n";
    let s = validate_settings(Utf8Path::new("Cargo.toml"), text).unwrap();
    let runners: Vec<(&str, &str)> = s.runners.iter().map(|(p, r)| (p.as_str(), r.as_str())).collect();
    assert_eq!(
        runners,
        [("linux/amd64", "ubuntu-24.04"), ("linux/arm/v7", "ubuntu-24.04"), ("linux/arm64", "arm-box")]
    );
    assert_eq!(s.builders, BTreeMap::from([("linux/arm64".to_string(), "arm-native".to_string())]));

    let err = |text: &str| validate_settings(Utf8Path::new("Cargo.toml"), text).unwrap_err().to_string();
    assert_eq!(
        err("[workspace.metadata.images.runners]\n\"linux/arm46\" = \"x\"\n"),
        "Cargo.toml:2:1: unknown platform \"linux/arm46\"\n  hint: did you mean \"linux/arm64\"? Known platforms: \
         linux/amd64, linux/arm64, linux/arm/v7, linux/arm/v6, linux/ppc64le, linux/s390x, linux/riscv64, linux/386"
    );
    assert_eq!(
        err("[workspace.metadata.images.runners]\n\"linux/arm64\" = \"${{ github.actor }}\"\n"),
        "Cargo.toml:2:17: invalid runner label \"${{ github.actor }}\" for linux/arm64\n  hint: use letters, \
         digits, `.`, `_` and `-`, starting with a letter or digit, e.g. \"ubuntu-24.04-arm\""
    );
    assert!(err("[workspace.metadata.images.builders]\n\"linux/amd64\" = \"\"\n")
        .starts_with("Cargo.toml:2:17: invalid builder name \"\" for linux/amd64"));
}

#[test]
fn scan_allowances_need_an_id_a_real_date_and_a_reason() {
    let img = image(
        "[[scan.allow]]\nid = \"CVE-2024-1234\"\nuntil = \"2027-01-31\"\nreason = \"no shell to reach it\"\n\
         [[scan.allow]]\nid = \"GHSA-abcd-1234-efgh\"\nuntil = 2028-02-29\nreason = \"test only\"\n",
    )
    .unwrap();
    let allow = &img.scan.allow;
    assert_eq!(allow[0].id, "CVE-2024-1234");
    assert_eq!(allow[0].until, Date { year: 2027, month: 1, day: 31 });
    assert_eq!(allow[0].at, "images/orb/image.toml:2:6");
    assert_eq!(allow[1].until.to_string(), "2028-02-29", "a TOML date works as well as a string");
    assert_eq!(image("").unwrap().scan, ScanPolicy::default());

    let entry = |id: &str, until: &str, reason: &str| {
        image(&format!("[[scan.allow]]\nid = {id}\nuntil = {until}\nreason = {reason}\n")).unwrap_err()
    };
    assert_eq!(
        entry("\"CVE-24-1\"", "\"2027-01-31\"", "\"r\""),
        "images/orb/image.toml:2:6: invalid vulnerability id \"CVE-24-1\": a CVE id is CVE-YYYY-NNNN (four or \
         more digits)\n  hint: write the id the scanner reports, e.g. \"CVE-2024-1234\" or \"GHSA-xxxx-xxxx-xxxx\""
    );
    assert!(entry("\"cve-2024-1234\"", "\"2027-01-31\"", "\"r\"").contains("upper-case source"));
    assert!(entry("\"CVE-2024-1234\"", "\"2027-02-29\"", "\"r\"")
        .starts_with("images/orb/image.toml:3:9: invalid `until`: \"2027-02-29\" is not a day: 2027-02 has 28 days"));
    assert!(entry("\"CVE-2024-1234\"", "\"31.01.2027\"", "\"r\"").contains("write YYYY-MM-DD"));
    assert!(entry("\"CVE-2024-1234\"", "2027-01-31T10:00:00", "\"r\"").contains("is not a plain date"));
    assert!(entry("\"CVE-2024-1234\"", "\"2027-01-31\"", "\" \"")
        .starts_with("images/orb/image.toml:4:10: the allowance of CVE-2024-1234 gives no reason"));
    let twice = image(
        "[[scan.allow]]\nid = \"CVE-2024-1234\"\nuntil = \"2027-01-31\"\nreason = \"a\"\n\
         [[scan.allow]]\nid = \"CVE-2024-1234\"\nuntil = \"2027-01-31\"\nreason = \"b\"\n",
    )
    .unwrap_err();
    assert!(
        twice.starts_with(
            "images/orb/image.toml:6:6: CVE-2024-1234 is allowed twice (first at images/orb/image.toml:2:6)"
        ),
        "{twice}"
    );
    let unknown = image("[[scan.allow]]\nid = \"CVE-2024-1234\"\nuntil = \"2027-01-31\"\nreson = \"x\"\n").unwrap_err();
    assert!(
        unknown.starts_with("images/orb/image.toml:4:1: unknown key `reson`\n  hint: did you mean `reason`?"),
        "{unknown}"
    );
}

#[test]
fn minimal_image_gets_workspace_defaults() {
    let img = image("").unwrap();
    assert_eq!(img.name, "orb");
    assert_eq!(img.repository, "orb");
    assert_eq!(img.dockerfile, "images/orb/Dockerfile");
    assert_eq!(img.context, "images/orb");
    assert_eq!(img.platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(img.variants.len(), 1);
    assert!(img.variants[0].default && img.variants[0].name.is_none());
}

#[test]
fn full_image_parses() {
    let img = image(
        r#"
description = "Python runtime"
licenses = " PSF-2.0 AND 0BSD "
repository = "tools/orb"
context = ".."
platforms = ["linux/arm64"]
version = "0.2.3"
depends_on = ["base", "debian:trixie"]
network = "host"
[args]
PIP_NO_CACHE = "1"
[[variants]]
name = "python3.12"
args = { PYTHON_VERSION = "3.12" }
depends_on = ["debian:bookworm"]
[[variants]]
name = "python3.13"
aliases = ["py3"]
dockerfile = "Dockerfile.313"
default = true
"#,
    )
    .unwrap();
    assert_eq!(img.repository, "tools/orb");
    assert_eq!(img.licenses.as_deref(), Some("PSF-2.0 AND 0BSD"), "trimmed");
    assert_eq!(img.context, "images");
    assert_eq!(img.network, Network::Host);
    assert_eq!(img.default_variant().name.as_deref(), Some("python3.13"));
    assert_eq!(img.default_variant().dockerfile, "images/orb/Dockerfile.313");
    assert_eq!(img.variant("python3.12").unwrap().dockerfile, "images/orb/Dockerfile");
    let deps: Vec<String> = img.variant("python3.12").unwrap().depends_on.iter().map(|d| d.to_string()).collect();
    assert_eq!(deps, ["base", "debian:bookworm"], "variant entries replace image entries for the same parent");
    let deps: Vec<String> = img.default_variant().depends_on.iter().map(|d| d.to_string()).collect();
    assert_eq!(deps, ["base", "debian:trixie"]);
}

#[test]
fn unknown_key_names_line_and_suggests() {
    let err = image("description = \"x\"\ndockerfil = \"Dockerfile\"\n").unwrap_err();
    assert!(
        err.starts_with("images/orb/image.toml:2:1: unknown key `dockerfil`\n  hint: did you mean `dockerfile`?"),
        "{err}"
    );
    let err = image("[[variants]]\nname = \"a\"\ndefault = true\nargz = {}\n").unwrap_err();
    assert!(err.starts_with("images/orb/image.toml:4:1: unknown key `argz`\n  hint: did you mean `args`?"), "{err}");
}

#[test]
fn semantic_errors_point_at_the_value() {
    let cases = [
        (
            "platforms = [\"linux/amd64\", \"linux/arm46\"]",
            "1:29",
            "unknown platform \"linux/arm46\"",
            "did you mean \"linux/arm64\"?",
        ),
        ("repository = \"My_Repo\"", "1:14", "invalid repository", "lowercase"),
        ("context = \"../../../etc\"", "1:11", "points outside the workspace", "keep it inside"),
        ("dockerfile = \"/etc/passwd\"", "1:14", "points outside the workspace", "relative to images/orb"),
        ("version = \"1.2\"", "1:11", "invalid version", "semantic versioning"),
        (
            "licenses = \"MIT/Apache-2.0\"",
            "1:12",
            "`licenses` is not an SPDX license expression: `/` is not allowed",
            "Apache-2.0 OR MIT",
        ),
        ("depends_on = [\"orb\"]", "1:15", "depends on itself", "remove it"),
        ("[args]\n\"BAD-NAME\" = \"1\"", "2:1", "invalid build arg name", "letters, digits"),
        ("[tags]\nrelease = [\"{vesion}\"]", "2:12", "invalid tag template", "placeholders"),
        (
            "[[variants]]\nname = \"a\"\ndefault = true\n[[variants]]\nname = \"b\"\ndefault = true",
            "6:11",
            "more than one variant is marked `default = true` (another at line 3)",
            "exactly one",
        ),
        (
            "[[variants]]\nname = \"a\"\n[[variants]]\nname = \"a\"\ndefault = true",
            "4:8",
            "variant name \"a\" is used twice (first at line 2)",
            "distinct",
        ),
        ("[[variants]]\nname = \"a b\"\ndefault = true", "2:8", "invalid variant name", "become tags"),
    ];
    for (text, at, message, hint) in cases {
        let err = image(text).unwrap_err();
        assert!(err.starts_with(&format!("images/orb/image.toml:{at}: ")), "{text:?} gave {err}");
        assert!(err.contains(message), "{text:?} gave {err}");
        assert!(err.contains(hint), "{text:?} gave {err}");
    }
}

#[test]
fn lint_allow_names_known_rules() {
    let img = image("[lint]\nallow = [\"root-user\", \"package-cache\"]\n").unwrap();
    assert_eq!(img.lint.allow, [crate::core::lint::Rule::RootUser, crate::core::lint::Rule::PackageCache]);
    assert_eq!(image("").unwrap().lint, LintPolicy::default());
    let err = image("[lint]\nallow = [\"healthcheck\", \"rot-user\"]\n").unwrap_err();
    assert!(
        err.starts_with("images/orb/image.toml:2:25: unknown lint rule \"rot-user\"\n  hint: did you mean `root-user`? Rules: root-user, healthcheck,"),
        "{err}"
    );
    let err = image("[lint]\nallow = [\"frobnicate\"]\n").unwrap_err();
    assert!(err.contains("hint: use one of: root-user,"), "{err}");
    let err = image("[lint]\nallow = [\"healthcheck\", \"healthcheck\"]\n").unwrap_err();
    assert!(err.starts_with("images/orb/image.toml:2:25: lint rule \"healthcheck\" is listed twice"), "{err}");
    let err = image("[lint]\nalow = []\n").unwrap_err();
    assert!(err.starts_with("images/orb/image.toml:2:1: unknown key `alow`\n  hint: did you mean `allow`?"), "{err}");
}

#[test]
fn missing_default_variant_and_type_errors() {
    let err = image("[[variants]]\nname = \"a\"\n").unwrap_err();
    assert_eq!(err, "images/orb/image.toml:2:8: no variant is marked `default = true`\n  hint: mark exactly one [[variants]] entry with `default = true`");
    let err = image("platforms = \"linux/amd64\"").unwrap_err();
    assert!(err.starts_with("images/orb/image.toml:1:13: invalid type"), "{err}");
    let err = image("description = \"x\n").unwrap_err();
    assert!(err.starts_with("images/orb/image.toml:1:"), "TOML syntax errors carry a position: {err}");
}

#[test]
fn size_budgets() {
    let img = image("[size]\nmax = \"150MB\"\nmax_growth = \"20%\"\nmax_arch_spread = \"12.5%\"\n").unwrap();
    assert_eq!(img.size, SizeBudget { max: Some(150_000_000), max_growth: Some(0.2), max_arch_spread: Some(0.125) });
    assert_eq!(parse_bytes("1.5GiB"), Ok(1_610_612_736));
    assert_eq!(parse_bytes("512"), Ok(512));
    let err = image("[size]\nmax = \"150 furlongs\"\n").unwrap_err();
    assert!(err.starts_with("images/orb/image.toml:2:7: invalid `max`") && err.contains("unknown unit"), "{err}");
    let err = image("[size]\nmax_growth = \"20\"\n").unwrap_err();
    assert!(err.starts_with("images/orb/image.toml:2:14: invalid `max_growth`"), "{err}");
    let err = image("[size]\nmax_grwoth = \"1%\"\n").unwrap_err();
    assert!(err.contains("did you mean `max_growth`?"), "{err}");
}

#[test]
fn secrets_record_where_each_value_is() {
    let img = image("[secrets]\nnpm = { env = \"NPM_TOKEN\" }\nnetrc = { file = \"~/.netrc\" }\nkey = { file = \"/run/k\" }\nsibling = { file = \"../shared/token\" }\n").unwrap();
    let secrets: Vec<(&str, &BuildSecret)> = img.secrets.iter().map(|(id, s)| (id.as_str(), s)).collect();
    assert_eq!(
        secrets,
        [
            ("key", &BuildSecret::File("/run/k".into())),
            ("netrc", &BuildSecret::File("~/.netrc".into())),
            ("npm", &BuildSecret::Env("NPM_TOKEN".into())),
            ("sibling", &BuildSecret::File("images/shared/token".into())),
        ]
    );
    let err = image("[secrets]\nt = { file = \"token.txt\" }\n").unwrap_err();
    assert!(
        err.starts_with(
            "images/orb/image.toml:2:14: secret file images/orb/token.txt is inside the build context images/orb"
        ),
        "{err}"
    );
    let err = image("context = \"../..\"\n[secrets]\nt = { file = \"../shared/token\" }\n").unwrap_err();
    assert!(err.contains("is inside the build context ."), "the whole workspace as context: {err}");
    let err = image("[secrets]\nt = { file = \"../../../token\" }\n").unwrap_err();
    assert!(err.contains("`file` \"../../../token\" points outside the workspace"), "{err}");
}

#[test]
fn repository_grammar() {
    for ok in ["a", "orb", "acme/orb", "a.b_c__d--e", "x/y/z0"] {
        assert_eq!(check_repository(ok), Ok(()), "{ok}");
    }
    for bad in ["", "A", "a_", "-a", "a//b", "a___b", "a..b", "a/", "a b", "a:b"] {
        assert!(check_repository(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn registry_hosts() {
    for ok in ["localhost:5000", "ghcr.io", "127.0.0.1:41234", "[::1]:5000", "registry-1.example.test"] {
        assert_eq!(check_registry_host(ok), Ok(()), "{ok}");
    }
    let bad = ["", "localhost:port", "a b", "host/path", "a..b", "-a.test", "a-.test", "myregistry", "[zz]:1", "r:+5"];
    for bad in bad {
        assert!(check_registry_host(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn tests_parse_with_defaults_filters_and_placeholders() {
    let img = image(
        r#"
[args]
PYTHON_VERSION = "3.13"
[[variants]]
name = "python3.13"
default = true
[[variants]]
name = "python3.12"
args = { PYTHON_VERSION = "3.12" }

[[tests]]
name = "python runs"
command = ["python3", "--version"]
stdout = "Python {PYTHON_VERSION}, not {{PYTHON_VERSION}}"
stdout_regex = '^Python \d+\.\d{2} on {TARGETARCH}$'
variants = ["python3.13"]
platforms = ["linux/arm64"]
timeout = "1m30s"

[[tests.files]]
path = "/usr/bin/python{PYTHON_VERSION}"
mode = "0755"
owner = "0:0"

[[tests.files]]
path = "/root/.cache"
exists = false

[tests.metadata]
user = "nonroot"
healthcheck = true
env = { LANG = "C.UTF-8" }
exposed_ports = ["5432", "53/udp"]
entrypoint = ["docker-entrypoint.sh"]

[[tests.service]]
env = { POSTGRES_PASSWORD = "test" }
wait = "log:ready to accept"
probe = ["psql", "-c", "SELECT 1"]
stdout = "1 row"

[[tests.service]]
wait = "delay:2s"

[[tests]]
name = "exit status"
command = ["sh", "-c", "exit 3"]
exit_code = 3
"#,
    )
    .unwrap();
    let [python, exit] = &img.tests[..] else { panic!("two tests: {:?}", img.tests) };
    assert_eq!(python.command.as_deref(), Some(&["python3".to_string(), "--version".to_string()][..]));
    assert_eq!(
        python.expect.stdout.as_deref(),
        Some("Python {PYTHON_VERSION}, not {{PYTHON_VERSION}}"),
        "filled per unit at run time"
    );
    assert_eq!(python.expect.exit_code, 0);
    assert_eq!(
        (python.variants.as_slice(), python.platforms.as_slice()),
        (&["python3.13".to_string()][..], &["linux/arm64".to_string()][..])
    );
    assert_eq!(python.timeout, Duration::from_secs(90));
    assert_eq!(
        python.files,
        [
            FileCheck {
                path: "/usr/bin/python{PYTHON_VERSION}".into(),
                exists: true,
                mode: Some(0o755),
                owner: Some((0, 0))
            },
            FileCheck { path: "/root/.cache".into(), exists: false, mode: None, owner: None },
        ]
    );
    let meta = python.metadata.as_ref().unwrap();
    assert_eq!((meta.user.as_deref(), meta.allow_root, meta.healthcheck), (Some("nonroot"), false, Some(true)));
    assert_eq!(meta.exposed_ports.as_deref(), Some(&["5432/tcp".to_string(), "53/udp".to_string()][..]));
    assert_eq!(python.services[0].wait, Wait::Log("ready to accept".into()));
    assert_eq!(python.services[0].expect.stdout.as_deref(), Some("1 row"));
    assert_eq!(python.services[1].wait, Wait::Delay(Duration::from_secs(2)));
    assert_eq!((exit.expect.exit_code, exit.timeout, exit.variants.len()), (3, DEFAULT_TEST_TIMEOUT, 0));
}

#[test]
fn test_errors_point_at_the_value() {
    let variants =
        "[[variants]]\nname = \"quiet\"\ndefault = true\n[[variants]]\nname = \"loud\"\nargs = { LOUDNESS = \"11\" }\n";
    let cases = [
        (
            "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nstdot = \"x\"",
            "stdot",
            "unknown key `stdot`",
            "did you mean `stdout`?",
        ),
        ("[[tests]]\nname = \"a\"\n[[tests.files]]\npth = \"/x\"", "pth", "unknown key `pth`", "did you mean `path`?"),
        ("[[tests]]\nname = \"a\"\n[tests.metadata]\nusr = \"1\"", "usr", "unknown key `usr`", "did you mean `user`?"),
        (
            "[[tests]]\nname = \"a\"\n[[tests.service]]\nprobes = [\"x\"]",
            "probes",
            "unknown key `probes`",
            "did you mean `probe`?",
        ),
        (
            "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nvariants = [\"luod\"]",
            "\"luod\"",
            "variant \"luod\", which the image does not have",
            "did you mean \"loud\"?",
        ),
        (
            "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nplatforms = [\"linux/arm46\"]",
            "\"linux/arm46\"",
            "platform \"linux/arm46\", which the image does not build for",
            "did you mean \"linux/arm64\"?",
        ),
        (
            "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nstdout_regex = \"a(\"",
            "\"a(\"",
            "invalid regex \"a(\"",
            "`regex` crate",
        ),
        (
            "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\ntimeout = \"30 sec\"",
            "\"30 sec\"",
            "invalid timeout \"30 sec\": unknown unit \" sec\"",
            "\"2m\"",
        ),
        (
            "[[tests]]\nname = \"a\"\n[[tests.files]]\npath = \"/x\"\nmode = \"0855\"",
            "\"0855\"",
            "invalid mode \"0855\"",
            "octal",
        ),
        (
            "[[tests]]\nname = \"a\"\n[[tests.files]]\npath = \"/x\"\nowner = \"root:root\"",
            "\"root:root\"",
            "invalid owner",
            "uid:gid",
        ),
        ("[[tests]]\nname = \"a\"\n[[tests.files]]\npath = \"x\"", "\"x\"", "is not absolute", "from `/`"),
        (
            "[[tests]]\nname = \"a\"\n[[tests.files]]\npath = \"/x\"\nexists = false\nmode = \"0755\"",
            "false",
            "`exists = false` with `mode`",
            "remove them",
        ),
        (
            "[[tests]]\nname = \"a\"\n[[tests.service]]\nwait = \"ready\"",
            "\"ready\"",
            "invalid wait \"ready\"",
            "log:<text>",
        ),
        (
            "[[tests]]\nname = \"a\"\n[[tests.service]]\nstdout = \"x\"",
            "\"x\"",
            "the service has no `probe`",
            "add `probe",
        ),
        (
            "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nstdout = \"{NOPE}\"",
            "\"{NOPE}\"",
            "`{NOPE}` is not a build arg of variant \"quiet\"",
            "`{{NOPE}}`",
        ),
        (
            "[[tests]]\nname = \"a\"\ncommand = [\"echo\", \"{LOUDNESS}\"]",
            "\"{LOUDNESS}\"",
            "`{LOUDNESS}` is not a build arg of variant \"quiet\"",
            "TARGETARCH",
        ),
        (
            "[[tests]]\nname = \"a\"\n[tests.metadata]\nuser = \"root\"",
            "\"root\"",
            "`user = \"root\"` is root",
            "allow_root = true",
        ),
        ("[[tests]]\nname = \"a\"\nstdout = \"x\"", "\"x\"", "the test has no `command`", "add `command"),
        ("[[tests]]\nname = \"a\"\ncommand = []", "[]", "`command` is empty", "argv"),
        ("[[tests]]\nname = \"a\"", "\"a\"", "test \"a\" checks nothing", "[[tests.files]]"),
        (
            "[[tests]]\nname = \"a\"\ncommand = [\"true\"]\n[[tests]]\nname = \"a\"\ncommand = [\"true\"]",
            "\"a\"\ncommand = [\"true\"]\n[[tests]]",
            "",
            "",
        ),
        ("[[tests]]\nname = \"a\"\ncommand = [\"true\"]\nexit_code = 300", "300", "invalid exit_code 300", "0 to 255"),
        (
            "[[tests]]\nname = \"a\"\n[tests.metadata]\nexposed_ports = [\"80/xtp\"]",
            "\"80/xtp\"",
            "invalid port \"80/xtp\": unknown protocol",
            "port[/proto]",
        ),
    ];
    for (tests, marker, message, hint) in cases {
        let text = format!("{variants}{tests}");
        let err = image(&text).unwrap_err();
        // The duplicate-name case points at the second name; every other at its first marker.
        let offset = if message.is_empty() { text.rfind("\"a\"").unwrap() } else { text.rfind(marker).unwrap() };
        let at = LineCol::of(&text, offset);
        let (message, hint) = if message.is_empty() {
            ("test name \"a\" is used twice (first at line 8)", "distinct")
        } else {
            (message, hint)
        };
        assert!(err.starts_with(&format!("images/orb/image.toml:{at}: ")), "{tests:?} gave {err}, expected at {at}");
        assert!(err.contains(message), "{tests:?} gave {err}");
        assert!(err.contains(hint), "{tests:?} gave {err}");
    }
}

#[test]
fn placeholders_substitute_names_and_leave_other_braces() {
    let args = BTreeMap::from([("V".to_string(), "3.13".to_string())]);
    let fill = |text: &str| substitute(text, |name| args.get(name).cloned());
    assert_eq!(fill("Python {V}"), Ok("Python 3.13".to_string()));
    assert_eq!(
        fill("{{V}} is {V}; a{2,3} {\"k\": 1} {} {1x}"),
        Ok("{V} is 3.13; a{2,3} {\"k\": 1} {} {1x}".to_string())
    );
    assert_eq!(fill("{W}"), Err("W".to_string()));
}

#[test]
fn durations_waits_modes_and_ports() {
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("1h1m1s"), Ok(Duration::from_secs(3661)));
    for bad in ["", "30", "s", "1.5s", "0s", "-1s", "1d"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
    }
    assert_eq!(parse_wait("healthy"), Ok(Wait::Healthy));
    assert_eq!(parse_wait("log:ready: yes"), Ok(Wait::Log("ready: yes".into())));
    assert_eq!(parse_wait("delay:2s"), Ok(Wait::Delay(Duration::from_secs(2))));
    assert!(parse_wait("log:").is_err() && parse_wait("delay:soon").is_err());
    assert_eq!((parse_mode("0755"), parse_mode("4755"), parse_mode("644")), (Ok(0o755), Ok(0o4755), Ok(0o644)));
    assert!(parse_mode("75").is_err() && parse_mode("0o755").is_err());
    assert_eq!(normalize_port("8080"), Ok("8080/tcp".to_string()));
    assert!(normalize_port("0").is_err() && normalize_port("70000/tcp").is_err());
    for root in ["", "0", "root", "0:0", "root:wheel"] {
        assert!(is_root_user(root), "{root:?}");
    }
    for user in ["65534", "nobody:nogroup", "1000:0"] {
        assert!(!is_root_user(user), "{user:?}");
    }
}

#[test]
fn rootfs_is_unpacked_packages_or_a_bootstrapped_suite_resolved_per_variant() {
    let packages = image("[rootfs]\npackages = [\"busybox-static\"]\n").unwrap();
    assert_eq!(packages.rootfs, Some(Rootfs::Packages(vec!["busybox-static".into()])));
    let debian = image(
        "[rootfs]\nsuite = \"{SUITE}\"\nslim = true\ninclude = [\"ca-certificates\"]\n\
         [[variants]]\nname = \"bookworm\"\ndefault = true\nargs = { SUITE = \"bookworm\" }\n\
         [[variants]]\nname = \"trixie\"\nargs = { SUITE = \"trixie\" }\n",
    )
    .unwrap();
    let rootfs = debian.rootfs.unwrap();
    let bootstrap = |suite: &str, variant: &str, slim, include: &[&str]| {
        let include = include.iter().map(|p| p.to_string()).collect();
        Rootfs::Mmdebstrap(Bootstrap {
            suite: suite.into(),
            variant: variant.into(),
            slim,
            include,
            mirror: None,
            security_mirror: None,
        })
    };
    let certificates = ["ca-certificates"];
    assert_eq!(rootfs, bootstrap("{SUITE}", "minbase", true, &certificates), "minbase unless told otherwise");
    assert_eq!(rootfs.resolve(&debian.variants[1].args), Ok(bootstrap("trixie", "minbase", true, &certificates)));
    assert_eq!(rootfs.resolve(&BTreeMap::new()), Err("SUITE".to_string()));
    let plain = image("[args]\nSUITE = \"trixie\"\n[rootfs]\nsuite = \"{SUITE}\"\nvariant = \"apt\"\n").unwrap();
    assert_eq!(plain.rootfs.unwrap().resolve(&plain.args), Ok(bootstrap("trixie", "apt", false, &[])));
    let serialized = serde_json::to_string(&bootstrap("trixie", "minbase", true, &certificates)).unwrap();
    assert_eq!(
        serialized,
        r#"{"mmdebstrap":{"suite":"trixie","variant":"minbase","slim":true,"include":["ca-certificates"]}}"#
    );
}

#[test]
fn rootfs_errors_point_at_the_key() {
    let cases = [
        ("[rootfs]\npackages = [\"busybox-static\"]\nsuite = \"bookworm\"\n", "3:9", "[rootfs] sets both `packages` and `suite`", "keep one"),
        ("[rootfs]\n", "1:1", "[rootfs] has neither `packages` nor `suite`", "suite = \"bookworm\""),
        ("[rootfs]\npackages = [\"busybox-static\"]\nslim = true\n", "3:8", "[rootfs] `slim` applies to a `suite`, not to `packages`", "remove `slim`"),
        ("[rootfs]\npackages = [\"busybox-static\"]\nvariant = \"apt\"\n", "3:11", "[rootfs] `variant` applies to a `suite`", "remove `variant`"),
        ("[rootfs]\npackages = [\"busybox-static\"]\ninclude = [\"curl\"]\n", "3:11", "[rootfs] `include` applies to a `suite`", "remove `include`"),
        ("[rootfs]\nsuite = \"bookworm\"\ninclude = [\"--hook-dir=/x\"]\n", "3:12", "invalid Debian package name \"--hook-dir=/x\"", "lowercase"),
        ("[rootfs]\nsuite = \"bookworm\"\nvariant = \"minbas\"\n", "3:11", "unknown mmdebstrap variant \"minbas\"", "did you mean \"minbase\"?"),
        ("[rootfs]\nsuite = \"Bookworm\"\n", "2:9", "invalid Debian suite \"Bookworm\"", "\"trixie\""),
        ("[rootfs]\nsuite = \"bookworm --include=x\"\n", "2:9", "invalid Debian suite", "codename"),
        ("[rootfs]\nsuite = \"{SUITE}\"\n", "2:9", "`{SUITE}` in [rootfs] `suite` is not a build arg of this image", "build args here: none"),
        (
            "[rootfs]\nsuite = \"{SUITE}\"\n[[variants]]\nname = \"a\"\ndefault = true\nargs = { SUITE = \"bookworm\" }\n[[variants]]\nname = \"b\"\n",
            "2:9",
            "`{SUITE}` in [rootfs] `suite` is not a build arg of variant \"b\"",
            "set SUITE in [args] or in the variant's `args`",
        ),
        (
            "[rootfs]\nsuite = \"{SUITE}\"\n[[variants]]\nname = \"a\"\ndefault = true\nargs = { SUITE = \"Sid\" }\n",
            "2:9",
            "invalid Debian suite \"Sid\" (for variant \"a\")",
            "codename",
        ),
        ("[rootfs]\nsuite = \"bookworm\"\nmirror = \"x\"\n", "3:10", "[rootfs] `mirror` \"x\" is not an http:// or https:// URL", "deb.debian.org"),
        ("[rootfs]\nsuite = \"bookworm\"\nsecurity_mirror = \"http://u:p@m.test/debian-security\"\n", "3:19", "[rootfs] `security_mirror` \"http://u:p@m.test/debian-security\" holds a login", "snapshot"),
        ("[rootfs]\nsuite = \"bookworm\"\nmirror = \"http://m.test/debian\\nSuites: x\"\n", "3:10", "[rootfs] `mirror` \"http://m.test/debian\\nSuites: x\" holds a space or a control character", "e.g."),
        ("[rootfs]\npackages = [\"busybox-static\"]\nmirror = \"http://m.test/debian\"\n", "3:10", "[rootfs] `mirror` applies to a `suite`", "remove `mirror`"),
        ("[rootfs]\nsuite = \"bookworm\"\nmirrors = \"x\"\n", "3:1", "unknown key `mirrors`", "mirror"),
    ];
    for (text, at, message, hint) in cases {
        let err = image(text).unwrap_err();
        let (first, rest) = err.split_once('\n').unwrap_or((&err, ""));
        assert!(first.starts_with(&format!("images/orb/image.toml:{at}: {message}")), "{text:?}: {err}");
        assert!(rest.starts_with("  hint: ") && rest.contains(hint), "{text:?}: {err}");
    }
}

#[test]
fn a_matrix_generates_its_variants() {
    let img = image(
        "[matrix]\naxes = { NODE = [\"20\", \"22\"], FLAVOUR = [\"slim\", \"full\"] }\nname = \"node{NODE}-{FLAVOUR}\"\n\
         default = \"node22-slim\"\nexclude = [{ NODE = \"20\", FLAVOUR = \"full\" }]\ndockerfile = \"Dockerfile.{FLAVOUR}\"\n\
         aliases = [\"{NODE}-{FLAVOUR}\"]\nrepository = \"node-{FLAVOUR}\"\n",
    )
    .unwrap();
    let names: Vec<&str> = img.variants.iter().filter_map(|v| v.name.as_deref()).collect();
    // Axes in name order (FLAVOUR, then NODE), the first varying slowest, values as listed;
    // node20-full is excluded.
    assert_eq!(names, ["node20-slim", "node22-slim", "node22-full"]);
    let default = img.default_variant();
    assert_eq!(default.name.as_deref(), Some("node22-slim"));
    assert_eq!(default.aliases, ["22-slim"]);
    assert_eq!(default.dockerfile, "images/orb/Dockerfile.slim");
    assert_eq!(default.repository, "node-slim");
    assert_eq!(default.args, BTreeMap::from([("FLAVOUR".into(), "slim".into()), ("NODE".into(), "22".into())]));
    assert_eq!(default.platforms, ["linux/amd64", "linux/arm64"]);
}

#[test]
fn matrix_errors_name_line_and_key() {
    let base = "[matrix]\naxes = { NODE = [\"20\", \"22\"] }\n";
    for (text, line, needle) in [
        (format!("{base}name = \"node{{NOD}}\"\ndefault = \"node22\"\n"), 3, "names {NOD}, which is not an axis"),
        (format!("{base}name = \"node\"\ndefault = \"node\"\n"), 3, "variant name \"node\" is used twice"),
        (format!("{base}name = \"node{{NODE}}\"\ndefault = \"node18\"\n"), 4, "which the matrix does not generate"),
        (
            format!("{base}name = \"node{{NODE}}\"\ndefault = \"node22\"\nexclude = [{{ OS = \"x\" }}]\n"),
            5,
            "names the axis OS, which the matrix does not have",
        ),
        (
            format!("{base}name = \"node{{NODE}}\"\ndefault = \"node22\"\nexclude = [{{ NODE = \"18\" }}]\n"),
            5,
            "NODE=\"18\", which is not a value of that axis",
        ),
        (
            "[[variants]]\nname = \"a\"\ndefault = true\n[matrix]\naxes = { N = [\"1\"] }\nname = \"n{N}\"\ndefault = \"n1\"\n"
                .to_string(),
            4,
            "either [matrix] or [[variants]], not both",
        ),
    ] {
        let err = image(&text).unwrap_err();
        assert!(err.starts_with(&format!("images/orb/image.toml:{line}:")), "{err}\n--- {text}");
        assert!(err.contains(needle) && err.contains("hint:"), "{err}");
    }
    let values: Vec<String> = (0..17).map(|i| format!("\"{i}\"")).collect();
    let wide = format!(
        "[matrix]\naxes = {{ A = [{0}], B = [{0}] }}\nname = \"x{{A}}-{{B}}\"\ndefault = \"x0-0\"\n",
        values.join(", ")
    );
    assert!(image(&wide).unwrap_err().contains("more than 256 combinations"));
}

#[test]
fn variants_build_a_subset_of_platforms_into_their_own_repository() {
    let img = image(
        "[[variants]]\nname = \"standard\"\ndefault = true\n[[variants]]\nname = \"chrome\"\n\
         platforms = [\"linux/amd64\"]\nrepository = \"runner-chrome\"\n",
    )
    .unwrap();
    let chrome = img.variant("chrome").unwrap();
    assert_eq!(
        (chrome.platforms.as_slice(), chrome.repository.as_str()),
        (&["linux/amd64".to_string()][..], "runner-chrome")
    );
    assert_eq!(img.default_variant().repository, "orb");
    let err = image(
        "platforms = [\"linux/amd64\"]\n[[variants]]\nname = \"a\"\ndefault = true\nplatforms = [\"linux/arm64\"]\n",
    )
    .unwrap_err();
    assert!(
        err.starts_with("images/orb/image.toml:5:") && err.contains("builds for linux/arm64, which the image does not"),
        "{err}"
    );
}

#[test]
fn a_matrix_entry_may_build_fewer_platforms() {
    let img = image(
        "[matrix]\naxes = { FLAVOUR = [\"slim\", \"chrome\"] }\nname = \"{FLAVOUR}\"\ndefault = \"slim\"\n\
         [[matrix.platforms_for]]\nwhen = { FLAVOUR = \"chrome\" }\nplatforms = [\"linux/amd64\"]\n",
    )
    .unwrap();
    assert_eq!(img.variant("chrome").unwrap().platforms, ["linux/amd64"]);
    assert_eq!(img.variant("slim").unwrap().platforms, ["linux/amd64", "linux/arm64"]);
    let err = image(
        "[matrix]\naxes = { FLAVOUR = [\"slim\"] }\nname = \"{FLAVOUR}\"\ndefault = \"slim\"\n\
         [[matrix.platforms_for]]\nwhen = { FLAVOUR = \"chrome\" }\nplatforms = [\"linux/amd64\"]\n",
    )
    .unwrap_err();
    assert!(
        err.starts_with("images/orb/image.toml:5:") && err.contains("FLAVOUR=\"chrome\", which is not a value"),
        "{err}"
    );
}

#[test]
fn tests_take_run_options_and_services_take_companions() {
    let text = "[[tests]]\nname = \"writes only to tmpfs\"\ncommand = [\"touch\", \"/run/x\"]\n\
        env = { TZ = \"UTC\" }\nuser = \"65534:65534\"\ntmpfs = [\"/run:size=1m,mode=1777\"]\n\
        shm_size = \"256m\"\nread_only = true\nnetwork = \"host\"\n\
        [[tests]]\nname = \"pools\"\n[[tests.service]]\nenv = { DB = \"127.0.0.1\" }\nprobe = [\"true\"]\n\
        [[tests.service.companion]]\nunit = \"postgres\"\nenv = { POSTGRES_PASSWORD = \"x\" }\nwait = \"log:ready\"\n\
        [[tests.service.companion]]\nunit = \"cache:slim\"\n";
    let orb = image(text).unwrap();
    let run = &orb.tests[0].run;
    assert_eq!(run.env, BTreeMap::from([("TZ".to_string(), "UTC".to_string())]));
    assert_eq!((run.user.as_deref(), run.shm_size.as_deref()), (Some("65534:65534"), Some("256m")));
    assert_eq!(
        (run.tmpfs.as_slice(), run.read_only, run.network),
        (&["/run:size=1m,mode=1777".to_string()][..], true, TestNetwork::Host)
    );
    let service = &orb.tests[1].services[0];
    assert_eq!((service.run.network, service.run.env["DB"].as_str()), (TestNetwork::None, "127.0.0.1"));
    let companions: Vec<(&str, &Wait)> = service.companions.iter().map(|c| (c.unit.as_str(), &c.wait)).collect();
    assert_eq!(companions, [("postgres", &Wait::Log("ready".into())), ("cache:slim", &Wait::Healthy)]);
    assert_eq!(service.companions[0].run.env["POSTGRES_PASSWORD"], "x");

    let err = |extra: &str| image(&format!("[[tests]]\nname = \"t\"\ncommand = [\"true\"]\n{extra}")).unwrap_err();
    let first_line = |e: String| e.lines().next().unwrap_or_default().to_string();
    assert_eq!(first_line(err("network = \"bridge\"\n")), "images/orb/image.toml:4:11: invalid network \"bridge\"");
    assert_eq!(first_line(err("user = \"-u0\"\n")), "images/orb/image.toml:4:8: invalid user \"-u0\"");
    assert!(err("tmpfs = [\"run\"]\n").contains("4:10: invalid tmpfs mount \"run\": the path is not absolute"));
    assert!(err("shm_size = \"1.5g\"\n").contains("4:12: invalid shm_size \"1.5g\""));
    let companion = image("[[tests]]\nname = \"t\"\n[[tests.service]]\n[[tests.service.companion]]\nunit = \"--rm\"\n");
    assert!(companion.unwrap_err().starts_with("images/orb/image.toml:5:8: invalid companion unit \"--rm\""));
    let network = image(
        "[[tests]]\nname = \"t\"\n[[tests.service]]\n[[tests.service.companion]]\nunit = \"pg\"\nnetwork = \"host\"\n",
    );
    assert!(network.unwrap_err().contains("unknown key `network`"), "companions join the service's network");
}
