//! OCI distribution client for vouch: finds an image's signatures and fetches them, reading the
//! node's containerd `certs.d` host configuration.
//!
//! Synchronous, bounded and checked: every request gets the time left before the run's
//! deadline, every body is read with a byte cap, and every manifest and blob is verified
//! against the digest and size it was fetched by before it is returned. Signatures are found
//! with the OCI referrers API, falling back to the `sha256-<hex>` tag schema when the registry
//! (or a host whose capabilities omit `referrers`) does not offer it.

pub mod auth;
mod challenge;
mod error;
pub mod hosts;
mod tls;
mod transport;

use hosts::{Endpoint, Need};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use transport::{read_body, Req, Transport};
pub use transport::token_answer;
use vouch_core::{
    Deadline, Descriptor, Digest, ImageRef, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST,
};

pub use error::RegistryError;
pub use vouch_cache::Cache;

/// The manifest media types vouch asks for.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// At most this many pages of a referrers list are followed.
const MAX_REFERRER_PAGES: usize = 10;

/// How the client reaches registries and what it accepts.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// containerd's `certs.d` directory; `None` uses no host configuration.
    pub hosts_dir: Option<PathBuf>,
    /// Registries reached over plain HTTP (`vouch verify --insecure-registry`).
    pub insecure_hosts: Vec<String>,
    /// Largest manifest or index accepted.
    pub max_manifest_bytes: u64,
    /// Largest blob (signature envelope) accepted.
    pub max_blob_bytes: u64,
    /// At most this many signature artifacts are returned per subject.
    pub max_signatures: usize,
    /// Where registry credentials come from.
    pub auth: auth::AuthConfig,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            hosts_dir: None,
            insecure_hosts: Vec::new(),
            max_manifest_bytes: 4 * 1024 * 1024,
            max_blob_bytes: 4 * 1024 * 1024,
            max_signatures: 100,
            auth: auth::AuthConfig::default(),
        }
    }
}

/// Where a referrers list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReferrersSource {
    /// The OCI referrers API.
    Api,
    /// The `sha256-<hex>` tag schema.
    TagSchema,
}

/// The referrers of a subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Referrers {
    /// Referrer manifests, in registry order, of the asked artifact type or of none.
    pub descriptors: Vec<Descriptor>,
    /// How they were found.
    pub source: ReferrersSource,
    /// True when more than `max_signatures` existed.
    pub truncated: bool,
}

#[derive(Deserialize)]
struct IndexBody {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// The `manifests` of an OCI image index, as the referrers API and the `sha256-<hex>` tag
/// schema return them. Public so that fuzzing and tests reach the exact parsing a run uses.
pub fn index_manifests(body: &[u8]) -> Result<Vec<Descriptor>, serde_json::Error> {
    // serde would also read a struct from a JSON array; an index is always an object.
    let value: serde_json::Value = serde_json::from_slice(body)?;
    if !value.is_object() {
        return Err(serde::de::Error::custom("an OCI index is a JSON object"));
    }
    serde_json::from_value::<IndexBody>(value).map(|i| i.manifests)
}

/// A registry client for one run.
pub struct Client {
    opts: RegistryOptions,
    transport: Transport,
    cache: Option<ClientCache>,
    /// Each registry's hosts, read from its hosts.toml once per client rather than per request.
    hosts: std::sync::Mutex<std::collections::HashMap<String, Vec<Endpoint>>>,
}

/// The on-disk cache a client reads before asking the registry.
struct ClientCache {
    store: Arc<Cache>,
    referrers_ttl: Duration,
}

impl Client {
    /// A client; nothing is read or connected until the first request.
    pub fn new(opts: RegistryOptions) -> Client {
        let transport = Transport::new(opts.auth.clone());
        Client { opts, transport, cache: None, hosts: Default::default() }
    }

