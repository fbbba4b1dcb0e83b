//! docker's `config.json`: `credHelpers` (per registry host), then `credsStore`, then `auths`,
//! with keys matched as the docker CLI matches them (Docker Hub is `https://index.docker.io/v1/`;
//! an exact key first, then any key that reduces to the same host).

use super::helper::{self, JsonErrorKind};
use super::{decode_auth_field, AuthError, Credential, LookupCtx, Secret};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The key and helper server URL docker uses for Docker Hub.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

/// The docker config's credential for registry `host`; `Ok(None)` when the file is not
/// configured, does not exist, or has no entry.
pub fn lookup(ctx: &LookupCtx<'_>, host: &str) -> Result<Option<Credential>, AuthError> {
    let Some(path) = ctx.config.docker_config.as_deref() else { return Ok(None) };
    let Some(file) = read(path)? else { return Ok(None) };
    let server = server_address(host);
    let hostname = to_hostname(&server);
    let shown = format!("docker config {}", path.display());
    if let Some(name) = helper_for(&file, &hostname) {
        return helper::get(ctx, name, &server, &format!("{shown} credHelpers"));
    }
    if let Some(store) = file.creds_store.as_deref().filter(|s| !s.is_empty()) {
        return helper::get(ctx, store, &server, &format!("{shown} credsStore"));
    }
    let Some((key, entry)) = find_entry(&file.auths, &server, &hostname) else { return Ok(None) };
    entry_credential(entry, &shown).map_err(|reason| AuthError::File {
        path: path.display().to_string(),
        reason: format!("auths entry {key:?}: {reason}"),
    })
}

fn read(path: &Path) -> Result<Option<ConfigFile>, AuthError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuthError::File { path: path.display().to_string(), reason: format!("cannot read it: {e}") }),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| AuthError::File {
        path: path.display().to_string(),
        reason: format!("not a docker config.json ({}); fix or remove it", e.classify_name()),
    })
}

/// The server address docker uses for `host`: Docker Hub's legacy URL, else the host itself.
pub fn server_address(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_SERVER.to_string(),
        other => other.to_string(),
    }
}

/// A key reduced to its host: scheme and path removed.
pub fn to_hostname(key: &str) -> String {
    let rest = key.strip_prefix("http://").or_else(|| key.strip_prefix("https://")).unwrap_or(key);
    rest.split('/').next().unwrap_or("").to_string()
}

fn helper_for<'a>(file: &'a ConfigFile, hostname: &str) -> Option<&'a str> {
    let hub = hostname == "index.docker.io";
    file.cred_helpers
        .iter()
        .find(|(k, _)| k.as_str() == hostname || (hub && matches!(k.as_str(), "docker.io" | "registry-1.docker.io")))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn find_entry<'a>(auths: &'a BTreeMap<String, AuthEntry>, server: &str, hostname: &str) -> Option<(&'a String, &'a AuthEntry)> {
    if let Some(hit) = auths.get_key_value(server) {
        return Some(hit);
    }
    auths.iter().find(|(k, _)| to_hostname(k) == hostname)
}

fn entry_credential(e: &AuthEntry, source: &str) -> Result<Option<Credential>, String> {
    let secret = if let Some(t) = e.registrytoken.as_deref().filter(|t| !t.is_empty()) {
        Secret::RegistryToken(t.to_string())
    } else {
        let (user, pass) = match e.auth.as_deref().filter(|a| !a.is_empty()) {
            Some(a) => decode_auth_field(a)?,
            None => (e.username.clone().unwrap_or_default(), e.password.clone().unwrap_or_default()),
        };
        match e.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => Secret::IdentityToken { username: user, token: t.to_string() },
            None if user.is_empty() && pass.is_empty() => return Ok(None),
            None => Secret::Basic { username: user, password: pass },
        }
    };
    Ok(Some(Credential { secret, source: source.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> ConfigFile {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn keys_match_as_the_docker_cli() {
        let f = file(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"https://ghcr.io/v1/":{"username":"g","password":"p"},"r.io:5000":{"auth":"YTpi"}}}"#);
        let (k, _) = find_entry(&f.auths, &server_address("docker.io"), "index.docker.io").unwrap();
        assert_eq!(k, DOCKER_HUB_SERVER);
        let (k, _) = find_entry(&f.auths, "ghcr.io", "ghcr.io").unwrap();
        assert_eq!(k, "https://ghcr.io/v1/");
        assert!(find_entry(&f.auths, "r.io", "r.io").is_none());
        assert!(find_entry(&f.auths, "r.io:5000", "r.io:5000").is_some());
    }

    #[test]
    fn entries_become_secrets() {
        let c = entry_credential(&AuthEntry { auth: Some("dTpw".into()), ..Default::default() }, "s").unwrap().unwrap();
        assert_eq!(c.secret, Secret::Basic { username: "u".into(), password: "p".into() });
        let c = entry_credential(&AuthEntry { auth: Some("dTpw".into()), identitytoken: Some("t".into()), ..Default::default() }, "s").unwrap().unwrap();
        assert_eq!(c.secret, Secret::IdentityToken { username: "u".into(), token: "t".into() });
        let c = entry_credential(&AuthEntry { registrytoken: Some("r".into()), ..Default::default() }, "s").unwrap().unwrap();
        assert_eq!(c.secret, Secret::RegistryToken("r".into()));
        assert!(entry_credential(&AuthEntry::default(), "s").unwrap().is_none());
        assert!(entry_credential(&AuthEntry { auth: Some("***".into()), ..Default::default() }, "s").is_err());
    }

    #[test]
    fn helpers_by_host() {
        let f = file(r#"{"credHelpers":{"docker.io":"hub","r.io":"ecr-login"},"credsStore":"desktop"}"#);
        assert_eq!(helper_for(&f, "index.docker.io"), Some("hub"));
        assert_eq!(helper_for(&f, "r.io"), Some("ecr-login"));
        assert_eq!(helper_for(&f, "x.io"), None);
    }
}
