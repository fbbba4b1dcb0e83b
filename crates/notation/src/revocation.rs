//! Certificate revocation, checked as the Notary Project specifies: OCSP first, CRL as the
//! fallback.
//!
//! Every certificate of a chain except the root is checked against its issuer, the next
//! certificate of the chain (the chain has been validated before, so each certificate is signed
//! by the next). For one certificate:
//!
//! - naming neither an OCSP responder (authority information access) nor a CRL distribution
//!   point, it is *non-revocable* and passes;
//! - naming OCSP responders, each `http` URL is asked in turn (2 s each) until one gives a
//!   verified answer: `good` and `revoked` decide; a verified `unknown` stops the OCSP attempt;
//! - when OCSP did not decide (unreachable, an answer that does not verify or is stale, or
//!   `unknown`), the CRL distribution points are tried in turn (5 s each): the first CRL that
//!   downloads, verifies and is current decides;
//! - when nothing decided, the status is *unknown*, which fails the check like a revocation does.
//!
//! A revoked certificate whose revocation entry carries an invalidity date later than the
//! signing time passes (the key was still good when it signed): the signing time is the
//! authentic signing time for `notary.x509.signingAuthority`, and the end of a verified
//! timestamp's range for `notary.x509`.
//!
//! This module opens no socket: requests go through a [`RevocationFetcher`] the caller supplies
//! (and may wrap, e.g. with a cache). Without one, certificates that name revocation sources
//! are reported unknown.
//!
//! Not supported (each gives "unknown", never "good"): delta CRLs, indirect CRLs, CRLs
//! partitioned by reason, and OCSP responses without `nextUpdate`. The revocation status of a
//! delegated OCSP responder certificate is not checked itself.

use crate::cert::{has_usage, to_time, Cert};
use crate::crypto;
use base64::Engine as _;
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitStringRef, GeneralizedTime, OctetString};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use std::borrow::Cow;
use std::time::Duration;
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::{CrlReason, KeyUsages};
use x509_ocsp::{BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, ResponderId, TbsRequest};

/// How long one OCSP responder may take to answer (the Notary Project's default).
pub const OCSP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one CRL download may take (the Notary Project's default).
pub const CRL_TIMEOUT: Duration = Duration::from_secs(5);
/// OCSP responses larger than this are refused.
pub const MAX_OCSP_RESPONSE: usize = 64 * 1024;
/// CRLs larger than this are refused (the limit notation applies).
pub const MAX_CRL: usize = 32 * 1024 * 1024;
/// How far in the future a `thisUpdate` may be, for clocks that disagree a little.
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);
/// At most this many URLs of each method are tried for one certificate.
pub const MAX_URLS: usize = 4;
/// At most this many certificates of an OCSP response are considered as its signer.
const MAX_RESPONSE_CERTS: usize = 8;
/// The content type of an OCSP request sent by POST.
pub const OCSP_REQUEST_CONTENT_TYPE: &str = "application/ocsp-request";
/// OCSP requests whose URL-encoded base64 form is shorter than this go by GET (RFC 6960
/// appendix A.1 allows GET up to 255 bytes); longer ones by POST.
const GET_LIMIT: usize = 255;

const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const ID_CE_CRL_REASONS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
const ID_CE_INVALIDITY_DATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.24");
const ID_CE_DELTA_CRL_INDICATOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.27");
const ID_CE_ISSUING_DISTRIBUTION_POINT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.28");
const ID_CE_CERTIFICATE_ISSUER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.29");
const ID_CE_FRESHEST_CRL: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.46");

/// What a fetch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchKind {
    /// An OCSP request: a GET whose URL carries the request, or a POST carrying it.
    Ocsp,
    /// A CRL download (GET).
    Crl,
}

/// One HTTP request for revocation data.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    /// OCSP or CRL.
    pub kind: FetchKind,
    /// The `http` URL to GET, or to POST `body` to.
    pub url: &'a str,
    /// `Some`: POST this body with content type [`OCSP_REQUEST_CONTENT_TYPE`]; `None`: GET.
    pub body: Option<&'a [u8]>,
    /// The longest the request may take.
    pub timeout: Duration,
    /// Responses longer than this must be refused.
    pub max_len: usize,
}

