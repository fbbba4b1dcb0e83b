//! HTTP requests to one endpoint: agents per TLS setting, the auth flows (Basic, Bearer tokens
//! fetched with a username and password, an OAuth2 refresh token, or anonymously; registry
//! tokens sent as they are), the HTTPS-to-HTTP fallback for loopback registries, and bounded
//! body reads. Every request gets the time left before the deadline as its overall timeout.
//!
//! Authorizations are reused within the run, keyed by endpoint, scope and the fingerprint of
//! the credential that obtained them, so a token is never shared between credentials or with
//! anonymous access. Credentials are looked up only when a registry answers 401.

use crate::auth::{AuthConfig, AuthError, Credential, Resolver, Secret};
use crate::challenge;
use crate::hosts::{Endpoint, TlsSettings};
use crate::RegistryError;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vouch_core::Deadline;

/// Stored tokens are dropped this long before they expire.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// The token store's file key: a hash of endpoint, scope and credential fingerprint.
fn token_file_key(key: &(String, String, String)) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for part in [&key.0, &key.1, &key.2] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    vouch_core::digest::hex_encode(&h.finalize())
}

/// Token answers larger than this are not tokens.
const MAX_TOKEN_BODY: u64 = 1024 * 1024;
/// Below this much time left, a failed request is reported as the deadline passing.
const DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// A request to make against an endpoint.
pub struct Req<'a> {
    /// `GET` or `HEAD`.
    pub method: &'static str,
    /// Path below the API root, e.g. `/acme/app/manifests/sha256:…`.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(&'a str, String)>,
    /// `Accept` header.
    pub accept: Option<&'a str>,
    /// Repository, for the token scope.
    pub repository: &'a str,
    /// The registry name the image reference uses (for `?ns=` on mirrors).
    pub registry: &'a str,
    /// What is being done, for error messages.
    pub step: String,
}

/// A header value that authorised requests, and until when.
#[derive(Clone)]
struct Authorization {
    header: String,
    expires: Option<Instant>,
}

/// Shared HTTP state of one client.
#[derive(Default)]
pub struct Transport {
    agents: Mutex<HashMap<(String, TlsSettings), ureq::Agent>>,
    /// Keyed by endpoint, scope and the fingerprint of the credential that obtained it.
    authorizations: Mutex<HashMap<(String, String, String), Authorization>>,
    http_fallback: Mutex<HashSet<String>>,
    auth: Resolver,
    /// Bearer tokens from token endpoints outlive the process here (files 0600), until they
    /// expire. Basic headers and registry tokens are never written: they are the credential.
    token_store: Option<std::sync::Arc<vouch_cache::Cache>>,
}

impl Transport {
    /// A transport that finds credentials as `auth` says.
    pub fn new(auth: AuthConfig) -> Transport {
        Transport { auth: Resolver::new(auth), ..Transport::default() }
    }

    /// Keeps Bearer tokens in `cache` across runs, until they expire.
    pub fn set_token_store(&mut self, cache: std::sync::Arc<vouch_cache::Cache>) {
        self.token_store = Some(cache);
    }

    /// The credential sources used so far in this run.
    pub fn auth_sources(&self) -> Vec<String> {
        self.auth.used()
    }

