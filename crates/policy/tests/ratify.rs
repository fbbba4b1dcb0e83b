//! Ratify's own Rego policies and report examples load and decide as Ratify documents.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use vouch_policy::Policy;

fn shared() -> Option<PathBuf> {
    vouch_testkit::shared_vectors("ratify")
}

fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

fn report(results: &[(&str, bool)]) -> Value {
    let nested: Vec<Value> = results
        .iter()
        .map(|(artifact_type, ok)| {
            json!({"subject": "s", "referenceDigest": "sha256:00", "artifactType": artifact_type,
                   "verifierReports": [{"isSuccess": ok, "name": "notation", "message": "", "extensions": {}}],
                   "nestedReports": []})
        })
        .collect();
    json!({ "verifierReports": nested })
}

const NOTARY: &str = "application/vnd.cncf.notary.signature";

#[test]
fn ratify_rego_policies_load_unchanged() {
    let Some(dir) = shared() else { return };
    let rego = dir.join("policies/rego");
    let mut n = 0;
    for entry in std::fs::read_dir(&rego).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut policy = Policy::load(&name, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Every one of them must give a boolean for an input with one good signature.
        policy.evaluate(&report(&[(NOTARY, true)]), Duration::from_secs(2)).unwrap_or_else(|e| panic!("{name}: {e}"));
        n += 1;
    }
    assert!(n >= 6, "expected Ratify's six sample policies, found {n}");
}

#[test]
fn ratify_templates_decide_as_documented() {
    let Some(dir) = shared() else { return };
    let load = |f: &str| Policy::load(f, &std::fs::read_to_string(dir.join("policies/rego").join(f)).unwrap()).unwrap();
    let t = Duration::from_secs(2);
    // example1: every report must pass.
    let mut p = load("docs-rego-templates-example1.rego");
    assert!(p.evaluate(&report(&[(NOTARY, true)]), t).unwrap());
    assert!(!p.evaluate(&report(&[(NOTARY, true), (NOTARY, false)]), t).unwrap());
    assert!(!p.evaluate(&json!({"verifierReports": []}), t).unwrap());
    // example3: one trusted notation signature is enough.
    let mut p = load("docs-rego-templates-example3.rego");
    assert!(p.evaluate(&report(&[(NOTARY, false), (NOTARY, true)]), t).unwrap());
    assert!(!p.evaluate(&report(&[(NOTARY, false)]), t).unwrap());
}

#[test]
fn ratify_report_examples_are_valid_input() {
    let Some(dir) = shared() else { return };
    let text = std::fs::read_to_string(dir.join("reports/docs-rego-input-sample.json")).unwrap();
    let input: Value = serde_json::from_str(&text).unwrap();
    // In the documented sample the sbom verifier failed and the notation signature sits in
    // nestedReports: "every report must pass" denies, and so does vouch's default, which looks
    // for signatures of the image itself.
    let all = std::fs::read_to_string(policies_dir().join("all-signatures.rego")).unwrap();
    assert!(!Policy::load("all-signatures.rego", &all).unwrap().evaluate(&input, Duration::from_secs(2)).unwrap());
    assert!(!Policy::embedded_default().evaluate(&input, Duration::from_secs(2)).unwrap());
    let mut flipped = input.clone();
    flipped["verifierReports"][0]["verifierReports"][0]["isSuccess"] = json!(true);
    assert!(Policy::load("all-signatures.rego", &all).unwrap().evaluate(&flipped, Duration::from_secs(2)).unwrap());
}

#[test]
fn shipped_policies_compile_and_differ_on_mixed_signatures() {
    let load = |f: &str| Policy::load(f, &std::fs::read_to_string(policies_dir().join(f)).unwrap()).unwrap();
    let mixed = report(&[(NOTARY, false), (NOTARY, true)]);
    let t = Duration::from_secs(2);
    assert!(load("default.rego").evaluate(&mixed, t).unwrap());
    assert!(!load("all-signatures.rego").evaluate(&mixed, t).unwrap());
    assert!(load("all-signatures.rego").evaluate(&report(&[(NOTARY, true)]), t).unwrap());
    assert!(!load("all-signatures.rego").evaluate(&json!({"verifierReports": []}), t).unwrap());
}
