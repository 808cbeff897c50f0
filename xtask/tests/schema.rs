//! The generated image.toml reference and JSON Schema: current in the repository, accepted by
//! a real JSON Schema validator for every image.toml here, and `--check` failing when stale.

mod common;

use camino::{Utf8Path, Utf8PathBuf};
use common::{fixture, scratch, xtask, xtask_ok};

fn repository_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// check-jsonschema (installed by `cargo xtask provision`) on TOML files, as an editor sees them.
fn check_jsonschema(schema: &Utf8Path, files: &[Utf8PathBuf]) -> std::process::Output {
    std::process::Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(schema)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("running check-jsonschema ({e}): run `cargo xtask provision` first"))
}

/// The image.toml of every image directory under `images`.
fn image_tomls(images: &Utf8Path) -> Vec<Utf8PathBuf> {
    let mut files: Vec<Utf8PathBuf> =
        images.read_dir_utf8().unwrap().map(|e| e.unwrap().path().join("image.toml")).filter(|f| f.is_file()).collect();
    files.sort();
    files
}

#[test]
fn the_committed_reference_and_schema_are_current_and_fit_every_image() {
    let root = repository_root();
    assert_eq!(xtask_ok(&root, "localhost:5000", &["docs", "--check"]).trim(), "docs/image-toml.md is up to date");
    assert_eq!(
        xtask_ok(&root, "localhost:5000", &["schema", "--check"]).trim(),
        "docs/image.schema.json is up to date"
    );

    let mut files = image_tomls(&root.join("images"));
    for fixture in root.join("xtask/tests/fixtures").read_dir_utf8().unwrap() {
        let images = fixture.unwrap().path().join("images");
        if images.is_dir() {
            files.extend(image_tomls(&images));
        }
    }
    assert!(files.len() > 5, "{files:?}");
    let schema = root.join("docs/image.schema.json");
    let valid = check_jsonschema(&schema, &files);
    assert!(
        valid.status.success(),
        "{}{}",
        String::from_utf8_lossy(&valid.stdout),
        String::from_utf8_lossy(&valid.stderr)
    );

    // What an editor flags: a misspelt key, a value out of its choices or range.
    let typo = scratch("schema-typo").join("image.toml");
    std::fs::write(&typo, "descripton = \"x\"\nnetwork = \"bridge\"\n[[tests]]\nname = \"t\"\nexit_code = 300\n")
        .unwrap();
    let invalid = check_jsonschema(&schema, &[typo]);
    let report = String::from_utf8_lossy(&invalid.stdout);
    assert!(!invalid.status.success());
    for complaint in ["'descripton' was unexpected", "'bridge' is not one of", "300 is greater than the maximum of 255"]
    {
        assert!(report.contains(complaint), "{complaint:?} not in {report}");
    }
}

#[test]
fn check_fails_when_stale_and_writing_fixes_it() {
    let root = fixture("test-bad");
    for (command, file) in [("docs", "docs/image-toml.md"), ("schema", "docs/image.schema.json")] {
        let stale = xtask(&root, "localhost:5000", &[command, "--check"]);
        assert_eq!(stale.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&stale.stderr);
        assert!(
            stderr.contains(&format!("{file} is out of date")) && stderr.contains(&format!("`cargo xtask {command}`"))
        );
        assert_eq!(xtask_ok(&root, "localhost:5000", &[command]).trim(), format!("wrote {file}"));
        xtask_ok(&root, "localhost:5000", &[command, "--check"]);
        std::fs::write(root.join(file), "edited by hand\n").unwrap();
        assert!(!xtask(&root, "localhost:5000", &[command, "--check"]).status.success());
    }
    // Both come from the code alone: the same bytes as the repository's.
    xtask_ok(&root, "localhost:5000", &["docs"]);
    let repository = repository_root();
    assert_eq!(
        std::fs::read_to_string(root.join("docs/image-toml.md")).unwrap(),
        std::fs::read_to_string(repository.join("docs/image-toml.md")).unwrap()
    );
}
