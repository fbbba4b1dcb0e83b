//! Registry authentication for tests: bcrypt `htpasswd` files, a loopback token issuer that
//! docker-registry trusts (`auth: token` with the issuer's certificate as `rootcertbundle`), and
//! TLS material (a CA, a server certificate for 127.0.0.1, a client CA and client certificate).

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType, PKCS_ECDSA_P256_SHA256};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `service` the token-auth registry and the issuer agree on.
pub const TOKEN_SERVICE: &str = "vouch-test-registry";
/// The issuer name in the tokens.
pub const TOKEN_ISSUER: &str = "vouch-test-issuer";

/// One `user:bcrypt` line for an htpasswd file.
pub fn htpasswd_line(user: &str, password: &str) -> Result<String> {
    let hash = bcrypt::hash_with_result(password, 4).context("bcrypt")?.format_for_version(bcrypt::Version::TwoY);
    Ok(format!("{user}:{hash}\n"))
}

/// Writes an htpasswd file and returns the registry YAML that enables it.
pub fn htpasswd_auth(dir: &Path, users: &[(&str, &str)]) -> Result<String> {
    let path = dir.join("htpasswd");
    let mut text = String::new();
    for (u, p) in users {
        text.push_str(&htpasswd_line(u, p)?);
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(&path, text)?;
    Ok(format!("auth:\n  htpasswd:\n    realm: vouch-test\n    path: {}\n", path.display()))
}

/// What the token issuer has seen, for assertions.
#[derive(Debug, Clone, Default)]
pub struct IssuerLog {
    /// One line per token request: `GET <account or ->` or `POST refresh`.
    pub requests: Vec<String>,
}

struct IssuerState {
    users: HashMap<String, String>,
    refresh_tokens: HashMap<String, String>,
    refresh_post_not_found: bool,
    log: IssuerLog,
}

/// A loopback token issuer: GET with Basic credentials (or anonymous, granting nothing), POST
/// `grant_type=refresh_token`. Tokens are ES256 JWTs with an `x5c` header whose certificate is
/// the registry's `rootcertbundle`.
pub struct TokenIssuer {
    addr: String,
    key: Arc<EcdsaKeyPair>,
    cert_der: Vec<u8>,
    bundle: PathBuf,
    state: Arc<Mutex<IssuerState>>,
    stop: Arc<AtomicBool>,
}

impl TokenIssuer {
    /// Starts an issuer that knows `users`; its certificate is written to `dir/token-root.pem`.
    pub fn start(dir: &Path, users: &[(&str, &str)]) -> Result<TokenIssuer> {
        let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "vouch test token issuer");
        let cert = params.self_signed(&key_pair)?;
        std::fs::create_dir_all(dir)?;
        let bundle = dir.join("token-root.pem");
        std::fs::write(&bundle, cert.pem())?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_pair.serialize_der(), &SystemRandom::new())
            .map_err(|e| anyhow::anyhow!("issuer key: {e}"))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let state = Arc::new(Mutex::new(IssuerState {
            users: users.iter().map(|(u, p)| (u.to_string(), p.to_string())).collect(),
            refresh_tokens: HashMap::new(),
            refresh_post_not_found: false,
            log: IssuerLog::default(),
        }));
        let issuer = TokenIssuer { addr, key: Arc::new(key), cert_der: cert.der().to_vec(), bundle, state, stop: Arc::new(AtomicBool::new(false)) };
        issuer.serve(listener);
        Ok(issuer)
    }

    /// The registry YAML for `auth: token` trusting this issuer.
    pub fn registry_yaml(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            self.realm(),
            self.bundle.display()
        )
    }

    /// The token endpoint URL.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// Adds a refresh token (docker's identity token) that stands for `user`.
    pub fn add_refresh_token(&self, token: &str, user: &str) {
        self.state.lock().unwrap().refresh_tokens.insert(token.to_string(), user.to_string());
    }

    /// Makes POST answer 404, as token servers without OAuth2 do.
    pub fn refuse_post(&self) {
        self.state.lock().unwrap().refresh_post_not_found = true;
    }

    /// The requests seen so far.
    pub fn log(&self) -> IssuerLog {
        self.state.lock().unwrap().log.clone()
    }

    /// A `Bearer …` header value granting `actions` on `repo`, for pushing test content.
    pub fn bearer(&self, repo: &str, actions: &[&str]) -> String {
        format!("Bearer {}", sign_token(&self.key, &self.cert_der, "tester", repo, actions))
    }

    fn serve(&self, listener: TcpListener) {
        let (key, cert, state, stop) = (self.key.clone(), self.cert_der.clone(), self.state.clone(), self.stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (key, cert, state) = (key.clone(), cert.clone(), state.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, &key, &cert, &state);
                });
            }
        });
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

struct HttpRequest {
    method: String,
    query: HashMap<String, String>,
    authorization: Option<String>,
    body: String,
}

fn read_request(conn: &mut TcpStream) -> Result<HttpRequest> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut authorization = None;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "authorization" => authorization = Some(v.trim().to_string()),
                "content-length" => length = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length.min(1 << 16)];
    reader.read_exact(&mut body)?;
    let query = target.split_once('?').map(|(_, q)| form(q)).unwrap_or_default();
    Ok(HttpRequest { method, query, authorization, body: String::from_utf8_lossy(&body).into_owned() })
}

