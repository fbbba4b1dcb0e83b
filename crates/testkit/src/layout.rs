//! Loads an OCI image layout (`index.json`, `blobs/<alg>/<hex>`) into a registry: every
//! manifest with its blobs (index children first), under its tag or digest, in the repository
//! named by the `vnd.fixture.repo` annotation (or one repository given by the caller).

use crate::registry::{push_blob, push_manifest};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use vouch_core::Descriptor;

/// One entry of the layout's `index.json`.
#[derive(Debug, Clone)]
pub struct LayoutEntry {
    /// The manifest's descriptor.
    pub descriptor: Descriptor,
    /// The repository it was pushed to.
    pub repo: String,
    /// Its tag, when it has one.
    pub tag: Option<String>,
    /// All annotations.
    pub annotations: BTreeMap<String, String>,
}

/// What was loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadedLayout {
    /// Entries in index.json order.
    pub entries: Vec<LayoutEntry>,
}

impl LoadedLayout {
    /// The entry with `digest`.
    pub fn by_digest(&self, digest: &str) -> Option<&LayoutEntry> {
        self.entries.iter().find(|e| e.descriptor.digest.to_string() == digest)
    }
}

fn blob(dir: &Path, digest: &str) -> Result<Vec<u8>> {
    let (alg, hex) = digest.split_once(':').context("digest without algorithm")?;
    std::fs::read(dir.join("blobs").join(alg).join(hex)).with_context(|| format!("blob {digest}"))
}

/// Pushes the whole layout to `host` (plain HTTP), each manifest to the repository its
/// `vnd.fixture.repo` annotation names.
pub fn load_layout(dir: &Path, host: &str) -> Result<LoadedLayout> {
    load(dir, host, None)
}

/// Pushes the whole layout into the one repository `repo` (unless an entry's
/// `vnd.fixture.repo` annotation names another).
pub fn load_layout_into(dir: &Path, host: &str, repo: &str) -> Result<LoadedLayout> {
    load(dir, host, Some(repo))
}

fn load(dir: &Path, host: &str, default_repo: Option<&str>) -> Result<LoadedLayout> {
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json"))?)?;
    let mut out = LoadedLayout::default();
    for m in index["manifests"].as_array().context("index.json has no manifests")? {
        let descriptor: Descriptor = serde_json::from_value(m.clone())?;
        let annotations: BTreeMap<String, String> = serde_json::from_value(m["annotations"].clone()).unwrap_or_default();
        let Some(repo) = annotations.get("vnd.fixture.repo").cloned().or(default_repo.map(String::from)) else {
            bail!("{} has no vnd.fixture.repo", descriptor.digest)
        };
        let tag = annotations.get("org.opencontainers.image.ref.name").cloned();
        push_tree(dir, host, &repo, &descriptor, 0)?;
        if let Some(t) = &tag {
            let bytes = blob(dir, &descriptor.digest.to_string())?;
            push_manifest(host, &repo, t, &descriptor.media_type, &bytes)?;
        }
        out.entries.push(LayoutEntry { descriptor, repo, tag, annotations });
    }
    Ok(out)
}

/// Pushes a manifest's blobs (or an index's children) and then the manifest by digest.
fn push_tree(dir: &Path, host: &str, repo: &str, desc: &Descriptor, depth: usize) -> Result<()> {
    if depth > 4 {
        bail!("index nesting deeper than 4 at {}", desc.digest);
    }
    let bytes = blob(dir, &desc.digest.to_string())?;
    let doc: Value = serde_json::from_slice(&bytes)?;
    if let Some(children) = doc["manifests"].as_array() {
        for c in children {
            let child: Descriptor = serde_json::from_value(c.clone())?;
            push_tree(dir, host, repo, &child, depth + 1)?;
        }
    }
    let mut blobs: Vec<&Value> = doc["layers"].as_array().map(|l| l.iter().collect()).unwrap_or_default();
    if doc["config"].is_object() {
        blobs.push(&doc["config"]);
    }
    for b in blobs {
        let digest = b["digest"].as_str().context("blob descriptor without digest")?;
        push_blob(host, repo, &blob(dir, digest)?)?;
    }
    push_manifest(host, repo, &desc.digest.to_string(), &desc.media_type, &bytes)?;
    Ok(())
}
