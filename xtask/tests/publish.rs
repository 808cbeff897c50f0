//! `ops::publish::Publisher` against a scripted loopback registry that stores what it is sent,
//! can fail its Nth write, can let another publisher move a tag in the middle of a publish, and
//! can hold images whose configs lie about their platform or blobs that do not match their digest. Each test checks the registry and
//! the release records after the fact: which tags moved, to what, and what was recorded.
//! None needs the engine.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use camino::Utf8PathBuf;
use xtask::core::definitions::{Network, SizeBudget};
use xtask::core::plan::Unit;
use xtask::core::release::ReleaseRecord;
use xtask::oci::digest::sha256_digest;
use xtask::oci::reference::TagRef;
use xtask::ops::publish::{read_records, snapshot, Publisher};
use xtask::sys::registry::Registry;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const TAGS: [&str; 3] = ["latest", "1.2.3", "1.2"];

/// Something another client does to the tags.
type Hook = Box<dyn FnMut(&mut BTreeMap<String, String>) + Send>;

/// What the registry holds for `app`: content by digest, and tags.
#[derive(Default)]
struct Store {
    blobs: HashMap<String, (String, Vec<u8>)>,
    tags: BTreeMap<String, String>,
    /// PUTs answered so far, failed ones included.
    writes: usize,
    /// From this write on (1-based), every PUT fails with a 400, as a registry that went away.
    fail_from: Option<usize>,
    /// Accepted PUTs by digest that are then not served: an index that "did not land".
    lose_by_digest: bool,
    /// A tag whose PUT is acknowledged but not applied.
    lose_tag: Option<String>,
    /// Serve blobs (and manifests by digest) with a byte added, claiming the digest asked for
    /// (`Some(true)`) or sending no digest header (`Some(false)`).
    tamper: Option<bool>,
    /// Run after the write with this number succeeded: another publisher acting mid-publish.
    after_write: Option<(usize, Hook)>,
    log: Vec<String>,
}

impl Store {
    fn put(&mut self, media_type: &str, bytes: Vec<u8>) -> String {
        let digest = sha256_digest(&bytes);
        self.blobs.insert(digest.clone(), (media_type.to_string(), bytes));
        digest
    }

    /// An image whose config says `os/arch`; returns its manifest digest.
    fn image(&mut self, os: &str, arch: &str) -> String {
        self.image_labelled(os, arch, arch)
    }

    /// Like `image`, its config labelled `n=<label>`: two images of one platform differ by it.
    fn image_labelled(&mut self, os: &str, arch: &str, label: &str) -> String {
        let config = serde_json::json!({ "os": os, "architecture": arch, "config": { "Labels": { "n": label } } });
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_size = config_bytes.len();
        let config_digest = self.put(OCI_CONFIG, config_bytes);
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size },
            "layers": [],
        });
        self.put(OCI_MANIFEST, serde_json::to_vec(&manifest).unwrap())
    }

    fn answer(
        &mut self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        self.log.push(format!("{method} {path}"));
        if path == "/v2/" {
            return (200, vec![], b"{}".to_vec());
        }
        let Some(rest) = path.strip_prefix("/v2/app/") else { return (404, vec![], vec![]) };
        let served = |(media_type, bytes): &(String, Vec<u8>)| {
            let headers = vec![
                ("Content-Type".to_string(), media_type.clone()),
                ("Docker-Content-Digest".to_string(), sha256_digest(bytes)),
            ];
            (200, headers, bytes.clone())
        };
        match (method, rest.split_once('/')) {
            ("PUT", Some(("manifests", reference))) => {
                self.writes += 1;
                if self.fail_from.is_some_and(|n| self.writes >= n) {
                    let error = br#"{"errors":[{"code":"DENIED","message":"scripted failure"}]}"#.to_vec();
                    return (400, vec![], error);
                }
                let digest = sha256_digest(&body);
                if reference.starts_with("sha256:") {
                    if !self.lose_by_digest {
                        self.blobs.insert(digest.clone(), (content_type.to_string(), body));
                    }
                } else if self.lose_tag.as_deref() != Some(reference) {
                    self.blobs.insert(digest.clone(), (content_type.to_string(), body));
                    self.tags.insert(reference.to_string(), digest.clone());
                }
                if let Some((n, hook)) = &mut self.after_write {
                    if *n == self.writes {
                        hook(&mut self.tags);
                    }
                }
                (201, vec![("Docker-Content-Digest".into(), digest)], vec![])
            }
            ("GET" | "HEAD", Some(("manifests", reference))) => {
                let digest = self.tags.get(reference).cloned().unwrap_or_else(|| reference.to_string());
                match self.blobs.get(&digest).filter(|(t, _)| t != OCI_CONFIG) {
                    Some((media_type, bytes)) if method == "GET" && reference == digest && self.tamper.is_some() => {
                        let mut headers = vec![("Content-Type".to_string(), media_type.clone())];
                        if self.tamper == Some(true) {
                            headers.push(("Docker-Content-Digest".to_string(), digest.clone()));
                        }
                        (200, headers, [bytes.as_slice(), b" "].concat())
                    }
                    Some(found) => served(found),
                    None => (404, vec![], br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#.to_vec()),
                }
            }
            ("GET", Some(("blobs", digest))) => match (self.blobs.get(digest), self.tamper) {
                (Some((media_type, bytes)), Some(claim)) => {
                    let tampered = [bytes.as_slice(), b" "].concat();
                    let mut headers = vec![("Content-Type".to_string(), media_type.clone())];
                    if claim {
                        headers.push(("Docker-Content-Digest".to_string(), digest.to_string()));
                    }
                    (200, headers, tampered)
                }
                (Some(found), None) => served(found),
                (None, _) => (404, vec![], vec![]),
            },
            _ => (405, vec![], vec![]),
        }
    }
}

