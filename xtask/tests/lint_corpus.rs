//! Lint regression corpus: real-world-style Dockerfiles under `tests/fixtures/lint-corpus/`,
//! one directory each (the directory is the build context; its `.dockerignore` applies),
//! linted as a unit building linux/amd64 and linux/arm64 in the workspace registry
//! `localhost:5000` with namespace `acme`, where `localhost:5000/acme/base` is the in-repo
//! image `base` (build arg `BASE_IMAGE`, running as a non-root user, no HEALTHCHECK). An
//! optional `args` file holds build args, `NAME=value` a line. `expected.txt` is the exact
//! list of findings; `XTASK_BLESS=1` rewrites it with what lint found (review the diff).

use std::collections::BTreeMap;

use camino::Utf8PathBuf;
use xtask::core::lint::{lint, Inherited, LintContext, User};

const MIN_CASES: usize = 30;

fn context(dir: &camino::Utf8Path) -> LintContext {
    let args: BTreeMap<String, String> = std::fs::read_to_string(dir.join("args"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    LintContext {
        allow: Vec::new(),
        args,
        platforms: vec!["linux/amd64".to_string(), "linux/arm64".to_string()],
        parents: BTreeMap::from([(
            "BASE_IMAGE".to_string(),
            Inherited { user: Some(User::NonRoot), healthcheck: false },
        )]),
        in_repo: BTreeMap::from([("localhost:5000/acme/base".to_string(), "BASE_IMAGE".to_string())]),
        context: Utf8PathBuf::from(format!("lint-corpus/{}", dir.file_name().unwrap())),
        files: xtask::sys::context::list_files(dir).unwrap(),
        dockerignore: std::fs::read_to_string(dir.join(".dockerignore")).ok(),
        rootfs: false,
    }
}

#[test]
fn every_corpus_dockerfile_has_exactly_its_expected_findings() {
    let corpus = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint-corpus");
    let mut cases: Vec<Utf8PathBuf> = corpus
        .read_dir_utf8()
        .unwrap()
        .map(|e| e.unwrap().path().to_owned())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= MIN_CASES, "the corpus shrank to {} Dockerfiles", cases.len());
    let bless = std::env::var_os("XTASK_BLESS").is_some();
    let mut failures = Vec::new();
    let mut findings_total = 0;
    for case in &cases {
        let name = case.file_name().unwrap();
        let text = std::fs::read_to_string(case.join("Dockerfile")).unwrap();
        let file = Utf8PathBuf::from(format!("lint-corpus/{name}/Dockerfile"));
        let findings = lint(&file, &text, &context(case));
        findings_total += findings.len();
        let actual: String = findings.iter().map(|f| format!("{f}\n")).collect();
        let expected_file = case.join("expected.txt");
        if bless {
            std::fs::write(&expected_file, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
        if actual != expected {
            failures.push(format!("{name}:\n--- expected\n{expected}--- actual\n{actual}"));
        }
    }
    println!("lint corpus: {} Dockerfiles, {findings_total} findings", cases.len());
    assert!(failures.is_empty(), "{} of {} cases differ:\n\n{}", failures.len(), cases.len(), failures.join("\n"));
}
