pub mod exit;
pub mod flags;
pub mod format;
pub mod help;
pub mod output;
pub mod preflight;
