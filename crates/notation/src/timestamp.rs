//! RFC 3161 timestamp countersignatures, verified as the Notary Project requires for
//! `notary.x509` signatures.
//!
//! The token is a CMS `SignedData` (RFC 5652) whose content is a `TSTInfo` (RFC 3161 §2.4.2).
//! It proves that the envelope's signature existed at `genTime ± accuracy` when:
//! the message imprint is the hash of the envelope's signature value; the signer info's signed
//! attributes name `id-ct-TSTInfo` and carry the digest of the `TSTInfo`; the signer's signature
//! over those attributes verifies; the signer's certificate is a timestamping certificate (its
//! only extended key usage is timeStamping, marked critical) and chains, through the token's
//! certificates, to a certificate of a `tsa` trust store, every link valid at `genTime`. The
//! caller then checks the range against the signing certificates ([`Timestamp::check_chain`]).

use crate::cert::{has_usage, Cert};
use crate::chain::{check_ca, check_key, eku_name};
use crate::crypto;
use crate::NotationError;
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::db::rfc5280::{ID_CE_EXT_KEY_USAGE, ID_KP_TIME_STAMPING};
use const_oid::ObjectIdentifier;
use der::asn1::{Int, OctetString};
use der::{Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Tagged, Writer};
use spki::AlgorithmIdentifierOwned;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime};
use x509_cert::attr::Attributes;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::KeyUsages;
use x509_cert::ext::Extensions;

/// Tokens larger than this are refused without parsing.
pub const MAX_TOKEN: usize = 64 * 1024;
/// A token may carry at most this many certificates (and signer infos).
pub const MAX_TOKEN_CERTS: usize = 10;

/// `id-signedData`.
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// `id-ct-TSTInfo`, the content type of a timestamp token.
pub const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// The `content-type` signed attribute.
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// The `message-digest` signed attribute.
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// The ESS `signing-certificate-v2` signed attribute (RFC 5035).
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// `id-sha256`, the default hash of `signing-certificate-v2`.
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// The ETSI baseline timestamp policy (RFC 3628 §5.1): a missing accuracy means one second.
const BASELINE_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.2023.1.1");

/// `TSTInfo` (RFC 3161 §2.4.2): what the TSA asserts.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    /// `v1(1)`.
    pub version: u8,
    /// The TSA policy under which the token was issued.
    pub policy: ObjectIdentifier,
    /// The hash of the timestamped data.
    pub message_imprint: MessageImprint,
    /// The token's serial number.
    pub serial_number: Int,
    /// When the token was created.
    pub gen_time: GenTime,
    /// How far the true time may be from `gen_time`.
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    /// Whether tokens from this TSA can be ordered by `gen_time` alone.
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    /// The requester's nonce.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// The TSA's name.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// Extensions.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// `MessageImprint`: a hash algorithm and the hash of the timestamped data.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct MessageImprint {
    /// The hash algorithm.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hash.
    pub hashed_message: OctetString,
}

