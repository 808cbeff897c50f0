//! Fixes that fit the image: a health probe for the service's protocol with the tools the
//! image has, and what to do with a secret-looking name.

/// PostgreSQL's and PgBouncer's ports, which speak the PostgreSQL protocol.
const POSTGRES_PORTS: [u16; 2] = [5432, 6432];

/// Ports where services speak plain HTTP by convention (not 9000: php-fpm's FastCGI).
const HTTP_PORTS: [u16; 11] = [80, 3000, 5000, 5601, 8000, 8008, 8080, 8081, 8088, 8888, 9090];

/// Ports where they speak HTTPS.
const HTTPS_PORTS: [u16; 2] = [443, 8443];

/// The `HEALTHCHECK` to suggest for an image exposing `ports` (`5432/tcp`, `8080`), whose
/// Dockerfile (the final stage and the stages it is built on, base image names included) is
/// `text`: `pg_isready` for the PostgreSQL protocol, an HTTP probe for HTTP ports with curl or
/// wget (whichever the image has), else a TCP probe with `nc` or bash.
pub(super) fn healthcheck_fix(ports: &[String], text: &str) -> String {
    let numbers: Vec<u16> = ports.iter().filter_map(|p| p.split('/').next()?.parse().ok()).collect();
    let has = |tool: &str| {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).any(|w| w.eq_ignore_ascii_case(tool))
    };
    let lower = text.to_ascii_lowercase();
    let busybox = lower.contains("alpine") || lower.contains("busybox");
    if let Some(port) = numbers.iter().find(|p| POSTGRES_PORTS.contains(p)) {
        let note = match lower.contains("postgres") || has("pg_isready") {
            true => "",
            false => " (pg_isready comes with the PostgreSQL client package)",
        };
        return format!("add e.g. `HEALTHCHECK CMD pg_isready -h 127.0.0.1 -p {port} || exit 1`{note}");
    }
    let http = |port: u16, scheme: &str, insecure: (&str, &str)| {
        let url = format!("{scheme}://127.0.0.1:{port}/");
        match (has("curl"), has("wget") || busybox) {
            (true, false) => format!("add e.g. `HEALTHCHECK CMD curl -fsS{} -o /dev/null {url} || exit 1`", insecure.0),
            _ => format!("add e.g. `HEALTHCHECK CMD wget -q{} -O /dev/null {url} || exit 1`", insecure.1),
        }
    };
    if let Some(&port) = numbers.iter().find(|p| HTTP_PORTS.contains(p)) {
        return http(port, "http", ("", ""));
    }
    if let Some(&port) = numbers.iter().find(|p| HTTPS_PORTS.contains(p)) {
        return http(port, "https", ("k", " --no-check-certificate"));
    }
    let Some(&port) = numbers.first() else {
        // A port we cannot read (`EXPOSE ${PORT}`): the HTTP probe, as most services are web ones.
        return "add e.g. `HEALTHCHECK CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1`".to_string();
    };
    match busybox || has("nc") || has("netcat") || has("apk") {
        true => format!("add a TCP probe, e.g. `HEALTHCHECK CMD nc -z 127.0.0.1 {port} || exit 1`"),
        false => format!(
            "add a TCP probe, e.g. `HEALTHCHECK CMD bash -c '</dev/tcp/127.0.0.1/{port}' || exit 1` (or the service's own client)"
        ),
    }
}

/// An image built FROM scratch has no shell or tools to probe with: the program checks itself.
pub(super) fn scratch_healthcheck_fix(program: &str) -> String {
    format!(
        "the image is built FROM scratch, with no shell or tools to probe with: give `{program}` a health check mode, e.g. `HEALTHCHECK CMD [\"{program}\", \"healthcheck\"]`"
    )
}

/// The fix for a secret-looking `name`: a runtime ENV of the final image gets a default every
/// container shares, so it goes; anything else needed at build time is a BuildKit secret.
pub(super) fn secret_fix(keyword: &str, name: &str, runtime: bool) -> String {
    match (keyword, runtime) {
        ("ENV", true) => format!(
            "drop the default: leave `{name}` out of the image and pass it at run time (`docker run -e {name}=...`, or a mounted secret file)"
        ),
        _ => format!(
            "use a BuildKit secret: `RUN --mount=type=secret,id={},env={name} ...` and `--secret` at build time",
            name.to_ascii_lowercase()
        ),
    }
}
