//! Registry credentials as docker finds them: `config.json` auths, credential stores and
//! helpers, keyed by `host[:port]`.

use super::*;

/// A login for one registry. Its Debug output names the user and the origin, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: Secret,
    /// The config file or helper it came from, named in errors.
    pub origin: String,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Sent as Basic auth, to the registry or to its token service.
    Password(String),
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user), traded for tokens.
    IdentityToken(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Secret::Password(_) => "Password(<redacted>)",
            Secret::IdentityToken(_) => "IdentityToken(<redacted>)",
        })
    }
}

/// Where docker keeps logins: `config.json` in a config directory, and the `PATH` on which
/// its `docker-credential-*` helpers are found. Explicit, so tests need not change the
/// process's environment.
#[derive(Debug, Clone)]
pub struct CredentialSource {
    pub config_dir: PathBuf,
    pub helper_path: OsString,
}

/// The parts of docker's `config.json` that hold logins.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct AuthEntry {
    /// base64 of `user:password`.
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// docker-credential-helpers' answer when nothing is stored for a server.
pub(super) const HELPER_NOT_FOUND: &str = "credentials not found";

impl CredentialSource {
    /// Where docker looks: `$DOCKER_CONFIG`, else `~/.docker`; helpers on `$PATH`.
    pub fn from_env() -> CredentialSource {
        let config_dir = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker"),
        };
        CredentialSource { config_dir, helper_path: std::env::var_os("PATH").unwrap_or_default() }
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.json")
    }

    /// The login for `host`, or `None` for anonymous access: the host's `credHelpers` helper,
    /// else its `auths` entry if that holds credentials, else the `credsStore` helper.
    pub fn lookup(&self, host: &str) -> Result<Option<Credentials>> {
        let path = self.config_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let config: DockerConfig = serde_json::from_str(&text)
            .map_err(|e| anyhow!("{} is no docker config ({})", path.display(), json_error_place(&e)))?;
        if let Some(helper) = by_host(&config.cred_helpers, host) {
            return self.run_helper(helper, host);
        }
        if let Some(entry) = by_host(&config.auths, host) {
            let origin = path.display().to_string();
            if let Some(found) =
                entry.credentials(&origin).with_context(|| format!("the login for {host} in {origin}"))?
            {
                return Ok(Some(found));
            }
        }
        match config.creds_store.as_deref().filter(|s| !s.is_empty()) {
            Some(helper) => self.run_helper(helper, host),
            None => Ok(None),
        }
    }

    /// `docker-credential-<helper> get`, with `host` on its stdin.
    fn run_helper(&self, helper: &str, host: &str) -> Result<Option<Credentials>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct HelperReply {
            #[serde(default)]
            username: String,
            #[serde(default)]
            secret: String,
        }
        let program = format!("docker-credential-{helper}");
        let executable = which::which_in(&program, Some(&self.helper_path), ".").with_context(|| {
            format!("{} names the credential helper {program}, which is not on PATH", self.config_file().display())
        })?;
        let mut child = Command::new(&executable)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {}", executable.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper may exit without reading; its output says why.
            if let Err(err) = stdin.write_all(host.as_bytes()) {
                if err.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(err).with_context(|| format!("writing to {program}"));
                }
            }
        }
        let output = child.wait_with_output().with_context(|| format!("running {program} get"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stdout.contains(HELPER_NOT_FOUND) || stderr.contains(HELPER_NOT_FOUND) {
            return Ok(None);
        }
        if !output.status.success() {
            // A failed helper printed no secret; its reason is on either stream.
            let reason = [stdout.trim(), stderr.trim()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>();
            bail!("{program} get {host} failed ({}): {}", output.status, reason.join("; "));
        }
        let reply: HelperReply = serde_json::from_str(&stdout)
            .map_err(|e| anyhow!("{program} get {host} printed no credentials JSON ({})", json_error_place(&e)))?;
        if reply.secret.is_empty() {
            return Ok(None);
        }
        let secret = if reply.username == "<token>" {
            Secret::IdentityToken(reply.secret)
        } else {
            Secret::Password(reply.secret)
        };
        Ok(Some(Credentials { username: reply.username, secret, origin: program }))
    }
}

impl AuthEntry {
    fn credentials(&self, origin: &str) -> Result<Option<Credentials>> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let (mut username, mut password) = (given(&self.username), given(&self.password));
        if let Some(auth) = given(&self.auth) {
            // Never quote it: it is the password.
            let decoded = BASE64_STANDARD.decode(auth.trim()).ok().and_then(|d| String::from_utf8(d).ok());
            let (user, pass) = decoded
                .as_deref()
                .and_then(|d| d.split_once(':'))
                .context("its `auth` is not the base64 of user:password")?;
            (username, password) = (Some(user.to_string()), Some(pass.to_string()));
        }
        let origin = origin.to_string();
        Ok(match (given(&self.identitytoken), username, password) {
            (Some(token), username, _) => Some(Credentials {
                username: username.unwrap_or_else(|| "<token>".to_string()),
                secret: Secret::IdentityToken(token),
                origin,
            }),
            (None, Some(username), Some(password)) => {
                Some(Credentials { username, secret: Secret::Password(password), origin })
            }
            _ => None,
        })
    }
}

/// The entry for `host` in a map keyed the ways docker keys logins: `host`, `https://host`,
/// `https://host/v1/`; an exact key wins.
pub(super) fn by_host<'a, V>(map: &'a HashMap<String, V>, host: &str) -> Option<&'a V> {
    map.get(host).or_else(|| map.iter().find(|(key, _)| login_host(key).eq_ignore_ascii_case(host)).map(|(_, v)| v))
}

pub(super) fn login_host(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}
