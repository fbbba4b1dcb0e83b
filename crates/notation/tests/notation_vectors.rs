//! The envelopes of `../shared/testvectors/notation` (from the Notary Project's own
//! repositories and test suites), verified through the library API at a fixed time inside every
//! vector's validity window (2025-06-01, as the vectors' MANIFEST.md recommends).
//!
//! Each case names the trust store and level it runs under and the outcome vouch must give.
//! Where vouch deliberately differs from notation, the case says why in `note`.

use std::path::{Path, PathBuf};
use time::macros::datetime;
use time::OffsetDateTime;
use vouch_core::{Descriptor, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};
use vouch_notation::cose::parse_cose;
use vouch_notation::envelope::parse_jws;
use vouch_notation::{NotationError, SignatureOutcome, TrustPolicyDocument, TrustStore, Verifier};

const NOW: OffsetDateTime = datetime!(2025-06-01 00:00 UTC);

fn vectors() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testvectors/notation");
    if p.is_dir() {
        Some(p)
    } else {
        println!("skipped: ../shared/testvectors/notation is not present");
        None
    }
}

/// What a case expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Allow,
    Expired,
    CertExpired,
    CertNotYetValid,
    NotTrusted,
    Malformed,
    Plugin,
    InvalidSignature,
    TargetMismatch,
}

impl Expect {
    fn matches(self, o: &SignatureOutcome) -> bool {
        use NotationError as E;
        match (self, &o.error) {
            (Expect::Allow, None) => o.is_success,
            (Expect::Expired, Some(E::SignatureExpired { .. })) => true,
            (Expect::CertExpired, Some(E::CertificateExpired { .. })) => true,
            (Expect::CertNotYetValid, Some(E::CertificateNotYetValid { .. })) => true,
            (Expect::NotTrusted, Some(E::NotTrusted { .. })) => true,
            (Expect::Malformed, Some(E::Malformed { .. })) => true,
            (Expect::Plugin, Some(E::PluginRequired { .. })) => true,
            (Expect::InvalidSignature, Some(E::SignatureInvalid)) => true,
            (Expect::TargetMismatch, Some(E::TargetMismatch { .. })) => true,
            _ => false,
        }
    }
}

