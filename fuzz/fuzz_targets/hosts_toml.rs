//! containerd `certs.d/<host>/hosts.toml` files, read as vouch reads them.
#![no_main]
use std::sync::OnceLock;

fn dir() -> &'static std::path::Path {
    static D: OnceLock<std::path::PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("vouch-fuzz-hosts-{}", std::process::id()));
        std::fs::create_dir_all(d.join("r.example:5000")).unwrap();
        d
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    std::fs::write(dir().join("r.example:5000/hosts.toml"), data).unwrap();
    let _ = vouch_registry::hosts::endpoints(Some(dir()), "r.example:5000", &[]);
});
