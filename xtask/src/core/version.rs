//! Semantic versions `X.Y.Z[-pre][+build]`, as release tags and `version` keys write them.

/// A semantic version `X.Y.Z[-pre][+build]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Option<String>,
    /// `X.Y.Z[-pre]`: the version as a tag, without build metadata.
    pub tag: String,
    /// The version as written (less a leading `v`), build metadata included: the label's value.
    pub full: String,
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, String> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let (core, build) = match text.split_once('+') {
            Some((c, b)) => (c, Some(b)),
            None => (text, None),
        };
        let (core, pre) = match core.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (core, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        let [major, minor, patch] = numbers.as_slice() else {
            return Err("expected MAJOR.MINOR.PATCH".to_string());
        };
        let number = |s: &str| -> Result<u64, String> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
                return Err(format!("{s:?} is not a version number"));
            }
            s.parse().map_err(|_| format!("{s:?} is too large"))
        };
        let ident_ok = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        };
        if pre.is_some_and(|p| !ident_ok(p)) || build.is_some_and(|b| !ident_ok(b)) {
            return Err("pre-release and build parts are dot-separated [0-9A-Za-z-] identifiers".to_string());
        }
        Ok(Version {
            major: number(major)?,
            minor: number(minor)?,
            patch: number(patch)?,
            pre: pre.map(str::to_string),
            tag: core_and_pre(text).to_string(),
            full: text.to_string(),
        })
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some()
    }

    /// What orders releases: a stable version beats its pre-releases (pre-releases among
    /// themselves are not ordered further).
    pub fn precedence(&self) -> (u64, u64, u64, bool) {
        (self.major, self.minor, self.patch, self.pre.is_none())
    }
}

/// `X.Y.Z[-pre]` of a version text, without its `+build` part.
fn core_and_pre(text: &str) -> &str {
    text.split_once('+').map_or(text, |(version, _)| version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parsing() {
        let v = Version::parse("v1.2.3-rc.1").unwrap();
        assert_eq!(
            (v.major, v.minor, v.patch, v.pre.as_deref(), v.tag.as_str()),
            (1, 2, 3, Some("rc.1"), "1.2.3-rc.1")
        );
        for bad in ["1.2", "1.2.3.4", "01.2.3", "1.x.3", "1.2.3-", "1.2.3-a..b", ""] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
    }
}