/// `Accuracy`: seconds, milliseconds (1..999) and microseconds (1..999), each optional.
#[derive(Clone, Debug, Default, Eq, PartialEq, Sequence)]
pub struct Accuracy {
    /// Whole seconds.
    #[asn1(optional = "true")]
    pub seconds: Option<u64>,
    /// Milliseconds.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    /// Microseconds.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

impl Accuracy {
    /// The accuracy as a duration; `Err` when a part is out of range.
    pub fn duration(&self) -> Result<Duration, String> {
        let secs = self.seconds.unwrap_or(0);
        let secs = i64::try_from(secs).ok().filter(|s| *s <= i64::from(i32::MAX)).ok_or_else(|| format!("accuracy of {secs} seconds is out of range"))?;
        let millis = sub_second(self.millis, "millis")?;
        let micros = sub_second(self.micros, "micros")?;
        Ok(Duration::seconds(secs) + Duration::milliseconds(millis) + Duration::microseconds(micros))
    }
}

fn sub_second(value: Option<u16>, name: &str) -> Result<i64, String> {
    match value {
        Some(v) if v > 999 => Err(format!("accuracy {name} is {v}, outside 1..999")),
        Some(v) => Ok(i64::from(v)),
        None => Ok(0),
    }
}

/// A `GeneralizedTime` as TSAs write it: `YYYYMMDDHHMMSS[.fraction]Z`. (RFC 5280 forbids the
/// fraction in certificates; RFC 3161 allows it in `genTime`.)
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GenTime {
    text: String,
    /// The instant.
    pub time: OffsetDateTime,
}

impl GenTime {
    /// Parses the text form; `None` unless it is `YYYYMMDDHHMMSS[.f…]Z`.
    pub fn parse(text: &str) -> Option<GenTime> {
        let body = text.strip_suffix('Z')?;
        let (whole, fraction) = match body.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (body, None),
        };
        if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let num = |range: std::ops::Range<usize>| whole[range].parse::<u16>().ok();
        let date = Date::from_calendar_date(i32::from(num(0..4)?), Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?, u8::try_from(num(6..8)?).ok()?).ok()?;
        let nanos = match fraction {
            Some(f) => fraction_nanos(f)?,
            None => 0,
        };
        let time = time::Time::from_hms_nano(u8::try_from(num(8..10)?).ok()?, u8::try_from(num(10..12)?).ok()?, u8::try_from(num(12..14)?).ok()?, nanos).ok()?;
        Some(GenTime { text: text.to_string(), time: PrimitiveDateTime::new(date, time).assume_utc() })
    }
}

/// Nanoseconds of a decimal fraction of 1 to 9 digits.
fn fraction_nanos(f: &str) -> Option<u32> {
    if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = f.parse().ok()?;
    Some(value * 10u32.pow(9 - f.len() as u32))
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_vec(header.length)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Self::TAG.value_error())?;
        GenTime::parse(text).ok_or_else(|| Self::TAG.value_error())
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.text.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.text.as_bytes())
    }
}

/// `SigningCertificateV2` (RFC 5035): hashes of the signer's certificate.
#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<der::Any>,
}

/// `ESSCertIDv2`.
#[derive(Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<der::Any>,
}

/// When the TSA says the signature existed: `gen_time ± accuracy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// The token's `genTime`.
    pub gen_time: OffsetDateTime,
    /// The accuracy applied on both sides.
    pub accuracy: Duration,
    /// `gen_time - accuracy`.
    pub earliest: OffsetDateTime,
    /// `gen_time + accuracy`.
    pub latest: OffsetDateTime,
}

impl Timestamp {
    /// The range of `info`: its accuracy, or one second for the baseline policy without one.
    pub fn of(info: &TstInfo) -> Result<Timestamp, String> {
        let mut accuracy = info.accuracy.clone().unwrap_or_default().duration()?;
        if accuracy.is_zero() && info.policy == BASELINE_POLICY {
            accuracy = Duration::SECOND;
        }
        let gen_time = info.gen_time.time;
        let out_of_range = || format!("genTime {gen_time} ± {accuracy} is out of range");
        let earliest = gen_time.checked_sub(accuracy).ok_or_else(out_of_range)?;
        let latest = gen_time.checked_add(accuracy).ok_or_else(out_of_range)?;
        Ok(Timestamp { gen_time, accuracy, earliest, latest })
    }

    /// The whole range must lie within every certificate's validity.
    pub fn check_chain(&self, chain: &[Cert]) -> Result<(), NotationError> {
        for cert in chain {
            if self.earliest < cert.not_before() {
                return Err(NotationError::TimestampBeforeCertValidity {
                    subject: cert.subject(),
                    not_before: cert.not_before(),
                    earliest: self.earliest,
                });
            }
            if self.latest > cert.not_after() {
                return Err(NotationError::TimestampAfterCertValidity {
                    subject: cert.subject(),
                    not_after: cert.not_after(),
                    latest: self.latest,
                });
            }
        }
        Ok(())
    }
}

