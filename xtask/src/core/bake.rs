//! `plan --format bake`: the plan as a `docker-bake.json`, so that teams can compare
//! `docker buildx bake` with `cargo xtask build`, or move either way. One target per unit and
//! platform, pushed under its staging tag like `build` does, a group per unit and `default`
//! for all. In-repo parents reach a child as a named context (`target:<parent target>`), which
//! is how bake orders them; that needs BuildKit 0.10 or later (the containerd-store engine).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::core::buildx::{cache_ref, platform_slug, staging_ref, Driver};
use crate::core::definitions::Network;
use crate::core::plan::Unit;

/// The bake target name of one unit on one platform: `python-python3-13-arm64`.
pub fn target_name(unit: &Unit, platform: &str) -> String {
    let name = format!("{}-{}", unit.slug(), platform_slug(platform));
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// The named context a child's `FROM ${X_IMAGE}` resolves to: bake's way to a parent target.
fn parent_context(arg: &str) -> String {
    format!("xtask-parent-{}", arg.to_ascii_lowercase().replace('_', "-"))
}

/// The document: `labels` are each unit's OCI labels (by unit id); `driver` decides the cache
/// settings, as it does for `build`.
pub fn bake_file(units: &[Unit], labels: &BTreeMap<String, BTreeMap<String, String>>, driver: &Driver) -> Value {
    let mut targets = serde_json::Map::new();
    let mut groups = serde_json::Map::new();
    let mut all = Vec::new();
    for unit in units {
        let mut members = Vec::new();
        for platform in &unit.platforms {
            let name = target_name(unit, platform);
            let mut args: BTreeMap<String, String> = unit.args.clone();
            let mut contexts = BTreeMap::new();
            for parent in &unit.parents {
                let Some(parent_unit) = units.iter().find(|u| u.id == parent.unit) else { continue };
                let context = parent_context(&parent.arg);
                let target = format!("target:{}", target_name(parent_unit, platform));
                args.insert(parent.arg.clone(), context.clone());
                contexts.insert(context, target.clone());
                // A parent named literally in the Dockerfile is that target too.
                for name in &parent.names {
                    contexts.insert(name.clone(), target.clone());
                }
            }
            let dockerfile = unit
                .dockerfile
                .strip_prefix(&unit.context)
                .map_or_else(|_| unit.dockerfile.to_string(), |relative| relative.to_string());
            let (cache_from, cache_to) = match driver {
                Driver::Docker => (
                    vec![format!("type=registry,ref={}", staging_ref(unit, platform))],
                    vec!["type=inline".to_string()],
                ),
                Driver::Container(_) | Driver::ContainerdStore => {
                    let cache = cache_ref(unit, platform);
                    (
                        vec![format!("type=registry,ref={cache}")],
                        vec![format!("type=registry,ref={cache},mode=max,ignore-error=true")],
                    )
                }
            };
            let mut target = json!({
                "context": unit.context.as_str(),
                "dockerfile": dockerfile,
                "platforms": [platform],
                "args": args,
                "labels": labels.get(&unit.id).cloned().unwrap_or_default(),
                "tags": [staging_ref(unit, platform)],
                "cache-from": cache_from,
                "cache-to": cache_to,
                "output": ["type=registry"],
            });
            if !contexts.is_empty() {
                target["contexts"] = json!(contexts);
            }
            if unit.network != Network::Default {
                target["network"] = json!(unit.network.as_str());
            }
            targets.insert(name.clone(), target);
            members.push(name);
        }
        all.extend(members.iter().cloned());
        groups.insert(target_group(unit), json!({ "targets": members }));
    }
    groups.insert("default".to_string(), json!({ "targets": all }));
    json!({ "group": groups, "target": targets })
}

/// A unit's group: every platform of it.
fn target_group(unit: &Unit) -> String {
    unit.slug().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::tests::sample_unit;
    use crate::core::plan::Parent;

    #[test]
    fn targets_per_unit_and_platform_with_parents_as_named_contexts() {
        let mut parent = sample_unit();
        parent.id = "debian:trixie".into();
        parent.image = "debian".into();
        parent.variant = Some("trixie".into());
        parent.repository = "localhost:5000/acme/debian".into();
        parent.parents = vec![];
        parent.context = "images/debian".into();
        parent.dockerfile = "images/debian/Dockerfile".into();
        let mut child = sample_unit();
        child.parents = vec![Parent { arg: "DEBIAN_IMAGE".into(), unit: "debian:trixie".into(), names: vec![] }];
        let labels = BTreeMap::from([(
            child.id.clone(),
            BTreeMap::from([("org.opencontainers.image.title".to_string(), "python".to_string())]),
        )]);
        let bake = bake_file(&[parent.clone(), child.clone()], &labels, &Driver::ContainerdStore);
        let name = target_name(&child, "linux/arm64");
        assert_eq!(name, "python-python3-13-arm64");
        let target = &bake["target"][&name];
        assert_eq!(target["context"], "images/python");
        assert_eq!(target["dockerfile"], "Dockerfile");
        assert_eq!(target["platforms"], json!(["linux/arm64"]));
        assert_eq!(target["args"]["DEBIAN_IMAGE"], "xtask-parent-debian-image");
        assert_eq!(target["contexts"]["xtask-parent-debian-image"], "target:debian-trixie-arm64");
        assert_eq!(target["tags"], json!(["localhost:5000/acme/python:staging-python3.13-arm64"]));
        assert_eq!(target["labels"]["org.opencontainers.image.title"], "python");
        assert!(target["cache-to"][0].as_str().unwrap().ends_with(",mode=max,ignore-error=true"));
        assert_eq!(target["network"], "host");
        assert_eq!(bake["group"]["default"]["targets"].as_array().unwrap().len(), 4, "two units on two platforms");
        assert_eq!(
            bake["group"]["python-python3-13"]["targets"],
            json!(["python-python3-13-amd64", "python-python3-13-arm64"])
        );
        let classic = bake_file(&[child], &labels, &Driver::Docker);
        assert_eq!(classic["target"][&name]["cache-to"], json!(["type=inline"]));
    }
}
