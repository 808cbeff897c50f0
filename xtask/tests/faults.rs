//! Fault injection against the real engine and registry: each test asserts the
//! registry's state before and after the fault.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use camino::Utf8Path;
use common::{engine_lock, fixture, replace_in, xtask, xtask_ok, TestRegistry};

/// Tags of `repository` other than the staging, input-digest and cache tags builds push.
fn final_tags(registry: &TestRegistry, repository: &str) -> Vec<String> {
    let mut tags: Vec<String> = registry
        .client()
        .tags(repository)
        .unwrap()
        .into_iter()
        .filter(|t| !t.starts_with("staging-") && !t.starts_with("inputs-") && !t.starts_with("buildcache-"))
        .collect();
    tags.sort();
    tags
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn an_unreachable_registry_stops_the_build_before_anything_is_built() {
    // Preflight looks at the emulators, which another test switches off for a while.
    let _engine = engine_lock();
    let root = fixture("arm-fails");
    let output = xtask(&root, "registry.invalid:5000", &["build"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error:\n{text}");
    assert!(errors[0].starts_with("error: registry registry.invalid:5000 is unreachable"), "{text}");
    assert!(!text.contains("started"), "nothing was built:\n{text}");
    assert!(
        !root.join("target/xtask/logs").exists() || root.join("target/xtask/logs").read_dir().unwrap().count() == 0
    );
}

#[test]
fn a_stopped_docker_daemon_is_one_clear_error() {
    let root = fixture("arm-fails");
    let registry = TestRegistry::start("no-daemon");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["--root", root.as_str(), "--registry", &registry.host, "build"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output).trim(), "error: docker daemon is not running: run `cargo xtask provision`");
}

#[test]
fn a_registry_killed_between_push_and_publish_leaves_no_tag_and_a_rerun_completes() {
    let _engine = engine_lock();
    let mut registry = TestRegistry::start("killed");
    let root = fixture("arm-fails");
    let release = ["--event", "release", "--version", "2.0.0"];
    let digests = root.join("digests");
    // The CI fan-out: each platform is built and pushed on its own, recording its digest.
    for (platform, file) in [("linux/amd64", "amd64.json"), ("linux/arm64", "arm64.json")] {
        let file = digests.join(file);
        let mut args = release.to_vec();
        args.extend(["build", "--platform", platform, "--digest-file", file.as_str()]);
        xtask_ok(&root, &registry.host, &args);
    }
    assert_eq!(final_tags(&registry, "fragile"), Vec::<String>::new(), "pushing platforms moves no tag");

    registry.stop();
    let publish = |registry: &TestRegistry| {
        let mut args = release.to_vec();
        let (a, b) = (digests.join("amd64.json"), digests.join("arm64.json"));
        args.extend(["publish", "--digests", a.as_str(), b.as_str()]);
        xtask(&root, &registry.host, &args)
    };
    let failed = publish(&registry);
    assert!(!failed.status.success(), "publishing to a dead registry fails");

    // Nothing could be written to a stopped registry; what a registry that dies between two
    // tag moves leaves is `a_registry_killed_between_two_tag_moves_…`'s to check.
    assert!(stderr(&failed).contains("unreachable") || stderr(&failed).contains("refused"), "{}", stderr(&failed));
    registry.restart();
    let done = publish(&registry);
    assert!(done.status.success(), "the re-run completes:\n{}", stderr(&done));
    assert_eq!(final_tags(&registry, "fragile"), ["2", "2.0", "2.0.0", "latest"]);
    let mut verify = release.to_vec();
    verify.push("verify-manifests");
    xtask_ok(&root, &registry.host, &verify);
}

#[test]
fn an_unwritable_release_record_refuses_the_publish_before_any_tag_moves() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("no-record");
    let root = fixture("arm-fails");
    xtask_ok(&root, &registry.host, &["--event", "release", "--version", "1.0.0", "build"]);
    let before = registry.client().manifest("fragile", "latest").unwrap().unwrap().digest;

    // A file where the records' directory must go: creating it fails, as on a full or read-only disk.
    let releases = root.join("target/xtask/releases");
    std::fs::remove_dir_all(&releases).unwrap();
    std::fs::write(&releases, "not a directory").unwrap();
    replace_in(
        &root.join("images/fragile/Dockerfile"),
        "USER 65534:65534",
        "RUN echo changed > /changed\nUSER 65534:65534",
    );
    let output = xtask(&root, &registry.host, &["--event", "release", "--version", "1.1.0", "build"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("writing the release record; no tag was moved"), "{}", stderr(&output));
    assert_eq!(final_tags(&registry, "fragile"), ["1", "1.0", "1.0.0", "latest"], "no 1.1 tag exists");
    assert_eq!(registry.client().manifest("fragile", "latest").unwrap().unwrap().digest, before, "latest did not move");
}

#[test]
fn rollback_restores_the_previous_release_and_removes_new_tags() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("rollback");
    let root = fixture("arm-fails");
    let client = registry.client();
    xtask_ok(&root, &registry.host, &["--event", "release", "--version", "1.0.0", "build"]);
    let v1 = client.manifest("fragile", "latest").unwrap().unwrap().digest;

    replace_in(
        &root.join("images/fragile/Dockerfile"),
        "USER 65534:65534",
        "RUN echo two > /release\nUSER 65534:65534",
    );
    xtask_ok(&root, &registry.host, &["--event", "release", "--version", "1.1.0", "build"]);
    let v2 = client.manifest("fragile", "latest").unwrap().unwrap().digest;
    assert_ne!(v1, v2);
    assert_eq!(final_tags(&registry, "fragile"), ["1", "1.0", "1.0.0", "1.1", "1.1.0", "latest"]);

    let dry = xtask_ok(&root, &registry.host, &["rollback", "--dry-run"]);
    assert!(dry.contains("move back to") && dry.contains("Dry run"), "{dry}");
    assert_eq!(client.manifest("fragile", "latest").unwrap().unwrap().digest, v2, "a dry run changes nothing");

    xtask_ok(&root, &registry.host, &["rollback"]);
    assert_eq!(client.manifest("fragile", "latest").unwrap().unwrap().digest, v1, "latest is back on 1.0.0");
    assert_eq!(client.manifest("fragile", "1").unwrap().unwrap().digest, v1);
    assert_eq!(final_tags(&registry, "fragile"), ["1", "1.0", "1.0.0", "latest"], "the tags new in 1.1.0 are gone");
}

#[test]
fn ctrl_c_stops_the_build_moves_no_tag_and_leaves_nothing_running() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("interrupt");
    let root = fixture("arm-fails");
    // Published first, so that "no tag moved" is a statement about tags that exist.
    let release = ["--event", "release", "--version", "1.0.0", "build"];
    xtask_ok(&root, &registry.host, &release);
    let before = tag_digests(&registry, "fragile");
    replace_in(&root.join("images/fragile/Dockerfile"), "USER 65534:65534", "RUN sleep 300\nUSER 65534:65534");

    let mut child = common::xtask_command()
        .args(["--root", root.as_str(), "--registry", &registry.host])
        .args(release)
        .env("XTASK_CACHE_DIR", Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xtask/cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = root.join("target/xtask/logs/fragile-amd64.log");
    wait_for(
        || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("sleep 300")),
        "the build to reach its slow step",
    );
    // The docker driver starts no container: the step's own process is what runs in the engine.
    let sleeping = || {
        let found = Command::new("pgrep").args(["-f", "^sleep 300$"]).output().unwrap();
        !found.stdout.is_empty()
    };
    wait_for(sleeping, "the slow step to run in the engine");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    // The event, not the clock: had the interrupt waited for the 300 s step, buildx would have
    // logged that step's end (`#N DONE 300.0s`) before exiting.
    let text = std::fs::read_to_string(&log).unwrap();
    let step = text
        .lines()
        .find(|l| l.contains("RUN sleep 300"))
        .and_then(|l| l.split_whitespace().next())
        .filter(|step| step.starts_with('#'))
        .unwrap_or_else(|| panic!("no step for `RUN sleep 300` in the log:\n{text}"))
        .to_string();
    assert!(
        !text.lines().any(|l| l.starts_with(&format!("{step} DONE"))),
        "the interrupt waited for the 300 s step to finish:\n{text}"
    );
    assert!(err.contains("Interrupted"), "{err}");
    assert_eq!(tag_digests(&registry, "fragile"), before, "no tag moved");
    let buildx_left = Command::new("pgrep").args(["-f", &format!("buildx build.*{}", root.as_str())]).output().unwrap();
    assert!(buildx_left.stdout.is_empty(), "a buildx process outlived the interrupt");
    // The engine gave the step up too: BuildKit ends it when its client goes.
    wait_for(|| !sleeping(), "the interrupted RUN step to end in the engine");
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_unregistered_arm64_emulator_is_caught_before_any_build() {
    let _engine = engine_lock();
    let entry = Utf8Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64");
    assert!(entry.exists(), "the arm64 emulator is registered (run `cargo xtask provision`)");
    /// Registers the emulator again however the test ends, as `provision` would.
    struct Reregister;
    impl Drop for Reregister {
        fn drop(&mut self) {
            let status = Command::new("update-binfmts").args(["--enable", "qemu-aarch64"]).status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "re-registering qemu-aarch64 failed: run `cargo xtask provision`"
            );
        }
    }
    let _reregister = Reregister;
    std::fs::write(entry, "-1").unwrap(); // unregisters it
    let registry = TestRegistry::start("no-emulator");
    let root = fixture("arm-fails");
    let output = xtask(&root, &registry.host, &["build"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim(),
        "error: linux/arm64 needs the qemu-aarch64 emulator, which is not enabled: run `cargo xtask provision`"
    );
    assert_eq!(final_tags(&registry, "fragile"), Vec::<String>::new());
}

#[test]
fn a_second_run_in_one_workspace_is_refused_while_the_first_holds_the_lock() {
    let root = fixture("arm-fails");
    let registry = TestRegistry::start("locked");
    // The test holds the lock as a running `build` would, with that build's line in it.
    let target = root.join("target/xtask");
    std::fs::create_dir_all(&target).unwrap();
    let mut held =
        std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(target.join("run.lock")).unwrap();
    held.lock().unwrap();
    std::io::Write::write_all(&mut held, b"`cargo xtask build` (pid 4242, since 2026-12-01T10:00:00Z)\n").unwrap();
    for args in [&["build"][..], &["publish", "--digests", "none.json"], &["rollback"], &["sbom"]] {
        let output = xtask(&root, &registry.host, args);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {text}");
        assert_eq!(
            text.trim(),
            format!(
                "error: `cargo xtask build` (pid 4242, since 2026-12-01T10:00:00Z) holds {target}/run.lock: wait for it \
                 to finish, or stop it; two runs in one workspace would interleave its logs, digest files and release \
                 records"
            ),
            "{args:?}"
        );
    }
    // What only reads runs beside it.
    xtask_ok(&root, &registry.host, &["plan"]);
    let dry_run = stderr(&xtask(&root, &registry.host, &["rollback", "--dry-run"]));
    assert!(dry_run.contains("no release records") && !dry_run.contains("run.lock"), "{dry_run}");
    // Released, the lock is taken again (a killed holder releases it the same way).
    drop(held);
    let output = xtask(&root, &registry.host, &["publish", "--digests", "none.json"]);
    assert!(!stderr(&output).contains("run.lock"), "{}", stderr(&output));
}

/// Every final tag of `repository` and the digest it names.
fn tag_digests(registry: &TestRegistry, repository: &str) -> Vec<(String, String)> {
    let client = registry.client();
    final_tags(registry, repository)
        .into_iter()
        .map(|tag| {
            let digest = client.manifest(repository, &tag).unwrap().unwrap().digest;
            (tag, digest)
        })
        .collect()
}

#[test]
fn a_publish_killed_at_any_step_converges_on_a_rerun_and_rolls_back_exactly() {
    use std::os::unix::process::ExitStatusExt;
    let _engine = engine_lock();
    let registry = TestRegistry::start("crash-points");
    let root = fixture("arm-fails");
    let release = ["--event", "release", "--version", "1.0.0", "build"];
    xtask_ok(&root, &registry.host, &release);
    let dockerfile = root.join("images/fragile/Dockerfile");
    // After the index is pushed and verified, after the record, and between tag moves (of four).
    for (round, point) in ["after-index", "after-record", "after-tag-1", "after-tag-3"].into_iter().enumerate() {
        let before = tag_digests(&registry, "fragile");
        assert_eq!(before.len(), 4, "{before:?}");
        replace_in(&dockerfile, "USER 65534:65534", &format!("RUN echo {round} > /round\nUSER 65534:65534"));
        let killed = common::xtask_with_env(&root, &registry.host, &release, &[("XTASK_CRASH_AT", point)]);
        assert_eq!(killed.status.signal(), Some(9), "{point}: {}", stderr(&killed));
        // Each tag names its old index or the new one, which was verified before any tag moved.
        let partial = tag_digests(&registry, "fragile");
        let moved = partial.iter().zip(&before).filter(|(now, was)| now.1 != was.1).count();
        let expected = match point {
            "after-tag-1" => 1,
            "after-tag-3" => 3,
            _ => 0,
        };
        assert_eq!(moved, expected, "{point}: {partial:?}");
        // verify-manifests passes, or, with the tags split between two indexes, says so.
        let verify = xtask(&root, &registry.host, &["--event", "release", "--version", "1.0.0", "verify-manifests"]);
        let report = String::from_utf8_lossy(&verify.stdout).into_owned();
        match expected {
            0 => assert!(verify.status.success(), "{point}: {report}"),
            _ => assert!(!verify.status.success() && report.contains(" point at sha256:"), "{point}: {report}"),
        }
        // A rerun (the lock died with the killed run) completes the release.
        xtask_ok(&root, &registry.host, &release);
        let after = tag_digests(&registry, "fragile");
        let new = &after[0].1;
        assert!(after.iter().all(|(_, digest)| digest == new), "{point}: one index under every tag: {after:?}");
        assert!(before.iter().all(|(_, digest)| digest != new), "{point}: the release moved every tag");
        let known = |(tag, digest): &(String, String)| digest == new || before.contains(&(tag.clone(), digest.clone()));
        assert!(partial.iter().all(known), "{point}: a tag named neither index: {partial:?}");
        // Undoing it restores exactly what each tag named before either run.
        xtask_ok(&root, &registry.host, &["rollback"]);
        assert_eq!(tag_digests(&registry, "fragile"), before, "{point}: rollback");
    }
}

/// A tmpfs mounted at `dir` for as long as it lives, filled to the last block, as a full disk.
struct FullDisk {
    dir: camino::Utf8PathBuf,
}

impl FullDisk {
    fn mount(dir: &Utf8Path) -> FullDisk {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.as_str()]).status();
        assert!(mounted.unwrap().success(), "mounting a tmpfs at {dir}");
        let disk = FullDisk { dir: dir.to_owned() };
        // Fill it: writes stop at ENOSPC.
        let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
        while std::io::Write::write_all(&mut filler, &[0u8; 4096]).is_ok() {}
        drop(filler);
        disk
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.as_str()).status();
    }
}