fn invalid(reason: impl Into<String>) -> NotationError {
    NotationError::TimestampInvalid { reason: reason.into() }
}

/// A timestamp token that parsed: its signed data, the `TSTInfo` bytes as signed, the decoded
/// `TSTInfo` and the certificates it carries. Nothing is verified yet.
#[derive(Debug, Clone)]
pub struct TimestampToken {
    signed: SignedData,
    content: Vec<u8>,
    info: TstInfo,
    certs: Vec<Cert>,
}

impl TimestampToken {
    /// Parses a DER `TimeStampToken` (a `ContentInfo` holding `SignedData` over a `TSTInfo`).
    pub fn parse(der: &[u8]) -> Result<TimestampToken, NotationError> {
        if der.len() > MAX_TOKEN {
            return Err(invalid(format!("the token is {} bytes, more than the limit of {MAX_TOKEN}", der.len())));
        }
        let info = ContentInfo::from_der(der).map_err(|e| invalid(format!("not a DER CMS ContentInfo: {e}")))?;
        if info.content_type != ID_SIGNED_DATA {
            return Err(invalid(format!("content type {} is not id-signedData (1.2.840.113549.1.7.2)", info.content_type)));
        }
        let signed: SignedData = info.content.decode_as().map_err(|e| invalid(format!("not a DER CMS SignedData: {e}")))?;
        let econtent = &signed.encap_content_info;
        if econtent.econtent_type != ID_CT_TST_INFO {
            return Err(invalid(format!(
                "unexpected content type: {}. Expected to be id-ct-TSTInfo ({ID_CT_TST_INFO})",
                econtent.econtent_type
            )));
        }
        let content = match &econtent.econtent {
            Some(any) if any.tag() == Tag::OctetString => any.value().to_vec(),
            Some(any) => return Err(invalid(format!("the TSTInfo is wrapped in a {} rather than an OCTET STRING", any.tag()))),
            None => return Err(invalid("the token carries no TSTInfo (detached content)")),
        };
        let tst = TstInfo::from_der(&content).map_err(|e| invalid(format!("invalid TSTInfo: {e}")))?;
        let certs = token_certificates(&signed)?;
        if signed.signer_infos.0.len() > MAX_TOKEN_CERTS {
            return Err(invalid(format!("the token has {} signer infos, more than {MAX_TOKEN_CERTS}", signed.signer_infos.0.len())));
        }
        Ok(TimestampToken { signed, content, info: tst, certs })
    }

    /// The decoded `TSTInfo`.
    pub fn info(&self) -> &TstInfo {
        &self.info
    }

    /// The certificates the token carries.
    pub fn certificates(&self) -> &[Cert] {
        &self.certs
    }

    /// Checks `TSTInfo` against the timestamped `message` (the envelope's signature value) and
    /// returns its time range.
    pub fn timestamp_of(&self, message: &[u8]) -> Result<Timestamp, NotationError> {
        if self.info.version != 1 {
            return Err(invalid(format!("invalid TSTInfo: version is {}, not 1", self.info.version)));
        }
        let imprint = &self.info.message_imprint;
        let alg = imprint.hash_algorithm.oid;
        let hash = crypto::hash(alg, message)
            .ok_or_else(|| invalid(format!("invalid TSTInfo: message imprint hash algorithm {alg} is not supported (SHA-256/384/512 only)")))?;
        if hash != imprint.hashed_message.as_bytes() {
            return Err(invalid(format!(
                "invalid TSTInfo: mismatched message: the message imprint is not the {} of the envelope's signature",
                crypto::hash_name(alg)
            )));
        }
        Timestamp::of(&self.info).map_err(|e| invalid(format!("invalid TSTInfo: {e}")))
    }

