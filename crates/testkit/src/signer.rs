//! A development-only Notary Project signer, for tests and the demo: never use it to sign
//! anything that matters (keys live in memory or in plain PEM files).
//!
//! - [`TestCa`] is a self-signed ECDSA P-256 root that issues code-signing leaves.
//! - [`TestSigner`] signs a target descriptor into a JWS ([`TestSigner::sign_jws`]) or COSE
//!   ([`TestSigner::sign_cose`]) envelope laid out as notation lays them out, with knobs
//!   ([`SignOptions`]) to produce the broken envelopes verification must refuse.
//! - [`push_signature`] attaches an envelope to an image as notation 1.x does on a registry
//!   without the referrers API: a signature manifest with a `subject`, listed in the
//!   `sha256-<hex>` tag index.
//! - [`push_demo_image`] and [`write_trust_material`] set up the rest of a verification.

use crate::registry::{get_manifest, push_blob, push_manifest};
use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use coset::cbor::value::Value as Cbor;
use coset::{iana, CborSerializable as _, CoseSign1Builder, HeaderBuilder, RegisteredLabel, TaggedCborSerializable as _};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use vouch_core::digest::hex_encode;
use vouch_core::{
    Descriptor, Digest, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, NOTARY_SIGNATURE_ARTIFACT_TYPE,
};

/// Content type of the Notary Project payload.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// Media type of the OCI empty descriptor (the config of a signature manifest).
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The annotation notation puts on a signature manifest: the chain's SHA-256 thumbprints.
pub const THUMBPRINT_ANNOTATION: &str = "io.cncf.notary.x509chain.thumbprint#S256";

const H_SCHEME: &str = "io.cncf.notary.signingScheme";
const H_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const H_EXPIRY: &str = "io.cncf.notary.expiry";
const EMPTY_BLOB: &[u8] = b"{}";

/// A self-signed ECDSA P-256 root CA.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// What a leaf certificate looks like.
#[derive(Debug, Clone)]
pub struct LeafOptions {
    /// Subject CN.
    pub common_name: String,
    /// Subject O (C=US and ST=WA are always set: notation requires C, ST and O).
    pub organization: String,
    /// notBefore; default one hour ago.
    pub not_before: Option<OffsetDateTime>,
    /// notAfter; default in 365 days.
    pub not_after: Option<OffsetDateTime>,
    /// Use the serverAuth EKU instead of codeSigning (a leaf notation must refuse).
    pub server_auth: bool,
}

impl LeafOptions {
    /// A valid code-signing leaf named `common_name`, organization "vouch-dev".
    pub fn new(common_name: &str) -> LeafOptions {
        LeafOptions {
            common_name: common_name.to_string(),
            organization: "vouch-dev".to_string(),
            not_before: None,
            not_after: None,
            server_auth: false,
        }
    }
}

/// A signing key with its certificate chain (leaf first, then the CA).
#[derive(Clone)]
pub struct TestSigner {
    /// The leaf certificate, DER.
    pub leaf_der: Vec<u8>,
    /// The chain as the envelope carries it: leaf first, root last, DER.
    pub chain: Vec<Vec<u8>>,
    pkcs8: Vec<u8>,
}

/// How to sign, including ways to produce envelopes that must not verify.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// `io.cncf.notary.signingTime`; default now.
    pub signing_time: Option<OffsetDateTime>,
    /// `io.cncf.notary.expiry`, listed in `crit`.
    pub expiry: Option<OffsetDateTime>,
    /// Extra protected headers (name, string value), each listed in `crit`.
    pub extra_critical: Vec<(String, String)>,
    /// The `alg` to claim instead of ES256 (the signature stays ES256).
    pub alg: Option<String>,
    /// The target artifact's annotations (notation's user metadata).
    pub annotations: BTreeMap<String, String>,
    /// Change the payload after signing, so the signature no longer covers it.
    pub tamper_payload: bool,
}

fn name(cn: &str, org: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::StateOrProvinceName, "WA");
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    dn
}

fn random_serial() -> Result<rcgen::SerialNumber> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes).map_err(|_| anyhow::anyhow!("no randomness"))?;
    bytes[0] &= 0x7f;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

