//! A native OCI distribution client: manifests, blobs and tag lists over the
//! distribution API, without one docker process per request.
//!
//! It logs in the way docker does (`config.json`, credential helpers, Basic and
//! Bearer challenges), checks every digest against the bytes it received, speaks
//! TLS to every registry that is neither loopback nor listed as insecure, and
//! retries what a busy registry fails transiently.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::prelude::{Engine, BASE64_STANDARD};
use serde::Deserialize;

mod auth;
mod credentials;
mod transport;
mod trust;
use auth::*;
pub use credentials::*;
use transport::*;
pub use transport::{retry_delay, DEFAULT_TIMEOUT, MAX_ATTEMPTS};

use crate::core::text::without_userinfo;
use crate::oci::digest::sha256_digest;
pub use crate::oci::distribution::MAX_INDEX_ENTRIES;
use crate::oci::distribution::*;
use crate::oci::manifest::{Descriptor, ImageConfig, Manifest, ACCEPT, MANIFEST_MEDIA_TYPES};
use crate::oci::reference::{api_host, check_digest, check_repository, check_tag, is_loopback, login_key};
use crate::sys::pool::lock;

/// Comma-separated `host[:port]` registries spoken to over plain HTTP although they are not
/// loopback, like docker's `insecure-registries` (e.g. a CI service container on a private network).
pub const INSECURE_REGISTRIES_ENV: &str = "XTASK_INSECURE_REGISTRIES";

/// Registries may refuse manifests over 4 MiB (distribution spec); so do we.
const MANIFEST_LIMIT: u64 = 4 << 20;
/// Blobs are read whole into memory: this is for configs, not layers.
const BLOB_LIMIT: u64 = 64 << 20;
/// Tag lists, token replies and error bodies.
const SMALL_LIMIT: u64 = 4 << 20;
/// `Link` pages followed for one tag list before giving up on a registry that loops.
const MAX_TAG_PAGES: usize = 1000;
/// Tags read of one repository: each costs a HEAD in a rollback's snapshot, and 380k tags
/// a page made a snapshot of 3.8M requests and 1.9 GB.
pub const MAX_TAGS: usize = 100_000;

/// A repository's tag list, checked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TagList {
    /// The names that follow the OCI tag grammar, in the registry's order.
    pub tags: Vec<String>,
    /// The names that do not: reported, never requested.
    pub junk: Vec<String>,
}

/// How xtask's own requests introduce themselves: `analytics serve` leaves them uncounted.
pub const USER_AGENT: &str = "xtask-registry";

/// A registry at `host[:port]`. It is `Sync`: threads share one keep-alive agent and one
/// set of tokens (see `map_concurrent`).
pub struct Registry {
    host: String,
    base: String,
    agent: ureq::Agent,
    insecure: Vec<String>,
    source: CredentialSource,
    /// Looked up on the first challenge, so anonymous registries never run a helper; a failed
    /// lookup is remembered too (as its message), so a broken helper runs once per run.
    credentials: Mutex<Option<Result<Option<Credentials>, String>>>,
    auth: Mutex<Authorizations>,
    /// No request starts, and no retry waits, past this instant (`set_deadline`), if any.
    deadline: Option<Instant>,
    /// Blobs being uploaded by a thread of this client, by repository and digest: another
    /// thread with the same blob (two platforms sharing a layer) waits for it, then finds it
    /// there, since distribution can briefly lose a blob that two uploads commit at once.
    uploading: (Mutex<HashSet<(String, String)>>, Condvar),
}

/// The command's deadline, set once by the command line (`--timeout`, or `DEFAULT_TIMEOUT` for
/// the commands that only talk to the registry); without it, clients have none.
static DEADLINE: OnceLock<Instant> = OnceLock::new();

/// Sets the deadline of every registry client of this process (the first call wins).
pub fn set_deadline(deadline: Instant) {
    let _ = DEADLINE.set(deadline);
}

/// An HTTP status a registry answered with instead of what was asked for, kept typed so that a
/// caller can tell "access denied" (401, 403) from a registry that could not be reached.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    message: String,
}

impl Refusal {
    fn error(status: u16, message: String) -> anyhow::Error {
        anyhow::Error::new(Refusal { status, message })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// The registry's refusal somewhere in `err`'s chain, if that is what it is.
pub fn refusal(err: &anyhow::Error) -> Option<&Refusal> {
    err.chain().find_map(|e| e.downcast_ref::<Refusal>())
}

/// `Authorization` values already earned: sent up front so that a request needs no 401 first.
#[derive(Default)]
struct Authorizations {
    /// Set once the registry asked for Basic auth.
    basic: Option<String>,
    /// Bearer tokens by the scope they were requested for (`""` for none).
    bearer: HashMap<String, String>,
}

#[derive(Clone, Copy)]
enum Method<'a> {
    Get,
    Head,
    /// A body and its content type.
    Put(&'a [u8], &'a str),
    /// A blob streamed from a file, opened afresh for each attempt.
    PutFile(&'a camino::Utf8Path),
    Delete,
    /// Without a body: starts a blob upload.
    Post,
}

impl Method<'_> {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put(..) | Method::PutFile(_) => "PUT",
            Method::Delete => "DELETE",
            Method::Post => "POST",
        }
    }
}

/// How long one request may take: 30 s, a streamed blob upload an hour, and never past the
/// command's deadline, so a blackholed connection or a trickling body ends with it.
fn request_budget(method: Method<'_>, deadline: Option<Instant>, now: Instant) -> Duration {
    let own = match method {
        Method::PutFile(_) => Duration::from_secs(3600),
        _ => REQUEST_TIMEOUT,
    };
    deadline.map_or(own, |deadline| own.min(deadline.saturating_duration_since(now)))
}

/// `request` with `budget` as its timeout for the whole exchange, body included, and for its
/// connect (10 s at most).
fn bounded<B>(request: ureq::RequestBuilder<B>, budget: Duration) -> ureq::RequestBuilder<B> {
    request.config().timeout_global(Some(budget)).timeout_connect(Some(budget.min(CONNECT_TIMEOUT))).build()
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The timeout of one request to a registry.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A blob upload in flight (`Registry::upload`): dropped, it lets the next one in.
struct Claim<'a> {
    uploading: &'a (Mutex<HashSet<(String, String)>>, Condvar),
    key: (String, String),
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let (set, done) = self.uploading;
        set.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
        done.notify_all();
    }
}

