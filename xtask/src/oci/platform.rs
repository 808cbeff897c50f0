//! Platforms, `os/architecture[/variant]`, and how a declared one matches what an image says.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/architecture[/variant]` as image.toml and buildx write it (names were checked
    /// against the known platforms when the definitions were read).
    pub fn parse(name: &str) -> Platform {
        let mut parts = name.splitn(3, '/');
        let os = parts.next().unwrap_or_default().to_string();
        let architecture = parts.next().unwrap_or_default().to_string();
        Platform { os, architecture, variant: parts.next().map(str::to_string) }
    }

    /// `linux/arm64`, `linux/arm/v7`.
    pub fn name(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// Whether an image config's platform is the declared one (a variant is compared when declared).
pub fn platform_matches(declared: &str, actual: &Platform) -> bool {
    let declared = Platform::parse(declared);
    declared.os == actual.os
        && declared.architecture == actual.architecture
        && (declared.variant.is_none() || declared.variant == actual.variant)
}

/// The file name `build` writes into a `[rootfs]` image's context for `platform`:
/// `arm64.tar`, `armv7.tar`.
pub fn tarball_name(platform: &str) -> String {
    let platform = Platform::parse(platform);
    format!("{}{}.tar", platform.architecture, platform.variant.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_on_os_architecture_and_declared_variant() {
        let p = |arch: &str, variant: Option<&str>| Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
        };
        assert!(platform_matches("linux/arm64", &p("arm64", Some("v8"))));
        assert!(platform_matches("linux/arm/v7", &p("arm", Some("v7"))));
        assert!(!platform_matches("linux/arm/v7", &p("arm", Some("v6"))));
        assert!(!platform_matches("linux/arm64", &p("amd64", None)));
    }
}
