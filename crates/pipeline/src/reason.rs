//! The one-sentence `reason` of a report: what was decided and why.

use vouch_core::NestedReport;

/// How many per-signature failures a deny reason quotes before summarising the rest.
const QUOTED_FAILURES: usize = 3;

/// Summarises a policy decision over the checked signatures.
pub(crate) fn summarise(subject: &str, allowed: bool, policy: &str, checked: &[NestedReport], truncated: bool) -> String {
    let total = checked.len();
    let results = checked.iter().flat_map(|n| n.verifier_reports.iter());
    let passed: Vec<usize> =
        checked.iter().enumerate().filter(|(_, n)| n.verifier_reports.iter().any(|v| v.is_success)).map(|(i, _)| i + 1).collect();
    let cap = if truncated { " (signature list truncated)" } else { "" };
    if allowed {
        let signer = results
            .filter(|v| v.is_success)
            .find_map(|v| v.extensions.get("SN").and_then(|s| s.as_str()).map(|s| format!(", signer {s:?}")))
            .unwrap_or_default();
        let which = passed.first().map_or_else(|| "policy allowed".to_string(), |i| format!("signature {i} of {total} verified"));
        return format!("allow {subject}: {which}{signer} (policy {policy}){cap}");
    }
    if total == 0 {
        return format!("deny {subject}: no Notary Project signature found for this image (sign it with notation and push the signature to the same repository)");
    }
    if !passed.is_empty() {
        return format!(
            "deny {subject}: policy {policy} denied the image ({} of {total} signatures verified){cap}",
            passed.len()
        );
    }
    let failures: Vec<String> = checked
        .iter()
        .enumerate()
        .take(QUOTED_FAILURES)
        .map(|(i, n)| {
            let why = n.verifier_reports.iter().find_map(|v| v.error_reason.clone()).unwrap_or_else(|| "failed".into());
            format!("signature {} of {total}: {why}", i + 1)
        })
        .collect();
    let more = if total > QUOTED_FAILURES { format!("; and {} more", total - QUOTED_FAILURES) } else { String::new() };
    format!("deny {subject}: no signature verified: {}{more}{cap}", failures.join("; "))
}
