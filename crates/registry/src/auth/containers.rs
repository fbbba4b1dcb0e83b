//! A containers `auth.json` (podman, skopeo, CRI-O, confidential-containers tooling): keys are
//! `host`, `host/namespace` or `host/namespace/repo`, and the longest key that is a prefix of
//! `host/repository` at a path boundary wins. Entries carry `auth` and `identitytoken`.

use super::helper::JsonErrorKind;
use super::{decode_auth_field, AuthError, Credential, LookupCtx, Secret};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize, Default)]
struct Entry {
    auth: Option<String>,
    identitytoken: Option<String>,
}

/// The auth.json credential for `repository` on `host`.
pub fn lookup(ctx: &LookupCtx<'_>, host: &str, repository: &str) -> Result<Option<Credential>, AuthError> {
    let Some(path) = ctx.config.containers_auth.as_deref() else { return Ok(None) };
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuthError::File { path: shown, reason: format!("cannot read it: {e}") }),
    };
    let file: AuthFile = serde_json::from_slice(&bytes).map_err(|e| AuthError::File {
        path: shown.clone(),
        reason: format!("not a containers auth.json ({}); fix or remove it", e.classify_name()),
    })?;
    let Some((key, entry)) = best_entry(&file.auths, host, repository) else { return Ok(None) };
    let err = |reason: String| AuthError::File { path: shown.clone(), reason: format!("entry {key:?}: {reason}") };
    let (user, pass) = match entry.auth.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => decode_auth_field(a).map_err(err)?,
        None => (String::new(), String::new()),
    };
    let secret = match entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Secret::IdentityToken { username: user, token: t.to_string() },
        None if user.is_empty() && pass.is_empty() => return Ok(None),
        None => Secret::Basic { username: user, password: pass },
    };
    Ok(Some(Credential { secret, source: format!("containers auth {shown} entry {key}") }))
}

/// A key in the normalised form `host[/path]`: legacy `https://…/v1/` keys reduce to the host.
fn normalise(key: &str) -> String {
    let had_scheme = key.starts_with("http://") || key.starts_with("https://");
    let rest = key.trim_start_matches("https://").trim_start_matches("http://");
    let rest = if had_scheme { rest.split('/').next().unwrap_or("") } else { rest.trim_end_matches('/') };
    match rest {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

fn best_entry<'a>(auths: &'a BTreeMap<String, Entry>, host: &str, repository: &str) -> Option<(&'a String, &'a Entry)> {
    let target = format!("{host}/{repository}");
    auths
        .iter()
        .map(|(k, e)| (normalise(k), k, e))
        .filter(|(n, _, _)| !n.is_empty() && (target == *n || target.starts_with(&format!("{n}/"))))
        .max_by_key(|(n, _, _)| n.len())
        .map(|(_, k, e)| (k, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let f: AuthFile = serde_json::from_str(
            r#"{"auths":{"r.io":{"auth":"YTpi"},"r.io/team":{"auth":"YzpkCg=="},"r.io/team/app":{"auth":"ZTpm"},"r.io/te":{"auth":"eDp5"},"https://index.docker.io/v1/":{"auth":"aDpp"}}}"#,
        )
        .unwrap();
        assert_eq!(best_entry(&f.auths, "r.io", "team/app").unwrap().0, "r.io/team/app");
        assert_eq!(best_entry(&f.auths, "r.io", "team/app2").unwrap().0, "r.io/team");
        assert_eq!(best_entry(&f.auths, "r.io", "tex/a").unwrap().0, "r.io");
        assert_eq!(best_entry(&f.auths, "docker.io", "library/x").unwrap().0, "https://index.docker.io/v1/");
        assert!(best_entry(&f.auths, "r.iox", "a").is_none());
    }
}