/// Fetches revocation data over HTTP. Implementations return the body of a 2xx response, or
/// why there is none; they must honour `timeout` and `max_len`.
///
/// A GET (`body` is `None`) is identified by its URL alone, OCSP requests included (the request
/// is in the URL), so a cache may key GET answers by URL. Whatever an implementation returns
/// is verified before use: signatures, issuer, freshness against the verification time.
pub trait RevocationFetcher: Send + Sync {
    /// Performs `request`.
    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Vec<u8>, String>;

    /// Called when the answer `body` to `request` verified and decided a certificate's status;
    /// `until` is the answer's `nextUpdate`, the time until which it may be reused. A cache keeps
    /// it until then; answers that fail verification are never passed here. The default keeps
    /// nothing.
    fn verified(&self, _request: &FetchRequest<'_>, _body: &[u8], _until: OffsetDateTime) {}
}

/// The revocation method that gave a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Online Certificate Status Protocol (RFC 6960).
    Ocsp,
    /// Certificate revocation list (RFC 5280).
    Crl,
}

impl Method {
    /// `OCSP` or `CRL`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Ocsp => "OCSP",
            Method::Crl => "CRL",
        }
    }
}

/// The revocation status of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not revoked, per `method` at `url`.
    Good {
        /// The method that answered.
        method: Method,
        /// Where.
        url: String,
    },
    /// Revoked.
    Revoked {
        /// The method that answered.
        method: Method,
        /// Where.
        url: String,
        /// The revocation time.
        at: OffsetDateTime,
        /// The CRL reason code's name, when given.
        reason: Option<String>,
    },
    /// Revoked, but the key became invalid only after the signature was made: accepted.
    RevokedAfterSigning {
        /// The method that answered.
        method: Method,
        /// Where.
        url: String,
        /// The revocation time.
        at: OffsetDateTime,
        /// The invalidity date of the revocation entry.
        invalid_since: OffsetDateTime,
        /// The signing time it was compared with.
        signed_at: OffsetDateTime,
        /// The CRL reason code's name, when given.
        reason: Option<String>,
    },
    /// The status could not be determined.
    Unknown {
        /// Why, per method and URL.
        why: String,
    },
    /// The certificate names no OCSP responder and no CRL distribution point.
    NonRevocable,
    /// The chain's root: trusted as it is, not checked.
    Root,
}

impl Status {
    /// True for the statuses that let the check pass.
    pub fn is_ok(&self) -> bool {
        matches!(self, Status::Good { .. } | Status::RevokedAfterSigning { .. } | Status::NonRevocable | Status::Root)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Good { method, url } => write!(f, "good ({} {url})", method.name()),
            Status::Revoked { method, url, at, reason } => {
                write!(f, "revoked at {}{} ({} {url})", rfc3339(at), reason_text(reason), method.name())
            }
            Status::RevokedAfterSigning { method, url, at, invalid_since, signed_at, reason } => write!(
                f,
                "revoked at {}{} but invalid only since {}, after the signature was made at {}: accepted ({} {url})",
                rfc3339(at),
                reason_text(reason),
                rfc3339(invalid_since),
                rfc3339(signed_at),
                method.name()
            ),
            Status::Unknown { why } => write!(f, "unknown: {why}"),
            Status::NonRevocable => f.write_str("non-revocable (names no OCSP responder and no CRL distribution point)"),
            Status::Root => f.write_str("root, not checked"),
        }
    }
}

/// The status of one certificate of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertStatusReport {
    /// The certificate's subject.
    pub subject: String,
    /// Its status.
    pub status: Status,
}

/// Why a chain fails the revocation check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A certificate is revoked.
    Revoked {
        /// Its subject.
        subject: String,
        /// When it was revoked.
        at: OffsetDateTime,
        /// The reason code's name, when given.
        reason: Option<String>,
    },
    /// A certificate's status could not be determined.
    Unknown {
        /// Its subject.
        subject: String,
        /// Why.
        why: String,
    },
}

/// What a chain is checked with.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Where revocation data comes from; `None` when it cannot be fetched.
    pub fetcher: Option<&'a dyn RevocationFetcher>,
    /// The verification time: OCSP responses and CRLs must be current at it.
    pub now: OffsetDateTime,
    /// When the signature was made, if that is proven (see the module documentation).
    pub signing_time: Option<OffsetDateTime>,
}

