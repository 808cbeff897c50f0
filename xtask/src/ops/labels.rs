//! What a unit's platform images are labelled and its index annotated with, as this run
//! computes them: shared by `build` and `plan`.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::core::buildx;
use crate::core::plan::Unit;
use crate::sys::workspace::Workspace;

/// The OCI labels every platform image of each unit gets (by unit id), before the base labels
/// of each platform: what `plan` shows and the index annotations start from.
/// `source` is [`git_source`]'s, read once by the caller.
pub fn unit_labels(
    ws: &Workspace,
    units: &[Unit],
    source: Option<&str>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let created = crate::core::event::utc(ws.build_time()?).1;
    let sha = ws.event()?.sha.as_deref();
    Ok(units.iter().map(|u| (u.id.clone(), buildx::oci_labels(u, source, sha, &created))).collect())
}

/// The annotations of each unit's index: its OCI labels as this run computes them, and the
/// final stage's external base with the digest its tag named. `labels` are [`unit_labels`].
pub fn index_annotations(
    ws: &Workspace,
    units: &[Unit],
    bases: &crate::ops::bases::Bases,
    labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut out = BTreeMap::new();
    for unit in units {
        let labels = labels.get(&unit.id).cloned().unwrap_or_default();
        let text = ws.dockerfile(unit)?;
        let platform = unit.platforms.first().map_or("linux/amd64", String::as_str);
        let args = crate::core::bases::unit_build_args(unit, platform, crate::sys::provision::host_platform());
        let doc = crate::core::dockerfile::parse(text);
        let base = crate::core::bases::final_external_base(&doc, &args, &bases.resolved);
        out.insert(
            unit.id.clone(),
            buildx::index_annotations(&labels, base.as_ref().map(|(n, d)| (n.as_str(), d.as_str()))),
        );
    }
    Ok(out)
}

/// `org.opencontainers.image.source`: the git remote, as a browsable https URL where possible,
/// without the remote's userinfo.
pub fn git_source(ws: &Workspace) -> Option<String> {
    crate::core::buildx::source_url(&crate::sys::git::origin_url(&ws.root)?)
}