impl Registry {
    /// A client for `host[:port]`, with docker's logins from `$DOCKER_CONFIG` or `~/.docker`.
    pub fn new(host: &str) -> Result<Registry> {
        Registry::with_credentials(host, CredentialSource::from_env())
    }

    /// A client for `host[:port]` that looks logins up in `credentials` rather than where the
    /// environment says.
    pub fn with_credentials(host: &str, credentials: CredentialSource) -> Result<Registry> {
        if host.is_empty() || host.contains(['/', ' ']) {
            bail!("registry {host:?}: expected host[:port], without a scheme or a path");
        }
        let insecure = insecure_registries(&std::env::var(INSECURE_REGISTRIES_ENV).unwrap_or_default());
        // `docker.io` is a name: Docker Hub serves the API from another host.
        let served = api_host(host);
        let scheme = if plain_http_allowed(served, &insecure) { "http" } else { "https" };
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            // Enough idle connections for every thread of `map_concurrent` to keep its own.
            .max_idle_connections(16)
            .max_idle_connections_per_host(16)
            // Redirects are followed by `send_following`, which drops the login on any change
            // of scheme, host or port; ureq's same-host rule ignores the port.
            .max_redirects(0)
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
            .user_agent(USER_AGENT);
        if is_loopback(host) {
            // Loopback traffic must never go through an environment proxy.
            config = config.proxy(None);
        }
        if let Some(roots) = trust::roots_for(served)? {
            config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        Ok(Registry {
            host: host.to_string(),
            base: format!("{scheme}://{served}"),
            agent: config.build().new_agent(),
            insecure,
            source: credentials,
            credentials: Mutex::new(None),
            auth: Mutex::new(Authorizations::default()),
            deadline: DEADLINE.get().copied(),
            uploading: (Mutex::new(HashSet::new()), Condvar::new()),
        })
    }

    /// Checks that the registry answers `GET /v2/` (401 counts: it answers, wanting a login).
    pub fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let what = format!("GET {url}");
        let plain_http = |host: &str| plain_http_allowed(host, &self.insecure);
        let reply = send_following(&what, SMALL_LIMIT, self.deadline, &url, true, plain_http, |hop| {
            bounded(self.agent.get(hop.url), request_budget(Method::Get, self.deadline, Instant::now())).call()
        })
        .map_err(|err| self.explained(err))?;
        match reply.status {
            200 | 401 => Ok(()),
            _ => bail!("{what}: {}", reply.status_error()),
        }
    }

    /// The manifest at `reference` (tag or digest), or `None` when the registry has none.
    pub fn manifest(&self, repository: &str, reference: &str) -> Result<Option<Manifest>> {
        Ok(self.fetch_manifest(repository, reference)?.map(|(manifest, _)| manifest))
    }

    /// The manifest with this digest, which must be `sha256:<64 hex>`: for digests read from
    /// an index or a HEAD, which a hostile registry may fill with a tag name.
    pub fn manifest_by_digest(&self, repository: &str, digest: &str) -> Result<Option<Manifest>> {
        check_digest(digest).map_err(|why| anyhow!("refusing to request {repository}@…: {why}"))?;
        self.manifest(repository, digest)
    }

    /// The descriptor of the manifest at `reference` without downloading it (when the
    /// registry sends `Docker-Content-Digest`), or `None` when the registry has none.
    pub fn head_manifest(&self, repository: &str, reference: &str) -> Result<Option<Descriptor>> {
        let name = reference_name(repository, reference);
        let path = api_path(repository, "manifests", reference)?;
        let reply = self.request(Method::Head, &path, Some(ACCEPT), Some(&pull_scope(repository)), 0)?;
        match reply.status {
            200 => {}
            404 => return Ok(None),
            _ => bail!("HEAD {}{path}: {}", self.base, reply.status_error()),
        }
        let Some(digest) = reply.header("docker-content-digest") else {
            // Only the body tells the digest then.
            let found = self.fetch_manifest(repository, reference)?;
            return Ok(
                found.map(|(manifest, bytes)| descriptor(manifest.media_type, manifest.digest, bytes.len() as u64))
            );
        };
        check_digest(digest).map_err(|why| anyhow!("HEAD {name}: Docker-Content-Digest: {why}"))?;
        if is_digest(reference) && digest != reference {
            bail!("{name}: requested by digest, but the registry says its digest is {digest}");
        }
        let size = reply.header("content-length").and_then(|v| v.trim().parse().ok());
        let size = size.with_context(|| format!("HEAD {name}: no Content-Length"))?;
        let media_type = media_type_essence(reply.header("content-type"))
            .filter(|t| MANIFEST_MEDIA_TYPES.contains(&t.as_str()))
            .with_context(|| {
                format!("HEAD {name}: Content-Type {:?} is no manifest type", reply.header("content-type"))
            })?;
        Ok(Some(descriptor(media_type, digest.to_string(), size)))
    }

    /// An image config blob.
    pub fn config(&self, repository: &str, digest: &str) -> Result<ImageConfig> {
        let bytes = self.blob(repository, digest)?;
        parse_config(&bytes).with_context(|| format!("parsing the image config {repository}@{digest}"))
    }

