//! A scripted loopback registry that misbehaves on purpose, one path at a time.
//!
//! [`HostileRegistry`] speaks just enough HTTP/1.1 (keep-alive, one thread per connection) to
//! serve an OCI distribution API from memory: `GET /v2/` answers 200, and every other path
//! answers from the content registered for it with [`HostileRegistry::serve`], or 404. A
//! [`Behaviour`] set on a path with [`HostileRegistry::set`] replaces the honest answer with a
//! fault: a slow answer, a body that never ends, one larger than any limit, a lying
//! `Content-Length`, bytes that do not match their digest, redirects, error statuses, or a reset
//! in the middle of the body. Every request is recorded, so a test can count what a client
//! asked for and check which headers it sent where.
//!
//! [`SignedImage`] builds a real signed image in memory with the development signer
//! ([`crate::signer`]): the image manifest, a Notary Project signature manifest with its JWS
//! envelope, and the referrers index listing it. Served unchanged it verifies, so a test
//! proves the honest case first and then flips one path to a fault.

use crate::signer::{LeafOptions, SignOptions, TestCa, TestSigner, MEDIA_TYPE_EMPTY, THUMBPRINT_ANNOTATION};
use anyhow::Result;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vouch_core::{Descriptor, Digest, MEDIA_TYPE_JWS, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, NOTARY_SIGNATURE_ARTIFACT_TYPE};

/// How long a body that never ends, or a flood, is kept up at most.
const MAX_MISBEHAVIOUR: Duration = Duration::from_secs(30);
/// The most bytes a flood sends before giving up.
const FLOOD_CAP: u64 = 1 << 30;
/// Size of the writes of large bodies.
const CHUNK: usize = 64 * 1024;

/// What the registry answers on one path instead of its honest content.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with these bytes and this `Content-Type` (what [`HostileRegistry::serve`] sets).
    Normal(Vec<u8>, String),
    /// The honest answer, after this delay.
    Slow(Duration),
    /// Status and headers, then one byte every 100 ms, with neither a `Content-Length` nor an
    /// end: the body never finishes.
    NeverEnds,
    /// 200 with an honest `Content-Length` of this many filler bytes, all sent.
    Oversized(u64),
    /// 200 without a `Content-Length`, then filler bytes as fast as the client takes them
    /// (up to 1 GiB), the end marked only by closing the connection.
    Flood,
    /// The honest body under `Content-Length: declared`. When the body is longer, the rest is
    /// left in the connection; when it is shorter, the connection is closed after it.
    LyingLength(u64),
    /// The honest headers, and as many bytes that are not the content (one bit flipped).
    WrongDigest,
    /// `307` back to the same path, forever.
    RedirectLoop,
    /// `307` to the same path on another server, e.g. `http://127.0.0.2:4000`.
    RedirectToOtherHost(String),
    /// This status with a small OCI error body and, when given, a `Retry-After` header.
    Status(u16, Option<String>),
    /// The honest headers and half the body, then a TCP reset.
    ResetMidBody,
}

/// One request the registry received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, without `?` (empty when none).
    pub query: String,
    /// The `Authorization` header, when one was sent.
    pub authorization: Option<String>,
}

/// Honest content of a path, with extra response headers (e.g. `Link`).
#[derive(Debug, Clone)]
struct Content {
    body: Vec<u8>,
    content_type: String,
    headers: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    /// Honest content by request target: a path, or a path with its query.
    content: HashMap<String, Content>,
    /// Faults by request target.
    faults: HashMap<String, Behaviour>,
    /// Every request, in arrival order.
    seen: Vec<SeenRequest>,
    /// `Basic` credentials every `/v2/…` request must carry, when set.
    basic: Option<String>,
}

impl State {
    /// The route for a target: the exact target (with its query) first, then its path.
    fn lookup<'a, T>(map: &'a HashMap<String, T>, target: &str, path: &str) -> Option<&'a T> {
        map.get(target).or_else(|| map.get(path))
    }
}

