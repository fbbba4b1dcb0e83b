//! docker credential helpers: `docker-credential-<name> get`, the server URL on stdin, and
//! `{"ServerURL", "Username", "Secret"}` on stdout. Username `<token>` means the secret is an
//! identity token; "credentials not found in native keychain" means the helper has none.

use super::exec::{self, ExecFailure};
use super::{AuthError, Credential, LookupCtx, Secret, SAFE_HELPER_DIRS};
use serde::Deserialize;
use std::path::PathBuf;

/// The helper protocol's "no entry" message.
const NOT_FOUND: &str = "credentials not found in native keychain";

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Asks helper `name` for `server_url`'s credential; `source` names where the helper was configured.
pub fn get(ctx: &LookupCtx<'_>, name: &str, server_url: &str, source: &str) -> Result<Option<Credential>, AuthError> {
    let program = format!("docker-credential-{name}");
    let path = find(ctx, name, &program)?;
    let shown = path.display().to_string();
    let limit = ctx.exec_limit(&shown)?;
    let out = match exec::run(&path, &["get".to_string()], &[], server_url.as_bytes(), limit) {
        Ok(o) => o,
        Err(ExecFailure::Timeout) => return Err(AuthError::Timeout { program: shown, millis: limit.as_millis() }),
        Err(ExecFailure::Spawn(e)) => return Err(AuthError::Exec { program: shown, reason: format!("cannot start it: {e}") }),
    };
    if !out.status.success() {
        let msg = [exec::first_line(&out.stdout), exec::first_line(&out.stderr)];
        if msg.iter().any(|m| m.contains(NOT_FOUND)) {
            return Ok(None);
        }
        let said = msg.into_iter().find(|m| !m.is_empty()).unwrap_or_else(|| "no message".into());
        return Err(AuthError::Exec { program: shown, reason: format!("exited with {} ({said})", out.status) });
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout).map_err(|e| AuthError::BadAnswer {
        program: shown.clone(),
        expected: "the credential helper JSON {ServerURL, Username, Secret}".into(),
        reason: format!("{} bytes, {}", out.stdout.len(), e.classify_name()),
    })?;
    Ok(credential(answer, format!("{source} via {shown}")))
}

fn credential(a: HelperAnswer, source: String) -> Option<Credential> {
    if a.secret.is_empty() {
        return None;
    }
    let secret = if a.username == "<token>" {
        Secret::IdentityToken { username: String::new(), token: a.secret }
    } else {
        Secret::Basic { username: a.username, password: a.secret }
    };
    Some(Credential { secret, source })
}

/// `[auth] helper_dirs`, then the fixed safe list; PATH is not consulted.
fn find(ctx: &LookupCtx<'_>, name: &str, program: &str) -> Result<PathBuf, AuthError> {
    if name.is_empty() || name.contains('/') || name.contains('\0') {
        return Err(AuthError::Exec { program: program.into(), reason: format!("{name:?} is not a credential helper name") });
    }
    let dirs: Vec<PathBuf> = ctx.config.helper_dirs.iter().cloned().chain(SAFE_HELPER_DIRS.iter().map(PathBuf::from)).collect();
    for d in &dirs {
        let p = d.join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(AuthError::Exec {
        program: program.into(),
        reason: format!("not found in {} (install it there or add its directory to [auth] helper_dirs)", searched.join(", ")),
    })
}

/// A short description of a serde_json error, without echoing input.
pub(crate) trait JsonErrorKind {
    /// Category and position, never the offending text.
    fn classify_name(&self) -> String;
}

impl JsonErrorKind for serde_json::Error {
    fn classify_name(&self) -> String {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable".into(),
            serde_json::error::Category::Syntax => format!("not JSON at line {} column {}", self.line(), self.column()),
            serde_json::error::Category::Data => format!("JSON of the wrong shape at line {} column {}", self.line(), self.column()),
            serde_json::error::Category::Eof => "JSON cut short".into(),
        }
    }
}
