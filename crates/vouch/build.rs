//! Links the vouch binary as a position-dependent executable on Linux.
//!
//! containerd starts vouch once per image pull, so process start-up is on every pull's path. A
//! position-independent executable carries ~40 000 load-time relocations (vtables, certificate
//! tables, policy-engine tables) that the dynamic loader must apply, copying ~1.2 MB of pages, on
//! every start; linked at a fixed address they are resolved at link time, which halves the
//! start-up cost. The code stays position-independent; only the final link changes.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bin=vouch=-no-pie");
    }
}