/// Where the trust anchor comes from.
enum Anchor {
    /// A named store of the notation-go test trust store (`ca:NAME` or `signingAuthority:NAME`).
    NotationGo(&'static str),
    /// One certificate file under `truststore/`, placed alone in a `ca` store.
    File(&'static str),
    /// The envelope's own self-signed leaf (for vectors whose upstream test used a store that
    /// was not published); proves everything but the choice of anchor.
    OwnLeaf,
}

struct Case {
    file: &'static str,
    anchor: Anchor,
    level: &'static str,
    expect: Expect,
    note: &'static str,
}

const fn case(file: &'static str, anchor: Anchor, level: &'static str, expect: Expect, note: &'static str) -> Case {
    Case { file, anchor, level, expect, note }
}

fn cases() -> Vec<Case> {
    use Anchor::*;
    use Expect::*;
    let ca = NotationGo("ca:valid-trust-store");
    let sa = || NotationGo("signingAuthority:valid-trust-store");
    vec![
        case("jws/notation-go-mock/ca_valid_sig_env.json", ca, "strict", Allow, ""),
        case("jws/notation-go-mock/sa_valid_sig_env.json", sa(), "strict", Allow, ""),
        case("jws/notation-go-mock/ca_expired_sig_env.json", NotationGo("ca:valid-trust-store"), "strict", Expired, ""),
        case("jws/notation-go-mock/ca_expired_sig_env.json", NotationGo("ca:valid-trust-store"), "permissive", Allow, "expiry is logged at permissive"),
        case("jws/notation-go-mock/ca_expired_sig_env.json", NotationGo("ca:valid-trust-store"), "audit", Allow, "expiry is logged at audit"),
        case("jws/notation-go-mock/sa_expired_sig_env.json", sa(), "strict", Expired, ""),
        case("jws/notation-go-mock/ca_invalid_sig_env.json", NotationGo("ca:valid-trust-store"), "strict", Malformed, "payload is not unpadded base64url"),
        case("jws/notation-go-mock/ca_invalid_sig_env.json", NotationGo("ca:valid-trust-store"), "audit", Malformed, "integrity is always enforced"),
        case("jws/notation-go-mock/sa_invalid_sig_env.json", sa(), "permissive", Malformed, ""),
        case("jws/notation-go-mock/ca_plugin_sig_env.json", NotationGo("ca:valid-trust-store"), "strict", Plugin, "notation: plugin not found"),
        case("jws/notation-go-mock/sa_plugin_sig_env.json", sa(), "strict", Plugin, ""),
        case("jws/notation-go-mock/ca_incompatible_pluginver_sig_env_1.0.1.json", NotationGo("ca:valid-trust-store"), "strict", Plugin, ""),
        case("jws/notation-go-mock/ca_incompatible_pluginver_sig_env_1.0.9.json", NotationGo("ca:valid-trust-store"), "strict", Plugin, ""),
        case("jws/notation-go-mock/ca_incompatible_pluginver_sig_env_1.1.0-alpha.json", NotationGo("ca:valid-trust-store"), "strict", Plugin, ""),
        case("jws/notation-go-mock/ca_incompatible_pluginver_sig_env_1.2.3.json", NotationGo("ca:valid-trust-store"), "strict", Plugin, ""),
        // Deliberate difference: notation passes these with its mock verification plugin
        // installed; vouch runs no verification plugins, so a signature that requires one is
        // refused by name rather than accepted without the plugin's checks.
        case("jws/notation-go-mock/ca_compatible_pluginver_sig_env_0.0.9.json", NotationGo("ca:valid-trust-store"), "strict", Plugin, "vouch runs no plugins"),
        case("jws/notation-go-mock/ca_compatible_pluginver_sig_env_1.0.0.json", NotationGo("ca:valid-trust-store"), "strict", Plugin, "vouch runs no plugins"),
        case("jws/notation-go-mock/ca_compatible_pluginver_sig_env_1.0.0-alpha.json", NotationGo("ca:valid-trust-store"), "strict", Plugin, "vouch runs no plugins"),
        case("jws/notation-go-mock/ca_compatible_pluginver_sig_env_1.0.0-alpha.beta.json", NotationGo("ca:valid-trust-store"), "strict", Plugin, "vouch runs no plugins"),
        // Its leaf is in no published store and expired in 2023; notation's test runs it at
        // audit level, where only integrity is enforced.
        case("jws/notation-go-mock/sig_env_with_metadata.json", NotationGo("ca:valid-trust-store"), "audit", Allow, "user metadata at audit"),
        case("jws/notation-go-mock/sig_env_with_metadata.json", NotationGo("ca:valid-trust-store"), "strict", NotTrusted, ""),
        // Timestamped envelopes, verified without a tsa store: certificates are checked at now.
        case("jws/notation-go-timestamp/jwsWithTimestamp.sig", NotationGo("ca:valid-trust-store"), "strict", Allow, ""),
        case("cose/notation-go-timestamp/coseWithTimestamp.sig", NotationGo("ca:valid-trust-store"), "strict", Allow, ""),
        case("jws/notation-go-timestamp/withoutTimestamp.sig", NotationGo("ca:valid-trust-store"), "strict", Allow, ""),
        case("jws/notation-go-timestamp/timestampBeforeNotBefore.sig", NotationGo("ca:valid-trust-store"), "strict", CertNotYetValid, ""),
        case("jws/notation-go-timestamp/jwsExpiredWithTimestamp.sig", OwnLeaf, "strict", CertExpired, "no tsa store: checked at now"),
        case("cose/notation-go-timestamp/coseExpiredWithTimestamp.sig", NotationGo("ca:valid-trust-store"), "strict", NotTrusted, ""),
        case("cose/notation-go-timestamp/coseExpiredWithTimestamp.sig", OwnLeaf, "strict", CertExpired, "notation: verification time is after certificate validity"),
        case("cose/notation-go-timestamp/timestampAfterNotAfter.sig", OwnLeaf, "strict", CertExpired, ""),
        // Local-content signatures: upstream never verifies them; their signature math is valid.
        case("jws/notation-go-local/jws_signature.sig", OwnLeaf, "strict", Allow, ""),
        case("cose/notation-go-local/cose_signature.sig", OwnLeaf, "strict", Allow, ""),
        // Deliberate difference: a blob signature over a sha384 digest. notation verifies it
        // against the blob; vouch verifies OCI images, whose digests it accepts only as sha256
        // or sha512, so no image can be this signature's target.
        case("jws/from-go-literals/verifier_test-testSig.jws.json", File("from-go-literals/verifier_test-trustedCert.pem"), "strict", TargetMismatch, "sha384 blob target"),
        // notation CLI e2e.
        case("jws/notation-e2e/e2e-valid-signature.jws.json", File("notation-e2e/localkeys/e2e.crt"), "strict", Allow, ""),
        case("jws/notation-e2e/e2e-valid-signature.jws.json", File("notation-e2e/localkeys/new_e2e.crt"), "strict", NotTrusted, ""),
        case("jws/notation-e2e/e2e-expired-signature.jws.json", File("notation-e2e/localkeys/e2e.crt"), "strict", Expired, ""),
        case("jws/notation-e2e/e2e-expired-signature.jws.json", File("notation-e2e/localkeys/e2e.crt"), "permissive", Allow, "expiry logged"),
        case("jws/notation-e2e/e2e-with-expired-cert.jws.json", File("notation-e2e/localkeys/expired_e2e.crt"), "strict", CertExpired, ""),
        case("jws/notation-e2e/e2e-valid-multiple-signatures-testcert11.jws.json", OwnLeaf, "strict", CertExpired, "leaf expired 2025-02-18"),
        case("jws/notation-e2e/e2e-with-timestamped-signature.jws.json", OwnLeaf, "strict", CertExpired, "leaf expired 2025-01-22"),
        case("jws/notation-e2e/e2e-with-timestamped-signature.jws.json", OwnLeaf, "permissive", Allow, "authenticTimestamp and expiry logged"),
        // Its timestamp token is malformed; without a tsa store the token is not consulted.
        case("jws/notation-e2e/e2e-with-invalid-timestamped-signature.jws.json", OwnLeaf, "strict", CertExpired, "leaf expired 2025-01-22"),
        case("jws/notation-e2e/malformed.jws.sig", OwnLeaf, "strict", Malformed, "notation: failed to parse signature"),
        case("jws/notation-e2e/blob.jws.sig", OwnLeaf, "strict", CertExpired, "leaf expired 2025-01-01"),
        case("cose/notation-e2e/blob.cose.sig", OwnLeaf, "strict", CertExpired, "leaf expired 2025-01-08"),
        // Structure-only conformance vector: no certificate chain, random key.
        case("jws/conformance/conformance.json", OwnLeaf, "strict", Malformed, "no x5c"),
    ]
}

fn media_type(file: &str) -> &'static str {
    if file.starts_with("cose/") {
        MEDIA_TYPE_COSE
    } else {
        MEDIA_TYPE_JWS
    }
}

/// The target the envelope names, used as the subject (the upstream tests verify with an empty
/// descriptor; the target check itself is exercised against real artifacts below).
fn signed_target(media_type: &str, bytes: &[u8]) -> Option<(Descriptor, Vec<u8>)> {
    let parsed = if media_type == MEDIA_TYPE_COSE { parse_cose(bytes) } else { parse_jws(bytes) }.ok()?;
    let t = &parsed.target;
    let d = Descriptor::new(t.media_type.clone(), vouch_core::Digest::parse(&t.digest).ok()?, t.size);
    Some((d, parsed.chain[0].der.clone()))
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let p = std::env::temp_dir().join(format!("vouch-vectors-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// A trust store with one certificate in `ca:anchor`.
fn single_cert_store(der_or_pem: &[u8], name: &str) -> PathBuf {
    let root = temp_dir("store");
    let dir = root.join("x509/ca/anchor");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), der_or_pem).unwrap();
    root
}

fn policy(level: &str, store: &str) -> TrustPolicyDocument {
    let doc = format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"vectors","registryScopes":["*"],"signatureVerification":{{"level":"{level}"}},"trustStores":["{store}"],"trustedIdentities":["*"]}}]}}"#
    );
    TrustPolicyDocument::parse(doc.as_bytes()).unwrap()
}

