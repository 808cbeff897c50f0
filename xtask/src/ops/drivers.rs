//! Which buildx driver builds each platform, read from `docker buildx inspect` and, for the
//! docker driver, from its engine's image store (`docker info`): what `build` may ask of it.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::core::buildx::Driver;

/// The driver of the current builder, as `build` would find it for a platform without one of
/// its own in `[builders]`.
pub fn current_driver() -> Result<Driver> {
    // A daemon that does not answer is one sentence with the fix, not buildx's inspect text.
    crate::sys::provision::engine_ready()?;
    let any = ["linux/amd64".to_string()];
    detect_drivers(&BTreeMap::new(), &any)?.remove("linux/amd64").context("no driver was detected")
}

/// Whether the current builder's engine keeps multi-platform images (the containerd store).
pub fn keeps_multi_platform() -> Result<bool> {
    Ok(current_driver()? == Driver::ContainerdStore)
}

/// Each platform's builder driver (`[builders]` names a builder per platform; others use
/// the current one), read once per distinct builder.
pub fn detect_drivers(builders: &BTreeMap<String, String>, platforms: &[String]) -> Result<BTreeMap<String, Driver>> {
    let mut by_builder: BTreeMap<Option<&str>, Driver> = BTreeMap::new();
    let mut drivers = BTreeMap::new();
    for platform in platforms {
        let builder = builders.get(platform).map(String::as_str);
        let driver = match by_builder.entry(builder) {
            std::collections::btree_map::Entry::Occupied(known) => known.get().clone(),
            std::collections::btree_map::Entry::Vacant(slot) => {
                let mut argv = vec!["buildx", "inspect"];
                argv.extend(builder);
                let inspect = duct::cmd("docker", &argv)
                    .stdin_null()
                    .stderr_to_stdout()
                    .unchecked()
                    .read()
                    .with_context(|| format!("running docker {}", argv.join(" ")))?;
                let driver = Driver::from_inspect(&inspect).with_context(|| match builder {
                    Some(name) => format!(
                        "the builder {name:?} for {platform} (see [workspace.metadata.images.builders]): {}",
                        inspect.trim()
                    ),
                    None => format!("the current buildx builder: {}", inspect.trim()),
                })?;
                // A docker-driver builder is its engine's: the engine's image store decides.
                let driver = match driver {
                    Driver::Docker => {
                        let mut argv: Vec<&str> = builder.map(|b| vec!["--context", b]).unwrap_or_default();
                        argv.extend(["info", "--format", "{{json .DriverStatus}}"]);
                        let store = duct::cmd("docker", &argv)
                            .stdin_null()
                            .stderr_to_stdout()
                            .unchecked()
                            .read()
                            .with_context(|| format!("running docker {}", argv.join(" ")))?;
                        driver.with_store(&store)
                    }
                    other => other,
                };
                slot.insert(driver).clone()
            }
        };
        drivers.insert(platform.clone(), driver);
    }
    Ok(drivers)
}
