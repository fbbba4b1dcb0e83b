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

pub mod auth;
pub mod containerd;
pub mod hostile;
pub mod layout;
pub mod referrers;
pub mod registry;
pub mod signer;