    /// Serves manifests and blobs fetched by digest from `cache` (re-hashed on read), and
    /// referrers lists for `referrers_ttl` after they were fetched; keeps Bearer tokens there
    /// until they expire.
    pub fn with_cache(mut self, cache: Arc<Cache>, referrers_ttl: Duration) -> Client {
        self.transport.set_token_store(cache.clone());
        self.cache = Some(ClientCache { store: cache, referrers_ttl });
        self
    }

    /// The credential sources whose credentials registries accepted in this run (never secrets),
    /// e.g. `docker config /root/.docker/config.json`.
    pub fn auth_sources(&self) -> Vec<String> {
        self.transport.auth_sources()
    }

    fn endpoints(&self, image: &ImageRef, need: Need) -> Result<Vec<Endpoint>, RegistryError> {
        let known = self.hosts.lock().ok().and_then(|h| h.get(&image.registry).cloned());
        let all = match known {
            Some(all) => all,
            None => {
                let all = hosts::endpoints(self.opts.hosts_dir.as_deref(), &image.registry, &self.opts.insecure_hosts)?;
                if let Ok(mut h) = self.hosts.lock() {
                    h.insert(image.registry.clone(), all.clone());
                }
                all
            }
        };
        Ok(all.into_iter().filter(|e| e.capabilities.allows(need)).collect())
    }

    /// Tries each host that offers `need`; a failing mirror falls through to the next host.
    fn on_hosts<T>(
        &self,
        image: &ImageRef,
        need: Need,
        mut f: impl FnMut(&Endpoint) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let endpoints = self.endpoints(image, need)?;
        let mut last = None;
        for (i, ep) in endpoints.iter().enumerate() {
            let is_last = i + 1 == endpoints.len();
            match f(ep) {
                Ok(v) => return Ok(v),
                Err(e @ RegistryError::Deadline { .. }) => return Err(e),
                Err(e) if !is_last && falls_through(&e) => {
                    log::warn!("{} failed ({e}); trying the next host", ep.authority);
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::BadResponse {
            what: format!("hosts for {}", image.registry),
            reason: format!("no configured host offers the {need:?} capability"),
        }))
    }

    /// Resolves the image's tag (or digest) to a descriptor.
    pub fn resolve(&self, image: &ImageRef, deadline: &Deadline) -> Result<Descriptor, RegistryError> {
        let reference = match (&image.digest, &image.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        };
        let step = format!("resolving {image}");
        self.on_hosts(image, Need::Resolve, |ep| {
            let req = self.req("GET", format!("/{}/manifests/{reference}", image.repository), Some(MANIFEST_ACCEPT), image, &step);
            let resp = self.send(ep, &req, deadline, &format!("manifest {reference} of {}", image.repository))?;
            let media_type = resp.header("content-type").map(|s| s.split(';').next().unwrap_or("").trim().to_string());
            let body = read_body(resp, self.opts.max_manifest_bytes, "manifest", &step, deadline)?;
            let digest = match &image.digest {
                Some(d) => check_digest(d, &body, &format!("manifest of {image}"))?,
                None => Digest::sha256_of(&body),
            };
            let media_type = media_type.filter(|m| is_manifest_type(m)).or_else(|| media_type_field(&body)).ok_or_else(|| {
                RegistryError::BadResponse { what: format!("manifest of {image}"), reason: "no manifest media type".into() }
            })?;
            Ok(Descriptor::new(media_type, digest, body.len() as u64))
        })
    }

    /// Fetches a manifest by its descriptor, checking size and digest.
    pub fn fetch_manifest(&self, image: &ImageRef, desc: &Descriptor, deadline: &Deadline) -> Result<Vec<u8>, RegistryError> {
        let what = format!("manifest {}", desc.digest.short());
        self.fetch(image, desc, "manifests", self.opts.max_manifest_bytes, &what, deadline)
    }

    /// Fetches a blob by its descriptor, checking size and digest.
    pub fn fetch_blob(&self, image: &ImageRef, desc: &Descriptor, deadline: &Deadline) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {}", desc.digest.short());
        self.fetch(image, desc, "blobs", self.opts.max_blob_bytes, &what, deadline)
    }

