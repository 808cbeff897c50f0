pub mod attestation;
pub mod digest;
pub mod distribution;
pub mod layout;
pub mod manifest;
pub mod platform;
pub mod reference;
