//! `analytics serve`: an HTTP endpoint for a registry's notifications. Each manifest pull
//! becomes a line of `target/xtask/pulls.jsonl` with the platform its digest resolves to (asked
//! of the workspace's registry once per digest, never of a host a request names). Hostile
//! input is bounded: headers 16 KiB, bodies `core::analytics::MAX_BODY`, 10 s per request in
//! all; what is no envelope gets 400, a missing or wrong shared secret 401, an invalid event
//! in an envelope is skipped, each counted in `target/xtask/pulls-refused.json`; an envelope
//! resent after a timeout is recorded once (by its event ids); the file is rotated past
//! [`ROTATE_BYTES`]; every cache is capped.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::analytics::{pull_events, PullEvent, PullRecord, MAX_BODY};
use crate::sys::registry::Registry;

/// Past this size `pulls.jsonl` becomes `pulls.jsonl.1` (the one before is dropped).
pub const ROTATE_BYTES: u64 = 32 << 20;
const MAX_HEAD: usize = 16 << 10;
/// The whole of one request, however slowly a client sends it.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Digests whose platform is remembered, before all are forgotten.
const MAX_CACHED: usize = 100_000;
/// Indexes, and clients' last indexes, remembered; and the image digests kept of each.
const MAX_INDEXES: usize = 10_000;
const MAX_INDEX_IMAGES: usize = 64;
/// Event ids remembered, to record a resent envelope once.
const MAX_SEEN: usize = 10_000;

/// Where the receiver listens unless told, and where `analytics = true` points the local registry.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5099";

/// The secret the registry sends in `Authorization: Bearer …` (`XTASK_ANALYTICS_SECRET`).
pub const SECRET_VARIABLE: &str = "XTASK_ANALYTICS_SECRET";

pub fn pulls_path(target: &Utf8Path) -> Utf8PathBuf {
    target.join("pulls.jsonl")
}

pub fn refused_path(target: &Utf8Path) -> Utf8PathBuf {
    target.join("pulls-refused.json")
}

/// An index a client pulled: the tag it asked for, and the index's image digests.
type Seen = (Option<String>, Arc<[String]>);

/// The receiver's state: where it writes, whom it asks, what it has learnt.
pub struct Receiver {
    pub target: Utf8PathBuf,
    pub registry: Registry,
    pub secret: Option<String>,
    /// Platform of each (repository, image digest) seen in an index or resolved from its
    /// config; `unknown` where that failed, so it is not asked again.
    platforms: HashMap<(String, String), String>,
    /// The image digests of each (repository, index digest) seen, read once.
    indexes: HashMap<(String, String), Arc<[String]>>,
    /// The last index each client (address and user agent) pulled, per repository: its tag
    /// and its image digests.
    last_index: HashMap<(String, String), Seen>,
    /// Ids of the events recorded lately, oldest first.
    seen: (VecDeque<String>, HashSet<String>),
    refused: BTreeMap<String, u64>,
}

impl Receiver {
    pub fn new(target: Utf8PathBuf, registry: Registry, secret: Option<String>) -> Receiver {
        let refused = read_refused(&target);
        Receiver {
            target,
            registry,
            secret,
            platforms: HashMap::new(),
            indexes: HashMap::new(),
            last_index: HashMap::new(),
            seen: (VecDeque::new(), HashSet::new()),
            refused,
        }
    }

