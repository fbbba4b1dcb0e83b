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
    vouch_testkit::shared_vectors("notation")
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
    TimestampMissing,
    /// The timestamp fails to parse or verify; the error contains this text.
    TimestampInvalid(&'static str),
    TimestampNotTrusted,
    TimestampBeforeCert,
    TimestampAfterCert,
    TrustStore,
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
            (Expect::TimestampMissing, Some(E::TimestampMissing { .. })) => true,
            (Expect::TimestampInvalid(text), Some(e @ E::TimestampInvalid { .. })) => e.to_string().contains(text),
            (Expect::TimestampNotTrusted, Some(E::TimestampNotTrusted { .. })) => true,
            (Expect::TimestampBeforeCert, Some(E::TimestampBeforeCertValidity { .. })) => true,
            (Expect::TimestampAfterCert, Some(E::TimestampAfterCertValidity { .. })) => true,
            (Expect::TrustStore, Some(E::TrustStore { .. })) => true,
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

// ---------------------------------------------------------------------------------------------
// RFC 3161 timestamp countersignatures, verified against `tsa` stores of the notation-go trust
// store (notation-go verifier/timestamp_test.go `TestAuthenticTimestamp`).

/// Just after the alpine leaf (`TestTimestamp.crt`) expires on 2033-05-10, before the GlobalSign
/// TSA certificates do (2034-12).
const AFTER_LEAF_EXPIRY: OffsetDateTime = datetime!(2034-01-01 00:00 UTC);

/// One timestamped envelope under a policy with a `tsa` store.
struct TsCase {
    file: &'static str,
    /// `NotationGo("ca:valid-trust-store")` or `OwnLeaf` (then the leaf goes into `ca:anchor`).
    anchor: Anchor,
    /// `tsa:NAME` of the notation-go trust store, or `None` for no `tsa` store.
    tsa: Option<&'static str>,
    verify_timestamp: &'static str,
    now: OffsetDateTime,
    expect: Expect,
}

const fn ts(file: &'static str, anchor: Anchor, tsa: Option<&'static str>, verify_timestamp: &'static str, now: OffsetDateTime, expect: Expect) -> TsCase {
    TsCase { file, anchor, tsa, verify_timestamp, now, expect }
}

fn timestamp_cases() -> Vec<TsCase> {
    use Anchor::*;
    use Expect::*;
    let ca = || NotationGo("ca:valid-trust-store");
    let tsa = Some("tsa:test-timestamp");
    let jws = "jws/notation-go-timestamp/jwsWithTimestamp.sig";
    let cose = "cose/notation-go-timestamp/coseWithTimestamp.sig";
    let without = "jws/notation-go-timestamp/withoutTimestamp.sig";
    vec![
        ts(jws, ca(), tsa, "always", NOW, Allow),
        ts(cose, ca(), tsa, "always", NOW, Allow),
        // The leaf has expired; the verified timestamp proves it was valid when signed.
        ts(jws, ca(), tsa, "always", AFTER_LEAF_EXPIRY, Allow),
        ts(jws, ca(), None, "always", AFTER_LEAF_EXPIRY, CertExpired),
        ts(jws, ca(), tsa, "afterCertExpiry", AFTER_LEAF_EXPIRY, Allow),
        ts(cose, ca(), tsa, "afterCertExpiry", NOW, Allow),
        // Expired ten-minute leaves, timestamped inside their validity.
        ts("jws/notation-go-timestamp/jwsExpiredWithTimestamp.sig", OwnLeaf, tsa, "always", NOW, Allow),
        ts("cose/notation-go-timestamp/coseExpiredWithTimestamp.sig", OwnLeaf, tsa, "always", NOW, Allow),
        ts("cose/notation-go-timestamp/coseExpiredWithTimestamp.sig", OwnLeaf, tsa, "afterCertExpiry", NOW, Allow),
        ts("cose/notation-go-timestamp/coseExpiredWithTimestamp.sig", OwnLeaf, None, "always", NOW, CertExpired),
        // Timestamped outside the leaf's validity.
        ts("jws/notation-go-timestamp/timestampBeforeNotBefore.sig", ca(), tsa, "always", NOW, TimestampBeforeCert),
        ts("cose/notation-go-timestamp/timestampAfterNotAfter.sig", OwnLeaf, tsa, "always", NOW, TimestampAfterCert),
        // No timestamp: required by `always`, and by `afterCertExpiry` once the leaf expired.
        ts(without, ca(), tsa, "always", NOW, TimestampMissing),
        ts(without, ca(), tsa, "afterCertExpiry", NOW, Allow),
        ts(without, ca(), tsa, "afterCertExpiry", AFTER_LEAF_EXPIRY, TimestampMissing),
        // The TSA does not chain to the store.
        ts(jws, ca(), Some("tsa:test-mismatch"), "always", NOW, TimestampNotTrusted),
        ts(cose, ca(), Some("tsa:test-mismatch"), "always", NOW, TimestampNotTrusted),
        ts(jws, ca(), Some("tsa:test-nonCA"), "always", NOW, TimestampNotTrusted),
        ts(jws, ca(), Some("tsa:does-not-exist"), "always", NOW, TrustStore),
        // notation CLI e2e: a timestamp by a TSA whose root ships nowhere, and a malformed one.
        ts("jws/notation-e2e/e2e-with-timestamped-signature.jws.json", OwnLeaf, tsa, "always", NOW, TimestampNotTrusted),
        ts("jws/notation-e2e/e2e-with-invalid-timestamped-signature.jws.json", OwnLeaf, tsa, "always", NOW, TimestampInvalid("not a DER CMS ContentInfo")),
    ]
}

fn policy_with(stores: &[&str], verify_timestamp: &str) -> TrustPolicyDocument {
    let stores = stores.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(",");
    let doc = format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"vectors","registryScopes":["*"],"signatureVerification":{{"level":"strict","verifyTimestamp":"{verify_timestamp}"}},"trustStores":[{stores}],"trustedIdentities":["*"]}}]}}"#
    );
    TrustPolicyDocument::parse(doc.as_bytes()).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A trust store holding `leaf` in `ca:anchor` and a copy of the notation-go store `tsa`.
