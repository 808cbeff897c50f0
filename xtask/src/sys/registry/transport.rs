//! Requests on the wire: retries with backoff, and redirects followed by the client itself,
//! so that a login goes only to the exact `scheme://host:port` it belongs to.
//!
//! ureq's own redirects are off (`max_redirects(0)`): its same-host rule ignores the port
//! and allows http→https, while docker scopes credentials by `host:port`.

use super::*;

/// Attempts per request, the first included, before a transient failure is reported.
pub const MAX_ATTEMPTS: u32 = 4;
/// The first retry's delay; each later one doubles, up to `MAX_BACKOFF`.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(200);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A `Retry-After` beyond this is cut short: a build should rather fail than stall.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long one command may spend on the registry, retries and `Retry-After` included,
/// unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_TIMEOUT_TEXT: &str = "10m";
/// Redirects followed for one request before it is reported as a loop.
pub(super) const MAX_REDIRECTS: usize = 10;

/// A response read whole, so that a connection dropped mid-body is retried like any other.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: ureq::http::HeaderMap,
    pub(super) body: Vec<u8>,
    /// The URL that answered: the request's own, or where its redirects led.
    pub(super) url: String,
}

impl Reply {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `HTTP 403 (DENIED: requested access to the resource is denied)`: the status and the
    /// registry's own error codes, when the body has them.
    pub(super) fn status_error(&self) -> String {
        #[derive(Deserialize)]
        struct Errors {
            errors: Vec<ErrorEntry>,
        }
        #[derive(Deserialize)]
        struct ErrorEntry {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        let details = serde_json::from_slice::<Errors>(&self.body).map(|e| e.errors).unwrap_or_default();
        let clean = crate::core::text::sanitize;
        let details: Vec<String> =
            details.iter().map(|e| format!("{}: {}", clean(&e.code), clean(&e.message))).collect();
        if details.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("HTTP {} ({})", self.status, details.join("; "))
        }
    }
}

/// One request of a chain of redirects, as `send` is asked to make it.
pub(super) struct Hop<'a> {
    pub(super) url: &'a str,
    /// Whether `url` has the exact origin (scheme, host, port) of the chain's first URL:
    /// only then may the request carry the `Authorization` meant for that origin.
    pub(super) same_origin: bool,
    /// The chain's first request (query pairs and bodies are added there only).
    pub(super) first: bool,
}

