//! The CRI image settings under which containerd (2.1 and later) silently pulls Kubernetes
//! images on its older path, which calls no image verifier. Each is looked up in both forms:
//! version 3 (`plugins."io.containerd.cri.v1.images".<key>`) and version 2
//! (`plugins."io.containerd.grpc.v1.cri".<key>`, some keys under `.containerd`).

use super::containerd_toml::{key_subject, Found, Layers};
use super::Finding;
use std::path::Path;

/// The CRI images plugin (config version 3).
const IMAGES_V3: &str = "io.containerd.cri.v1.images";
/// The CRI plugin (config version 2).
const CRI_V2: &str = "io.containerd.grpc.v1.cri";

/// A setting that turns verification off for Kubernetes pulls when `bad` holds for its value.
struct Rule {
    /// Path below the v3 images plugin.
    v3: &'static [&'static str],
    /// Path below the v2 CRI plugin.
    v2: &'static [&'static str],
    /// True when the value disables verifiers.
    bad: fn(&toml::Value) -> bool,
    /// The safe setting, for the fix.
    fix: &'static str,
}

const RULES: &[Rule] = &[
    Rule { v3: &["use_local_image_pull"], v2: &["use_local_image_pull"], bad: is_true, fix: "remove it or set use_local_image_pull = false" },
    Rule { v3: &["max_concurrent_downloads"], v2: &["max_concurrent_downloads"], bad: not_three, fix: "remove it (default 3) or set max_concurrent_downloads = 3" },
    Rule { v3: &["disable_snapshot_annotations"], v2: &["containerd", "disable_snapshot_annotations"], bad: is_false, fix: "remove it (default true)" },
    Rule { v3: &["discard_unpacked_layers"], v2: &["containerd", "discard_unpacked_layers"], bad: is_true, fix: "remove it or set discard_unpacked_layers = false" },
    Rule { v3: &["image_pull_with_sync_fs"], v2: &["image_pull_with_sync_fs"], bad: is_true, fix: "remove it or set image_pull_with_sync_fs = false" },
    Rule { v3: &["registry", "mirrors"], v2: &["registry", "mirrors"], bad: non_empty, fix: "move the mirrors to hosts.toml files under registry.config_path (e.g. /etc/containerd/certs.d) and delete the table" },
    Rule { v3: &["registry", "configs"], v2: &["registry", "configs"], bad: non_empty, fix: "move TLS and credentials to hosts.toml files under registry.config_path and delete the table" },
    Rule { v3: &["registry", "auths"], v2: &["registry", "auths"], bad: non_empty, fix: "move credentials to the kubelet (image pull secrets, credential providers) and delete the table" },
];

fn is_true(v: &toml::Value) -> bool {
    v.as_bool() == Some(true)
}

fn is_false(v: &toml::Value) -> bool {
    v.as_bool() == Some(false)
}

fn not_three(v: &toml::Value) -> bool {
    v.as_integer() != Some(3)
}

fn non_empty(v: &toml::Value) -> bool {
    v.as_table().is_some_and(|t| !t.is_empty())
}

/// Every rule in both config forms, plus the registry host directory compared with vouch's.
pub fn check(layers: &Layers, vouch_hosts_dir: Option<&Path>) -> Vec<Finding> {
    let mut out = Vec::new();
    for rule in RULES {
        for (plugin, rest) in [(IMAGES_V3, rule.v3), (CRI_V2, rule.v2)] {
            let keys: Vec<&str> = ["plugins", plugin].iter().chain(rest.iter()).copied().collect();
            if let Some(found) = layers.get(&keys).filter(|f| (rule.bad)(f.value)) {
                out.push(finding(&keys, found, rule.fix));
            }
        }
    }
    out.extend(config_path(layers, vouch_hosts_dir));
    out
}

fn finding(keys: &[&str], found: Found<'_>, fix: &str) -> Finding {
    let shown = if found.value.is_table() { "is set".to_string() } else { format!("= {}", found.value) };
    Finding::error(
        key_subject(found.file, keys),
        format!("{shown}: containerd pulls Kubernetes images without calling any image verifier"),
        format!("{fix}, then restart containerd"),
    )
}

/// Where containerd's CRI reads registry hosts (`registry.config_path`), compared with vouch's
/// `registry.hosts_dir`: when they differ, vouch may reach registries differently (mirrors, TLS).
fn config_path(layers: &Layers, vouch_hosts_dir: Option<&Path>) -> Option<Finding> {
    let keys = ["plugins", IMAGES_V3, "registry", "config_path"];
    let v2 = ["plugins", CRI_V2, "registry", "config_path"];
    let (found, keys) = match layers.get(&keys) {
        Some(f) => (f, &keys),
        None => (layers.get(&v2)?, &v2),
    };
    let containerd_dirs = found.value.as_str()?;
    let vouch = vouch_hosts_dir?;
    let same = containerd_dirs.split(':').any(|d| Path::new(d) == vouch);
    (!same && !containerd_dirs.is_empty()).then(|| {
        Finding::warning(
            key_subject(found.file, keys),
            format!("is {containerd_dirs:?} but vouch reads registry hosts from {}: mirrors and TLS settings may differ", vouch.display()),
            format!("set registry.hosts_dir = \"{}\" in vouch's configuration", containerd_dirs.split(':').next().unwrap_or_default()),
        )
    })
}
