//! The verdict cache around a run.
//!
//! The key is computed from file bytes only (configuration, trust policy, every trust-store
//! file, the Rego module, the hosts.toml files of the registry), so a cached verdict is found
//! before any certificate is parsed, any Rego compiled or any TLS configuration built.
//!
//! Only verdicts decided by signatures are stored: allows, and denies of class `signature`
//! whose every signature was fetched and examined. Registry, deadline, configuration and
//! policy failures are never stored, so the cache never turns a failure into a verdict. An
//! allow lives `allow_ttl`, a deny `deny_ttl`, each cut short by the earliest future expiry the
//! report names (see [`EXPIRY_EXTENSIONS`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use vouch_cache::{now_ms, Cache, KeyBuilder, Kind};
use vouch_core::{Deadline, Report};

use crate::{CacheSettings, Progress, Request, Settings};

/// Verifier-result extensions holding an RFC 3339 time after which the verdict may change:
/// the signature's expiry, and (when a verifier reports them) the signing chain's earliest
/// `notAfter` and a revocation answer's next update.
pub const EXPIRY_EXTENSIONS: &[&str] = &["expiry", "certificateNotAfter", "revocationNextUpdate"];

/// Bumped whenever what is stored under a key changes meaning.
const KEY_SCHEMA: &str = "vouch-verdict-1";

/// [`crate::verify`] with the verdict cache.
pub(crate) fn verify_cached(
    settings: &Settings,
    cs: &CacheSettings,
    req: &Request,
    deadline: &Deadline,
    now: OffsetDateTime,
    progress: &Progress,
) -> Report {
    progress.set("looking up the verdict cache");
    let cache = match Cache::open(&cs.dir, cs.max_size) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            log::warn!("{e}; verifying without the cache");
            return crate::run(settings, None, req, deadline, now, progress);
        }
    };
    let key = verdict_key(settings, cs, req);
    let report = match lookup(&cache, &key, Cache::get) {
        Some(hit) => hit,
        None => verify_once(settings, cs, &cache, &key, req, deadline, now, progress),
    };
    cache.finish();
    report
}

/// Verifies under the key's lock, so that concurrent processes for the same image wait for
/// one verification (at most half the time left) and then read its verdict.
#[allow(clippy::too_many_arguments)]
fn verify_once(
    settings: &Settings,
    cs: &CacheSettings,
    cache: &Arc<Cache>,
    key: &str,
    req: &Request,
    deadline: &Deadline,
    now: OffsetDateTime,
    progress: &Progress,
) -> Report {
    progress.set("waiting for another vouch verifying the same image");
    progress.waiting_begins();
    let lock = cache.lock(key, deadline.remaining() / 2);
    // Look again even when the lock came at once: another process may have stored the verdict
    // and let go of the lock between the first look and this one.
    if let Some(hit) = lookup(cache, key, Cache::recheck) {
        return hit;
    }
    let report = crate::run(settings, Some(cache.clone()), req, deadline, now, progress);
    store(cache, key, &report, cs, now);
    drop(lock);
    report
}

/// Everything that can change the answer for this image.
fn verdict_key(settings: &Settings, cs: &CacheSettings, req: &Request) -> String {
    let mut k = KeyBuilder::new()
        .field(KEY_SCHEMA)
        .field(&req.image.registry)
        .field(&req.image.repository)
        .field(req.subject.digest.to_string())
        .field(env!("CARGO_PKG_VERSION"))
        .field(settings.mode.name())
        .field(&cs.config_bytes)
        .file(&settings.trust_policy)
        .tree(&settings.trust_store);
    k = match &settings.rego {
        Some(path) => k.field("rego").file(path),
        None => k.field("rego: embedded default"),
    };
    if let Some(dir) = &settings.registry.hosts_dir {
        k = k.file(&dir.join(&req.image.registry).join("hosts.toml")).file(&dir.join("_default").join("hosts.toml"));
    }
    k.finish()
}

/// The cached report for `key` read with `get`, marked with its age.
fn lookup(cache: &Cache, key: &str, get: fn(&Cache, Kind, &str) -> Option<vouch_cache::Entry>) -> Option<Report> {
    let entry = get(cache, Kind::Verdicts, key)?;
    let mut report: Report = serde_json::from_slice(&entry.body).ok()?;
    report.extra.insert("cached".into(), json!({ "age_s": entry.age_secs(now_ms()) }));
    log::info!("verdict from the cache ({} s old)", entry.age_secs(now_ms()));
    Some(report)
}

fn store(cache: &Cache, key: &str, report: &Report, cs: &CacheSettings, now: OffsetDateTime) {
    let Some(ttl) = time_to_live(report, cs, now) else { return };
    // The lifetime counts from `now`, when verification began, but the cache counts from the
    // write: take off the time verification took, so that no verdict outlives the expiry it
    // was capped by. (Recomputing against the write time instead would miss an expiry that
    // passed during verification and give the verdict the full TTL.)
    let spent = Duration::try_from(OffsetDateTime::now_utc() - now).unwrap_or(Duration::ZERO);
    let Some(left) = ttl.checked_sub(spent).filter(|d| !d.is_zero()) else { return };
    if let Ok(body) = serde_json::to_vec(report) {
        cache.put(Kind::Verdicts, key, &body, Some(left));
    }
}

