//! Hostile and malformed input: each case under `tests/bad-input/` runs the real binary,
//! which must exit with status 1, print nothing on stdout, not panic, and print exactly the
//! one error in the case's `expected.txt`.
//!
//! A case is a directory whose files are laid over a small valid workspace: `Cargo.toml`
//! replaces the workspace's, `image.toml` and `Dockerfile` those of `images/app`, and an
//! `images/` directory replaces all of `images/`. `args` holds the command line, one
//! argument per line (default: `plan`). What git cannot hold or should not (a 10 MB file,
//! a non-UTF-8 name, symlinks, a FIFO, an empty directory) is made by `generate`. In
//! `expected.txt`, `{root}` stands for the workspace and `{outside}` for a directory
//! outside it. `XTASK_BLESS=1` rewrites every `expected.txt` with what the binary printed.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use camino::{Utf8Path, Utf8PathBuf};

const DEFAULT_CARGO_TOML: &str =
    "[workspace]\n\n[workspace.metadata.images]\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n";
const DEFAULT_IMAGE_TOML: &str = "description = \"The valid image each case breaks\"\n";
const DEFAULT_DOCKERFILE: &str = "FROM scratch\nUSER 65534:65534\n";

/// Cases made at run time, by directory name.
const GENERATED: &[&str] = &[
    "toml-deep-nesting",
    "toml-deep-dotted-key",
    "symlinked-context",
    "symlinked-dockerfile",
    "symlinked-image-dir",
    "fifo-dockerfile",
    "empty-images-dir",
    "no-images-dir",
    "non-utf8-dir-name",
    "non-utf8-file-in-context",
    "non-utf8-image-toml",
    "non-utf8-dockerfile",
    "huge-image-toml",
    "huge-dockerfile",
    "huge-value-in-error",
    "too-many-variants",
    "too-many-tests",
    "regex-too-long",
];

fn generate(case: &str, root: &Utf8Path, outside: &Path) {
    let app = root.join("images/app");
    let write = |path: &Utf8Path, bytes: &[u8]| std::fs::write(path, bytes).unwrap();
    let symlink = |target: &Path, link: &Utf8Path| {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(target, link).unwrap();
    };
    match case {
        "toml-deep-nesting" => {
            write(&app.join("image.toml"), format!("description = {}\n", "[".repeat(50_000)).as_bytes())
        }
        "toml-deep-dotted-key" => {
            write(&app.join("image.toml"), format!("args.{}A = \"1\"\n", "x.".repeat(5_000)).as_bytes())
        }
        "symlinked-context" => symlink(Path::new("/etc"), &app.join("ctx")),
        "symlinked-dockerfile" => symlink(Path::new("/etc/passwd"), &app.join("Dockerfile")),
        "symlinked-image-dir" => {
            std::fs::write(outside.join("image.toml"), DEFAULT_IMAGE_TOML).unwrap();
            std::fs::write(outside.join("Dockerfile"), DEFAULT_DOCKERFILE).unwrap();
            std::fs::remove_dir_all(&app).unwrap();
            symlink(outside, &app);
        }
        "fifo-dockerfile" => {
            std::fs::remove_file(app.join("Dockerfile")).unwrap();
            common::run("mkfifo", &[app.join("Dockerfile").as_str()]);
        }
        "empty-images-dir" => std::fs::remove_dir_all(&app).unwrap(),
        "no-images-dir" => std::fs::remove_dir_all(root.join("images")).unwrap(),
        "non-utf8-dir-name" => {
            let dir = root.join("images").into_std_path_buf().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("image.toml"), "").unwrap();
        }
        "non-utf8-file-in-context" => {
            std::fs::write(app.into_std_path_buf().join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")), "").unwrap()
        }
        "non-utf8-image-toml" => write(&app.join("image.toml"), b"# Latin-1, not UTF-8\ndescription = \"caf\xe9\"\n"),
        "non-utf8-dockerfile" => write(&app.join("Dockerfile"), b"FROM scratch\nLABEL x=\"\xff\xfe\"\n"),
        "huge-image-toml" => {
            let line = format!("# {}\n", "x".repeat(1021));
            write(&app.join("image.toml"), line.repeat(10 * 1024).as_bytes())
        }
        "huge-dockerfile" => {
            let mut text = DEFAULT_DOCKERFILE.to_string();
            text.push_str(&format!("# {}\n", "x".repeat(1021)).repeat(2 * 1024));
            write(&app.join("Dockerfile"), text.as_bytes())
        }
        "huge-value-in-error" => {
            write(&app.join("image.toml"), format!("version = \"1.2.{}\"\n", "9".repeat(100_000)).as_bytes())
        }
        "too-many-variants" => {
            let variants: String =
                (0..65).map(|i| format!("[[variants]]\nname = \"v{i}\"\ndefault = {}\n", i == 0)).collect();
            write(&app.join("image.toml"), variants.as_bytes())
        }
        "too-many-tests" => {
            let tests: String =
                (0..300).map(|i| format!("[[tests]]\nname = \"t{i}\"\ncommand = [\"true\"]\n")).collect();
            write(&app.join("image.toml"), tests.as_bytes())
        }
        "regex-too-long" => {
            let regex = "(a|b)*c".repeat(1000);
            write(
                &app.join("image.toml"),
                format!("[[tests]]\nname = \"t\"\ncommand = [\"true\"]\nstdout_regex = \"{regex}\"\n").as_bytes(),
            )
        }
        other => panic!("no generator for {other}"),
    }
}

