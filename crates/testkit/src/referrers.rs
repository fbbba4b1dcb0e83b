//! A loopback front for a [`TestRegistry`](crate::registry::TestRegistry) that adds the OCI
//! referrers API, which Debian's docker-registry 2.8 lacks.
//!
//! `GET /v2/<repo>/referrers/<digest>` is answered from the registry's `sha256-<hex>` tag-schema
//! index (so the same signatures are found both ways), filtered by `artifactType`, in the pages
//! [`Paging`] asks for, linked by `Link: <…>; rel="next"` headers. Every other request is
//! forwarded to the registry unchanged. The front counts the referrers requests it answered.

use crate::registry::get_manifest;
use anyhow::Result;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the front pages a referrers list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// The whole list in one answer.
    None,
    /// One entry per page, `Link` targets as absolute paths (`</v2/…>`), as the distribution
    /// spec shows them.
    Relative,
    /// One entry per page, `Link` targets as absolute URLs (`<http://host/v2/…>`), as some
    /// registries send them.
    AbsoluteUrl,
}

/// A running front; stops accepting when dropped.
pub struct ReferrersFront {
    host: String,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl ReferrersFront {
    /// Starts a front for the registry at `backend` (`127.0.0.1:PORT`).
    pub fn start(backend: &str, paging: Paging) -> Result<ReferrersFront> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let host = listener.local_addr()?.to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = Front { backend: backend.to_string(), host: host.clone(), paging, hits: hits.clone() };
        let stopping = stop.clone();
        std::thread::spawn(move || accept_loop(listener, ctx, stopping));
        Ok(ReferrersFront { host, hits, stop })
    }

    /// `127.0.0.1:PORT` of the front.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// How many referrers API requests the front answered.
    pub fn referrers_requests(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for ReferrersFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Front {
    backend: String,
    /// The front's own `127.0.0.1:PORT`, for absolute links.
    host: String,
    paging: Paging,
    hits: Arc<AtomicUsize>,
}

fn accept_loop(listener: TcpListener, ctx: Front, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((conn, _)) => {
                let ctx = ctx.clone();
                std::thread::spawn(move || serve(conn, &ctx));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Serves requests on one connection until the client closes it.
fn serve(conn: TcpStream, ctx: &Front) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut out) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    while let Some((method, target)) = read_request(&mut reader) {
        let reply = if target.contains("/referrers/") { ctx.referrers(&target) } else { ctx.forward(&method, &target) };
        if out.write_all(&reply).is_err() {
            return;
        }
    }
}

/// The request line of the next request; headers and (absent) bodies are skipped.
fn read_request(reader: &mut impl BufRead) -> Option<(String, String)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
    }
    Some((method, target))
}

fn response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl Front {
    fn referrers(&self, target: &str) -> Vec<u8> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let Some((repo, digest)) = path.strip_prefix("/v2/").and_then(|p| p.split_once("/referrers/")) else {
            return response("400 Bad Request", &[], b"");
        };
        let wanted = query_value(query, "artifactType");
        let start: usize = query_value(query, "last").and_then(|v| v.parse().ok()).unwrap_or(0);
        let tag = digest.replacen(':', "-", 1);
        let entries: Vec<Value> = match get_manifest(&self.backend, repo, &tag) {
            Ok(Some((bytes, _))) => serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["manifests"].as_array().cloned())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let entries: Vec<Value> =
            entries.into_iter().filter(|m| wanted.as_deref().is_none_or(|t| m["artifactType"] == t)).collect();
        self.page(path, query, entries, start)
    }

    fn page(&self, path: &str, query: &str, entries: Vec<Value>, start: usize) -> Vec<u8> {
        let paged = self.paging != Paging::None;
        let take = if paged { 1 } else { entries.len() };
        let page: Vec<Value> = entries.iter().skip(start).take(take).cloned().collect();
        let body = json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": page });
        let mut headers = vec![("Content-Type", "application/vnd.oci.image.index.v1+json".to_string())];
        if paged && start + 1 < entries.len() {
            let rest: Vec<&str> = query.split('&').filter(|kv| !kv.starts_with("last=") && !kv.is_empty()).collect();
            let mut q = rest.join("&");
            if !q.is_empty() {
                q.push('&');
            }
            let origin = if self.paging == Paging::AbsoluteUrl { format!("http://{}", self.host) } else { String::new() };
            headers.push(("Link", format!("<{origin}{path}?{q}last={}>; rel=\"next\"", start + 1)));
        }
        response("200 OK", &headers, &serde_json::to_vec(&body).unwrap_or_default())
    }

    /// Forwards a GET or HEAD to the registry and relays the answer.
    fn forward(&self, method: &str, target: &str) -> Vec<u8> {
        let url = format!("http://{}{target}", self.backend);
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, */*";
        let resp = match ureq::request(method, &url).set("Accept", accept).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return response("502 Bad Gateway", &[], e.to_string().as_bytes()),
        };
        let status = format!("{} {}", resp.status(), resp.status_text());
        let headers: Vec<(&str, String)> = ["Content-Type", "Docker-Content-Digest", "Docker-Distribution-Api-Version"]
            .into_iter()
            .filter_map(|h| resp.header(h).map(|v| (h, v.to_string())))
            .collect();
        let mut body = Vec::new();
        let _ = resp.into_reader().take(64 << 20).read_to_end(&mut body);
        if method == "HEAD" {
            // A HEAD answer carries the length of the body it does not send.
            let mut r = response(&status, &headers, &body);
            r.truncate(r.len() - body.len());
            return r;
        }
        response(&status, &headers, &body)
    }
}

fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v.replace("%2F", "/").replace("%2f", "/"))
}