/// How long `report` may be reused; `None` when it must not be stored.
pub(crate) fn time_to_live(report: &Report, cs: &CacheSettings, now: OffsetDateTime) -> Option<Duration> {
    if !decided_by_signatures(report) {
        return None;
    }
    let ttl = if report.is_success { cs.allow_ttl } else { cs.deny_ttl };
    let ttl = match earliest_expiry(report, now) {
        Some(at) => ttl.min(Duration::try_from(at - now).unwrap_or(Duration::ZERO)),
        None => ttl,
    };
    (!ttl.is_zero()).then_some(ttl)
}

/// An allow, or a `signature` deny in which every listed signature was examined (a signature
/// that could not be fetched makes the deny an infrastructure outcome).
fn decided_by_signatures(report: &Report) -> bool {
    if report.is_success {
        return true;
    }
    if report.extra.get("errorClass").and_then(Value::as_str) != Some("signature") {
        return false;
    }
    report
        .verifier_reports
        .iter()
        .flat_map(|n| n.verifier_reports.iter())
        .all(|v| v.extensions.contains_key("envelopeMediaType"))
}

/// The earliest time after `now` named by any [`EXPIRY_EXTENSIONS`] field.
fn earliest_expiry(report: &Report, now: OffsetDateTime) -> Option<OffsetDateTime> {
    report
        .verifier_reports
        .iter()
        .flat_map(|n| n.verifier_reports.iter())
        .flat_map(|v| EXPIRY_EXTENSIONS.iter().filter_map(|k| v.extensions.get(*k)))
        .filter_map(|t| OffsetDateTime::parse(t.as_str()?, &Rfc3339).ok())
        .filter(|t| *t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;
    use vouch_core::{NestedReport, VerifierResult};

    fn settings() -> CacheSettings {
        CacheSettings {
            dir: "/nonexistent".into(),
            referrers_ttl: Duration::from_secs(60),
            allow_ttl: Duration::from_secs(600),
            deny_ttl: Duration::from_secs(30),
            max_size: 1 << 20,
            config_bytes: Vec::new(),
        }
    }

    fn report(ok: bool, class: Option<&str>, ext: &[(&str, Value)]) -> Report {
        let v = VerifierResult {
            is_success: ok,
            message: String::new(),
            error_reason: None,
            name: "notation".into(),
            verifier_name: None,
            kind: None,
            extensions: ext.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        };
        let nested = NestedReport {
            subject: "s".into(),
            reference_digest: "sha256:00".into(),
            artifact_type: "a".into(),
            verifier_reports: vec![v],
            nested_reports: vec![],
        };
        let mut extra = Map::new();
        if let Some(c) = class {
            extra.insert("errorClass".into(), json!(c));
        }
        Report { is_success: ok, mode: "enforce".into(), subject: "s".into(), reason: "r".into(), verifier_reports: vec![nested], extra }
    }

    fn at(now: OffsetDateTime, secs: i64) -> Value {
        json!((now + time::Duration::seconds(secs)).format(&Rfc3339).unwrap())
    }

    #[test]
    fn only_signature_verdicts_are_stored() {
        let now = OffsetDateTime::now_utc();
        let env = [("envelopeMediaType", json!("application/jose+json"))];
        let cs = settings();
        assert_eq!(time_to_live(&report(true, None, &env), &cs, now), Some(Duration::from_secs(600)));
        assert_eq!(time_to_live(&report(false, Some("signature"), &env), &cs, now), Some(Duration::from_secs(30)));
        for class in ["registry", "deadline", "config", "policy"] {
            assert_eq!(time_to_live(&report(false, Some(class), &env), &cs, now), None, "{class}");
        }
        // A signature that could not be fetched carries no envelope detail.
        assert_eq!(time_to_live(&report(false, Some("signature"), &[]), &cs, now), None);
    }

    #[test]
    fn expiry_caps_the_time_to_live() {
        let now = OffsetDateTime::now_utc();
        let env = ("envelopeMediaType", json!("application/jose+json"));
        let cs = settings();
        let soon = report(true, None, &[env.clone(), ("expiry", at(now, 5))]);
        assert_eq!(time_to_live(&soon, &cs, now), Some(Duration::from_secs(5)));
        let later = report(true, None, &[env.clone(), ("expiry", at(now, 86_400))]);
        assert_eq!(time_to_live(&later, &cs, now), Some(Duration::from_secs(600)));
        let past = report(true, None, &[env.clone(), ("expiry", at(now, -5))]);
        assert_eq!(time_to_live(&past, &cs, now), Some(Duration::from_secs(600)));
        let cert = report(true, None, &[env, ("certificateNotAfter", at(now, 7))]);
        assert_eq!(time_to_live(&cert, &cs, now), Some(Duration::from_secs(7)));
    }
}
