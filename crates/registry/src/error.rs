//! Registry failures, one variant per fault, each naming where it happened.

/// Why a registry operation failed. Every variant is an infrastructure fault: none of them says
/// anything about a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No connection could be made (DNS, refused, reset, TLS handshake).
    #[error("cannot reach {host}: {reason}")]
    Unreachable {
        /// The host tried last.
        host: String,
        /// The transport error.
        reason: String,
    },
    /// The registry answered with an unexpected HTTP status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The request URL (without query secrets).
        url: String,
        /// The status code.
        status: u16,
    },
    /// Authentication failed or is required.
    #[error("{host} refused access to {repository}: {reason}")]
    Unauthorized {
        /// The registry host.
        host: String,
        /// The repository.
        repository: String,
        /// What happened (challenge type, token endpoint answer).
        reason: String,
    },
    /// No credential could be obtained: a credential file, helper or provider plugin failed.
    #[error("credentials for {host}/{repository}: {reason}")]
    Credentials {
        /// The registry host.
        host: String,
        /// The repository.
        repository: String,
        /// Which source failed, how, and the fix.
        reason: String,
    },
    /// The content does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// A body is larger than vouch accepts.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// What was fetched.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// Content does not hash to the digest it was fetched by.
    #[error("{what}: content digest is {actual}, expected {expected}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// Content length differs from the descriptor's size.
    #[error("{what}: {actual} bytes received, the descriptor says {expected}")]
    SizeMismatch {
        /// What was fetched.
        what: String,
        /// The descriptor's size.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// The run's deadline passed during this step.
    #[error("deadline exceeded while {step}")]
    Deadline {
        /// The step, e.g. `fetching referrers of sha256:ab… from r.io`.
        step: String,
    },
    /// The registry's answer is not what the protocol specifies.
    #[error("{what}: unexpected answer: {reason}")]
    BadResponse {
        /// What was fetched.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `hosts.toml` is invalid.
    #[error("{path}: {reason}")]
    HostsToml {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// TLS settings (CA file, client certificate) cannot be used.
    #[error("TLS settings for {host}: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// What is wrong.
        reason: String,
    },
}

impl RegistryError {
    /// True for faults of the infrastructure rather than of signatures (all of them, today).
    pub fn is_infrastructure(&self) -> bool {
        true
    }
}
