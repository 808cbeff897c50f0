//! `[secrets]` end to end: a build step of `fixtures/secret` checks two secrets (an
//! environment variable and a file) against their SHA-256, so the build only succeeds when
//! buildx handed both over. Then the values are looked for everywhere this run wrote: the
//! build's stdout and stderr, `target/xtask/` (logs, metadata, release records), the image
//! config with its labels, the plan, and the output of a failing build.

mod common;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use camino::Utf8Path;
use common::{engine_lock, fixture, scratch, xtask, xtask_with_env, TestRegistry};
use xtask::oci::digest::sha256_digest;

/// A value no file of the repository can hold: random for each run.
fn secret_value(name: &str) -> String {
    let random = |salt: u64| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.finish()
    };
    format!("{name}-{:016x}{:016x}", random(std::process::id().into()), random(0))
}

/// Every file below `dir` that holds `needle`.
fn files_containing(dir: &Utf8Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = dir.read_dir_utf8() else { return found };
    for entry in entries {
        let path = entry.unwrap().path().to_owned();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains(needle) {
            found.push(path.to_string());
        }
    }
    found
}

fn assert_no_leak(what: &str, text: &str, values: &[&str]) {
    for value in values {
        assert!(!text.contains(value), "{what} shows a secret value:\n{text}");
    }
}

#[test]
fn secrets_reach_the_build_step_and_nothing_else() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("secrets");
    let root = fixture("secret");
    let env_value = secret_value("env-secret");
    let file_value = secret_value("file-secret");
    let secret_file = scratch("secret-file").join("token");
    std::fs::write(&secret_file, &file_value).unwrap();
    let toml = root.join("images/vault/image.toml");
    let hash = |value: &str| sha256_digest(value.as_bytes()).trim_start_matches("sha256:").to_string();
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace("ENV_VALUE_SHA256 = \"written by the test\"", &format!("ENV_VALUE_SHA256 = \"{}\"", hash(&env_value)))
        .replace(
            "FILE_VALUE_SHA256 = \"written by the test\"",
            &format!("FILE_VALUE_SHA256 = \"{}\"", hash(&file_value)),
        )
        .replace("/nonexistent/xtask-test/file-token", secret_file.as_str());
    std::fs::write(&toml, text).unwrap();
    let build = ["--branch", "main", "--sha", "1111111", "build"];
    let values = [env_value.as_str(), file_value.as_str()];

    // Missing or empty: refused before anything builds, naming the secret and the variable.
    let output = xtask(&root, &registry.host, &build);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "error: images/vault/image.toml: secret \"token\" of vault: the environment variable XTASK_TEST_TOKEN is not set\n  \
             hint: provide it before building, or change [secrets] in images/vault/image.toml"
        ),
        "{stderr}"
    );
    let output = xtask_with_env(&root, &registry.host, &build, &[("XTASK_TEST_TOKEN", "")]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("XTASK_TEST_TOKEN is empty"));

    // A wrong value fails the step; its error output shows neither that value nor the file's.
    let wrong = secret_value("wrong-secret");
    let output = xtask_with_env(&root, &registry.host, &build, &[("XTASK_TEST_TOKEN", &wrong)]);
    assert!(!output.status.success(), "the build step accepted a wrong secret");
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(all.contains("--mount=type=secret,id=token"), "the failure shows the step:\n{all}");
    assert_no_leak("a failing build's output", &all, &[&wrong, &file_value]);

    // The right values: the step saw both secrets, since it compares their hashes.
    let output = xtask_with_env(&root, &registry.host, &build, &[("XTASK_TEST_TOKEN", &env_value)]);
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the build failed:\n{all}");
    assert_no_leak("the build's output", &all, &values);
    let logs = root.join("target/xtask/logs");
    assert!(logs.read_dir_utf8().unwrap().count() > 0, "the build wrote no log");
    for value in values {
        let leaks = files_containing(&root.join("target/xtask"), value);
        assert!(leaks.is_empty(), "target/xtask holds a secret value in {leaks:?}");
    }

    // The published image: its config (labels, history, environment) holds neither value.
    let client = registry.client();
    let index = client.manifest("vault", "main").unwrap().expect("vault:main was published");
    for entry in &index.body.manifests {
        let image = client.manifest("vault", &entry.digest).unwrap().unwrap();
        let config_digest = image.body.config.unwrap().digest;
        let config = client.config("vault", &config_digest).unwrap();
        assert_no_leak("the image labels", &format!("{:?}", config.labels()), &values);
        assert_no_leak(
            "the image config",
            &String::from_utf8_lossy(&client.blob("vault", &config_digest).unwrap()),
            &values,
        );
    }

    // The plan names where the secrets come from, never what they are.
    let plan =
        xtask_with_env(&root, &registry.host, &["--format", "json", "plan"], &[("XTASK_TEST_TOKEN", &env_value)]);
    let plan = String::from_utf8(plan.stdout).unwrap();
    assert!(plan.contains("\"token\": {\n        \"env\": \"XTASK_TEST_TOKEN\"\n      }"), "{plan}");
    assert_no_leak("the plan", &plan, &values);
}
