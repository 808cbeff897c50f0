pub mod flags;
pub mod output;
