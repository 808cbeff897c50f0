//! The real binary against a hostile registry: a scripted loopback server under the test's
//! control that serves what no honest registry would (control text in names and messages,
//! absurd sizes, junk digests and tag names, huge indexes). Each test names the promise it
//! holds xtask to; none needs the engine.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use camino::Utf8PathBuf;
use xtask::oci::digest::sha256_digest;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const RELEASE: [&str; 4] = ["--event", "release", "--version", "1.2.3"];
/// The tags `plan` gives `app` for release 1.2.3.
const TAGS: [&str; 4] = ["latest", "1.2.3", "1.2", "1"];

/// Status, headers and body.
type Answer = common::Reply;

/// A loopback server that answers every request with `respond(method, path, body)` until the test
/// ends, one thread per connection, and logs `METHOD path`.
struct Hostile {
    host: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    fn start(respond: impl Fn(&str, &str, &[u8]) -> Answer + Send + Sync + 'static) -> Hostile {
        let log = Arc::new(Mutex::new(Vec::new()));
        let written = log.clone();
        let host = common::serve_http(move |request| {
            written.lock().unwrap().push(format!("{} {}", request.method, request.path));
            respond(request.method, request.path, &request.body)
        });
        Hostile { host, log }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Content addressed by digest, and tags pointing into it: what `Hostile` serves for `app`.
#[derive(Default, Clone)]
struct Store {
    blobs: HashMap<String, (String, Vec<u8>)>,
    tags: HashMap<String, String>,
}

impl Store {
    fn put(&mut self, media_type: &str, json: &serde_json::Value) -> (String, usize) {
        let bytes = serde_json::to_vec(json).unwrap();
        let digest = sha256_digest(&bytes);
        let size = bytes.len();
        self.blobs.insert(digest.clone(), (media_type.to_string(), bytes));
        (digest, size)
    }

    /// An image of `os/arch` whose config carries `labels`, with layers of the claimed sizes;
    /// returns its manifest's descriptor as an index entry (platform unset).
    fn image(&mut self, os: &str, arch: &str, labels: serde_json::Value, layer_sizes: &[u64]) -> serde_json::Value {
        let config = serde_json::json!({ "os": os, "architecture": arch, "config": { "Labels": labels } });
        let (config_digest, config_size) = self.put("application/vnd.oci.image.config.v1+json", &config);
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
            "layers": layer_sizes.iter().map(|size| serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": format!("sha256:{}", "1".repeat(64)), "size": size })).collect::<Vec<_>>(),
        });
        let (digest, size) = self.put(OCI_MANIFEST, &manifest);
        serde_json::json!({ "mediaType": OCI_MANIFEST, "digest": digest, "size": size })
    }

    /// An index of `entries` under every planned tag.
    fn tag_index(&mut self, entries: Vec<serde_json::Value>) -> String {
        let index = serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries });
        let (digest, _) = self.put(OCI_INDEX, &index);
        for tag in TAGS {
            self.tags.insert(tag.to_string(), digest.clone());
        }
        digest
    }

    /// The distribution API over this store, anonymous.
    fn answer(&self, method: &str, path: &str) -> Answer {
        let Some(rest) = path.strip_prefix("/v2/app/") else {
            return if path == "/v2/" { (200, vec![], b"{}".to_vec()) } else { (404, vec![], vec![]) };
        };
        let found = match rest.split_once('/') {
            Some(("manifests", reference)) => {
                self.tags.get(reference).map(String::as_str).or(Some(reference)).and_then(|d| self.blobs.get(d))
            }
            Some(("blobs", digest)) => self.blobs.get(digest),
            _ => None,
        };
        let _ = method;
        match found {
            Some((media_type, bytes)) => (
                200,
                vec![
                    ("Content-Type".into(), media_type.clone()),
                    ("Docker-Content-Digest".into(), sha256_digest(bytes)),
                ],
                bytes.clone(),
            ),
            None => (404, vec![], br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#.to_vec()),
        }
    }
}

/// A workspace of one image, `app`, for linux/amd64 and linux/arm64.
fn workspace(name: &str) -> Utf8PathBuf {
    common::one_image_workspace(&format!("hostile-{name}"), &["linux/amd64", "linux/arm64"])
}

