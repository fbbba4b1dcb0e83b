//! Fetching OCSP responses and CRLs over HTTP for the verifier's revocation check.
//!
//! The verifier asks through [`RevocationFetcher`]; [`HttpFetcher`] answers with plain HTTP
//! (`http://` URLs only, as OCSP responders and CRL distribution points are published),
//! following at most [`MAX_REDIRECTS`] redirects. Each request gets the time the verifier allows
//! it, but never more than what is left of the run's deadline; name resolution is bounded by the
//! same time. Bodies longer than the verifier's limit are refused.
//!
//! The fetcher is handed to the verifier as a trait object, so a wrapper (a cache, say) can
//! stand in front of it.

use std::io::Read as _;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vouch_core::Deadline;
use vouch_notation::revocation::{FetchKind, FetchRequest, OCSP_REQUEST_CONTENT_TYPE};
use vouch_notation::RevocationFetcher;

/// Redirects followed per request.
pub const MAX_REDIRECTS: u32 = 3;

/// Below this much time left before the deadline, nothing is fetched.
const MIN_TIME: Duration = Duration::from_millis(20);

/// Fetches revocation data over HTTP within a run's deadline.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    deadline: Deadline,
}

impl HttpFetcher {
    /// A fetcher whose requests all end by `deadline`.
    pub fn new(deadline: Deadline) -> HttpFetcher {
        HttpFetcher { deadline }
    }
}

impl RevocationFetcher for HttpFetcher {
    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Vec<u8>, String> {
        let started = Instant::now();
        let result = self.fetch_inner(request);
        let what = match request.kind {
            FetchKind::Ocsp => "OCSP",
            FetchKind::Crl => "CRL",
        };
        match &result {
            Ok(body) => log::debug!("revocation: {what} {} → {} bytes in {:.0?}", request.url, body.len(), started.elapsed()),
            Err(e) => log::debug!("revocation: {what} {} failed after {:.0?}: {e}", request.url, started.elapsed()),
        }
        result
    }
}

impl HttpFetcher {
    fn fetch_inner(&self, request: &FetchRequest<'_>) -> Result<Vec<u8>, String> {
        if !request.url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://")) {
            return Err("only http URLs are fetched".into());
        }
        let left = self.deadline.remaining();
        if left < MIN_TIME {
            return Err("the run's deadline leaves no time to fetch it".into());
        }
        let timeout = request.timeout.min(left);
        let client = ureq::AgentBuilder::new()
            .timeout(timeout)
            .redirects(MAX_REDIRECTS)
            .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
            .resolver(move |netloc: &str| resolve_within(netloc, timeout))
            .build();
        let response = match request.body {
            Some(body) => client.post(request.url).set("Content-Type", OCSP_REQUEST_CONTENT_TYPE).send_bytes(body),
            None => client.get(request.url).call(),
        };
        let response = match response {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => return Err(format!("HTTP status {code}")),
            Err(ureq::Error::Transport(t)) => return Err(transport_error(&t, timeout)),
        };
        if !(200..300).contains(&response.status()) {
            return Err(format!("HTTP status {}", response.status()));
        }
        let limit = request.max_len;
        if let Some(len) = response.header("content-length").and_then(|v| v.trim().parse::<u64>().ok()) {
            if len > limit as u64 {
                return Err(format!("the response is {len} bytes, more than the limit of {limit}"));
            }
        }
        let mut body = Vec::new();
        response
            .into_reader()
            .take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| if e.kind() == std::io::ErrorKind::TimedOut { no_answer(timeout) } else { format!("reading the response: {e}") })?;
        if body.len() > limit {
            return Err(format!("the response is more than the limit of {limit} bytes"));
        }
        Ok(body)
    }
}

fn no_answer(timeout: Duration) -> String {
    format!("no answer within {timeout:.1?}")
}

fn transport_error(t: &ureq::Transport, timeout: Duration) -> String {
    let text = t.to_string();
    if text.contains("timed out") || text.contains("TimedOut") {
        return no_answer(timeout);
    }
    text
}

/// Resolves `host:port`, giving up after `limit` (the system resolver itself cannot be
/// bounded; an unfinished lookup is left behind in its thread).
fn resolve_within(netloc: &str, limit: Duration) -> std::io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = netloc.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let (tx, rx) = mpsc::channel();
    let name = netloc.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(name.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("resolving {netloc} took longer than {limit:.1?}"))),
    }
}

/// Puts the on-disk cache in front of another fetcher: an OCSP response or CRL that verified is
/// kept until its `nextUpdate`, so repeat pulls cost no network. It also remembers the earliest
/// `nextUpdate` this run relied on, which bounds how long the run's verdict may be reused.
pub struct CachingFetcher<F> {
    inner: F,
    cache: Option<std::sync::Arc<vouch_cache::Cache>>,
    earliest: std::sync::Mutex<Option<time::OffsetDateTime>>,
}

impl<F: RevocationFetcher> CachingFetcher<F> {
    /// `inner` behind `cache` (`None`: nothing is cached, the earliest `nextUpdate` is still kept).
    pub fn new(inner: F, cache: Option<std::sync::Arc<vouch_cache::Cache>>) -> CachingFetcher<F> {
        CachingFetcher { inner, cache, earliest: std::sync::Mutex::new(None) }
    }

    /// The earliest `nextUpdate` of the answers used so far.
    pub fn earliest_next_update(&self) -> Option<time::OffsetDateTime> {
        self.earliest.lock().ok().and_then(|e| *e)
    }

    fn note(&self, until: time::OffsetDateTime) {
        if let Ok(mut e) = self.earliest.lock() {
            *e = Some(e.map_or(until, |cur| cur.min(until)));
        }
    }
}

