//! Registry credentials from the sources a node already has, tried in a configured order:
//! docker's `config.json` (with its credential helpers), kubelet image credential provider
//! plugins, a containers `auth.json`, and static credentials from vouch's own configuration.
//!
//! The first source with an answer for a registry wins. A source whose file is not configured
//! or does not exist is skipped; a source that fails (a helper that times out, a file that does
//! not parse) is an error, never a silent fall-through to the next source. Secrets live only in
//! [`Secret`] values, whose `Debug` output is redacted, and are never logged.

mod containers;
mod docker;
mod exec;
mod helper;
mod kubelet;
mod static_creds;

use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use vouch_core::Deadline;

pub use kubelet::check_provider_response;
pub use static_creds::StaticCredential;

/// Default `[auth] exec_timeout`.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(3);
/// Default `[auth] docker_config`, independent of HOME.
pub const DEFAULT_DOCKER_CONFIG: &str = "/root/.docker/config.json";
/// Default `[auth] containers_auth`.
pub const DEFAULT_CONTAINERS_AUTH: &str = "/run/containers/0/auth.json";
/// Directories searched for `docker-credential-<name>` after `[auth] helper_dirs`.
pub const SAFE_HELPER_DIRS: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin"];

/// A credential source, as named in `[auth] sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// docker's `config.json` and its credential helpers.
    Docker,
    /// kubelet image credential provider plugins.
    Kubelet,
    /// A containers `auth.json`.
    Containers,
    /// `[[auth.static]]` entries (and, for `vouch verify`, the environment).
    Static,
}

impl SourceKind {
    /// Parses a name from `[auth] sources`.
    pub fn parse(name: &str) -> Option<SourceKind> {
        match name {
            "docker" => Some(SourceKind::Docker),
            "kubelet" => Some(SourceKind::Kubelet),
            "containers" => Some(SourceKind::Containers),
            "static" => Some(SourceKind::Static),
            _ => None,
        }
    }

    /// The default order: docker, kubelet, containers, static.
    pub fn default_order() -> Vec<SourceKind> {
        vec![SourceKind::Docker, SourceKind::Kubelet, SourceKind::Containers, SourceKind::Static]
    }
}

/// A password or token that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Where credentials come from and how long credential programs may take.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Sources tried, in order.
    pub sources: Vec<SourceKind>,
    /// docker's `config.json`; skipped when absent.
    pub docker_config: Option<PathBuf>,
    /// Directories searched first for `docker-credential-<name>`.
    pub helper_dirs: Vec<PathBuf>,
    /// Longest a credential helper or provider plugin may run (never past the run's deadline).
    pub exec_timeout: Duration,
    /// The kubelet's `CredentialProviderConfig` (YAML or JSON).
    pub kubelet_provider_config: Option<PathBuf>,
    /// The kubelet's credential provider plugin directory.
    pub kubelet_provider_bin_dir: Option<PathBuf>,
    /// A containers `auth.json`; skipped when absent.
    pub containers_auth: Option<PathBuf>,
    /// `[[auth.static]]` entries.
    pub statics: Vec<StaticCredential>,
    /// Username and password from the environment (`vouch verify` only), tried after `statics`.
    pub environment: Option<(String, Password)>,
    /// Where provider plugin answers are cached (directory 0700, files 0600); `None`: no cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            sources: SourceKind::default_order(),
            docker_config: Some(PathBuf::from(DEFAULT_DOCKER_CONFIG)),
            helper_dirs: Vec::new(),
            exec_timeout: DEFAULT_EXEC_TIMEOUT,
            kubelet_provider_config: None,
            kubelet_provider_bin_dir: None,
            containers_auth: Some(PathBuf::from(DEFAULT_CONTAINERS_AUTH)),
            statics: Vec::new(),
            environment: None,
            cache_dir: None,
        }
    }
}

/// The secret part of a credential.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A username and password, for Basic auth or a token request.
    Basic {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token endpoint.
    IdentityToken {
        /// The username it was issued to, when known.
        username: String,
        /// The refresh token.
        token: String,
    },
    /// A bearer token sent to the registry as it is (docker's `registrytoken`).
    RegistryToken(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Basic { username, .. } => write!(f, "Basic {{ username: {username:?}, password: <redacted> }}"),
            Secret::IdentityToken { username, .. } => write!(f, "IdentityToken {{ username: {username:?}, token: <redacted> }}"),
            Secret::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// A credential and the source it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The secret.
    pub secret: Secret,
    /// Where it came from, e.g. `docker config /root/.docker/config.json`; never secret.
    pub source: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("secret", &self.secret).field("source", &self.source).finish()
    }
}

impl Credential {
    /// A username and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>, source: impl Into<String>) -> Credential {
        Credential { secret: Secret::Basic { username: username.into(), password: password.into() }, source: source.into() }
    }

    /// A short, non-reversible identifier of the secret, to key tokens by the credential that
    /// obtained them.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        match &self.secret {
            Secret::Basic { username, password } => feed(&mut h, &["basic", username, password]),
            Secret::IdentityToken { username, token } => feed(&mut h, &["identity", username, token]),
            Secret::RegistryToken(t) => feed(&mut h, &["registry", t]),
        }
        h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
    }
}

fn feed(h: &mut Sha256, parts: &[&str]) {
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
}

