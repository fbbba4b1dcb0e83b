//! Signature checks: the six JWS/COSE algorithms bound to their key kinds, and the algorithms
//! issuers use to sign certificates. `ring` does RSA and P-256/P-384; `p521` does P-521.

use crate::cert::{Cert, KeyKind};
use const_oid::ObjectIdentifier;
use ring::signature::{self as rs, UnparsedPublicKey, VerificationAlgorithm};

/// A Notary Project signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// ECDSA P-521 with SHA-512.
    Es512,
}

impl SigAlg {
    /// From the JWS `alg` name.
    pub fn from_jws(name: &str) -> Option<SigAlg> {
        Some(match name {
            "PS256" => SigAlg::Ps256,
            "PS384" => SigAlg::Ps384,
            "PS512" => SigAlg::Ps512,
            "ES256" => SigAlg::Es256,
            "ES384" => SigAlg::Es384,
            "ES512" => SigAlg::Es512,
            _ => return None,
        })
    }

    /// From the COSE algorithm identifier.
    pub fn from_cose(id: i64) -> Option<SigAlg> {
        Some(match id {
            -37 => SigAlg::Ps256,
            -38 => SigAlg::Ps384,
            -39 => SigAlg::Ps512,
            -7 => SigAlg::Es256,
            -35 => SigAlg::Es384,
            -36 => SigAlg::Es512,
            _ => return None,
        })
    }

    /// The JWS name.
    pub fn name(self) -> &'static str {
        match self {
            SigAlg::Ps256 => "PS256",
            SigAlg::Ps384 => "PS384",
            SigAlg::Ps512 => "PS512",
            SigAlg::Es256 => "ES256",
            SigAlg::Es384 => "ES384",
            SigAlg::Es512 => "ES512",
        }
    }

    /// The only algorithm the Notary Project allows for a key of this kind.
    pub fn for_key(kind: KeyKind) -> Option<SigAlg> {
        Some(match kind {
            KeyKind::Rsa(2048) => SigAlg::Ps256,
            KeyKind::Rsa(3072) => SigAlg::Ps384,
            KeyKind::Rsa(4096) => SigAlg::Ps512,
            KeyKind::Rsa(_) => return None,
            KeyKind::P256 => SigAlg::Es256,
            KeyKind::P384 => SigAlg::Es384,
            KeyKind::P521 => SigAlg::Es512,
        })
    }
}

/// Verifies an envelope signature (ECDSA as raw `r||s`) over `message` with `cert`'s key.
pub fn verify_envelope(alg: SigAlg, cert: &Cert, message: &[u8], signature: &[u8]) -> bool {
    let key = cert.public_key_bytes();
    let ring_alg: &dyn VerificationAlgorithm = match alg {
        SigAlg::Ps256 => &rs::RSA_PSS_2048_8192_SHA256,
        SigAlg::Ps384 => &rs::RSA_PSS_2048_8192_SHA384,
        SigAlg::Ps512 => &rs::RSA_PSS_2048_8192_SHA512,
        SigAlg::Es256 => &rs::ECDSA_P256_SHA256_FIXED,
        SigAlg::Es384 => &rs::ECDSA_P384_SHA384_FIXED,
        SigAlg::Es512 => return p521_verify(key, message, signature),
    };
    UnparsedPublicKey::new(ring_alg, key).verify(message, signature).is_ok()
}

/// P-521 ECDSA with SHA-512 over `message`, signature as raw `r||s` (JWS/COSE form).
fn p521_verify(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use p521::ecdsa::signature::Verifier;
    use p521::ecdsa::{Signature, VerifyingKey};
    let Ok(vk) = VerifyingKey::from_sec1_bytes(key) else { return false };
    Signature::from_slice(signature).is_ok_and(|s| vk.verify(message, &s).is_ok())
}

/// P-521 ECDSA (DER signature) over a digest computed by the caller, for certificates signed
/// with any of SHA-256/384/512.
fn p521_verify_prehash(key: &[u8], digest: &[u8], signature: &[u8]) -> bool {
    use p521::ecdsa::signature::hazmat::PrehashVerifier;
    use p521::ecdsa::{Signature, VerifyingKey};
    let Ok(vk) = VerifyingKey::from_sec1_bytes(key) else { return false };
    // A digest shorter than the 66-byte field is its integer value (SEC1 §4.1.4); left-padding
    // keeps that value and meets the verifier's minimum input length.
    let mut padded = [0u8; 66];
    let Some(start) = padded.len().checked_sub(digest.len()) else { return false };
    padded[start..].copy_from_slice(digest);
    Signature::from_der(signature).is_ok_and(|s| vk.verify_prehash(&padded, &s).is_ok())
}

fn digest_for(ecdsa_oid: ObjectIdentifier, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match ecdsa_oid {
        o if o == ECDSA_SHA256 => sha2::Sha256::digest(data).to_vec(),
        o if o == ECDSA_SHA384 => sha2::Sha384::digest(data).to_vec(),
        _ => sha2::Sha512::digest(data).to_vec(),
    }
}

const SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// Verifies that `issuer` signed `cert`. `Err` says why not.
pub fn verify_issued_by(cert: &Cert, issuer: &Cert) -> Result<(), String> {
    let alg = &cert.parsed.signature_algorithm;
    verify_signature(issuer, alg.oid, alg.parameters.as_ref(), &cert.tbs_der, cert.parsed.signature.raw_bytes())
        .map_err(|e| if e == BAD_SIGNATURE { "signature does not verify with the issuer's key".into() } else { e })
}

const BAD_SIGNATURE: &str = "signature does not verify";

/// Verifies a DER-encoded (X.509/CMS style) `signature` over `message` with `signer`'s key, under
/// the signature algorithm `alg` (with its `params`, for RSASSA-PSS). `Err` says why not.
pub fn verify_signature(
    signer: &Cert,
    alg: ObjectIdentifier,
    params: Option<&der::Any>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let kind = signer.key_kind()?;
    let key = signer.public_key_bytes();
    let ring_alg: &dyn VerificationAlgorithm = match (alg, kind) {
        (o, KeyKind::Rsa(_)) if o == SHA256_RSA => &rs::RSA_PKCS1_2048_8192_SHA256,
        (o, KeyKind::Rsa(_)) if o == SHA384_RSA => &rs::RSA_PKCS1_2048_8192_SHA384,
        (o, KeyKind::Rsa(_)) if o == SHA512_RSA => &rs::RSA_PKCS1_2048_8192_SHA512,
        (o, KeyKind::Rsa(_)) if o == RSA_PSS => pss_for(params)?,
        (o, KeyKind::P256) if o == ECDSA_SHA256 => &rs::ECDSA_P256_SHA256_ASN1,
        (o, KeyKind::P256) if o == ECDSA_SHA384 => &rs::ECDSA_P256_SHA384_ASN1,
        (o, KeyKind::P384) if o == ECDSA_SHA256 => &rs::ECDSA_P384_SHA256_ASN1,
        (o, KeyKind::P384) if o == ECDSA_SHA384 => &rs::ECDSA_P384_SHA384_ASN1,
        (o, KeyKind::P521) if o == ECDSA_SHA256 || o == ECDSA_SHA384 || o == ECDSA_SHA512 => {
            return if p521_verify_prehash(key, &digest_for(o, message), signature) { Ok(()) } else { Err(BAD_SIGNATURE.into()) };
        }
        (o, kind) => return Err(format!("signature algorithm {o} with a {kind} key is not supported")),
    };
    UnparsedPublicKey::new(ring_alg, key).verify(message, signature).map_err(|_| BAD_SIGNATURE.to_string())
}

/// The X.509 signature algorithm a CMS signer used. CMS may name only the key type
/// (rsaEncryption, id-ecPublicKey) and leave the hash to the digest algorithm; then the two
/// are combined. `None` for a digest algorithm other than SHA-256/384/512.
pub fn cms_signature_algorithm(digest: ObjectIdentifier, signature: ObjectIdentifier) -> Option<ObjectIdentifier> {
    let index = [SHA256, SHA384, SHA512].iter().position(|d| *d == digest)?;
    Some(match signature {
        s if s == RSA_ENCRYPTION => [SHA256_RSA, SHA384_RSA, SHA512_RSA][index],
        s if s == EC_PUBLIC_KEY => [ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512][index],
        s => s,
    })
}

/// SHA-256, SHA-384 or SHA-512 of `data`, by the hash algorithm's OID; `None` for another hash.
pub fn hash(algorithm: ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    Some(match algorithm {
        a if a == SHA256 => sha2::Sha256::digest(data).to_vec(),
        a if a == SHA384 => sha2::Sha384::digest(data).to_vec(),
        a if a == SHA512 => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

/// A readable name for the hash algorithms [`hash`] knows.
pub fn hash_name(algorithm: ObjectIdentifier) -> String {
    match algorithm {
        a if a == SHA256 => "SHA-256".into(),
        a if a == SHA384 => "SHA-384".into(),
        a if a == SHA512 => "SHA-512".into(),
        a => a.to_string(),
    }
}

/// RSASSA-PSS parameters name the hash; ring's PSS verifiers use a salt as long as the hash.
fn pss_for(params: Option<&der::Any>) -> Result<&'static dyn VerificationAlgorithm, String> {
    #[derive(der::Sequence)]
    struct PssParams {
        #[asn1(context_specific = "0", optional = "true")]
        hash: Option<spki::AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "1", optional = "true")]
        mgf: Option<spki::AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "2", optional = "true")]
        salt: Option<u32>,
        #[asn1(context_specific = "3", optional = "true")]
        trailer: Option<u32>,
    }
    let params = params.ok_or("RSASSA-PSS signature without parameters")?;
    let p: PssParams = params.decode_as().map_err(|e| format!("RSASSA-PSS parameters do not parse: {e}"))?;
    let hash = p.hash.map(|h| h.oid).ok_or("RSASSA-PSS with the default SHA-1 hash is not allowed")?;
    Ok(match hash {
        h if h == SHA256 => &rs::RSA_PSS_2048_8192_SHA256,
        h if h == SHA384 => &rs::RSA_PSS_2048_8192_SHA384,
        h if h == SHA512 => &rs::RSA_PSS_2048_8192_SHA512,
        h => return Err(format!("RSASSA-PSS hash {h} is not supported")),
    })
}
