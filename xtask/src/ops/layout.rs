//! Pushes what BuildKit's OCI exporter wrote, byte for byte: the blobs streamed from their
//! files, then the manifests by digest, then the tags. This is how a reproducible build
//! (`build --reproducible`, `rewrite-timestamp` with the OCI exporter) reaches the registry,
//! because BuildKit cannot rewrite timestamps on its way to an image push.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;

use crate::oci::layout::{blob_path, exported_manifest, referenced_blobs};
use crate::oci::manifest::{is_index, ManifestBody};
use crate::oci::reference::TagRef;
use crate::sys::pool::map_concurrent;
use crate::sys::registry::Registry;

/// Blob uploads in flight at once.
const BLOB_CONCURRENCY: usize = 4;

/// The largest manifest read from a layout: more than any build writes, and a bound.
const MANIFEST_LIMIT: u64 = 4 << 20;
/// The largest `index.json` read from a layout (an export's, or what `docker save` wrote).
const INDEX_LIMIT: u64 = 1 << 20;

/// The `index.json` of the layout in `dir`, bounded.
pub fn read_index(dir: &Utf8Path) -> Result<Vec<u8>> {
    crate::sys::files::read_bounded(&dir.join("index.json"), INDEX_LIMIT, "an index.json")
}

/// Reads a manifest blob of the layout, bounded, and checks it is the bytes its digest names.
pub fn read_manifest(dir: &Utf8Path, digest: &str) -> Result<(Vec<u8>, ManifestBody)> {
    let path = dir.join(blob_path(digest).map_err(|why| anyhow::anyhow!("{dir}/index.json: {why}"))?);
    let bytes = crate::sys::files::read_bounded(&path, MANIFEST_LIMIT, "a manifest")?;
    if crate::oci::digest::sha256_digest(&bytes) != digest {
        bail!("{path} does not hold the bytes of {digest}: the layout is damaged; build again");
    }
    let body = serde_json::from_slice(&bytes).with_context(|| format!("{path} is not a manifest"))?;
    Ok((bytes, body))
}

/// Pushes the layout in `dir` to `repository` of `client` and points each of `tags` at it;
/// returns the digest of what was pushed (the platform's image, or its index of image and
/// attestations).
pub fn push_layout(client: &Registry, repository: &str, dir: &Utf8Path, tags: &[&TagRef]) -> Result<String> {
    let index = read_index(dir)?;
    let top = exported_manifest(&index).map_err(|why| anyhow::anyhow!("{dir}/index.json: {why}"))?;
    let (top_bytes, top_body) = read_manifest(dir, &top.digest)?;
    // An index (image and attestations) has its manifests pushed first, each after its blobs.
    let children = if is_index(&top.media_type) { top_body.manifests.clone() } else { vec![] };
    let mut manifests = Vec::new();
    for child in &children {
        let (bytes, body) = read_manifest(dir, &child.digest)?;
        manifests.push((child.clone(), bytes, body));
    }
    let images = manifests.iter().map(|(_, _, body)| body).chain((children.is_empty()).then_some(&top_body));
    let mut blobs = std::collections::BTreeSet::new();
    for body in images {
        for blob in referenced_blobs(body) {
            blobs.insert(dir.join(blob_path(&blob.digest).map_err(|why| anyhow::anyhow!("{dir}: {why}"))?));
        }
    }
    // A few at a time, as docker pushes layers; each is skipped when the registry has it.
    let pushed = map_concurrent(blobs.into_iter().collect(), BLOB_CONCURRENCY, |path| {
        let digest = format!("sha256:{}", path.file_name().unwrap_or_default());
        client.put_blob_file(repository, &path, &digest).with_context(|| format!("pushing {path}"))
    });
    pushed.into_iter().collect::<Result<()>>()?;
    for (child, bytes, _) in &manifests {
        client.put_manifest(repository, &child.digest, &child.media_type, bytes).context("pushing a manifest")?;
    }
    client.put_manifest(repository, &top.digest, &top.media_type, &top_bytes).context("pushing the manifest")?;
    for tag in tags {
        client
            .put_manifest(repository, tag.tag(), &top.media_type, &top_bytes)
            .with_context(|| format!("tagging {tag}"))?;
    }
    Ok(top.digest)
}