/// A running scripted registry; stops accepting when dropped.
pub struct HostileRegistry {
    host: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl HostileRegistry {
    /// Starts a registry on a free port of 127.0.0.1.
    pub fn start() -> io::Result<HostileRegistry> {
        HostileRegistry::start_on("127.0.0.1")
    }

    /// Starts a registry on a free port of `ip` (any loopback address on Linux).
    pub fn start_on(ip: &str) -> io::Result<HostileRegistry> {
        let listener = TcpListener::bind((ip, 0))?;
        listener.set_nonblocking(true)?;
        let host = listener.local_addr()?.to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || accept_loop(listener, s, st));
        Ok(HostileRegistry { host, state, stop })
    }

    /// `IP:PORT` of the registry.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `http://IP:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.host)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Serves `body` honestly on `target` (a path such as `/v2/acme/app/blobs/sha256:…`, or a
    /// path with a query, which is matched before the bare path).
    pub fn serve(&self, target: &str, body: Vec<u8>, content_type: &str) {
        self.serve_with_headers(target, body, content_type, &[]);
    }

    /// As [`HostileRegistry::serve`], with extra response headers.
    pub fn serve_with_headers(&self, target: &str, body: Vec<u8>, content_type: &str, headers: &[(&str, &str)]) {
        let content = Content {
            body,
            content_type: content_type.to_string(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        self.with(|s| s.content.insert(target.to_string(), content));
    }

    /// Makes `target` misbehave as `behaviour` says (its honest content is kept for the
    /// behaviours that start from it).
    pub fn set(&self, target: &str, behaviour: Behaviour) {
        self.with(|s| s.faults.insert(target.to_string(), behaviour));
    }

    /// Answers `target` honestly again.
    pub fn clear(&self, target: &str) {
        self.with(|s| s.faults.remove(target));
    }

    /// Requires `Authorization: Basic` with these credentials on every `/v2/…` request; others
    /// get a 401 with a Basic challenge.
    pub fn require_basic(&self, username: &str, password: &str) {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.with(|s| s.basic = Some(format!("Basic {token}")));
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.with(|s| s.seen.clone())
    }

    /// How many requests asked for `path` (with any query).
    pub fn requests(&self, path: &str) -> usize {
        self.with(|s| s.seen.iter().filter(|r| r.path == path).count())
    }

    /// How many requests asked for a path starting with `prefix`.
    pub fn requests_under(&self, prefix: &str) -> usize {
        self.with(|s| s.seen.iter().filter(|r| r.path.starts_with(prefix)).count())
    }

    /// How many requests arrived in all.
    pub fn total_requests(&self) -> usize {
        self.with(|s| s.seen.len())
    }
}

impl Drop for HostileRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((conn, _)) => {
                let (state, stop) = (state.clone(), stop.clone());
                std::thread::spawn(move || connection(conn, &state, &stop));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// A parsed request head.
struct Head {
    method: String,
    target: String,
    authorization: Option<String>,
}

fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_string());
            }
        }
    }
    Some(Head { method, target, authorization })
}

/// What to do after an answer.
enum Next {
    KeepAlive,
    Close,
    /// Drop the connection as it is (a reset was arranged).
    Drop,
}