/// A loopback registry over a shared `Store`, one thread per connection.
struct Scripted {
    host: String,
    store: Arc<Mutex<Store>>,
}

impl Scripted {
    fn start(store: Store) -> Scripted {
        let store = Arc::new(Mutex::new(store));
        let shared = store.clone();
        let host = common::serve_http(move |request| {
            shared.lock().unwrap().answer(request.method, request.path, request.body, request.content_type)
        });
        Scripted { host, store }
    }

    fn tags(&self) -> BTreeMap<String, String> {
        self.store.lock().unwrap().tags.clone()
    }

    fn writes(&self) -> usize {
        self.store.lock().unwrap().writes
    }
}

fn unit(host: &str) -> Unit {
    let repository = format!("{host}/app");
    Unit {
        id: "app".into(),
        image: "app".into(),
        variant: None,
        default: true,
        description: None,
        licenses: None,
        repository: repository.clone(),
        cache: format!("{repository}-cache:buildcache-"),
        platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
        dockerfile: "images/app/Dockerfile".into(),
        context: "images/app".into(),
        args: BTreeMap::new(),
        depends_on: vec![],
        parents: vec![],
        tags: TAGS.iter().map(|t| TagRef::new(repository.clone(), *t)).collect(),
        version: Some("1.2.3".into()),
        network: Network::None,
        rootfs: None,
        size: SizeBudget::default(),
        secrets: BTreeMap::new(),
    }
}

/// A store with an amd64 and an arm64 image (or, with `lying_arm64`, an "arm64" image whose
/// config says amd64), and the platform digests to publish.
fn store_with_images(lying_arm64: bool) -> (Store, BTreeMap<String, String>) {
    let mut store = Store::default();
    let amd64 = store.image("linux", "amd64");
    let arm64 = if lying_arm64 {
        store.image_labelled("linux", "amd64", "claims arm64")
    } else {
        store.image("linux", "arm64")
    };
    let digests = BTreeMap::from([("linux/amd64".to_string(), amd64), ("linux/arm64".to_string(), arm64)]);
    (store, digests)
}

/// An old release every tag points at, so that "no tag moved" is a claim that can fail.
fn old_release(store: &mut Store) -> String {
    let old = store.image("linux", "riscv64");
    for tag in TAGS {
        store.tags.insert(tag.to_string(), old.clone());
    }
    old
}

struct Run {
    client: Registry,
    unit: Unit,
    releases: Utf8PathBuf,
}

