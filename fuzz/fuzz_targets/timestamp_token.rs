//! RFC 3161 timestamp tokens (CMS SignedData) from the unprotected header.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vouch_notation::timestamp::TimestampToken::parse(data);
});
