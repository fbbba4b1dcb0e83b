//! Image references (containerd's -name) and digests (-digest), and the descriptor JSON on stdin.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = vouch_core::ImageRef::parse(text) {
            let _ = r.scope();
        }
        let _ = vouch_core::Digest::parse(text);
    }
    let _ = serde_json::from_slice::<vouch_core::Descriptor>(data);
});