    /// Serves until the process ends, one request at a time (a registry sends its events in
    /// order, one envelope at a time, per endpoint).
    pub fn serve(&mut self, listener: TcpListener) -> Result<()> {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            if let Err(err) = self.handle(stream) {
                eprintln!("warning: a notification request failed: {err:#}");
            }
        }
        Ok(())
    }

    fn handle(&mut self, mut stream: TcpStream) -> Result<()> {
        stream.set_write_timeout(Some(REQUEST_DEADLINE)).context("setting a write timeout")?;
        let (status, why) = match read_request(&stream, Instant::now() + REQUEST_DEADLINE) {
            // A connection that sent nothing (a port probe) is no request, and not refused.
            Err((0, _)) => return Ok(()),
            Err((status, why)) => (status, why),
            Ok(request) => self.receive(&request),
        };
        if status != 200 {
            self.count_refused(status, 1)?;
            eprintln!("refused a notification with {status}: {why}");
        }
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            413 => "Payload Too Large",
            _ => "Error",
        };
        let reply = format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        stream.write_all(reply.as_bytes()).context("answering")
    }

    fn count_refused(&mut self, status: u16, events: u64) -> Result<()> {
        *self.refused.entry(status.to_string()).or_default() += events;
        std::fs::create_dir_all(&self.target).with_context(|| format!("creating {}", self.target))?;
        crate::sys::files::write_atomically(
            &refused_path(&self.target),
            serde_json::to_string(&self.refused)?.as_bytes(),
        )
    }

    /// Whether the event `id` was recorded already (a resent envelope); remembers it.
    fn seen_before(&mut self, id: &str) -> bool {
        let (order, ids) = &mut self.seen;
        if id.is_empty() || ids.contains(id) {
            return !id.is_empty();
        }
        if order.len() >= MAX_SEEN {
            if let Some(oldest) = order.pop_front() {
                ids.remove(&oldest);
            }
        }
        order.push_back(id.to_string());
        ids.insert(id.to_string());
        false
    }

    /// Judges one request and records its pulls: the status and, when refused, why.
    fn receive(&mut self, request: &Request) -> (u16, String) {
        if request.path != "/events" {
            return (404, format!("{} is not /events", crate::core::text::sanitize(&request.path)));
        }
        if request.method != "POST" {
            return (405, format!("{} is not POST", crate::core::text::sanitize(&request.method)));
        }
        if let Some(secret) = &self.secret {
            let expected = format!("Bearer {secret}");
            let given = request.headers.get("authorization").map(String::as_str).unwrap_or("");
            if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
                return (401, "no or a wrong shared secret in Authorization".to_string());
            }
        }
        let events = match pull_events(&request.body) {
            Ok((events, 0)) => events,
            Ok((events, invalid)) => {
                eprintln!("skipped {invalid} invalid event(s) of a notification");
                if let Err(err) = self.count_refused(400, invalid as u64) {
                    return (503, format!("{err:#}"));
                }
                events
            }
            Err(why) => return (400, why),
        };
        let mut lines = String::new();
        // xtask's own reads (a publish verifying, this receiver resolving) are nobody's pulls,
        // and counting them would feed back: each resolution is itself a pull.
        for event in events.into_iter().filter(|e| e.user_agent != crate::sys::registry::USER_AGENT) {
            if self.seen_before(&event.id) {
                continue;
            }
            let record = self.record(event);
            lines.push_str(&serde_json::to_string(&record).unwrap_or_default());
            lines.push('\n');
        }
        match append(&self.target, &lines) {
            Ok(()) => (200, String::new()),
            // A registry retries what failed; it is not the sender's fault.
            Err(err) => (503, format!("{err:#}")),
        }
    }

    /// The line for one pull: an index is remembered for the platform images that follow it.
    fn record(&mut self, event: PullEvent) -> PullRecord {
        // A client's requests come over several connections: its address without the port,
        // and its user agent, tie them together.
        let host = event.addr.rsplit_once(':').map_or(event.addr.as_str(), |(host, _)| host);
        let key = (event.repository.clone(), format!("{host} {}", event.user_agent));
        if event.index {
            let images = self.index_images(&event.repository, &event.digest);
            // A client resolves a tag (HEAD) and then fetches the index by digest: the second
            // keeps the tag of the first.
            let tag = event.tag.clone().or_else(|| {
                self.last_index.get(&key).filter(|(_, seen)| **seen == *images).and_then(|(tag, _)| tag.clone())
            });
            if self.last_index.len() >= MAX_INDEXES {
                self.last_index.clear();
            }
            self.last_index.insert(key, (tag.clone(), images));
            return PullRecord {
                time: event.time,
                repository: event.repository,
                tag,
                digest: event.digest,
                platform: None,
                user_agent: event.user_agent,
            };
        }
        let platform = match self.platforms.get(&(event.repository.clone(), event.digest.clone())) {
            Some(platform) => platform.clone(),
            None => self.resolve(&event.repository, &event.digest),
        };
        let through = self.last_index.get(&key).filter(|(_, images)| images.contains(&event.digest));
        let tag = event.tag.or_else(|| through.and_then(|(tag, _)| tag.clone()));
        PullRecord {
            time: event.time,
            repository: event.repository,
            tag,
            digest: event.digest,
            platform: Some(platform),
            user_agent: event.user_agent,
        }
    }

    /// The platform images an index names (the first [`MAX_INDEX_IMAGES`]), read once, their
    /// platforms remembered too.
    fn index_images(&mut self, repository: &str, digest: &str) -> Arc<[String]> {
        let key = (repository.to_string(), digest.to_string());
        if let Some(images) = self.indexes.get(&key) {
            return Arc::clone(images);
        }
        let mut images = Vec::new();
        if let Ok(Some(index)) = self.registry.manifest_by_digest(repository, digest) {
            for image in crate::oci::manifest::platform_images(&index.body).into_iter().take(MAX_INDEX_IMAGES) {
                self.remember(repository, &image.digest, crate::core::analytics::platform_name(&image.platform));
                images.push(image.digest);
            }
        }
        let images: Arc<[String]> = images.into();
        if self.indexes.len() >= MAX_INDEXES {
            self.indexes.clear();
        }
        self.indexes.insert(key, Arc::clone(&images));
        images
    }

    /// An image's platform from its config, asked once: a failure is remembered as `unknown`.
    fn resolve(&mut self, repository: &str, digest: &str) -> String {
        let platform = (|| {
            let manifest = self.registry.manifest_by_digest(repository, digest).ok()??;
            let config = self.registry.config(repository, &manifest.body.config?.digest).ok()?;
            Some(crate::core::analytics::platform_name(&config.platform().name()))
        })()
        .unwrap_or_else(|| "unknown".to_string());
        self.remember(repository, digest, platform.clone());
        platform
    }

    fn remember(&mut self, repository: &str, digest: &str, platform: String) {
        if self.platforms.len() >= MAX_CACHED {
            self.platforms.clear();
        }
        self.platforms.insert((repository.to_string(), digest.to_string()), platform);
    }
}

