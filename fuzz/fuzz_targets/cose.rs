//! COSE_Sign1 envelopes as they arrive from a registry: parsing must refuse, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vouch_notation::cose::parse_cose(data);
});
