//! The Basic `Authorization` value; the challenges and token replies it answers are parsed in
//! `oci::distribution`.

use super::*;

pub(super) fn basic_authorization(username: &str, password: &str) -> String {
    format!("Basic {}", BASE64_STANDARD.encode(format!("{username}:{password}")))
}