fn run_case(base: &Path, c: &Case) -> Result<(), String> {
    let bytes = std::fs::read(base.join(c.file)).map_err(|e| format!("read: {e}"))?;
    let mt = media_type(c.file);
    let (subject, leaf) = signed_target(mt, &bytes).unwrap_or_else(|| (placeholder_subject(), Vec::new()));
    let (store_root, store_ref) = match &c.anchor {
        Anchor::NotationGo(r) => (base.join("truststore/notation-go"), r.to_string()),
        Anchor::File(f) => (single_cert_store(&std::fs::read(base.join("truststore").join(f)).unwrap(), "anchor.crt"), "ca:anchor".into()),
        Anchor::OwnLeaf => (single_cert_store(&leaf, "leaf.der"), "ca:anchor".into()),
    };
    let verifier = Verifier::new(policy(c.level, &store_ref), TrustStore::open(&store_root));
    let outcome = verifier.verify("localhost:5000/vectors", &subject, mt, &bytes, NOW);
    if c.expect.matches(&outcome) {
        Ok(())
    } else {
        Err(format!("{} at {} ({}): expected {:?}, got {:?}", c.file, c.level, c.note, c.expect, outcome.error))
    }
}

fn placeholder_subject() -> Descriptor {
    let zero = vouch_core::Digest::parse("sha256:0000000000000000000000000000000000000000000000000000000000000000").unwrap();
    Descriptor::new("application/vnd.oci.image.manifest.v1+json", zero, 0)
}

