//! Parsing signature envelopes into one checked shape, before any cryptography.
//!
//! Both envelope formats (JWS here, COSE in [`crate::cose`]) produce a [`ParsedEnvelope`]:
//! the algorithm, the signed attributes, the payload's target artifact, the certificate chain,
//! and the exact bytes that were signed. Everything that can be refused without a key is
//! refused here: unknown critical headers, missing required headers, algorithms outside the six
//! the Notary Project allows, malformed encodings.

use crate::cert::Cert;
use crate::crypto::SigAlg;
use crate::NotationError;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Content type of the Notary Project payload.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// Envelopes carry at most this many certificates.
pub const MAX_CHAIN: usize = 10;

pub(crate) const H_SCHEME: &str = "io.cncf.notary.signingScheme";
pub(crate) const H_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub(crate) const H_AUTHENTIC_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub(crate) const H_EXPIRY: &str = "io.cncf.notary.expiry";
pub(crate) const H_PLUGIN: &str = "io.cncf.notary.verificationPlugin";
pub(crate) const H_PLUGIN_MIN: &str = "io.cncf.notary.verificationPluginMinVersion";

/// The critical headers vouch understands; any other name in `crit` rejects the signature.
pub(crate) const KNOWN_CRITICAL: [&str; 5] = [H_SCHEME, H_AUTHENTIC_TIME, H_EXPIRY, H_PLUGIN, H_PLUGIN_MIN];
/// Headers that must be listed in `crit` whenever they are present.
pub(crate) const MUST_BE_CRITICAL: [&str; 5] = [H_SCHEME, H_AUTHENTIC_TIME, H_EXPIRY, H_PLUGIN, H_PLUGIN_MIN];

/// The two Notary Project signing schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningScheme {
    /// `notary.x509`: chain to a `ca` store; certificates valid now (or at a verified timestamp).
    X509,
    /// `notary.x509.signingAuthority`: chain to a `signingAuthority` store, checked at the authentic signing time.
    SigningAuthority,
}

impl SigningScheme {
    /// Parses the header value.
    pub fn parse(s: &str) -> Result<SigningScheme, NotationError> {
        match s {
            "notary.x509" => Ok(SigningScheme::X509),
            "notary.x509.signingAuthority" => Ok(SigningScheme::SigningAuthority),
            other => Err(NotationError::UnsupportedSigningScheme { scheme: other.to_string() }),
        }
    }

    /// The header value.
    pub fn name(self) -> &'static str {
        match self {
            SigningScheme::X509 => "notary.x509",
            SigningScheme::SigningAuthority => "notary.x509.signingAuthority",
        }
    }
}

/// The payload's `targetArtifact`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetArtifact {
    /// Media type of the signed artifact.
    pub media_type: String,
    /// Its digest, as signed.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Signed annotations (notation's `-m` user metadata).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    target_artifact: TargetArtifact,
}

/// An envelope that parsed and passed every structural rule.
#[derive(Debug, Clone)]
pub struct ParsedEnvelope {
    /// The signature algorithm.
    pub alg: SigAlg,
    /// The signing scheme.
    pub scheme: SigningScheme,
    /// `io.cncf.notary.signingTime` (notary.x509).
    pub signing_time: Option<OffsetDateTime>,
    /// `io.cncf.notary.authenticSigningTime` (signingAuthority).
    pub authentic_signing_time: Option<OffsetDateTime>,
    /// `io.cncf.notary.expiry`.
    pub expiry: Option<OffsetDateTime>,
    /// What was signed.
    pub target: TargetArtifact,
    /// The certificate chain, leaf first.
    pub chain: Vec<Cert>,
    /// The bytes the signature covers.
    pub signed_bytes: Vec<u8>,
    /// The signature (ECDSA as raw `r||s`).
    pub signature: Vec<u8>,
    /// An RFC 3161 timestamp token over the signature, when present.
    pub timestamp: Option<Vec<u8>>,
}