impl Run {
    fn new(registry: &Scripted, name: &str) -> Run {
        // No login is ever looked up: the scripted registry never asks for one.
        let client = Registry::new(&registry.host).unwrap();
        Run {
            client,
            unit: unit(&registry.host),
            releases: common::scratch(&format!("publish-{name}")).join("releases"),
        }
    }

    fn publish(&self, digests: &BTreeMap<String, String>, force_tags: bool) -> Result<String, String> {
        let before = snapshot(&self.client, self.unit.tags.clone()).unwrap();
        self.publish_from(&before, digests, force_tags)
    }

    fn publish_from(
        &self,
        before: &xtask::core::release::Snapshot,
        digests: &BTreeMap<String, String>,
        force_tags: bool,
    ) -> Result<String, String> {
        let publisher = Publisher {
            client: &self.client,
            before,
            force_tags,
            releases_dir: self.releases.clone(),
            run: "r1".into(),
            sequence: 1,
            created: "2026-01-02T03:04:05Z".into(),
            committed: Some("2026-01-02T03:00:00Z".into()),
        };
        publisher.publish(&self.unit, digests, &BTreeMap::new()).map_err(|e| format!("{e:#}"))
    }

    fn records(&self) -> Vec<ReleaseRecord> {
        read_records(&self.releases).unwrap().0
    }
}

fn all_at(tags: &BTreeMap<String, String>, digest: &str) -> bool {
    TAGS.iter().all(|t| tags.get(*t).map(String::as_str) == Some(digest))
}

#[test]
fn a_healthy_publish_moves_every_tag_to_the_verified_index_after_recording_it() {
    let (mut store, digests) = store_with_images(false);
    let old = old_release(&mut store);
    let registry = Scripted::start(store);
    let run = Run::new(&registry, "healthy");
    let index = run.publish(&digests, false).unwrap();
    assert!(all_at(&registry.tags(), &index), "{:?}", registry.tags());
    assert_eq!(registry.writes(), 1 + TAGS.len(), "the index by digest, then one PUT per tag");
    let records = run.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].index, index);
    assert!(records[0].moves.iter().all(|m| m.before.as_deref() == Some(old.as_str()) && m.after == index));
    // The lead time's ends: the commit's time as given, the moment of writing as the clock says.
    assert_eq!(records[0].committed.as_deref(), Some("2026-01-02T03:00:00Z"));
    let published = records[0].published.as_deref().and_then(xtask::core::event::parse_utc).unwrap();
    assert!(published > 1_764_000_000, "{:?}", records[0].published);
    // The index was read back, and every platform's manifest and config, before any tag moved.
    let log = registry.store.lock().unwrap().log.clone();
    let first_tag_put = log.iter().position(|l| l.starts_with("PUT /v2/app/manifests/latest")).unwrap();
    let index_read = log.iter().position(|l| *l == format!("GET /v2/app/manifests/{index}")).unwrap();
    assert!(index_read < first_tag_put, "{log:#?}");
    for digest in digests.values() {
        let read = log.iter().position(|l| *l == format!("GET /v2/app/manifests/{digest}"));
        assert!(read.is_some_and(|r| r < first_tag_put), "{digest} was not read back first: {log:#?}");
    }
}