/// Lays the case's files over the default workspace at `root`.
fn lay_out(case: &Utf8Path, root: &Utf8Path) {
    let own = |name: &str| std::fs::read(case.join(name)).ok();
    std::fs::write(root.join("Cargo.toml"), own("Cargo.toml").as_deref().unwrap_or(DEFAULT_CARGO_TOML.as_bytes()))
        .unwrap();
    if case.join("images").is_dir() {
        copy_tree(&case.join("images"), &root.join("images"));
        return;
    }
    let app = root.join("images/app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("image.toml"), own("image.toml").as_deref().unwrap_or(DEFAULT_IMAGE_TOML.as_bytes()))
        .unwrap();
    std::fs::write(app.join("Dockerfile"), own("Dockerfile").as_deref().unwrap_or(DEFAULT_DOCKERFILE.as_bytes()))
        .unwrap();
}

fn copy_tree(from: &Utf8Path, to: &Utf8Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in from.read_dir_utf8().unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_case(case: &Utf8Path) -> Outcome {
    let name = case.file_name().unwrap();
    let root = common::scratch(&format!("bad-input-{name}"));
    let outside: PathBuf = std::fs::canonicalize(common::scratch(&format!("bad-input-{name}-outside"))).unwrap();
    lay_out(case, &root);
    if GENERATED.contains(&name) {
        generate(name, &root, &outside);
    }
    let args: Vec<String> = match std::fs::read_to_string(case.join("args")) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(_) => vec!["plan".to_string()],
    };
    let output = common::xtask_command()
        .env_remove("XTASK_REGISTRY")
        .arg("--root")
        .arg(&root)
        .args(&args)
        .output()
        .expect("running the xtask binary");
    let root = std::fs::canonicalize(&root).unwrap();
    let placeholders = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .replace(&outside.display().to_string(), "{outside}")
            .replace(&root.display().to_string(), "{root}")
    };
    Outcome { code: output.status.code(), stdout: placeholders(&output.stdout), stderr: placeholders(&output.stderr) }
}

#[test]
fn every_bad_input_fails_with_its_one_expected_error() {
    let corpus = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bad-input");
    let mut cases: Vec<Utf8PathBuf> =
        corpus.read_dir_utf8().unwrap().map(|e| e.unwrap().path().to_owned()).filter(|p| p.is_dir()).collect();
    cases.sort();
    for generated in GENERATED {
        assert!(cases.iter().any(|c| c.file_name() == Some(generated)), "tests/bad-input/{generated}/ is missing");
    }
    assert!(cases.len() >= 40, "the corpus shrank to {} cases", cases.len());

    let bless = std::env::var_os("XTASK_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap();
        let outcome = run_case(case);
        let expected_file = case.join("expected.txt");
        if bless {
            std::fs::write(&expected_file, &outcome.stderr).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
        let mut problems = Vec::new();
        if outcome.code != Some(1) {
            problems.push(format!("exit status {:?}, not 1", outcome.code));
        }
        if outcome.stderr.contains("panicked") {
            problems.push("it panicked".to_string());
        }
        if !outcome.stdout.is_empty() {
            problems.push(format!("it printed on stdout:\n{}", outcome.stdout));
        }
        if outcome.stderr != expected {
            problems.push(format!("stderr differs.\n--- expected\n{expected}--- actual\n{}", outcome.stderr));
        }
        if !outcome.stderr.starts_with("error: ") || outcome.stderr.matches("error: ").count() != 1 {
            problems.push("it is not exactly one error".to_string());
        }
        let names_a_file = ["error: images/", "error: Cargo.toml"].iter().any(|p| outcome.stderr.starts_with(p));
        if names_a_file && !outcome.stderr.contains("\n  hint: ") {
            problems.push("an error about a file has no hint".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