    /// Verifies the token's signature and that its signer chains to one of `trusted` (the
    /// certificates of `stores`), every certificate valid at `genTime`. Returns the TSA chain,
    /// signer first. The first signer info that verifies wins.
    pub fn verify(&self, trusted: &[Cert], stores: &str) -> Result<Vec<Cert>, NotationError> {
        let mut last = invalid("the token has no signer info");
        for signer_info in self.signed.signer_infos.0.iter() {
            match self.verify_signer(signer_info, trusted, stores) {
                Ok(chain) => return Ok(chain),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn verify_signer(&self, si: &SignerInfo, trusted: &[Cert], stores: &str) -> Result<Vec<Cert>, NotationError> {
        let signer = self.signer_certificate(&si.sid)?;
        self.check_signature(si, signer)?;
        let chain = build_chain(signer, &self.certs, trusted)
            .map_err(|reason| NotationError::TimestampNotTrusted { stores: stores.to_string(), reason })?;
        validate_tsa_chain(&chain, self.info.gen_time.time).map_err(|e| invalid(format!("TSA {e}")))?;
        Ok(chain)
    }

    fn signer_certificate(&self, sid: &SignerIdentifier) -> Result<&Cert, NotationError> {
        let found = match sid {
            SignerIdentifier::IssuerAndSerialNumber(id) => self.certs.iter().find(|c| {
                let tbs = &c.parsed.tbs_certificate;
                tbs.issuer == id.issuer && tbs.serial_number == id.serial_number
            }),
            SignerIdentifier::SubjectKeyIdentifier(ski) => self
                .certs
                .iter()
                .find(|c| c.subject_key_identifier().ok().flatten().as_deref() == Some(ski.0.as_bytes())),
        };
        found.ok_or_else(|| invalid("signing certificate not found in the timestamp token"))
    }

    /// The signed attributes must name `id-ct-TSTInfo` and carry the `TSTInfo` digest; the
    /// signature covers their DER encoding as a SET OF.
    fn check_signature(&self, si: &SignerInfo, signer: &Cert) -> Result<(), NotationError> {
        let attrs = si.signed_attrs.as_ref().ok_or_else(|| invalid("the signer info has no signed attributes"))?;
        let digest_alg = si.digest_alg.oid;
        let digest = crypto::hash(digest_alg, &self.content)
            .ok_or_else(|| invalid(format!("digest algorithm {digest_alg} is not supported (SHA-256/384/512 only)")))?;
        check_signed_attributes(attrs, &digest).map_err(invalid)?;
        check_signing_certificate(attrs, signer).map_err(invalid)?;
        let alg = crypto::cms_signature_algorithm(digest_alg, si.signature_algorithm.oid)
            .ok_or_else(|| invalid(format!("signature algorithm {} is not supported", si.signature_algorithm.oid)))?;
        let signed = attrs.to_der().map_err(|e| invalid(format!("signed attributes do not encode: {e}")))?;
        crypto::verify_signature(signer, alg, si.signature_algorithm.parameters.as_ref(), &signed, si.signature.as_bytes())
            .map_err(|e| invalid(format!("the token's signature by {:?}: {e}", signer.subject())))
    }
}

/// The token's X.509 certificates (other certificate formats are ignored), at most
/// [`MAX_TOKEN_CERTS`].
fn token_certificates(signed: &SignedData) -> Result<Vec<Cert>, NotationError> {
    let Some(set) = &signed.certificates else { return Ok(Vec::new()) };
    if set.0.len() > MAX_TOKEN_CERTS {
        return Err(invalid(format!("the token carries {} certificates, more than the limit of {MAX_TOKEN_CERTS}", set.0.len())));
    }
    let mut certs = Vec::new();
    for (i, choice) in set.0.iter().enumerate() {
        if let CertificateChoices::Certificate(c) = choice {
            let der = c.to_der().map_err(|e| invalid(format!("token certificate {i}: {e}")))?;
            certs.push(Cert::from_der(&der).map_err(|e| invalid(format!("token certificate {i}: {e}")))?);
        }
    }
    Ok(certs)
}

/// The single value of the signed attribute `oid`.
fn single_attribute(attrs: &Attributes, oid: ObjectIdentifier, name: &str) -> Result<der::Any, String> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let attr = found.next().ok_or_else(|| format!("the signed attributes have no {name}"))?;
    if found.next().is_some() || attr.values.len() != 1 {
        return Err(format!("the signed attribute {name} must appear once with one value"));
    }
    Ok(attr.values.iter().next().cloned().expect("one value"))
}

fn check_signed_attributes(attrs: &Attributes, digest: &[u8]) -> Result<(), String> {
    let content_type: ObjectIdentifier = single_attribute(attrs, ID_CONTENT_TYPE, "content-type")?
        .decode_as()
        .map_err(|e| format!("content-type attribute: {e}"))?;
    if content_type != ID_CT_TST_INFO {
        return Err(format!("the content-type attribute is {content_type}, not id-ct-TSTInfo ({ID_CT_TST_INFO})"));
    }
    let signed_digest: OctetString = single_attribute(attrs, ID_MESSAGE_DIGEST, "message-digest")?
        .decode_as()
        .map_err(|e| format!("message-digest attribute: {e}"))?;
    if signed_digest.as_bytes() != digest {
        return Err("the message-digest attribute does not match the TSTInfo".into());
    }
    Ok(())
}

/// When the ESS `signing-certificate-v2` attribute is present, its first certificate hash must be
/// the signer certificate's.
fn check_signing_certificate(attrs: &Attributes, signer: &Cert) -> Result<(), String> {
    if !attrs.iter().any(|a| a.oid == ID_SIGNING_CERTIFICATE_V2) {
        return Ok(());
    }
    let value: SigningCertificateV2 = single_attribute(attrs, ID_SIGNING_CERTIFICATE_V2, "signing-certificate-v2")?
        .decode_as()
        .map_err(|e| format!("signing-certificate-v2 attribute: {e}"))?;
    let first = value.certs.first().ok_or("the signing-certificate-v2 attribute lists no certificate")?;
    let alg = first.hash_algorithm.as_ref().map_or(ID_SHA256, |a| a.oid);
    let hash = crypto::hash(alg, &signer.der).ok_or_else(|| format!("signing-certificate-v2 hash algorithm {alg} is not supported"))?;
    if hash != first.cert_hash.as_bytes() {
        return Err(format!("the signing-certificate-v2 attribute does not name the signer certificate {:?}", signer.subject()));
    }
    Ok(())
}

/// True when `by` issued `cert`: names match and `by`'s key verifies `cert`'s signature.
fn issued_by(cert: &Cert, by: &Cert) -> bool {
    cert.parsed.tbs_certificate.issuer == by.parsed.tbs_certificate.subject && crypto::verify_issued_by(cert, by).is_ok()
}

/// The path from `signer` through `pool` to a certificate of `trusted`, signer first.
/// Trusted issuers are preferred at every step. `Err` names where the path stopped.
fn build_chain(signer: &Cert, pool: &[Cert], trusted: &[Cert]) -> Result<Vec<Cert>, String> {
    let mut chain = vec![signer.clone()];
    loop {
        let last = chain.last().expect("never empty");
        if trusted.contains(last) {
            return Ok(chain);
        }
        if let Some(anchor) = trusted.iter().find(|t| issued_by(last, t)) {
            chain.push(anchor.clone());
            return Ok(chain);
        }
        let unknown = || {
            let detail = if last.names_itself() {
                format!("the chain ends at the root {:?}, which is not in the store", last.subject())
            } else {
                format!("no certificate of the token or the store issued {:?} (issuer {:?})", last.subject(), last.issuer())
            };
            format!("certificate signed by unknown authority: {detail}")
        };
        if chain.len() > MAX_TOKEN_CERTS || last.names_itself() {
            return Err(unknown());
        }
        let next = pool.iter().find(|c| !chain.contains(c) && issued_by(last, c)).ok_or_else(unknown)?;
        chain.push(next.clone());
    }
}

fn chain_invalid(cert: &Cert, reason: impl Into<String>) -> NotationError {
    NotationError::ChainInvalid { subject: cert.subject(), reason: reason.into() }
}

/// The timestamping chain rules: allowed keys, no unknown critical extension, a timestamping
/// leaf, CA certificates above it, a self-signed root, and every certificate valid at `at`.
fn validate_tsa_chain(chain: &[Cert], at: OffsetDateTime) -> Result<(), NotationError> {
    for (i, cert) in chain.iter().enumerate() {
        check_key(cert)?;
        if let Some(oid) = cert.unknown_critical_extensions().first() {
            return Err(chain_invalid(cert, format!("unknown critical extension {oid}")));
        }
        if i == 0 {
            check_tsa_leaf(cert)?;
        } else {
            check_ca(cert, i - 1)?;
        }
        if at < cert.not_before() || at > cert.not_after() {
            return Err(chain_invalid(
                cert,
                format!("not valid at the timestamp's genTime {at} (valid from {} to {})", cert.not_before(), cert.not_after()),
            ));
        }
    }
    let root = chain.last().expect("never empty");
    if !root.names_itself() || crypto::verify_issued_by(root, root).is_err() {
        return Err(chain_invalid(root, "the trusted certificate ending the chain is not a self-signed root"));
    }
    Ok(())
}

/// RFC 3161 §2.3: the TSA certificate's only extended key usage is timeStamping, and the
/// extension is critical. It is no CA and may sign (digitalSignature).
fn check_tsa_leaf(cert: &Cert) -> Result<(), NotationError> {
    if let Some((true, _)) = cert.basic_constraints().map_err(|e| chain_invalid(cert, e))? {
        return Err(chain_invalid(cert, "the timestamping certificate is a CA (basicConstraints CA:TRUE)"));
    }
    let usage = cert.key_usage().map_err(|e| chain_invalid(cert, e))?;
    match usage {
        Some(u) if has_usage(&u, KeyUsages::DigitalSignature) => {}
        Some(_) => return Err(chain_invalid(cert, "keyUsage of the timestamping certificate lacks digitalSignature")),
        None => return Err(chain_invalid(cert, "the timestamping certificate has no keyUsage extension")),
    }
    let ekus = cert.extended_key_usage().map_err(|e| chain_invalid(cert, e))?.unwrap_or_default();
    if ekus != [ID_KP_TIME_STAMPING] {
        let found: Vec<String> = ekus.iter().map(eku_name).collect();
        return Err(chain_invalid(cert, format!("extended key usage must be timeStamping only, found [{}]", found.join(", "))));
    }
    if cert.is_critical(ID_CE_EXT_KEY_USAGE) != Some(true) {
        return Err(chain_invalid(cert, "the timeStamping extended key usage extension must be critical"));
    }
    Ok(())
}

/// Verifies `token` as the timestamp countersignature of `signature` (the envelope's signature
/// value) against `trusted`, the certificates of the `tsa` stores named `stores`. Returns the
/// asserted time range; the caller checks it against the signing certificates.
pub fn verify(token: &[u8], signature: &[u8], trusted: &[Cert], stores: &str) -> Result<Timestamp, NotationError> {
    let parsed = TimestampToken::parse(token)?;
    let ts = parsed.timestamp_of(signature)?;
    parsed.verify(trusted, stores)?;
    Ok(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tst(accuracy: Option<Accuracy>, policy: &str) -> TstInfo {
        TstInfo {
            version: 1,
            policy: ObjectIdentifier::new_unwrap(policy),
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned { oid: ID_SHA256, parameters: None },
                hashed_message: OctetString::new(crypto::hash(ID_SHA256, b"signature").unwrap()).unwrap(),
            },
            serial_number: Int::new(&[0x01, 0x02]).unwrap(),
            gen_time: GenTime::parse("20240618062937.5Z").unwrap(),
            accuracy,
            ordering: false,
            nonce: None,
            tsa: None,
            extensions: None,
        }
    }

    #[test]
    fn generalized_time_with_and_without_fraction() {
        let t = GenTime::parse("20240618062937Z").unwrap();
        assert_eq!(t.time, time::macros::datetime!(2024-06-18 06:29:37 UTC));
        let t = GenTime::parse("20250121091746.641Z").unwrap();
        assert_eq!(t.time, time::macros::datetime!(2025-01-21 09:17:46.641 UTC));
        for bad in ["20240618062937", "2024061806293Z", "20241318062937Z", "20240618062937.Z", "20240618062937+0100", "2024061806293aZ"] {
            assert!(GenTime::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tstinfo_round_trips_through_der() {
        let accuracy = Accuracy { seconds: Some(1), millis: Some(500), micros: None };
        let info = tst(Some(accuracy), "1.2.3.4");
        let der = info.to_der().unwrap();
        let back = TstInfo::from_der(&der).unwrap();
        assert_eq!(back, info);
        assert_eq!(back.gen_time.time, time::macros::datetime!(2024-06-18 06:29:37.5 UTC));
    }

    #[test]
    fn accuracy_widens_the_range_on_both_sides() {
        let info = tst(Some(Accuracy { seconds: Some(2), millis: Some(250), micros: Some(10) }), "1.2.3.4");
        let ts = Timestamp::of(&info).unwrap();
        assert_eq!(ts.accuracy, Duration::seconds(2) + Duration::milliseconds(250) + Duration::microseconds(10));
        assert_eq!(ts.earliest, ts.gen_time - ts.accuracy);
        assert_eq!(ts.latest, ts.gen_time + ts.accuracy);
    }

    #[test]
    fn missing_accuracy_is_zero_except_under_the_baseline_policy() {
        assert_eq!(Timestamp::of(&tst(None, "1.2.3.4")).unwrap().accuracy, Duration::ZERO);
        assert_eq!(Timestamp::of(&tst(None, "0.4.0.2023.1.1")).unwrap().accuracy, Duration::SECOND);
        let explicit = Accuracy { seconds: None, millis: Some(3), micros: None };
        assert_eq!(Timestamp::of(&tst(Some(explicit), "0.4.0.2023.1.1")).unwrap().accuracy, Duration::milliseconds(3));
    }

    #[test]
    fn out_of_range_accuracy_is_refused() {
        assert!(Accuracy { seconds: None, millis: Some(1000), micros: None }.duration().is_err());
        assert!(Accuracy { seconds: None, millis: None, micros: Some(1000) }.duration().is_err());
        assert!(Accuracy { seconds: Some(u64::MAX), millis: None, micros: None }.duration().is_err());
    }

    #[test]
    fn accuracy_decodes_its_implicit_tags() {
        // SEQUENCE { INTEGER 1, [0] 500, [1] 7 }
        let der = [0x30, 0x0a, 0x02, 0x01, 0x01, 0x80, 0x02, 0x01, 0xf4, 0x81, 0x01, 0x07];
        let a = Accuracy::from_der(&der).unwrap();
        assert_eq!(a, Accuracy { seconds: Some(1), millis: Some(500), micros: Some(7) });
        // Only millis.
        let a = Accuracy::from_der(&[0x30, 0x03, 0x80, 0x01, 0x05]).unwrap();
        assert_eq!(a.duration().unwrap(), Duration::milliseconds(5));
    }

    #[test]
    fn garbage_and_oversized_tokens_are_refused() {
        assert!(matches!(TimestampToken::parse(b"invalid\n"), Err(NotationError::TimestampInvalid { .. })));
        let big = vec![0x30; MAX_TOKEN + 1];
        let err = TimestampToken::parse(&big).unwrap_err().to_string();
        assert!(err.contains("more than the limit"), "{err}");
    }
}