/// Checks every certificate of `chain` (leaf first, root last) but the root. Certificates are
/// checked concurrently; the result is in chain order.
pub fn check_chain(chain: &[Cert], ctx: &Context<'_>) -> Vec<CertStatusReport> {
    let Some((root, rest)) = chain.split_last() else { return Vec::new() };
    let needs_network = rest.iter().filter(|c| names_sources(c)).count();
    if needs_network <= 1 {
        // Nothing to wait on in parallel: no thread is worth its start-up here.
        let mut out: Vec<CertStatusReport> = rest
            .iter()
            .enumerate()
            .map(|(i, cert)| CertStatusReport { subject: cert.subject(), status: check_cert(cert, &chain[i + 1], ctx) })
            .collect();
        out.push(CertStatusReport { subject: root.subject(), status: Status::Root });
        return out;
    }
    let mut out: Vec<CertStatusReport> = std::thread::scope(|scope| {
        let running: Vec<_> = rest
            .iter()
            .enumerate()
            .map(|(i, cert)| {
                let issuer = &chain[i + 1];
                scope.spawn(move || check_cert(cert, issuer, ctx))
            })
            .collect();
        running
            .into_iter()
            .zip(rest)
            .map(|(handle, cert)| CertStatusReport {
                subject: cert.subject(),
                status: handle.join().unwrap_or_else(|_| Status::Unknown { why: "the check failed unexpectedly".into() }),
            })
            .collect()
    });
    out.push(CertStatusReport { subject: root.subject(), status: Status::Root });
    out
}

/// The check's verdict: a revoked certificate fails it, else an unknown one does. The
/// certificate closest to the leaf is named.
pub fn verdict(results: &[CertStatusReport]) -> Result<(), Finding> {
    if let Some((r, at, reason)) = results.iter().find_map(|r| match &r.status {
        Status::Revoked { at, reason, .. } => Some((r, *at, reason.clone())),
        _ => None,
    }) {
        return Err(Finding::Revoked { subject: r.subject.clone(), at, reason });
    }
    if let Some((r, why)) = results.iter().find_map(|r| match &r.status {
        Status::Unknown { why } => Some((r, why.clone())),
        _ => None,
    }) {
        return Err(Finding::Unknown { subject: r.subject.clone(), why });
    }
    Ok(())
}

/// One line for reports: each certificate's subject and status.
pub fn summary(results: &[CertStatusReport]) -> String {
    results.iter().map(|r| format!("{:?}: {}", r.subject, r.status)).collect::<Vec<_>>().join("; ")
}

/// `, reason keyCompromise` or nothing.
pub fn reason_text(reason: &Option<String>) -> String {
    reason.as_ref().map(|r| format!(", reason {r}")).unwrap_or_default()
}

fn rfc3339(t: &OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Whether the certificate names an OCSP responder or a CRL (a malformed extension counts: its
/// check reports why).
fn names_sources(cert: &Cert) -> bool {
    !matches!((cert.ocsp_urls(), cert.crl_urls()), (Ok(o), Ok(c)) if o.is_empty() && c.is_empty())
}

fn check_cert(cert: &Cert, issuer: &Cert, ctx: &Context<'_>) -> Status {
    let ocsp = match cert.ocsp_urls() {
        Ok(urls) => urls,
        Err(e) => return Status::Unknown { why: format!("authority information access: {e}") },
    };
    let crl = match cert.crl_urls() {
        Ok(urls) => urls,
        Err(e) => return Status::Unknown { why: format!("CRL distribution points: {e}") },
    };
    if ocsp.is_empty() && crl.is_empty() {
        return Status::NonRevocable;
    }
    let Some(fetcher) = ctx.fetcher else {
        return Status::Unknown { why: "it names revocation sources, but none can be consulted (no fetcher is configured)".into() };
    };
    let mut why = Vec::new();
    if !ocsp.is_empty() {
        match ocsp_status(cert, issuer, &ocsp, fetcher, ctx) {
            Ok(status) => return status,
            Err(e) => why.push(format!("OCSP: {e}")),
        }
    }
    if !crl.is_empty() {
        match crl_status(cert, issuer, &crl, fetcher, ctx) {
            Ok(status) => return status,
            Err(e) => why.push(format!("CRL: {e}")),
        }
    } else {
        why.push("no CRL distribution point to fall back to".into());
    }
    Status::Unknown { why: why.join("; ") }
}

/// `text` on one line, for reports whose reasons are single lines.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// An `http://` URL without spaces or control characters.
fn is_http(url: &str) -> bool {
    url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://")) && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn revoked(method: Method, url: &str, r: RevokedEntry, signing_time: Option<OffsetDateTime>) -> Status {
    match (r.invalid_since, signing_time) {
        (Some(invalid_since), Some(signed_at)) if signed_at < invalid_since => Status::RevokedAfterSigning {
            method,
            url: url.to_string(),
            at: r.at,
            invalid_since,
            signed_at,
            reason: r.reason,
        },
        _ => Status::Revoked { method, url: url.to_string(), at: r.at, reason: r.reason },
    }
}

fn reason_name(reason: CrlReason) -> &'static str {
    match reason {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "keyCompromise",
        CrlReason::CaCompromise => "cACompromise",
        CrlReason::AffiliationChanged => "affiliationChanged",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessationOfOperation",
        CrlReason::CertificateHold => "certificateHold",
        CrlReason::RemoveFromCRL => "removeFromCRL",
        CrlReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        CrlReason::AaCompromise => "aACompromise",
    }
}

fn generalized(t: &GeneralizedTime) -> OffsetDateTime {
    to_time(t.to_unix_duration())
}

/// The `invalidityDate` extension's value: a GeneralizedTime (RFC 5280 §5.3.2), or a UTCTime
/// as some issuers write it.
fn invalidity_date(der: &[u8]) -> Result<OffsetDateTime, String> {
    x509_cert::time::Time::from_der(der)
        .map(|t| to_time(t.to_unix_duration()))
        .map_err(|e| format!("the invalidity date does not parse: {e}"))
}

/// The outer shape of a signed structure (a BasicOCSPResponse or a CRL), keeping the signed
/// part's bytes as received.
#[derive(Sequence)]
struct RawSigned<'a> {
    tbs: AnyRef<'a>,
    algorithm: AnyRef<'a>,
    signature: BitStringRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<AnyRef<'a>>,
}