    fn fetch(
        &self,
        image: &ImageRef,
        desc: &Descriptor,
        kind: &str,
        limit: u64,
        what: &str,
        deadline: &Deadline,
    ) -> Result<Vec<u8>, RegistryError> {
        if desc.size > limit {
            return Err(RegistryError::TooLarge { what: what.to_string(), limit });
        }
        if let Some(body) = self.cached_content(desc) {
            return Ok(body);
        }
        let body = self.fetch_remote(image, desc, kind, limit, what, deadline)?;
        if let Some(c) = &self.cache {
            c.store.put_content(&desc.digest, &body);
        }
        Ok(body)
    }

    /// Content of `desc` from the cache, when present, of the right size and digest.
    fn cached_content(&self, desc: &Descriptor) -> Option<Vec<u8>> {
        let body = self.cache.as_ref()?.store.get_content(&desc.digest)?;
        (body.len() as u64 == desc.size).then_some(body)
    }

    fn fetch_remote(
        &self,
        image: &ImageRef,
        desc: &Descriptor,
        kind: &str,
        limit: u64,
        what: &str,
        deadline: &Deadline,
    ) -> Result<Vec<u8>, RegistryError> {
        let step = format!("fetching {what} from {}", image.registry);
        let accept = if kind == "manifests" { Some(desc.media_type.as_str()) } else { None };
        self.on_hosts(image, Need::Pull, |ep| {
            let req = self.req("GET", format!("/{}/{kind}/{}", image.repository, desc.digest), accept, image, &step);
            let resp = self.send(ep, &req, deadline, what)?;
            let body = read_body(resp, desc.size.min(limit), what, &step, deadline)?;
            if body.len() as u64 != desc.size {
                return Err(RegistryError::SizeMismatch { what: what.to_string(), expected: desc.size, actual: body.len() as u64 });
            }
            check_digest(&desc.digest, &body, what)?;
            Ok(body)
        })
    }

    /// Lists the referrers of `subject` with `artifact_type` (entries without an artifact type
    /// are kept for the caller to inspect).
    pub fn referrers(
        &self,
        image: &ImageRef,
        subject: &Digest,
        artifact_type: &str,
        deadline: &Deadline,
    ) -> Result<Referrers, RegistryError> {
        let key = self.referrers_key(image, subject, artifact_type);
        if let Some(hit) = self.cached_referrers(&key) {
            return Ok(hit);
        }
        let found = self.referrers_remote(image, subject, artifact_type, deadline)?;
        let cache = self.cache.as_ref().filter(|c| !c.referrers_ttl.is_zero());
        if let (Some(c), Ok(body)) = (cache, serde_json::to_vec(&found)) {
            c.store.put(vouch_cache::Kind::Referrers, &key, &body, Some(c.referrers_ttl));
        }
        Ok(found)
    }

    /// The referrers cache key: registry, repository, subject, artifact type and the cap.
    fn referrers_key(&self, image: &ImageRef, subject: &Digest, artifact_type: &str) -> String {
        vouch_cache::KeyBuilder::new()
            .field(&image.registry)
            .field(&image.repository)
            .field(subject.to_string())
            .field(artifact_type)
            .field(self.opts.max_signatures.to_string())
            .finish()
    }

    fn cached_referrers(&self, key: &str) -> Option<Referrers> {
        let c = self.cache.as_ref().filter(|c| !c.referrers_ttl.is_zero())?;
        let entry = c.store.get(vouch_cache::Kind::Referrers, key)?;
        serde_json::from_slice(&entry.body).ok()
    }