#[test]
fn a_full_disk_moves_no_tag_and_names_the_path() {
    let _engine = engine_lock();
    let registry = TestRegistry::start("disk-full");
    let root = fixture("arm-fails");
    let release = |version| ["--event", "release", "--version", version, "build"];
    xtask_ok(&root, &registry.host, &release("1.0.0"));
    let before = tag_digests(&registry, "fragile");
    replace_in(&root.join("images/fragile/Dockerfile"), "USER 65534:65534", "RUN echo full > /full\nUSER 65534:65534");

    // The release records' disk is full: everything builds and the index is pushed, but the
    // record cannot be written, so no tag moves.
    let releases = root.join("target/xtask/releases");
    let full = FullDisk::mount(&releases);
    let output = xtask(&root, &registry.host, &release("1.1.0"));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("writing the release record; no tag was moved"), "{text}");
    assert!(text.contains(&format!("{releases}/")) && text.contains("No space left on device"), "{text}");
    assert_eq!(tag_digests(&registry, "fragile"), before, "no tag moved");
    drop(full);

    // The whole of target/xtask is full: one sentence naming the file, before anything builds.
    let target = root.join("target/xtask");
    let _full = FullDisk::mount(&target);
    let output = xtask(&root, &registry.host, &release("1.1.0"));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("error:")).count(), 1, "{text}");
    assert!(text.contains(&format!("{target}/run.lock")) && text.contains("No space left on device"), "{text}");
    assert!(!text.contains("started"), "nothing was built:\n{text}");
    assert_eq!(tag_digests(&registry, "fragile"), before, "no tag moved");
}