fn malformed(reason: impl Into<String>) -> NotationError {
    NotationError::Malformed { reason: reason.into() }
}

#[derive(Deserialize)]
struct JwsJson {
    payload: String,
    protected: String,
    header: JwsUnprotected,
    signature: String,
}

#[derive(Deserialize)]
struct JwsUnprotected {
    x5c: Vec<String>,
    #[serde(default, rename = "io.cncf.notary.timestampSignature")]
    timestamp: Option<String>,
}

fn b64url(field: &str, s: &str) -> Result<Vec<u8>, NotationError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| malformed(format!("{field} is not unpadded base64url: {e}")))
}

/// Parses a JWS envelope (JSON serialization, flattened).
pub fn parse_jws(bytes: &[u8]) -> Result<ParsedEnvelope, NotationError> {
    let jws: JwsJson = serde_json::from_slice(bytes).map_err(|e| malformed(format!("JWS JSON: {e}")))?;
    let protected_bytes = b64url("protected header", &jws.protected)?;
    let header: Map<String, Value> = serde_json::from_slice(&protected_bytes)
        .map_err(|e| malformed(format!("protected header is not a JSON object: {e}")))?;
    let payload_bytes = b64url("payload", &jws.payload)?;
    let signature = b64url("signature", &jws.signature)?;

    let alg_name = str_header(&header, "alg")?.ok_or_else(|| malformed("protected header has no alg"))?;
    let alg = SigAlg::from_jws(alg_name).ok_or_else(|| NotationError::UnsupportedAlgorithm { alg: alg_name.to_string() })?;
    let crit = critical_list(&header)?;
    check_critical(&crit, |name| header.contains_key(name))?;
    let cty = str_header(&header, "cty")?;
    if cty != Some(PAYLOAD_CONTENT_TYPE) {
        return Err(malformed(format!("content type {cty:?} is not {PAYLOAD_CONTENT_TYPE}")));
    }
    let attrs = SignedAttributes {
        scheme: str_header(&header, H_SCHEME)?,
        signing_time: time_header(&header, H_SIGNING_TIME)?,
        authentic_signing_time: time_header(&header, H_AUTHENTIC_TIME)?,
        expiry: time_header(&header, H_EXPIRY)?,
        plugin: str_header(&header, H_PLUGIN)?,
    };
    let chain = parse_x5c(&jws.header.x5c)?;
    let timestamp = match &jws.header.timestamp {
        Some(t) => Some(
            base64::engine::general_purpose::STANDARD.decode(t).map_err(|e| malformed(format!("io.cncf.notary.timestampSignature is not base64: {e}")))?,
        ),
        None => None,
    };
    let signed_bytes = format!("{}.{}", jws.protected, jws.payload).into_bytes();
    finish(alg, attrs, &payload_bytes, chain, signed_bytes, signature, timestamp)
}

/// The signed attributes common to both envelope formats, before validation.
pub(crate) struct SignedAttributes<'a> {
    pub scheme: Option<&'a str>,
    pub signing_time: Option<OffsetDateTime>,
    pub authentic_signing_time: Option<OffsetDateTime>,
    pub expiry: Option<OffsetDateTime>,
    pub plugin: Option<&'a str>,
}