impl TestCa {
    /// A new root CA with subject `C=US, ST=WA, O=vouch-dev, CN=<name>`.
    pub fn new(name_cn: &str) -> Result<TestCa> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(name_cn, "vouch-dev");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key).context("self-signing the test CA")?;
        Ok(TestCa { cert, key })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    /// Issues a leaf certificate with a fresh P-256 key.
    pub fn issue_leaf(&self, opts: LeafOptions) -> Result<TestSigner> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&opts.common_name, &opts.organization);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let eku = if opts.server_auth { ExtendedKeyUsagePurpose::ServerAuth } else { ExtendedKeyUsagePurpose::CodeSigning };
        params.extended_key_usages = vec![eku];
        params.not_before = opts.not_before.unwrap_or(now - Duration::hours(1));
        params.not_after = opts.not_after.unwrap_or(now + Duration::days(365));
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        let leaf = params.signed_by(&key, &self.cert, &self.key).context("issuing the leaf")?;
        let leaf_der = leaf.der().to_vec();
        Ok(TestSigner { chain: vec![leaf_der.clone(), self.cert_der()], leaf_der, pkcs8: key.serialize_der() })
    }
}

impl TestSigner {
    /// Rebuilds a signer from a PKCS#8 private key PEM and a certificate chain PEM (leaf first).
    pub fn from_pem(key_pem: &str, chain_pem: &str) -> Result<TestSigner> {
        let pkcs8 = KeyPair::from_pem(key_pem).context("reading the private key")?.serialize_der();
        let chain = pem_blocks(chain_pem, "CERTIFICATE")?;
        let Some(leaf_der) = chain.first().cloned() else { bail!("the chain PEM holds no certificate") };
        key_pair(&pkcs8)?;
        Ok(TestSigner { leaf_der, chain, pkcs8 })
    }

    /// The private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        pem("PRIVATE KEY", &self.pkcs8)
    }

    /// The chain, PEM, leaf first.
    pub fn chain_pem(&self) -> String {
        self.chain.iter().map(|der| pem("CERTIFICATE", der)).collect()
    }

    /// The SHA-256 thumbprints (lowercase hex) of the chain, leaf first.
    pub fn thumbprints(&self) -> Vec<String> {
        self.chain.iter().map(|der| hex_encode(&Sha256::digest(der))).collect()
    }

    /// ECDSA P-256 SHA-256 over `data`, as fixed-size `r||s`.
    pub fn raw_sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        let key = key_pair(&self.pkcs8)?;
        let sig = key.sign(&SystemRandom::new(), data).map_err(|_| anyhow::anyhow!("ECDSA signing failed"))?;
        Ok(sig.as_ref().to_vec())
    }

    /// A Notary Project JWS envelope (flattened JSON serialization) over `target`.
    pub fn sign_jws(&self, target: &Descriptor, opts: &SignOptions) -> Result<Vec<u8>> {
        let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&jws_header(opts)?)?);
        let payload = URL_SAFE_NO_PAD.encode(payload(target, &opts.annotations)?);
        let signature = URL_SAFE_NO_PAD.encode(self.raw_sign(format!("{protected}.{payload}").as_bytes())?);
        let payload = if opts.tamper_payload { URL_SAFE_NO_PAD.encode(tampered(target, &opts.annotations)?) } else { payload };
        let x5c: Vec<String> = self.chain.iter().map(|der| STANDARD.encode(der)).collect();
        let envelope = json!({ "payload": payload, "protected": protected, "header": { "x5c": x5c }, "signature": signature });
        Ok(serde_json::to_vec(&envelope)?)
    }

    /// A Notary Project COSE_Sign1 envelope (tagged CBOR) over `target`.
    pub fn sign_cose(&self, target: &Descriptor, opts: &SignOptions) -> Result<Vec<u8>> {
        let x5chain = Cbor::Array(self.chain.iter().map(|der| Cbor::Bytes(der.clone())).collect());
        let unprotected = HeaderBuilder::new().value(iana::HeaderParameter::X5Chain as i64, x5chain).build();
        let mut failure = None;
        let mut sign1 = CoseSign1Builder::new()
            .protected(cose_header(opts)?)
            .unprotected(unprotected)
            .payload(payload(target, &opts.annotations)?)
            .create_signature(b"", |tbs| {
                self.raw_sign(tbs).unwrap_or_else(|e| {
                    failure = Some(e);
                    Vec::new()
                })
            })
            .build();
        if let Some(e) = failure {
            return Err(e);
        }
        if opts.tamper_payload {
            sign1.payload = Some(tampered(target, &opts.annotations)?);
        }
        sign1.to_tagged_vec().map_err(|e| anyhow::anyhow!("encoding COSE_Sign1: {e:?}"))
    }
}