    fn referrers_remote(
        &self,
        image: &ImageRef,
        subject: &Digest,
        artifact_type: &str,
        deadline: &Deadline,
    ) -> Result<Referrers, RegistryError> {
        let step = format!("listing referrers of {} in {}", subject.short(), image.registry);
        let api = self.endpoints(image, Need::Referrers)?;
        let found = match api.first() {
            Some(ep) => self.referrers_api(ep, image, subject, artifact_type, deadline, &step)?,
            None => None,
        };
        let (all, source, cut) = match found {
            Some((list, cut)) => (list, ReferrersSource::Api, cut),
            None => (self.tag_schema(image, subject, deadline, &step)?, ReferrersSource::TagSchema, false),
        };
        // A manifest listed twice (or on pages that repeat) is examined once, and does not
        // take a second place under the cap.
        let mut listed = std::collections::HashSet::new();
        let mut descriptors: Vec<Descriptor> = all
            .into_iter()
            .filter(|d| d.artifact_type.as_deref().is_none_or(|t| t == artifact_type))
            .filter(|d| listed.insert(d.digest.clone()))
            .collect();
        let truncated = cut || descriptors.len() > self.opts.max_signatures;
        descriptors.truncate(self.opts.max_signatures);
        Ok(Referrers { descriptors, source, truncated })
    }

