//! The store step: find the image's signature artifacts and fetch their envelopes, then hand
//! each to the verifier. One broken signature never hides a good one: a signature whose
//! manifest or envelope cannot be used becomes a failed entry in the report, while a registry
//! that cannot list signatures at all, or a passed deadline, ends the run.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use vouch_core::{
    Deadline, Descriptor, NestedReport, VerifierResult, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS,
    NOTARY_SIGNATURE_ARTIFACT_TYPE,
};
use vouch_notation::{SignatureOutcome, Verifier};
use vouch_registry::{Client, RegistryError};

use crate::{ErrorClass, Failure, Progress, Request};

/// The signature manifests listed for the subject.
pub(crate) struct Found {
    descriptors: Vec<Descriptor>,
    pub(crate) truncated: bool,
}

/// A signature manifest as far as vouch reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignatureManifest {
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<ConfigRef>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigRef {
    media_type: String,
}

/// A signature envelope fetched from the registry, ready to verify.
#[derive(Debug, Clone)]
pub struct SignatureArtifact {
    /// Digest of the signature manifest.
    pub manifest: Descriptor,
    /// The envelope's media type (`application/jose+json` or `application/cose`).
    pub media_type: String,
    /// The envelope bytes, digest-checked.
    pub envelope: Vec<u8>,
}

fn registry_failure(e: RegistryError) -> Failure {
    let class = if matches!(e, RegistryError::Deadline { .. }) { ErrorClass::Deadline } else { ErrorClass::Registry };
    Failure::new(class, format!("registry: {e}"))
}

/// Lists the subject's Notary Project signature manifests.
pub(crate) fn find(client: &Client, req: &Request, deadline: &Deadline, progress: &Progress) -> Result<Found, Failure> {
    progress.set(format!("listing signatures of {} in {}", req.subject.digest.short(), req.image.registry));
    let referrers = client
        .referrers(&req.image, &req.subject.digest, NOTARY_SIGNATURE_ARTIFACT_TYPE, deadline)
        .map_err(registry_failure)?;
    // Entries that declare another artifact type are not signatures; entries without one are
    // decided from their manifest.
    let descriptors = referrers
        .descriptors
        .into_iter()
        .filter(|d| d.artifact_type.as_deref().is_none_or(|t| t == NOTARY_SIGNATURE_ARTIFACT_TYPE))
        .collect();
    Ok(Found { descriptors, truncated: referrers.truncated })
}

/// Fetches and verifies every listed signature.
pub(crate) fn verify_all(
    verifier: &Verifier,
    client: &Client,
    req: &Request,
    found: &Found,
    deadline: &Deadline,
    now: OffsetDateTime,
    progress: &Progress,
) -> Result<Vec<NestedReport>, Failure> {
    let scope = req.image.scope();
    let mut out = Vec::new();
    let total = found.descriptors.len();
    for (i, desc) in found.descriptors.iter().enumerate() {
        progress.set(format!("fetching signature {} of {total} ({})", i + 1, desc.digest.short()));
        let result = match fetch(client, req, desc, deadline) {
            Ok(Some(artifact)) => {
                progress.set(format!("verifying signature {} of {total} ({})", i + 1, desc.digest.short()));
                let outcome = verifier.verify(&scope, &req.subject, &artifact.media_type, &artifact.envelope, now);
                outcome_result(&outcome, &artifact.media_type)
            }
            Ok(None) => continue,
            Err(Fetch::Fatal(f)) => return Err(f),
            Err(Fetch::Unusable(why)) => failed_result(why),
        };
        out.push(NestedReport {
            subject: req.subject_name(),
            reference_digest: desc.digest.to_string(),
            artifact_type: NOTARY_SIGNATURE_ARTIFACT_TYPE.to_string(),
            verifier_reports: vec![result],
            nested_reports: Vec::new(),
        });
    }
    Ok(out)
}

enum Fetch {
    /// The run cannot go on (deadline).
    Fatal(Failure),
    /// This signature cannot be used; others may.
    Unusable(String),
}

/// Fetches one signature manifest and its envelope. `Ok(None)` when the manifest turns out not
/// to be a Notary Project signature.
fn fetch(client: &Client, req: &Request, desc: &Descriptor, deadline: &Deadline) -> Result<Option<SignatureArtifact>, Fetch> {
    let on_err = |e: RegistryError| match e {
        RegistryError::Deadline { .. } => Fetch::Fatal(registry_failure(e)),
        other => Fetch::Unusable(other.to_string()),
    };
    let bytes = client.fetch_manifest(&req.image, desc, deadline).map_err(on_err)?;
    let Some(layer) = signature_layer(&bytes, desc, &req.subject.digest).map_err(Fetch::Unusable)? else { return Ok(None) };
    let layer = &layer;
    let envelope = client.fetch_blob(&req.image, layer, deadline).map_err(on_err)?;
    Ok(Some(SignatureArtifact { manifest: desc.clone(), media_type: layer.media_type.clone(), envelope }))
}

