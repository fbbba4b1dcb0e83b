//! The notation CLI's own trust policies (`../shared/testvectors/notation/trustpolicy`): each
//! document is accepted or refused as notation does, and the verification levels and overrides
//! give notation's verdicts for the notation e2e signatures (valid, expired signature, expired
//! certificate, untrusted store, broken integrity).

use std::path::{Path, PathBuf};
use time::macros::datetime;
use time::OffsetDateTime;
use vouch_core::{Descriptor, Digest, MEDIA_TYPE_JWS};
use vouch_notation::{Check, NotationError, SignatureOutcome, TrustPolicyDocument, TrustStore, Verifier};

const NOW: OffsetDateTime = datetime!(2025-06-01 00:00 UTC);

fn vectors() -> Option<PathBuf> {
    vouch_testkit::shared_vectors("notation")
}

/// `None`: valid. `Some(fragment)`: refused, the error containing `fragment`.
fn expected_validity(file: &str) -> Option<&'static str> {
    match file {
        "empty_registry_scope_trustpolicy.json" => Some("zero registry scopes"),
        "empty_trusted_identity_trustpolicy.json" => Some("empty trusted identity"),
        // Broken JSON (an extra `}`): serde stops at the first structural problem it meets.
        "invalid_format_trustpolicy.json" => Some("does not parse"),
        "malformed_registry_scope_trustpolicy.json" => Some("registry scope \"localhost:5000\\\\test-repo\" is not valid"),
        "malformed_trust_store_trustpolicy.json" => Some("trust store"),
        "malformed_trusted_identity_trustpolicy.json" => Some("is not <type>:<value>"),
        "missing_country_trusted_identity_trustpolicy.json" => Some("no C attribute"),
        "missing_organization_trusted_identity_trustpolicy.json" => Some("no O attribute"),
        "missing_state_trusted_identity_trustpolicy.json" => Some("no ST attribute"),
        "multi_statements_with_multi_wildcard_registry_scope_trustpolicy.json" => Some("\"*\""),
        "multi_statements_with_the_same_name_trustpolicy.json" => Some("\"e2e\""),
        "multi_statements_with_the_same_registry_scope_trustpolicy.json" => Some("localhost:5000/test-repo8"),
        "overlapped_registry_scope_trustpolicy.json" => Some("localhost:5000/test-repo6"),
        "overlapped_trusted_identity_trustpolicy.json" => Some("overlapping"),
        "override_integrity_for_permissive_trustpolicy.json" => Some("integrity"),
        "unset_trust_store_trustpolicy.json" => Some("missing trustStores or trustedIdentities"),
        "unset_trusted_identity_trustpolicy.json" => Some("missing trustStores or trustedIdentities"),
        "wildcard_plus_other_registry_scope_trustpolicy.json" => Some("wildcard registry scope \"*\" together with other scopes"),
        "wildcard_plus_other_trusted_identity_trustpolicy.json" => Some("wildcard trusted identity \"*\" together with other values"),
        "wildcard_trust_store_trustpolicy.json" => Some("\"*\""),
        // A blob trust policy (no registryScopes) is a different document: vouch verifies OCI
        // images only and refuses it as an OCI trust policy.
        "blob_trust_policy.json" | "trustpolicy.blob.json" => Some("registryScopes"),
        _ => None,
    }
}