    fn agent(&self, scheme: &str, ep_authority: &str, tls: &TlsSettings) -> Result<ureq::Agent, RegistryError> {
        let key = (if scheme == "https" { ep_authority.to_string() } else { String::new() }, tls.clone());
        if let Some(a) = self.agents.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(a);
        }
        let mut b = ureq::AgentBuilder::new().redirects(5).user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")));
        if scheme == "https" {
            b = b.tls_config(crate::tls::config(ep_authority, tls)?);
        }
        let agent = b.build();
        if let Ok(mut m) = self.agents.lock() {
            m.insert(key, agent.clone());
        }
        Ok(agent)
    }

    /// Sends `req` to `ep`, handling auth challenges and the loopback HTTP fallback.
    pub fn send(&self, ep: &Endpoint, req: &Req<'_>, deadline: &Deadline) -> Result<ureq::Response, RegistryError> {
        let fallback = self.http_fallback.lock().map(|s| s.contains(&ep.authority)).unwrap_or(false);
        let scheme = if fallback { "http" } else { ep.scheme };
        match self.send_as(scheme, ep, req, deadline) {
            Err(RegistryError::Unreachable { .. } | RegistryError::Tls { .. }) if ep.http_fallback && scheme == "https" => {
                log::info!("{}: HTTPS failed, using plain HTTP for this loopback registry", ep.authority);
                if let Ok(mut s) = self.http_fallback.lock() {
                    s.insert(ep.authority.clone());
                }
                self.send_as("http", ep, req, deadline)
            }
            other => other,
        }
    }

    /// The registry name credentials are looked up by: a mirror's own host, else the registry.
    fn credential_host<'a>(ep: &'a Endpoint, req: &'a Req<'_>) -> &'a str {
        if ep.mirror { &ep.authority } else { req.registry }
    }

    fn send_as(&self, scheme: &str, ep: &Endpoint, req: &Req<'_>, deadline: &Deadline) -> Result<ureq::Response, RegistryError> {
        let url = url(scheme, ep, req);
        let scope = format!("repository:{}:pull", req.repository);
        let host = Self::credential_host(ep, req);
        let known = self.auth.known(host, req.repository);
        let cached = self.cached_authorization(ep, &scope, known.as_ref());
        let agent = self.agent(scheme, &ep.authority, &ep.tls)?;
        match attempt(&agent, ep, &url, req, cached.as_deref(), deadline) {
            Err(ureq::Error::Status(401, resp)) => {
                let header = resp.header("www-authenticate").unwrap_or("").to_string();
                let cred = self.auth.lookup(host, req.repository, deadline).map_err(|e| credentials_error(ep, req, e))?;
                if let Some(stored) = self.stored_token(&Self::token_key(ep, &scope, cred.as_ref())) {
                    // A token an earlier run obtained with this credential; a 401 means the
                    // registry dropped it early, and a fresh one is fetched below.
                    match attempt(&agent, ep, &url, req, Some(&stored), deadline) {
                        Err(ureq::Error::Status(401, _)) => {}
                        other => {
                            if let (Ok(_), Some(c)) = (&other, &cred) {
                                self.auth.mark_used(&c.source);
                            }
                            return self.map(other, ep, &url, req, deadline);
                        }
                    }
                }
                let authz = self.authorize(ep, req, &header, &scope, cred.as_ref(), deadline)?;
                self.remember(ep, &scope, cred.as_ref(), authz.clone());
                match attempt(&agent, ep, &url, req, Some(&authz.header), deadline) {
                    Err(ureq::Error::Status(401, _)) => Err(refused(ep, req, cred.as_ref())),
                    other => {
                        if let (Ok(_), Some(c)) = (&other, &cred) {
                            self.auth.mark_used(&c.source);
                        }
                        self.map(other, ep, &url, req, deadline)
                    }
                }
            }
            other => self.map(other, ep, &url, req, deadline),
        }
    }

    fn token_key(ep: &Endpoint, scope: &str, cred: Option<&Credential>) -> (String, String, String) {
        let fp = cred.map_or_else(|| "anonymous".to_string(), Credential::fingerprint);
        (ep.authority.clone(), scope.to_string(), fp)
    }

    /// A still-valid authorization obtained earlier with the same credential: in this run, or
    /// (Bearer tokens only) by an earlier run through the token store.
    fn cached_authorization(&self, ep: &Endpoint, scope: &str, cred: Option<&Credential>) -> Option<String> {
        let key = Self::token_key(ep, scope, cred);
        let found = self.authorizations.lock().ok().and_then(|m| m.get(&key).cloned());
        match found {
            Some(a) => a.expires.is_none_or(|e| e > Instant::now()).then_some(a.header),
            None => self.stored_token(&key),
        }
    }

    fn remember(&self, ep: &Endpoint, scope: &str, cred: Option<&Credential>, authz: Authorization) {
        let key = Self::token_key(ep, scope, cred);
        self.store_token(&key, &authz);
        if let Ok(mut m) = self.authorizations.lock() {
            m.insert(key, authz);
        }
    }

    fn stored_token(&self, key: &(String, String, String)) -> Option<String> {
        let store = self.token_store.as_ref()?;
        let entry = store.get(vouch_cache::Kind::Tokens, &token_file_key(key))?;
        let header = String::from_utf8(entry.body).ok()?;
        header.starts_with("Bearer ").then_some(header)
    }

    fn store_token(&self, key: &(String, String, String), authz: &Authorization) {
        let (Some(store), Some(expires)) = (&self.token_store, authz.expires) else { return };
        if !authz.header.starts_with("Bearer ") {
            return;
        }
        // A token is dropped a little before it expires, so no request goes out with one that
        // expires on the way.
        let ttl = expires.saturating_duration_since(Instant::now()).saturating_sub(TOKEN_EXPIRY_MARGIN);
        if !ttl.is_zero() {
            store.put(vouch_cache::Kind::Tokens, &token_file_key(key), authz.header.as_bytes(), Some(ttl));
        }
    }

    fn map(
        &self,
        result: Result<ureq::Response, ureq::Error>,
        ep: &Endpoint,
        url: &str,
        req: &Req<'_>,
        deadline: &Deadline,
    ) -> Result<ureq::Response, RegistryError> {
        match result {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(401, _)) => Err(unauthorized(ep, req, "authentication required")),
            Err(ureq::Error::Status(status, _)) => Err(RegistryError::Status { url: url.to_string(), status }),
            Err(ureq::Error::Transport(t)) => Err(transport_error(ep.authority.clone(), &req.step, t, deadline)),
        }
    }

    /// Answers a 401 challenge: a Basic header, a registry token, or a Bearer token from the
    /// token endpoint obtained with the credential (or anonymously without one).
    fn authorize(
        &self,
        ep: &Endpoint,
        req: &Req<'_>,
        header: &str,
        scope: &str,
        cred: Option<&Credential>,
        deadline: &Deadline,
    ) -> Result<Authorization, RegistryError> {
        let Some(c) = challenge::parse(header) else {
            return Err(unauthorized(ep, req, "401 without a WWW-Authenticate challenge"));
        };
        match (c.scheme.as_str(), cred.map(|c| &c.secret)) {
            ("basic", Some(Secret::Basic { username, password })) => Ok(Authorization { header: basic(username, password), expires: None }),
            ("basic", Some(_)) => Err(unauthorized(ep, req, &format!("the registry asks for a username and password, and the credential from {} is a token", source_of(cred)))),
            ("basic", None) => Err(no_credential(ep, req, "Basic")),
            ("bearer", Some(Secret::RegistryToken(t))) => Ok(Authorization { header: format!("Bearer {t}"), expires: None }),
            ("bearer", _) => self.token(ep, req, &c, scope, cred, deadline),
            (other, _) => Err(unauthorized(ep, req, &format!("unsupported authentication scheme {other:?}"))),
        }
    }

    /// Gets a Bearer token from the challenge's realm.
    fn token(
        &self,
        ep: &Endpoint,
        req: &Req<'_>,
        c: &challenge::Challenge,
        scope: &str,
        cred: Option<&Credential>,
        deadline: &Deadline,
    ) -> Result<Authorization, RegistryError> {
        let realm = c.param("realm").ok_or_else(|| unauthorized(ep, req, "Bearer challenge without realm"))?;
        let (realm_scheme, realm_host) = match realm.split_once("://") {
            Some((s @ ("http" | "https"), rest)) => (s, rest.split('/').next().unwrap_or("")),
            _ => return Err(unauthorized(ep, req, "token realm is not an http(s) URL")),
        };
        let tls = if realm_host == ep.authority { ep.tls.clone() } else { TlsSettings::default() };
        let agent = self.agent(realm_scheme, realm_host, &tls)?;
        let t = TokenRequest { agent: &agent, realm, realm_host, service: c.param("service"), scope: c.param("scope").unwrap_or(scope), deadline };
        let answer = match cred.map(|c| &c.secret) {
            Some(Secret::IdentityToken { username, token }) => match t.refresh(token) {
                Err(TokenFailure::Status(404 | 405)) => t.get(Some((username_or_token(username), token))),
                other => other,
            },
            Some(Secret::Basic { username, password }) => t.get(Some((username, password))),
            _ => t.get(None),
        };
        let answer = answer.map_err(|f| match f {
            TokenFailure::Status(s) if cred.is_some() => refused_by_realm(ep, req, realm, s, cred),
            TokenFailure::Status(s) => unauthorized(ep, req, &format!("token endpoint {realm} answered HTTP {s}")),
            TokenFailure::Registry(e) => *e,
            TokenFailure::Bad(reason) => unauthorized(ep, req, &format!("token endpoint {realm}: {reason}")),
        })?;
        let lifetime = Duration::from_secs(answer.expires_in.filter(|s| *s > 0).unwrap_or(DEFAULT_TOKEN_SECONDS));
        Ok(Authorization { header: format!("Bearer {}", answer.token), expires: Some(Instant::now() + lifetime) })
    }
}

