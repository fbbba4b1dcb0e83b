//! Certificates (PEM or DER) as trust stores and envelopes carry them, and the chain rules
//! applied to whatever parses.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = vouch_notation::cert::parse_pem_or_der(data) {
        let _ = vouch_notation::chain::validate(&certs);
        for c in &certs {
            let _ = c.key_kind();
            let _ = c.extended_key_usage();
            let _ = c.subject();
        }
    }
});
