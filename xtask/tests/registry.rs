//! The registry client against a real `docker-registry` that requires a login (Basic
//! challenges), and against a scripted loopback server for what docker-registry never does:
//! Bearer tokens, transient failures, lying digests.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::prelude::{Engine, BASE64_STANDARD};
use common::{scratch, TestRegistry, HTPASSWD, PASSWORD};
use xtask::oci::digest::sha256_digest;
use xtask::oci::manifest::MANIFEST_MEDIA_TYPES;
use xtask::sys::pool::map_concurrent;
use xtask::sys::registry::{CredentialSource, Registry};

const USER: &str = "xtask";

const OCI_INDEX: &str = MANIFEST_MEDIA_TYPES[0];
const OCI_MANIFEST: &str = MANIFEST_MEDIA_TYPES[1];
const DOCKER_IMAGE: &str = MANIFEST_MEDIA_TYPES[3];

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).proxy(None).build().into()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64_STANDARD.encode(format!("{user}:{password}")))
}

/// What `push_image` put in the registry.
struct Pushed {
    index: Vec<u8>,
    image: String,
    config: String,
    layer: Vec<u8>,
    layer_digest: String,
}

/// Uploads a one-layer linux/amd64 image and an OCI index of it under `tags`, with plain
/// distribution-API calls: the client under test only reads.
fn push_image(host: &str, repository: &str, tags: &[&str]) -> Pushed {
    let (agent, base, auth) = (agent(), format!("http://{host}"), basic(USER, PASSWORD));
    let blob = |content: &[u8]| {
        let digest = sha256_digest(content);
        let started = agent
            .post(format!("{base}/v2/{repository}/blobs/uploads/"))
            .header("Authorization", &auth)
            .send_empty()
            .unwrap();
        assert_eq!(started.status(), 202, "starting an upload");
        let location = started.headers().get("location").unwrap().to_str().unwrap();
        let location = if location.starts_with('/') { format!("{base}{location}") } else { location.to_string() };
        let separator = if location.contains('?') { '&' } else { '?' };
        let done = agent
            .put(format!("{location}{separator}digest={digest}"))
            .header("Authorization", &auth)
            .header("Content-Type", "application/octet-stream")
            .send(content)
            .unwrap();
        assert_eq!(done.status(), 201, "uploading {digest}");
        digest
    };
    let manifest = |reference: &str, media_type: &str, content: &[u8]| {
        let done = agent
            .put(format!("{base}/v2/{repository}/manifests/{reference}"))
            .header("Authorization", &auth)
            .header("Content-Type", media_type)
            .send(content)
            .unwrap();
        assert_eq!(done.status(), 201, "putting the manifest {reference}");
    };
    let layer = b"layer bytes: the registry does not look inside".to_vec();
    let layer_digest = blob(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Labels": { "org.opencontainers.image.title": "app" } },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    })
    .to_string();
    let config_digest = blob(config.as_bytes());
    let image = serde_json::json!({
        "schemaVersion": 2, "mediaType": DOCKER_IMAGE,
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": config_digest },
        "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layer.len(), "digest": layer_digest }],
    })
    .to_string();
    let image_digest = sha256_digest(image.as_bytes());
    manifest(&image_digest, DOCKER_IMAGE, image.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{ "mediaType": DOCKER_IMAGE, "size": image.len(), "digest": image_digest,
                        "platform": { "architecture": "amd64", "os": "linux" } }],
    })
    .to_string();
    for tag in tags {
        manifest(tag, OCI_INDEX, index.as_bytes());
    }
    Pushed { index: index.into_bytes(), image: image_digest, config: config_digest, layer, layer_digest }
}

/// A docker config directory holding `config` (if any) and nothing on the helper PATH.
fn docker_config(name: &str, config: Option<&str>) -> CredentialSource {
    let dir = scratch(name);
    if let Some(config) = config {
        std::fs::write(dir.join("config.json"), config).unwrap();
    }
    CredentialSource { config_dir: dir.into(), helper_path: Default::default() }
}

