//! Kubelet credential providers' `CredentialProviderResponse` on stdout, checked as a lookup
//! checks it (matchImages-style keys matched against the image).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vouch_registry::auth::check_provider_response(data, "credentialprovider.kubelet.k8s.io/v1", "r.example:5000/acme/app:1");
});