    /// The referrers API; `Ok(None)` when the registry does not offer it. With the list, whether
    /// pages were left unread (past the page or signature cap, or on another host).
    fn referrers_api(
        &self,
        ep: &Endpoint,
        image: &ImageRef,
        subject: &Digest,
        artifact_type: &str,
        deadline: &Deadline,
        step: &str,
    ) -> Result<Option<(Vec<Descriptor>, bool)>, RegistryError> {
        let mut out = Vec::new();
        let mut path = format!("/{}/referrers/{subject}", image.repository);
        let mut query = vec![("artifactType", artifact_type.to_string())];
        let mut visited = std::collections::HashSet::new();
        let mut cut = false;
        for page in 1..=MAX_REFERRER_PAGES {
            let mut req = self.req("GET", path.clone(), Some(MEDIA_TYPE_OCI_INDEX), image, step);
            req.query = query.clone();
            let resp = match self.transport.send(ep, &req, deadline) {
                Ok(r) => r,
                Err(RegistryError::Status { status: 404 | 400 | 406 | 405, .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let next = resp.header("link").and_then(next_link);
            let body = read_body(resp, self.opts.max_manifest_bytes, "referrers list", step, deadline)?;
            let Ok(manifests) = index_manifests(&body) else {
                // Not an index: the registry does not speak the referrers API.
                return Ok(None);
            };
            out.extend(manifests);
            let Some(next) = next else { break };
            if !visited.insert(next.clone()) {
                log::warn!("{}: the referrers pages of {} loop back to {next}; the list ends there", ep.authority, subject.short());
                break;
            }
            let more = page < MAX_REFERRER_PAGES && out.len() <= self.opts.max_signatures;
            match link_path(&next, ep).and_then(|p| p.strip_prefix(&ep.api_root)).filter(|_| more) {
                Some(p) => {
                    let (p, q) = p.split_once('?').unwrap_or((p, ""));
                    path = p.to_string();
                    query = parse_query(q);
                }
                None => {
                    cut = true;
                    break;
                }
            }
        }
        Ok(Some((out, cut)))
    }

    /// The `sha256-<hex>` tag-schema index; a missing tag means no referrers.
    fn tag_schema(&self, image: &ImageRef, subject: &Digest, deadline: &Deadline, step: &str) -> Result<Vec<Descriptor>, RegistryError> {
        let tag = format!("{}-{}", subject.algorithm().name(), subject.hex());
        self.on_hosts(image, Need::Resolve, |ep| {
            let req = self.req("GET", format!("/{}/manifests/{tag}", image.repository), Some(MEDIA_TYPE_OCI_INDEX), image, step);
            let resp = match self.transport.send(ep, &req, deadline) {
                Ok(r) => r,
                Err(RegistryError::Status { status: 404, .. }) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let body = read_body(resp, self.opts.max_manifest_bytes, "referrers tag index", step, deadline)?;
            index_manifests(&body).map_err(|e| RegistryError::BadResponse {
                what: format!("referrers tag index {tag}"),
                reason: format!("not an OCI index: {e}"),
            })
        })
    }

    fn req<'a>(&self, method: &'static str, path: String, accept: Option<&'a str>, image: &'a ImageRef, step: &str) -> Req<'a> {
        Req { method, path, query: Vec::new(), accept, repository: &image.repository, registry: &image.registry, step: step.to_string() }
    }

    /// Sends and maps 404 to `NotFound`.
    fn send(&self, ep: &Endpoint, req: &Req<'_>, deadline: &Deadline, what: &str) -> Result<ureq::Response, RegistryError> {
        match self.transport.send(ep, req, deadline) {
            Err(RegistryError::Status { status: 404, .. }) => Err(RegistryError::NotFound { what: format!("{what} on {}", ep.authority) }),
            other => other,
        }
    }
}

/// Errors after which the next host is worth trying.
fn falls_through(e: &RegistryError) -> bool {
    match e {
        RegistryError::Unreachable { .. } | RegistryError::Tls { .. } | RegistryError::NotFound { .. } => true,
        RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}

fn check_digest(expected: &Digest, body: &[u8], what: &str) -> Result<Digest, RegistryError> {
    if expected.matches(body) {
        return Ok(expected.clone());
    }
    Err(RegistryError::DigestMismatch {
        what: what.to_string(),
        expected: expected.to_string(),
        actual: Digest::compute(expected.algorithm(), body).to_string(),
    })
}

fn is_manifest_type(m: &str) -> bool {
    [MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST].contains(&m)
}

fn media_type_field(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct M {
        media_type: Option<String>,
    }
    serde_json::from_slice::<M>(body).ok()?.media_type.filter(|m| is_manifest_type(m))
}

/// The target of `Link: <…>; rel="next"`.
/// The target of a `Link: <…>; rel="next"` header (referrers paging).
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

/// The path of a `Link` target on `ep`: a path as it is; an absolute URL only on the same host
/// and scheme, because a page elsewhere would receive this registry's credentials (plain `http`
/// too when vouch already talks plain HTTP to this loopback host).
fn link_path<'a>(target: &'a str, ep: &Endpoint) -> Option<&'a str> {
    if target.starts_with('/') {
        return Some(target);
    }
    let (scheme, rest) = target.split_once("://")?;
    let scheme_ok = scheme.eq_ignore_ascii_case(ep.scheme) || (ep.http_fallback && scheme.eq_ignore_ascii_case("http"));
    let (authority, path) = rest.split_at(rest.find('/')?);
    (scheme_ok && authority.eq_ignore_ascii_case(&ep.authority)).then_some(path)
}

fn parse_query(q: &str) -> Vec<(&'static str, String)> {
    // Only the parameters vouch sends are carried over to the next page.
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| match k {
            "artifactType" => Some(("artifactType", v.replace("%2F", "/").replace("%2f", "/"))),
            "n" => Some(("n", v.to_string())),
            "last" => Some(("last", v.to_string())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_on_the_same_host_only() {
        let ep = Endpoint {
            scheme: "https",
            authority: "reg.example:5000".into(),
            api_root: "/v2".into(),
            capabilities: hosts::Capabilities { pull: true, resolve: true, referrers: true },
            mirror: false,
            http_fallback: false,
            tls: hosts::TlsSettings::default(),
            headers: Vec::new(),
        };
        assert_eq!(link_path("/v2/a/referrers/x?last=1", &ep), Some("/v2/a/referrers/x?last=1"));
        assert_eq!(link_path("https://REG.example:5000/v2/a?last=1", &ep), Some("/v2/a?last=1"));
        assert_eq!(link_path("https://other.example/v2/a", &ep), None, "another host would get the credentials");
        assert_eq!(link_path("http://reg.example:5000/v2/a", &ep), None, "no downgrade to plain HTTP");
        assert_eq!(link_path("https://reg.example:5000", &ep), None);
        assert_eq!(link_path("?last=1", &ep), None);
    }

    #[test]
    fn link_headers() {
        assert_eq!(next_link(r#"</v2/a/referrers/sha256:00?n=2&last=x>; rel="next""#).as_deref(), Some("/v2/a/referrers/sha256:00?n=2&last=x"));
        assert_eq!(next_link("</x>; rel=\"prev\""), None);
    }
}