/// Token lifetime when the answer gives none.
const DEFAULT_TOKEN_SECONDS: u64 = 60;

/// One token request's parameters.
struct TokenRequest<'a> {
    agent: &'a ureq::Agent,
    realm: &'a str,
    realm_host: &'a str,
    service: Option<&'a str>,
    scope: &'a str,
    deadline: &'a Deadline,
}

/// A token and its lifetime.
struct TokenAnswer {
    token: String,
    expires_in: Option<u64>,
}

/// Why a token request failed.
enum TokenFailure {
    /// The endpoint answered this status.
    Status(u16),
    /// The endpoint could not be reached.
    Registry(Box<RegistryError>),
    /// The answer is not a token answer.
    Bad(String),
}

impl TokenRequest<'_> {
    /// GET with Basic credentials (or none).
    fn get(&self, basic_auth: Option<(&str, &str)>) -> Result<TokenAnswer, TokenFailure> {
        let mut r = self.agent.get(self.realm).timeout(self.deadline.remaining()).query("scope", self.scope);
        if let Some(service) = self.service {
            r = r.query("service", service);
        }
        if let Some((user, pass)) = basic_auth {
            r = r.query("account", user).set("Authorization", &basic(user, pass));
        }
        self.answer(r.call())
    }

    /// POST `grant_type=refresh_token` (OAuth2), as docker does for identity tokens.
    fn refresh(&self, refresh_token: &str) -> Result<TokenAnswer, TokenFailure> {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("scope", self.scope), ("client_id", "vouch")];
        if let Some(service) = self.service {
            form.push(("service", service));
        }
        let r = self.agent.post(self.realm).timeout(self.deadline.remaining());
        self.answer(r.send_form(&form))
    }

    fn answer(&self, result: Result<ureq::Response, ureq::Error>) -> Result<TokenAnswer, TokenFailure> {
        let resp = match result {
            Ok(resp) => resp,
            Err(ureq::Error::Status(s, _)) => return Err(TokenFailure::Status(s)),
            Err(ureq::Error::Transport(t)) => {
                let e = transport_error(self.realm_host.to_string(), "getting a registry token", t, self.deadline);
                return Err(TokenFailure::Registry(Box::new(e)));
            }
        };
        let body = read_body(resp, MAX_TOKEN_BODY, "token answer", "getting a registry token", self.deadline).map_err(|e| TokenFailure::Registry(Box::new(e)))?;
        let (token, expires_in) = token_answer(&body).map_err(TokenFailure::Bad)?;
        Ok(TokenAnswer { token, expires_in })
    }
}

