pub mod build;
pub mod digest_file;
pub mod lint;
pub mod observe;
pub mod publish;
