//! Notary Project signature verification for vouch: envelopes, trust policy, trust store and
//! certificate chains. Synchronous and pure: no sockets, no clock (the verification time is an
//! argument), no environment.
//!
//! Parsing is kept apart from policy: [`envelope`] turns bytes into a [`ParsedEnvelope`] (or
//! refuses them), [`trustpolicy`] is data with validation, and [`Verifier::verify`] runs the
//! checks the Notary Project defines — integrity, authenticity, authenticTimestamp, expiry,
//! revocation — each enforced, logged or skipped as the applicable statement says.
//! authenticTimestamp verifies RFC 3161 timestamp countersignatures ([`timestamp`]) against the
//! statement's `tsa` stores, so that a signature made while its certificates were valid stays
//! valid after they expire.
//!
//! revocation ([`revocation`]) asks OCSP responders and CRL distribution points about every
//! certificate of the chain but the root. The verifier itself opens no socket: it fetches
//! through a [`RevocationFetcher`] given to [`Verifier::with_revocation`]. A verifier without one
//! treats certificates that name revocation sources as of unknown status, and does not check
//! the timestamping chain's revocation.

pub mod cert;
pub mod chain;
pub mod cose;
pub mod crypto;
pub mod dn;
pub mod envelope;
pub mod error;
pub mod revocation;
pub mod timestamp;
pub mod trustpolicy;
pub mod truststore;

use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;
use vouch_core::{Descriptor, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};

pub use envelope::{ParsedEnvelope, SigningScheme};
pub use revocation::RevocationFetcher;
pub use error::{Check, NotationError};
pub use trustpolicy::{Action, Level, TrustPolicyDocument, TrustPolicyError, TrustPolicyStatement};
pub use truststore::TrustStore;

use crate::cert::Cert;
use crate::crypto::SigAlg;
use crate::revocation::{CertStatusReport, Finding};
use crate::timestamp::{Timestamp, TimestampToken};
use crate::trustpolicy::{Identity, StoreKind, StoreRef, VerifyTimestamp};

/// The signer, from the leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Leaf subject DN, e.g. `CN=acme signer,O=acme,L=Seattle,ST=WA,C=US`.
    pub subject: String,
    /// Leaf issuer DN.
    pub issuer: String,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// The check's trust-policy name.
    pub name: &'static str,
    /// `enforce`, `log` or `skip`.
    pub action: &'static str,
    /// `Some(true)` passed, `Some(false)` failed, `None` not run.
    pub passed: Option<bool>,
    /// Why it failed or was not run.
    pub error: Option<String>,
    /// What the check found when it ran, e.g. each certificate's revocation status.
    pub detail: Option<String>,
}

/// Everything learned about one signature.
#[derive(Debug, Clone)]
pub struct SignatureOutcome {
    /// Every enforced check passed.
    pub is_success: bool,
    /// The first enforced failure.
    pub error: Option<NotationError>,
    /// The trust policy statement applied.
    pub policy_name: String,
    /// The signer, when the envelope parsed.
    pub signer: Option<Signer>,
    /// Signing time (or authentic signing time).
    pub signing_time: Option<OffsetDateTime>,
    /// The signature's expiry.
    pub expiry: Option<OffsetDateTime>,
    /// `notary.x509` or `notary.x509.signingAuthority`.
    pub signing_scheme: Option<String>,
    /// Signed annotations of the target artifact (notation's user metadata).
    pub user_metadata: BTreeMap<String, String>,
    /// Each check, in order.
    pub checks: Vec<CheckOutcome>,
    /// The signing chain's revocation status, leaf first, when the revocation check ran.
    pub revocation: Vec<CertStatusReport>,
    /// The earliest `notAfter` of the signing chain: no verdict may be reused past it.
    pub chain_not_after: Option<OffsetDateTime>,
}

/// Verifies signatures against one trust policy document and trust store.
#[derive(Clone)]
pub struct Verifier {
    policy: TrustPolicyDocument,
    store: TrustStore,
    fetcher: Option<Arc<dyn RevocationFetcher>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", &self.policy)
            .field("store", &self.store)
            .field("revocation", &self.fetcher.as_ref().map_or("offline", |_| "fetcher"))
            .finish()
    }
}

impl Verifier {
    /// A verifier for `policy` over `store`, without a revocation source: certificates that
    /// name OCSP responders or CRL distribution points have an unknown revocation status
    /// (failing the revocation check where it is enforced); the others are non-revocable.
    pub fn new(policy: TrustPolicyDocument, store: TrustStore) -> Verifier {
        Verifier { policy, store, fetcher: None }
    }