/// A token endpoint's answer: the token (`token`, else `access_token`) and `expires_in`, or why
/// the answer is not one. Public so that fuzzing and tests reach the exact parsing a run uses.
pub fn token_answer(body: &[u8]) -> Result<(String, Option<u64>), String> {
    #[derive(serde::Deserialize)]
    struct Raw {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|_| "the answer is not token JSON".to_string())?;
    let token = raw.token.filter(|t| !t.is_empty()).or(raw.access_token).filter(|t| !t.is_empty());
    Ok((token.ok_or("the answer has no token")?, raw.expires_in))
}

/// The username for a Basic token request made with an identity token.
fn username_or_token(username: &str) -> &str {
    if username.is_empty() { "<token>" } else { username }
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

fn transport_error(host: String, step: &str, t: ureq::Transport, deadline: &Deadline) -> RegistryError {
    if deadline.remaining() < DEADLINE_SLACK {
        return RegistryError::Deadline { step: step.to_string() };
    }
    let reason = t.to_string();
    if reason.contains("tls") || reason.contains("TLS") || reason.contains("certificate") {
        return RegistryError::Tls { host, reason };
    }
    RegistryError::Unreachable { host, reason }
}

fn source_of(cred: Option<&Credential>) -> &str {
    cred.map_or("", |c| c.source.as_str())
}

fn credentials_error(ep: &Endpoint, req: &Req<'_>, e: AuthError) -> RegistryError {
    RegistryError::Credentials { host: ep.authority.clone(), repository: req.repository.to_string(), reason: e.to_string() }
}

fn no_credential(ep: &Endpoint, req: &Req<'_>, scheme: &str) -> RegistryError {
    unauthorized(
        ep,
        req,
        &format!("the registry requires {scheme} authentication and no credential source has an entry for it (configure one in [auth]; see docs/credentials.md)"),
    )
}

/// A 401 on a request made with the credential's authorization.
fn refused(ep: &Endpoint, req: &Req<'_>, cred: Option<&Credential>) -> RegistryError {
    match cred {
        Some(c) => unauthorized(ep, req, &format!("the registry refused the credential from {} (wrong or expired: renew it)", c.source)),
        None => no_credential(ep, req, "token"),
    }
}

fn refused_by_realm(ep: &Endpoint, req: &Req<'_>, realm: &str, status: u16, cred: Option<&Credential>) -> RegistryError {
    unauthorized(
        ep,
        req,
        &format!("token endpoint {realm} refused the credential from {} with HTTP {status} (wrong or expired: renew it)", source_of(cred)),
    )
}

// ureq's own error, handed as it is to the one caller, which sorts it at once.
#[allow(clippy::result_large_err)]
fn attempt(
    agent: &ureq::Agent,
    ep: &Endpoint,
    url: &str,
    req: &Req<'_>,
    authorization: Option<&str>,
    deadline: &Deadline,
) -> Result<ureq::Response, ureq::Error> {
    let mut r = agent.request(req.method, url).timeout(deadline.remaining());
    for (k, v) in &ep.headers {
        r = r.set(k, v);
    }
    if let Some(a) = req.accept {
        r = r.set("Accept", a);
    }
    if let Some(a) = authorization {
        r = r.set("Authorization", a);
    }
    r.call()
}

fn unauthorized(ep: &Endpoint, req: &Req<'_>, reason: &str) -> RegistryError {
    RegistryError::Unauthorized { host: ep.authority.clone(), repository: req.repository.to_string(), reason: reason.to_string() }
}

fn url(scheme: &str, ep: &Endpoint, req: &Req<'_>) -> String {
    let mut url = format!("{scheme}://{}{}{}", ep.authority, ep.api_root, req.path);
    let mut query: Vec<(String, String)> = req.query.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    if ep.mirror {
        query.push(("ns".into(), req.registry.to_string()));
    }
    for (i, (k, v)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&encode(k));
        url.push('=');
        url.push_str(&encode(v));
    }
    url
}

