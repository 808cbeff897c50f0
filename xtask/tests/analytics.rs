//! Pull analytics end to end: a real `docker-registry` sends its notifications to
//! `cargo xtask analytics serve`, real `docker pull --platform` of a published two-platform
//! image follow, and `analytics --format json` counts them per architecture. Refused
//! notifications (no secret, malformed) are answered 401 and 400 and counted.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{engine_lock, one_image_workspace, xtask_command, xtask_ok, TestRegistry};

/// Kills the receiver when the test ends, however it ends.
struct Receiver(std::process::Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One POST to the receiver; its status code.
fn post(listen: &str, headers: &str, body: &str) -> u16 {
    let head = format!("POST /events HTTP/1.1\r\nhost: {listen}\r\n{headers}content-length: {}\r\n\r\n", body.len());
    raw(listen, &format!("{head}{body}"))
}

/// One raw request to the receiver; its status code.
fn raw(listen: &str, request: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(listen).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn pulls(root: &camino::Utf8Path, host: &str) -> serde_json::Value {
    serde_json::from_str(&xtask_ok(root, host, &["--format", "json", "analytics"])).unwrap()
}

fn count(report: &serde_json::Value, image: &str, platform: &str) -> u64 {
    let counts = report["counts"].as_array().unwrap();
    counts.iter().find(|c| c["image"] == image && c["platform"] == platform).map_or(0, |c| c["pulls"].as_u64().unwrap())
}

#[test]
fn pulls_per_architecture_are_counted_from_the_registrys_notifications() {
    let _engine = engine_lock();
    let root = one_image_workspace("analytics", &["linux/amd64", "linux/arm64"]);
    std::fs::write(root.join("images/app/hello"), "hello\n").unwrap();
    std::fs::write(root.join("images/app/Dockerfile"), "FROM scratch\nCOPY hello /hello\nUSER 65534:65534\n").unwrap();
    let listen = {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        format!("127.0.0.1:{port}")
    };
    let secret = "analytics-test-secret";
    let notify = xtask::sys::provision::Notify { url: format!("http://{listen}/events"), secret: Some(secret.into()) };
    let registry = TestRegistry::start_notifying("analytics", &notify);
    let receiver = xtask_command()
        .args(["--root", root.as_str(), "--registry", &registry.host, "analytics", "serve", "--listen", &listen])
        .env("XTASK_ANALYTICS_SECRET", secret)
        .stderr(std::fs::File::create(root.join("receiver.log")).unwrap())
        .spawn()
        .unwrap();
    let _receiver = Receiver(receiver);
    let started = Instant::now();
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "the receiver did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Refused: no secret, then a body that is no envelope; both counted.
    assert_eq!(post(&listen, "", "{\"events\": []}"), 401);
    assert_eq!(post(&listen, &format!("authorization: Bearer {secret}\r\n"), "{not json"), 400);
    assert_eq!(post(&listen, &format!("authorization: Bearer {secret}\r\n"), "{\"events\": []}"), 200);
    assert_eq!(raw(&listen, "GET /events HTTP/1.1\r\n\r\n"), 405);
    assert_eq!(raw(&listen, "POST /elsewhere HTTP/1.1\r\n\r\n"), 404);
    assert_eq!(raw(&listen, "POST /events HTTP/1.1\r\ncontent-length: 99999999\r\n\r\n"), 413, "never read");

    xtask_ok(&root, &registry.host, &["build"]);
    let reference = format!("{}/app:main", registry.host);
    // Pulled by the system's classic engine: the project's built the image and holds its
    // platform manifests, so its pulls would fetch the index alone (which is no platform's).
    let classic = || {
        let mut command = std::process::Command::new("docker");
        command.env_remove("DOCKER_HOST").env("DOCKER_CONTEXT", "default");
        command
    };
    // An up-to-date pull fetches the index alone: each pull starts from an engine without it.
    for platform in ["linux/arm64", "linux/amd64", "linux/arm64"] {
        let pulled = classic().args(["pull", "--quiet", "--platform", platform, &reference]).output().unwrap();
        assert!(pulled.status.success(), "{platform}: {}", String::from_utf8_lossy(&pulled.stderr));
        let _ = classic().args(["image", "rm", "--force", &reference]).output();
    }
    // The registry sends its events a moment later.
    let started = Instant::now();
    let report = loop {
        let report = pulls(&root, &registry.host);
        if count(&report, "app", "linux/arm64") >= 2 && count(&report, "app", "linux/amd64") >= 1 {
            break report;
        }
        let log = std::fs::read_to_string(root.join("receiver.log")).unwrap_or_default();
        assert!(started.elapsed() < Duration::from_secs(30), "the pulls did not arrive: {report:#}\n{log}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!((count(&report, "app", "linux/arm64"), count(&report, "app", "linux/amd64")), (2, 1), "{report:#}");
    assert!((report["arm64_share"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9, "{report:#}");
    assert_eq!(report["top_arm64"][0]["image"], "app");
    assert_eq!(report["refused"], serde_json::json!({"400": 1, "401": 1, "404": 1, "405": 1, "413": 1}));
    // Each platform pull was tied to the tag its index was pulled by.
    let days = report["days"].as_array().unwrap();
    assert!(days.iter().all(|d| d["tag"] == "main"), "{days:?}");
    let page = xtask_ok(&root, &registry.host, &["--format", "html", "analytics"]);
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("arm64 share: <strong>67 %</strong>"), "{page}");
}
