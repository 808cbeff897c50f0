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
        /// Output format: table (default) or json.
        optional --format format: String
        /// Event to build for: release, branch, pull-request or manual (default: detected).
        optional --event event: String
        /// Release version X.Y.Z (default: image.toml `version`, else the git tag vX.Y.Z).
        optional --version version: String
        /// Branch name for branch tags (default: detected).
        optional --branch branch: String
        /// Commit SHA for `{sha}` (default: detected).
        optional --sha sha: String
        /// Pull-request number for `pr-N` tags (default: detected).
        optional --pr pr: u64
        /// Extra tag for every unit (repeatable); non-default variants get `TAG-VARIANT`.
        repeated --tag tag: String

        default cmd help {}

        /// Print the resolved build units in dependency order.
        cmd plan {
            /// Images to plan, as NAME or NAME:VARIANT (default: all).
            repeated units: String
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
        }

        /// Make this host ready to build: engine, buildx, emulators, local registry.
        cmd provision {}

        /// The project's own test command: provision, fmt, clippy, every test.
        cmd ci {}
    }
}

impl Xtask {
    /// The generated help text, for `cargo xtask` with no command.
    pub const HELP: &'static str = Self::HELP_;
}