fn signed_part(der: &[u8]) -> Result<Vec<u8>, String> {
    let raw = RawSigned::from_der(der).map_err(|e| e.to_string())?;
    raw.tbs.to_der().map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// OCSP (RFC 6960)

/// SHA-1 (the CertID hash every responder supports) or SHA-2.
fn digest(alg: ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    if alg == ID_SHA1 {
        return Some(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref().to_vec());
    }
    crypto::hash(alg, data)
}

/// The CertID of `cert` under hash `alg`: hashes of the issuer's name and key, and the serial.
fn cert_id(cert: &Cert, issuer: &Cert, alg: ObjectIdentifier) -> Result<CertId, String> {
    let name = cert.parsed.tbs_certificate.issuer.to_der().map_err(|e| e.to_string())?;
    let unsupported = || format!("CertID hash algorithm {alg} is not supported");
    let name_hash = digest(alg, &name).ok_or_else(unsupported)?;
    let key_hash = digest(alg, issuer.public_key_bytes()).ok_or_else(unsupported)?;
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned { oid: alg, parameters: Some(der::asn1::Null.into()) },
        issuer_name_hash: OctetString::new(name_hash).map_err(|e| e.to_string())?,
        issuer_key_hash: OctetString::new(key_hash).map_err(|e| e.to_string())?,
        serial_number: cert.parsed.tbs_certificate.serial_number.clone(),
    })
}

/// True when `id` names `cert` issued by `issuer`, whatever hash it uses.
fn cert_id_matches(id: &CertId, cert: &Cert, issuer: &Cert) -> bool {
    match cert_id(cert, issuer, id.hash_algorithm.oid) {
        Ok(ours) => {
            ours.issuer_name_hash == id.issuer_name_hash && ours.issuer_key_hash == id.issuer_key_hash && ours.serial_number == id.serial_number
        }
        Err(_) => false,
    }
}