struct Request {
    method: String,
    path: String,
    /// Lower-cased names.
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request within the bounds and by `deadline`, or the status that
/// refuses it (0: nothing was sent). Each read may wait only what is left of the deadline, so
/// a client sending a byte at a time cannot hold the receiver longer.
fn read_request(stream: &TcpStream, deadline: Instant) -> Result<Request, (u16, String)> {
    let wait = |stream: &TcpStream| -> Result<(), (u16, String)> {
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
        let left = left.ok_or((400, format!("the request took over {} s", REQUEST_DEADLINE.as_secs())))?;
        stream.set_read_timeout(Some(left)).map_err(|e| (400, format!("setting a read timeout: {e}")))
    };
    let mut reader = BufReader::new(stream.take((MAX_HEAD + MAX_BODY) as u64));
    let mut head = 0;
    let mut line = String::new();
    let mut read_line = |reader: &mut BufReader<_>, line: &mut String| -> Result<(), (u16, String)> {
        line.clear();
        wait(stream)?;
        let n = reader.read_line(line).map_err(|e| (400, format!("reading the request: {e}")))?;
        head += n;
        if n == 0 || head > MAX_HEAD {
            return Err((400, "the request head is cut short or over 16 KiB".to_string()));
        }
        Ok(())
    };
    read_line(&mut reader, &mut line).map_err(|(status, why)| (if line.is_empty() { 0 } else { status }, why))?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = HashMap::new();
    loop {
        read_line(&mut reader, &mut line)?;
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = match headers.get("content-length") {
        Some(value) => value.parse().map_err(|_| (400, format!("Content-Length {value:?} is not a number")))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err((413, format!("a body of {length} bytes is over {MAX_BODY}")));
    }
    let mut body = vec![0; length];
    let mut filled = 0;
    while filled < length {
        wait(stream)?;
        match reader.read(&mut body[filled..]) {
            Ok(0) => return Err((400, format!("the body ends after {filled} of {length} bytes"))),
            Ok(n) => filled += n,
            Err(e) => return Err((400, format!("reading the body: {e}"))),
        }
    }
    Ok(Request { method, path, headers, body })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Appends to `pulls.jsonl`, rotating it first when it has grown past [`ROTATE_BYTES`].
fn append(target: &Utf8Path, lines: &str) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(target).with_context(|| format!("creating {target}"))?;
    let path = pulls_path(target);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > ROTATE_BYTES) {
        std::fs::rename(&path, target.join("pulls.jsonl.1")).with_context(|| format!("rotating {path}"))?;
    }
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("opening {path}"))?;
    file.write_all(lines.as_bytes()).with_context(|| format!("appending to {path}"))
}

/// Every pull recorded: the rotated file first, then the current one; lines that are not
/// records are skipped and counted.
pub fn read_pulls(target: &Utf8Path) -> Result<(Vec<PullRecord>, usize)> {
    let (mut records, mut skipped) = (Vec::new(), 0);
    for path in [target.join("pulls.jsonl.1"), pulls_path(target)] {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err).with_context(|| format!("reading {path}")),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str(line) {
                Ok(record) => records.push(record),
                Err(_) => skipped += 1,
            }
        }
    }
    Ok((records, skipped))
}

pub fn read_refused(target: &Utf8Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(refused_path(target)).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}