fn form(q: &str) -> HashMap<String, String> {
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (unescape(k), unescape(v))).collect()
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn handle(mut conn: TcpStream, key: &EcdsaKeyPair, cert: &[u8], state: &Mutex<IssuerState>) -> Result<()> {
    let req = read_request(&mut conn)?;
    let (status, body) = answer(&req, key, cert, state);
    let reply = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    conn.write_all(reply.as_bytes())?;
    Ok(())
}

fn answer(req: &HttpRequest, key: &EcdsaKeyPair, cert: &[u8], state: &Mutex<IssuerState>) -> (&'static str, String) {
    let mut st = state.lock().unwrap();
    if req.method == "POST" {
        st.log.requests.push("POST refresh".into());
        if st.refresh_post_not_found {
            return ("404 Not Found", "{}".into());
        }
        let f = form(&req.body);
        let user = (f.get("grant_type").map(String::as_str) == Some("refresh_token"))
            .then(|| f.get("refresh_token").and_then(|t| st.refresh_tokens.get(t)).cloned())
            .flatten();
        let Some(user) = user else { return ("401 Unauthorized", "{\"error\":\"invalid_grant\"}".into()) };
        let token = sign_token(key, cert, &user, &repo_of(f.get("scope")), &["pull"]);
        return ("200 OK", format!("{{\"access_token\":\"{token}\",\"expires_in\":300,\"scope\":\"\"}}"));
    }
    let basic = req.authorization.as_deref().and_then(|a| a.strip_prefix("Basic ")).and_then(|b| {
        let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        let text = String::from_utf8(raw).ok()?;
        text.split_once(':').map(|(u, p)| (u.to_string(), p.to_string()))
    });
    st.log.requests.push(format!("GET {}", basic.as_ref().map_or("-", |(u, _)| u.as_str())));
    let repo = repo_of(req.query.get("scope"));
    let granted = match &basic {
        None => None,
        Some((u, p)) if st.users.get(u) == Some(p) => Some(u.clone()),
        Some((_, p)) if st.refresh_tokens.contains_key(p) => st.refresh_tokens.get(p).cloned(),
        Some(_) => return ("401 Unauthorized", "{\"details\":\"incorrect username or password\"}".into()),
    };
    let token = match &granted {
        Some(u) => sign_token(key, cert, u, &repo, &["pull"]),
        None => sign_token(key, cert, "", &repo, &[]),
    };
    ("200 OK", format!("{{\"token\":\"{token}\",\"expires_in\":300}}"))
}

/// The repository of a `repository:<name>:pull` scope.
fn repo_of(scope: Option<&String>) -> String {
    scope.and_then(|s| s.strip_prefix("repository:")).and_then(|s| s.rsplit_once(':')).map(|(r, _)| r.to_string()).unwrap_or_default()
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// An ES256 JWT in docker-registry's token format.
fn sign_token(key: &EcdsaKeyPair, cert: &[u8], subject: &str, repo: &str, actions: &[&str]) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [base64::engine::general_purpose::STANDARD.encode(cert)]});
    let access = if actions.is_empty() { serde_json::json!([]) } else { serde_json::json!([{"type": "repository", "name": repo, "actions": actions}]) };
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "sub": subject, "aud": TOKEN_SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", rand_u64()), "access": access,
    });
    let signing_input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let sig = key.sign(&SystemRandom::new(), signing_input.as_bytes()).expect("signing a token");
    format!("{signing_input}.{}", b64url(sig.as_ref()))
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut b).ok();
    u64::from_le_bytes(b)
}

/// TLS files for a registry on 127.0.0.1 and a client of it.
pub struct TlsFiles {
    /// The CA that issued the server certificate (PEM).
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub server_cert: PathBuf,
    /// The server key (PEM).
    pub server_key: PathBuf,
    /// The CA that issued the client certificate (PEM), for the registry's `clientcas`.
    pub client_ca: PathBuf,
    /// The client certificate (PEM).
    pub client_cert: PathBuf,
    /// The client key (PEM).
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Generates everything into `dir`.
    pub fn generate(dir: &Path) -> Result<TlsFiles> {
        std::fs::create_dir_all(dir)?;
        let (ca, ca_key) = ca_cert("vouch test server CA")?;
        let (client_ca, client_ca_key) = ca_cert("vouch test client CA")?;
        let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse()?));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params.signed_by(&server_key, &ca, &ca_key)?;
        let client_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "vouch test client");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = params.signed_by(&client_key, &client_ca, &client_ca_key)?;
        let write = |name: &str, text: String| -> Result<PathBuf> {
            let p = dir.join(name);
            std::fs::write(&p, text)?;
            Ok(p)
        };
        Ok(TlsFiles {
            ca: write("ca.pem", ca.pem())?,
            server_cert: write("server.pem", server.pem())?,
            server_key: write("server.key", server_key.serialize_pem())?,
            client_ca: write("client-ca.pem", client_ca.pem())?,
            client_cert: write("client.pem", client.pem())?,
            client_key: write("client.key", client_key.serialize_pem())?,
        })
    }

    /// YAML lines extending the registry's `http` section with TLS (and client certificates
    /// when `mtls`).
    pub fn registry_http_yaml(&self, mtls: bool) -> String {
        let mut y = format!("  tls:\n    certificate: {}\n    key: {}\n", self.server_cert.display(), self.server_key.display());
        if mtls {
            y.push_str(&format!("    clientcas:\n      - {}\n", self.client_ca.display()));
        }
        y
    }
}

fn ca_cert(cn: &str) -> Result<(rcgen::Certificate, KeyPair)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key)?;
    Ok((cert, key))
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_listening(addr: &str) -> Result<()> {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("nothing listens on {addr}")
}