/// Removes `//` line comments from the specification's JSONC examples (none of them has `//`
/// inside a string).
fn strip_jsonc(text: &str) -> String {
    text.lines().map(|l| l.split_once("//").map_or(l, |(code, _)| code)).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_trust_policy_document_is_accepted_or_refused_as_notation_does() {
    let Some(base) = vectors() else { return };
    let mut checked = 0;
    let mut wrong = Vec::new();
    for dir in ["notation-e2e", "notation-e2e-blob", "spec-examples", "reconstructed-from-go-tests"] {
        for entry in std::fs::read_dir(base.join("trustpolicy").join(dir)).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let text = if name.ends_with(".jsonc") { strip_jsonc(&text) } else { text };
            let expected = if name.starts_with("blob-") { Some("registryScopes") } else { expected_validity(&name) };
            let got = TrustPolicyDocument::parse(text.as_bytes());
            match (expected, &got) {
                (None, Ok(_)) => {}
                (Some(fragment), Err(e)) if e.to_string().contains(fragment) => {}
                _ => wrong.push(format!("{dir}/{name}: expected {expected:?}, got {:?}", got.as_ref().err().map(ToString::to_string))),
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{} document(s) judged wrongly:\n{}", wrong.len(), wrong.join("\n"));
    assert!(checked >= 45, "only {checked} documents checked");
}

/// The notation e2e signatures and the trust store each needs.
struct Signature {
    name: &'static str,
    envelope: Vec<u8>,
    store_cert: &'static str,
}

fn e2e_signatures(base: &Path) -> Vec<Signature> {
    let read = |f: &str| std::fs::read(base.join("jws/notation-e2e").join(f)).unwrap();
    let mut broken = read("e2e-valid-signature.jws.json");
    // Flip one character of the signature value: well-formed, but the signature is invalid.
    let at = broken.windows(13).position(|w| w == b"\"signature\":\"").unwrap() + 13;
    broken[at] = if broken[at] == b'A' { b'B' } else { b'A' };
    vec![
        Signature { name: "valid", envelope: read("e2e-valid-signature.jws.json"), store_cert: "e2e.crt" },
        Signature { name: "expired signature", envelope: read("e2e-expired-signature.jws.json"), store_cert: "e2e.crt" },
        Signature { name: "expired certificate", envelope: read("e2e-with-expired-cert.jws.json"), store_cert: "expired_e2e.crt" },
        Signature { name: "untrusted store", envelope: read("e2e-valid-signature.jws.json"), store_cert: "new_e2e.crt" },
        Signature { name: "broken integrity", envelope: broken, store_cert: "e2e.crt" },
    ]
}

/// The check that must fail and be enforced, or `None` when the signature passes.
type Row = [Option<Check>; 5];

/// notation's verdicts (verification_level.go) for the signatures above, in order.
fn level_table() -> Vec<(&'static str, Row)> {
    use Check::*;
    vec![
        ("trustpolicy.json", [None, Some(Expiry), Some(AuthenticTimestamp), Some(Authenticity), Some(Integrity)]),
        ("permissive_trustpolicy.json", [None, None, None, Some(Authenticity), Some(Integrity)]),
        ("audit_trustpolicy.json", [None, None, None, None, Some(Integrity)]),
        ("override_strict_trustpolicy.json", [None, None, None, None, Some(Integrity)]),
        ("override_permissive_trustpolicy.json", [None, Some(Expiry), Some(AuthenticTimestamp), None, Some(Integrity)]),
        ("override_audit_trustpolicy.json", [None, Some(Expiry), Some(AuthenticTimestamp), Some(Authenticity), Some(Integrity)]),
        ("skip_trustpolicy.json", [None, None, None, None, None]),
    ]
}

fn store_with(base: &Path, cert: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let root = std::env::temp_dir().join(format!("vouch-levels-{}-{n}", std::process::id()));
    let dir = root.join("x509/ca/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(base.join("truststore/notation-e2e/localkeys").join(cert), dir.join(cert)).unwrap();
    root
}

/// The e2e signatures all sign the same image manifest.
fn e2e_subject() -> Descriptor {
    let digest = Digest::parse("sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9").unwrap();
    Descriptor::new("application/vnd.oci.image.manifest.v1+json", digest, 517)
}

fn failed_enforced_check(o: &SignatureOutcome) -> Option<Check> {
    if o.is_success {
        return None;
    }
    let failed = o.checks.iter().find(|c| c.action == "enforce" && c.passed == Some(false))?;
    Check::ALL.into_iter().find(|c| c.name() == failed.name)
}

#[test]
fn levels_and_overrides_give_notations_verdicts() {
    let Some(base) = vectors() else { return };
    let signatures = e2e_signatures(&base);
    let mut wrong = Vec::new();
    for (policy_file, row) in level_table() {
        let text = std::fs::read(base.join("trustpolicy/notation-e2e").join(policy_file)).unwrap();
        let policy = TrustPolicyDocument::parse(&text).unwrap();
        for (sig, expected) in signatures.iter().zip(row) {
            let verifier = Verifier::new(policy.clone(), TrustStore::open(&store_with(&base, sig.store_cert)));
            let out = verifier.verify("localhost:5000/e2e", &e2e_subject(), MEDIA_TYPE_JWS, &sig.envelope, NOW);
            let got = failed_enforced_check(&out);
            if got != expected || out.is_success != expected.is_none() {
                wrong.push(format!("{policy_file} / {}: expected {expected:?}, got {got:?} ({:?})", sig.name, out.error));
            }
        }
    }
    assert!(wrong.is_empty(), "{} verdict(s) differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// Logged failures stay in the report with the check's name, without failing the signature.
#[test]
fn logged_failures_are_reported_by_check_name() {
    let Some(base) = vectors() else { return };
    let text = std::fs::read(base.join("trustpolicy/notation-e2e/permissive_trustpolicy.json")).unwrap();
    let verifier = Verifier::new(TrustPolicyDocument::parse(&text).unwrap(), TrustStore::open(&store_with(&base, "e2e.crt")));
    let envelope = std::fs::read(base.join("jws/notation-e2e/e2e-expired-signature.jws.json")).unwrap();
    let out = verifier.verify("localhost:5000/e2e", &e2e_subject(), MEDIA_TYPE_JWS, &envelope, NOW);
    assert!(out.is_success, "{:?}", out.error);
    let expiry = out.checks.iter().find(|c| c.name == "expiry").unwrap();
    assert_eq!((expiry.action, expiry.passed), ("log", Some(false)));
    assert!(expiry.error.as_deref().unwrap().contains("expired"), "{expiry:?}");
}

/// The e2e layout whose "signature" layer is a tar layer, not an envelope, fails integrity.
#[test]
fn a_signature_layer_that_is_not_an_envelope_fails_integrity() {
    let Some(base) = vectors() else { return };
    let layout = base.join("oci-layouts/e2e-invalid-signature/blobs/sha256");
    let layer = std::fs::read(layout.join("9a8decdf3775708f4eed16859f19561d730cad40b1af0dcfc37ac1e5f879a934")).unwrap();
    let text = std::fs::read(base.join("trustpolicy/notation-e2e/audit_trustpolicy.json")).unwrap();
    let verifier = Verifier::new(TrustPolicyDocument::parse(&text).unwrap(), TrustStore::open(&store_with(&base, "e2e.crt")));
    let out = verifier.verify("localhost:5000/e2e", &e2e_subject(), "application/vnd.oci.image.layer.v1.tar", &layer, NOW);
    assert!(!out.is_success);
    assert!(matches!(out.error, Some(NotationError::UnsupportedEnvelope { .. })), "{:?}", out.error);
}
