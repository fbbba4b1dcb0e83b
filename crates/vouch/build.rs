//! Link settings for the vouch binary on Linux with glibc, for start-up time.
//!
//! containerd starts vouch once per image pull, so process start-up is on every pull's path.
//!
//! - **Position-dependent.** A position-independent executable carries ~40 000 load-time
//!   relocations (vtables, certificate tables, policy-engine tables) that the dynamic loader
//!   must apply, copying ~1.2 MB of pages, on every start; linked at a fixed address they are
//!   resolved at link time, which halves the start-up cost. The code stays
//!   position-independent; only the final link changes.
//! - **The unwinder linked in.** Rust links the unwinder as the shared `libgcc_s`, a second
//!   library for the dynamic loader to find, map and relocate on every start (about 0.1 ms).
//!   A linker script named `libgcc_s.so`, found first on the search path, points the link at
//!   GCC's static unwinder `libgcc_eh.a` instead, as `gcc -static-libgcc` does; panics still
//!   unwind (vouch turns one into a deny report). glibc stays shared, so name resolution
//!   follows the node's nsswitch.conf.
use std::path::PathBuf;

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bin=vouch=-no-pie");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir = out.join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("create the linker-script directory");
    std::fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").expect("write the linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rerun-if-changed=build.rs");
}