/// Applies the rules common to JWS and COSE once headers are read.
pub(crate) fn finish(
    alg: SigAlg,
    attrs: SignedAttributes<'_>,
    payload: &[u8],
    chain: Vec<Cert>,
    signed_bytes: Vec<u8>,
    signature: Vec<u8>,
    timestamp: Option<Vec<u8>>,
) -> Result<ParsedEnvelope, NotationError> {
    if let Some(plugin) = attrs.plugin {
        return Err(NotationError::PluginRequired { plugin: plugin.to_string() });
    }
    let scheme = SigningScheme::parse(attrs.scheme.ok_or_else(|| malformed(format!("{H_SCHEME} is missing")))?)?;
    match scheme {
        SigningScheme::X509 if attrs.signing_time.is_none() => {
            return Err(malformed(format!("{H_SIGNING_TIME} is required by notary.x509")))
        }
        SigningScheme::SigningAuthority if attrs.authentic_signing_time.is_none() => {
            return Err(malformed(format!("{H_AUTHENTIC_TIME} is required by notary.x509.signingAuthority")))
        }
        _ => {}
    }
    let payload: Payload =
        serde_json::from_slice(payload).map_err(|e| malformed(format!("payload is not a Notary Project payload: {e}")))?;
    Ok(ParsedEnvelope {
        alg,
        scheme,
        signing_time: attrs.signing_time,
        authentic_signing_time: attrs.authentic_signing_time,
        expiry: attrs.expiry,
        target: payload.target_artifact,
        chain,
        signed_bytes,
        signature,
        timestamp,
    })
}

fn str_header<'a>(h: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, NotationError> {
    match h.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(malformed(format!("header {name} is not a string"))),
    }
}

fn time_header(h: &Map<String, Value>, name: &str) -> Result<Option<OffsetDateTime>, NotationError> {
    let Some(s) = str_header(h, name)? else { return Ok(None) };
    OffsetDateTime::parse(s, &Rfc3339).map(Some).map_err(|e| malformed(format!("header {name} = {s:?} is not an RFC 3339 time: {e}")))
}

fn critical_list(h: &Map<String, Value>) -> Result<Vec<String>, NotationError> {
    let Some(v) = h.get("crit") else {
        return Err(NotationError::CriticalHeaders { reason: "crit is missing".into() });
    };
    let list = v.as_array().ok_or_else(|| NotationError::CriticalHeaders { reason: "crit is not an array".into() })?;
    list.iter()
        .map(|x| x.as_str().map(String::from).ok_or_else(|| NotationError::CriticalHeaders { reason: "crit lists a non-string".into() }))
        .collect()
}

/// `crit` must name the signing scheme, only headers vouch understands, only headers that are
/// present, and every header that must be critical.
pub(crate) fn check_critical(crit: &[String], present: impl Fn(&str) -> bool) -> Result<(), NotationError> {
    if crit.is_empty() {
        return Err(NotationError::CriticalHeaders { reason: "crit is empty".into() });
    }
    // A signature that names a verification plugin leaves its extended critical attributes to
    // that plugin; vouch runs no plugins and refuses it by the plugin's name (see `finish`).
    let plugin = present(H_PLUGIN);
    for name in crit {
        if !plugin && !KNOWN_CRITICAL.contains(&name.as_str()) {
            return Err(NotationError::UnknownCriticalHeader { name: name.clone() });
        }
        if !present(name) {
            return Err(NotationError::CriticalHeaders { reason: format!("crit names {name}, which is absent") });
        }
    }
    for name in MUST_BE_CRITICAL {
        if present(name) && !crit.iter().any(|c| c == name) {
            return Err(NotationError::CriticalHeaders { reason: format!("{name} is present but not listed in crit") });
        }
    }
    if !crit.iter().any(|c| c == H_SCHEME) {
        return Err(NotationError::CriticalHeaders { reason: format!("crit does not list {H_SCHEME}") });
    }
    Ok(())
}

fn parse_x5c(x5c: &[String]) -> Result<Vec<Cert>, NotationError> {
    check_chain_len(x5c.len())?;
    x5c.iter()
        .enumerate()
        .map(|(i, b64)| {
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| malformed(format!("x5c[{i}] is not base64: {e}")))?;
            Cert::from_der(&der).map_err(|e| malformed(format!("x5c[{i}]: {e}")))
        })
        .collect()
}

pub(crate) fn check_chain_len(len: usize) -> Result<(), NotationError> {
    if len == 0 {
        return Err(malformed("the envelope carries no certificate"));
    }
    if len > MAX_CHAIN {
        return Err(NotationError::ChainTooLong { len, max: MAX_CHAIN });
    }
    Ok(())
}