/// The registry fails its Nth write and every one after. Whatever N is, no tag ever points at
/// anything but the old release or the verified index, the record exists before any tag
/// moved, and a rerun against the healthy registry converges.
#[test]
fn a_failed_nth_write_leaves_no_tag_on_an_unverified_index_and_a_rerun_converges() {
    for n in 1..=1 + TAGS.len() {
        let (mut store, digests) = store_with_images(false);
        let old = old_release(&mut store);
        store.fail_from = Some(n);
        let registry = Scripted::start(store);
        let run = Run::new(&registry, &format!("nth-{n}"));
        let err = run.publish(&digests, false).unwrap_err();
        assert!(err.contains("scripted failure"), "write {n}: {err}");
        let tags = registry.tags();
        let records = run.records();
        if n == 1 {
            assert!(err.starts_with("pushing the index by digest"), "{err}");
            assert!(all_at(&tags, &old), "write 1 failed, yet a tag moved: {tags:?}");
            assert!(records.is_empty(), "a record of a publish that never pushed its index");
        } else {
            // Writes 2.. are tag moves: the record came first, and the tags moved so far are
            // exactly the first n - 2, at the index the record names.
            assert_eq!(records.len(), 1, "write {n}: the record is written before the first tag moves");
            let index = &records[0].index;
            for (i, tag) in TAGS.iter().enumerate() {
                let expected = if i < n - 2 { index } else { &old };
                assert_eq!(&tags[*tag], expected, "write {n}: tag {tag}");
            }
            // The error says how many tags moved, which may have, and what finishes or undoes it.
            let moved = if n == 2 { "none".to_string() } else { TAGS[..n - 2].join(", ") };
            let head =
                format!("{} of 3 tag(s) moved before this failure ({moved}), and {} may have too", n - 2, TAGS[n - 2]);
            assert!(err.starts_with(&head), "write {n}: {err}");
            assert!(err.contains(&format!("moving {}/app:{}", registry.host, TAGS[n - 2])), "{err}");
            assert!(err.contains("`cargo xtask rollback`"), "{err}");
        }
        // The registry is back: the same publish converges on the same index.
        registry.store.lock().unwrap().fail_from = None;
        let index = run.publish(&digests, false).unwrap();
        assert!(all_at(&registry.tags(), &index), "write {n}: the rerun left {:?}", registry.tags());
    }
}

/// The re-read of the pushed index is what refuses an index that the registry acknowledged but
/// does not serve, and an image whose config is not the platform of its slot.
#[test]
fn the_pushed_index_is_read_back_and_its_platforms_checked_before_any_tag_moves() {
    let (mut store, digests) = store_with_images(false);
    let old = old_release(&mut store);
    store.lose_by_digest = true;
    let registry = Scripted::start(store);
    let run = Run::new(&registry, "lost-index");
    let err = run.publish(&digests, false).unwrap_err();
    assert!(err.contains("did not land"), "{err}");
    assert!(all_at(&registry.tags(), &old), "{:?}", registry.tags());
    assert!(run.records().is_empty());

    let (mut store, digests) = store_with_images(true);
    let old = old_release(&mut store);
    let registry = Scripted::start(store);
    let run = Run::new(&registry, "lying-config");
    let err = run.publish(&digests, false).unwrap_err();
    assert!(err.contains("the linux/arm64 image") && err.contains("is a linux/amd64"), "{err}");
    assert!(all_at(&registry.tags(), &old), "{:?}", registry.tags());
    assert!(run.records().is_empty(), "nothing is recorded for an index that failed verification");
    assert_eq!(registry.writes(), 1, "only the index by digest was written");

    // Each tag is read back after its move: one the registry acknowledged but did not move stops
    // the publish there, naming it.
    let (mut store, digests) = store_with_images(false);
    let old = old_release(&mut store);
    store.lose_tag = Some("1.2.3".into());
    let registry = Scripted::start(store);
    let run = Run::new(&registry, "lost-tag");
    let err = run.publish(&digests, false).unwrap_err();
    let index = &run.records()[0].index;
    assert!(
        err.ends_with(&format!("{}/app:1.2.3 reads back as Some(\"{old}\") after moving it to {index}", registry.host)),
        "{err}"
    );
    assert!(err.starts_with("1 of 3 tag(s) moved before this failure (latest), and 1.2.3 may have too"), "{err}");
    let tags = registry.tags();
    assert_eq!((&tags["latest"], &tags["1.2.3"], &tags["1.2"]), (index, &old, &old));
}