fn key_pair(pkcs8: &[u8]) -> Result<EcdsaKeyPair> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &SystemRandom::new())
        .map_err(|e| anyhow::anyhow!("the key is not an ECDSA P-256 PKCS#8 key: {e}"))
}

fn signing_time(opts: &SignOptions) -> Result<OffsetDateTime> {
    let t = opts.signing_time.unwrap_or_else(OffsetDateTime::now_utc);
    Ok(t.replace_nanosecond(0)?)
}

fn rfc3339(t: OffsetDateTime) -> Result<String> {
    Ok(t.format(&Rfc3339)?)
}

fn jws_header(opts: &SignOptions) -> Result<Map<String, Value>> {
    let mut crit = vec![json!(H_SCHEME)];
    let mut h = Map::new();
    h.insert("alg".into(), json!(opts.alg.as_deref().unwrap_or("ES256")));
    h.insert("cty".into(), json!(PAYLOAD_CONTENT_TYPE));
    h.insert(H_SCHEME.into(), json!("notary.x509"));
    h.insert(H_SIGNING_TIME.into(), json!(rfc3339(signing_time(opts)?)?));
    if let Some(expiry) = opts.expiry {
        h.insert(H_EXPIRY.into(), json!(rfc3339(expiry.replace_nanosecond(0)?)?));
        crit.push(json!(H_EXPIRY));
    }
    for (name, value) in &opts.extra_critical {
        h.insert(name.clone(), json!(value));
        crit.push(json!(name));
    }
    h.insert("crit".into(), Value::Array(crit));
    Ok(h)
}

fn cose_alg(name: Option<&str>) -> Result<iana::Algorithm> {
    Ok(match name.unwrap_or("ES256") {
        "ES256" => iana::Algorithm::ES256,
        "ES384" => iana::Algorithm::ES384,
        "ES512" => iana::Algorithm::ES512,
        "PS256" => iana::Algorithm::PS256,
        "PS384" => iana::Algorithm::PS384,
        "PS512" => iana::Algorithm::PS512,
        other => bail!("no COSE algorithm named {other}"),
    })
}

fn cbor_time(t: OffsetDateTime) -> Cbor {
    Cbor::Tag(1, Box::new(Cbor::Integer(t.unix_timestamp().into())))
}

fn cose_header(opts: &SignOptions) -> Result<coset::Header> {
    let text = |s: &str| RegisteredLabel::Text(s.to_string());
    let mut h = HeaderBuilder::new()
        .algorithm(cose_alg(opts.alg.as_deref())?)
        .add_critical_label(text(H_SCHEME))
        .content_type(PAYLOAD_CONTENT_TYPE.to_string())
        .text_value(H_SCHEME.into(), Cbor::Text("notary.x509".into()))
        .text_value(H_SIGNING_TIME.into(), cbor_time(signing_time(opts)?));
    if let Some(expiry) = opts.expiry {
        h = h.add_critical_label(text(H_EXPIRY)).text_value(H_EXPIRY.into(), cbor_time(expiry));
    }
    for (name, value) in &opts.extra_critical {
        h = h.add_critical_label(text(name)).text_value(name.clone(), Cbor::Text(value.clone()));
    }
    Ok(h.build())
}

/// The payload `{"targetArtifact":{mediaType, digest, size, annotations?}}`.
fn payload(target: &Descriptor, annotations: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut artifact = json!({ "mediaType": target.media_type, "digest": target.digest, "size": target.size });
    if !annotations.is_empty() {
        artifact["annotations"] = json!(annotations);
    }
    Ok(serde_json::to_vec(&json!({ "targetArtifact": artifact }))?)
}

