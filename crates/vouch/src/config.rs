//! vouch's configuration file (TOML), resolved to explicit paths.
//!
//! Relative paths in the file are taken relative to the file's directory, so nothing depends on
//! the working directory, HOME or PATH of the process containerd starts.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vouch_pipeline::{Mode, Settings};
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

/// The loaded configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Everything the pipeline needs.
    pub settings: Settings,
    /// The run's time budget.
    pub timeout: Duration,
    /// The cache directory (used by later cache support; recorded so the key is accepted).
    #[allow(dead_code)]
    pub cache_dir: PathBuf,
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
    resolve(path, file).map_err(|e| format!("configuration file {}: {e}", path.display()))
}

fn resolve(path: &Path, f: File) -> Result<Config, String> {
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
    };
    let cache_dir = abs(f.cache_dir.unwrap_or_else(|| "/var/lib/vouch".into()));
    Ok(Config { settings, timeout, cache_dir })
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
    }

    #[test]
    fn invalid_files_name_the_problem() {
        assert!(load_text("mode = \"lenient\"").unwrap_err().contains("mode = \"lenient\""));
        assert!(load_text("timeout = \"soon\"").unwrap_err().contains("timeout"));
        assert!(load_text("timeout = \"0s\"").unwrap_err().contains("more than 0"));
        assert!(load_text("bogus = 1").unwrap_err().contains("bogus"));
        assert!(load_text("[notation]\ntrust_polcy = \"x\"").unwrap_err().contains("trust_polcy"));
        assert!(load_text("mode = ").unwrap_err().contains("is invalid"));
        let missing = load(Path::new("/nonexistent/vouch.toml")).unwrap_err();
        assert!(missing.contains("/nonexistent/vouch.toml") && missing.contains("does not exist"));
    }
}
