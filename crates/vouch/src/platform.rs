//! `vouch verify --platform os/arch[/variant]`: the platform's own manifest of an image index,
//! found so that it can be verified too (for images signed per platform).

use vouch_core::{Deadline, Descriptor, ImageRef};
use vouch_registry::Client;

/// Media types of image indexes.
const INDEX_TYPES: &[&str] =
    &[vouch_core::MEDIA_TYPE_OCI_INDEX, vouch_core::MEDIA_TYPE_DOCKER_MANIFEST_LIST];

/// A platform as `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, `windows`, …
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v7`, `v8`, … when given.
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch` or `os/arch/variant`.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = (2..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty());
        if !ok {
            return Err(format!("--platform {s:?} is not os/arch or os/arch/variant (e.g. linux/amd64)"));
        }
        Ok(Platform { os: parts[0].into(), architecture: parts[1].into(), variant: parts.get(2).map(|v| v.to_string()) })
    }

    /// True when an index entry's or image config's platform fields name this platform.
    fn matches(&self, v: &serde_json::Value) -> bool {
        let field = |k: &str| v.get(k).and_then(|x| x.as_str());
        field("os") == Some(self.os.as_str())
            && field("architecture") == Some(self.architecture.as_str())
            && self.variant.as_deref().is_none_or(|want| field("variant") == Some(want))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

/// What `--platform` found for an image.
#[derive(Debug)]
pub enum Selected {
    /// The index's manifest for the platform, to verify as well.
    Manifest(Descriptor),
    /// A single-platform image whose config names the platform: nothing more to verify.
    SameImage,
}

/// True for index (manifest list) descriptors.
pub fn is_index(d: &Descriptor) -> bool {
    INDEX_TYPES.contains(&d.media_type.as_str())
}

/// Finds the platform's manifest in the index `subject`, or checks a single image's config.
pub fn select(client: &Client, image: &ImageRef, subject: &Descriptor, p: &Platform, deadline: &Deadline) -> Result<Selected, String> {
    let bytes = client.fetch_manifest(image, subject, deadline).map_err(|e| format!("registry: {e}"))?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("manifest {} is not JSON: {e}", subject.digest.short()))?;
    if is_index(subject) {
        return from_index(&doc, p).map(Selected::Manifest);
    }
    check_config(client, image, &doc, p, deadline).map(|()| Selected::SameImage)
}

fn from_index(index: &serde_json::Value, p: &Platform) -> Result<Descriptor, String> {
    let entries = index.get("manifests").and_then(|m| m.as_array()).map(Vec::as_slice).unwrap_or_default();
    let entry = entries
        .iter()
        .find(|e| e.get("platform").is_some_and(|pl| p.matches(pl)))
        .ok_or_else(|| format!("the index has no manifest for platform {p}"))?;
    serde_json::from_value(entry.clone()).map_err(|e| format!("the index entry for {p} is not a descriptor: {e}"))
}

fn check_config(client: &Client, image: &ImageRef, manifest: &serde_json::Value, p: &Platform, deadline: &Deadline) -> Result<(), String> {
    let Some(config) = manifest.get("config").cloned() else { return Ok(()) };
    let desc: Descriptor = serde_json::from_value(config).map_err(|e| format!("the manifest's config is not a descriptor: {e}"))?;
    let bytes = client.fetch_blob(image, &desc, deadline).map_err(|e| format!("registry: {e}"))?;
    let cfg: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if cfg.get("os").is_none() || p.matches(&cfg) {
        return Ok(());
    }
    let field = |k: &str| cfg.get(k).and_then(|x| x.as_str()).unwrap_or("?").to_string();
    Err(format!("the image is {}/{}, not {p} (it is not a multi-platform index)", field("os"), field("architecture")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_platforms() {
        assert_eq!(Platform::parse("linux/arm64/v8").unwrap().to_string(), "linux/arm64/v8");
        assert_eq!(Platform::parse("linux/amd64").unwrap().variant, None);
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
    }

    #[test]
    fn picks_the_platform_entry() {
        let d = |n: u8| format!("sha256:{}", format!("{n:02x}").repeat(32));
        let index = json!({"manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d(1), "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d(2), "size": 2, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        ]});
        let arm = from_index(&index, &Platform::parse("linux/arm/v7").unwrap()).unwrap();
        assert_eq!(arm.size, 2);
        assert!(from_index(&index, &Platform::parse("linux/arm/v6").unwrap()).unwrap_err().contains("linux/arm/v6"));
        assert!(from_index(&index, &Platform::parse("linux/amd64").unwrap()).is_ok());
    }
}
