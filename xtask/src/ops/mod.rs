pub mod build;
pub mod publish;