/// The same target, with one annotation the signer never signed.
fn tampered(target: &Descriptor, annotations: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut changed = annotations.clone();
    changed.insert("tampered".into(), "after signing".into());
    payload(target, &changed)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// The DER contents of every `label` block of a PEM text, in order.
pub fn pem_blocks(text: &str, label: &str) -> Result<Vec<Vec<u8>>> {
    let (begin, end) = (format!("-----BEGIN {label}-----"), format!("-----END {label}-----"));
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let body = &rest[start + begin.len()..];
        let stop = body.find(&end).with_context(|| format!("unterminated {label} PEM block"))?;
        let b64: String = body[..stop].chars().filter(|c| !c.is_whitespace()).collect();
        out.push(STANDARD.decode(b64).with_context(|| format!("{label} PEM block is not base64"))?);
        rest = &body[stop + end.len()..];
    }
    Ok(out)
}

/// Pushes `envelope` as a signature of `subject` in `host/repo`, as notation 1.x does, and lists
/// it in the `sha256-<hex>` tag index (for registries without the referrers API). Returns the
/// signature manifest's descriptor, with its artifact type and annotations.
pub fn push_signature(host: &str, repo: &str, subject: &Descriptor, envelope: &[u8], envelope_media_type: &str) -> Result<Descriptor> {
    push_blob(host, repo, EMPTY_BLOB)?;
    let layer = push_blob(host, repo, envelope)?;
    let mut annotations = BTreeMap::new();
    annotations.insert(THUMBPRINT_ANNOTATION.to_string(), serde_json::to_string(&chain_thumbprints(envelope, envelope_media_type)?)?);
    annotations.insert("org.opencontainers.image.created".to_string(), rfc3339(OffsetDateTime::now_utc().replace_nanosecond(0)?)?);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "artifactType": NOTARY_SIGNATURE_ARTIFACT_TYPE,
        "config": { "mediaType": MEDIA_TYPE_EMPTY, "digest": Digest::sha256_of(EMPTY_BLOB), "size": EMPTY_BLOB.len() },
        "layers": [{ "mediaType": envelope_media_type, "digest": layer.digest, "size": layer.size }],
        "subject": { "mediaType": subject.media_type, "digest": subject.digest, "size": subject.size },
        "annotations": annotations,
    });
    let bytes = serde_json::to_vec(&manifest)?;
    let mut desc = push_manifest(host, repo, &Digest::sha256_of(&bytes).to_string(), MEDIA_TYPE_OCI_MANIFEST, &bytes)?;
    desc.artifact_type = Some(NOTARY_SIGNATURE_ARTIFACT_TYPE.to_string());
    desc.annotations = Some(annotations);
    add_to_tag_index(host, repo, &subject.digest, &desc)?;
    Ok(desc)
}

/// The thumbprints of the chain an envelope carries, read back from the envelope.
fn chain_thumbprints(envelope: &[u8], media_type: &str) -> Result<Vec<String>> {
    let chain: Vec<Vec<u8>> = match media_type {
        MEDIA_TYPE_JWS => {
            let v: Value = serde_json::from_slice(envelope).context("the JWS envelope is not JSON")?;
            let x5c = v["header"]["x5c"].as_array().context("the JWS envelope has no x5c")?;
            x5c.iter().map(|c| Ok(STANDARD.decode(c.as_str().unwrap_or_default())?)).collect::<Result<_>>()?
        }
        MEDIA_TYPE_COSE => cose_chain(envelope)?,
        other => bail!("unknown envelope media type {other}"),
    };
    Ok(chain.iter().map(|der| hex_encode(&Sha256::digest(der))).collect())
}

fn cose_chain(envelope: &[u8]) -> Result<Vec<Vec<u8>>> {
    let sign1 = coset::CoseSign1::from_tagged_slice(envelope)
        .or_else(|_| coset::CoseSign1::from_slice(envelope))
        .map_err(|e| anyhow::anyhow!("the COSE envelope does not parse: {e:?}"))?;
    let label = coset::Label::Int(iana::HeaderParameter::X5Chain as i64);
    let value = sign1.unprotected.rest.iter().find(|(l, _)| *l == label).map(|(_, v)| v.clone());
    match value {
        Some(Cbor::Array(items)) => {
            items.into_iter().map(|i| i.into_bytes().map_err(|_| anyhow::anyhow!("x5chain entry is not bytes"))).collect()
        }
        Some(Cbor::Bytes(one)) => Ok(vec![one]),
        _ => bail!("the COSE envelope has no x5chain"),
    }
}

