//! The report vouch prints on stdout: Ratify's verification-result shape plus a summary.
//!
//! # Wire format
//! ```json
//! {"isSuccess":false,"mode":"enforce","subject":"127.0.0.1:5000/acme/app@sha256:…",
//!  "reason":"deny 127.0.0.1:5000/acme/app@sha256:ab…: …",
//!  "verifierReports":[{"subject":"…","referenceDigest":"sha256:…",
//!    "artifactType":"application/vnd.cncf.notary.signature",
//!    "verifierReports":[{"isSuccess":false,"message":"…","errorReason":"…","name":"notation",
//!      "verifierName":"notation","type":"notation","extensions":{"Issuer":"…","SN":"…"}}],
//!    "nestedReports":[]}]}
//! ```
//! `verifierReports` is exactly the `input.verifierReports` a Ratify Rego policy reads.
//! Unlike Ratify, `isSuccess` is always present.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// containerd keeps at most this many bytes of a verifier's stdout.
pub const STDOUT_LIMIT: usize = 32 * 1024;

/// The whole report for one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The real verdict (even in audit mode, where the exit code is 0 regardless).
    pub is_success: bool,
    /// `enforce` or `audit`.
    pub mode: String,
    /// The image, `ref@digest` when known.
    pub subject: String,
    /// One sentence: what was decided and why.
    pub reason: String,
    /// Ratify's nested verifier reports, one per signature artifact examined.
    #[serde(default)]
    pub verifier_reports: Vec<NestedReport>,
    /// Further summary fields (`policy`, `cached`, `breakGlass`, …), flattened into the object.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Ratify's `NestedVerifierReport`: the results for one referrer artifact of the subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NestedReport {
    /// The verified subject, `ref@digest`.
    pub subject: String,
    /// Digest of the referrer (signature manifest).
    pub reference_digest: String,
    /// The referrer's artifact type.
    pub artifact_type: String,
    /// One result per verifier that examined the artifact.
    pub verifier_reports: Vec<VerifierResult>,
    /// Reports about the artifact's own referrers (unused by vouch today; always present).
    #[serde(default)]
    pub nested_reports: Vec<NestedReport>,
}

/// Ratify's `VerifierResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifierResult {
    /// Whether this verifier accepted the artifact.
    pub is_success: bool,
    /// Human summary.
    pub message: String,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// Verifier name (`notation`).
    pub name: String,
    /// Verifier name again, under Ratify 1.x's field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier_name: Option<String>,
    /// Verifier type (`notation`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Verifier-specific details (for notation: `Issuer`, `SN`, `signingTime`, `userMetadata`, checks).
    #[serde(default)]
    pub extensions: Map<String, Value>,
}

impl Report {
    /// Compact JSON, at most `limit` bytes. When the full report is longer, detail is dropped
    /// in this order until it fits: per-signature messages, then extensions, then per-signature
    /// entries (the summary is kept, and a `truncated` field says so).
    pub fn to_json_bounded(&self, limit: usize) -> String {
        let full = serde_json::to_string(self).unwrap_or_default();
        if full.len() <= limit {
            return full;
        }
        let mut r = self.clone();
        r.extra.insert("truncated".into(), Value::Bool(true));
        for v in r.verifier_reports.iter_mut().flat_map(|n| n.verifier_reports.iter_mut()) {
            v.message = String::new();
        }
        for n in r.verifier_reports.iter_mut() {
            n.nested_reports.clear();
        }
        if let Some(s) = fits(&r, limit) {
            return s;
        }
        for v in r.verifier_reports.iter_mut().flat_map(|n| n.verifier_reports.iter_mut()) {
            v.extensions.clear();
        }
        if let Some(s) = fits(&r, limit) {
            return s;
        }
        // Keep the longest prefix of entries that fits; sizes are summed rather than
        // re-serialising the report once per dropped entry.
        let sizes: Vec<usize> =
            r.verifier_reports.iter().map(|n| serde_json::to_string(n).map_or(0, |s| s.len() + 1)).collect();
        let all = std::mem::take(&mut r.verifier_reports);
        let base = serde_json::to_string(&r).map_or(limit, |s| s.len());
        let mut used = base;
        let keep = sizes.iter().take_while(|s| { used += **s; used <= limit }).count();
        r.verifier_reports = all.into_iter().take(keep).collect();
        while !r.verifier_reports.is_empty() {
            if let Some(s) = fits(&r, limit) {
                return s;
            }
            r.verifier_reports.pop();
        }
        if let Some(s) = fits(&r, limit) {
            return s;
        }
        r.extra.retain(|k, _| k == "truncated");
        // A reason or subject that alone exceeds the limit is cut on a character boundary.
        let keep = limit / 4;
        r.reason = r.reason.chars().take(keep).collect();
        r.subject = r.subject.chars().take(keep).collect();
        serde_json::to_string(&r).unwrap_or_default()
    }
}

fn fits(r: &Report, limit: usize) -> Option<String> {
    let s = serde_json::to_string(r).ok()?;
    (s.len() <= limit).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(n: usize) -> Report {
        let v = VerifierResult {
            is_success: false,
            message: "m".repeat(200),
            error_reason: Some("bad".into()),
            name: "notation".into(),
            verifier_name: Some("notation".into()),
            kind: Some("notation".into()),
            extensions: [("Issuer".to_string(), Value::String("x".repeat(300)))].into_iter().collect(),
        };
        let nested = NestedReport {
            subject: "s".into(),
            reference_digest: "sha256:00".into(),
            artifact_type: "a".into(),
            verifier_reports: vec![v],
            nested_reports: vec![],
        };
        Report {
            is_success: false,
            mode: "enforce".into(),
            subject: "img".into(),
            reason: "deny img: nothing".into(),
            verifier_reports: vec![nested; n],
            extra: Map::new(),
        }
    }

    #[test]
    fn small_reports_are_unchanged() {
        let r = report(2);
        let s = r.to_json_bounded(STDOUT_LIMIT);
        assert_eq!(serde_json::from_str::<Report>(&s).unwrap(), r);
        assert!(!s.contains("truncated"));
    }

    #[test]
    fn large_reports_shrink_to_valid_json() {
        for n in [60, 200, 5000] {
            let s = report(n).to_json_bounded(STDOUT_LIMIT);
            assert!(s.len() <= STDOUT_LIMIT, "{n}: {}", s.len());
            let back: Report = serde_json::from_str(&s).unwrap();
            assert_eq!(back.reason, "deny img: nothing");
            assert_eq!(back.extra.get("truncated"), Some(&Value::Bool(true)));
        }
    }

    #[test]
    fn a_huge_reason_is_cut() {
        let mut r = report(1);
        r.reason = "é".repeat(40_000);
        let s = r.to_json_bounded(STDOUT_LIMIT);
        assert!(s.len() <= STDOUT_LIMIT);
        assert!(serde_json::from_str::<Report>(&s).is_ok());
    }
}