/// Percent-encodes a query component.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a body of at most `limit` bytes.
pub fn read_body(resp: ureq::Response, limit: u64, what: &str, step: &str, deadline: &Deadline) -> Result<Vec<u8>, RegistryError> {
    if let Some(len) = resp.header("content-length").and_then(|v| v.trim().parse::<u64>().ok()) {
        if len > limit {
            return Err(RegistryError::TooLarge { what: what.to_string(), limit });
        }
    }
    let mut buf = Vec::new();
    let read = resp.into_reader().take(limit + 1).read_to_end(&mut buf);
    if let Err(e) = read {
        if deadline.remaining() < DEADLINE_SLACK {
            return Err(RegistryError::Deadline { step: step.to_string() });
        }
        return Err(RegistryError::BadResponse { what: what.to_string(), reason: format!("connection broke while reading: {e}") });
    }
    if buf.len() as u64 > limit {
        return Err(RegistryError::TooLarge { what: what.to_string(), limit });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_ns_for_mirrors_and_encode_queries() {
        let mut ep = crate::hosts::endpoints(None, "r.io", &[]).unwrap().remove(0);
        let req = Req {
            method: "GET",
            path: "/a/referrers/sha256:00".into(),
            query: vec![("artifactType", "application/vnd.cncf.notary.signature".into())],
            accept: None,
            repository: "a",
            registry: "r.io",
            step: String::new(),
        };
        assert_eq!(url("https", &ep, &req), "https://r.io/v2/a/referrers/sha256:00?artifactType=application%2Fvnd.cncf.notary.signature");
        ep.mirror = true;
        assert!(url("http", &ep, &req).ends_with("&ns=r.io"));
    }
}