/// A DER `OCSPRequest` for `cert` (SHA-1 CertID, no nonce, unsigned), as notation sends.
pub fn ocsp_request(cert: &Cert, issuer: &Cert) -> Result<Vec<u8>, String> {
    let request = OcspRequest {
        tbs_request: TbsRequest {
            version: x509_ocsp::Version::V1,
            requestor_name: None,
            request_list: vec![x509_ocsp::Request { req_cert: cert_id(cert, issuer, ID_SHA1)?, single_request_extensions: None }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    request.to_der().map_err(|e| format!("the OCSP request does not encode: {e}"))
}

/// The URL to GET for `request` at responder `url`, or `None` when the request must be POSTed.
pub fn ocsp_get_url(url: &str, request: &[u8]) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(request);
    let mut encoded = String::with_capacity(b64.len() + 16);
    for c in b64.chars() {
        match c {
            '+' => encoded.push_str("%2B"),
            '/' => encoded.push_str("%2F"),
            '=' => encoded.push_str("%3D"),
            c => encoded.push(c),
        }
    }
    if encoded.len() >= GET_LIMIT {
        return None;
    }
    let sep = if url.ends_with('/') { "" } else { "/" };
    Some(format!("{url}{sep}{encoded}"))
}

/// Asks the OCSP responders in turn. `Ok` when one decided (good or revoked); `Err` says why
/// none did.
fn ocsp_status(cert: &Cert, issuer: &Cert, urls: &[String], fetcher: &dyn RevocationFetcher, ctx: &Context<'_>) -> Result<Status, String> {
    let request = ocsp_request(cert, issuer)?;
    let mut errors = Vec::new();
    for url in urls.iter().take(MAX_URLS) {
        if !is_http(url) {
            errors.push(format!("{}: only http responders are used", one_line(url)));
            continue;
        }
        let get = ocsp_get_url(url, &request);
        let fetch = FetchRequest {
            kind: FetchKind::Ocsp,
            url: get.as_deref().unwrap_or(url),
            body: if get.is_some() { None } else { Some(&request) },
            timeout: OCSP_TIMEOUT,
            max_len: MAX_OCSP_RESPONSE,
        };
        let answer = fetcher.fetch(&fetch).and_then(|bytes| {
            let (answer, until) = read_ocsp_response(&bytes, cert, issuer, ctx.now)?;
            if !matches!(answer, OcspAnswer::Unknown) {
                fetcher.verified(&fetch, &bytes, until);
            }
            Ok(answer)
        });
        match answer {
            Ok(OcspAnswer::Good) => return Ok(Status::Good { method: Method::Ocsp, url: url.clone() }),
            Ok(OcspAnswer::Revoked(r)) => return Ok(revoked(Method::Ocsp, url, r, ctx.signing_time)),
            Ok(OcspAnswer::Unknown) => {
                errors.push(format!("{url}: the responder does not know the certificate (status unknown)"));
                break;
            }
            Err(e) => errors.push(format!("{url}: {}", one_line(&e))),
        }
    }
    Err(errors.join("; "))
}

enum OcspAnswer {
    Good,
    Revoked(RevokedEntry),
    Unknown,
}

/// Reads and verifies an `OCSPResponse` about `cert`: successful, a basic response signed by
/// the issuer or by a responder the issuer delegated to, naming this certificate, and current
/// at `now`.
/// The answer comes with the response's `nextUpdate`.
fn read_ocsp_response(bytes: &[u8], cert: &Cert, issuer: &Cert, now: OffsetDateTime) -> Result<(OcspAnswer, OffsetDateTime), String> {
    if bytes.len() > MAX_OCSP_RESPONSE {
        return Err(format!("the response is {} bytes, more than the limit of {MAX_OCSP_RESPONSE}", bytes.len()));
    }
    let response = OcspResponse::from_der(bytes).map_err(|e| format!("not a DER OCSP response: {e}"))?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(format!("the responder answered {:?}", response.response_status));
    }
    let body = response.response_bytes.ok_or("a successful response without a body")?;
    if body.response_type != ID_PKIX_OCSP_BASIC {
        return Err(format!("response type {} is not id-pkix-ocsp-basic", body.response_type));
    }
    let basic_der = body.response.as_bytes();
    let basic = BasicOcspResponse::from_der(basic_der).map_err(|e| format!("not a DER basic OCSP response: {e}"))?;
    let signed = signed_part(basic_der).map_err(|e| format!("not a DER basic OCSP response: {e}"))?;
    verify_responder(&basic, &signed, issuer, now)?;

    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| cert_id_matches(&r.cert_id, cert, issuer))
        .ok_or("the response does not cover this certificate")?;
    let this_update = generalized(&single.this_update.0);
    if this_update > now + CLOCK_SKEW {
        return Err(format!("the response's thisUpdate {} is in the future", rfc3339(&this_update)));
    }
    let next_update = single.next_update.as_ref().map(|t| generalized(&t.0)).ok_or("the response has no nextUpdate")?;
    if now > next_update {
        return Err(format!("the response expired: its nextUpdate {} is before {}", rfc3339(&next_update), rfc3339(&now)));
    }
    let answer = match single.cert_status {
        CertStatus::Good(_) => OcspAnswer::Good,
        CertStatus::Unknown(_) => OcspAnswer::Unknown,
        CertStatus::Revoked(info) => {
            let invalid_since = match single.single_extensions.as_ref().and_then(|exts| exts.iter().find(|e| e.extn_id == ID_CE_INVALIDITY_DATE)) {
                Some(ext) => Some(invalidity_date(ext.extn_value.as_bytes())?),
                None => None,
            };
            OcspAnswer::Revoked(RevokedEntry {
                at: generalized(&info.revocation_time.0),
                reason: info.revocation_reason.map(|r| reason_name(r).to_string()),
                invalid_since,
            })
        }
    };
    Ok((answer, next_update))
}

