//! `analytics serve`: an HTTP endpoint for a registry's notifications. Each manifest pull
//! becomes a line of `target/xtask/pulls.jsonl` with the platform its digest resolves to (asked
//! of the workspace's registry once per digest, never of a host a request names). Hostile
//! input is bounded: headers 16 KiB, bodies `core::analytics::MAX_BODY`, 10 s per request;
//! malformed envelopes get 400, a missing or wrong shared secret 401, each counted in
//! `target/xtask/pulls-refused.json`; the file is rotated past [`ROTATE_BYTES`].

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::core::analytics::{pull_events, PullEvent, PullRecord, MAX_BODY};
use crate::sys::registry::Registry;

/// Past this size `pulls.jsonl` becomes `pulls.jsonl.1` (the one before is dropped).
pub const ROTATE_BYTES: u64 = 32 << 20;
const MAX_HEAD: usize = 16 << 10;
/// Digests remembered, and indexes per client, before the oldest are forgotten.
const MAX_CACHED: usize = 100_000;

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

/// The receiver's state: where it writes, whom it asks, what it has learnt.
pub struct Receiver {
    pub target: Utf8PathBuf,
    pub registry: Registry,
    pub secret: Option<String>,
    /// Platform of each image digest seen in an index or resolved from its config.
    platforms: HashMap<String, String>,
    /// The image digests of each index seen, read once.
    indexes: HashMap<String, Vec<String>>,
    /// The last index each client (address and user agent) pulled, per repository: its tag
    /// and its image digests.
    last_index: HashMap<(String, String), (Option<String>, Vec<String>)>,
    refused: BTreeMap<String, u64>,
}

impl Receiver {
    pub fn new(target: Utf8PathBuf, registry: Registry, secret: Option<String>) -> Receiver {
        let refused = std::fs::read_to_string(refused_path(&target))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Receiver {
            target,
            registry,
            secret,
            platforms: HashMap::new(),
            indexes: HashMap::new(),
            last_index: HashMap::new(),
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
        stream.set_read_timeout(Some(Duration::from_secs(10))).context("setting a read timeout")?;
        stream.set_write_timeout(Some(Duration::from_secs(10))).context("setting a write timeout")?;
        let (status, why) = match read_request(&stream) {
            // A connection that sent nothing (a port probe) is no request, and not refused.
            Err((0, _)) => return Ok(()),
            Err((status, why)) => (status, why),
            Ok(request) => self.receive(&request),
        };
        if status != 200 {
            *self.refused.entry(status.to_string()).or_default() += 1;
            std::fs::create_dir_all(&self.target).with_context(|| format!("creating {}", self.target))?;
            let _ = write_atomically(&refused_path(&self.target), &serde_json::to_string(&self.refused)?);
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
            Ok(events) => events,
            Err(why) => return (400, why),
        };
        let mut lines = String::new();
        // xtask's own reads (a publish verifying, this receiver resolving) are nobody's pulls,
        // and counting them would feed back: each resolution is itself a pull.
        for event in events.into_iter().filter(|e| e.user_agent != crate::sys::registry::USER_AGENT) {
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
            if self.last_index.len() >= MAX_CACHED {
                self.last_index.clear();
            }
            // A client resolves a tag (HEAD) and then fetches the index by digest: the second
            // keeps the tag of the first.
            let tag = event.tag.clone().or_else(|| {
                self.last_index.get(&key).filter(|(_, seen)| *seen == images).and_then(|(tag, _)| tag.clone())
            });
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
        let platform = match self.platforms.get(&event.digest) {
            Some(platform) => Some(platform.clone()),
            None => self.resolve(&event.repository, &event.digest),
        };
        let through = self.last_index.get(&key).filter(|(_, images)| images.contains(&event.digest));
        let tag = event.tag.or_else(|| through.and_then(|(tag, _)| tag.clone()));
        PullRecord {
            time: event.time,
            repository: event.repository,
            tag,
            digest: event.digest,
            platform: Some(platform.unwrap_or_else(|| "unknown".to_string())),
            user_agent: event.user_agent,
        }
    }

    /// The platform images an index names, read once (their platforms remembered too).
    fn index_images(&mut self, repository: &str, digest: &str) -> Vec<String> {
        if let Some(images) = self.indexes.get(digest) {
            return images.clone();
        }
        let Ok(Some(index)) = self.registry.manifest_by_digest(repository, digest) else { return Vec::new() };
        let mut images = Vec::new();
        for image in crate::oci::manifest::platform_images(&index.body) {
            self.remember(image.digest.clone(), crate::core::text::sanitize(&image.platform));
            images.push(image.digest);
        }
        if self.indexes.len() >= MAX_CACHED {
            self.indexes.clear();
        }
        self.indexes.insert(digest.to_string(), images.clone());
        images
    }

    /// An image's platform from its config, asked once.
    fn resolve(&mut self, repository: &str, digest: &str) -> Option<String> {
        let manifest = self.registry.manifest_by_digest(repository, digest).ok()??;
        let config = self.registry.config(repository, &manifest.body.config?.digest).ok()?;
        let platform = crate::core::text::sanitize(&config.platform().name());
        self.remember(digest.to_string(), platform.clone());
        Some(platform)
    }

    fn remember(&mut self, digest: String, platform: String) {
        if self.platforms.len() >= MAX_CACHED {
            self.platforms.clear();
        }
        self.platforms.insert(digest, platform);
    }
}

struct Request {
    method: String,
    path: String,
    /// Lower-cased names.
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request within the bounds, or the status that refuses it (0: nothing
/// was sent).
fn read_request(stream: &TcpStream) -> Result<Request, (u16, String)> {
    let mut reader = BufReader::new(stream.take((MAX_HEAD + MAX_BODY) as u64));
    let mut head = 0;
    let mut line = String::new();
    let mut read_line = |reader: &mut BufReader<_>, line: &mut String| -> Result<(), (u16, String)> {
        line.clear();
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
    reader.read_exact(&mut body).map_err(|e| (400, format!("reading the body: {e}")))?;
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

fn write_atomically(path: &Utf8Path, text: &str) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).with_context(|| format!("writing {partial}"))?;
    std::fs::rename(&partial, path).with_context(|| format!("placing {path}"))
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