    /// The same verifier, fetching OCSP responses and CRLs through `fetcher` for the signing
    /// chain's revocation check and for the timestamping chain of verified timestamps.
    pub fn with_revocation(mut self, fetcher: Arc<dyn RevocationFetcher>) -> Verifier {
        self.fetcher = Some(fetcher);
        self
    }

    /// Verifies one envelope for `subject` in `scope` (`host/repository`) at time `now`.
    pub fn verify(
        &self,
        scope: &str,
        subject: &Descriptor,
        envelope_media_type: &str,
        envelope: &[u8],
        now: OffsetDateTime,
    ) -> SignatureOutcome {
        let statement = match self.policy.applicable(scope) {
            Ok(s) => s,
            Err(e) => {
                let mut out = Outcome::new("");
                out.record(Check::Integrity, Action::Enforce, Err(NotationError::Malformed { reason: e.to_string() }));
                return out.finish();
            }
        };
        let mut out = Outcome::new(statement.name());
        if statement.is_skip() {
            for check in Check::ALL {
                out.record(check, Action::Skip, Ok(()));
            }
            return out.finish();
        }
        let parsed = match integrity(subject, envelope_media_type, envelope) {
            Ok(p) => p,
            Err(e) => {
                out.record(Check::Integrity, statement.action(Check::Integrity), Err(e));
                return out.finish();
            }
        };
        out.describe(&parsed);
        out.record(Check::Integrity, statement.action(Check::Integrity), Ok(()));
        let act = |c| statement.action(c);
        out.run(Check::Authenticity, act(Check::Authenticity), || self.authenticity(statement, &parsed));
        let timestamp = self.run_authentic_timestamp(&mut out, statement, &parsed, now);
        out.run(Check::Expiry, act(Check::Expiry), || expiry(&parsed, now));
        self.run_revocation(&mut out, act(Check::Revocation), &parsed, timestamp.as_ref(), now);
        out.finish()
    }

    /// Runs authenticTimestamp; returns the timestamp when one was verified.
    fn run_authentic_timestamp(&self, out: &mut Outcome, statement: &TrustPolicyStatement, p: &ParsedEnvelope, now: OffsetDateTime) -> Option<Timestamp> {
        let action = statement.action(Check::AuthenticTimestamp);
        if action == Action::Skip {
            out.record(Check::AuthenticTimestamp, action, Ok(()));
            return None;
        }
        // Once the signature has failed, nothing more is fetched for it.
        let online = out.inner.is_success;
        match self.authentic_timestamp(statement, p, now, online) {
            Ok(Some(verified)) => {
                let detail = verified.tsa_revocation.map(|r| format!("timestamping chain revocation: {}", revocation::summary(&r)));
                out.record_detailed(Check::AuthenticTimestamp, action, Ok(()), detail);
                Some(verified.range)
            }
            Ok(None) => {
                out.record(Check::AuthenticTimestamp, action, Ok(()));
                None
            }
            Err(e) => {
                out.record(Check::AuthenticTimestamp, action, Err(e));
                None
            }
        }
    }

    /// Runs the revocation check over the signing chain. It consults the network only for a
    /// chain that the trust store vouches for, and only while every enforced check has passed.
    fn run_revocation(&self, out: &mut Outcome, action: Action, p: &ParsedEnvelope, timestamp: Option<&Timestamp>, now: OffsetDateTime) {
        if action == Action::Skip {
            out.record(Check::Revocation, action, Ok(()));
            return;
        }
        if !out.inner.is_success {
            out.not_checked(Check::Revocation, action, "not checked: the signature already failed an enforced check");
            return;
        }
        let authentic = out.inner.checks.iter().any(|c| c.name == Check::Authenticity.name() && c.passed == Some(true));
        if !authentic {
            out.not_checked(Check::Revocation, action, "not checked: the certificate chain is not verified against the trust store");
            return;
        }
        let signing_time = match p.scheme {
            SigningScheme::SigningAuthority => p.authentic_signing_time,
            SigningScheme::X509 => timestamp.map(|t| t.latest),
        };
        let ctx = revocation::Context { fetcher: self.fetcher.as_deref(), now, signing_time };
        let results = revocation::check_chain(&p.chain, &ctx);
        let verdict = revocation::verdict(&results).map_err(|f| match f {
            Finding::Revoked { subject, at, reason } => NotationError::CertificateRevoked { subject, at, reason },
            Finding::Unknown { subject, why } => NotationError::RevocationUnknown { subject, why },
        });
        out.record_detailed(Check::Revocation, action, verdict, Some(revocation::summary(&results)));
        out.inner.revocation = results;
    }