/// The envelope layer of the signature manifest `bytes` (whose descriptor is `desc`) for the
/// image `subject`: `Ok(None)` when the manifest is not a Notary Project signature, `Err` (the
/// reason) when it is one that cannot be used — not JSON, for another image, without a subject,
/// or without exactly one JWS or COSE layer. Public so that fuzzing and tests reach the exact
/// code a run uses.
pub fn signature_layer(bytes: &[u8], desc: &Descriptor, subject: &vouch_core::Digest) -> Result<Option<Descriptor>, String> {
    let manifest: SignatureManifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("signature manifest {} is not valid JSON: {e}", desc.digest.short()))?;
    let artifact_type = manifest.artifact_type.clone().or_else(|| manifest.config.as_ref().map(|c| c.media_type.clone()));
    if artifact_type.as_deref() != Some(NOTARY_SIGNATURE_ARTIFACT_TYPE) {
        return Ok(None);
    }
    match &manifest.subject {
        Some(s) if s.digest == *subject => {}
        Some(s) => return Err(format!("signature manifest {} is for {}, not for this image", desc.digest.short(), s.digest.short())),
        None => return Err(format!("signature manifest {} has no subject", desc.digest.short())),
    }
    envelope_layer(&manifest, desc).cloned().map(Some)
}

fn envelope_layer<'m>(manifest: &'m SignatureManifest, desc: &Descriptor) -> Result<&'m Descriptor, String> {
    match manifest.layers.as_slice() {
        [layer] if layer.media_type == MEDIA_TYPE_JWS || layer.media_type == MEDIA_TYPE_COSE => Ok(layer),
        [layer] => Err(format!(
            "signature manifest {} has an envelope of unsupported media type {:?} (expected {MEDIA_TYPE_JWS} or {MEDIA_TYPE_COSE})",
            desc.digest.short(),
            layer.media_type
        )),
        layers => Err(format!(
            "signature manifest {} has {} layers, expected exactly one signature envelope",
            desc.digest.short(),
            layers.len()
        )),
    }
}

fn base_result(ok: bool, message: &str, error: Option<String>, extensions: Map<String, Value>) -> VerifierResult {
    VerifierResult {
        is_success: ok,
        message: message.to_string(),
        error_reason: error,
        name: "notation".to_string(),
        verifier_name: Some("notation".to_string()),
        kind: Some("notation".to_string()),
        extensions,
    }
}

fn failed_result(why: String) -> VerifierResult {
    base_result(false, "Notation signature verification failed", Some(why), Map::new())
}

pub(crate) fn rfc3339(t: &Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok()).map_or(Value::Null, Value::String)
}

/// Turns the verifier's outcome into Ratify's result shape: `Issuer` and `SN` under Ratify's
/// names, then vouch's own detail.
fn outcome_result(o: &SignatureOutcome, media_type: &str) -> VerifierResult {
    let mut ext = Map::new();
    if let Some(signer) = &o.signer {
        ext.insert("Issuer".into(), json!(signer.issuer));
        ext.insert("SN".into(), json!(signer.subject));
    }
    ext.insert("signingTime".into(), rfc3339(&o.signing_time));
    if o.expiry.is_some() {
        ext.insert("expiry".into(), rfc3339(&o.expiry));
    }
    if o.chain_not_after.is_some() {
        ext.insert("certificateNotAfter".into(), rfc3339(&o.chain_not_after));
    }
    if let Some(scheme) = &o.signing_scheme {
        ext.insert("signingScheme".into(), json!(scheme));
    }
    ext.insert("envelopeMediaType".into(), json!(media_type));
    ext.insert("trustPolicy".into(), json!(o.policy_name));
    ext.insert("userMetadata".into(), json!(o.user_metadata));
    let checks: Vec<Value> = o
        .checks
        .iter()
        .map(|c| json!({"name": c.name, "action": c.action, "passed": c.passed, "error": c.error, "detail": c.detail}))
        .collect();
    ext.insert("checks".into(), Value::Array(checks));
    let (message, error) = if o.is_success {
        ("Notation signature verification success", None)
    } else {
        let why = o.error.as_ref().map_or_else(|| "signature verification failed".to_string(), |e| e.to_string());
        ("Notation signature verification failed", Some(why))
    };
    base_result(o.is_success, message, error, ext)
}
