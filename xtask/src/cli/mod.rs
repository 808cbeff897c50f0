pub mod exit;
pub mod flags;
pub mod format;
pub mod format_check;
pub mod help;
pub mod output;
pub mod preflight;
