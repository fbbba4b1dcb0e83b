//! The envelopes of `../shared/testvectors/registry` (made by the notation CLI) verified
//! through the library API at a fixed time, one expectation per signature.

use serde_json::Value;
use std::path::PathBuf;
use time::macros::datetime;
use vouch_core::Descriptor;
use vouch_notation::{NotationError, TrustPolicyDocument, TrustStore, Verifier};

fn layout() -> Option<PathBuf> {
    vouch_testkit::shared_vectors("registry")
}

fn blob(dir: &std::path::Path, digest: &str) -> Vec<u8> {
    std::fs::read(dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap()
}

/// Expected result per signature manifest digest prefix: Ok, or a predicate on the error.
fn expectation(sig: &str) -> Option<fn(&Option<NotationError>) -> bool> {
    let ok: fn(&Option<NotationError>) -> bool = |e| e.is_none();
    Some(match &sig[7..19] {
        "2cca3595c57c" => |e| matches!(e, Some(NotationError::CertificateExpired { .. })),
        "15547b7ebe99" | "03712f764cbb" | "b423a563cc0f" | "088bb2eff3c5" | "b0774ca74425" | "00d4868e7464" => ok,
        "48f6d2feee1c" => ok,
        "0aebd2a8cc38" | "65affac275ea" => |e| matches!(e, Some(NotationError::NotTrusted { .. })),
        "7cbf04c8bdab" => ok,
        "edddc799ad78" => |e| matches!(e, Some(NotationError::CertificateExpired { .. })),
        "6af33fef5e45" => |e| matches!(e, Some(NotationError::ChainInvalid { reason, .. }) if reason.contains("serverAuth")),
        "2411dbb53609" => |e| matches!(e, Some(NotationError::SignatureExpired { .. })),
        "96f6e7b5bfa4" | "72a32243d9f5" => ok,
        // COSE: cose-ps256, cose-es256, cose-es384, and the COSE half of jws-and-cose.
        "75c3b52910eb" | "347152e22320" | "6728555d5e4d" | "fc685040dcaa" => ok,
        _ => return None,
    })
}

#[test]
fn every_notation_cli_envelope_verifies_as_expected() {
    let Some(dir) = layout() else { return };
    let policy = TrustPolicyDocument::parse(&std::fs::read(dir.join("trustpolicy.json")).unwrap()).unwrap();
    let verifier = Verifier::new(policy, TrustStore::open(&dir.join("truststore")));
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let now = datetime!(2026-11-24 12:00 UTC);
    let mut checked = 0;
    for m in index["manifests"].as_array().unwrap() {
        if m["annotations"]["vnd.fixture.role"] != "signature" {
            continue;
        }
        let digest = m["digest"].as_str().unwrap();
        let manifest: Value = serde_json::from_slice(&blob(&dir, digest)).unwrap();
        let subject: Descriptor = serde_json::from_value(manifest["subject"].clone()).unwrap();
        let layer = &manifest["layers"][0];
        let media_type = layer["mediaType"].as_str().unwrap();
        let envelope = blob(&dir, layer["digest"].as_str().unwrap());
        let repo = m["annotations"]["vnd.fixture.repo"].as_str().unwrap();
        let outcome = verifier.verify(&format!("localhost:5000/{repo}"), &subject, media_type, &envelope, now);
        let expect = expectation(digest).unwrap_or_else(|| panic!("no expectation for {repo} {digest}"));
        assert!(expect(&outcome.error), "{repo} {digest}: {:?}", outcome.error);
        assert_eq!(outcome.is_success, outcome.error.is_none());
        checked += 1;
    }
    assert!(checked >= 19, "only {checked} signatures checked");
}

#[test]
fn a_signature_for_another_image_is_refused() {
    let Some(dir) = layout() else { return };
    let policy = TrustPolicyDocument::parse(&std::fs::read(dir.join("trustpolicy.json")).unwrap()).unwrap();
    let verifier = Verifier::new(policy, TrustStore::open(&dir.join("truststore")));
    let manifest: Value = serde_json::from_slice(&blob(&dir, "sha256:15547b7ebe99b5245488dd1db46ae24c364c6f0e3249e3ab84befcff0fa72494")).unwrap();
    let envelope = blob(&dir, manifest["layers"][0]["digest"].as_str().unwrap());
    let mut other: Descriptor = serde_json::from_value(manifest["subject"].clone()).unwrap();
    other.size += 1;
    let outcome = verifier.verify("r.io/a", &other, "application/jose+json", &envelope, datetime!(2026-11-24 12:00 UTC));
    assert!(matches!(outcome.error, Some(NotationError::TargetMismatch { .. })), "{:?}", outcome.error);
    assert!(!outcome.is_success);
}
