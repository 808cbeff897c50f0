//! Which certificate authorities a registry's certificate may chain to, decided as docker
//! decides: a private CA in `/etc/docker/certs.d/<host:port>/` (every `*.crt`, `ca.crt`
//! among them) or in the bundle `SSL_CERT_FILE` names is trusted beside the system's
//! bundle. With neither, Mozilla's roots, as before: nothing changes for a public registry.

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use ureq::tls::{Certificate, PemItem, RootCerts};

/// Where docker looks for a registry's private CA.
pub const CERTS_D: &str = "/etc/docker/certs.d";
/// The system bundles of Debian and Ubuntu, then of Fedora and RHEL.
const SYSTEM_BUNDLES: [&str; 2] = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];
/// More than any CA bundle holds, and a bound.
const BUNDLE_LIMIT: u64 = 8 << 20;

/// The files that add CAs for `host`: `SSL_CERT_FILE` (`ssl_cert_file`) and the `*.crt` of
/// its directory under `certs_d`, sorted.
pub fn ca_files(certs_d: &Utf8Path, host: &str, ssl_cert_file: Option<&str>) -> Vec<Utf8PathBuf> {
    let mut files: Vec<Utf8PathBuf> =
        ssl_cert_file.filter(|f| !f.is_empty()).map(Utf8PathBuf::from).into_iter().collect();
    let mut crts: Vec<Utf8PathBuf> = certs_d
        .join(host)
        .read_dir_utf8()
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.into_path())
        .filter(|path| path.extension() == Some("crt"))
        .collect();
    crts.sort();
    files.extend(crts);
    files
}

/// The roots for `host`: `None` (Mozilla's) unless a private CA is configured for it.
pub fn roots_for(host: &str) -> Result<Option<RootCerts>> {
    let files = ca_files(Utf8Path::new(CERTS_D), host, std::env::var("SSL_CERT_FILE").ok().as_deref());
    if files.is_empty() {
        return Ok(None);
    }
    let mut certs = Vec::new();
    // The system's bundle too, so that a redirect to public storage still verifies.
    if let Some(system) = SYSTEM_BUNDLES.iter().map(Utf8Path::new).find(|p| p.is_file()) {
        certs.extend(read_certs(system)?);
    }
    for file in &files {
        let found = read_certs(file)?;
        if found.is_empty() {
            bail!("{file} holds no PEM certificate: it is read as a CA for the registry {host}");
        }
        certs.extend(found);
    }
    Ok(Some(RootCerts::new_with_certs(&certs)))
}

/// Every certificate of a PEM file, refusing a file past the bound.
fn read_certs(file: &Utf8Path) -> Result<Vec<Certificate<'static>>> {
    let pem = crate::sys::files::read_bounded(file, BUNDLE_LIMIT, "a CA bundle")?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(cert) = item.with_context(|| format!("{file} is not PEM"))? {
            certs.push(cert);
        }
    }
    Ok(certs)
}

/// What to do when `host`'s certificate chains to no trusted CA, for an error that says so.
pub fn untrusted_hint(host: &str, error: &str) -> Option<String> {
    let untrusted = ["UnknownIssuer", "invalid peer certificate", "certificate verify failed"];
    untrusted.iter().any(|s| error.contains(s)).then(|| {
        format!(
            "the certificate of {host} is signed by no CA trusted here: put its CA at {CERTS_D}/{host}/ca.crt (where \
             docker reads it), or name a bundle holding it in SSL_CERT_FILE"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_cas_are_its_directorys_crt_files_after_ssl_cert_file() {
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir().join(format!("xtask-certs-{}", std::process::id())))
            .unwrap();
        let host = dir.join("registry.test:5443");
        std::fs::create_dir_all(&host).unwrap();
        for name in ["ca.crt", "b.crt", "client.cert", "client.key"] {
            std::fs::write(host.join(name), "").unwrap();
        }
        let files = ca_files(&dir, "registry.test:5443", Some("/etc/bundle.pem"));
        let names: Vec<&str> = files.iter().map(|f| f.as_str().trim_start_matches(dir.as_str())).collect();
        assert_eq!(names, ["/etc/bundle.pem", "/registry.test:5443/b.crt", "/registry.test:5443/ca.crt"]);
        assert!(ca_files(&dir, "other.test", None).is_empty(), "no directory, no SSL_CERT_FILE: the defaults");
        assert!(ca_files(&dir, "other.test", Some("")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_certificate_errors_get_the_hint() {
        let hint = untrusted_hint("r.test:5443", "invalid peer certificate: UnknownIssuer").unwrap();
        assert!(hint.contains("/etc/docker/certs.d/r.test:5443/ca.crt") && hint.contains("SSL_CERT_FILE"), "{hint}");
        assert_eq!(untrusted_hint("r.test", "connection refused"), None);
    }
}