fn responder_named(id: &ResponderId, candidate: &Cert) -> bool {
    match id {
        ResponderId::ByName(name) => *name == candidate.parsed.tbs_certificate.subject,
        ResponderId::ByKey(hash) => digest(ID_SHA1, candidate.public_key_bytes()).as_deref() == Some(hash.as_bytes()),
    }
}

/// The response must be signed by the issuer itself, or by the responder its `responderID`
/// names among the certificates it carries, which the issuer issued for OCSP signing and which
/// is valid at `now`.
fn verify_responder(basic: &BasicOcspResponse, signed: &[u8], issuer: &Cert, now: OffsetDateTime) -> Result<(), String> {
    let id = &basic.tbs_response_data.responder_id;
    let mut candidates: Vec<Cow<'_, Cert>> = Vec::new();
    if responder_named(id, issuer) {
        candidates.push(Cow::Borrowed(issuer));
    }
    for (i, c) in basic.certs.iter().flatten().take(MAX_RESPONSE_CERTS).enumerate() {
        let der = c.to_der().map_err(|e| format!("response certificate {i}: {e}"))?;
        let c = Cert::from_der(&der).map_err(|e| format!("response certificate {i}: {e}"))?;
        if responder_named(id, &c) {
            candidates.push(Cow::Owned(c));
        }
    }
    if candidates.is_empty() {
        return Err("the response is signed by a responder that is neither the issuer nor a certificate the response carries".into());
    }
    let alg = &basic.signature_algorithm;
    let mut errors = Vec::new();
    for signer in candidates {
        let delegated = signer.as_ref() != issuer;
        let checked = if delegated { check_delegate(&signer, issuer, now) } else { Ok(()) }.and_then(|()| {
            crypto::verify_signature(&signer, alg.oid, alg.parameters.as_ref(), signed, basic.signature.raw_bytes())
                .map_err(|e| format!("the response's signature by {:?}: {e}", signer.subject()))
        });
        match checked {
            Ok(()) => return Ok(()),
            Err(e) => errors.push(e),
        }
    }
    Err(errors.join("; "))
}