/// Serves requests on one connection until either side closes it.
fn connection(conn: TcpStream, state: &Mutex<State>, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = conn.set_nodelay(true);
    let Ok(mut out) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    while let Some(head) = read_head(&mut reader) {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (path, query) = head.target.split_once('?').unwrap_or((head.target.as_str(), ""));
        let (path, query) = (path.to_string(), query.to_string());
        let (content, fault, authorised) = {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            s.seen.push(SeenRequest { method: head.method.clone(), path: path.clone(), query, authorization: head.authorization.clone() });
            let authorised = s.basic.is_none() || !path.starts_with("/v2/") || s.basic == head.authorization;
            let content = State::lookup(&s.content, &head.target, &path).cloned();
            let fault = State::lookup(&s.faults, &head.target, &path).cloned();
            (content, fault, authorised)
        };
        let head_only = head.method == "HEAD";
        let next = if !authorised {
            let challenge = [("WWW-Authenticate", "Basic realm=\"hostile\"".to_string())];
            write_error(&mut out, 401, "UNAUTHORIZED", &challenge)
        } else if path == "/v2/" || path == "/v2" {
            write_honest(&mut out, &Content { body: b"{}".to_vec(), content_type: "application/json".into(), headers: Vec::new() }, head_only)
        } else {
            match (fault, content) {
                (Some(b), content) => misbehave(&mut out, &head.target, b, content, head_only, stop),
                (None, Some(c)) => write_honest(&mut out, &c, head_only),
                (None, None) => write_error(&mut out, 404, "MANIFEST_UNKNOWN", &[]),
            }
        };
        match next {
            Next::KeepAlive => {}
            Next::Close => {
                let _ = out.flush();
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Next::Drop => return,
        }
    }
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// The status line and headers; `length` becomes `Content-Length` when given.
fn head_bytes(code: u16, content_type: &str, length: Option<u64>, extra: &[(String, String)]) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {code} {}\r\nDocker-Distribution-Api-Version: registry/2.0\r\n", status_text(code));
    if !content_type.is_empty() {
        h.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    match length {
        Some(n) => h.push_str(&format!("Content-Length: {n}\r\n")),
        None => h.push_str("Connection: close\r\n"),
    }
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn digest_header(body: &[u8], extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut headers = extra.to_vec();
    headers.push(("Docker-Content-Digest".into(), Digest::sha256_of(body).to_string()));
    headers
}

fn write_honest(out: &mut TcpStream, c: &Content, head_only: bool) -> Next {
    let mut bytes = head_bytes(200, &c.content_type, Some(c.body.len() as u64), &digest_header(&c.body, &c.headers));
    if !head_only {
        bytes.extend_from_slice(&c.body);
    }
    if out.write_all(&bytes).is_err() {
        return Next::Close;
    }
    Next::KeepAlive
}

fn write_error(out: &mut TcpStream, code: u16, error: &str, extra: &[(&str, String)]) -> Next {
    let body = json!({ "errors": [{ "code": error, "message": status_text(code), "detail": null }] }).to_string();
    let extra: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let mut bytes = head_bytes(code, "application/json", Some(body.len() as u64), &extra);
    bytes.extend_from_slice(body.as_bytes());
    if out.write_all(&bytes).is_err() {
        return Next::Close;
    }
    Next::KeepAlive
}

/// Writes filler bytes until `total` are sent, the client goes away, or time runs out.
fn stream_filler(out: &mut TcpStream, total: u64, stop: &AtomicBool) {
    let chunk = vec![b' '; CHUNK];
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total && !stop.load(Ordering::SeqCst) && start.elapsed() < MAX_MISBEHAVIOUR {
        let n = (total - sent).min(CHUNK as u64) as usize;
        if out.write_all(&chunk[..n]).is_err() {
            return;
        }
        sent += n as u64;
    }
}

fn misbehave(out: &mut TcpStream, target: &str, b: Behaviour, content: Option<Content>, head_only: bool, stop: &AtomicBool) -> Next {
    let honest = content.unwrap_or(Content { body: Vec::new(), content_type: "application/octet-stream".into(), headers: Vec::new() });
    match b {
        Behaviour::Normal(body, content_type) => write_honest(out, &Content { body, content_type, headers: honest.headers }, head_only),
        Behaviour::Slow(delay) => {
            let until = Instant::now() + delay;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10).min(until.saturating_duration_since(Instant::now())));
            }
            write_honest(out, &honest, head_only)
        }
        Behaviour::NeverEnds => {
            if out.write_all(&head_bytes(200, &honest.content_type, None, &[])).is_err() {
                return Next::Close;
            }
            let start = Instant::now();
            while !stop.load(Ordering::SeqCst) && start.elapsed() < MAX_MISBEHAVIOUR {
                if out.write_all(b" ").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Next::Close
        }
        Behaviour::Oversized(n) => {
            if out.write_all(&head_bytes(200, &honest.content_type, Some(n), &[])).is_err() {
                return Next::Close;
            }
            if !head_only {
                stream_filler(out, n, stop);
            }
            Next::Close
        }
        Behaviour::Flood => {
            if out.write_all(&head_bytes(200, &honest.content_type, None, &[])).is_err() {
                return Next::Close;
            }
            stream_filler(out, FLOOD_CAP, stop);
            Next::Close
        }
        Behaviour::LyingLength(declared) => {
            let mut bytes = head_bytes(200, &honest.content_type, Some(declared), &digest_header(&honest.body, &honest.headers));
            if !head_only {
                bytes.extend_from_slice(&honest.body);
            }
            if out.write_all(&bytes).is_err() || declared > honest.body.len() as u64 {
                return Next::Close;
            }
            Next::KeepAlive
        }
        Behaviour::WrongDigest => {
            let mut other = honest.body.clone();
            if let Some(byte) = other.get_mut(honest.body.len() / 2) {
                *byte ^= 1;
            }
            // The headers still claim the honest digest.
            let mut bytes = head_bytes(200, &honest.content_type, Some(other.len() as u64), &digest_header(&honest.body, &honest.headers));
            if !head_only {
                bytes.extend_from_slice(&other);
            }
            if out.write_all(&bytes).is_err() {
                return Next::Close;
            }
            Next::KeepAlive
        }
        Behaviour::RedirectLoop => redirect(out, target.to_string()),
        Behaviour::RedirectToOtherHost(base) => redirect(out, format!("{}{target}", base.trim_end_matches('/'))),
        Behaviour::Status(code, retry_after) => {
            let extra: Vec<(&str, String)> = retry_after.into_iter().map(|v| ("Retry-After", v)).collect();
            let error = if code == 429 { "TOOMANYREQUESTS" } else { "UNAVAILABLE" };
            write_error(out, code, error, &extra)
        }
        Behaviour::ResetMidBody => {
            let mut bytes = head_bytes(200, &honest.content_type, Some(honest.body.len() as u64), &digest_header(&honest.body, &honest.headers));
            bytes.extend_from_slice(&honest.body[..honest.body.len() / 2]);
            let _ = out.write_all(&bytes);
            let _ = out.flush();
            // Let the half body reach the client before the reset discards what is unsent.
            std::thread::sleep(Duration::from_millis(50));
            reset(out);
            Next::Drop
        }
    }
}

fn redirect(out: &mut TcpStream, location: String) -> Next {
    let bytes = head_bytes(307, "", Some(0), &[("Location".into(), location)]);
    if out.write_all(&bytes).is_err() {
        return Next::Close;
    }
    Next::KeepAlive
}

/// Makes closing `conn` send a TCP reset instead of a FIN (SO_LINGER with a zero timeout).
fn reset(conn: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a descriptor this stream owns, with a pointer to a live linger
    // struct and its exact size.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// One Notary Project signature of an image: the signature manifest and its JWS envelope.
#[derive(Debug, Clone)]
pub struct Signature {
    /// The signature manifest's descriptor as the referrers list carries it (artifact type
    /// and annotations included).
    pub descriptor: Descriptor,
    /// The signature manifest's bytes.
    pub manifest: Vec<u8>,
    /// The envelope's descriptor (the manifest's only layer).
    pub envelope: Descriptor,
    /// The envelope's bytes.
    pub envelope_bytes: Vec<u8>,
}

/// A small image signed by a fresh test CA, held in memory.
pub struct SignedImage {
    /// Repository, e.g. `acme/app`.
    pub repo: String,
    /// The CA whose certificate the trust store must hold.
    pub ca: TestCa,
    /// A code-signing leaf of `ca`.
    pub signer: TestSigner,
    /// The image manifest's descriptor (what containerd writes on stdin).
    pub subject: Descriptor,
    /// The image manifest's bytes.
    pub subject_manifest: Vec<u8>,
    /// The image's signature by `signer`.
    pub signature: Signature,
}

impl SignedImage {
    /// Builds an image in `repo` and signs it with a leaf of a new CA.
    pub fn new(repo: &str) -> Result<SignedImage> {
        let ca = TestCa::new("hostile registry root")?;
        let signer = ca.issue_leaf(LeafOptions::new("hostile registry signer"))?;
        let config = json!({ "architecture": "amd64", "os": "linux", "rootfs": { "type": "layers", "diff_ids": [] } });
        let config = serde_json::to_vec(&config)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256_of(&config), "size": config.len() },
            "layers": [],
            "annotations": { "dev.vouch.test": repo },
        });
        let subject_manifest = serde_json::to_vec(&manifest)?;
        let subject = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, Digest::sha256_of(&subject_manifest), subject_manifest.len() as u64);
        let signature = sign(&subject, &signer)?;
        Ok(SignedImage { repo: repo.to_string(), ca, signer, subject, subject_manifest, signature })
    }

    /// Another signature of the image, by `signer`.
    pub fn sign_with(&self, signer: &TestSigner) -> Result<Signature> {
        sign(&self.subject, signer)
    }

    /// `/v2/<repo>/referrers/<subject digest>`.
    pub fn referrers_path(&self) -> String {
        format!("/v2/{}/referrers/{}", self.repo, self.subject.digest)
    }

    /// `/v2/<repo>/manifests/<digest>`.
    pub fn manifest_path(&self, digest: &Digest) -> String {
        format!("/v2/{}/manifests/{digest}", self.repo)
    }

    /// `/v2/<repo>/blobs/<digest>`.
    pub fn blob_path(&self, digest: &Digest) -> String {
        format!("/v2/{}/blobs/{digest}", self.repo)
    }

    /// The path of [`SignedImage::signature`]'s manifest.
    pub fn signature_path(&self) -> String {
        self.manifest_path(&self.signature.descriptor.digest)
    }

    /// The path of [`SignedImage::signature`]'s envelope.
    pub fn envelope_path(&self) -> String {
        self.blob_path(&self.signature.envelope.digest)
    }

    /// Serves the image honestly on `registry`: its manifest, the signature manifest and
    /// envelope, and a referrers list holding the one signature.
    pub fn serve(&self, registry: &HostileRegistry) {
        registry.serve(&self.manifest_path(&self.subject.digest), self.subject_manifest.clone(), MEDIA_TYPE_OCI_MANIFEST);
        self.serve_signature(registry, &self.signature);
        registry.serve(&self.referrers_path(), referrers_index(std::slice::from_ref(&self.signature.descriptor)), MEDIA_TYPE_OCI_INDEX);
    }

    /// Serves a signature's manifest and envelope on `registry` (not listing it anywhere).
    pub fn serve_signature(&self, registry: &HostileRegistry, signature: &Signature) {
        registry.serve(&self.manifest_path(&signature.descriptor.digest), signature.manifest.clone(), MEDIA_TYPE_OCI_MANIFEST);
        registry.serve(&self.blob_path(&signature.envelope.digest), signature.envelope_bytes.clone(), MEDIA_TYPE_JWS);
    }
}