    fn authenticity(&self, statement: &TrustPolicyStatement, p: &ParsedEnvelope) -> Result<(), NotationError> {
        let kind = match p.scheme {
            SigningScheme::X509 => StoreKind::Ca,
            SigningScheme::SigningAuthority => StoreKind::SigningAuthority,
        };
        let stores: Vec<_> = statement.trust_stores.iter().filter(|s| s.kind == kind).collect();
        let names = stores.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
        let leaf = &p.chain[0];
        let mut trusted = false;
        for store in &stores {
            let certs = self.store.certificates(store)?;
            trusted |= p.chain.iter().any(|c| certs.iter().any(|t| t.der == c.der));
        }
        if !trusted {
            let stores = if names.is_empty() { format!("of type {} (the policy names none)", kind.name()) } else { names };
            return Err(NotationError::NotTrusted { stores, signer: leaf.subject() });
        }
        let leaf_attrs = dn::of_subject(leaf);
        let identity_ok = statement.trusted_identities.iter().any(|id| match id {
            Identity::Any => true,
            Identity::Subject(wanted) => dn::is_subset(wanted, &leaf_attrs),
        });
        if !identity_ok {
            return Err(NotationError::IdentityNotTrusted { signer: leaf.subject(), policy: statement.name().to_string() });
        }
        Ok(())
    }

    /// Certificates must be valid when the signature was made. For `notary.x509` that is now,
    /// unless the statement names `tsa` stores: then a verified RFC 3161 timestamp proves the
    /// time (always, or with `afterCertExpiry` only once a certificate has expired), and the
    /// timestamping chain must not be revoked (checked when a fetcher is configured and `online`
    /// allows it). Returns
    /// the verified timestamp, with the timestamping chain's revocation status when checked.
    fn authentic_timestamp(
        &self,
        statement: &TrustPolicyStatement,
        p: &ParsedEnvelope,
        now: OffsetDateTime,
        online: bool,
    ) -> Result<Option<VerifiedTimestamp>, NotationError> {
        if p.scheme == SigningScheme::SigningAuthority {
            // Parsing guarantees the authentic signing time for this scheme.
            chain::check_validity(&p.chain, p.authentic_signing_time.unwrap_or(now))?;
            return Ok(None);
        }
        let tsa: Vec<&StoreRef> = statement.trust_stores.iter().filter(|s| s.kind == StoreKind::Tsa).collect();
        let expired = p.chain.iter().any(|c| now > c.not_after());
        let skip_timestamp = statement.verify_timestamp == VerifyTimestamp::AfterCertExpiry && !expired;
        if tsa.is_empty() || skip_timestamp {
            chain::check_validity(&p.chain, now)?;
            return Ok(None);
        }
        let stores = tsa.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
        let token = p.timestamp.as_deref().ok_or_else(|| NotationError::TimestampMissing { stores: stores.clone() })?;
        let mut trusted = Vec::new();
        for store in &tsa {
            trusted.extend(self.store.certificates(store)?.iter().cloned());
        }
        let token = TimestampToken::parse(token)?;
        let ts = token.timestamp_of(&p.signature)?;
        let tsa_chain = token.verify(&trusted, &stores)?;
        ts.check_chain(&p.chain)?;
        let Some(fetcher) = self.fetcher.as_deref().filter(|_| online) else {
            return Ok(Some(VerifiedTimestamp { range: ts, tsa_revocation: None }));
        };
        let ctx = revocation::Context { fetcher: Some(fetcher), now, signing_time: None };
        let results = revocation::check_chain(&tsa_chain, &ctx);
        revocation::verdict(&results).map_err(|f| match f {
            Finding::Revoked { subject, at, reason } => NotationError::TimestampCertificateRevoked { subject, at, reason },
            Finding::Unknown { subject, why } => NotationError::TimestampRevocationUnknown { subject, why },
        })?;
        Ok(Some(VerifiedTimestamp { range: ts, tsa_revocation: Some(results) }))
    }
}

/// A timestamp countersignature that verified, with its timestamping chain's revocation status
/// when that was checked.
struct VerifiedTimestamp {
    range: Timestamp,
    tsa_revocation: Option<Vec<CertStatusReport>>,
}

