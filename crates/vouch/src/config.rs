//! vouch's configuration file (TOML), resolved to explicit paths.
//!
//! Relative paths in the file are taken relative to the file's directory, so nothing depends on
//! the working directory, HOME or PATH of the process containerd starts.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vouch_pipeline::{CacheSettings, Mode, Settings};
use vouch_registry::RegistryOptions;

/// Where the configuration lives when neither `--config` nor `VOUCH_CONFIG` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/vouch/config.toml";
/// Default `timeout`: below containerd's default `per_verifier_timeout` of 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    mode: Option<String>,
    cache_dir: Option<PathBuf>,
    timeout: Option<String>,
    #[serde(default)]
    registry: RegistrySection,
    #[serde(default)]
    notation: NotationSection,
    #[serde(default)]
    policy: PolicySection,
    #[serde(default)]
    cache: CacheSection,
    #[serde(default)]
    auth: crate::auth_config::AuthSection,
    audit_log: Option<PathBuf>,
    audit_log_max: Option<SizeValue>,
    #[serde(default)]
    allow: crate::allow_config::AllowSection,
    #[serde(default)]
    on_error: crate::on_error::OnErrorSection,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RegistrySection {
    hosts_dir: Option<PathBuf>,
    max_signatures: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NotationSection {
    trust_policy: Option<PathBuf>,
    trust_store: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PolicySection {
    rego: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    enabled: Option<bool>,
    referrers_ttl: Option<String>,
    allow_ttl: Option<String>,
    deny_ttl: Option<String>,
    max_size: Option<SizeValue>,
}

/// `max_size` as a number of bytes or a string with a unit (`"256MiB"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

/// Default `[cache] referrers_ttl`.
pub const DEFAULT_REFERRERS_TTL: Duration = Duration::from_secs(60);
/// Default `[cache] allow_ttl`.
pub const DEFAULT_ALLOW_TTL: Duration = Duration::from_secs(600);
/// Default `[cache] deny_ttl`.
pub const DEFAULT_DENY_TTL: Duration = Duration::from_secs(30);

/// The loaded configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Everything the pipeline needs.
    pub settings: Settings,
    /// The run's time budget.
    pub timeout: Duration,
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// `[cache] max_size` in bytes.
    pub cache_max_size: u64,
    /// `[on_error]`: what infrastructure failures do.
    pub on_error: crate::on_error::OnError,
    /// `audit_log` and `audit_log_max`; `None` when no audit log is kept.
    pub audit_log: Option<crate::audit_log::AuditLogSettings>,
}

/// Which file to read: `--config`, else `VOUCH_CONFIG`, else the default path.
pub fn path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("VOUCH_CONFIG") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_PATH),
    }
}

/// Reads and validates the configuration; the error is one sentence naming the file.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "configuration file {} does not exist (create it, or point VOUCH_CONFIG or --config at one; see docs/configuration.md)",
                path.display()
            ))
        }
        Err(e) => return Err(format!("cannot read configuration file {}: {e}", path.display())),
    };
    let file: File = toml::from_str(&text)
        .map_err(|e| format!("configuration file {} is invalid: {}", path.display(), one_line(&e.to_string())))?;
    resolve(path, file, text.as_bytes()).map_err(|e| format!("configuration file {}: {e}", path.display()))
}

/// The configuration an empty file at the default path gives (for `vouch verify` in CI).
pub fn defaults() -> Result<Config, String> {
    resolve(Path::new(DEFAULT_PATH), File::default(), b"")
}