/// Runs the binary for release 1.2.3 of `root` against `registry`: (status, stdout, stderr).
fn xtask(root: &Utf8PathBuf, registry: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all: Vec<&str> = RELEASE.to_vec();
    all.extend(args);
    let output = common::xtask(root, registry, &all);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// No escape character and no line that a CI runner would read as a workflow command.
fn assert_terminal_safe(what: &str, text: &str) {
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{what} holds control characters:\n{text}");
    for line in text.split(['\n', '\r']) {
        assert!(!line.trim_start().starts_with("::"), "{what} has a workflow command line {line:?}:\n{text}");
    }
}

/// Control text in platform names, labels and registry error messages is escaped in tables
/// and messages: no ESC reaches the terminal and no line starts with `::`.
#[test]
fn control_text_from_the_registry_never_reaches_the_terminal_raw() {
    let mut store = Store::default();
    let hostile = "\u{1b}]0;owned\u{7}\n::error file=x::injected\r\n::add-mask::x";
    let labels = serde_json::json!({ "org.opencontainers.image.title": hostile });
    let mut amd64 = store.image("linux", "amd64", labels.clone(), &[100]);
    amd64["platform"] = serde_json::json!({ "os": "linux", "architecture": "amd64" });
    let mut odd = store.image("linux", "arm64", labels, &[100]);
    odd["platform"] = serde_json::json!({ "os": format!("linux{hostile}"), "architecture": "arm64" });
    store.tag_index(vec![amd64, odd]);
    let served = store.clone();
    // Tag `1` points at a manifest that the registry then refuses, with a hostile message.
    let denied = format!("sha256:{}", "f".repeat(64));
    let registry = Hostile::start(move |method, path, _| match path.strip_prefix("/v2/app/manifests/") {
        Some("1") => (
            200,
            vec![("Content-Type".into(), OCI_INDEX.into()), ("Docker-Content-Digest".into(), denied.clone())],
            b"{}".to_vec(),
        ),
        Some(d) if *d == denied => {
            let message = format!(r#"{{"errors":[{{"code":"DENIED","message":{}}}]}}"#, serde_json::json!(hostile));
            (403, vec![], message.into_bytes())
        }
        _ => served.answer(method, path),
    });
    let root = workspace("control-text");
    for args in [&["verify-manifests"][..], &["size"], &["size", "--format", "markdown"]] {
        let (status, stdout, stderr) = xtask(&root, &registry.host, args);
        assert!(matches!(status, Some(0 | 1)), "{args:?}: {status:?} {stdout}{stderr}");
        assert_terminal_safe(&format!("{args:?} stdout"), &stdout);
        assert_terminal_safe(&format!("{args:?} stderr"), &stderr);
        assert!(
            (stdout.clone() + &stderr).contains(r"\u{1b}]0;owned\u{7}\n::error file=x::injected\r\n::add-mask::x"),
            "{args:?}: the text is shown escaped:\n{stdout}{stderr}"
        );
    }
    assert!(registry.requests().iter().any(|r| r.starts_with("GET /v2/app/manifests/sha256:ffff")));
}

/// Both platforms of an index, as a registry lists them.
fn platform_entries(store: &mut Store, amd64: &[u64], arm64: &[u64]) -> Vec<serde_json::Value> {
    let labels = serde_json::json!({ "org.opencontainers.image.title": "app" });
    let mut a = store.image("linux", "amd64", labels.clone(), amd64);
    a["platform"] = serde_json::json!({ "os": "linux", "architecture": "amd64" });
    let mut b = store.image("linux", "arm64", labels, arm64);
    b["platform"] = serde_json::json!({ "os": "linux", "architecture": "arm64" });
    vec![a, b]
}

/// Sizes near 2^64 (two layers of 2^64 - 1, one of 2^63 + 5 against a small baseline, a
/// small one against a huge baseline) are added and compared without a panic (exit 101).
#[test]
fn absurd_sizes_saturate_instead_of_overflowing() {
    let mut store = Store::default();
    let entries = platform_entries(&mut store, &[u64::MAX, u64::MAX], &[(1 << 63) + 5]);
    store.tag_index(entries);
    let served = store.clone();
    let registry = Hostile::start(move |method, path, _| served.answer(method, path));
    let root = workspace("absurd-sizes");
    std::fs::write(
        root.join("images/app/image.toml"),
        "description = \"app\"\n[size]\nmax_growth = \"20%\"\nmax_arch_spread = \"25%\"\n",
    )
    .unwrap();
    let baseline = root.join("baseline.json");
    let saved = |amd64: u64, arm64: u64| {
        let platform = |name: &str, compressed: u64| {
            serde_json::json!({
            "platform": name, "digest": format!("sha256:{}", "2".repeat(64)), "compressed": compressed,
            "uncompressed": null, "layers": 1, "baseline": null })
        };
        serde_json::json!({ "units": [{ "unit": "app", "reference": "x/app:1", "platforms": [
            platform("linux/amd64", amd64), platform("linux/arm64", arm64)] }] })
        .to_string()
    };
    // i64 casts wrapped (2^63 + 5 read as negative) and their subtraction overflowed.
    for (amd64, arm64) in [(1000, 1000), ((1 << 63) + 5, (1 << 63) + 5), (u64::MAX, 6), (0, 0)] {
        std::fs::write(&baseline, saved(amd64, arm64)).unwrap();
        let (status, stdout, stderr) = xtask(&root, &registry.host, &["size", "--baseline", baseline.as_str()]);
        assert!(matches!(status, Some(0 | 1)), "{status:?}: {stdout}{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stdout.contains("18446744073.71 GB"), "the saturated sum: {stdout}");
        let row = |platform: &str| {
            stdout.lines().find(|l| l.split_whitespace().nth(1) == Some(platform)).unwrap().to_string()
        };
        if amd64 == 1000 {
            assert!(row("linux/amd64").contains(" +18446744073.71 GB (+"), "growth shown as growth: {stdout}");
            assert!(row("linux/arm64").contains(" +9223372036.85 GB (+"), "{stdout}");
        }
    }
    let (status, stdout, stderr) = xtask(&root, &registry.host, &["--format", "json", "size"]);
    assert_eq!(status, Some(1), "over the spread budget: {stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["units"][0]["platforms"][0]["compressed"], u64::MAX);
    let (status, stdout, stderr) = xtask(&root, &registry.host, &["verify-manifests"]);
    assert!(matches!(status, Some(0 | 1)) && !stderr.contains("panicked"), "{status:?}: {stdout}{stderr}");
}

/// Index entries whose "digest" is no `sha256:<64 hex>` are refused before any URL is built:
/// they were fetched as tags (`../../../_catalog` walked out of the repository).
#[test]
fn junk_digests_in_an_index_never_reach_a_url() {
    let mut store = Store::default();
    let mut entries = platform_entries(&mut store, &[10], &[10]);
    entries[0]["digest"] = serde_json::json!("evil-tag");
    entries[1]["digest"] = serde_json::json!("../../../_catalog?n=1");
    store.tag_index(entries);
    let served = store.clone();
    let registry = Hostile::start(move |method, path, _| served.answer(method, path));
    let root = workspace("junk-digests");
    let (status, stdout, stderr) = xtask(&root, &registry.host, &["verify-manifests"]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(r#"digest "../../../_catalog?n=1" is not `sha256:<hex>`"#), "{stdout}");
    assert!(stdout.contains(r#"digest "evil-tag" is not `sha256:<hex>`"#), "{stdout}");
    let requests = registry.requests();
    assert!(!requests.iter().any(|r| r.contains("_catalog") || r.contains("evil-tag")), "{requests:#?}");
    let (status, stdout, stderr) = xtask(&root, &registry.host, &["size"]);
    assert!(matches!(status, Some(0 | 1)), "{stdout}{stderr}");
    assert!(!registry.requests().iter().any(|r| r.contains("_catalog") || r.contains("evil-tag")));
}

/// An attestation is an entry with BuildKit's platform *and* its annotation: one annotated
/// but with a real platform is a platform (it was skipped, so the undeclared one hid).
#[test]
fn an_annotation_alone_does_not_hide_a_platform() {
    let mut store = Store::default();
    let mut entries = platform_entries(&mut store, &[10], &[10]);
    let annotation = serde_json::json!({ "vnd.docker.reference.type": "attestation-manifest" });
    let mut hidden = store.image("linux", "s390x", serde_json::json!({}), &[10]);
    hidden["platform"] = serde_json::json!({ "os": "linux", "architecture": "s390x" });
    hidden["annotations"] = annotation.clone();
    let mut attestation = store.image("unknown", "unknown", serde_json::json!({}), &[10]);
    attestation["platform"] = serde_json::json!({ "os": "unknown", "architecture": "unknown" });
    attestation["annotations"] = annotation;
    let attestation_digest = attestation["digest"].as_str().unwrap().to_string();
    entries.extend([hidden, attestation]);
    store.tag_index(entries);
    let served = store.clone();
    let registry = Hostile::start(move |method, path, _| served.answer(method, path));
    let root = workspace("annotated-platform");
    let (status, stdout, stderr) = xtask(&root, &registry.host, &["verify-manifests"]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("holds linux/s390x, which the image does not declare"), "{stdout}");
    assert!(!stdout.contains("unknown/unknown"), "a real attestation is not a platform: {stdout}");
    assert!(!registry.requests().iter().any(|r| r.contains(&attestation_digest)), "the attestation was fetched");
}

/// Of an index only the declared platforms are fetched (an index of 100,000 entries made
/// 50,321 requests), and an index of more than 1,000 entries is refused in one sentence.
#[test]
fn only_declared_platforms_are_fetched_and_huge_indexes_are_refused() {
    let mut store = Store::default();
    let mut entries = platform_entries(&mut store, &[10], &[10]);
    let undeclared = store.image("linux", "riscv64", serde_json::json!({}), &[10]);
    for i in 0..300 {
        let mut entry = undeclared.clone();
        entry["digest"] = serde_json::json!(format!("sha256:{i:064x}"));
        entry["platform"] = serde_json::json!({ "os": "linux", "architecture": format!("junk{i}") });
        entries.push(entry);
    }
    store.tag_index(entries);
    let served = store.clone();
    let registry = Hostile::start(move |method, path, _| served.answer(method, path));
    let root = workspace("declared-only");
    let (status, stdout, stderr) = xtask(&root, &registry.host, &["--format", "json", "verify-manifests"]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    let undeclared = stdout.matches("which the image does not declare").count();
    assert_eq!(undeclared, 300, "every undeclared platform is still named (once: the tags agree)");
    let requests = registry.requests();
    // The ping, 4 HEADs, the index, 2 images, 2 configs.
    assert_eq!(requests.len(), 10, "{requests:#?}");
    assert!(!requests.iter().any(|r| r.contains(&"0".repeat(60))), "an undeclared entry was fetched");

    let mut store = Store::default();
    let mut entries = platform_entries(&mut store, &[10], &[10]);
    let extra = entries[0].clone();
    entries.extend(std::iter::repeat_n(extra, 1000));
    store.tag_index(entries);
    let served = store.clone();
    let registry = Hostile::start(move |method, path, _| served.answer(method, path));
    let (status, stdout, stderr) = xtask(&root, &registry.host, &["verify-manifests"]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("lists 1002 manifests, more than the 1000 this client reads of an index"), "{stdout}");
    assert!(registry.requests().len() <= 9, "{:#?}", registry.requests());
}

/// Rollback survives a damaged history: a truncated old record is named and skipped, a
/// record dated in the future does not pass for the newest (records are ordered by their
/// sequence number), and junk names in the tag list are skipped, not fatal.
#[test]
fn rollback_skips_a_corrupt_record_ignores_future_dates_and_junk_tags() {
    let mut store = Store::default();
    let entries = platform_entries(&mut store, &[10], &[10]);
    let v1 = store.tag_index(entries);
    let entries = platform_entries(&mut store, &[20], &[20]);
    let v2 = store.tag_index(entries);
    let store = Arc::new(Mutex::new(store));
    let served = store.clone();
    let registry = Hostile::start(move |method, path, body| {
        let mut store = served.lock().unwrap();
        match (method, path) {
            ("GET", "/v2/app/tags/list") => {
                let list = serde_json::json!({ "tags": ["latest", "../../../../v2/_catalog?", "x#frag", "1.2.3"] });
                (200, vec![], list.to_string().into_bytes())
            }
            ("PUT", p) if p.starts_with("/v2/app/manifests/") => {
                let tag = p.trim_start_matches("/v2/app/manifests/").to_string();
                let digest = sha256_digest(body);
                store.blobs.entry(digest.clone()).or_insert_with(|| (OCI_INDEX.into(), body.to_vec()));
                store.tags.insert(tag, digest.clone());
                (201, vec![("Docker-Content-Digest".into(), digest)], vec![])
            }
            _ => store.answer(method, path),
        }
    });
    let root = workspace("rollback-history");
    let releases = root.join("target/xtask/releases");
    std::fs::create_dir_all(&releases).unwrap();
    let record = |run: &str, sequence: Option<u64>, created: &str, before: &str, after: &str| {
        let mut record = serde_json::json!({
            "run": run, "created": created, "unit": "app", "repository": format!("{}/app", registry.host),
            "index": after,
            "moves": [{ "tag": format!("{}/app:latest", registry.host), "before": before, "after": after }],
        });
        if let Some(sequence) = sequence {
            record["sequence"] = serde_json::json!(sequence);
        }
        record.to_string()
    };
    // A legacy record (no sequence) from a machine whose clock was years ahead.
    std::fs::write(
        releases.join("20990101T000000Z-future-app.json"),
        record("future", None, "2099-01-01T00:00:00Z", &v2, &v1),
    )
    .unwrap();
    std::fs::write(
        releases.join("20261124T210000Z-good-app.json"),
        record("good", Some(1), "2026-11-24T21:00:00Z", &v1, &v2),
    )
    .unwrap();
    // Truncated by a crash.
    let whole = record("torn", Some(2), "2026-11-25T00:00:00Z", &v1, &v2);
    std::fs::write(releases.join("20261125T000000Z-torn-app.json"), &whole[..whole.len() / 2]).unwrap();

    let (status, stdout, stderr) = xtask(&root, &registry.host, &["rollback", "--dry-run"]);
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Rolling back run good (1 record(s))"), "{stdout}");
    assert!(stdout.contains(&format!("move back to {v1}")), "{stdout}");
    assert!(stderr.contains("20261125T000000Z-torn-app.json: not a release record"), "{stderr}");
    assert!(
        stderr.contains(r#"lists 2 tag name(s) that are not OCI tags, skipped: "../../../../v2/_catalog?", "x#frag""#),
        "{stderr}"
    );
    assert!(
        !registry.requests().iter().any(|r| r.contains("_catalog") || r.contains("x#frag") || r.contains("/x ")),
        "{:#?}",
        registry.requests()
    );

    let (status, stdout, stderr) = xtask(&root, &registry.host, &["rollback"]);
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Rolled back and verified 1 tag(s)."), "{stdout}");
    assert_eq!(store.lock().unwrap().tags["latest"], v1);
}

/// `Retry-After` counts against the command's deadline (`--timeout`): a registry that asks
/// for 999,999 s on every tag is given up on at once, not after 30 s per attempt and tag.
#[test]
fn retry_after_counts_against_the_commands_deadline() {
    let registry = Hostile::start(|_, path, _| match path {
        "/v2/" => (200, vec![], b"{}".to_vec()),
        _ => (503, vec![("Retry-After".into(), "999999".into())], vec![]),
    });
    let root = workspace("deadline");
    let (status, stdout, stderr) = xtask(&root, &registry.host, &["--timeout", "20s", "verify-manifests"]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("waiting 30 s to retry would pass the command's deadline, --timeout"), "{stdout}");
    let heads = registry.requests().iter().filter(|r| r.starts_with("HEAD ")).count();
    assert_eq!(heads, TAGS.len(), "one attempt per tag: {:#?}", registry.requests());

    let (status, _, stderr) = xtask(&root, &registry.host, &["--timeout", "soon", "verify-manifests"]);
    assert_eq!(status, Some(1));
    assert!(stderr.contains(r#"--timeout "soon": expected a whole number at "soon" (e.g. 90s, 10m, 1h)"#), "{stderr}");
}

/// A tag whose HEAD names a digest the registry then does not serve exists: it is not
/// reported as missing, but as pointing at nothing.
#[test]
fn a_tag_pointing_at_a_missing_manifest_is_not_called_missing() {
    let mut store = Store::default();
    let entries = platform_entries(&mut store, &[10], &[10]);
    store.tag_index(entries);
    let ghost = format!("sha256:{}", "e".repeat(64));
    let served = store.clone();
    let registry = Hostile::start(move |method, path, _| match (method, path) {
        ("HEAD", "/v2/app/manifests/1.2") => (
            200,
            vec![("Content-Type".into(), OCI_INDEX.into()), ("Docker-Content-Digest".into(), ghost.clone())],
            b"{}".to_vec(),
        ),
        _ => served.answer(method, path),
    });
    let root = workspace("ghost-digest");
    let (status, stdout, stderr) = xtask(&root, &registry.host, &["verify-manifests"]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    let row = stdout.lines().find(|l| l.contains("/app:1.2 ")).unwrap_or_default();
    assert!(
        row.contains(&format!("the tag points at sha256:{}, which the registry does not serve", "e".repeat(64))),
        "{stdout}"
    );
    assert!(!stdout.contains("does not exist"), "{stdout}");
}

/// A registry that accepts connections and never answers (a half-open peer, a blackholing
/// firewall) costs the command its deadline, not 30 s a request: every request is cut at it.
#[test]
fn a_blackholed_registry_ends_with_the_commands_deadline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let held = Arc::new(Mutex::new(Vec::new()));
    let holder = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            holder.lock().unwrap().push(stream);
        }
    });
    let root = workspace("blackhole");
    let (status, stdout, stderr) = xtask(&root, &host, &["--timeout", "2s", "verify-manifests"]);
    assert_eq!(status, Some(2), "an unreachable registry: {stdout}{stderr}");
    assert!(stderr.contains("deadline"), "the deadline ended it:\n{stderr}");
    assert!(!held.lock().unwrap().is_empty(), "the client did connect");
}

/// A tag list that never ends, or one page past the name cap, is refused with its bound named,
/// after a bounded number of requests: it cannot hold a rollback's memory or time.
#[test]
fn endless_or_huge_tag_lists_stop_at_their_bounds() {
    let record = |host: &str| {
        serde_json::json!({
            "run": "r", "sequence": 1, "created": "2026-11-24T21:00:00Z", "unit": "app",
            "repository": format!("{host}/app"), "index": format!("sha256:{}", "b".repeat(64)),
            "moves": [{ "tag": format!("{host}/app:latest"), "before": null, "after": format!("sha256:{}", "b".repeat(64)) }],
        })
        .to_string()
    };
    let endless = Hostile::start(|_, path, _| match path {
        "/v2/" => (200, vec![], b"{}".to_vec()),
        p if p.starts_with("/v2/app/tags/list") => {
            let page = p.rsplit_once("last=t").and_then(|(_, n)| n.parse::<u64>().ok()).unwrap_or(0) + 1;
            let link = format!("</v2/app/tags/list?last=t{page}>; rel=\"next\"");
            (
                200,
                vec![("Link".into(), link)],
                serde_json::json!({ "tags": [format!("t{page}")] }).to_string().into_bytes(),
            )
        }
        _ => (404, vec![], vec![]),
    });
    let root = workspace("endless-tags");
    let releases = root.join("target/xtask/releases");
    std::fs::create_dir_all(&releases).unwrap();
    std::fs::write(releases.join("20261124T210000Z-r-app.json"), record(&endless.host)).unwrap();
    let (status, stdout, stderr) = xtask(&root, &endless.host, &["rollback", "--dry-run"]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("the tag list of app goes on past 1000 pages"), "{stderr}");
    let pages = endless.requests().iter().filter(|r| r.contains("/tags/list")).count();
    assert_eq!(pages, 1000, "one request per page, up to the bound");

    let names: Vec<String> = (0..=xtask::sys::registry::MAX_TAGS).map(|n| format!("t{n}")).collect();
    let page = serde_json::json!({ "tags": names }).to_string().into_bytes();
    let huge = Hostile::start(move |_, path, _| match path {
        "/v2/" => (200, vec![], b"{}".to_vec()),
        p if p.starts_with("/v2/app/tags/list") => (200, vec![], page.clone()),
        _ => (404, vec![], vec![]),
    });
    std::fs::write(releases.join("20261124T210000Z-r-app.json"), record(&huge.host)).unwrap();
    let (status, stdout, stderr) = xtask(&root, &huge.host, &["rollback", "--dry-run"]);
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("the tag list of app holds more than 100000 tags"), "{stderr}");
}