/// A delegated responder: issued by `issuer` for OCSP signing, valid at `now`.
fn check_delegate(responder: &Cert, issuer: &Cert, now: OffsetDateTime) -> Result<(), String> {
    let who = responder.subject();
    if responder.parsed.tbs_certificate.issuer != issuer.parsed.tbs_certificate.subject || crypto::verify_issued_by(responder, issuer).is_err() {
        return Err(format!("the responder certificate {who:?} is not issued by the certificate's issuer {:?}", issuer.subject()));
    }
    let ekus = responder.extended_key_usage().map_err(|e| format!("the responder certificate {who:?}: {e}"))?.unwrap_or_default();
    if !ekus.contains(&ID_KP_OCSP_SIGNING) {
        return Err(format!("the responder certificate {who:?} is not authorized for OCSP signing (no OCSPSigning extended key usage)"));
    }
    if now < responder.not_before() || now > responder.not_after() {
        return Err(format!(
            "the responder certificate {who:?} is not valid at {} (valid from {} to {})",
            rfc3339(&now),
            rfc3339(&responder.not_before()),
            rfc3339(&responder.not_after())
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CRL (RFC 5280)

/// Downloads the CRLs in turn. `Ok` when one verified and decided; `Err` says why none did.
fn crl_status(cert: &Cert, issuer: &Cert, urls: &[String], fetcher: &dyn RevocationFetcher, ctx: &Context<'_>) -> Result<Status, String> {
    let mut errors = Vec::new();
    for url in urls.iter().take(MAX_URLS) {
        if !is_http(url) {
            errors.push(format!("{}: only http distribution points are used", one_line(url)));
            continue;
        }
        let fetch = FetchRequest { kind: FetchKind::Crl, url, body: None, timeout: CRL_TIMEOUT, max_len: MAX_CRL };
        let checked = fetcher.fetch(&fetch).and_then(|bytes| {
            let (entry, next) = check_crl_until(&bytes, cert, issuer, ctx.now)?;
            if let Some(until) = next {
                fetcher.verified(&fetch, &bytes, until);
            }
            Ok(entry)
        });
        match checked {
            Ok(None) => return Ok(Status::Good { method: Method::Crl, url: url.clone() }),
            Ok(Some(r)) => return Ok(revoked(Method::Crl, url, r, ctx.signing_time)),
            Err(e) => errors.push(format!("{url}: {}", one_line(&e))),
        }
    }
    Err(errors.join("; "))
}

/// A revocation entry, as OCSP or a CRL gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The revocation date.
    pub at: OffsetDateTime,
    /// The reason code's name, when given.
    pub reason: Option<String>,
    /// The invalidity date, when given.
    pub invalid_since: Option<OffsetDateTime>,
}

/// Verifies a DER CRL as the issuer's, current at `now` and covering `cert`, and looks the
/// certificate up in it: `Ok(None)` when it is not listed.
pub fn check_crl(bytes: &[u8], cert: &Cert, issuer: &Cert, now: OffsetDateTime) -> Result<Option<RevokedEntry>, String> {
    check_crl_until(bytes, cert, issuer, now).map(|(entry, _)| entry)
}

/// As [`check_crl`], with the CRL's `nextUpdate` when it has one.
fn check_crl_until(bytes: &[u8], cert: &Cert, issuer: &Cert, now: OffsetDateTime) -> Result<(Option<RevokedEntry>, Option<OffsetDateTime>), String> {
    if bytes.len() > MAX_CRL {
        return Err(format!("the CRL is {} bytes, more than the limit of {MAX_CRL}", bytes.len()));
    }
    let crl = CertificateList::from_der(bytes).map_err(|e| format!("not a DER CRL: {e}"))?;
    let signed = signed_part(bytes).map_err(|e| format!("not a DER CRL: {e}"))?;
    let list = &crl.tbs_cert_list;
    if list.issuer != cert.parsed.tbs_certificate.issuer {
        return Err(format!("the CRL is issued by {:?}, not by the certificate's issuer {:?}", list.issuer.to_string(), cert.issuer()));
    }
    if let Some(usage) = issuer.key_usage()? {
        if !has_usage(&usage, KeyUsages::CRLSign) {
            return Err(format!("the issuer {:?} may not sign CRLs (its keyUsage lacks cRLSign)", issuer.subject()));
        }
    }
    if list.signature != crl.signature_algorithm {
        return Err("the CRL names two different signature algorithms".into());
    }
    let alg = &crl.signature_algorithm;
    crypto::verify_signature(issuer, alg.oid, alg.parameters.as_ref(), &signed, crl.signature.raw_bytes())
        .map_err(|e| format!("the CRL's signature by {:?}: {e}", issuer.subject()))?;
    let this_update = to_time(list.this_update.to_unix_duration());
    if this_update > now + CLOCK_SKEW {
        return Err(format!("the CRL's thisUpdate {} is in the future", rfc3339(&this_update)));
    }
    let next_update = list.next_update.map(|t| to_time(t.to_unix_duration()));
    if let Some(next) = next_update {
        if now > next {
            return Err(format!("the CRL is stale: its nextUpdate {} is before {}", rfc3339(&next), rfc3339(&now)));
        }
    }
    check_crl_scope(list.crl_extensions.as_deref().unwrap_or_default(), cert)?;

    let serial = &cert.parsed.tbs_certificate.serial_number;
    let Some(entry) = list.revoked_certificates.iter().flatten().find(|e| e.serial_number == *serial) else { return Ok((None, next_update)) };
    let mut reason = None;
    let mut invalid_since = None;
    for ext in entry.crl_entry_extensions.iter().flatten() {
        match ext.extn_id {
            id if id == ID_CE_CRL_REASONS => {
                let r = CrlReason::from_der(ext.extn_value.as_bytes()).map_err(|e| format!("the entry's reason code does not parse: {e}"))?;
                reason = Some(r);
            }
            id if id == ID_CE_INVALIDITY_DATE => {
                invalid_since = Some(invalidity_date(ext.extn_value.as_bytes())?);
            }
            id if id == ID_CE_CERTIFICATE_ISSUER => return Err("indirect CRL entries (certificateIssuer) are not supported".into()),
            id if ext.critical => return Err(format!("the entry has an unsupported critical extension {id}")),
            _ => {}
        }
    }
    if reason == Some(CrlReason::RemoveFromCRL) {
        // Only meaningful in delta CRLs: the certificate is no longer on hold.
        return Ok((None, next_update));
    }
    let entry = RevokedEntry {
        at: to_time(entry.revocation_date.to_unix_duration()),
        reason: reason.map(|r| reason_name(r).to_string()),
        invalid_since,
    };
    Ok((Some(entry), next_update))
}

/// The CRL must be a complete base CRL covering `cert`: no delta CRLs, no indirect CRLs, no
/// CRLs partitioned by reason or limited to the other kind of certificate, no unknown critical
/// extension.
fn check_crl_scope(extensions: &[x509_cert::ext::Extension], cert: &Cert) -> Result<(), String> {
    for ext in extensions {
        match ext.extn_id {
            id if id == ID_CE_FRESHEST_CRL => return Err("delta CRLs (freshestCRL) are not supported".into()),
            id if id == ID_CE_DELTA_CRL_INDICATOR => return Err("the CRL is a delta CRL, not a base CRL".into()),
            id if id == ID_CE_ISSUING_DISTRIBUTION_POINT => {
                let idp = IssuingDistributionPoint::from_der(ext.extn_value.as_bytes())
                    .map_err(|e| format!("the issuing distribution point does not parse: {e}"))?;
                let is_ca = matches!(cert.basic_constraints()?, Some((true, _)));
                if idp.indirect_crl {
                    return Err("indirect CRLs are not supported".into());
                }
                if idp.only_some_reasons.is_some() {
                    return Err("CRLs partitioned by reason are not supported".into());
                }
                if idp.only_contains_attribute_certs || (idp.only_contains_user_certs && is_ca) || (idp.only_contains_ca_certs && !is_ca) {
                    return Err("the CRL does not cover this kind of certificate".into());
                }
            }
            id if ext.critical => return Err(format!("the CRL has an unsupported critical extension {id}")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_only() {
        assert!(is_http("http://a/b"));
        assert!(is_http("HTTP://a"));
        assert!(!is_http("https://a"));
        assert!(!is_http("ldap://a"));
        assert!(!is_http("http:/"));
        assert!(!is_http("http://a/\nb"));
        assert_eq!(one_line("a\r\nb\tc"), "a b c");
    }

    #[test]
    fn short_requests_go_by_get_with_the_base64_url_encoded() {
        let url = ocsp_get_url("http://ocsp.example", &[0xfb, 0xff, 0x01]).unwrap();
        assert_eq!(url, "http://ocsp.example/%2B%2F8B");
        let url = ocsp_get_url("http://ocsp.example/", &[0x01]).unwrap();
        assert_eq!(url, "http://ocsp.example/AQ%3D%3D");
        assert!(ocsp_get_url("http://ocsp.example", &[0u8; 200]).is_none());
    }

    #[test]
    fn the_leaf_most_revoked_certificate_decides_over_unknown() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let r = |subject: &str, status: Status| CertStatusReport { subject: subject.into(), status };
        let results = vec![
            r("leaf", Status::Unknown { why: "down".into() }),
            r("mid", Status::Revoked { method: Method::Crl, url: "http://x".into(), at, reason: None }),
            r("root", Status::Root),
        ];
        assert_eq!(verdict(&results), Err(Finding::Revoked { subject: "mid".into(), at, reason: None }));
        let results = vec![r("leaf", Status::NonRevocable), r("mid", Status::Unknown { why: "down".into() }), r("root", Status::Root)];
        assert_eq!(verdict(&results), Err(Finding::Unknown { subject: "mid".into(), why: "down".into() }));
        let results = vec![r("leaf", Status::Good { method: Method::Ocsp, url: "http://o".into() }), r("root", Status::Root)];
        assert_eq!(verdict(&results), Ok(()));
        assert!(summary(&results).contains("good (OCSP http://o)"));
    }
}
