//! Platforms, `os/architecture[/variant]`, and how a declared one matches what an image says.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
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
    let mut parts = declared.splitn(3, '/');
    let (os, architecture, variant) = (parts.next(), parts.next(), parts.next());
    os == Some(actual.os.as_str())
        && architecture == Some(actual.architecture.as_str())
        && (variant.is_none() || variant == actual.variant.as_deref())
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
