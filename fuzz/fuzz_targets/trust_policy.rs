//! notation trust policy documents, and scope selection on whatever validates.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = vouch_notation::TrustPolicyDocument::parse(data) {
        let _ = doc.applicable("registry.example/acme/app");
    }
});
