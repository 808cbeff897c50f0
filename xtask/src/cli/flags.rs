//! Every command-line argument of `cargo xtask`, in one place.
//!
//! Flags declared on `xtask` itself are accepted before or after the command
//! name, so the event flags mean the same thing for `plan`, `build` and every
//! later command that computes tags.

#![allow(unreachable_pub)]

use std::path::PathBuf;

xflags::xflags! {
    /// Build, tag, publish and verify the multi-arch images under images/.
    cmd xtask {
        /// Workspace root (default: the directory holding the top Cargo.toml).
        optional --root root: PathBuf
        /// Registry host[:port], overriding the workspace setting and XTASK_REGISTRY.
        optional --registry registry: String
        /// Output format: table (default), json; some commands add markdown, junit, github-matrix, sarif, github, bake or html.
        optional --format format: String
        /// Event to build for: release, branch, pull-request, manual or schedule (default: detected).
        optional --event event: String
        /// Release version X.Y.Z (default: image.toml `version`, else the release tag `release_tag` matches).
        optional --version version: String
        /// Branch name for branch tags (default: detected).
        optional --branch branch: String
        /// Commit SHA for `{sha}` (default: detected).
        optional --sha sha: String
        /// Pull-request number for `pr-N` tags (default: detected).
        optional --pr pr: u64
        /// Extra tag for every unit (repeatable); non-default variants get `TAG-VARIANT`.
        repeated --tag tag: String
        /// Deadline for the command's registry requests, retries and Retry-After waits included (default: 10m).
        optional --timeout timeout: String
        /// Docker context to build and test on, overriding `engine` and DOCKER_HOST (default: xtask).
        optional --engine engine: String

        default cmd help {}

        /// Print the resolved build units in dependency order.
        cmd plan {
            /// Images to plan, as NAME or NAME:VARIANT (default: all).
            repeated units: String
            /// Only the units whose files changed since this commit, and their children (every
            /// unit when a change outside images/ may touch them all, or REV is unknown).
            optional --changed-since rev: String
        }

        /// Build every platform with docker buildx, push, and publish manifest lists.
        cmd build {
            /// Images to build, as NAME or NAME:VARIANT (default: all).
            repeated units: String
            /// Build only this platform (repeatable; default: each image's platforms).
            repeated --platform platform: String
            /// Push and publish even for a pull request.
            optional --push
            /// Build only, publish nothing.
            optional --no-push
            /// Build the host platform only and load it into the local engine.
            optional --load
            /// Skip the Dockerfile policy checks that run before building.
            optional --no-lint
            /// Stop before building on lint warnings too, not only on errors.
            optional --deny-warnings
            /// Rebuild even when the registry already holds an image with the same inputs.
            optional --force
            /// Move tags even when another publisher moved them since this run started.
            optional --force-tags
            /// Keep building units that do not depend on a failed one.
            optional --keep-going
            /// How many platform builds run at once (default: the number of CPUs; emulated count double).
            optional -j, --jobs jobs: usize
            /// Build and push only, and record each unit's platform digests in FILE (for `publish`).
            optional --digest-file digest_file: PathBuf
            /// Build on the parents' platform images recorded in these digest files (earlier CI
            /// legs' `--digest-file`) instead of building the parents (repeatable).
            repeated --parents parents: PathBuf
            /// Set every timestamp to SOURCE_DATE_EPOCH (default: the commit's) and push the OCI
            /// export byte for byte, so a rebuild gives the same digests (containerd-store engine).
            optional --reproducible
        }

        /// Join digest files written by `build --digest-file` into manifest lists and move the tags.
        cmd publish {
            /// Marks the files that follow (for `publish --digests out/*.json`).
            optional --digests
            /// Digest files written by `build --digest-file`.
            repeated files: PathBuf
            /// Move tags even when another publisher moved them since this run started.
            optional --force-tags
        }

        /// Move every tag of a release back where it was, or delete tags that were new.
        cmd rollback {
            /// The release record to undo (default: the newest under target/xtask/releases).
            optional --record record: PathBuf
            /// Print the plan without changing the registry.
            optional --dry-run
        }

        /// Summarize target/xtask/metrics.jsonl: the last run and trends.
        cmd report {
            /// How many recent runs the trends cover (default: 20).
            optional --last last: usize
            /// With --format html: the page to write (default: target/xtask/report.html).
            optional --output output: PathBuf
        }

        /// Pulls per image, tag and platform from the registry's notifications; `serve` receives them.
        cmd analytics {
            /// `serve`: receive a registry's notifications on --listen (default: report).
            optional action: String
            /// Where `serve` listens (default: 127.0.0.1:5099).
            optional --listen listen: String
            /// Count the pulls from this day on (YYYY-MM-DD).
            optional --since since: String
        }

        /// List the units whose external base images moved since their published image was built.
        cmd outdated {
            /// Images to check, as NAME or NAME:VARIANT (default: all).
            repeated units: String
        }

        /// Check that the registry holds what the plan says: tags, platforms, digests, labels.
        cmd verify-manifests {
            /// Images to check, as NAME or NAME:VARIANT (default: all).
            repeated units: String
        }

        /// Report image sizes per unit and platform against the budgets in image.toml.
        cmd size {
            /// Images to measure, as NAME or NAME:VARIANT (default: all).
            repeated units: String
            /// Compare with a report saved by --save (a FILE) or with a published version (X.Y.Z).
            optional --baseline baseline: String
            /// Also write this report as JSON to FILE, for a later --baseline.
            optional --save save: PathBuf
        }

        /// Check each image's Dockerfiles against the image policy.
        cmd lint {
            /// Images to check, as NAME or NAME:VARIANT (default: all).
            repeated units: String
            /// Fail on warnings too, not only on errors.
            optional --deny-warnings
        }

        /// Run the tests declared in image.toml against each platform of each unit.
        cmd test {
            /// Images to test, as NAME or NAME:VARIANT (default: all).
            repeated units: String
            /// Test only this platform (repeatable; default: each image's platforms).
            repeated --platform platform: String
            /// Test what `build --load` put in the local engine instead of the published image.
            optional --local
            /// Also write the report, in the --format given, to FILE.
            optional --output output: PathBuf
            /// How many tests run at once (default: the number of CPUs).
            optional --jobs jobs: usize
        }

        /// Benchmarks with their baselines, measured in the same run.
        cmd bench {
            /// Which benchmark: verify, noop, bases, cache, parallel, bake, plan or compile.
            required benchmark: String
            /// Timed runs per side (the median is reported).
            optional --runs runs: usize
        }

                /// Scaffold a working image directory: image.toml, Dockerfile and a smoke test.
        cmd new {
            /// Directory name under images/.
            required name: String
            /// Build on this in-repo image (NAME or NAME:VARIANT).
            optional --from from: String
            /// Comma-separated variant names.
            optional --variants variants: String
        }

        /// Show each prerequisite, its version, what is wrong and the fix.
        cmd doctor {}

        /// Write docs/image-toml.md from the code (with --check: fail if it is out of date).
        cmd docs {
            optional --check
        }

        /// Write the JSON Schema of image.toml (with --check: fail if it is out of date).
        cmd schema {
            optional --check
        }

        /// Write ci/github/workflows/images.yml (with --check: fail if it is out of date).
        cmd ci-workflow {
            optional --check
            /// Run the committed workflow's jobs on this machine, in `needs` order, against the
            /// workspace's registry, for --event branch (default), pull-request, manual or schedule.
            optional --rehearse
        }

        /// SPDX SBOMs per unit and platform with syft, added to each index as attestations.
        cmd sbom {
            /// Images, as NAME or NAME:VARIANT (default: all).
            repeated units: String
        }

        /// Scan images with trivy or grype and fail on unallowed HIGH/CRITICAL findings.
        cmd scan {
            /// Images, as NAME or NAME:VARIANT (default: all).
            repeated units: String
            /// Judge this scanner report (JSON) instead of running a scanner.
            optional --report report: PathBuf
        }

        /// Make this host ready to build: engine, buildx, emulators, local registry.
        cmd provision {}

        /// Copy this xtask binary to DIR/xtask, for CI jobs that run it without compiling it.
        cmd install {
            required --dir dir: PathBuf
        }

        /// The project's own test command: provision, fmt, clippy, every test.
        cmd ci {}
    }
}

impl Xtask {
    /// The generated help text, for `cargo xtask` with no command.
    pub const HELP: &'static str = Self::HELP_;
}