#[test]
fn every_notation_envelope_gives_the_expected_outcome() {
    let Some(base) = vectors() else { return };
    let failures: Vec<String> = cases().iter().filter_map(|c| run_case(&base, c).err()).collect();
    assert!(failures.is_empty(), "{} case(s) disagree:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_envelope_file_has_a_case() {
    let Some(base) = vectors() else { return };
    let covered: Vec<&str> = cases().iter().map(|c| c.file).collect();
    let mut missing = Vec::new();
    for kind in ["jws", "cose"] {
        for entry in walk(&base.join(kind)) {
            let rel = entry.strip_prefix(&base).unwrap().to_string_lossy().into_owned();
            if rel.ends_with("cose/conformance/conformance.json") {
                continue; // hex and diagnostic notation in JSON, not an envelope
            }
            if !covered.contains(&rel.as_str()) {
                missing.push(rel);
            }
        }
    }
    assert!(missing.is_empty(), "envelopes without an expectation: {missing:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The local-content signatures sign a real manifest that ships with the vectors: verify
/// against the artifact's own digest, and refuse it for any other digest.
#[test]
fn local_signatures_bind_to_their_real_artifact() {
    let Some(base) = vectors() else { return };
    let artifact = std::fs::read(base.join("artifacts/notation-go-local-target-manifest-19dbd2e4.json")).unwrap();
    let digest = vouch_core::Digest::sha256_of(&artifact);
    let subject = Descriptor::new("application/vnd.oci.image.manifest.v1+json", digest, artifact.len() as u64);
    for file in ["jws/notation-go-local/jws_signature.sig", "cose/notation-go-local/cose_signature.sig"] {
        let bytes = std::fs::read(base.join(file)).unwrap();
        let mt = media_type(file);
        let (_, leaf) = signed_target(mt, &bytes).unwrap();
        let verifier = Verifier::new(policy("strict", "ca:anchor"), TrustStore::open(&single_cert_store(&leaf, "leaf.der")));
        let ok = verifier.verify("r.io/x", &subject, mt, &bytes, NOW);
        assert!(ok.is_success, "{file}: {:?}", ok.error);
        let mut other = subject.clone();
        other.digest = vouch_core::Digest::sha256_of(b"another manifest");
        let bad = verifier.verify("r.io/x", &other, mt, &bytes, NOW);
        assert!(matches!(bad.error, Some(NotationError::TargetMismatch { .. })), "{file}: {:?}", bad.error);
    }
}

/// A COSE envelope whose signature bytes were altered fails integrity.
#[test]
fn a_tampered_cose_signature_fails_integrity() {
    let Some(base) = vectors() else { return };
    let mut bytes = std::fs::read(base.join("cose/notation-go-local/cose_signature.sig")).unwrap();
    let (subject, leaf) = signed_target(MEDIA_TYPE_COSE, &bytes).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let verifier = Verifier::new(policy("strict", "ca:anchor"), TrustStore::open(&single_cert_store(&leaf, "leaf.der")));
    let out = verifier.verify("r.io/x", &subject, MEDIA_TYPE_COSE, &bytes, NOW);
    assert!(Expect::InvalidSignature.matches(&out), "{:?}", out.error);
}
