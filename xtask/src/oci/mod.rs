pub mod digest;
pub mod manifest;
pub mod platform;
pub mod reference;