    /// A blob, read whole into memory and checked against `digest`; meant for configs, not layers.
    pub fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let path = api_path(repository, "blobs", digest)?;
        let reply = self.request(Method::Get, &path, None, Some(&pull_scope(repository)), BLOB_LIMIT)?;
        if reply.status != 200 {
            bail!("GET {}{path}: {}", self.base, reply.status_error());
        }
        verify_digest(
            &format!("{repository}@{digest}"),
            Some(digest),
            reply.header("docker-content-digest"),
            &reply.body,
        )?;
        Ok(reply.body)
    }

    /// Every tag of `repository` (empty when the repository does not exist), following the
    /// registry's `Link` pages; names that break the OCI tag grammar are left out.
    pub fn tags(&self, repository: &str) -> Result<Vec<String>> {
        Ok(self.tag_list(repository)?.tags)
    }

    /// Every tag of `repository`, as `tags`, and apart from them the names the registry listed
    /// that are no OCI tags (`../../v2/_catalog?`, `x#frag`), which never reach a URL.
    pub fn tag_list(&self, repository: &str) -> Result<TagList> {
        let mut list = TagList::default();
        let mut path = format!("{}/tags/list", repository_path(repository)?);
        for _ in 0..MAX_TAG_PAGES {
            let reply = self.request(Method::Get, &path, None, Some(&pull_scope(repository)), SMALL_LIMIT)?;
            match reply.status {
                200 => {}
                404 if list.tags.is_empty() && list.junk.is_empty() => return Ok(list),
                _ => bail!("GET {}{path}: {}", self.base, reply.status_error()),
            }
            let page =
                parse_tag_page(&reply.body).with_context(|| format!("parsing the tag list at {}{path}", self.base))?;
            for tag in page {
                match check_tag(&tag) {
                    Ok(()) => list.tags.push(tag),
                    Err(_) => list.junk.push(tag),
                }
            }
            if list.tags.len() + list.junk.len() > MAX_TAGS {
                bail!("the tag list of {repository} holds more than {MAX_TAGS} tags, more than this client reads");
            }
            let Some(next) = reply.header("link").and_then(next_link) else { return Ok(list) };
            path = match next.strip_prefix(&self.base) {
                Some(rest) => rest.to_string(),
                None if next.starts_with('/') => next,
                None => bail!(
                    "the tag list of {repository} continues on another host: {}",
                    without_query(&without_userinfo(&next))
                ),
            };
        }
        bail!("the tag list of {repository} goes on past {MAX_TAG_PAGES} pages")
    }

    /// The manifest at `reference` with its exact bytes, for copying it under another tag.
    pub fn manifest_with_bytes(&self, repository: &str, reference: &str) -> Result<Option<(Manifest, Vec<u8>)>> {
        self.fetch_manifest(repository, reference)
    }

    /// Pushes `bytes` as the manifest at `reference` (a tag, or its own digest) and returns
    /// its digest, checked against what the registry says it stored.
    pub fn put_manifest(&self, repository: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<String> {
        let path = api_path(repository, "manifests", reference)?;
        let scope = format!("repository:{repository}:pull,push");
        let reply = self.request(Method::Put(bytes, media_type), &path, None, Some(&scope), SMALL_LIMIT)?;
        if reply.status != 201 && reply.status != 200 {
            bail!("PUT {}{path}: {}", self.base, reply.status_error());
        }
        let digest = sha256_digest(bytes);
        if let Some(stored) = reply.header("docker-content-digest").filter(|d| *d != digest) {
            bail!("PUT {}{path}: the registry stored {stored}, but the manifest's digest is {digest}", self.base);
        }
        Ok(digest)
    }

    /// Uploads `bytes` as a blob, unless the repository has it already, and returns its digest:
    /// a POST that opens an upload, then one monolithic PUT with the digest.
    pub fn put_blob(&self, repository: &str, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        self.upload(repository, &digest, Method::Put(bytes, "application/octet-stream"))?;
        Ok(digest)
    }

    /// Uploads the file `path` as the blob `digest` (what an OCI layout names it), streamed, so
    /// a layer of any size costs no memory; the registry checks the digest.
    pub fn put_blob_file(&self, repository: &str, path: &camino::Utf8Path, digest: &str) -> Result<()> {
        self.upload(repository, digest, Method::PutFile(path))
    }

    fn upload(&self, repository: &str, digest: &str, put: Method<'_>) -> Result<()> {
        let key = (repository.to_string(), digest.to_string());
        let (uploading, done) = &self.uploading;
        let mut busy = uploading.lock().unwrap_or_else(|p| p.into_inner());
        while busy.contains(&key) {
            busy = done.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        busy.insert(key.clone());
        drop(busy);
        // Released however the upload ends, so no waiter waits for ever.
        let _claim = Claim { uploading: &self.uploading, key };
        self.upload_once(repository, digest, put)
    }

    fn upload_once(&self, repository: &str, digest: &str, put: Method<'_>) -> Result<()> {
        let scope = format!("repository:{repository}:pull,push");
        let path = api_path(repository, "blobs", digest)?;
        if self.request(Method::Head, &path, None, Some(&scope), 0)?.status == 200 {
            return Ok(());
        }
        let start = format!("{}/blobs/uploads/", repository_path(repository)?);
        let reply = self.request(Method::Post, &start, None, Some(&scope), SMALL_LIMIT)?;
        if reply.status != 202 {
            bail!("POST {}{start}: {}", self.base, reply.status_error());
        }
        let location = reply.header("location").with_context(|| format!("POST {}{start}: no Location", self.base))?;
        let upload = upload_path(&self.base, location, digest)?;
        let reply = self.request(put, &upload, None, Some(&scope), SMALL_LIMIT)?;
        if reply.status != 201 {
            bail!("PUT {}{path} (upload): {}", self.base, reply.status_error());
        }
        if let Some(stored) = reply.header("docker-content-digest").filter(|d| *d != digest) {
            bail!("uploading {repository}@{digest}: the registry stored {stored}");
        }
        Ok(())
    }

    /// Deletes the manifest `digest` (and with it every tag pointing at it). `Ok(false)` when
    /// the registry does not allow deletes (405, or 400/501 `UNSUPPORTED`).
    pub fn delete_manifest(&self, repository: &str, digest: &str) -> Result<bool> {
        let path = api_path(repository, "manifests", digest)?;
        let scope = format!("repository:{repository}:delete");
        let reply = self.request(Method::Delete, &path, None, Some(&scope), SMALL_LIMIT)?;
        match reply.status {
            202 | 200 => Ok(true),
            405 | 501 => Ok(false),
            400 if String::from_utf8_lossy(&reply.body).contains("UNSUPPORTED") => Ok(false),
            _ => bail!("DELETE {}{path}: {}", self.base, reply.status_error()),
        }
    }

    /// The manifest and its exact bytes, checked against its digests.
    fn fetch_manifest(&self, repository: &str, reference: &str) -> Result<Option<(Manifest, Vec<u8>)>> {
        let name = reference_name(repository, reference);
        let path = api_path(repository, "manifests", reference)?;
        let reply = self.request(Method::Get, &path, Some(ACCEPT), Some(&pull_scope(repository)), MANIFEST_LIMIT)?;
        match reply.status {
            200 => {}
            404 => return Ok(None),
            status => return Err(Refusal::error(status, format!("GET {}{path}: {}", self.base, reply.status_error()))),
        }
        let requested = is_digest(reference).then_some(reference);
        let digest = verify_digest(&name, requested, reply.header("docker-content-digest"), &reply.body)?;
        let (media_type, body) = parse_manifest(&name, reply.header("content-type"), &reply.body)?;
        Ok(Some((Manifest { media_type, digest, body }, reply.body)))
    }

    /// `err` with what to do first when it says the registry's certificate is not trusted.
    fn explained(&self, err: anyhow::Error) -> anyhow::Error {
        match trust::untrusted_hint(&self.host, &format!("{err:#}")) {
            Some(hint) => err.context(hint),
            None => err,
        }
    }

    /// Sends a request to this registry, answering one authentication challenge: a 401 after
    /// a fresh login (or an expired token's renewal) is final.
    fn request(
        &self,
        method: Method<'_>,
        path: &str,
        accept: Option<&str>,
        scope: Option<&str>,
        limit: u64,
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let what = format!("{} {url}", method.name());
        let mut authorization = {
            let auth = lock(&self.auth);
            auth.bearer.get(scope.unwrap_or_default()).or(auth.basic.as_ref()).cloned()
        };
        let mut challenged = false;
        let follow = matches!(method, Method::Get | Method::Head);
        loop {
            let plain_http = |host: &str| plain_http_allowed(host, &self.insecure);
            let reply = send_following(&what, limit, self.deadline, &url, follow, plain_http, |hop| {
                // The login belongs to this registry's exact scheme, host and port.
                let authorization = authorization.as_ref().filter(|_| hop.same_origin);
                let budget = request_budget(method, self.deadline, Instant::now());
                if let Method::Put(body, content_type) = method {
                    let mut request = bounded(self.agent.put(hop.url), budget).header("Content-Type", content_type);
                    if let Some(value) = authorization {
                        request = request.header("Authorization", value);
                    }
                    return request.send(body);
                }
                if let Method::PutFile(file) = method {
                    let mut request =
                        bounded(self.agent.put(hop.url), budget).header("Content-Type", "application/octet-stream");
                    if let Some(value) = authorization {
                        request = request.header("Authorization", value);
                    }
                    return request.send(std::fs::File::open(file).map_err(ureq::Error::Io)?);
                }
                if let Method::Post = method {
                    let mut request = bounded(self.agent.post(hop.url), budget);
                    if let Some(value) = authorization {
                        request = request.header("Authorization", value);
                    }
                    return request.send_empty();
                }
                let mut request = bounded(
                    match method {
                        Method::Head => self.agent.head(hop.url),
                        Method::Delete => self.agent.delete(hop.url),
                        _ => self.agent.get(hop.url),
                    },
                    budget,
                );
                if let Some(accept) = accept {
                    request = request.header("Accept", accept);
                }
                if let Some(value) = authorization {
                    request = request.header("Authorization", value);
                }
                request.call()
            })
            .map_err(|err| self.explained(err))?;
            if reply.status != 401 {
                return Ok(reply);
            }
            if origin(&reply.url) != origin(&self.base) {
                // Answering it would hand this registry's login to whoever it redirected to.
                bail!(
                    "{what}: redirected to {}, which asks for a login (HTTP 401); the credentials for {} go \
                     nowhere else",
                    without_query(&reply.url),
                    self.host
                );
            }
            if challenged {
                return Err(self.refused()).context(what);
            }
            authorization = Some(self.authorize(&reply, scope).with_context(|| what.clone())?);
            challenged = true;
        }
    }

    /// The `Authorization` value that answers the 401 `reply`, remembered for later requests.
    fn authorize(&self, reply: &Reply, scope: Option<&str>) -> Result<String> {
        let header = reply.header("www-authenticate").context("HTTP 401 without a WWW-Authenticate challenge")?;
        let challenge = parse_challenge(header)?;
        let credentials = self.credentials()?;
        match challenge {
            Challenge::Basic => {
                let value = match credentials {
                    Some(Credentials { username, secret: Secret::Password(password), .. }) => {
                        basic_authorization(&username, &password)
                    }
                    Some(Credentials { origin, .. }) => bail!(
                        "{origin} holds an identity token for {}, but the registry asks for a password",
                        self.host
                    ),
                    None => return Err(self.login_required()),
                };
                lock(&self.auth).basic = Some(value.clone());
                Ok(value)
            }
            Challenge::Bearer { realm, service, scope: challenged } => {
                let scope_asked = challenged.as_deref().or(scope);
                let token = self.token(&realm, service.as_deref(), scope_asked, credentials.as_ref())?;
                let value = format!("Bearer {token}");
                lock(&self.auth).bearer.insert(scope.unwrap_or_default().to_string(), value.clone());
                Ok(value)
            }
        }
    }

    /// A token from the challenge's `realm`: a GET with the login as Basic auth (or none),
    /// or the OAuth2 refresh-token POST for an identity token.
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
        credentials: Option<&Credentials>,
    ) -> Result<String> {
        let shown = without_userinfo(realm);
        let (scheme, rest) = realm.split_once("://").unwrap_or_default();
        let realm_host = rest.split(['/', '?']).next().unwrap_or_default();
        match scheme {
            "http" | "https" if origin(realm).is_none() => {
                bail!("the token realm {shown:?} is not an http(s) URL without userinfo")
            }
            "https" => {}
            "http" if plain_http_allowed(realm_host, &self.insecure) => {}
            "http" => bail!("refusing to log in to the token service {shown} over plain HTTP"),
            _ => bail!("the token realm {shown:?} is not an http(s) URL"),
        }
        let mut params: Vec<(&str, &str)> = vec![];
        params.extend(service.map(|s| ("service", s)));
        params.extend(scope.map(|s| ("scope", s)));
        let what = format!("token service {shown}");
        let agent = &self.agent;
        let plain_http = |host: &str| plain_http_allowed(host, &self.insecure);
        let identity = matches!(credentials, Some(Credentials { secret: Secret::IdentityToken(_), .. }));
        // A token service may redirect a GET; the login goes along only to the realm's origin.
        let reply =
            send_following(&what, SMALL_LIMIT, self.deadline, realm, !identity, plain_http, |hop| match credentials {
                Some(Credentials { secret: Secret::IdentityToken(token), .. }) => {
                    let mut form =
                        vec![("grant_type", "refresh_token"), ("client_id", "xtask"), ("refresh_token", token)];
                    form.extend(&params);
                    agent.post(hop.url).send_form(form)
                }
                _ => {
                    let mut request = agent.get(hop.url);
                    if hop.first {
                        request = request.query_pairs(params.iter().copied());
                    }
                    match credentials {
                        Some(Credentials { username, secret: Secret::Password(password), .. }) if hop.same_origin => {
                            request.header("Authorization", basic_authorization(username, password)).call()
                        }
                        _ => request.call(),
                    }
                }
            })?;
        match (reply.status, credentials) {
            (200, _) => parse_token(&reply.body).context(what),
            (401 | 403, Some(c)) => Err(Refusal::error(
                reply.status,
                format!("{what} refused the credentials of {} from {}: {}", c.username, c.origin, reply.status_error()),
            )),
            (401 | 403, None) => Err(self.login_required()),
            _ => bail!("{what}: {}", reply.status_error()),
        }
    }

    /// The login for this registry, looked up once, whether that succeeds or fails.
    fn credentials(&self) -> Result<Option<Credentials>> {
        let mut cached = lock(&self.credentials);
        let found =
            cached.get_or_insert_with(|| self.source.lookup(login_key(&self.host)).map_err(|e| format!("{e:#}")));
        found.clone().map_err(anyhow::Error::msg)
    }

    fn login_required(&self) -> anyhow::Error {
        Refusal::error(
            401,
            format!(
                "{} requires a login (HTTP 401) and {} holds none for it: run `docker login {}`",
                self.host,
                self.source.config_file().display(),
                self.host
            ),
        )
    }

    /// Why a request with our login still got a 401.
    fn refused(&self) -> anyhow::Error {
        match lock(&self.credentials).clone().and_then(Result::ok).flatten() {
            Some(c) => Refusal::error(
                401,
                format!("{} refused the credentials of {} from {} (HTTP 401)", self.host, c.username, c.origin),
            ),
            None => self.login_required(),
        }
    }
}