/// Another publisher moves `latest` between this run's snapshot and its tag moves: the publish
/// is refused and nothing of it is recorded or moved; `--force-tags` moves every tag anyway,
/// recording the other publisher's digest as `before`, so a rollback restores it.
#[test]
fn another_publishers_tag_move_is_refused_unless_force_tags() {
    for force_tags in [false, true] {
        let (mut store, digests) = store_with_images(false);
        let old = old_release(&mut store);
        let theirs = store.image("linux", "s390x");
        let moved = theirs.clone();
        // Their move lands right after our index is pushed (write 1), before the tags are read again.
        store.after_write = Some((1, Box::new(move |tags| drop(tags.insert("latest".into(), moved.clone())))));
        let registry = Scripted::start(store);
        let run = Run::new(&registry, &format!("race-{force_tags}"));
        let result = run.publish(&digests, force_tags);
        let tags = registry.tags();
        if !force_tags {
            let err = result.unwrap_err();
            assert_eq!(
                err,
                format!(
                    "another publisher moved {}/app:latest since this run started; refusing to move them (pass \
                     --force-tags to override)",
                    registry.host
                )
            );
            assert_eq!(tags["latest"], theirs, "their move stands");
            assert!(TAGS[1..].iter().all(|t| tags[*t] == old), "{tags:?}");
            assert!(run.records().is_empty());
            assert_eq!(registry.writes(), 1);
        } else {
            let index = result.unwrap();
            assert!(all_at(&tags, &index), "{tags:?}");
            let records = run.records();
            let befores: BTreeMap<&str, Option<&str>> =
                records[0].moves.iter().map(|m| (m.tag.rsplit_once(':').unwrap().1, m.before.as_deref())).collect();
            assert_eq!(befores["latest"], Some(theirs.as_str()), "the record keeps what it replaced");
            assert_eq!(befores["1.2.3"], Some(old.as_str()));
        }
    }
    // A tag this very run already moved to its own index is no other publisher's move.
    let (mut store, digests) = store_with_images(false);
    old_release(&mut store);
    let registry = Scripted::start(store);
    let run = Run::new(&registry, "own-move");
    let before = snapshot(&run.client, run.unit.tags.clone()).unwrap();
    let index = run.publish_from(&before, &digests, false).unwrap();
    assert_eq!(run.publish_from(&before, &digests, false).unwrap(), index, "a rerun of the same publish");
}

/// A release record that cannot be written stops the publish before any tag moves.
#[test]
fn no_tag_moves_when_the_release_record_cannot_be_written() {
    let (mut store, digests) = store_with_images(false);
    let old = old_release(&mut store);
    let registry = Scripted::start(store);
    let mut run = Run::new(&registry, "no-record");
    // A file where the releases directory should be.
    std::fs::create_dir_all(run.releases.parent().unwrap()).unwrap();
    std::fs::write(&run.releases, "").unwrap();
    run.releases = run.releases.join("nested");
    let err = run.publish(&digests, false).unwrap_err();
    assert!(err.starts_with("writing the release record; no tag was moved"), "{err}");
    assert!(all_at(&registry.tags(), &old), "{:?}", registry.tags());
    assert_eq!(registry.writes(), 1, "only the index by digest was written");
}

/// A config blob whose bytes do not hash to the digest it was asked by is refused, whether the
/// registry claims that digest in its header or sends none; so is the publish that needs it.
#[test]
fn blobs_whose_bytes_do_not_hash_to_their_digest_are_refused() {
    for claim in [true, false] {
        let (mut store, digests) = store_with_images(false);
        let old = old_release(&mut store);
        let config = {
            let (_, manifest) = &store.blobs[&digests["linux/amd64"]];
            let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
            manifest["config"]["digest"].as_str().unwrap().to_string()
        };
        store.tamper = Some(claim);
        let registry = Scripted::start(store);
        let run = Run::new(&registry, &format!("tampered-{claim}"));
        let err = format!("{:#}", run.client.blob("app", &config).unwrap_err());
        let expected = if claim {
            format!("app@{config}: the registry says its digest is {config}, but its content hashes to sha256:")
        } else {
            format!("app@{config}: requested by digest {config}, but its content hashes to sha256:")
        };
        assert!(err.starts_with(&expected), "header {claim}: {err}");
        assert!(run.client.config("app", &config).is_err(), "configs are read through the same check");
        // So is a manifest asked for by digest; by tag, only the header can be checked.
        let image = &digests["linux/arm64"];
        let err = format!("{:#}", run.client.manifest_by_digest("app", image).unwrap_err());
        assert!(err.starts_with(&expected.replace(&config, image)), "header {claim}: {err}");
        let err = run.publish(&digests, false).unwrap_err();
        assert!(err.contains("but its content hashes to"), "{err}");
        assert!(all_at(&registry.tags(), &old), "{:?}", registry.tags());
    }
}