/// The cache key of a request: its kind, URL and (for an OCSP POST) body.
fn cache_key(request: &FetchRequest<'_>) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(match request.kind {
        FetchKind::Ocsp => b"ocsp\0" as &[u8],
        FetchKind::Crl => b"crl\0",
    });
    h.update(request.url.as_bytes());
    h.update(b"\0");
    h.update(request.body.unwrap_or_default());
    vouch_core::digest::hex_encode(&h.finalize())
}

impl<F: RevocationFetcher> RevocationFetcher for CachingFetcher<F> {
    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Vec<u8>, String> {
        if let Some(cache) = &self.cache {
            if let Some(entry) = cache.get(vouch_cache::Kind::Revocation, &cache_key(request)) {
                log::debug!("revocation: {} answered from the cache", request.url);
                return Ok(entry.body);
            }
        }
        self.inner.fetch(request)
    }

    fn verified(&self, request: &FetchRequest<'_>, body: &[u8], until: time::OffsetDateTime) {
        self.note(until);
        let Some(cache) = &self.cache else { return };
        let left = until - time::OffsetDateTime::now_utc();
        if let Ok(ttl) = Duration::try_from(left) {
            if !ttl.is_zero() {
                cache.put(vouch_cache::Kind::Revocation, &cache_key(request), body, Some(ttl));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::net::{TcpListener, TcpStream};

    /// Serves one connection per entry of `answers` on loopback, in order, each a raw HTTP
    /// response (or `None`: accept and say nothing). Returns the URL base and the requests seen.
    fn serve(answers: Vec<Option<Vec<u8>>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let (mut conn, _) = listener.accept().unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                seen.push(read_request(&mut conn));
                match answer {
                    Some(bytes) => {
                        let _ = conn.write_all(&bytes);
                    }
                    None => std::thread::sleep(Duration::from_millis(600)),
                }
            }
            seen
        });
        (base, handle)
    }

    /// The request head and body as text.
    fn read_request(conn: &mut TcpStream) -> String {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).unwrap_or(0);
            data.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&data).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: ").or_else(|| l.strip_prefix("Content-Length: ")))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if data.len() >= end + 4 + len || n == 0 {
                    return text;
                }
            }
            if n == 0 {
                return text;
            }
        }
    }

    fn ok(body: &[u8]) -> Option<Vec<u8>> {
        let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(body);
        Some(r)
    }

    fn req<'a>(kind: FetchKind, url: &'a str, body: Option<&'a [u8]>) -> FetchRequest<'a> {
        FetchRequest { kind, url, body, timeout: Duration::from_secs(2), max_len: 1024 }
    }

    fn fetcher() -> HttpFetcher {
        HttpFetcher::new(Deadline::after(Duration::from_secs(10)))
    }

    #[test]
    fn gets_a_crl_and_posts_an_ocsp_request() {
        let (base, seen) = serve(vec![ok(b"crl bytes"), ok(b"ocsp bytes")]);
        let url = format!("{base}/leaf.crl");
        assert_eq!(fetcher().fetch(&req(FetchKind::Crl, &url, None)).unwrap(), b"crl bytes");
        assert_eq!(fetcher().fetch(&req(FetchKind::Ocsp, &base, Some(b"\x30\x03\x02\x01\x00"))).unwrap(), b"ocsp bytes");
        let seen = seen.join().unwrap();
        assert!(seen[0].starts_with("GET /leaf.crl HTTP/1.1"), "{}", seen[0]);
        assert!(seen[1].starts_with("POST / HTTP/1.1"), "{}", seen[1]);
        assert!(seen[1].to_ascii_lowercase().contains("content-type: application/ocsp-request"), "{}", seen[1]);
    }

    #[test]
    fn refuses_other_schemes_errors_and_oversized_bodies() {
        for url in ["https://127.0.0.1/x.crl", "ldap://127.0.0.1/x", "file:///etc/passwd"] {
            let err = fetcher().fetch(&req(FetchKind::Crl, url, None)).unwrap_err();
            assert!(err.contains("only http"), "{url}: {err}");
        }
        let big = vec![b'x'; 2000];
        let mut chunked = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        chunked.extend_from_slice(&big);
        let (base, seen) = serve(vec![Some(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()), ok(&big), Some(chunked)]);
        let err = fetcher().fetch(&req(FetchKind::Crl, &base, None)).unwrap_err();
        assert_eq!(err, "HTTP status 404");
        let err = fetcher().fetch(&req(FetchKind::Crl, &base, None)).unwrap_err();
        assert!(err.contains("more than the limit of 1024"), "{err}");
        let err = fetcher().fetch(&req(FetchKind::Crl, &base, None)).unwrap_err();
        assert!(err.contains("more than the limit of 1024"), "{err}");
        seen.join().unwrap();
    }

    #[test]
    fn a_silent_server_times_out_within_the_deadline() {
        let (base, seen) = serve(vec![None]);
        let short = HttpFetcher::new(Deadline::after(Duration::from_millis(300)));
        let started = Instant::now();
        let err = short.fetch(&req(FetchKind::Ocsp, &base, None)).unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
        assert!(err.contains("no answer within"), "{err}");
        seen.join().unwrap();
        let spent = HttpFetcher::new(Deadline::after(Duration::ZERO));
        assert!(spent.fetch(&req(FetchKind::Crl, "http://127.0.0.1:9/x", None)).unwrap_err().contains("deadline"));
    }

    #[test]
    fn name_resolution_is_bounded() {
        assert_eq!(resolve_within("127.0.0.1:80", Duration::from_millis(1)).unwrap(), vec!["127.0.0.1:80".parse().unwrap()]);
        assert!(!resolve_within("localhost:80", Duration::from_secs(2)).unwrap().is_empty());
    }
}
