//! Test support for vouch (never part of the shipped binary).
//!
//! - [`auth`]: htpasswd files, a loopback token issuer, TLS and client certificates.
//! - [`registry`]: starts Debian's `docker-registry` on a free loopback port with its own storage.
//! - [`layout`]: loads an OCI image layout (such as the shared test vectors) into a registry.
//! - [`signer`]: a development-only Notary Project signer: test CA, leaf certificates, JWS envelopes.
//! - [`referrers`]: a loopback front that adds the OCI referrers API to that registry.
//! - [`containerd`]: runs a verifier binary exactly as containerd's bindir plugin does.
//! - [`hostile`]: a scripted loopback registry that misbehaves on purpose, path by path, and a
//!   signed image held in memory to serve from it.
//! - [`shared_vectors`]: the shared test vectors beside the project, when a checkout has them.

pub mod auth;
pub mod containerd;
pub mod hostile;
pub mod layout;
pub mod referrers;
pub mod registry;
pub mod signer;

/// `../shared/testvectors/<sub>` beside the project (CI always has it; a user's clone may not).
/// When it is missing, prints that the calling test is skipped and returns `None`.
pub fn shared_vectors(sub: &str) -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testvectors").join(sub);
    if p.is_dir() {
        Some(p)
    } else {
        println!("skipped: ../shared/testvectors/{sub} is not present");
        None
    }
}