fn auths(host: &str, user: &str, password: &str) -> String {
    let auth = BASE64_STANDARD.encode(format!("{user}:{password}"));
    serde_json::json!({ "auths": { host: { "auth": auth } } }).to_string()
}

#[test]
fn a_registry_that_wants_a_login_is_read_with_the_login_in_docker_config() {
    let registry = TestRegistry::start_with_logins("logins", HTPASSWD);
    let host = registry.host.as_str();
    let pushed = push_image(host, "team/app", &["v1", "v2"]);

    // docker-registry answers anonymous requests with a Basic challenge.
    let raw = agent().get(format!("http://{host}/v2/team/app/tags/list")).call().unwrap();
    assert_eq!(raw.status(), 401);
    assert_eq!(raw.headers().get("www-authenticate").unwrap(), "Basic realm=\"xtask\"");

    let anonymous = Registry::with_credentials(host, docker_config("logins-none", None)).unwrap();
    anonymous.ping().expect("a registry that wants a login still answers");
    let err = format!("{:#}", anonymous.manifest("team/app", "v1").unwrap_err());
    assert!(err.contains("requires a login (HTTP 401)"), "{err}");
    assert!(err.contains(&format!("run `docker login {host}`")), "{err}");

    let wrong = Registry::with_credentials(host, docker_config("logins-wrong", Some(&auths(host, USER, "not-it"))));
    let err = format!("{:#}", wrong.unwrap().tags("team/app").unwrap_err());
    assert!(err.contains(&format!("{host} refused the credentials of xtask")), "{err}");
    assert!(!err.contains("not-it"), "the password shows in: {err}");

    let client = Registry::with_credentials(host, docker_config("logins-auths", Some(&auths(host, USER, PASSWORD))));
    let client = client.unwrap();
    let index = client.manifest("team/app", "v1").unwrap().expect("v1 was pushed");
    assert_eq!((index.media_type.as_str(), index.digest.clone()), (OCI_INDEX, sha256_digest(&pushed.index)));
    assert_eq!(index.body.manifests[0].platform.as_ref().unwrap().name(), "linux/amd64");
    let image = client.manifest("team/app", &pushed.image).unwrap().unwrap();
    assert_eq!((image.media_type.as_str(), image.digest.as_str()), (DOCKER_IMAGE, pushed.image.as_str()));
    assert_eq!(image.body.config.as_ref().unwrap().digest, pushed.config);
    let config = client.config("team/app", &pushed.config).unwrap();
    assert_eq!((config.os.as_str(), config.architecture.as_str()), ("linux", "amd64"));
    assert_eq!(config.labels()["org.opencontainers.image.title"], "app");
    assert_eq!(client.blob("team/app", &pushed.layer_digest).unwrap(), pushed.layer);
    let head = client.head_manifest("team/app", "v2").unwrap().unwrap();
    assert_eq!(
        (head.media_type.as_str(), &head.digest, head.size),
        (OCI_INDEX, &index.digest, pushed.index.len() as u64)
    );
    assert!(client.manifest("team/app", "v3").unwrap().is_none());
    assert!(client.head_manifest("team/app", "v3").unwrap().is_none());
    let mut tags = client.tags("team/app").unwrap();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
    let err = format!("{:#}", client.config("team/app", &pushed.layer_digest).unwrap_err());
    assert!(err.contains("parsing the image config"), "{err}");

    // Many tags at once, as verify-manifests reads them: one agent and one login, shared.
    let references: Vec<&str> = ["v1", "v2"].repeat(25);
    let digests = map_concurrent(references, 8, |tag| client.manifest("team/app", tag).unwrap().unwrap().digest);
    assert_eq!(digests.len(), 50);
    assert!(digests.iter().all(|d| *d == index.digest), "{digests:?}");

    // The same login through a credential helper, found on the PATH given.
    let helped = docker_config("logins-helper", Some(r#"{"credsStore": "xtasktest"}"#));
    let bin = scratch("logins-helper-bin");
    write_helper(bin.as_std_path(), host);
    let helped = CredentialSource { helper_path: bin.into_os_string(), ..helped };
    let client = Registry::with_credentials(host, helped).unwrap();
    assert_eq!(client.manifest("team/app", "v2").unwrap().unwrap().digest, index.digest);
}

/// `docker-credential-xtasktest`, which knows the test login for `host` only.
fn write_helper(bin: &Path, host: &str) {
    use std::os::unix::fs::PermissionsExt;
    let script = bin.join("docker-credential-xtasktest");
    let text = format!(
        "#!/bin/sh\nread -r server || true\nif [ \"$1 $server\" = \"get {host}\" ]; then\n  \
         printf '{{\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\nelse\n  \
         echo 'credentials not found in native keychain'; exit 1\nfi\n"
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// What the scripted server answers: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

/// Serves `connections` requests, one per connection, from `respond` (given `METHOD path`, the
/// Authorization header and the body), and logs each as `METHOD path auth[ body]`.
fn serve(
    listener: TcpListener,
    connections: usize,
    respond: impl Fn(&str, Option<&str>, &str) -> Answer + Send + 'static,
) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let written = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut headers = HashMap::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let Some((name, value)) = line.trim_end().split_once(':') else { break };
                headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
            }
            let length = headers.get("content-length").map_or(0, |l| l.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body = String::from_utf8(body).unwrap();
            let request = request.rsplit_once(' ').unwrap().0.to_string();
            let auth = headers.get("authorization").map(String::as_str);
            let logged = format!("{request} {} {body}", auth.unwrap_or("-"));
            written.lock().unwrap().push(logged.trim_end().to_string());
            let (status, headers, body) = respond(&request, auth, &body);
            let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            stream.write_all(format!("{head}\r\n").as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        }
    });
    log
}

#[test]
fn bearer_tokens_retries_and_digest_checks_against_a_scripted_registry() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let realm = format!("http://{host}/token");
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#.to_vec();
    let digest = sha256_digest(&manifest);
    let basic_login = basic("ci", "hunter2");
    let answered = Mutex::new(HashMap::<String, usize>::new());
    let respond = {
        let (realm, manifest, digest, basic_login) =
            (realm.clone(), manifest.clone(), digest.clone(), basic_login.clone());
        move |request: &str, auth: Option<&str>, body: &str| -> Answer {
            let seen = {
                let mut answered = answered.lock().unwrap();
                let count = answered.entry(request.to_string()).or_default();
                *count += 1;
                *count
            };
            let challenge = format!(r#"Bearer realm="{realm}",service="scripted",scope="repository:app:pull,push""#);
            let bearer = auth == Some("Bearer tok-1");
            match request {
                "GET /v2/app/manifests/v1" if seen == 1 => (503, vec![("Retry-After", "0".into())], vec![]),
                "GET /v2/app/manifests/v1" | "GET /v2/app/manifests/bad" | "GET /v2/app/manifests/gone" if !bearer => {
                    (401, vec![("WWW-Authenticate", challenge)], vec![])
                }
                "GET /v2/app/manifests/v1" => (
                    200,
                    vec![("Content-Type", OCI_MANIFEST.into()), ("Docker-Content-Digest", digest.clone())],
                    manifest.clone(),
                ),
                "GET /v2/app/manifests/bad" => (
                    200,
                    vec![("Content-Type", OCI_MANIFEST.into()), ("Docker-Content-Digest", sha256_digest(b"other"))],
                    manifest.clone(),
                ),
                r if r.starts_with("GET /token?") && auth == Some(basic_login.as_str()) => {
                    (200, vec![], br#"{"access_token":"tok-1","expires_in":300}"#.to_vec())
                }
                "POST /token" if body.contains("refresh_token=refresh-1") => {
                    (200, vec![], br#"{"token":"tok-1"}"#.to_vec())
                }
                "GET /v2/flaky/manifests/v1" => {
                    (503, vec![], br#"{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}"#.to_vec())
                }
                _ => (404, vec![], vec![]),
            }
        }
    };
    let log = serve(listener, 14, respond);
    let config = serde_json::json!({ "auths": { &host: { "username": "ci", "password": "hunter2" } } }).to_string();
    let client = Registry::with_credentials(&host, docker_config("scripted", Some(&config))).unwrap();

    let found = client.manifest("app", "v1").unwrap().unwrap();
    assert_eq!((found.digest.as_str(), found.media_type.as_str()), (digest.as_str(), OCI_MANIFEST));
    // The token is cached: the second read needs no challenge.
    assert_eq!(client.manifest("app", "v1").unwrap().unwrap().digest, digest);
    let err = format!("{:#}", client.manifest("app", "bad").unwrap_err());
    assert_eq!(
        err,
        format!(
            "app:bad: the registry says its digest is {}, but its content hashes to {digest}",
            sha256_digest(b"other")
        )
    );
    assert!(client.manifest("app", "gone").unwrap().is_none(), "a 404 is an answer, not retried");
    let err = format!("{:#}", client.manifest("flaky", "v1").unwrap_err());
    assert!(err.contains("HTTP 503 (UNAVAILABLE: busy) (gave up after 4 attempts)"), "{err}");
    // An identity token is traded for a token with OAuth2's refresh-token POST.
    let config = serde_json::json!({ "auths": { &host: { "identitytoken": "refresh-1" } } }).to_string();
    let client = Registry::with_credentials(&host, docker_config("scripted-identity", Some(&config))).unwrap();
    assert_eq!(client.manifest("app", "v1").unwrap().unwrap().digest, digest);

    let log = log.lock().unwrap().clone();
    let token = log.iter().find(|l| l.starts_with("GET /token?")).expect("a token was requested").clone();
    let token_query = percent_decode(token.split_once('?').unwrap().1.split(' ').next().unwrap());
    let mut params: Vec<&str> = token_query.split('&').collect();
    params.sort();
    assert_eq!(params, ["scope=repository:app:pull,push", "service=scripted"]);
    let form = log.iter().find_map(|l| l.strip_prefix("POST /token - ")).expect("an identity token was traded");
    let form_fields = percent_decode(form);
    let mut fields: Vec<&str> = form_fields.split('&').collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "client_id=xtask",
            "grant_type=refresh_token",
            "refresh_token=refresh-1",
            "scope=repository:app:pull,push",
            "service=scripted"
        ]
    );
    let bearer = "Bearer tok-1";
    let expected = [
        "GET /v2/app/manifests/v1 -".to_string(),
        "GET /v2/app/manifests/v1 -".to_string(),
        format!("GET /token?{} {basic_login}", token.split_once('?').unwrap().1.split(' ').next().unwrap()),
        format!("GET /v2/app/manifests/v1 {bearer}"),
        format!("GET /v2/app/manifests/v1 {bearer}"),
        format!("GET /v2/app/manifests/bad {bearer}"),
        format!("GET /v2/app/manifests/gone {bearer}"),
        "GET /v2/flaky/manifests/v1 -".to_string(),
        "GET /v2/flaky/manifests/v1 -".to_string(),
        "GET /v2/flaky/manifests/v1 -".to_string(),
        "GET /v2/flaky/manifests/v1 -".to_string(),
        "GET /v2/app/manifests/v1 -".to_string(),
        format!("POST /token - {form}"),
        format!("GET /v2/app/manifests/v1 {bearer}"),
    ];
    assert_eq!(log, expected);
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A scripted server on a fresh loopback port: its `host:port` and its request log.
fn scripted(
    connections: usize,
    respond: impl Fn(&str, Option<&str>, &str) -> Answer + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    (host, serve(listener, connections, respond))
}

fn logged(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// CVE-2020-15157's pattern, and ureq's same-host rule that ignores the port: registry A
/// redirects to B (the same host, another port); B must never see A's login, and a 401 that B
/// answers with a realm on C must not make the client send A's login to C.
#[test]
fn credentials_go_only_to_the_registrys_own_host_and_port() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#.to_vec();
    let digest = sha256_digest(&manifest);
    let login = basic("ci", "hunter2");

    // C: a token service that would gladly take any login.
    let (c, c_log) = scripted(4, |_, _, _| (200, vec![], br#"{"token":"stolen"}"#.to_vec()));
    // B: serves the manifest, and challenges for `/v2/app/manifests/challenged` with C as realm.
    let b_answer = {
        let (manifest, digest, c) = (manifest.clone(), digest.clone(), c.clone());
        move |request: &str, _: Option<&str>, _: &str| -> Answer {
            match request {
                "GET /b/manifest" => (
                    200,
                    vec![("Content-Type", OCI_MANIFEST.into()), ("Docker-Content-Digest", digest.clone())],
                    manifest.clone(),
                ),
                _ => {
                    (401, vec![("WWW-Authenticate", format!(r#"Bearer realm="http://{c}/token",service="c""#))], vec![])
                }
            }
        }
    };
    let (b, b_log) = scripted(8, b_answer);
    // A: wants Basic auth, then redirects.
    let a_answer = {
        let (b, login, manifest, digest) = (b.clone(), login.clone(), manifest.clone(), digest.clone());
        move |request: &str, auth: Option<&str>, _: &str| -> Answer {
            if auth != Some(login.as_str()) {
                return (401, vec![("WWW-Authenticate", r#"Basic realm="a""#.into())], vec![]);
            }
            match request {
                "GET /v2/app/manifests/elsewhere" => {
                    (307, vec![("Location", format!("http://{b}/b/manifest"))], vec![])
                }
                "GET /v2/app/manifests/challenged" => {
                    (302, vec![("Location", format!("http://{b}/b/challenged"))], vec![])
                }
                // A redirect to itself keeps the login: it is the same origin.
                "GET /v2/app/manifests/self" => (301, vec![("Location", "/v2/app/manifests/here".into())], vec![]),
                "GET /v2/app/manifests/here" => (
                    200,
                    vec![("Content-Type", OCI_MANIFEST.into()), ("Docker-Content-Digest", digest.clone())],
                    manifest.clone(),
                ),
                "GET /v2/app/manifests/loop" => (302, vec![("Location", "/v2/app/manifests/loop".into())], vec![]),
                _ => (404, vec![], vec![]),
            }
        }
    };
    let (a, a_log) = scripted(30, a_answer);
    let config = serde_json::json!({ "auths": { &a: { "username": "ci", "password": "hunter2" } } }).to_string();
    let client = Registry::with_credentials(&a, docker_config("bound-logins", Some(&config))).unwrap();

    let found = client.manifest("app", "elsewhere").unwrap().expect("B serves it");
    assert_eq!(found.digest, digest);
    assert_eq!(logged(&b_log), ["GET /b/manifest -"], "B, on another port of the same host, saw the login");

    let err = format!("{:#}", client.manifest("app", "challenged").unwrap_err());
    assert_eq!(
        err,
        format!(
            "GET http://{a}/v2/app/manifests/challenged: redirected to http://{b}/b/challenged, which asks for a \
             login (HTTP 401); the credentials for {a} go nowhere else"
        )
    );
    assert_eq!(logged(&b_log), ["GET /b/manifest -", "GET /b/challenged -"]);
    assert!(logged(&c_log).is_empty(), "the realm B named was asked: {:?}", logged(&c_log));

    assert_eq!(client.manifest("app", "self").unwrap().unwrap().digest, digest);
    let err = format!("{:#}", client.manifest("app", "loop").unwrap_err());
    assert!(err.contains("more than 10 redirects"), "{err}");

    let a_log = logged(&a_log);
    let with_login = |path: &str| format!("GET {path} {login}");
    assert_eq!(a_log[0], "GET /v2/app/manifests/elsewhere -");
    assert_eq!(a_log[1], with_login("/v2/app/manifests/elsewhere"));
    assert_eq!(a_log[2], with_login("/v2/app/manifests/challenged"));
    assert_eq!(a_log[3..5], [with_login("/v2/app/manifests/self"), with_login("/v2/app/manifests/here")]);
    assert!(a_log[5..].iter().all(|l| *l == with_login("/v2/app/manifests/loop")), "{a_log:?}");
    assert_eq!(a_log.len(), 5 + 11, "the first request and ten redirects: {a_log:?}");
}

/// Docker's normal flow: the registry's own challenge names a token service on another host
/// (Docker Hub and its auth service); the login goes there, the token to the registry.
#[test]
fn a_realm_on_another_host_still_gets_the_login() {
    let login = basic("ci", "hunter2");
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#.to_vec();
    let digest = sha256_digest(&manifest);
    let token_answer = {
        let login = login.clone();
        move |_: &str, auth: Option<&str>, _: &str| -> Answer {
            match auth == Some(login.as_str()) {
                true => (200, vec![], br#"{"token":"tok-c"}"#.to_vec()),
                false => (401, vec![], vec![]),
            }
        }
    };
    let (c, c_log) = scripted(1, token_answer);
    let registry_answer = {
        let (c, digest) = (c.clone(), digest.clone());
        move |_: &str, auth: Option<&str>, _: &str| -> Answer {
            match auth {
                Some("Bearer tok-c") => (
                    200,
                    vec![("Content-Type", OCI_MANIFEST.into()), ("Docker-Content-Digest", digest.clone())],
                    manifest.clone(),
                ),
                _ => {
                    (401, vec![("WWW-Authenticate", format!(r#"Bearer realm="http://{c}/token",service="r""#))], vec![])
                }
            }
        }
    };
    let (a, a_log) = scripted(2, registry_answer);
    let config = serde_json::json!({ "auths": { &a: { "username": "ci", "password": "hunter2" } } }).to_string();
    let client = Registry::with_credentials(&a, docker_config("realm-elsewhere", Some(&config))).unwrap();
    assert_eq!(client.manifest("app", "v1").unwrap().unwrap().digest, digest);
    let c_log = logged(&c_log);
    assert!(c_log.len() == 1 && c_log[0].starts_with("GET /token?") && c_log[0].ends_with(&login), "{c_log:?}");
    assert_eq!(logged(&a_log), ["GET /v2/app/manifests/v1 -", "GET /v2/app/manifests/v1 Bearer tok-c"]);
}

/// A URL's userinfo never reaches an error: a realm or a Location that carries one is
/// refused without being quoted whole.
#[test]
fn urls_with_userinfo_are_refused_and_never_quoted() {
    let answer = |request: &str, _: Option<&str>, _: &str| -> Answer {
        match request {
            "GET /v2/app/manifests/realm" => (
                401,
                vec![("WWW-Authenticate", r#"Bearer realm="http://robot:REALM-SECRET@127.0.0.1:9/token""#.into())],
                vec![],
            ),
            _ => (302, vec![("Location", "http://robot:LOCATION-SECRET@127.0.0.1:9/b".into())], vec![]),
        }
    };
    let (host, log) = scripted(2, answer);
    let client = Registry::with_credentials(&host, docker_config("userinfo", None)).unwrap();
    let err = format!("{:#}", client.manifest("app", "realm").unwrap_err());
    assert!(
        err.contains(r#"the token realm "http://127.0.0.1:9/token" is not an http(s) URL without userinfo"#),
        "{err}"
    );
    assert!(!err.contains("REALM-SECRET"), "{err}");
    let err = format!("{:#}", client.manifest("app", "moved").unwrap_err());
    assert!(err.contains("redirects to an unusable Location") && !err.contains("LOCATION-SECRET"), "{err}");
    assert_eq!(logged(&log).len(), 2, "nothing was sent to the URLs with userinfo");
}

/// A helper that prints its JSON and then fails: its secret is never shown, and it runs once
/// for the whole run, not once per request (a broken helper is not asked again and again).
#[test]
fn a_failing_helper_is_asked_once_and_its_secret_never_shown() {
    use std::os::unix::fs::PermissionsExt;
    let answer = |_: &str, _: Option<&str>, _: &str| -> Answer {
        (401, vec![("WWW-Authenticate", r#"Basic realm="r""#.into())], vec![])
    };
    let (host, log) = scripted(3, answer);
    let source = docker_config("failing-helper", Some(r#"{"credsStore": "leaky"}"#));
    let bin = scratch("failing-helper-bin");
    let calls = bin.join("calls");
    let script = bin.join("docker-credential-leaky");
    let text =
        format!("#!/bin/sh\necho run >> {calls}\nprintf '{{\"Username\":\"ci\",\"Secret\":\"TOP-SECRET\"}}'\nexit 1\n");
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let source = CredentialSource { helper_path: bin.clone().into_os_string(), ..source };
    let client = Registry::with_credentials(&host, source).unwrap();
    let errors: Vec<String> =
        ["v1", "v2", "v3"].iter().map(|tag| format!("{:#}", client.manifest("app", tag).unwrap_err())).collect();
    for err in &errors {
        assert!(!err.contains("TOP-SECRET"), "{err}");
        assert!(err.contains("docker-credential-leaky get"), "{err}");
        assert!(err.contains("failed (exit status: 1): nothing on stderr"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "run\n", "the helper ran more than once");
    assert_eq!(logged(&log).len(), 3);
}

/// Tag names from a tag list are checked against the OCI grammar before they can be used in
/// a URL path: `../../../../v2/_catalog?` was requested, and `x#frag` became `x`.
#[test]
fn tag_lists_and_references_are_checked_before_any_url_is_built() {
    let answer = |request: &str, _: Option<&str>, _: &str| -> Answer {
        match request {
            "GET /v2/app/tags/list" => (
                200,
                vec![("Link", r#"</v2/app/tags/list?last=b>; rel="next""#.into())],
                br#"{"tags":["v1","../../../../v2/_catalog?","x#frag"]}"#.to_vec(),
            ),
            _ => (200, vec![], br#"{"tags":["v2","","-flag","a/b","\u001b[2J"]}"#.to_vec()),
        }
    };
    let (host, log) = scripted(2, answer);
    let client = Registry::with_credentials(&host, docker_config("tag-grammar", None)).unwrap();
    let list = client.tag_list("app").unwrap();
    assert_eq!(list.tags, ["v1", "v2"]);
    assert_eq!(list.junk, ["../../../../v2/_catalog?", "x#frag", "", "-flag", "a/b", "\u{1b}[2J"]);
    assert_eq!(logged(&log), ["GET /v2/app/tags/list -", "GET /v2/app/tags/list?last=b -"]);

    // Nothing is sent for a reference outside the grammar, or a digest that is not sha256.
    for (repository, reference) in
        [("app", "../../../../v2/_catalog?"), ("app", "x#frag"), ("app", "sha256:abc"), ("../x", "v1"), ("App", "v1")]
    {
        let err = format!("{:#}", client.manifest(repository, reference).unwrap_err());
        assert!(err.starts_with("refusing to request") || err.starts_with("refusing the repository name"), "{err}");
        assert!(client.head_manifest(repository, reference).is_err());
    }
    assert!(format!("{:#}", client.manifest_by_digest("app", "evil-tag").unwrap_err()).contains("not `sha256:<hex>`"));
    assert!(client.blob("app", "v1").is_err(), "blobs only by digest");
    assert_eq!(logged(&log).len(), 2, "no request for a refused name");
}

/// A test host in a network namespace of its own, reached over a veth pair at TEST-NET-2's
/// 198.51.100.2 (a documentation range, not a private one), serving `docker-registry` over TLS
/// with a certificate of a private CA. Nothing leaves the machine.
struct TlsHost {
    namespace: String,
    registry: Option<std::process::Child>,
    dir: camino::Utf8PathBuf,
}

const TLS_HOST: &str = "198.51.100.2:5443";

impl TlsHost {
    fn start() -> TlsHost {
        let dir = scratch("tls-host");
        let sh = |program: &str, args: &[&str]| {
            let status = std::process::Command::new(program).args(args).current_dir(&dir).output().unwrap();
            assert!(status.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&status.stderr));
        };
        // A private CA and a server certificate for the address.
        sh(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=xtask test CA",
            ],
        );
        sh(
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=198.51.100.2",
            ],
        );
        std::fs::write(dir.join("san.cnf"), "subjectAltName=IP:198.51.100.2\nbasicConstraints=CA:FALSE\n").unwrap();
        sh(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.cnf",
            ],
        );
        // The namespace and the link to it, in a range this machine does not use itself.
        let addresses = std::process::Command::new("ip").args(["-br", "addr"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&addresses.stdout).contains("198.51.100."),
            "198.51.100.0/24 is in use on this machine: the TLS test host needs it free"
        );
        let namespace = format!("xtask-tls-{}", std::process::id());
        let (outer, inner) = (format!("xt{}h", std::process::id()), format!("xt{}n", std::process::id()));
        sh("ip", &["netns", "add", &namespace]);
        // Torn down on drop from here on, whatever fails next.
        let mut host = TlsHost { namespace: namespace.clone(), registry: None, dir: dir.clone() };
        sh("ip", &["link", "add", &outer, "type", "veth", "peer", "name", &inner]);
        sh("ip", &["link", "set", &inner, "netns", &namespace]);
        sh("ip", &["addr", "add", "198.51.100.1/30", "dev", &outer]);
        sh("ip", &["link", "set", &outer, "up"]);
        sh("ip", &["-n", &namespace, "addr", "add", "198.51.100.2/30", "dev", &inner]);
        sh("ip", &["-n", &namespace, "link", "set", &inner, "up"]);
        sh("ip", &["-n", &namespace, "link", "set", "lo", "up"]);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {dir}/data\nhttp:\n  addr: {TLS_HOST}\n  tls:\n    certificate: {dir}/server.crt\n    key: {dir}/server.key\n"
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        host.registry = Some(
            std::process::Command::new("ip")
                .args(["netns", "exec", &namespace, "docker-registry", "serve"])
                .arg(dir.join("config.yml"))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        // Ready when it accepts connections (the event, bounded so a broken setup fails).
        let address: std::net::SocketAddr = TLS_HOST.parse().unwrap();
        let ready = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_millis(200)).is_ok()
        });
        assert!(
            ready,
            "the TLS registry did not start: {}",
            std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
        );
        host
    }
}

impl Drop for TlsHost {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.as_mut() {
            let _ = registry.kill();
            let _ = registry.wait();
        }
        // Deleting the namespace deletes the veth pair with it.
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.namespace]).status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/docker/certs.d").join(TLS_HOST));
    }
}

#[test]
fn a_registry_with_a_private_ca_is_trusted_as_docker_trusts_it_and_refused_otherwise() {
    let host = TlsHost::start();
    let root = common::one_image_workspace("tls-workspace", &["linux/amd64"]);
    let verify = |env: &[(&str, &str)]| {
        let output = common::xtask_with_env(&root, TLS_HOST, &["verify-manifests"], env);
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    // No CA configured: refused, with what to do.
    let (code, stderr) = verify(&[("SSL_CERT_FILE", "")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("the certificate of {TLS_HOST} is signed by no CA trusted here: put its CA at /etc/docker/certs.d/{TLS_HOST}/ca.crt")),
        "{stderr}"
    );
    // The CA in SSL_CERT_FILE: reached (nothing is published there, which verify reports).
    let ca = host.dir.join("ca.crt");
    let (code, stderr) = verify(&[("SSL_CERT_FILE", ca.as_str())]);
    assert_eq!(code, Some(1), "reached: {stderr}");
    assert!(!stderr.contains("cannot be reached"), "{stderr}");
    // The CA where docker reads it: reached too.
    let certs_d = Path::new("/etc/docker/certs.d").join(TLS_HOST);
    std::fs::create_dir_all(&certs_d).unwrap();
    std::fs::copy(&ca, certs_d.join("ca.crt")).unwrap();
    let (code, stderr) = verify(&[("SSL_CERT_FILE", "")]);
    assert_eq!(code, Some(1), "reached: {stderr}");
    assert!(!stderr.contains("cannot be reached"), "{stderr}");
}
