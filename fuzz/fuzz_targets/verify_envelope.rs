//! Whole-signature verification of arbitrary bytes as either envelope type, with a trust store
//! that trusts nothing: every path must end in a refusal, never a panic or a hang.
#![no_main]
use std::sync::OnceLock;
use vouch_core::{Descriptor, Digest, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};
use vouch_notation::{TrustPolicyDocument, TrustStore, Verifier};

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let doc = br#"{"version":"1.0","trustPolicies":[{"name":"f","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:none"],"trustedIdentities":["*"]}]}"#;
        Verifier::new(TrustPolicyDocument::parse(doc).unwrap(), TrustStore::open(std::path::Path::new("/nonexistent")))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let subject = Descriptor::new("application/vnd.oci.image.manifest.v1+json", Digest::sha256_of(b"subject"), 7);
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let media_type = if data.first() == Some(&b'{') { MEDIA_TYPE_JWS } else { MEDIA_TYPE_COSE };
    let out = verifier().verify("r.example/a", &subject, media_type, data, now);
    assert!(!out.is_success, "a signature verified against an empty trust store");
});
