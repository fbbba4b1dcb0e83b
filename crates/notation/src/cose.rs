//! COSE_Sign1 envelopes (`application/cose`), parsed with coset into the same
//! [`ParsedEnvelope`] the JWS parser produces.
//!
//! The Notary Project's COSE profile: a tagged COSE_Sign1 with an embedded payload; the
//! protected header carries `alg`, `crit`, `content type` and the `io.cncf.notary.*` signed
//! attributes (times as CBOR tag 1, seconds since the epoch); the unprotected header carries
//! the certificate chain (`x5chain`, label 33) and optionally an RFC 3161 timestamp token
//! (`io.cncf.notary.timestampSignature`). The signed bytes are the `Signature1` structure.

use crate::cert::Cert;
use crate::crypto::SigAlg;
use crate::envelope::{
    check_chain_len, check_critical, finish, SignedAttributes, H_AUTHENTIC_TIME, H_EXPIRY, H_PLUGIN, H_SCHEME,
    H_SIGNING_TIME, PAYLOAD_CONTENT_TYPE,
};
use crate::{NotationError, ParsedEnvelope};
use coset::cbor::value::Value;
use coset::{iana, Algorithm, CoseSign1, Header, Label, RegisteredLabel, RegisteredLabelWithPrivate, TaggedCborSerializable};
use time::OffsetDateTime;

/// The `x5chain` header label (RFC 9360).
const X5CHAIN: i64 = 33;
/// Unprotected header holding the RFC 3161 timestamp token.
const H_TIMESTAMP: &str = "io.cncf.notary.timestampSignature";

fn malformed(reason: impl Into<String>) -> NotationError {
    NotationError::Malformed { reason: reason.into() }
}

/// Parses a Notary Project COSE_Sign1 envelope.
pub fn parse_cose(bytes: &[u8]) -> Result<ParsedEnvelope, NotationError> {
    let msg = CoseSign1::from_tagged_slice(bytes).map_err(|e| malformed(format!("not a tagged COSE_Sign1: {e}")))?;
    let protected = &msg.protected.header;
    let alg = algorithm(protected.alg.as_ref())?;
    let crit = critical_list(&protected.crit)?;
    check_critical(&crit, |name| text_header(protected, name).is_some())?;
    check_content_type(protected)?;
    let attrs = SignedAttributes {
        scheme: text_value(protected, H_SCHEME)?,
        signing_time: time_value(protected, H_SIGNING_TIME)?,
        authentic_signing_time: time_value(protected, H_AUTHENTIC_TIME)?,
        expiry: time_value(protected, H_EXPIRY)?,
        plugin: text_value(protected, H_PLUGIN)?,
    };
    let payload = msg.payload.as_deref().ok_or_else(|| malformed("the payload is detached; the Notary Project embeds it"))?;
    let chain = x5chain(&msg.unprotected)?;
    let timestamp = timestamp(&msg.unprotected)?;
    let signed_bytes = msg.tbs_data(&[]);
    finish(alg, attrs, payload, chain, signed_bytes, msg.signature.clone(), timestamp)
}

fn algorithm(alg: Option<&Algorithm>) -> Result<SigAlg, NotationError> {
    let id = match alg {
        None => return Err(malformed("protected header has no alg")),
        Some(RegisteredLabelWithPrivate::Assigned(a)) => *a as i64,
        Some(RegisteredLabelWithPrivate::PrivateUse(i)) => *i,
        Some(RegisteredLabelWithPrivate::Text(t)) => return Err(NotationError::UnsupportedAlgorithm { alg: t.clone() }),
    };
    SigAlg::from_cose(id).ok_or_else(|| NotationError::UnsupportedAlgorithm { alg: format!("COSE algorithm {id}") })
}

/// The Notary Project marks only its own text-labelled headers critical; an integer label in
/// `crit` names a feature vouch does not implement.
fn critical_list(crit: &[RegisteredLabel<iana::HeaderParameter>]) -> Result<Vec<String>, NotationError> {
    crit.iter()
        .map(|label| match label {
            RegisteredLabel::Text(t) => Ok(t.clone()),
            RegisteredLabel::Assigned(p) => Err(NotationError::UnknownCriticalHeader { name: format!("COSE label {}", *p as i64) }),
        })
        .collect()
}

fn check_content_type(h: &Header) -> Result<(), NotationError> {
    match &h.content_type {
        Some(RegisteredLabel::Text(t)) if t == PAYLOAD_CONTENT_TYPE => Ok(()),
        other => Err(malformed(format!("content type {other:?} is not {PAYLOAD_CONTENT_TYPE}"))),
    }
}

fn text_header<'a>(h: &'a Header, name: &str) -> Option<&'a Value> {
    h.rest.iter().find(|(l, _)| matches!(l, Label::Text(t) if t == name)).map(|(_, v)| v)
}

fn int_header(h: &Header, label: i64) -> Option<&Value> {
    h.rest.iter().find(|(l, _)| *l == Label::Int(label)).map(|(_, v)| v)
}

fn text_value<'a>(h: &'a Header, name: &str) -> Result<Option<&'a str>, NotationError> {
    match text_header(h, name) {
        None => Ok(None),
        Some(Value::Text(s)) => Ok(Some(s)),
        Some(_) => Err(malformed(format!("header {name} is not a text string"))),
    }
}

/// Times are CBOR tag 1 (epoch-based date/time) over an integer number of seconds.
fn time_value(h: &Header, name: &str) -> Result<Option<OffsetDateTime>, NotationError> {
    let Some(v) = text_header(h, name) else { return Ok(None) };
    let secs = match v {
        Value::Tag(1, inner) => match inner.as_ref() {
            Value::Integer(i) => i64::try_from(*i).map_err(|_| malformed(format!("header {name} is out of range")))?,
            _ => return Err(malformed(format!("header {name} is not an integer epoch time"))),
        },
        _ => return Err(malformed(format!("header {name} is not a CBOR tag 1 date/time"))),
    };
    OffsetDateTime::from_unix_timestamp(secs).map(Some).map_err(|_| malformed(format!("header {name} is out of range")))
}

fn x5chain(h: &Header) -> Result<Vec<Cert>, NotationError> {
    let ders: Vec<&Vec<u8>> = match int_header(h, X5CHAIN) {
        None => return Err(malformed("the envelope carries no certificate (x5chain is missing)")),
        Some(Value::Bytes(b)) => vec![b],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::Bytes(b) => Ok(b),
                _ => Err(malformed("x5chain holds a value that is not a byte string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(malformed("x5chain is neither a byte string nor an array")),
    };
    check_chain_len(ders.len())?;
    ders.iter()
        .enumerate()
        .map(|(i, der)| Cert::from_der(der).map_err(|e| malformed(format!("x5chain[{i}]: {e}"))))
        .collect()
}

fn timestamp(h: &Header) -> Result<Option<Vec<u8>>, NotationError> {
    match text_header(h, H_TIMESTAMP) {
        None => Ok(None),
        Some(Value::Bytes(b)) => Ok(Some(b.clone())),
        Some(_) => Err(malformed(format!("{H_TIMESTAMP} is not a byte string"))),
    }
}