fn resolve(path: &Path, f: File, bytes: &[u8]) -> Result<Config, String> {
    let base = path.parent().unwrap_or(Path::new("/"));
    let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let mode = match f.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("audit") => Mode::Audit,
        Some(other) => return Err(format!("mode = {other:?} is not one of \"enforce\", \"audit\"")),
    };
    let timeout = match f.timeout.as_deref() {
        None => DEFAULT_TIMEOUT,
        Some(t) => parse_timeout(t)?,
    };
    let registry = RegistryOptions {
        hosts_dir: Some(abs(f.registry.hosts_dir.unwrap_or_else(|| "/etc/containerd/certs.d".into()))),
        max_signatures: f.registry.max_signatures.unwrap_or(100),
        ..RegistryOptions::default()
    };
    if registry.max_signatures == 0 {
        return Err("registry.max_signatures must be at least 1".into());
    }
    let settings = Settings {
        mode,
        registry,
        trust_policy: abs(f.notation.trust_policy.unwrap_or_else(|| "/etc/vouch/notation/trustpolicy.json".into())),
        trust_store: abs(f.notation.trust_store.unwrap_or_else(|| "/etc/vouch/notation/truststore".into())),
        rego: f.policy.rego.map(abs),
        cache: None,
        allow: crate::allow_config::resolve(&f.allow)?,
    };
    let cache_dir = abs(f.cache_dir.unwrap_or_else(|| "/var/lib/vouch".into()));
    let mut settings = settings;
    settings.registry.auth = crate::auth_config::resolve(f.auth, base, &cache_dir)?;
    let cache = cache_settings(&f.cache, &cache_dir, bytes)?;
    let cache_max_size = cache.max_size;
    let settings = Settings { cache: f.cache.enabled.unwrap_or(true).then_some(cache), ..settings };
    let on_error = crate::on_error::resolve(&f.on_error)?;
    let audit_log = audit_log_settings(f.audit_log.map(abs), &f.audit_log_max)?;
    Ok(Config { settings, timeout, cache_dir, cache_max_size, on_error, audit_log })
}

fn cache_settings(c: &CacheSection, dir: &Path, config_bytes: &[u8]) -> Result<CacheSettings, String> {
    let ttl = |key: &str, v: &Option<String>, default: Duration| match v {
        None => Ok(default),
        Some(t) => parse_ttl(key, t),
    };
    let max_size = match &c.max_size {
        None => vouch_cache::DEFAULT_MAX_SIZE,
        Some(SizeValue::Bytes(n)) => *n,
        Some(SizeValue::Text(t)) => parse_size("cache.max_size", t)?,
    };
    Ok(CacheSettings {
        dir: dir.to_path_buf(),
        referrers_ttl: ttl("referrers_ttl", &c.referrers_ttl, DEFAULT_REFERRERS_TTL)?,
        allow_ttl: ttl("allow_ttl", &c.allow_ttl, DEFAULT_ALLOW_TTL)?,
        deny_ttl: ttl("deny_ttl", &c.deny_ttl, DEFAULT_DENY_TTL)?,
        max_size,
        config_bytes: config_bytes.to_vec(),
    })
}

/// A cache lifetime: `"0s"` (do not reuse) up to a day.
fn parse_ttl(key: &str, t: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(t).map_err(|e| format!("cache.{key} = {t:?} is not a duration like \"60s\": {e}"))?;
    if d > Duration::from_secs(86_400) {
        return Err(format!("cache.{key} = {t:?} must be at most 24h"));
    }
    Ok(d)
}

/// `"256MiB"`, `"1G"`, `"65536"`: bytes with an optional binary (KiB, MiB, GiB) or decimal
/// (K, M, G, KB, MB, GB) unit.
fn parse_size(key: &str, t: &str) -> Result<u64, String> {
    let s = t.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(format!("{key} = {t:?} has an unknown unit (use bytes, or KiB, MiB, GiB)")),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{key} = {t:?} is not a size like \"256MiB\""))
}

/// `audit_log` (already absolute) and `audit_log_max` (default 50 MiB, at least 1 KiB).
fn audit_log_settings(path: Option<PathBuf>, max: &Option<SizeValue>) -> Result<Option<crate::audit_log::AuditLogSettings>, String> {
    use crate::audit_log::{AuditLogSettings, DEFAULT_MAX, MIN_MAX};
    let max_bytes = match max {
        None => DEFAULT_MAX,
        Some(SizeValue::Bytes(n)) => *n,
        Some(SizeValue::Text(t)) => parse_size("audit_log_max", t)?,
    };
    if max_bytes < MIN_MAX {
        return Err(format!("audit_log_max must be at least {MIN_MAX} bytes (e.g. \"50MiB\")"));
    }
    Ok(path.map(|path| AuditLogSettings { path, max_bytes }))
}

