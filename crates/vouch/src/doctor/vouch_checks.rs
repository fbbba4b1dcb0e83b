//! Checks of vouch's own configuration: the file, the notation trust policy, the trust store
//! (every certificate parsed, expiry within 30 days a warning), the Rego policy (compiled and
//! evaluated on sample reports) and the cache directory. `vouch sync` runs the same checks on a
//! new configuration before installing it.

use super::Finding;
use crate::config::{self, Config};
use serde_json::json;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use vouch_notation::cert::parse_pem_or_der;
use vouch_notation::trustpolicy::StoreRef;
use vouch_notation::{TrustPolicyDocument, TrustStore};
use vouch_policy::Policy;

/// Certificates expiring sooner than this are reported.
const EXPIRY_WARNING: time::Duration = time::Duration::days(30);

/// Which checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// On the node: everything, including the cache directory.
    Node,
    /// A configuration about to be installed elsewhere (`vouch sync`): not the cache directory.
    Staged,
}

/// The findings, and the configuration when it loaded.
#[derive(Debug)]
pub struct VouchCheck {
    /// What was found.
    pub findings: Vec<Finding>,
    /// The loaded configuration (None when the file is missing or invalid).
    pub config: Option<Config>,
}

/// Checks the configuration at `path` and everything it names.
pub fn check(path: &Path, scope: Scope) -> VouchCheck {
    let cfg = match config::load(path) {
        Ok(c) => c,
        Err(reason) => {
            let fix = if reason.contains("does not exist") {
                "create it (docs/configuration.md), or pass --config with the file vouch uses"
            } else {
                "correct the key the message names (docs/configuration.md)"
            };
            let f = Finding::error(path.display().to_string(), format!("{reason}; vouch denies every pull until it loads"), fix);
            return VouchCheck { findings: vec![f], config: None };
        }
    };
    let mut findings = Vec::new();
    let referenced = match trust_policy(&cfg.settings.trust_policy) {
        Ok(doc) => referenced_stores(&doc),
        Err(f) => {
            findings.push(f);
            Vec::new()
        }
    };
    findings.extend(referenced_store_errors(&cfg.settings.trust_store, &referenced));
    findings.extend(certificates(&cfg.settings.trust_store, &referenced, OffsetDateTime::now_utc()));
    findings.extend(rego(cfg.settings.rego.as_deref()));
    if scope == Scope::Node && cfg.settings.cache.is_some() {
        findings.extend(cache_dir(&cfg.cache_dir));
    }
    VouchCheck { findings, config: Some(cfg) }
}

fn trust_policy(path: &Path) -> Result<TrustPolicyDocument, Finding> {
    let subject = format!("notation.trust_policy ({})", path.display());
    let bytes = std::fs::read(path)
        .map_err(|e| Finding::error(&subject, format!("cannot be read: {e}; vouch denies every pull"), "write notation's trustpolicy.json there, or point notation.trust_policy at it"))?;
    TrustPolicyDocument::parse(&bytes).map_err(|e| Finding::error(&subject, format!("is invalid: {e}; vouch denies every pull"), "fix the document (notation's trust policy format, version 1.0)"))
}

