//! HTTP requests to one endpoint: agents per TLS setting, the Bearer token flow, the
//! HTTPS-to-HTTP fallback for loopback registries, and bounded body reads. Every request gets
//! the time left before the deadline as its overall timeout.

use crate::challenge;
use crate::hosts::{Endpoint, TlsSettings};
use crate::RegistryError;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;
use vouch_core::Deadline;

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

/// Shared HTTP state of one client.
#[derive(Default)]
pub struct Transport {
    agents: Mutex<HashMap<(String, TlsSettings), ureq::Agent>>,
    tokens: Mutex<HashMap<(String, String), String>>,
    http_fallback: Mutex<HashSet<String>>,
}

impl Transport {
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

    fn send_as(&self, scheme: &str, ep: &Endpoint, req: &Req<'_>, deadline: &Deadline) -> Result<ureq::Response, RegistryError> {
        let url = url(scheme, ep, req);
        let scope = format!("repository:{}:pull", req.repository);
        let token_key = (ep.authority.clone(), scope.clone());
        let token = self.tokens.lock().ok().and_then(|t| t.get(&token_key).cloned());
        let agent = self.agent(scheme, &ep.authority, &ep.tls)?;
        match attempt(&agent, ep, &url, req, token.as_deref(), deadline) {
            Err(ureq::Error::Status(401, resp)) => {
                let header = resp.header("www-authenticate").unwrap_or("").to_string();
                let token = self.challenge(ep, req, &header, &scope, deadline)?;
                if let Ok(mut t) = self.tokens.lock() {
                    t.insert(token_key, token.clone());
                }
                match attempt(&agent, ep, &url, req, Some(&token), deadline) {
                    Err(ureq::Error::Status(401, _)) => Err(unauthorized(ep, req, "the registry refused the token it issued")),
                    other => self.map(other, ep, &url, req, deadline),
                }
            }
            other => self.map(other, ep, &url, req, deadline),
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
            Err(ureq::Error::Transport(t)) => {
                if deadline.remaining() < DEADLINE_SLACK {
                    return Err(RegistryError::Deadline { step: req.step.clone() });
                }
                let reason = t.to_string();
                if reason.contains("tls") || reason.contains("TLS") || reason.contains("certificate") {
                    return Err(RegistryError::Tls { host: ep.authority.clone(), reason });
                }
                Err(RegistryError::Unreachable { host: ep.authority.clone(), reason })
            }
        }
    }

    /// Answers a 401 challenge with an anonymous Bearer token.
    fn challenge(&self, ep: &Endpoint, req: &Req<'_>, header: &str, scope: &str, deadline: &Deadline) -> Result<String, RegistryError> {
        let Some(c) = challenge::parse(header) else {
            return Err(unauthorized(ep, req, "401 without a WWW-Authenticate challenge"));
        };
        if c.scheme != "bearer" {
            return Err(unauthorized(ep, req, &format!("the registry asks for {} credentials and vouch has none for it", c.scheme)));
        }
        let realm = c.param("realm").ok_or_else(|| unauthorized(ep, req, "Bearer challenge without realm"))?;
        let realm_scheme = if realm.starts_with("https://") {
            "https"
        } else if realm.starts_with("http://") {
            "http"
        } else {
            return Err(unauthorized(ep, req, "token realm is not an http(s) URL"));
        };
        let realm_host = realm.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("");
        let agent = self.agent(realm_scheme, realm_host, &TlsSettings::default())?;
        let mut r = agent.get(realm).timeout(deadline.remaining()).query("scope", c.param("scope").unwrap_or(scope));
        if let Some(service) = c.param("service") {
            r = r.query("service", service);
        }
        let resp = match r.call() {
            Ok(resp) => resp,
            Err(ureq::Error::Status(s, _)) => return Err(unauthorized(ep, req, &format!("token endpoint answered HTTP {s}"))),
            Err(ureq::Error::Transport(t)) => {
                if deadline.remaining() < DEADLINE_SLACK {
                    return Err(RegistryError::Deadline { step: format!("getting a token for {}", req.step) });
                }
                return Err(RegistryError::Unreachable { host: realm_host.to_string(), reason: t.to_string() });
            }
        };
        let body = read_body(resp, MAX_TOKEN_BODY, "token answer", &req.step, deadline)?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| unauthorized(ep, req, &format!("token answer is not JSON: {e}")))?;
        answer.token.or(answer.access_token).filter(|t| !t.is_empty()).ok_or_else(|| unauthorized(ep, req, "token answer has no token"))
    }
}

fn attempt(
    agent: &ureq::Agent,
    ep: &Endpoint,
    url: &str,
    req: &Req<'_>,
    token: Option<&str>,
    deadline: &Deadline,
) -> Result<ureq::Response, ureq::Error> {
    let mut r = agent.request(req.method, url).timeout(deadline.remaining());
    for (k, v) in &ep.headers {
        r = r.set(k, v);
    }
    if let Some(a) = req.accept {
        r = r.set("Accept", a);
    }
    if let Some(t) = token {
        r = r.set("Authorization", &format!("Bearer {t}"));
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
