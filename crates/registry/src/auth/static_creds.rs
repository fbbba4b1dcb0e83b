//! Static credentials from vouch's configuration (`[[auth.static]]`), for CI: a registry (or
//! `host/namespace` prefix), a username and a file holding the password, read on every lookup
//! so a rotated file takes effect on the next run. The environment pair
//! (`VOUCH_REGISTRY_USERNAME`/`VOUCH_REGISTRY_PASSWORD`, `vouch verify` only) comes after them.

use super::{AuthError, Credential, LookupCtx};
use std::path::PathBuf;

/// One `[[auth.static]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCredential {
    /// `host[:port]`, or `host/namespace` to limit the entry to a namespace.
    pub registry: String,
    /// The username.
    pub username: String,
    /// The file holding the password (a trailing newline is ignored).
    pub password_file: PathBuf,
}

/// The static credential for `repository` on `host`: the longest matching entry, else the
/// environment pair.
pub fn lookup(ctx: &LookupCtx<'_>, host: &str, repository: &str) -> Result<Option<Credential>, AuthError> {
    let target = format!("{host}/{repository}");
    let best = ctx
        .config
        .statics
        .iter()
        .filter(|s| {
            let r = s.registry.trim_end_matches('/');
            target == r || target.starts_with(&format!("{r}/"))
        })
        .max_by_key(|s| s.registry.len());
    if let Some(s) = best {
        let password = read_password(s)?;
        let source = format!("static credential for {} from {}", s.registry, s.password_file.display());
        return Ok(Some(Credential::basic(s.username.clone(), password, source)));
    }
    Ok(ctx
        .config
        .environment
        .as_ref()
        .map(|(user, pass)| Credential::basic(user.clone(), pass.0.clone(), "environment VOUCH_REGISTRY_USERNAME/VOUCH_REGISTRY_PASSWORD")))
}

fn read_password(s: &StaticCredential) -> Result<String, AuthError> {
    let err = |reason: String| AuthError::File { path: s.password_file.display().to_string(), reason };
    let text = std::fs::read_to_string(&s.password_file)
        .map_err(|e| err(format!("cannot read the password for {} ([[auth.static]] password_file): {e}", s.registry)))?;
    let password = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    if password.is_empty() {
        return Err(err(format!("the password file for {} is empty", s.registry)));
    }
    Ok(password.to_string())
}