#[test]
fn a_registry_killed_between_two_tag_moves_is_completed_by_a_rerun_and_rolled_back_exactly() {
    let _engine = engine_lock();
    let mut registry = TestRegistry::start("killed-between-tags");
    let root = fixture("arm-fails");
    let release = ["--event", "release", "--version", "1.0.0", "build"];
    xtask_ok(&root, &registry.host, &release);
    let before = tag_digests(&registry, "fragile");
    replace_in(
        &root.join("images/fragile/Dockerfile"),
        "USER 65534:65534",
        "RUN echo again > /again\nUSER 65534:65534",
    );

    // The publish stops after its second tag move; the registry is killed there; it resumes.
    let pause = root.join("paused");
    let mut child = common::xtask_command()
        .args(["--root", root.as_str(), "--registry", &registry.host])
        .args(release)
        .env("XTASK_CACHE_DIR", Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xtask/cache"))
        .env("XTASK_PAUSE_AT", "after-tag-2")
        .env("XTASK_PAUSE_FILE", pause.as_str())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| pause.exists(), "the publish to reach its second tag move");
    registry.stop();
    std::fs::remove_file(&pause).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "the third move fails on the dead registry:\n{err}");
    assert!(err.contains("a publish stopped between its tag moves"), "the summary does not claim no tag moved:\n{err}");
    assert!(err.contains("2 of 4 tag(s) moved before this failure (latest, 1.0.0), and 1.0 may have too"), "{err}");
    assert!(err.contains("`cargo xtask rollback`"), "{err}");

    // Back up: two tags moved, two did not, and a rerun completes the release.
    registry.restart();
    let partial = tag_digests(&registry, "fragile");
    assert_eq!(partial.iter().zip(&before).filter(|(now, was)| now.1 != was.1).count(), 2, "{partial:?}");
    xtask_ok(&root, &registry.host, &release);
    let after = tag_digests(&registry, "fragile");
    let new = &after[0].1;
    assert!(after.iter().all(|(_, digest)| digest == new), "{after:?}");
    assert!(partial.iter().all(|(tag, digest)| digest == new || before.contains(&(tag.clone(), digest.clone()))));
    // One rollback restores what every tag named before either run.
    xtask_ok(&root, &registry.host, &["rollback"]);
    assert_eq!(tag_digests(&registry, "fragile"), before);
    // It is on record, naming the index it undid, for the change failure rate (`report`).
    let metrics = std::fs::read_to_string(root.join("target/xtask/metrics.jsonl")).unwrap();
    let (runs, _) = xtask::core::metrics::parse(&metrics);
    let undone: Vec<&str> = runs
        .iter()
        .filter(|r| r.command == "rollback")
        .flat_map(|r| r.units.iter().filter_map(|u| u.digest.as_deref()))
        .collect();
    assert_eq!(undone, [new.as_str()], "{metrics}");
}