/// Adds `signature` to the OCI image index tagged `sha256-<hex of subject>`, creating it.
fn add_to_tag_index(host: &str, repo: &str, subject: &Digest, signature: &Descriptor) -> Result<()> {
    let tag = format!("{}-{}", subject.algorithm().name(), subject.hex());
    let mut index = match get_manifest(host, repo, &tag)? {
        Some((bytes, _)) => serde_json::from_slice(&bytes).with_context(|| format!("tag {tag} is not JSON"))?,
        None => json!({ "schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": [] }),
    };
    let list = index["manifests"].as_array_mut().with_context(|| format!("tag {tag} is not an index"))?;
    list.push(serde_json::to_value(signature)?);
    push_manifest(host, repo, &tag, MEDIA_TYPE_OCI_INDEX, &serde_json::to_vec(&index)?)?;
    Ok(())
}

/// Pushes a tiny single-layer image under `host/repo:tag` and returns its manifest descriptor.
/// The image config names the repository and tag, so every (repo, tag) gets its own digest.
pub fn push_demo_image(host: &str, repo: &str, tag: &str) -> Result<Descriptor> {
    let layer_bytes = tar_one_file("hello.txt", format!("hello from {repo}:{tag}\n").as_bytes());
    let layer = push_blob(host, repo, &layer_bytes)?;
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": { "dev.vouch.demo": format!("{repo}:{tag}") } },
        "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let config_desc = push_blob(host, repo, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_desc.digest, "size": config_desc.size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.size }],
    });
    push_manifest(host, repo, tag, MEDIA_TYPE_OCI_MANIFEST, &serde_json::to_vec(&manifest)?)
}

