//! The `[auth]` section: which credential sources are asked, in which order, and where their
//! files are. Every path is explicit (relative ones are taken from the configuration file's
//! directory), so nothing depends on HOME or PATH.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vouch_registry::auth::{AuthConfig, SourceKind, StaticCredential};

/// `[auth]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    sources: Option<Vec<String>>,
    docker_config: Option<PathBuf>,
    helper_dirs: Option<Vec<PathBuf>>,
    exec_timeout: Option<String>,
    kubelet_provider_config: Option<PathBuf>,
    kubelet_provider_bin_dir: Option<PathBuf>,
    containers_auth: Option<PathBuf>,
    #[serde(default, rename = "static")]
    statics: Vec<StaticSection>,
}

/// One `[[auth.static]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticSection {
    registry: String,
    username: String,
    password_file: PathBuf,
}

/// Resolves `[auth]` against the configuration file's directory `base`; provider plugin answers
/// are cached under `cache_dir`.
pub fn resolve(a: AuthSection, base: &Path, cache_dir: &Path) -> Result<AuthConfig, String> {
    let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let defaults = AuthConfig::default();
    let sources = match a.sources {
        None => defaults.sources,
        Some(names) => sources(&names)?,
    };
    let exec_timeout = match a.exec_timeout.as_deref() {
        None => defaults.exec_timeout,
        Some(t) => parse_exec_timeout(t)?,
    };
    let statics = a.statics.into_iter().map(|s| static_entry(s, &abs)).collect::<Result<_, _>>()?;
    if a.kubelet_provider_config.is_some() && a.kubelet_provider_bin_dir.is_none() {
        return Err("auth.kubelet_provider_config needs auth.kubelet_provider_bin_dir (the kubelet's --image-credential-provider-bin-dir)".into());
    }
    Ok(AuthConfig {
        sources,
        docker_config: Some(a.docker_config.map_or_else(|| defaults.docker_config.unwrap_or_default(), &abs)),
        helper_dirs: a.helper_dirs.unwrap_or_default().into_iter().map(&abs).collect(),
        exec_timeout,
        kubelet_provider_config: a.kubelet_provider_config.map(&abs),
        kubelet_provider_bin_dir: a.kubelet_provider_bin_dir.map(&abs),
        containers_auth: Some(a.containers_auth.map_or_else(|| defaults.containers_auth.unwrap_or_default(), &abs)),
        statics,
        environment: None,
        cache_dir: Some(cache_dir.join("credentials")),
    })
}

fn sources(names: &[String]) -> Result<Vec<SourceKind>, String> {
    let mut out = Vec::new();
    for n in names {
        let kind = SourceKind::parse(n)
            .ok_or_else(|| format!("auth.sources: {n:?} is not one of \"docker\", \"kubelet\", \"containers\", \"static\""))?;
        if out.contains(&kind) {
            return Err(format!("auth.sources lists {n:?} twice"));
        }
        out.push(kind);
    }
    Ok(out)
}

fn parse_exec_timeout(t: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(t).map_err(|e| format!("auth.exec_timeout = {t:?} is not a duration like \"3s\": {e}"))?;
    if d.is_zero() || d > Duration::from_secs(60) {
        return Err(format!("auth.exec_timeout = {t:?} must be more than 0 and at most 1m"));
    }
    Ok(d)
}

fn static_entry(s: StaticSection, abs: &impl Fn(PathBuf) -> PathBuf) -> Result<StaticCredential, String> {
    let registry = s.registry.trim().trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string();
    if registry.is_empty() || s.username.is_empty() {
        return Err("[[auth.static]] entries need registry, username and password_file".into());
    }
    Ok(StaticCredential { registry, username: s.username, password_file: abs(s.password_file) })
}

/// The `VOUCH_REGISTRY_USERNAME`/`VOUCH_REGISTRY_PASSWORD` pair, when both are set (for
/// `vouch verify` only).
pub fn environment_credential() -> Option<(String, vouch_registry::auth::Password)> {
    let user = std::env::var("VOUCH_REGISTRY_USERNAME").ok().filter(|u| !u.is_empty())?;
    let pass = std::env::var("VOUCH_REGISTRY_PASSWORD").ok().filter(|p| !p.is_empty())?;
    Some((user, vouch_registry::auth::Password(pass)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AuthConfig, String> {
        let a: AuthSection = toml::from_str(text).map_err(|e| e.to_string())?;
        resolve(a, Path::new("/etc/vouch"), Path::new("/var/lib/vouch"))
    }

    #[test]
    fn defaults_need_no_home() {
        let c = parse("").unwrap();
        assert_eq!(c.sources, SourceKind::default_order());
        assert_eq!(c.docker_config.unwrap(), PathBuf::from("/root/.docker/config.json"));
        assert_eq!(c.exec_timeout, Duration::from_secs(3));
        assert_eq!(c.containers_auth.unwrap(), PathBuf::from("/run/containers/0/auth.json"));
        assert_eq!(c.cache_dir.unwrap(), PathBuf::from("/var/lib/vouch/credentials"));
    }

    #[test]
    fn explicit_values_and_errors() {
        let c = parse("sources = [\"static\", \"docker\"]\nexec_timeout = \"500ms\"\nhelper_dirs = [\"bin\"]\n[[static]]\nregistry = \"https://r.io/\"\nusername = \"ci\"\npassword_file = \"pw\"\n").unwrap();
        assert_eq!(c.sources, [SourceKind::Static, SourceKind::Docker]);
        assert_eq!(c.helper_dirs, [PathBuf::from("/etc/vouch/bin")]);
        assert_eq!(c.statics[0].registry, "r.io");
        assert_eq!(c.statics[0].password_file, PathBuf::from("/etc/vouch/pw"));
        assert!(parse("sources = [\"vault\"]").unwrap_err().contains("\"vault\""));
        assert!(parse("exec_timeout = \"forever\"").unwrap_err().contains("exec_timeout"));
        assert!(parse("kubelet_provider_config = \"x.yaml\"").unwrap_err().contains("kubelet_provider_bin_dir"));
        assert!(parse("bogus = 1").is_err());
    }
}
