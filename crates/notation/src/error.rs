//! Why a signature failed: one variant per check, with the values that failed.

use time::OffsetDateTime;

/// The verification checks of the Notary Project trust policy, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The envelope is well-formed and its signature is valid for its payload.
    Integrity,
    /// The chain leads to a trusted certificate and the signer is a trusted identity.
    Authenticity,
    /// Certificates were valid at the signing time (or the verified timestamp).
    AuthenticTimestamp,
    /// The signature's own expiry has not passed.
    Expiry,
    /// No certificate in the chain is revoked.
    Revocation,
}

impl Check {
    /// The name the trust policy uses for this check.
    pub fn name(self) -> &'static str {
        match self {
            Check::Integrity => "integrity",
            Check::Authenticity => "authenticity",
            Check::AuthenticTimestamp => "authenticTimestamp",
            Check::Expiry => "expiry",
            Check::Revocation => "revocation",
        }
    }

    /// Every check, in evaluation order.
    pub const ALL: [Check; 5] =
        [Check::Integrity, Check::Authenticity, Check::AuthenticTimestamp, Check::Expiry, Check::Revocation];
}

/// A signature failed one check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotationError {
    /// The envelope's media type is not one vouch verifies.
    #[error("signature envelope type {media_type:?} is not supported (expected application/jose+json or application/cose)")]
    UnsupportedEnvelope {
        /// The media type.
        media_type: String,
    },
    /// The envelope does not parse.
    #[error("signature envelope is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// `alg` is not one of the six the Notary Project allows (`none`, HMAC, RS256 … all refused).
    #[error("signature algorithm {alg:?} is not allowed (PS256/384/512, ES256/384/512 only)")]
    UnsupportedAlgorithm {
        /// The algorithm named by the envelope.
        alg: String,
    },
    /// `alg` does not fit the signing key (algorithm confusion).
    #[error("signature algorithm {alg} does not match the signing key ({key}, which requires {expected})")]
    AlgorithmKeyMismatch {
        /// The algorithm named by the envelope.
        alg: String,
        /// The key, e.g. "RSA 2048" or "EC P-256".
        key: String,
        /// The algorithm the key requires.
        expected: String,
    },
    /// A header is marked critical that vouch does not understand (RFC 7515 §4.1.11).
    #[error("unknown critical header {name:?}: the signature requires a feature vouch does not implement")]
    UnknownCriticalHeader {
        /// The header name.
        name: String,
    },
    /// A header that must be critical is not listed in `crit`, or `crit` names a header that is absent.
    #[error("critical header list is invalid: {reason}")]
    CriticalHeaders {
        /// What is wrong.
        reason: String,
    },
    /// The signature needs a notation verification plugin.
    #[error("signature requires verification plugin {plugin:?}; vouch runs no plugins")]
    PluginRequired {
        /// The plugin name.
        plugin: String,
    },
    /// The signing scheme is not `notary.x509` or `notary.x509.signingAuthority`.
    #[error("signing scheme {scheme:?} is not supported")]
    UnsupportedSigningScheme {
        /// The scheme named by the envelope.
        scheme: String,
    },
    /// The cryptographic signature does not verify.
    #[error("signature is invalid: it does not verify with the signing certificate's key")]
    SignatureInvalid,
    /// The payload's target artifact is not the image being pulled.
    #[error("signature is for {found}, not for this image ({expected})")]
    TargetMismatch {
        /// The subject, `mediaType digest size`.
        expected: String,
        /// The payload's target, same form.
        found: String,
    },
    /// The certificate chain breaks a Notary Project rule.
    #[error("certificate chain is invalid: certificate {subject:?}: {reason}")]
    ChainInvalid {
        /// The offending certificate's subject.
        subject: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The chain has more certificates than vouch examines.
    #[error("certificate chain has {len} certificates, more than the limit of {max}")]
    ChainTooLong {
        /// Certificates in the envelope.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No certificate of the chain is in the trust stores the policy names.
    #[error("certificate chain does not lead to trust store {stores} (signer {signer:?})")]
    NotTrusted {
        /// The stores named by the trust policy, e.g. "ca:acme".
        stores: String,
        /// The leaf's subject.
        signer: String,
    },
    /// The signer is not among the policy's trusted identities.
    #[error("signer {signer:?} is not a trusted identity of trust policy {policy:?}")]
    IdentityNotTrusted {
        /// The leaf's subject.
        signer: String,
        /// The statement's name.
        policy: String,
    },
    /// A certificate was not valid at the verification time.
    #[error("certificate {subject:?} has expired: valid until {}, verification time {}", rfc3339(.not_after), rfc3339(.at))]
    CertificateExpired {
        /// The certificate's subject.
        subject: String,
        /// Its notAfter.
        not_after: OffsetDateTime,
        /// The time it was checked at.
        at: OffsetDateTime,
    },
    /// A certificate was not yet valid at the verification time.
    #[error("certificate {subject:?} is not valid yet: valid from {}, verification time {}", rfc3339(.not_before), rfc3339(.at))]
    CertificateNotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Its notBefore.
        not_before: OffsetDateTime,
        /// The time it was checked at.
        at: OffsetDateTime,
    },
    /// The signature's `io.cncf.notary.expiry` has passed.
    #[error("signature expired at {}", rfc3339(.expiry))]
    SignatureExpired {
        /// The signed expiry.
        expiry: OffsetDateTime,
    },
    /// The trust policy requires a timestamp and the envelope carries none.
    #[error("no timestamp countersignature was found in the signature envelope (the trust policy verifies timestamps with {stores})")]
    TimestampMissing {
        /// The `tsa` stores the policy names.
        stores: String,
    },
    /// The timestamp countersignature does not parse, does not cover this signature, or its
    /// signature or TSA certificates break a rule.
    #[error("timestamp countersignature is invalid: {reason}")]
    TimestampInvalid {
        /// What is wrong.
        reason: String,
    },
    /// The timestamp's signer does not chain to a certificate of the policy's `tsa` stores.
    #[error("timestamp countersignature is not trusted by {stores}: {reason}")]
    TimestampNotTrusted {
        /// The `tsa` stores the policy names, e.g. "tsa:acme-tsa".
        stores: String,
        /// Where the chain stopped.
        reason: String,
    },
    /// The timestamp range may begin before a signing certificate's validity.
    #[error("timestamp can be before certificate {subject:?} validity period: the timestamp range starts at {}, the certificate is valid from {}", rfc3339(.earliest), rfc3339(.not_before))]
    TimestampBeforeCertValidity {
        /// The certificate's subject.
        subject: String,
        /// Its notBefore.
        not_before: OffsetDateTime,
        /// genTime minus accuracy.
        earliest: OffsetDateTime,
    },
    /// The timestamp range may end after a signing certificate's validity.
    #[error("timestamp can be after certificate {subject:?} validity period: the timestamp range ends at {}, the certificate expired at {}", rfc3339(.latest), rfc3339(.not_after))]
    TimestampAfterCertValidity {
        /// The certificate's subject.
        subject: String,
        /// Its notAfter.
        not_after: OffsetDateTime,
        /// genTime plus accuracy.
        latest: OffsetDateTime,
    },
    /// A trust store the policy names cannot be used.
    #[error("trust store {store}: {reason}")]
    TrustStore {
        /// `type:name`.
        store: String,
        /// What is wrong (missing, empty, unreadable certificate).
        reason: String,
    },
    /// A certificate of the signing chain is revoked.
    #[error("signing certificate with subject {subject:?} is revoked (at {}{})", rfc3339(.at), crate::revocation::reason_text(.reason))]
    CertificateRevoked {
        /// The revoked certificate's subject.
        subject: String,
        /// When it was revoked.
        at: OffsetDateTime,
        /// The CRL reason code's name (e.g. `keyCompromise`), when given.
        reason: Option<String>,
    },
    /// The revocation status of a certificate of the signing chain could not be determined.
    #[error("signing certificate with subject {subject:?} revocation status is unknown: {why}")]
    RevocationUnknown {
        /// The certificate's subject.
        subject: String,
        /// Why, per method and URL.
        why: String,
    },
    /// A certificate of the timestamping chain is revoked.
    #[error("timestamping certificate with subject {subject:?} is revoked (at {}{})", rfc3339(.at), crate::revocation::reason_text(.reason))]
    TimestampCertificateRevoked {
        /// The revoked certificate's subject.
        subject: String,
        /// When it was revoked.
        at: OffsetDateTime,
        /// The CRL reason code's name, when given.
        reason: Option<String>,
    },
    /// The revocation status of a certificate of the timestamping chain could not be determined.
    #[error("timestamping certificate with subject {subject:?} revocation status is unknown: {why}")]
    TimestampRevocationUnknown {
        /// The certificate's subject.
        subject: String,
        /// Why, per method and URL.
        why: String,
    },
}

/// Times in messages, as RFC 3339 (`2026-11-25T13:27:46Z`).
fn rfc3339(t: &OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}