/// Sends `start` with `send`, retrying as `exchange` does, and follows up to `MAX_REDIRECTS`
/// redirects when `follow` (GET and HEAD only): each hop's `same_origin` tells `send`
/// whether a login may go along. A redirect to plain HTTP is followed only where plain HTTP
/// is allowed (`plain_http`).
pub(super) fn send_following(
    what: &str,
    limit: u64,
    deadline: Option<Instant>,
    start: &str,
    follow: bool,
    plain_http: impl Fn(&str) -> bool,
    send: impl Fn(Hop<'_>) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply> {
    let start_origin = origin(start);
    let mut url = start.to_string();
    for hop in 0..=MAX_REDIRECTS {
        let same_origin = start_origin.is_some() && origin(&url) == start_origin;
        let mut reply = exchange(what, limit, deadline, || send(Hop { url: &url, same_origin, first: hop == 0 }))?;
        reply.url = url.clone();
        let location = reply.header("location");
        if !follow || !matches!(reply.status, 301 | 302 | 303 | 307 | 308) || location.is_none() {
            return Ok(reply);
        }
        let next = resolve_location(&url, location.unwrap_or_default())
            .with_context(|| format!("{what}: HTTP {} redirects to an unusable Location", reply.status))?;
        if origin(&next).is_some_and(|(scheme, ..)| scheme == "http") && !plain_http(&host_port(&next)) {
            bail!("{what}: refusing to follow a redirect to plain HTTP: {}", without_query(&next));
        }
        url = next;
    }
    bail!("{what}: more than {MAX_REDIRECTS} redirects (a loop?), the last to {}", without_query(&url))
}

/// Sends with `send` until it succeeds, fails for good, or `retry_delay` says stop; never
/// starts an attempt after `deadline` (the command's `--timeout`), nor sleeps past it: a
/// `Retry-After` counts against it.
pub(super) fn exchange(
    what: &str,
    limit: u64,
    deadline: Option<Instant>,
    send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply> {
    let mut attempt = 1;
    loop {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            bail!("{what}: the command's deadline passed (--timeout, default {DEFAULT_TIMEOUT_TEXT})");
        }
        let outcome = send().and_then(|mut response| {
            let body = response.body_mut().with_config().limit(limit).read_to_vec()?;
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            Ok(Reply { status, headers, body, url: String::new() })
        });
        let delay = match &outcome {
            Ok(reply) => retry_delay(Some(reply.status), attempt, reply.header("retry-after")),
            Err(err) if is_transient(err) => retry_delay(None, attempt, None),
            Err(_) => None,
        };
        let past_deadline = delay.zip(deadline).is_some_and(|(delay, deadline)| Instant::now() + delay >= deadline);
        match (outcome, delay) {
            (Ok(reply), Some(delay)) if past_deadline => bail!(
                "{what}: {} (gave up after {attempt} attempt(s): waiting {} s to retry would pass the command's \
                 deadline, --timeout)",
                reply.status_error(),
                delay.as_secs_f64()
            ),
            (Err(err), Some(_)) if past_deadline => {
                return Err(err).with_context(|| {
                    format!("{what} (gave up after {attempt} attempt(s): a retry would pass the command's deadline)")
                })
            }
            (_, Some(delay)) => std::thread::sleep(delay),
            (Ok(reply), None) if retryable_status(reply.status) => {
                bail!("{what}: {} (gave up after {attempt} attempts)", reply.status_error())
            }
            (Ok(reply), None) => return Ok(reply),
            (Err(err), None) if attempt > 1 => {
                return Err(err).with_context(|| format!("{what} (gave up after {attempt} attempts)"))
            }
            (Err(err), None) => return Err(err).context(what.to_string()),
        }
        attempt += 1;
    }
}

/// The delay before attempt `attempt + 1`, after attempt `attempt` (from 1) ended in `status`,
/// or, for `None`, in a reset connection or a timeout; `None` when that failure is final.
/// Backoff doubles from 200 ms; a longer `Retry-After` in seconds wins, up to 30 s.
pub fn retry_delay(status: Option<u16>, attempt: u32, retry_after: Option<&str>) -> Option<Duration> {
    if status.is_some_and(|s| !retryable_status(s)) || attempt >= MAX_ATTEMPTS {
        return None;
    }
    let backoff = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1).min(16)).min(MAX_BACKOFF);
    let asked = retry_after.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
    Some(asked.map_or(backoff, |asked| asked.min(MAX_RETRY_AFTER).max(backoff)))
}

/// Statuses a busy or restarting registry (or its proxy) sends and may not send again.
pub(super) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Connection resets and timeouts; a refused connection or an unknown host is final.
fn is_transient(err: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match err {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(e) => {
            matches!(
                e.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | TimedOut | UnexpectedEof | Interrupted
            )
        }
        _ => false,
    }
}

