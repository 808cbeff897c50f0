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

/// How long a credential helper may take: a hanging one would hold the login lock of every
/// worker forever.
pub(super) const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// What is read of a helper's stdout (and of its stderr): a login is a few kB.
pub(super) const HELPER_OUTPUT_LIMIT: u64 = 1 << 20;

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

    /// `docker-credential-<helper> get`, with `host` on its stdin, for at most `HELPER_TIMEOUT`.
    fn run_helper(&self, helper: &str, host: &str) -> Result<Option<Credentials>> {
        self.run_helper_within(helper, host, HELPER_TIMEOUT)
    }

    /// `run_helper` with its deadline given. The helper's stdout is read up to
    /// `HELPER_OUTPUT_LIMIT` and never quoted (it is where a secret would be); its stderr is
    /// quoted in part, with any secret that stdout held cut out.
    pub(super) fn run_helper_within(&self, helper: &str, host: &str, timeout: Duration) -> Result<Option<Credentials>> {
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
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(err).with_context(|| format!("writing to {program}"));
                }
            }
        }
        let overflow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bounded = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            let overflow = overflow.clone();
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(pipe) = pipe {
                    let _ =
                        std::io::Read::read_to_end(&mut std::io::Read::take(pipe, HELPER_OUTPUT_LIMIT + 1), &mut bytes);
                }
                if bytes.len() as u64 > HELPER_OUTPUT_LIMIT {
                    overflow.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                bytes
            })
        };
        let stdout = bounded(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = bounded(child.stderr.take().map(|p| Box::new(p) as _));
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().with_context(|| format!("running {program} get"))? {
                break status;
            }
            // Stopped at once, not when it is done: a helper past the limit or the deadline.
            let overflowed = overflow.load(std::sync::atomic::Ordering::Relaxed);
            if overflowed || started.elapsed() >= timeout {
                let _ = child.kill();
                let _ = child.wait();
                if overflowed {
                    bail!("{program} get {host} printed more than {} MiB", HELPER_OUTPUT_LIMIT >> 20);
                }
                bail!("{program} get {host} did not answer within {} s, and was stopped", timeout.as_secs_f64());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if overflow.load(std::sync::atomic::Ordering::Relaxed) {
            bail!("{program} get {host} printed more than {} MiB", HELPER_OUTPUT_LIMIT >> 20);
        }
        // The readers end with the pipes; a grandchild that keeps them open is not waited for.
        let read = |t: std::thread::JoinHandle<Vec<u8>>| {
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                t.join().unwrap_or_default()
            } else {
                Vec::new()
            }
        };
        let (stdout, stderr) = (read(stdout), read(stderr));
        let stdout = String::from_utf8_lossy(&stdout);
        let stderr = String::from_utf8_lossy(&stderr);
        if stdout.contains(HELPER_NOT_FOUND) || stderr.contains(HELPER_NOT_FOUND) {
            return Ok(None);
        }
        let reply = serde_json::from_str::<HelperReply>(&stdout);
        if !status.success() {
            // Its stdout may hold the secret: never quoted. Its stderr is, without that secret.
            let mut reason = crate::core::text::last_lines(stderr.trim(), 3);
            if let Ok(HelperReply { secret, .. }) = &reply {
                if !secret.is_empty() {
                    reason = reason.replace(secret.as_str(), "<redacted>");
                }
            }
            let shown = reason.chars().count().saturating_sub(300);
            let reason = crate::core::text::sanitize(&reason.chars().skip(shown).collect::<String>());
            let reason = if reason.is_empty() { "nothing on stderr".to_string() } else { reason };
            bail!("{program} get {host} failed ({status}): {reason} (its stdout is not shown: it may hold a secret)");
        }
        let reply = reply
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