fn insecure_registries(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_ascii_lowercase).collect()
}

/// Plain HTTP only where docker would use it too: loopback, and the insecure registries.
fn plain_http_allowed(host: &str, insecure: &[String]) -> bool {
    is_loopback(host) || insecure.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// The path to PUT a monolithic upload to: the upload's `Location` (relative, or absolute on
/// this registry; an upload elsewhere would take our login along) with `digest` added.
fn upload_path(base: &str, location: &str, digest: &str) -> Result<String> {
    let path = match location.strip_prefix(base) {
        Some(rest) if rest.starts_with('/') => rest,
        _ if location.starts_with('/') => location,
        _ => bail!(
            "the registry {base} moved the upload to another host: {}",
            without_query(&without_userinfo(location))
        ),
    };
    let separator = if path.contains('?') { '&' } else { '?' };
    Ok(format!("{path}{separator}digest={digest}"))
}

/// `/v2/<repository>`, the repository checked against the OCI grammar before it reaches a URL.
fn repository_path(repository: &str) -> Result<String> {
    check_repository(repository).map_err(|why| anyhow!("refusing the repository name {repository:?}: {why}"))?;
    Ok(format!("/v2/{repository}"))
}

/// `/v2/<repository>/<kind>/<reference>`, every part checked first: a digest must be
/// `sha256:<64 hex>` (an index entry's "digest" without `sha256:` is not fetched as a tag), and
/// a tag must follow the OCI grammar (`../../v2/_catalog?` or `x#frag` never reach a path).
/// Blobs are only ever asked for by digest.
fn api_path(repository: &str, kind: &str, reference: &str) -> Result<String> {
    let base = repository_path(repository)?;
    let checked = if kind == "blobs" || is_digest(reference) {
        check_digest(reference)
    } else {
        check_tag(reference).map_err(|why| format!("tag {reference:?}: {why}"))
    };
    checked.map_err(|why| anyhow!("refusing to request {repository}/{kind}/{reference:?}: {why}"))?;
    Ok(format!("{base}/{kind}/{reference}"))
}

fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// Tags cannot contain `:`, digests always do.
fn is_digest(reference: &str) -> bool {
    reference.contains(':')
}

/// `repo:tag` or `repo@sha256:…`, for messages.
fn reference_name(repository: &str, reference: &str) -> String {
    if is_digest(reference) {
        format!("{repository}@{reference}")
    } else {
        format!("{repository}:{reference}")
    }
}

fn descriptor(media_type: String, digest: String, size: u64) -> Descriptor {
    Descriptor { media_type, digest, size, platform: None, annotations: BTreeMap::new() }
}

/// The digest of `body`, which must match the registry's `Docker-Content-Digest` and the
/// digest it was requested by, where there are such.
fn verify_digest(name: &str, requested: Option<&str>, header: Option<&str>, body: &[u8]) -> Result<String> {
    for claimed in requested.into_iter().chain(header) {
        if !claimed.starts_with("sha256:") {
            bail!("{name}: digest {claimed} is not sha256, the only algorithm this client checks");
        }
    }
    let actual = sha256_digest(body);
    if let Some(header) = header.filter(|h| *h != actual) {
        bail!("{name}: the registry says its digest is {header}, but its content hashes to {actual}");
    }
    if let Some(requested) = requested.filter(|r| *r != actual) {
        bail!("{name}: requested by digest {requested}, but its content hashes to {actual}");
    }
    Ok(actual)
}

#[cfg(test)]
mod tests {

    #[test]
    fn no_request_outlives_the_commands_deadline() {
        let now = Instant::now();
        assert_eq!(request_budget(Method::Get, None, now), REQUEST_TIMEOUT);
        assert_eq!(request_budget(Method::PutFile(camino::Utf8Path::new("b")), None, now), Duration::from_secs(3600));
        let soon = Some(now + Duration::from_secs(2));
        assert_eq!(request_budget(Method::Get, soon, now), Duration::from_secs(2));
        assert_eq!(request_budget(Method::PutFile(camino::Utf8Path::new("b")), soon, now), Duration::from_secs(2));
        assert_eq!(request_budget(Method::Head, Some(now), now + Duration::from_secs(1)), Duration::ZERO, "past it");
    }

    use super::*;
    use crate::oci::manifest::ManifestBody;
    use crate::oci::platform::Platform;
    use crate::oci::reference::split_repository;
    use std::path::Path;

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "localhost:5000", "127.0.0.1:41000", "127.8.9.10", "[::1]:5000"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["ghcr.io", "10.0.0.1:5000", "localhost.example.test", "[::2]:5000"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let insecure = insecure_registries(" ci.example.test:5000, ,Mirror.example.test");
        assert_eq!(insecure, ["ci.example.test:5000", "mirror.example.test"]);
        assert!(plain_http_allowed("localhost:5000", &insecure));
        assert!(plain_http_allowed("ci.example.test:5000", &insecure));
        assert!(plain_http_allowed("MIRROR.example.test", &insecure));
        assert!(!plain_http_allowed("ci.example.test", &insecure), "the port is part of the name");
        assert!(!plain_http_allowed("registry.example.test", &insecure));
        let tls = Registry::new("registry.example.test:443").unwrap();
        assert_eq!(tls.base, "https://registry.example.test:443");
        assert_eq!(Registry::new("127.0.0.1:5000").unwrap().base, "http://127.0.0.1:5000");
        assert!(Registry::new("https://registry.example.test").is_err());
    }

    #[test]
    fn uploads_stay_on_the_registry_and_carry_the_digest() {
        let base = "http://127.0.0.1:5000";
        let digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert_eq!(
            upload_path(base, "http://127.0.0.1:5000/v2/art/blobs/uploads/u1?_state=a%3D%3D", digest).unwrap(),
            format!("/v2/art/blobs/uploads/u1?_state=a%3D%3D&digest={digest}")
        );
        assert_eq!(
            upload_path(base, "/v2/art/blobs/uploads/u2", digest).unwrap(),
            format!("/v2/art/blobs/uploads/u2?digest={digest}")
        );
        let elsewhere = upload_path(base, "https://storage.example.test/upload/u3", digest).unwrap_err();
        assert!(elsewhere.to_string().contains("moved the upload to another host"), "{elsewhere}");
        assert!(upload_path(base, "http://127.0.0.1:50001/v2/x", digest).is_err(), "another port is another host");
    }

    #[test]
    fn repository_split_and_platform_names() {
        assert_eq!(split_repository("127.0.0.1:5000/acme/app"), ("127.0.0.1:5000", "acme/app"));
        let p = Platform { os: "linux".into(), architecture: "arm".into(), variant: Some("v7".into()) };
        assert_eq!(p.name(), "linux/arm/v7");
    }

    #[test]
    fn manifest_bodies_parse_both_kinds() {
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
            {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:aa","size":528,"platform":{"architecture":"arm64","os":"linux"}}]}"#;
        let body: ManifestBody = serde_json::from_str(index).unwrap();
        assert_eq!(body.manifests[0].platform.as_ref().unwrap().name(), "linux/arm64");
        let image = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:cc","size":10},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:dd","size":99}]}"#;
        let body: ManifestBody = serde_json::from_str(image).unwrap();
        assert_eq!((body.config.unwrap().digest.as_str(), body.layers[0].size), ("sha256:cc", 99));
    }

    #[test]
    fn accept_lists_every_manifest_media_type() {
        assert_eq!(ACCEPT.split(',').map(str::trim).collect::<Vec<_>>(), MANIFEST_MEDIA_TYPES);
    }

    fn body(media_type: Option<&str>) -> ManifestBody {
        ManifestBody {
            media_type: media_type.map(str::to_string),
            manifests: vec![],
            config: None,
            layers: vec![],
            annotations: Default::default(),
        }
    }

    #[test]
    fn media_types_come_from_the_body_or_the_content_type() {
        let [oci_index, oci_image, docker_list, docker_image] = MANIFEST_MEDIA_TYPES;
        // OCI manifests need not carry a mediaType: the Content-Type tells, parameters aside.
        let served = format!("{oci_image}; charset=utf-8");
        assert_eq!(manifest_media_type(Some(&served), &body(None)).unwrap(), oci_image);
        assert_eq!(manifest_media_type(Some("application/json"), &body(Some(docker_list))).unwrap(), docker_list);
        assert_eq!(manifest_media_type(None, &body(Some(oci_index))).unwrap(), oci_index);
        let mismatch = manifest_media_type(Some(docker_image), &body(Some(oci_index))).unwrap_err().to_string();
        assert_eq!(mismatch, format!("served as {docker_image}, but the manifest says it is {oci_index}"));
        let schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        let err = manifest_media_type(Some(schema1), &body(None)).unwrap_err().to_string();
        assert!(err.contains(schema1), "{err}");
        assert!(manifest_media_type(Some("application/json"), &body(None)).is_err());
        assert!(manifest_media_type(None, &body(None)).is_err());
    }

    #[test]
    fn digests_are_checked_against_the_header_and_the_request() {
        let content = br#"{"schemaVersion":2}"#;
        let actual = sha256_digest(content);
        assert_eq!(sha256_digest(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        // Without a header, the content's hash is the digest.
        assert_eq!(verify_digest("app:v1", None, None, content).unwrap(), actual);
        assert_eq!(verify_digest("app:v1", Some(&actual), Some(&actual), content).unwrap(), actual);
        let wrong = sha256_digest(b"something else");
        let err = verify_digest("app:v1", None, Some(&wrong), content).unwrap_err().to_string();
        assert_eq!(err, format!("app:v1: the registry says its digest is {wrong}, but its content hashes to {actual}"));
        let name = format!("app@{wrong}");
        let err = verify_digest(&name, Some(&wrong), None, content).unwrap_err().to_string();
        assert_eq!(err, format!("{name}: requested by digest {wrong}, but its content hashes to {actual}"));
        let sha512 = format!("sha512:{}", "0".repeat(128));
        assert!(verify_digest("app:v1", None, Some(&sha512), content).unwrap_err().to_string().contains("not sha256"));
        assert_eq!(reference_name("app", "v1"), "app:v1");
        assert_eq!(reference_name("app", &actual), format!("app@{actual}"));
    }

    #[test]
    fn bearer_challenges_keep_commas_inside_quotes() {
        let header = r#"Bearer realm="https://auth.example.test/token",service="registry.example.test",scope="repository:a/b:pull,push""#;
        assert_eq!(
            parse_challenge(header).unwrap(),
            Challenge::Bearer {
                realm: "https://auth.example.test/token".into(),
                service: Some("registry.example.test".into()),
                scope: Some("repository:a/b:pull,push".into()),
            }
        );
        // Case-insensitive names, spaces around `=`, unquoted values, escapes in quotes.
        let loose = r#"bearer  Realm = https://auth.example.test/token , scope="repository:a\"b:pull""#;
        assert_eq!(
            parse_challenge(loose).unwrap(),
            Challenge::Bearer {
                realm: "https://auth.example.test/token".into(),
                service: None,
                scope: Some("repository:a\"b:pull".into()),
            }
        );
    }

    #[test]
    fn basic_and_broken_challenges() {
        assert_eq!(parse_challenge(r#"Basic realm="xtask""#).unwrap(), Challenge::Basic);
        assert_eq!(parse_challenge("Basic").unwrap(), Challenge::Basic);
        // The first challenge this client can answer is taken.
        assert_eq!(parse_challenge(r#"Negotiate, Basic realm="r", Bearer realm="x""#).unwrap(), Challenge::Basic);
        let no_realm = parse_challenge(r#"Bearer service="s",scope="repository:a:pull""#).unwrap_err().to_string();
        assert!(no_realm.contains("without a realm"), "{no_realm}");
        assert!(format!("{:#}", parse_challenge(r#"Bearer realm="https://x"#).unwrap_err()).contains("unterminated"));
        assert!(parse_challenge(r#"realm="x""#).is_err(), "a parameter before any scheme");
        assert!(parse_challenge(r#"Newauth realm="apps", type=1"#)
            .unwrap_err()
            .to_string()
            .contains("no Basic or Bearer"));
        assert!(parse_challenge("").is_err());
    }

    #[test]
    fn tokens_come_from_either_field_and_never_show_in_errors() {
        assert_eq!(parse_token(br#"{"token":"t1","expires_in":300}"#).unwrap(), "t1");
        assert_eq!(parse_token(br#"{"access_token":"t2"}"#).unwrap(), "t2");
        assert_eq!(parse_token(br#"{"token":"","access_token":"t3"}"#).unwrap(), "t3");
        assert!(parse_token(br#"{"expires_in":300}"#).is_err());
        let err = parse_token(br#"{"token": ["hunter2"]}"#).unwrap_err().to_string();
        assert!(err.contains("line 1") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn retry_policy() {
        let ms = Duration::from_millis;
        // Backoff doubles from 200 ms for every retryable status and for broken connections.
        for status in [Some(408), Some(429), Some(500), Some(502), Some(503), Some(504), None] {
            assert_eq!(retry_delay(status, 1, None), Some(ms(200)), "{status:?}");
            assert_eq!(retry_delay(status, 2, None), Some(ms(400)), "{status:?}");
            assert_eq!(retry_delay(status, 3, None), Some(ms(800)), "{status:?}");
            assert_eq!(retry_delay(status, MAX_ATTEMPTS, None), None, "{status:?}");
        }
        for status in [200, 201, 301, 400, 401, 403, 404, 501] {
            assert_eq!(retry_delay(Some(status), 1, Some("1")), None, "{status}");
        }
        // Retry-After in seconds is honored when longer than the backoff, and capped.
        assert_eq!(retry_delay(Some(429), 1, Some("3")), Some(Duration::from_secs(3)));
        assert_eq!(retry_delay(Some(503), 3, Some("0")), Some(ms(800)));
        assert_eq!(retry_delay(Some(503), 1, Some("86400")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_delay(Some(503), 1, Some("Wed, 21 Oct 2015 07:28:00 GMT")), Some(ms(200)));
        assert_eq!(FIRST_BACKOFF.saturating_mul(1 << 10).min(MAX_BACKOFF), MAX_BACKOFF);
    }

    #[test]
    fn next_links_of_paginated_tag_lists() {
        assert_eq!(
            next_link(r#"</v2/app/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/app/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"<https://r.example.test/v2/a/tags/list?last=x>; rel=prev, <https://r.example.test/v2/a/tags/list?last=y>;rel="next""#).as_deref(),
            Some("https://r.example.test/v2/a/tags/list?last=y")
        );
        assert_eq!(next_link(r#"</v2/app/tags/list?last=a>; rel="prev""#), None);
    }

    #[test]
    fn labels_are_the_string_labels_of_the_config() {
        let config: ImageConfig = serde_json::from_str(
            r#"{"os":"linux","architecture":"amd64","config":{"Labels":{"a":"1","b":2,"c":"three"}}}"#,
        )
        .unwrap();
        let labels = config.labels();
        assert_eq!(labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(), ["a=1", "c=three"]);
        let bare: ImageConfig = serde_json::from_str(r#"{"os":"linux","architecture":"amd64"}"#).unwrap();
        assert!(bare.labels().is_empty());
    }

    #[test]
    fn the_client_is_shared_across_threads() {
        fn shared_across_threads<T: Sync>() {}
        shared_across_threads::<Registry>();
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let login = Credentials {
            username: "ci".into(),
            secret: Secret::Password("hunter2".into()),
            origin: "config.json".into(),
        };
        let token = Secret::IdentityToken("refresh-me".into());
        let shown = format!("{login:?} {token:?}");
        assert!(shown.contains("ci") && !shown.contains("hunter2") && !shown.contains("refresh-me"), "{shown}");
    }

    /// A scratch directory for one test, emptied first.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-registry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_executable(path: &Path, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn password(username: &str, password: &str, origin: &str) -> Option<Credentials> {
        Some(Credentials {
            username: username.into(),
            secret: Secret::Password(password.into()),
            origin: origin.into(),
        })
    }

    #[test]
    fn helpers_are_bounded_in_time_and_output_and_never_quoted() {
        let dir = scratch("helper-bounds");
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helper = |name: &str, body: &str| {
            write_executable(&bin.join(format!("docker-credential-{name}")), &format!("#!/bin/sh\n{body}\n"))
        };
        // The secret on stdout, then a failure: stdout is never quoted, stderr is, without it.
        helper(
            "leaky",
            r#"printf '{"Username":"u","Secret":"hunter2-leaked"}'; echo "failed after hunter2-leaked" >&2; exit 1"#,
        );
        helper("hangs", "exec sleep 30");
        helper("floods", "exec yes '{\"Secret\":\"aaaaaaaaaaaaaaaa\"}'");
        helper("escapes", r#"printf '\033]0;title\007\n::error::injected\n' >&2; exit 4"#);
        let source = CredentialSource { config_dir: dir.join("docker"), helper_path: bin.clone().into_os_string() };
        let run =
            |name, timeout| format!("{:#}", source.run_helper_within(name, "r.example.test", timeout).unwrap_err());

        let leaky = run("leaky", HELPER_TIMEOUT);
        assert_eq!(
            leaky,
            "docker-credential-leaky get r.example.test failed (exit status: 1): failed after <redacted> \
             (its stdout is not shown: it may hold a secret)"
        );
        let hangs = run("hangs", Duration::from_millis(300));
        assert_eq!(hangs, "docker-credential-hangs get r.example.test did not answer within 0.3 s, and was stopped");
        let floods = run("floods", HELPER_TIMEOUT);
        assert_eq!(floods, "docker-credential-floods get r.example.test printed more than 1 MiB");
        assert!(!floods.contains("aaaa"));
        let escapes = run("escapes", HELPER_TIMEOUT);
        assert!(escapes.contains(r"): \u{1b}]0;title\u{7}\n::error::injected ("), "{escapes}");
        assert!(!escapes.contains('\u{1b}') && !escapes.contains('\n'), "{escapes}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn credentials_come_from_config_json_and_real_helpers() {
        let dir = scratch("credentials");
        let (config_dir, bin) = (dir.join("docker"), dir.join("bin"));
        std::fs::create_dir_all(&config_dir).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        // The protocol: `get`, the server on stdin, JSON on stdout; docker-credential-helpers'
        // message and a non-zero exit when nothing is stored.
        write_executable(
            &bin.join("docker-credential-xtasktest"),
            r#"#!/bin/sh
[ "$1" = get ] || exit 2
read -r server || true
case "$server" in
  helped.example.test) printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}\n' "$server" ;;
  token.example.test) printf '{"Username":"<token>","Secret":"refresh-me"}\n' ;;
  broken.example.test) echo "the keychain is locked" >&2; exit 3 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"#,
        );
        let auth = BASE64_STANDARD.encode("user:pa:ss");
        let config = format!(
            r#"{{
  "auths": {{
    "https://auth.example.test/v1/": {{"auth": "{auth}"}},
    "https://index.docker.io/v1/": {{"username": "hub", "password": "h"}},
    "plain.example.test": {{"username": "u", "password": "p"}},
    "identity.example.test": {{"username": "u", "identitytoken": "refresh"}},
    "helped.example.test": {{"auth": "{auth}"}},
    "empty.example.test": {{}},
    "bad.example.test": {{"auth": "c2VjcmV0LXdpdGhvdXQtY29sb24="}}
  }},
  "credHelpers": {{
    "helped.example.test": "xtasktest",
    "token.example.test": "xtasktest",
    "broken.example.test": "xtasktest",
    "gone.example.test": "absent"
  }},
  "credsStore": "xtasktest",
  "psFormat": "table {{{{.ID}}}}"
}}"#
        );
        std::fs::write(config_dir.join("config.json"), config).unwrap();
        let source = CredentialSource { config_dir: config_dir.clone(), helper_path: bin.clone().into_os_string() };
        let config_file = config_dir.join("config.json").display().to_string();
        let lookup = |host| source.lookup(host).unwrap();

        assert_eq!(lookup("auth.example.test"), password("user", "pa:ss", &config_file));
        assert_eq!(lookup("plain.example.test"), password("u", "p", &config_file));
        // Docker Hub's login is kept under docker's own key, whichever of its names is used.
        for hub in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(lookup(login_key(hub)), password("hub", "h", &config_file), "{hub}");
        }
        assert_eq!(
            lookup("identity.example.test"),
            Some(Credentials {
                username: "u".into(),
                secret: Secret::IdentityToken("refresh".into()),
                origin: config_file.clone()
            })
        );
        // credHelpers beats auths; the helper got the server on stdin.
        assert_eq!(
            lookup("helped.example.test"),
            password("helper-user", "helper-secret", "docker-credential-xtasktest")
        );
        assert_eq!(
            lookup("token.example.test").unwrap().secret,
            Secret::IdentityToken("refresh-me".into()),
            "a helper's <token> user means an identity token"
        );
        // An empty auths entry and an unlisted host fall to credsStore, which has nothing: anonymous.
        assert_eq!(lookup("empty.example.test"), None);
        assert_eq!(lookup("unlisted.example.test"), None);

        let broken = format!("{:#}", source.lookup("broken.example.test").unwrap_err());
        assert!(broken.contains("the keychain is locked") && broken.contains("exit status: 3"), "{broken}");
        let absent = format!("{:#}", source.lookup("gone.example.test").unwrap_err());
        assert!(absent.contains("docker-credential-absent, which is not on PATH"), "{absent}");
        let bad = format!("{:#}", source.lookup("bad.example.test").unwrap_err());
        assert!(bad.contains("not the base64 of user:password") && !bad.contains("c2VjcmV0"), "{bad}");

        // Without credsStore nothing is run; without a config file there are no logins.
        std::fs::write(config_dir.join("config.json"), r#"{"auths": {"plain.example.test": {"auth": ""}}}"#).unwrap();
        assert_eq!(lookup("plain.example.test"), None);
        std::fs::write(config_dir.join("config.json"), r#"{"auths": {"x": {"auth": "hunter2"#).unwrap();
        let malformed = format!("{:#}", source.lookup("x").unwrap_err());
        assert!(malformed.contains("line 1") && !malformed.contains("hunter2"), "{malformed}");
        std::fs::remove_file(config_dir.join("config.json")).unwrap();
        assert_eq!(lookup("plain.example.test"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