fn own_leaf_store(base: &Path, leaf: &[u8], tsa: Option<&str>) -> PathBuf {
    let root = single_cert_store(leaf, "leaf.der");
    if let Some(name) = tsa.and_then(|t| t.strip_prefix("tsa:")) {
        let from = base.join("truststore/notation-go/x509/tsa").join(name);
        if from.is_dir() {
            copy_dir(&from, &root.join("x509/tsa").join(name));
        }
    }
    root
}

fn run_ts_case(base: &Path, c: &TsCase) -> Result<(), String> {
    let bytes = std::fs::read(base.join(c.file)).map_err(|e| format!("read: {e}"))?;
    let mt = media_type(c.file);
    let (subject, leaf) = signed_target(mt, &bytes).ok_or("the envelope does not parse")?;
    let (root, ca) = match &c.anchor {
        Anchor::NotationGo(r) => (base.join("truststore/notation-go"), r.to_string()),
        Anchor::OwnLeaf => (own_leaf_store(base, &leaf, c.tsa), "ca:anchor".to_string()),
        Anchor::File(_) => unreachable!("timestamp cases anchor in a store"),
    };
    let stores: Vec<&str> = std::iter::once(ca.as_str()).chain(c.tsa).collect();
    let verifier = Verifier::new(policy_with(&stores, c.verify_timestamp), TrustStore::open(&root));
    let outcome = verifier.verify("localhost:5000/vectors", &subject, mt, &bytes, c.now);
    if c.expect.matches(&outcome) {
        Ok(())
    } else {
        Err(format!("{} with {:?} ({}) at {}: expected {:?}, got {:?}", c.file, c.tsa, c.verify_timestamp, c.now, c.expect, outcome.error))
    }
}

#[test]
fn timestamped_envelopes_give_the_expected_outcome_with_a_tsa_store() {
    let Some(base) = vectors() else { return };
    let failures: Vec<String> = timestamp_cases().iter().filter_map(|c| run_ts_case(&base, c).err()).collect();
    assert!(failures.is_empty(), "{} case(s) disagree:\n{}", failures.len(), failures.join("\n"));
}

/// The authenticTimestamp check passes for an expired leaf whose timestamp is valid, and says
/// so in its outcome.
#[test]
fn an_expired_leaf_with_a_valid_timestamp_passes_authentic_timestamp() {
    let Some(base) = vectors() else { return };
    let file = "jws/notation-go-timestamp/jwsExpiredWithTimestamp.sig";
    let bytes = std::fs::read(base.join(file)).unwrap();
    let (subject, leaf) = signed_target(MEDIA_TYPE_JWS, &bytes).unwrap();
    let leaf_cert = vouch_notation::cert::Cert::from_der(&leaf).unwrap();
    assert!(leaf_cert.not_after() < NOW, "the leaf must be expired at the verification time");
    let root = own_leaf_store(&base, &leaf, Some("tsa:test-timestamp"));
    let verifier = Verifier::new(policy_with(&["ca:anchor", "tsa:test-timestamp"], "always"), TrustStore::open(&root));
    let out = verifier.verify("r.io/x", &subject, MEDIA_TYPE_JWS, &bytes, NOW);
    assert!(out.is_success, "{:?}", out.error);
    let check = out.checks.iter().find(|c| c.name == "authenticTimestamp").unwrap();
    assert_eq!(check.passed, Some(true), "{:?}", check.error);
}

/// `withoutTimestamp.sig` with `io.cncf.notary.timestampSignature` set to `token`.
fn splice_timestamp(envelope: &[u8], token: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let mut jws: serde_json::Value = serde_json::from_slice(envelope).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(token);
    jws["header"]["io.cncf.notary.timestampSignature"] = serde_json::Value::String(b64);
    serde_json::to_vec(&jws).unwrap()
}

