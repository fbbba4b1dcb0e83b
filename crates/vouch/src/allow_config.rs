//! The `[allow]` section of vouch's configuration: images allowed without verification.

use serde::Deserialize;
use vouch_pipeline::Allowlist;

/// `[allow]` as written in the file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AllowSection {
    /// Image patterns (`registry.k8s.io/pause:*`, `myreg.io/platform/**`).
    #[serde(default)]
    images: Vec<String>,
    /// Image digests (`sha256:…`).
    #[serde(default)]
    digests: Vec<String>,
}

/// Validates the section; the error names the entry and the fix.
pub fn resolve(section: &AllowSection) -> Result<Allowlist, String> {
    Allowlist::parse(&section.images, &section.digests).map_err(|e| e.to_string())
}