fn referenced_stores(doc: &TrustPolicyDocument) -> Vec<StoreRef> {
    let mut out: Vec<StoreRef> = Vec::new();
    for s in doc.statements().iter().filter(|s| !s.is_skip()) {
        for r in &s.trust_stores {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
    }
    out
}

/// Stores the trust policy names that are missing, empty or hold a file that does not parse.
fn referenced_store_errors(root: &Path, refs: &[StoreRef]) -> Vec<Finding> {
    let store = TrustStore::open(root);
    refs.iter()
        .filter_map(|r| store.certificates(r).err().map(|e| (r, e)))
        .map(|(r, e)| {
            Finding::error(
                format!("notation.trust_store ({})", store.dir(r).display()),
                format!("{e}; images under statements naming {r} are denied"),
                format!("put the PEM certificates of {r} in {}", store.dir(r).display()),
            )
        })
        .collect()
}

/// Every certificate file under `<root>/x509/<type>/<name>/`: parse failures outside the
/// referenced stores (inside them they are errors already), expired and expiring certificates.
fn certificates(root: &Path, referenced: &[StoreRef], now: OffsetDateTime) -> Vec<Finding> {
    let used: HashSet<PathBuf> = referenced.iter().map(|r| TrustStore::open(root).dir(r)).collect();
    let mut out = Vec::new();
    for file in store_files(root) {
        let in_use = file.parent().is_some_and(|d| used.contains(d));
        match std::fs::read(&file).map_err(|e| e.to_string()).and_then(|b| parse_pem_or_der(&b)) {
            Ok(certs) => out.extend(certs.iter().filter_map(|c| expiry(&file, c, in_use, now))),
            Err(e) if !in_use => out.push(Finding::warning(file.display().to_string(), format!("is not a certificate: {e}"), "remove it or replace it with a PEM certificate")),
            Err(_) => {}
        }
    }
    out
}

fn expiry(file: &Path, c: &vouch_notation::cert::Cert, in_use: bool, now: OffsetDateTime) -> Option<Finding> {
    let subject = format!("{} ({})", file.display(), c.subject());
    let not_after = c.not_after();
    let fix = "replace it with a renewed certificate (and re-sign images whose chains end in it)";
    if not_after <= now {
        let problem = format!("expired at {not_after}; signatures chaining to it fail");
        return Some(if in_use { Finding::error(subject, problem, fix) } else { Finding::warning(subject, problem, fix) });
    }
    let days = (not_after - now).whole_days();
    (not_after - now < EXPIRY_WARNING).then(|| Finding::warning(subject, format!("expires in {days} day(s), at {not_after}"), fix))
}

/// `<root>/x509/*/*/*`, sorted.
fn store_files(root: &Path) -> Vec<PathBuf> {
    let list = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d).map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
        v.sort();
        v
    };
    let kinds = list(&root.join("x509"));
    let stores: Vec<PathBuf> = kinds.iter().filter(|p| p.is_dir()).flat_map(|k| list(k)).filter(|p| p.is_dir()).collect();
    stores.iter().flat_map(|s| list(s)).filter(|p| p.is_file()).collect()
}

/// Compiles the Rego policy and evaluates it on a report with one verified signature and on
/// one with none; each must give a boolean.
fn rego(path: Option<&Path>) -> Option<Finding> {
    let path = path?;
    let subject = format!("policy.rego ({})", path.display());
    let fix = "fix the module (package ratify.policy, a boolean `valid`; test it with `vouch policy test`)";
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Some(Finding::error(subject, format!("cannot be read: {e}; vouch denies every pull"), "write the policy there, or remove policy.rego to use the default")),
    };
    let name = path.file_name().map_or_else(|| "policy.rego".into(), |n| n.to_string_lossy().into_owned());
    let mut policy = match Policy::load(&name, &text) {
        Ok(p) => p,
        Err(e) => return Some(Finding::error(subject, format!("{e}; vouch denies every pull"), fix)),
    };
    for input in [sample_input(true), sample_input(false)] {
        if let Err(e) = policy.evaluate(&input, Duration::from_secs(2)) {
            return Some(Finding::error(subject, format!("{e} (on a sample report); images are denied"), fix));
        }
    }
    None
}

/// Ratify's Rego input for an image with one signature, verified or not.
fn sample_input(verified: bool) -> serde_json::Value {
    let result = json!({
        "isSuccess": verified, "message": "sample", "name": "notation", "verifierName": "notation", "type": "notation",
        "extensions": { "Issuer": "CN=sample CA", "SN": "CN=sample signer", "signingScheme": "notary.x509",
                        "trustPolicy": "sample", "userMetadata": {}, "signingTime": "2026-01-01T00:00:00Z" }
    });
    json!({ "verifierReports": [{
        "subject": "registry.example/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "referenceDigest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
        "artifactType": vouch_core::NOTARY_SIGNATURE_ARTIFACT_TYPE,
        "verifierReports": [result], "nestedReports": []
    }]})
}

/// The cache directory (or its nearest existing parent) must be writable; vouch verifies
/// uncached otherwise.
fn cache_dir(dir: &Path) -> Option<Finding> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: access only reads the NUL-terminated path.
    let writable = unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0;
    let is_dir = existing.is_dir();
    (!writable || !is_dir).then(|| {
        Finding::warning(
            format!("cache_dir ({})", dir.display()),
            format!("{} is not a writable directory: vouch verifies every pull uncached", existing.display()),
            "make it a directory writable by root (containerd's user), or set cache_dir elsewhere",
        )
    })
}

/// A warning while the break-glass file exists: every pull is allowed.
pub fn break_glass() -> Option<Finding> {
    let path = crate::break_glass::path();
    std::fs::symlink_metadata(&path).ok()?;
    let reason = std::fs::read_to_string(&path).unwrap_or_default();
    let reason = reason.trim();
    let why = if reason.is_empty() { String::new() } else { format!(" (reason: {reason:?})") };
    Some(Finding::warning(
        path.display().to_string(),
        format!("exists: break-glass is on, vouch allows every pull and only reports verdicts{why}"),
        format!("remove {} once the emergency is over", path.display()),
    ))
}
