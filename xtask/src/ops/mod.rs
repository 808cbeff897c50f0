pub mod attest;
pub mod bases;
pub mod build;
pub mod digest_file;
pub mod image_tests;
pub mod lint;
pub mod observe;
pub mod publish;
