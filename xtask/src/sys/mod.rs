pub mod apt;
pub mod definitions;
pub mod metrics;
pub mod provision;
pub mod registry;
pub mod rootfs;
pub mod workspace;