/// Signs `subject` with `signer` into a JWS envelope and a notation-style signature manifest.
fn sign(subject: &Descriptor, signer: &TestSigner) -> Result<Signature> {
    let envelope_bytes = signer.sign_jws(subject, &SignOptions::default())?;
    let envelope = Descriptor::new(MEDIA_TYPE_JWS, Digest::sha256_of(&envelope_bytes), envelope_bytes.len() as u64);
    let mut annotations = BTreeMap::new();
    annotations.insert(THUMBPRINT_ANNOTATION.to_string(), serde_json::to_string(&signer.thumbprints())?);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "artifactType": NOTARY_SIGNATURE_ARTIFACT_TYPE,
        "config": { "mediaType": MEDIA_TYPE_EMPTY, "digest": Digest::sha256_of(b"{}"), "size": 2 },
        "layers": [envelope],
        "subject": Descriptor::new(subject.media_type.clone(), subject.digest.clone(), subject.size),
        "annotations": annotations,
    });
    let manifest = serde_json::to_vec(&manifest)?;
    let mut descriptor = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, Digest::sha256_of(&manifest), manifest.len() as u64);
    descriptor.artifact_type = Some(NOTARY_SIGNATURE_ARTIFACT_TYPE.to_string());
    descriptor.annotations = Some(annotations);
    Ok(Signature { descriptor, manifest, envelope, envelope_bytes })
}

