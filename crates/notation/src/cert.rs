//! Certificates as vouch reads them: RustCrypto `x509-cert` structures plus the facts the
//! Notary Project rules need (key type and size, usages, validity, names).

use const_oid::db::rfc5280::{ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE, ID_CE_SUBJECT_KEY_IDENTIFIER};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitStringRef, UintRef};
use der::{Decode, Encode, Sequence};
use std::sync::OnceLock;
use time::OffsetDateTime;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::Certificate;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// `id-pe-authorityInfoAccess`.
const ID_PE_AUTHORITY_INFO_ACCESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
/// `id-ad-ocsp`, the OCSP access method of the authority information access extension.
const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// `id-ce-cRLDistributionPoints`.
const ID_CE_CRL_DISTRIBUTION_POINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");

/// The kinds of signing key the Notary Project allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with this many modulus bits.
    Rsa(usize),
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
    /// ECDSA P-521.
    P521,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyKind::Rsa(bits) => write!(f, "RSA {bits}"),
            KeyKind::P256 => f.write_str("EC P-256"),
            KeyKind::P384 => f.write_str("EC P-384"),
            KeyKind::P521 => f.write_str("EC P-521"),
        }
    }
}

/// Outer structure of a certificate, keeping the signed bytes exactly as received.
#[derive(Sequence)]
struct RawCertificate<'a> {
    tbs: AnyRef<'a>,
    algorithm: AnyRef<'a>,
    signature: BitStringRef<'a>,
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    exponent: UintRef<'a>,
}

/// A parsed certificate with its original DER.
#[derive(Debug, Clone)]
pub struct Cert {
    /// The DER bytes as received.
    pub der: Vec<u8>,
    /// The parsed structure.
    pub parsed: Certificate,
    /// The DER of the to-be-signed part, as received (what the issuer signed).
    pub tbs_der: Vec<u8>,
    /// The subject and issuer DNs as text, made on first use: x509-cert finds each attribute's
    /// name by a linear search of every known OID, and a verification asks for the same names
    /// many times (identities, reports, revocation details, errors).
    subject_text: OnceLock<String>,
    issuer_text: OnceLock<String>,
}

impl PartialEq for Cert {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Cert {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Cert, String> {
        let parsed = Certificate::from_der(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
        let raw = RawCertificate::from_der(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
        let tbs_der = raw.tbs.to_der().map_err(|e| e.to_string())?;
        Ok(Cert { der: der.to_vec(), parsed, tbs_der, subject_text: OnceLock::new(), issuer_text: OnceLock::new() })
    }

    /// Subject DN in RFC 4514 order, e.g. `CN=acme signer,O=acme,L=Seattle,ST=WA,C=US`.
    pub fn subject(&self) -> String {
        self.subject_text.get_or_init(|| self.parsed.tbs_certificate.subject.to_string()).clone()
    }

    /// Issuer DN, same form.
    pub fn issuer(&self) -> String {
        self.issuer_text.get_or_init(|| self.parsed.tbs_certificate.issuer.to_string()).clone()
    }

    /// notBefore.
    pub fn not_before(&self) -> OffsetDateTime {
        to_time(self.parsed.tbs_certificate.validity.not_before.to_unix_duration())
    }

    /// notAfter.
    pub fn not_after(&self) -> OffsetDateTime {
        to_time(self.parsed.tbs_certificate.validity.not_after.to_unix_duration())
    }

    /// The subjectPublicKey bits (an RSAPublicKey DER or an uncompressed EC point).
    pub fn public_key_bytes(&self) -> &[u8] {
        self.parsed.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes()
    }

    /// The key's kind; `Err` for key types the Notary Project does not allow.
    pub fn key_kind(&self) -> Result<KeyKind, String> {
        let spki = &self.parsed.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid == RSA_ENCRYPTION {
            let key = RsaPublicKey::from_der(self.public_key_bytes()).map_err(|e| format!("RSA public key does not parse: {e}"))?;
            return Ok(KeyKind::Rsa(bit_length(key.modulus.as_bytes())));
        }
        if spki.algorithm.oid == EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or("EC public key names no curve")?;
            return match curve {
                c if c == P256 => Ok(KeyKind::P256),
                c if c == P384 => Ok(KeyKind::P384),
                c if c == P521 => Ok(KeyKind::P521),
                c => Err(format!("EC curve {c} is not allowed (P-256, P-384, P-521 only)")),
            };
        }
        Err(format!("public key algorithm {} is not allowed (RSA or EC only)", spki.algorithm.oid))
    }

    fn extension<T: for<'a> Decode<'a>>(&self, oid: ObjectIdentifier) -> Result<Option<T>, String> {
        let Some(exts) = &self.parsed.tbs_certificate.extensions else { return Ok(None) };
        let mut found = exts.iter().filter(|e| e.extn_id == oid);
        let Some(ext) = found.next() else { return Ok(None) };
        if found.next().is_some() {
            return Err(format!("extension {oid} appears twice"));
        }
        T::from_der(ext.extn_value.as_bytes()).map(Some).map_err(|e| format!("extension {oid} does not parse: {e}"))
    }

