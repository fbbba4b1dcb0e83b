//! Signature manifests from the referrers list, checked as a run checks them before fetching
//! the envelope.
#![no_main]
use vouch_core::{Descriptor, Digest};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let desc = Descriptor::new("application/vnd.oci.image.manifest.v1+json", Digest::sha256_of(data), data.len() as u64);
    let subject = Digest::parse("sha256:7915cabde77e5bb2c3ae63b93491f896670c70a312a7ab53a2895756c6fbfcc5").unwrap();
    let _ = vouch_pipeline::signature_layer(data, &desc, &subject);
});
