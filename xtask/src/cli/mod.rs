pub mod exit;
pub mod flags;
pub mod format;
pub mod output;