/// An OCI image index listing `entries`, as a referrers API answers.
pub fn referrers_index(entries: &[Descriptor]) -> Vec<u8> {
    let index = json!({ "schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": entries });
    serde_json::to_vec(&index).unwrap_or_default()
}

/// A descriptor of a signature manifest that exists nowhere, distinct for every `n`.
pub fn phantom_signature(n: usize) -> Descriptor {
    let mut d = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, Digest::sha256_of(format!("phantom signature {n}").as_bytes()), 700);
    d.artifact_type = Some(NOTARY_SIGNATURE_ARTIFACT_TYPE.to_string());
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(host: &str, target: &str) -> (u16, Vec<u8>) {
        match ureq::get(&format!("http://{host}{target}")).timeout(Duration::from_secs(5)).call() {
            Ok(r) => {
                let status = r.status();
                let mut body = Vec::new();
                let _ = r.into_reader().read_to_end(&mut body);
                (status, body)
            }
            Err(ureq::Error::Status(s, _)) => (s, Vec::new()),
            Err(e) => panic!("{target}: {e}"),
        }
    }

    #[test]
    fn serves_honestly_then_misbehaves_per_path() {
        let reg = HostileRegistry::start().unwrap();
        let img = SignedImage::new("acme/app").unwrap();
        img.serve(&reg);
        assert_eq!(get(reg.host(), "/v2/").0, 200);
        let (status, body) = get(reg.host(), &img.envelope_path());
        assert_eq!(status, 200);
        assert_eq!(body, img.signature.envelope_bytes);
        assert!(img.signature.envelope.digest.matches(&body));
        reg.set(&img.envelope_path(), Behaviour::WrongDigest);
        let (_, body) = get(reg.host(), &img.envelope_path());
        assert_eq!(body.len(), img.signature.envelope_bytes.len());
        assert!(!img.signature.envelope.digest.matches(&body));
        reg.set(&img.envelope_path(), Behaviour::Status(429, Some("3600".into())));
        assert_eq!(get(reg.host(), &img.envelope_path()).0, 429);
        reg.clear(&img.envelope_path());
        assert_eq!(get(reg.host(), &img.envelope_path()).0, 200);
        assert_eq!(get(reg.host(), "/v2/acme/app/manifests/nothing").0, 404);
        assert_eq!(reg.requests(&img.envelope_path()), 4);
    }

    #[test]
    fn a_reset_arrives_as_an_error_mid_body() {
        let reg = HostileRegistry::start().unwrap();
        let img = SignedImage::new("acme/app").unwrap();
        img.serve(&reg);
        reg.set(&img.envelope_path(), Behaviour::ResetMidBody);
        let r = ureq::get(&format!("http://{}{}", reg.host(), img.envelope_path())).call().unwrap();
        let mut body = Vec::new();
        assert!(r.into_reader().read_to_end(&mut body).is_err());
        assert!(body.len() < img.signature.envelope_bytes.len());
    }

    #[test]
    fn basic_auth_is_enforced_when_required() {
        let reg = HostileRegistry::start().unwrap();
        reg.require_basic("u", "p");
        assert_eq!(get(reg.host(), "/v2/").0, 401);
        let ok = ureq::get(&format!("http://{}/v2/", reg.host())).set("Authorization", "Basic dTpw").call().unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(reg.seen()[1].authorization.as_deref(), Some("Basic dTpw"));
    }
}