fn parse_timeout(t: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(t).map_err(|e| format!("timeout = {t:?} is not a duration like \"8s\": {e}"))?;
    if d.is_zero() || d > Duration::from_secs(600) {
        return Err(format!("timeout = {t:?} must be more than 0 and at most 10m"));
    }
    Ok(d)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, String> {
        let dir = std::env::temp_dir().join(format!("vouch-config-test-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("config.toml");
        std::fs::write(&p, text).unwrap();
        let r = load(&p);
        std::fs::remove_dir_all(&dir).ok();
        r
    }

    #[test]
    fn defaults_and_relative_paths() {
        let c = load_text("[notation]\ntrust_policy = \"tp.json\"\n").unwrap();
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.settings.mode, Mode::Enforce);
        assert!(c.settings.trust_policy.is_absolute() && c.settings.trust_policy.ends_with("tp.json"));
        assert_eq!(c.settings.trust_store, PathBuf::from("/etc/vouch/notation/truststore"));
        assert!(c.settings.rego.is_none());
        let cache = c.settings.cache.unwrap();
        assert_eq!((cache.referrers_ttl, cache.allow_ttl, cache.deny_ttl), (DEFAULT_REFERRERS_TTL, DEFAULT_ALLOW_TTL, DEFAULT_DENY_TTL));
        assert_eq!(cache.max_size, 256 << 20);
        assert_eq!(cache.dir, PathBuf::from("/var/lib/vouch"));
    }

    #[test]
    fn cache_section() {
        let c = load_text("[cache]\nenabled = false\n").unwrap();
        assert!(c.settings.cache.is_none());
        let c = load_text("[cache]\nreferrers_ttl = \"5s\"\nallow_ttl = \"1m\"\ndeny_ttl = \"0s\"\nmax_size = \"64MiB\"\n").unwrap();
        let cache = c.settings.cache.unwrap();
        assert_eq!((cache.referrers_ttl, cache.allow_ttl, cache.deny_ttl), (Duration::from_secs(5), Duration::from_secs(60), Duration::ZERO));
        assert_eq!(cache.max_size, 64 << 20);
        assert_eq!(parse_size("k", "1000"), Ok(1000));
        assert_eq!(parse_size("k", "2 GiB"), Ok(2 << 30));
        assert_eq!(load_text("[cache]\nmax_size = 4096\n").unwrap().cache_max_size, 4096);
    }

    #[test]
    fn invalid_files_name_the_problem() {
        assert!(load_text("mode = \"lenient\"").unwrap_err().contains("mode = \"lenient\""));
        assert!(load_text("timeout = \"soon\"").unwrap_err().contains("timeout"));
        assert!(load_text("timeout = \"0s\"").unwrap_err().contains("more than 0"));
        assert!(load_text("bogus = 1").unwrap_err().contains("bogus"));
        assert!(load_text("[notation]\ntrust_polcy = \"x\"").unwrap_err().contains("trust_polcy"));
        assert!(load_text("mode = ").unwrap_err().contains("is invalid"));
        assert!(load_text("[cache]\nallow_ttl = \"soon\"").unwrap_err().contains("cache.allow_ttl"));
        assert!(load_text("[cache]\nmax_size = \"12 parsecs\"").unwrap_err().contains("cache.max_size"));
        assert!(load_text("[cache]\nttl = \"1s\"").unwrap_err().contains("ttl"));
        let missing = load(Path::new("/nonexistent/vouch.toml")).unwrap_err();
        assert!(missing.contains("/nonexistent/vouch.toml") && missing.contains("does not exist"));
    }
}
