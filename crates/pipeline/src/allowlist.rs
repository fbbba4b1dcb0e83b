//! `[allow]`: images allowed without verification (the pause image, CNI, node agents).
//!
//! The allowlist is checked before anything else, so an allowlisted image costs no registry
//! request, no verdict-cache lookup and no trust-material parsing.

use serde_json::json;
use vouch_core::{Digest, DigestError, ImagePattern, PatternError, Report};

use crate::Request;

/// Why an `[allow]` entry is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    /// An `images` entry is not a valid pattern.
    #[error("allow.images[{index}]: {source}")]
    Image {
        /// Position in the list.
        index: usize,
        /// Why the pattern is invalid.
        source: PatternError,
    },
    /// A `digests` entry is not a digest.
    #[error("allow.digests[{index}]: {source} (write the image's digest, e.g. \"sha256:<64 hex>\")")]
    Digest {
        /// Position in the list.
        index: usize,
        /// Why the digest is invalid.
        source: DigestError,
    },
}

/// The rule that allowed an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowRule<'a> {
    /// An `[allow] images` pattern.
    Image(&'a ImagePattern),
    /// An `[allow] digests` entry.
    Digest(&'a Digest),
}

impl AllowRule<'_> {
    /// The configuration key of the rule's list: `images` or `digests`.
    pub fn key(&self) -> &'static str {
        match self {
            AllowRule::Image(_) => "images",
            AllowRule::Digest(_) => "digests",
        }
    }

    /// The rule as written in the configuration.
    pub fn text(&self) -> String {
        match self {
            AllowRule::Image(p) => p.as_str().to_string(),
            AllowRule::Digest(d) => d.to_string(),
        }
    }
}

/// Image patterns and digests that are allowed without verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    images: Vec<ImagePattern>,
    digests: Vec<Digest>,
}

impl Allowlist {
    /// Parses the `images` and `digests` lists of `[allow]`.
    pub fn parse<S: AsRef<str>>(images: &[S], digests: &[S]) -> Result<Allowlist, AllowlistError> {
        let images = images
            .iter()
            .enumerate()
            .map(|(index, s)| ImagePattern::parse(s.as_ref()).map_err(|source| AllowlistError::Image { index, source }))
            .collect::<Result<Vec<_>, _>>()?;
        let digests = digests
            .iter()
            .enumerate()
            .map(|(index, s)| Digest::parse(s.as_ref().trim()).map_err(|source| AllowlistError::Digest { index, source }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Allowlist { images, digests })
    }

    /// Whether the allowlist has no entries.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.digests.is_empty()
    }

    /// The first rule that allows `req`: digests first, then patterns in order.
    pub fn find(&self, req: &Request) -> Option<AllowRule<'_>> {
        let digest = &req.subject.digest;
        if let Some(d) = self.digests.iter().find(|d| *d == digest) {
            return Some(AllowRule::Digest(d));
        }
        self.images.iter().find(|p| p.matches(&req.image, Some(digest))).map(AllowRule::Image)
    }
}

/// The allow report for an allowlisted image: the reason and `allowlisted` name the rule.
pub(crate) fn report(settings: &crate::Settings, req: &Request, rule: AllowRule<'_>) -> Report {
    let reason = format!("allow {}: allowlisted by [allow] {} {:?}", req.short_name(), rule.key(), rule.text());
    log::info!("{reason}");
    let mut extra = serde_json::Map::new();
    extra.insert("allowlisted".into(), json!(rule.text()));
    Report {
        is_success: true,
        mode: settings.mode.name().to_string(),
        subject: req.subject_name(),
        reason,
        verifier_reports: Vec::new(),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_core::{Descriptor, ImageRef};

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn req(name: &str, digest: &str) -> Request {
        let subject: Descriptor = serde_json::from_value(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 1
        }))
        .unwrap();
        Request { image: ImageRef::parse(name).unwrap(), subject }
    }

    #[test]
    fn finds_the_matching_rule() {
        let list = Allowlist::parse(&["registry.k8s.io/pause:*", "myreg.io/platform/**"], &[D1]).unwrap();
        let rule = list.find(&req("registry.k8s.io/pause:3.10", D2)).unwrap();
        assert_eq!((rule.key(), rule.text()), ("images", "registry.k8s.io/pause:*".to_string()));
        let rule = list.find(&req("ghcr.io/any/thing:1", D1)).unwrap();
        assert_eq!((rule.key(), rule.text()), ("digests", D1.to_string()));
        assert!(list.find(&req("myreg.io/platform/agent:1", D2)).is_some());
        assert!(list.find(&req("myreg.io/platformer/agent:1", D2)).is_none());
        assert!(list.find(&req("registry.k8s.io/pause2:1", D2)).is_none());
    }

    #[test]
    fn invalid_entries_are_named() {
        let e = Allowlist::parse(&["ok.io/a", "Bad/Name"], &[]).unwrap_err().to_string();
        assert!(e.starts_with("allow.images[1]:"), "{e}");
        let e = Allowlist::parse(&[], &["sha256:abc"]).unwrap_err().to_string();
        assert!(e.starts_with("allow.digests[0]:") && e.contains("sha256:<64 hex>"), "{e}");
        assert!(Allowlist::parse::<&str>(&[], &[]).unwrap().is_empty());
    }
}