/// The notation-go negative tokens, spliced into `withoutTimestamp.sig`. Their message imprint
/// is over the text "notation" (notation-go's test replaces the envelope's signature), so a
/// well-formed token fails as a mismatched message; the malformed ones fail first.
#[test]
fn spliced_notation_go_tokens_fail_as_expected() {
    let Some(base) = vectors() else { return };
    let envelope = std::fs::read(base.join("jws/notation-go-timestamp/withoutTimestamp.sig")).unwrap();
    let (subject, _) = signed_target(MEDIA_TYPE_JWS, &envelope).unwrap();
    let verifier = Verifier::new(
        policy_with(&["ca:valid-trust-store", "tsa:test-timestamp"], "always"),
        TrustStore::open(&base.join("truststore/notation-go")),
    );
    let cases = [
        ("TimeStampToken.p7s", "invalid TSTInfo: mismatched message"),
        ("TimeStampTokenWithoutCertificate.p7s", "invalid TSTInfo: mismatched message"),
        ("TimeStampTokenWithInvalidTSTInfo.p7s", "invalid TSTInfo:"),
        (
            "TimeStampTokenWithInvalideContentType.p7s",
            "unexpected content type: 1.2.840.113549.1.7.1. Expected to be id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4)",
        ),
    ];
    for (token, text) in cases {
        let token_bytes = std::fs::read(base.join("timestamp/notation-go").join(token)).unwrap();
        let bytes = splice_timestamp(&envelope, &token_bytes);
        let out = verifier.verify("r.io/x", &subject, MEDIA_TYPE_JWS, &bytes, NOW);
        assert!(Expect::TimestampInvalid(text).matches(&out), "{token}: expected {text:?}, got {:?}", out.error);
    }
}

/// The same tokens checked directly against the message their imprint covers ("notation").
#[test]
fn notation_go_tokens_verify_against_their_own_message() {
    use vouch_notation::timestamp;
    let Some(base) = vectors() else { return };
    let load = |store: &str| TrustStore::open(&base.join("truststore/notation-go")).certificates(&tsa_ref(store)).unwrap();
    let token = |dir: &str, name: &str| std::fs::read(base.join("timestamp").join(dir).join(name)).unwrap();
    let globalsign = load("test-timestamp");
    let digicert = load("test-mismatch");

    let good = token("notation-go", "TimeStampToken.p7s");
    let ts = timestamp::verify(&good, b"notation", &globalsign, "tsa:test-timestamp").unwrap();
    assert_eq!(ts.gen_time, datetime!(2021-09-17 14:09:10 UTC));
    assert_eq!(ts.accuracy, time::Duration::SECOND);
    let err = timestamp::verify(&good, b"mismatch", &globalsign, "tsa:test-timestamp").unwrap_err();
    assert!(err.to_string().contains("mismatched message"), "{err}");
    let err = timestamp::verify(&good, b"notation", &digicert, "tsa:test-mismatch").unwrap_err();
    assert!(matches!(err, NotationError::TimestampNotTrusted { .. }), "{err}");
    assert!(err.to_string().contains("certificate signed by unknown authority"), "{err}");

    let no_cert = token("notation-go", "TimeStampTokenWithoutCertificate.p7s");
    let err = timestamp::verify(&no_cert, b"notation", &globalsign, "tsa:test-timestamp").unwrap_err();
    assert!(err.to_string().contains("signing certificate not found in the timestamp token"), "{err}");

    let bad_sig = token("notation-core-go", "TimeStampTokenWithInvalidSignature.p7s");
    for (certs, store) in [(&globalsign, "tsa:test-timestamp"), (&digicert, "tsa:test-mismatch")] {
        let err = timestamp::verify(&bad_sig, b"notation", certs, store).unwrap_err();
        assert!(matches!(err, NotationError::TimestampInvalid { .. } | NotationError::TimestampNotTrusted { .. }), "{err}");
    }
}

fn tsa_ref(name: &str) -> vouch_notation::trustpolicy::StoreRef {
    vouch_notation::trustpolicy::StoreRef { kind: vouch_notation::trustpolicy::StoreKind::Tsa, name: name.to_string() }
}

/// `testdata/notation-vector-exceptions.json` lists every deliberate difference from notation
/// and every vector whose upstream outcome is unknown; the case table must give each listed
/// file exactly the outcome the list states, so the list cannot drift from what is tested.
#[test]
fn the_exceptions_file_matches_the_case_table() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/notation-vector-exceptions.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let table = cases();
    for e in doc["exceptions"].as_array().unwrap() {
        let file = e["file"].as_str().unwrap();
        let vouch = e["vouch"].as_str().unwrap();
        assert!(!e["reason"].as_str().unwrap_or("").is_empty(), "{file}: no reason");
        let listed: Vec<String> = table.iter().filter(|c| c.file == file).map(|c| format!("{:?}", c.expect)).collect();
        assert!(listed.iter().any(|x| x == vouch), "{file}: the exceptions file says {vouch}, the case table says {listed:?}");
    }
}
