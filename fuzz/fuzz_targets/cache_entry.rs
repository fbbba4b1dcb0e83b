//! Cache entry files as another process (or a crash) may have left them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vouch_cache::entry::decode(data);
});