/// Parses the envelope and checks everything the envelope alone can prove: structure,
/// algorithm bound to the key, chain rules, the signature itself, and the signed target.
fn integrity(subject: &Descriptor, media_type: &str, bytes: &[u8]) -> Result<ParsedEnvelope, NotationError> {
    let parsed = match media_type {
        MEDIA_TYPE_JWS => envelope::parse_jws(bytes)?,
        MEDIA_TYPE_COSE => cose::parse_cose(bytes)?,
        other => return Err(NotationError::UnsupportedEnvelope { media_type: other.to_string() }),
    };
    let leaf = &parsed.chain[0];
    check_algorithm(parsed.alg, leaf)?;
    chain::validate(&parsed.chain)?;
    if !crypto::verify_envelope(parsed.alg, leaf, &parsed.signed_bytes, &parsed.signature) {
        return Err(NotationError::SignatureInvalid);
    }
    check_target(subject, &parsed)?;
    Ok(parsed)
}

fn check_algorithm(alg: SigAlg, leaf: &Cert) -> Result<(), NotationError> {
    let kind = leaf.key_kind().map_err(|e| NotationError::ChainInvalid { subject: leaf.subject(), reason: e })?;
    match SigAlg::for_key(kind) {
        Some(expected) if expected == alg => Ok(()),
        Some(expected) => Err(NotationError::AlgorithmKeyMismatch {
            alg: alg.name().into(),
            key: kind.to_string(),
            expected: expected.name().into(),
        }),
        None => Err(NotationError::AlgorithmKeyMismatch {
            alg: alg.name().into(),
            key: kind.to_string(),
            expected: "an RSA key of 2048, 3072 or 4096 bits".into(),
        }),
    }
}

fn check_target(subject: &Descriptor, p: &ParsedEnvelope) -> Result<(), NotationError> {
    let t = &p.target;
    if t.media_type != subject.media_type || t.digest != subject.digest.to_string() || t.size != subject.size {
        return Err(NotationError::TargetMismatch {
            expected: format!("{} {} {}", subject.media_type, subject.digest, subject.size),
            found: format!("{} {} {}", t.media_type, t.digest, t.size),
        });
    }
    Ok(())
}

fn expiry(p: &ParsedEnvelope, now: OffsetDateTime) -> Result<(), NotationError> {
    match p.expiry {
        Some(expiry) if now >= expiry => Err(NotationError::SignatureExpired { expiry }),
        _ => Ok(()),
    }
}

/// Accumulates check results into a [`SignatureOutcome`].
struct Outcome {
    inner: SignatureOutcome,
}

impl Outcome {
    fn new(policy: &str) -> Outcome {
        Outcome {
            inner: SignatureOutcome {
                is_success: true,
                error: None,
                policy_name: policy.to_string(),
                signer: None,
                signing_time: None,
                expiry: None,
                signing_scheme: None,
                user_metadata: BTreeMap::new(),
                checks: Vec::new(),
                revocation: Vec::new(),
                chain_not_after: None,
            },
        }
    }

    fn describe(&mut self, p: &ParsedEnvelope) {
        let leaf = &p.chain[0];
        self.inner.signer = Some(Signer { subject: leaf.subject(), issuer: leaf.issuer() });
        self.inner.signing_time = p.signing_time.or(p.authentic_signing_time);
        self.inner.expiry = p.expiry;
        self.inner.signing_scheme = Some(p.scheme.name().to_string());
        self.inner.user_metadata = p.target.annotations.clone();
        self.inner.chain_not_after = p.chain.iter().map(Cert::not_after).min();
    }

    fn run(&mut self, check: Check, action: Action, f: impl FnOnce() -> Result<(), NotationError>) {
        if action == Action::Skip {
            self.record(check, action, Ok(()));
        } else {
            self.record(check, action, f());
        }
    }

    fn record(&mut self, check: Check, action: Action, result: Result<(), NotationError>) {
        self.record_detailed(check, action, result, None);
    }

    fn record_detailed(&mut self, check: Check, action: Action, result: Result<(), NotationError>, detail: Option<String>) {
        let passed = if action == Action::Skip { None } else { Some(result.is_ok()) };
        let error = result.as_ref().err().map(|e| e.to_string());
        if let Err(e) = result {
            if action == Action::Enforce && self.inner.error.is_none() {
                self.inner.is_success = false;
                self.inner.error = Some(e);
            }
        }
        self.inner.checks.push(CheckOutcome { name: check.name(), action: action.name(), passed, error, detail });
    }

    /// A check that did not run, and why; it neither passes nor fails.
    fn not_checked(&mut self, check: Check, action: Action, why: &str) {
        let error = Some(why.to_string());
        self.inner.checks.push(CheckOutcome { name: check.name(), action: action.name(), passed: None, error, detail: None });
    }

    fn finish(self) -> SignatureOutcome {
        self.inner
    }
}