    /// Basic constraints: `(is_ca, path_len)`, `None` when absent.
    pub fn basic_constraints(&self) -> Result<Option<(bool, Option<u8>)>, String> {
        Ok(self.extension::<BasicConstraints>(ID_CE_BASIC_CONSTRAINTS)?.map(|b| (b.ca, b.path_len_constraint)))
    }

    /// Key usage bits, `None` when absent.
    pub fn key_usage(&self) -> Result<Option<KeyUsage>, String> {
        self.extension::<KeyUsage>(ID_CE_KEY_USAGE)
    }

    /// Extended key usage OIDs, `None` when absent.
    pub fn extended_key_usage(&self) -> Result<Option<Vec<ObjectIdentifier>>, String> {
        Ok(self.extension::<ExtendedKeyUsage>(ID_CE_EXT_KEY_USAGE)?.map(|e| e.0))
    }

    /// The subjectKeyIdentifier, `None` when absent.
    pub fn subject_key_identifier(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(self.extension::<SubjectKeyIdentifier>(ID_CE_SUBJECT_KEY_IDENTIFIER)?.map(|k| k.0.as_bytes().to_vec()))
    }

    /// Whether the extension `oid` is marked critical; `None` when absent.
    pub fn is_critical(&self, oid: ObjectIdentifier) -> Option<bool> {
        let exts = self.parsed.tbs_certificate.extensions.as_ref()?;
        exts.iter().find(|e| e.extn_id == oid).map(|e| e.critical)
    }

    /// Extensions marked critical that vouch does not process.
    pub fn unknown_critical_extensions(&self) -> Vec<ObjectIdentifier> {
        const KNOWN: [ObjectIdentifier; 6] = [
            ID_CE_BASIC_CONSTRAINTS,
            ID_CE_KEY_USAGE,
            ID_CE_EXT_KEY_USAGE,
            const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME,
            const_oid::db::rfc5280::ID_CE_NAME_CONSTRAINTS,
            const_oid::db::rfc5280::ID_CE_CERTIFICATE_POLICIES,
        ];
        let Some(exts) = &self.parsed.tbs_certificate.extensions else { return Vec::new() };
        exts.iter().filter(|e| e.critical && !KNOWN.contains(&e.extn_id)).map(|e| e.extn_id).collect()
    }

    /// The OCSP responder URLs of the authority information access extension, in order (any
    /// scheme; the caller decides which it uses). Empty when the extension is absent.
    pub fn ocsp_urls(&self) -> Result<Vec<String>, String> {
        let Some(aia) = self.extension::<AuthorityInfoAccessSyntax>(ID_PE_AUTHORITY_INFO_ACCESS)? else { return Ok(Vec::new()) };
        Ok(aia
            .0
            .iter()
            .filter(|a| a.access_method == ID_AD_OCSP)
            .filter_map(|a| match &a.access_location {
                GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
                _ => None,
            })
            .collect())
    }

    /// The URLs of the CRL distribution points that name their CRL by a full name, in order
    /// (any scheme). Empty when the extension is absent.
    pub fn crl_urls(&self) -> Result<Vec<String>, String> {
        let Some(points) = self.extension::<CrlDistributionPoints>(ID_CE_CRL_DISTRIBUTION_POINTS)? else { return Ok(Vec::new()) };
        let full_names = points.0.iter().filter_map(|p: &DistributionPoint| match &p.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        });
        Ok(full_names
            .flatten()
            .filter_map(|n| match n {
                GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
                _ => None,
            })
            .collect())
    }

    /// True when the subject equals the issuer.
    pub fn names_itself(&self) -> bool {
        self.parsed.tbs_certificate.subject == self.parsed.tbs_certificate.issuer
    }
}

/// True when `usage` has `bit` set.
pub fn has_usage(usage: &KeyUsage, bit: KeyUsages) -> bool {
    usage.0.contains(bit)
}

/// A duration since the Unix epoch as a time (the epoch itself when out of range).
pub(crate) fn to_time(d: std::time::Duration) -> OffsetDateTime {
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Bits in a big-endian unsigned integer, ignoring leading zeros.
fn bit_length(bytes: &[u8]) -> usize {
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    trimmed.len() * 8 - trimmed[0].leading_zeros() as usize
}

/// Parses PEM (one or more `CERTIFICATE` blocks) or a single DER certificate.
pub fn parse_pem_or_der(bytes: &[u8]) -> Result<Vec<Cert>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    if bytes.starts_with(&[0x30]) {
        return Ok(vec![Cert::from_der(bytes)?]);
    }
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(bytes) {
        let der = item.map_err(|e| format!("PEM does not parse: {e:?}"))?;
        out.push(Cert::from_der(der.as_ref())?);
    }
    if out.is_empty() {
        return Err("no CERTIFICATE block found (PEM or DER expected)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0x00]), 0);
        assert_eq!(bit_length(&[0xff; 256]), 2048);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(Cert::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(parse_pem_or_der(b"hello").is_err());
        assert!(parse_pem_or_der(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err());
    }
}
