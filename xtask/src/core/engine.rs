//! Which engine a run talks to, and what an engine can do: decided from what docker reports,
//! never from a version number.

/// Docker context names as `docker context create` accepts them.
pub fn check_context_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if !first_ok
        || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
        || name.len() > 64
    {
        return Err(
            "a context name starts with a letter or digit and holds only letters, digits and `_.+-`".to_string()
        );
    }
    Ok(())
}

/// How this run's docker commands find their engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `DOCKER_CONTEXT` for every docker command (and no `DOCKER_HOST`).
    Context(String),
    /// The user's `DOCKER_HOST` or `DOCKER_CONTEXT` stays as it is.
    Environment(String),
}

/// `--engine` wins; then a `DOCKER_HOST` or `DOCKER_CONTEXT` the user set (a CI runner's or
/// Docker Desktop's engine); then the workspace's `engine`.
pub fn choose(flag: Option<&str>, docker_host: Option<&str>, docker_context: Option<&str>, setting: &str) -> Choice {
    let set = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_string);
    if let Some(flag) = set(flag) {
        return Choice::Context(flag);
    }
    if let Some(host) = set(docker_host) {
        return Choice::Environment(format!("DOCKER_HOST={host}"));
    }
    if let Some(context) = set(docker_context) {
        return Choice::Environment(format!("DOCKER_CONTEXT={context}"));
    }
    Choice::Context(setting.to_string())
}

/// What an engine can do for a build, from `docker info` and `docker buildx inspect`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// The containerd image store: multi-platform images in the local store, OCI media types,
    /// attestations, registry cache export with the docker driver.
    pub containerd_store: bool,
    /// The platforms its BuildKit can build (natively or emulated).
    pub platforms: Vec<String>,
}

impl Capabilities {
    /// `docker info --format '{{json .DriverStatus}}'` and the builder's platforms.
    pub fn from_reports(driver_status: &str, platforms: Vec<String>) -> Capabilities {
        Capabilities { containerd_store: driver_status.contains("io.containerd.snapshotter"), platforms }
    }

    pub fn image_store(&self) -> &'static str {
        if self.containerd_store {
            "containerd"
        } else {
            "classic"
        }
    }

    /// The features a build may use, each with whether this engine has it.
    pub fn features(&self) -> Vec<(&'static str, bool)> {
        let multi = self.platforms.len() > 1;
        vec![
            ("multi-platform", multi),
            ("registry cache export", self.containerd_store),
            ("attestations", self.containerd_store),
            ("named contexts", self.containerd_store),
            ("multi-platform local store", self.containerd_store),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_users_docker_variables_then_the_setting() {
        assert_eq!(choose(Some("default"), Some("unix:///x"), None, "xtask"), Choice::Context("default".into()));
        assert_eq!(
            choose(None, Some("tcp://127.0.0.1:2375"), Some("desktop"), "xtask"),
            Choice::Environment("DOCKER_HOST=tcp://127.0.0.1:2375".into())
        );
        assert_eq!(
            choose(None, Some(""), Some("desktop"), "xtask"),
            Choice::Environment("DOCKER_CONTEXT=desktop".into())
        );
        assert_eq!(choose(Some(""), None, None, "xtask"), Choice::Context("xtask".into()));
    }

    #[test]
    fn context_names_and_capabilities() {
        for ok in ["xtask", "default", "desktop-linux", "remote.arm64"] {
            assert_eq!(check_context_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-x", "a b", "a/b", "$(id)"] {
            assert!(check_context_name(bad).is_err(), "{bad}");
        }
        let modern = Capabilities::from_reports(
            r#"[["driver-type","io.containerd.snapshotter.v1"]]"#,
            vec!["linux/amd64".into(), "linux/arm64".into()],
        );
        assert_eq!((modern.image_store(), modern.features().iter().all(|(_, has)| *has)), ("containerd", true));
        let classic = Capabilities::from_reports(
            r#"[["Backing Filesystem","extfs"],["Supports d_type","true"]]"#,
            vec!["linux/amd64".into()],
        );
        assert_eq!(classic.image_store(), "classic");
        assert!(classic.features().iter().all(|(_, has)| !*has));
    }
}
