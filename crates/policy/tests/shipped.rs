//! The policies shipped in `policies/`, evaluated over report-shaped inputs.

use serde_json::{json, Value};
use std::time::Duration;
use vouch_policy::Policy;

fn shipped(name: &str) -> Policy {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies").join(name);
    Policy::load(name, &std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One signature artifact with one notation result.
fn signature(ok: bool, metadata: Value) -> Value {
    json!({
        "subject": "r.io/a@sha256:00", "referenceDigest": "sha256:11",
        "artifactType": "application/vnd.cncf.notary.signature",
        "verifierReports": [{"isSuccess": ok, "name": "notation", "verifierName": "notation", "type": "notation",
                             "message": "", "extensions": {"userMetadata": metadata}}],
        "nestedReports": []
    })
}

fn decide(p: &mut Policy, reports: Vec<Value>) -> bool {
    p.evaluate(&json!({ "verifierReports": reports }), Duration::from_secs(1)).unwrap()
}

#[test]
fn require_metadata_needs_env_prod_on_a_verified_signature() {
    let mut p = shipped("require-metadata.rego");
    assert!(decide(&mut p, vec![signature(true, json!({"env": "prod", "team": "a"}))]));
    assert!(!decide(&mut p, vec![signature(true, json!({"env": "dev"}))]));
    assert!(!decide(&mut p, vec![signature(true, json!({}))]));
    assert!(!decide(&mut p, vec![]));
    // The metadata must sit on the signature that verified, not on a failed one next to it.
    assert!(!decide(&mut p, vec![signature(false, json!({"env": "prod"})), signature(true, json!({}))]));
    assert!(decide(&mut p, vec![signature(false, json!({})), signature(true, json!({"env": "prod"}))]));
}

#[test]
fn all_signatures_refuses_one_bad_signature() {
    let mut p = shipped("all-signatures.rego");
    assert!(decide(&mut p, vec![signature(true, json!({})), signature(true, json!({}))]));
    assert!(!decide(&mut p, vec![signature(true, json!({})), signature(false, json!({}))]));
    assert!(!decide(&mut p, vec![]));
}

#[test]
fn the_default_file_is_the_embedded_policy() {
    let mut file = shipped("default.rego");
    let mut embedded = Policy::embedded_default();
    for reports in [vec![], vec![signature(false, json!({}))], vec![signature(false, json!({})), signature(true, json!({}))]] {
        assert_eq!(decide(&mut file, reports.clone()), decide(&mut embedded, reports));
    }
}