/// `(scheme, host, port)` of an http(s) URL, lower-cased, with the scheme's default port
/// filled in; `None` for other schemes, a malformed authority or one with userinfo.
pub(super) fn origin(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains(['@', '\\']) {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (ip, tail) = v6.split_once(']')?;
            (format!("[{ip}]"), tail.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        },
    };
    let port = match port {
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => port.parse().ok()?,
        Some(_) => return None,
        None => default_port,
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// `host[:port]` of an http(s) URL as written, for the plain-HTTP check.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase()
}

/// Where a `Location` leads from `current`: absolute, scheme-relative, absolute-path or
/// relative, its fragment dropped. A target with userinfo, control characters or spaces, or
/// of another scheme than http(s), is refused.
pub(super) fn resolve_location(current: &str, location: &str) -> Result<String> {
    if location.is_empty() || location.chars().any(|c| c.is_control() || c == ' ') {
        bail!("a Location with control characters or spaces is no URL");
    }
    let location = location.split('#').next().unwrap_or_default();
    let (scheme, rest) = current.split_once("://").context("the current URL has no scheme")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let next = if location.contains("://") && !location.starts_with('/') {
        location.to_string()
    } else if let Some(scheme_relative) = location.strip_prefix("//") {
        format!("{scheme}://{scheme_relative}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = rest[authority.len()..].split(['?', '#']).next().unwrap_or_default();
        let directory = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{scheme}://{authority}{directory}/{location}")
    };
    if origin(&next).is_none() {
        // Never quoted: a URL with userinfo holds a password.
        bail!("the target is not an http(s) URL without userinfo");
    }
    Ok(next)
}

/// `url` without its query and fragment, which may hold a storage service's signature.
pub(super) fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        let o = |url| origin(url).map(|(s, h, p)| format!("{s} {h} {p}"));
        assert_eq!(o("http://127.0.0.1:5000/v2/").as_deref(), Some("http 127.0.0.1 5000"));
        assert_eq!(o("HTTPS://Registry.Example.Test/v2/x").as_deref(), Some("https registry.example.test 443"));
        assert_eq!(o("https://registry.example.test:443").as_deref(), Some("https registry.example.test 443"));
        assert_eq!(o("http://[::1]:5000/v2/").as_deref(), Some("http [::1] 5000"));
        assert_eq!(o("http://[::1]/v2/").as_deref(), Some("http [::1] 80"));
        assert_eq!(origin("http://user:pw@127.0.0.1:5000/"), None, "userinfo");
        assert_eq!(origin("ftp://127.0.0.1/"), None);
        assert_eq!(origin("http://127.0.0.1:x/"), None);
        assert_eq!(origin("http:///v2/"), None);
        // Another port, another scheme or another host is another origin.
        assert_ne!(origin("http://127.0.0.1:5000/"), origin("http://127.0.0.1:5001/"));
        assert_ne!(origin("http://h.test/"), origin("https://h.test/"));
        assert_ne!(origin("http://a.test/"), origin("http://b.test/"));
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let current = "http://127.0.0.1:5000/v2/app/blobs/sha256:aa?x=1";
        let r = |l| resolve_location(current, l).map_err(|e| e.to_string());
        assert_eq!(r("http://127.0.0.1:6000/b?sig=1").unwrap(), "http://127.0.0.1:6000/b?sig=1");
        assert_eq!(r("//storage.example.test/b").unwrap(), "http://storage.example.test/b");
        assert_eq!(r("/v2/other#frag").unwrap(), "http://127.0.0.1:5000/v2/other");
        assert_eq!(r("elsewhere").unwrap(), "http://127.0.0.1:5000/v2/app/blobs/elsewhere");
        assert!(r("http://ci:secret@127.0.0.1:6000/").unwrap_err().contains("without userinfo"));
        assert!(!r("http://ci:secret@127.0.0.1:6000/").unwrap_err().contains("secret"));
        assert!(r("file:///etc/passwd").is_err());
        assert!(r("").is_err());
        assert!(r("/a\r\nX-Injected: 1").is_err());
        assert_eq!(without_query("https://s.test/b?X-Amz-Signature=zz"), "https://s.test/b");
    }

    #[test]
    fn retry_after_is_capped() {
        assert_eq!(retry_delay(Some(503), 1, Some("999999")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_delay(Some(503), 1, Some("18446744073709551615")), Some(MAX_RETRY_AFTER));
    }
}
