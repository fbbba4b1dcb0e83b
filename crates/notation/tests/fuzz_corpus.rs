//! Replays the fuzzing corpora in `fuzz/corpus/` (grown by `cargo fuzz`, see docs/fuzzing.md)
//! through the same parsers the fuzz targets call, on the stable toolchain in every test run,
//! so a regression on any input the fuzzer once found interesting surfaces here. Every input
//! must be refused or accepted without a panic; none may verify against an empty trust store.

use std::path::{Path, PathBuf};
use vouch_core::{Descriptor, Digest, ImageRef, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};
use vouch_notation::{cert, chain, cose, envelope, timestamp, TrustPolicyDocument, TrustStore, Verifier};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    files
}

fn each(target: &str, f: impl Fn(&[u8])) {
    let files = corpus(target);
    assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&bytes)));
        assert!(result.is_ok(), "{target}: {} panics", path.display());
    }
}

#[test]
fn jws_corpus() {
    each("jws", |b| drop(envelope::parse_jws(b)));
}

#[test]
fn cose_corpus() {
    each("cose", |b| drop(cose::parse_cose(b)));
}

#[test]
fn certificate_corpus() {
    each("certificate", |b| {
        if let Ok(certs) = cert::parse_pem_or_der(b) {
            let _ = chain::validate(&certs);
        }
    });
}

#[test]
fn trust_policy_corpus() {
    each("trust_policy", |b| {
        if let Ok(doc) = TrustPolicyDocument::parse(b) {
            let _ = doc.applicable("registry.example/acme/app");
        }
    });
}

#[test]
fn timestamp_token_corpus() {
    each("timestamp_token", |b| drop(timestamp::TimestampToken::parse(b)));
}

#[test]
fn reference_corpus() {
    each("reference", |b| {
        if let Ok(text) = std::str::from_utf8(b) {
            let _ = ImageRef::parse(text);
            let _ = Digest::parse(text);
        }
        let _ = serde_json::from_slice::<Descriptor>(b);
    });
}

#[test]
fn verify_envelope_corpus() {
    let doc = br#"{"version":"1.0","trustPolicies":[{"name":"f","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:none"],"trustedIdentities":["*"]}]}"#;
    let verifier = Verifier::new(TrustPolicyDocument::parse(doc).unwrap(), TrustStore::open(Path::new("/nonexistent")));
    let subject = Descriptor::new("application/vnd.oci.image.manifest.v1+json", Digest::sha256_of(b"subject"), 7);
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    each("verify_envelope", |b| {
        let media_type = if b.first() == Some(&b'{') { MEDIA_TYPE_JWS } else { MEDIA_TYPE_COSE };
        let out = verifier.verify("r.example/a", &subject, media_type, b, now);
        assert!(!out.is_success, "verified against an empty trust store");
    });
}
