//! What registries answer, parsed as the client parses it, chosen by the first byte: image
//! indexes (referrers API and tag schema), token endpoint answers and `Link` headers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    match which % 3 {
        0 => drop(vouch_registry::index_manifests(body)),
        1 => drop(vouch_registry::token_answer(body)),
        _ => {
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = vouch_registry::next_link(text);
            }
        }
    }
});
