//! Shared types of vouch, with no I/O.
//!
//! Data flows one way through vouch: the containerd input (an [`ImageRef`] and a
//! [`Descriptor`]) goes to the store, the store finds signature artifacts, the
//! verifiers turn each into a [`report::VerifierResult`], the policy decides, and a
//! [`report::Report`] leaves on stdout. This crate holds the types every step shares,
//! so that the steps depend on it and not on each other.

pub mod deadline;
pub mod descriptor;
pub mod digest;
pub mod go_duration;
pub mod pattern;
pub mod reference;
pub mod report;

pub use deadline::{Deadline, DeadlineExceeded};
pub use descriptor::{Descriptor, MEDIA_TYPE_DESCRIPTOR};
pub use digest::{Digest, DigestAlgorithm, DigestError};
pub use pattern::{ImagePattern, PatternError};
pub use reference::{ImageRef, ReferenceError};
pub use report::{NestedReport, Report, VerifierResult};

/// The artifact type of a Notary Project signature.
pub const NOTARY_SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// Media type of a JWS Notary Project signature envelope.
pub const MEDIA_TYPE_JWS: &str = "application/jose+json";
/// Media type of a COSE Notary Project signature envelope.
pub const MEDIA_TYPE_COSE: &str = "application/cose";
/// Media type of an OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of a Docker schema 2 manifest.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a Docker schema 2 manifest list.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