/// Why credentials could not be obtained. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A credential file exists but cannot be used.
    #[error("credential file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong, and the fix.
        reason: String,
    },
    /// A credential program could not be run or failed.
    #[error("{program} failed: {reason}")]
    Exec {
        /// The program (helper or provider plugin).
        program: String,
        /// What happened, and the fix.
        reason: String,
    },
    /// A credential program did not answer in time.
    #[error("{program} did not answer within {millis} ms and was killed (fix the program, or raise [auth] exec_timeout)")]
    Timeout {
        /// The program.
        program: String,
        /// The time it was given.
        millis: u128,
    },
    /// A credential program answered something that is not the protocol's answer.
    #[error("{program} answered something that is not {expected} ({reason}); check the program and its configuration")]
    BadAnswer {
        /// The program.
        program: String,
        /// The protocol message expected.
        expected: String,
        /// What is wrong with the answer (never the answer itself).
        reason: String,
    },
    /// The run's deadline left no time to run a credential program.
    #[error("no time left before the deadline to run {program}")]
    Deadline {
        /// The program.
        program: String,
    },
}

/// Context shared by the sources during one lookup.
pub(crate) struct LookupCtx<'a> {
    pub config: &'a AuthConfig,
    pub deadline: &'a Deadline,
}

impl LookupCtx<'_> {
    /// Time a credential program may take: `exec_timeout`, cut to the deadline.
    pub fn exec_limit(&self, program: &str) -> Result<Duration, AuthError> {
        let left = self.deadline.remaining().saturating_sub(Duration::from_millis(100));
        if left.is_zero() {
            return Err(AuthError::Deadline { program: program.to_string() });
        }
        Ok(self.config.exec_timeout.min(left))
    }
}

/// Finds credentials for one run, asking each source at most once per registry and repository.
#[derive(Debug, Default)]
pub struct Resolver {
    config: AuthConfig,
    found: Mutex<HashMap<(String, String), Option<Credential>>>,
    used: Mutex<Vec<String>>,
}

impl Resolver {
    /// A resolver over `config`.
    pub fn new(config: AuthConfig) -> Resolver {
        Resolver { config, found: Mutex::default(), used: Mutex::default() }
    }

    /// The credential already found for `host` and `repository`, without asking any source.
    pub fn known(&self, host: &str, repository: &str) -> Option<Credential> {
        let found = self.found.lock().ok()?;
        found.get(&(host.to_string(), repository.to_string())).cloned().flatten()
    }

    /// The credential for `repository` on `host`, asking the sources in order; `Ok(None)` when
    /// no source has one.
    pub fn lookup(&self, host: &str, repository: &str, deadline: &Deadline) -> Result<Option<Credential>, AuthError> {
        let key = (host.to_string(), repository.to_string());
        if let Some(hit) = self.found.lock().ok().and_then(|f| f.get(&key).cloned()) {
            return Ok(hit);
        }
        let ctx = LookupCtx { config: &self.config, deadline };
        let found = self.ask_sources(&ctx, host, repository)?;
        match &found {
            Some(c) => log::info!("auth: {} for {host}/{repository}", c.source),
            None => log::info!("auth: no credential source has an entry for {host}/{repository}"),
        }
        if let Ok(mut f) = self.found.lock() {
            f.insert(key, found.clone());
        }
        Ok(found)
    }

    fn ask_sources(&self, ctx: &LookupCtx<'_>, host: &str, repository: &str) -> Result<Option<Credential>, AuthError> {
        for source in &self.config.sources {
            let answer = match source {
                SourceKind::Docker => docker::lookup(ctx, host),
                SourceKind::Kubelet => kubelet::lookup(ctx, host, repository),
                SourceKind::Containers => containers::lookup(ctx, host, repository),
                SourceKind::Static => static_creds::lookup(ctx, host, repository),
            }?;
            if answer.is_some() {
                return Ok(answer);
            }
        }
        Ok(None)
    }

    /// Records that the credential from `source` was accepted by a registry.
    pub fn mark_used(&self, source: &str) {
        if let Ok(mut u) = self.used.lock() {
            if !u.iter().any(|s| s == source) {
                u.push(source.to_string());
            }
        }
    }

    /// The sources whose credentials were used in this run, in first-use order.
    pub fn used(&self) -> Vec<String> {
        self.used.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

/// Decodes docker's `auth` field: base64 of `username:password`.
pub(crate) fn decode_auth_field(value: &str) -> Result<(String, String), String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| "its auth field is not base64 (expected base64 of username:password)".to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "its auth field does not decode to text".to_string())?;
    let (user, pass) = text.split_once(':').ok_or_else(|| "its auth field is not username:password".to_string())?;
    Ok((user.to_string(), pass.trim_end_matches('\n').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_secrets() {
        let c = Credential::basic("alice", "hunter2-secret", "static");
        let t = Credential { secret: Secret::IdentityToken { username: "u".into(), token: "tok-secret".into() }, source: "x".into() };
        let r = Credential { secret: Secret::RegistryToken("reg-secret".into()), source: "x".into() };
        let all = format!("{c:?} {t:?} {r:?} {:?}", Password("pw-secret".into()));
        assert!(!all.contains("secret\"") && !all.contains("hunter2") && !all.contains("tok-") && !all.contains("reg-") && !all.contains("pw-"), "{all}");
        assert!(all.contains("alice"));
    }

    #[test]
    fn fingerprints_differ_per_secret() {
        let a = Credential::basic("a", "b", "s1");
        assert_eq!(a.fingerprint(), Credential::basic("a", "b", "s2").fingerprint());
        assert_ne!(a.fingerprint(), Credential::basic("a", "c", "s1").fingerprint());
        assert_ne!(Credential::basic("ab", "", "s").fingerprint(), Credential::basic("a", "b", "s").fingerprint());
    }

    #[test]
    fn auth_field() {
        assert_eq!(decode_auth_field("dXNlcjpwYTpzcw==").unwrap(), ("user".into(), "pa:ss".into()));
        assert!(decode_auth_field("!!").is_err());
        assert!(decode_auth_field("bm9jb2xvbg==").is_err());
    }
}