/// An uncompressed ustar archive holding one regular file.
fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut put = |at: usize, field: &[u8]| header[at..at + field.len()].copy_from_slice(field);
    put(0, name.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", content.len()).as_bytes());
    put(136, b"00000000000\0");
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

/// Writes a notation trust policy (one strict statement for `scope`, e.g. `*` or `host/repo`,
/// trusting `ca:<store_name>` and any identity) and a trust store holding `ca_pem`. Returns
/// (the trust policy path, the trust store root).
pub fn write_trust_material(dir: &Path, ca_pem: &str, store_name: &str, scope: &str) -> Result<(PathBuf, PathBuf)> {
    let store_root = dir.join("truststore");
    let store = store_root.join("x509").join("ca").join(store_name);
    std::fs::create_dir_all(&store).with_context(|| format!("creating {}", store.display()))?;
    std::fs::write(store.join(format!("{store_name}.crt")), ca_pem)?;
    let policy = json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": format!("{store_name}-images"),
            "registryScopes": [scope],
            "signatureVerification": { "level": "strict" },
            "trustStores": [format!("ca:{store_name}")],
            "trustedIdentities": ["*"],
        }],
    });
    let policy_path = dir.join("trustpolicy.json");
    std::fs::write(&policy_path, serde_json::to_vec_pretty(&policy)?)?;
    Ok((policy_path, store_root))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Descriptor {
        Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, Digest::sha256_of(b"image"), 5)
    }

    fn decode(envelope: &[u8]) -> (Value, Value, Value) {
        let v: Value = serde_json::from_slice(envelope).unwrap();
        let part = |k: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(v[k].as_str().unwrap()).unwrap()).unwrap();
        (part("protected"), part("payload"), v)
    }

    fn verify(signer: &TestSigner, signed: &[u8], sig: &[u8]) -> bool {
        let key = key_pair(&signer.pkcs8).unwrap();
        let public = ring::signature::KeyPair::public_key(&key).as_ref().to_vec();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public).verify(signed, sig).is_ok()
    }

    #[test]
    fn jws_has_notations_layout_and_a_valid_signature() {
        let ca = TestCa::new("root").unwrap();
        let signer = ca.issue_leaf(LeafOptions::new("dev signer")).unwrap();
        let expiry = OffsetDateTime::now_utc() + Duration::days(1);
        let env = signer.sign_jws(&target(), &SignOptions { expiry: Some(expiry), ..Default::default() }).unwrap();
        let (header, payload, v) = decode(&env);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["cty"], PAYLOAD_CONTENT_TYPE);
        assert_eq!(header["crit"], json!([H_SCHEME, H_EXPIRY]));
        assert_eq!(header[H_SCHEME], "notary.x509");
        assert!(OffsetDateTime::parse(header[H_SIGNING_TIME].as_str().unwrap(), &Rfc3339).is_ok());
        assert_eq!(payload["targetArtifact"]["digest"], target().digest.to_string());
        assert_eq!(payload["targetArtifact"]["size"], 5);
        assert_eq!(v["header"]["x5c"].as_array().unwrap().len(), 2);
        let signed = format!("{}.{}", v["protected"].as_str().unwrap(), v["payload"].as_str().unwrap());
        let sig = URL_SAFE_NO_PAD.decode(v["signature"].as_str().unwrap()).unwrap();
        assert_eq!(sig.len(), 64);
        assert!(verify(&signer, signed.as_bytes(), &sig));
    }

    #[test]
    fn tampering_breaks_the_signature_but_keeps_the_target() {
        let ca = TestCa::new("root").unwrap();
        let signer = ca.issue_leaf(LeafOptions::new("dev signer")).unwrap();
        let env = signer.sign_jws(&target(), &SignOptions { tamper_payload: true, ..Default::default() }).unwrap();
        let (_, payload, v) = decode(&env);
        assert_eq!(payload["targetArtifact"]["digest"], target().digest.to_string());
        let signed = format!("{}.{}", v["protected"].as_str().unwrap(), v["payload"].as_str().unwrap());
        let sig = URL_SAFE_NO_PAD.decode(v["signature"].as_str().unwrap()).unwrap();
        assert!(!verify(&signer, signed.as_bytes(), &sig));
    }

    #[test]
    fn overrides_reach_the_protected_header() {
        let ca = TestCa::new("root").unwrap();
        let signer = ca.issue_leaf(LeafOptions::new("dev signer")).unwrap();
        let opts = SignOptions {
            alg: Some("PS256".into()),
            extra_critical: vec![("io.cncf.notary.unknown".into(), "x".into())],
            ..Default::default()
        };
        let (header, _, _) = decode(&signer.sign_jws(&target(), &opts).unwrap());
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["io.cncf.notary.unknown"], "x");
        assert_eq!(header["crit"], json!([H_SCHEME, "io.cncf.notary.unknown"]));
    }

    #[test]
    fn keys_and_chains_survive_pem() {
        let ca = TestCa::new("root").unwrap();
        let signer = ca.issue_leaf(LeafOptions::new("dev signer")).unwrap();
        let again = TestSigner::from_pem(&signer.key_pem(), &signer.chain_pem()).unwrap();
        assert_eq!(again.chain, signer.chain);
        assert_eq!(again.leaf_der, signer.leaf_der);
        let sig = again.raw_sign(b"data").unwrap();
        assert!(verify(&signer, b"data", &sig));
        assert_eq!(pem_blocks(&ca.cert_pem(), "CERTIFICATE").unwrap(), vec![ca.cert_der()]);
    }

    #[test]
    fn cose_envelope_carries_the_notary_headers() {
        let ca = TestCa::new("root").unwrap();
        let signer = ca.issue_leaf(LeafOptions::new("dev signer")).unwrap();
        let env = signer.sign_cose(&target(), &SignOptions::default()).unwrap();
        let sign1 = coset::CoseSign1::from_tagged_slice(&env).unwrap();
        let h = &sign1.protected.header;
        assert_eq!(h.alg, Some(coset::Algorithm::Assigned(iana::Algorithm::ES256)));
        assert_eq!(h.crit, vec![RegisteredLabel::Text(H_SCHEME.into())]);
        assert!(h.rest.iter().any(|(l, v)| *l == coset::Label::Text(H_SIGNING_TIME.into()) && matches!(v, Cbor::Tag(1, _))));
        assert_eq!(cose_chain(&env).unwrap(), signer.chain);
        let key = key_pair(&signer.pkcs8).unwrap();
        let public = ring::signature::KeyPair::public_key(&key).as_ref().to_vec();
        let pk = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public);
        sign1.verify_signature(b"", |sig, data| pk.verify(data, sig)).unwrap();
    }

    #[test]
    fn tar_header_checksum_is_valid() {
        let t = tar_one_file("a.txt", b"hi\n");
        assert_eq!(t.len(), 512 * 4);
        let mut h = t[..512].to_vec();
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        h[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, h.iter().map(|&b| u32::from(b)).sum::<u32>());
    }
}
