//! Certificate chain rules for code signing, as the Notary Project applies RFC 5280.
//!
//! The envelope carries the chain leaf first, ending in a self-signed root (a single
//! self-signed leaf is a chain of one). Each certificate must be signed by the next; the root by
//! itself. CA certificates need basicConstraints `CA:TRUE`, keyCertSign and a pathLen that
//! allows the CAs below them; the leaf must not be a CA, needs digitalSignature, and an EKU, when
//! present, must contain codeSigning and none of serverAuth, emailProtection, timeStamping or
//! OCSPSigning. Keys: RSA of at least 2048 bits, EC P-256/P-384/P-521. Time is checked apart
//! (see `validity`), because the Notary Project checks it at different instants per scheme.

use crate::cert::{has_usage, Cert, KeyKind};
use crate::crypto::verify_issued_by;
use crate::NotationError;
use const_oid::db::rfc5280::{ID_KP_CODE_SIGNING, ID_KP_EMAIL_PROTECTION, ID_KP_OCSP_SIGNING, ID_KP_SERVER_AUTH, ID_KP_TIME_STAMPING};
use const_oid::ObjectIdentifier;
use time::OffsetDateTime;
use x509_cert::ext::pkix::KeyUsages;

fn invalid(cert: &Cert, reason: impl Into<String>) -> NotationError {
    NotationError::ChainInvalid { subject: cert.subject(), reason: reason.into() }
}

/// Checks every structural and signature rule of a code-signing chain (not time).
pub fn validate(chain: &[Cert]) -> Result<(), NotationError> {
    crate::envelope::check_chain_len(chain.len())?;
    for cert in chain {
        check_key(cert)?;
        if let Some(oid) = cert.unknown_critical_extensions().first() {
            return Err(invalid(cert, format!("unknown critical extension {oid}")));
        }
    }
    let last = chain.len() - 1;
    for (i, cert) in chain.iter().enumerate() {
        if i == 0 {
            check_leaf(cert)?;
        } else {
            // pathLen counts the CA certificates below this one, excluding the leaf.
            check_ca(cert, i - 1)?;
        }
        let issuer = if i == last { cert } else { &chain[i + 1] };
        if cert.parsed.tbs_certificate.issuer != issuer.parsed.tbs_certificate.subject {
            let what = if i == last { "is not self-signed (the last certificate must be a root)".to_string() } else {
                format!("is issued by {:?}, but the next certificate is {:?}", cert.issuer(), issuer.subject())
            };
            return Err(invalid(cert, what));
        }
        verify_issued_by(cert, issuer).map_err(|e| {
            if i == last { invalid(cert, format!("root is not validly self-signed: {e}")) } else { invalid(cert, e) }
        })?;
    }
    Ok(())
}

/// The key must be one the Notary Project allows (RSA of 2048 bits or more, EC P-256/384/521).
pub(crate) fn check_key(cert: &Cert) -> Result<(), NotationError> {
    match cert.key_kind() {
        Ok(KeyKind::Rsa(bits)) if bits < 2048 => Err(invalid(cert, format!("RSA key of {bits} bits is too small (2048 at least)"))),
        Ok(_) => Ok(()),
        Err(e) => Err(invalid(cert, e)),
    }
}

fn check_leaf(cert: &Cert) -> Result<(), NotationError> {
    if let Some((true, _)) = cert.basic_constraints().map_err(|e| invalid(cert, e))? {
        return Err(invalid(cert, "the signing certificate is a CA (basicConstraints CA:TRUE)"));
    }
    let usage = cert.key_usage().map_err(|e| invalid(cert, e))?.ok_or_else(|| invalid(cert, "the signing certificate has no keyUsage extension"))?;
    if !has_usage(&usage, KeyUsages::DigitalSignature) {
        return Err(invalid(cert, "keyUsage of the signing certificate lacks digitalSignature"));
    }
    if has_usage(&usage, KeyUsages::KeyCertSign) {
        return Err(invalid(cert, "keyUsage of the signing certificate includes keyCertSign"));
    }
    check_leaf_eku(cert, ID_KP_CODE_SIGNING, &[ID_KP_SERVER_AUTH, ID_KP_EMAIL_PROTECTION, ID_KP_OCSP_SIGNING, ID_KP_TIME_STAMPING])
}

/// An EKU, when present, must contain `wanted` and none of `forbidden`.
pub(crate) fn check_leaf_eku(cert: &Cert, wanted: ObjectIdentifier, forbidden: &[ObjectIdentifier]) -> Result<(), NotationError> {
    let Some(ekus) = cert.extended_key_usage().map_err(|e| invalid(cert, e))? else { return Ok(()) };
    if let Some(bad) = ekus.iter().find(|e| forbidden.contains(e)) {
        return Err(invalid(cert, format!("extended key usage must not contain {}", eku_name(bad))));
    }
    if !ekus.contains(&wanted) {
        return Err(invalid(cert, format!("extended key usage must contain {}", eku_name(&wanted))));
    }
    Ok(())
}

pub(crate) fn eku_name(oid: &ObjectIdentifier) -> String {
    match *oid {
        o if o == ID_KP_SERVER_AUTH => "serverAuth".into(),
        o if o == ID_KP_EMAIL_PROTECTION => "emailProtection".into(),
        o if o == ID_KP_OCSP_SIGNING => "OCSPSigning".into(),
        o if o == ID_KP_TIME_STAMPING => "timeStamping".into(),
        o if o == ID_KP_CODE_SIGNING => "codeSigning".into(),
        o => o.to_string(),
    }
}

/// A CA certificate needs basicConstraints CA:TRUE with a pathLen allowing `cas_below`, and keyCertSign.
pub(crate) fn check_ca(cert: &Cert, cas_below: usize) -> Result<(), NotationError> {
    match cert.basic_constraints().map_err(|e| invalid(cert, e))? {
        Some((true, path_len)) => {
            if let Some(n) = path_len {
                if usize::from(n) < cas_below {
                    return Err(invalid(cert, format!("pathLenConstraint {n} is exceeded by {cas_below} CA certificates below it")));
                }
            }
        }
        _ => return Err(invalid(cert, "a CA certificate in the chain lacks basicConstraints CA:TRUE")),
    }
    let usage = cert.key_usage().map_err(|e| invalid(cert, e))?.ok_or_else(|| invalid(cert, "CA certificate has no keyUsage extension"))?;
    if !has_usage(&usage, KeyUsages::KeyCertSign) {
        return Err(invalid(cert, "keyUsage of a CA certificate lacks keyCertSign"));
    }
    Ok(())
}

/// Every certificate must be valid at `at`.
pub fn check_validity(chain: &[Cert], at: OffsetDateTime) -> Result<(), NotationError> {
    for cert in chain {
        if at < cert.not_before() {
            return Err(NotationError::CertificateNotYetValid { subject: cert.subject(), not_before: cert.not_before(), at });
        }
        if at > cert.not_after() {
            return Err(NotationError::CertificateExpired { subject: cert.subject(), not_after: cert.not_after(), at });
        }
    }
    Ok(())
}
