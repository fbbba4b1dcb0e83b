//! The revocation check: OCSP first, CRL as the fallback, every certificate but the root.
//!
//! Certificate chains, CRLs and OCSP responders are made for each test and reached on
//! loopback only: CRLs are signed with rcgen and served by a small HTTP server in the test;
//! OCSP answers come from `openssl ocsp` running as a responder (those tests print "skipped"
//! when the openssl command is absent). The Notary Project's e2e CRL vectors, whose
//! distribution point URLs are fixed, are served in-process through the fetcher interface.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use der::Encode as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams, SerialNumber,
};
use serde_json::json;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use vouch_core::{Descriptor, Digest, MEDIA_TYPE_JWS};
use vouch_notation::cert::{parse_pem_or_der, Cert};
use vouch_notation::revocation::{self, CertStatusReport, Context, FetchKind, FetchRequest, Method, RevocationFetcher, Status};
use vouch_notation::{NotationError, SignatureOutcome, TrustPolicyDocument, TrustStore, Verifier};

// ---------------------------------------------------------------------------------------------
// Certificates

/// A certificate made with rcgen, with its key.
struct Issued {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Issued {
    fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    fn parsed(&self) -> Cert {
        Cert::from_der(&self.der()).unwrap()
    }
}

/// Where a certificate says its revocation status is published.
#[derive(Default, Clone)]
struct Sources {
    ocsp: Vec<String>,
    crl: Vec<String>,
}

impl Sources {
    fn ocsp(url: &str) -> Sources {
        Sources { ocsp: vec![url.to_string()], crl: Vec::new() }
    }

    fn crl(url: &str) -> Sources {
        Sources { ocsp: Vec::new(), crl: vec![url.to_string()] }
    }

    fn both(ocsp: &str, crl: &str) -> Sources {
        Sources { ocsp: vec![ocsp.to_string()], crl: vec![crl.to_string()] }
    }
}

enum Kind {
    Root,
    Intermediate,
    Leaf,
    /// A delegated OCSP responder (EKU OCSPSigning), or with `false` one lacking that EKU.
    Responder(bool),
    /// A timestamping authority (EKU timeStamping only, critical).
    Tsa,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::StateOrProvinceName, "WA");
    dn.push(DnType::OrganizationName, "vouch revocation tests");
    dn.push(DnType::CommonName, cn);
    dn
}

/// The authority information access extension naming `urls` as OCSP responders.
fn aia(urls: &[String]) -> CustomExtension {
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
    let ocsp = const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
    let entries = urls
        .iter()
        .map(|u| AccessDescription {
            access_method: ocsp,
            access_location: GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(u).unwrap()),
        })
        .collect();
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], AuthorityInfoAccessSyntax(entries).to_der().unwrap())
}

fn certify(cn: &str, kind: Kind, serial: u16, sources: &Sources, issuer: Option<&Issued>) -> Issued {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(30);
    match kind {
        Kind::Root | Kind::Intermediate => {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        Kind::Leaf => {
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        }
        Kind::Tsa => {
            use x509_cert::ext::pkix::ExtendedKeyUsage;
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            let time_stamping = const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
            let mut eku = CustomExtension::from_oid_content(&[2, 5, 29, 37], ExtendedKeyUsage(vec![time_stamping]).to_der().unwrap());
            eku.set_criticality(true);
            p.custom_extensions.push(eku);
        }
        Kind::Responder(authorized) => {
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages =
                vec![if authorized { ExtendedKeyUsagePurpose::OcspSigning } else { ExtendedKeyUsagePurpose::CodeSigning }];
        }
    }
    p.crl_distribution_points = sources.crl.iter().map(|u| CrlDistributionPoint { uris: vec![u.clone()] }).collect();
    if !sources.ocsp.is_empty() {
        p.custom_extensions.push(aia(&sources.ocsp));
    }
    let cert = match issuer {
        None => p.self_signed(&key).unwrap(),
        Some(i) => {
            p.use_authority_key_identifier_extension = true;
            p.signed_by(&key, &i.cert, &i.key).unwrap()
        }
    };
    Issued { cert, key }
}

/// root → intermediate → leaf, each below the root naming `intermediate` and `leaf` sources.
struct Chain {
    root: Issued,
    intermediate: Issued,
    leaf: Issued,
}

impl Chain {
    fn new(intermediate: &Sources, leaf: &Sources) -> Chain {
        Chain::with_leaf_serial(intermediate, leaf, 0x1001)
    }

    fn with_leaf_serial(intermediate: &Sources, leaf: &Sources, serial: u16) -> Chain {
        let root = certify("Test Root", Kind::Root, 0x0101, &Sources::default(), None);
        let intermediate = certify("Test Intermediate", Kind::Intermediate, 0x0201, intermediate, Some(&root));
        let leaf = certify("Test Leaf", Kind::Leaf, serial, leaf, Some(&intermediate));
        Chain { root, intermediate, leaf }
    }

    fn certs(&self) -> Vec<Cert> {
        vec![self.leaf.parsed(), self.intermediate.parsed(), self.root.parsed()]
    }
}

struct Revoke {
    serial: u16,
    at: OffsetDateTime,
    reason: Option<RevocationReason>,
    invalid_since: Option<OffsetDateTime>,
}

fn revoke(serial: u16, at: OffsetDateTime) -> Revoke {
    Revoke { serial, at, reason: Some(RevocationReason::KeyCompromise), invalid_since: None }
}

/// A DER CRL by `issuer`, current from yesterday to tomorrow unless `window` says otherwise.
fn crl(issuer: &Issued, revoked: &[Revoke], window: Option<(OffsetDateTime, OffsetDateTime)>) -> Vec<u8> {
    let now = OffsetDateTime::now_utc();
    let (this_update, next_update) = window.unwrap_or((now - time::Duration::days(1), now + time::Duration::days(1)));
    CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from_slice(&[1]),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|r| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&r.serial.to_be_bytes()),
                revocation_time: r.at,
                reason_code: r.reason,
                invalidity_date: r.invalid_since,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer.cert, &issuer.key)
    .unwrap()
    .der()
    .to_vec()
}

/// Seconds precision, as certificates, CRLs and OCSP carry time.
fn secs(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Loopback HTTP: a server for CRLs and canned answers, and a fetcher

/// What the server answers for a path.
#[derive(Clone)]
enum Route {
    Body(Vec<u8>),
    Status(u16),
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers each request from its routing table
/// (404 for unknown paths) and records the paths it was asked for.
struct Server {
    addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, s) = (routes.clone(), hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let _ = serve(conn, &r, &h);
                }
            }
        });
        Server { addr, routes, hits, stop, thread: Some(thread) }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, routes: &Mutex<HashMap<String, Route>>, hits: &Mutex<Vec<String>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if conn.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let path = words.next().unwrap_or_default().to_string();
    let length: usize = text
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body)?;
    hits.lock().unwrap().push(format!("{method} {path}"));
    let route = routes.lock().unwrap().get(&path).cloned().unwrap_or(Route::Status(404));
    let (status, body) = match route {
        Route::Body(b) => (200, b),
        Route::Status(s) => (s, Vec::new()),
    };
    write!(conn, "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    conn.write_all(&body)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Fetches over HTTP (http URLs only), recording every request.
#[derive(Default)]
struct HttpFetcher {
    log: Mutex<Vec<(FetchKind, String, bool)>>,
}

impl HttpFetcher {
    fn log(&self) -> Vec<(FetchKind, String, bool)> {
        self.log.lock().unwrap().clone()
    }
}

impl RevocationFetcher for HttpFetcher {
    fn fetch(&self, r: &FetchRequest<'_>) -> Result<Vec<u8>, String> {
        self.log.lock().unwrap().push((r.kind, r.url.to_string(), r.body.is_some()));
        assert!(r.url.starts_with("http://127.0.0.1:"), "tests reach loopback only: {}", r.url);
        let client = ureq::AgentBuilder::new().timeout(r.timeout).build();
        let resp = match r.body {
            Some(body) => client.post(r.url).set("Content-Type", revocation::OCSP_REQUEST_CONTENT_TYPE).send_bytes(body),
            None => client.get(r.url).call(),
        }
        .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        resp.into_reader().take(r.max_len as u64 + 1).read_to_end(&mut out).map_err(|e| e.to_string())?;
        if out.len() > r.max_len {
            return Err(format!("more than {} bytes", r.max_len));
        }
        Ok(out)
    }
}

/// Answers from a table of URL → bytes, in process; other URLs are unreachable.
struct MapFetcher(HashMap<String, Vec<u8>>);

impl RevocationFetcher for MapFetcher {
    fn fetch(&self, r: &FetchRequest<'_>) -> Result<Vec<u8>, String> {
        self.0.get(r.url).cloned().ok_or_else(|| format!("connection refused ({})", r.url))
    }
}

fn ctx<'a>(fetcher: &'a dyn RevocationFetcher) -> Context<'a> {
    Context { fetcher: Some(fetcher), now: OffsetDateTime::now_utc(), signing_time: None }
}

fn statuses(results: &[CertStatusReport]) -> Vec<Status> {
    results.iter().map(|r| r.status.clone()).collect()
}

fn good(method: Method, url: &str) -> Status {
    Status::Good { method, url: url.to_string() }
}

fn unknown_why(s: &Status) -> &str {
    match s {
        Status::Unknown { why } => why,
        other => panic!("expected unknown, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Signing and verifying

fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let p = std::env::temp_dir().join(format!("vouch-revocation-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn subject() -> Descriptor {
    let manifest = b"{\"schemaVersion\":2,\"revocation\":\"test\"}";
    Descriptor::new("application/vnd.oci.image.manifest.v1+json", Digest::sha256_of(manifest), manifest.len() as u64)
}

/// A Notary Project JWS envelope over [`subject`], signed by `sign` under `alg`.
fn jws(chain: &[Vec<u8>], alg: &str, signing_time: OffsetDateTime, sign: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let s = subject();
    let header = json!({
        "alg": alg,
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": secs(signing_time).format(&Rfc3339).unwrap(),
        "crit": ["io.cncf.notary.signingScheme"],
    });
    let payload = json!({ "targetArtifact": { "mediaType": s.media_type, "digest": s.digest.to_string(), "size": s.size } });
    let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    let signature = URL_SAFE_NO_PAD.encode(sign(format!("{protected}.{payload}").as_bytes()));
    let x5c: Vec<String> = chain.iter().map(|c| STANDARD.encode(c)).collect();
    serde_json::to_vec(&json!({ "payload": payload, "protected": protected, "header": { "x5c": x5c }, "signature": signature })).unwrap()
}

fn es256(chain: &Chain) -> Vec<u8> {
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &chain.leaf.key.serialize_der(), &rng).unwrap();
    let certs = vec![chain.leaf.der(), chain.intermediate.der(), chain.root.der()];
    jws(&certs, "ES256", OffsetDateTime::now_utc(), |m| key.sign(&rng, m).unwrap().as_ref().to_vec())
}

/// A trust store with `root` (DER or PEM) in `ca:test`.
fn store_with(root: &[u8]) -> TrustStore {
    let dir = temp_dir("store");
    let ca = dir.join("x509/ca/test");
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::write(ca.join("root.crt"), root).unwrap();
    TrustStore::open(&dir)
}

fn policy(level: &str) -> TrustPolicyDocument {
    let doc = format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"revocation","registryScopes":["*"],"signatureVerification":{{"level":"{level}"}},"trustStores":["ca:test"],"trustedIdentities":["*"]}}]}}"#
    );
    TrustPolicyDocument::parse(doc.as_bytes()).unwrap()
}

fn verify(verifier: &Verifier, envelope: &[u8], now: OffsetDateTime) -> SignatureOutcome {
    verifier.verify("registry.test/app", &subject(), MEDIA_TYPE_JWS, envelope, now)
}

fn check<'a>(o: &'a SignatureOutcome, name: &str) -> &'a vouch_notation::CheckOutcome {
    o.checks.iter().find(|c| c.name == name).unwrap()
}

/// Every check before revocation passed.
fn others_passed(o: &SignatureOutcome) {
    for c in o.checks.iter().filter(|c| c.name != "revocation") {
        assert_eq!(c.passed, Some(true), "{}: {:?}", c.name, c.error);
    }
}

// ---------------------------------------------------------------------------------------------
// CRL, over loopback HTTP

#[test]
fn crl_good_and_revoked_with_reason_and_time() {
    let server = Server::start();
    let chain = Chain::new(&Sources::crl(&server.url("/intermediate.crl")), &Sources::crl(&server.url("/leaf.crl")));
    server.route("/intermediate.crl", Route::Body(crl(&chain.root, &[], None)));
    server.route("/leaf.crl", Route::Body(crl(&chain.intermediate, &[], None)));
    let fetcher = HttpFetcher::default();
    let results = revocation::check_chain(&chain.certs(), &ctx(&fetcher));
    assert_eq!(
        statuses(&results),
        vec![good(Method::Crl, &server.url("/leaf.crl")), good(Method::Crl, &server.url("/intermediate.crl")), Status::Root]
    );
    assert_eq!(revocation::verdict(&results), Ok(()));

    let at = secs(OffsetDateTime::now_utc() - time::Duration::hours(3));
    server.route("/leaf.crl", Route::Body(crl(&chain.intermediate, &[revoke(0x0999, at), revoke(0x1001, at)], None)));
    let results = revocation::check_chain(&chain.certs(), &ctx(&fetcher));
    assert_eq!(
        results[0].status,
        Status::Revoked { method: Method::Crl, url: server.url("/leaf.crl"), at, reason: Some("keyCompromise".into()) }
    );
    let finding = revocation::verdict(&results).unwrap_err();
    assert_eq!(
        finding,
        revocation::Finding::Revoked { subject: chain.leaf.parsed().subject(), at, reason: Some("keyCompromise".into()) }
    );
}

#[test]
fn a_revoked_intermediate_is_found_and_named() {
    let server = Server::start();
    let chain = Chain::new(&Sources::crl(&server.url("/i.crl")), &Sources::crl(&server.url("/l.crl")));
    let at = secs(OffsetDateTime::now_utc() - time::Duration::days(2));
    server.route("/i.crl", Route::Body(crl(&chain.root, &[Revoke { serial: 0x0201, at, reason: None, invalid_since: None }], None)));
    server.route("/l.crl", Route::Body(crl(&chain.intermediate, &[], None)));
    let results = revocation::check_chain(&chain.certs(), &ctx(&HttpFetcher::default()));
    assert_eq!(results[0].status, good(Method::Crl, &server.url("/l.crl")));
    assert!(matches!(&results[1].status, Status::Revoked { reason: None, at: t, .. } if *t == at), "{:?}", results[1].status);
    assert!(matches!(revocation::verdict(&results), Err(revocation::Finding::Revoked { subject, .. }) if subject.contains("Test Intermediate")));
}

#[test]
fn a_stale_crl_gives_unknown() {
    let server = Server::start();
    let chain = Chain::new(&Sources::default(), &Sources::crl(&server.url("/leaf.crl")));
    let now = OffsetDateTime::now_utc();
    let stale = crl(&chain.intermediate, &[], Some((now - time::Duration::days(3), now - time::Duration::days(1))));
    server.route("/leaf.crl", Route::Body(stale));
    let results = revocation::check_chain(&chain.certs(), &ctx(&HttpFetcher::default()));
    assert!(unknown_why(&results[0].status).contains("the CRL is stale"), "{:?}", results[0].status);
    assert_eq!(results[1].status, Status::NonRevocable);
    assert!(matches!(revocation::verdict(&results), Err(revocation::Finding::Unknown { .. })));
    // A CRL issued in the future is no better.
    server.route("/leaf.crl", Route::Body(crl(&chain.intermediate, &[], Some((now + time::Duration::days(1), now + time::Duration::days(2))))));
    let results = revocation::check_chain(&chain.certs(), &ctx(&HttpFetcher::default()));
    assert!(unknown_why(&results[0].status).contains("in the future"), "{:?}", results[0].status);
}

#[test]
fn a_crl_that_is_not_the_issuers_gives_unknown() {
    let server = Server::start();
    let chain = Chain::new(&Sources::default(), &Sources::crl(&server.url("/leaf.crl")));
    // Signed by the root instead of the leaf's issuer.
    server.route("/leaf.crl", Route::Body(crl(&chain.root, &[], None)));
    let results = revocation::check_chain(&chain.certs(), &ctx(&HttpFetcher::default()));
    assert!(unknown_why(&results[0].status).contains("not by the certificate's issuer"), "{:?}", results[0].status);
    // Same name, another key.
    let impostor = certify("Test Intermediate", Kind::Intermediate, 0x0201, &Sources::default(), Some(&chain.root));
    server.route("/leaf.crl", Route::Body(crl(&impostor, &[], None)));
    let results = revocation::check_chain(&chain.certs(), &ctx(&HttpFetcher::default()));
    assert!(unknown_why(&results[0].status).contains("signature does not verify"), "{:?}", results[0].status);
    // Not a CRL, and not there at all.
    server.route("/leaf.crl", Route::Body(b"not a CRL".to_vec()));
    let results = revocation::check_chain(&chain.certs(), &ctx(&HttpFetcher::default()));
    assert!(unknown_why(&results[0].status).contains("not a DER CRL"), "{:?}", results[0].status);
    server.route("/leaf.crl", Route::Status(404));
    let results = revocation::check_chain(&chain.certs(), &ctx(&HttpFetcher::default()));
    assert!(unknown_why(&results[0].status).contains("404"), "{:?}", results[0].status);
}

#[test]
fn the_next_distribution_point_is_tried_when_one_fails() {
    let server = Server::start();
    let down = format!("http://127.0.0.1:{}/leaf.crl", closed_port());
    let sources = Sources { ocsp: Vec::new(), crl: vec!["ldap://ldap.test/cn=crl".into(), down, server.url("/leaf.crl")] };
    let chain = Chain::new(&Sources::default(), &sources);
    server.route("/leaf.crl", Route::Body(crl(&chain.intermediate, &[], None)));
    let fetcher = HttpFetcher::default();
    let results = revocation::check_chain(&chain.certs(), &ctx(&fetcher));
    assert_eq!(results[0].status, good(Method::Crl, &server.url("/leaf.crl")));
    assert_eq!(fetcher.log().len(), 2, "the ldap URL is never fetched: {:?}", fetcher.log());
}

#[test]
fn invalidity_date_after_the_signing_time_keeps_the_signature_good() {
    let server = Server::start();
    let chain = Chain::new(&Sources::default(), &Sources::crl(&server.url("/leaf.crl")));
    let now = secs(OffsetDateTime::now_utc());
    let invalid_since = now - time::Duration::days(2);
    let entry = Revoke { serial: 0x1001, at: now - time::Duration::hours(1), reason: Some(RevocationReason::Superseded), invalid_since: Some(invalid_since) };
    server.route("/leaf.crl", Route::Body(crl(&chain.intermediate, &[entry], None)));
    let fetcher = HttpFetcher::default();
    let signed_before = Context { signing_time: Some(now - time::Duration::days(3)), ..ctx(&fetcher) };
    let results = revocation::check_chain(&chain.certs(), &signed_before);
    assert!(matches!(&results[0].status, Status::RevokedAfterSigning { invalid_since: i, .. } if *i == invalid_since), "{:?}", results[0].status);
    assert_eq!(revocation::verdict(&results), Ok(()));
    let signed_after = Context { signing_time: Some(now - time::Duration::days(1)), ..ctx(&fetcher) };
    let results = revocation::check_chain(&chain.certs(), &signed_after);
    assert!(matches!(&results[0].status, Status::Revoked { reason: Some(r), .. } if r == "superseded"), "{:?}", results[0].status);
    // Without a proven signing time, the invalidity date does not help.
    let results = revocation::check_chain(&chain.certs(), &ctx(&fetcher));
    assert!(matches!(results[0].status, Status::Revoked { .. }), "{:?}", results[0].status);
}

// ---------------------------------------------------------------------------------------------
// OCSP first, then CRL

#[test]
fn ocsp_down_falls_back_to_the_crl_and_both_down_is_unknown() {
    let server = Server::start();
    let ocsp_down = format!("http://127.0.0.1:{}", closed_port());
    let chain = Chain::new(&Sources::default(), &Sources::both(&ocsp_down, &server.url("/leaf.crl")));
    server.route("/leaf.crl", Route::Body(crl(&chain.intermediate, &[], None)));
    let fetcher = HttpFetcher::default();
    let results = revocation::check_chain(&chain.certs(), &ctx(&fetcher));
    assert_eq!(results[0].status, good(Method::Crl, &server.url("/leaf.crl")));
    let log = fetcher.log();
    assert_eq!(log[0].0, FetchKind::Ocsp, "OCSP is asked first: {log:?}");
    assert!(log[0].1.starts_with(&format!("{ocsp_down}/")) && !log[0].2, "a short OCSP request goes by GET: {log:?}");
    assert_eq!(log[1].0, FetchKind::Crl);

    let at = secs(OffsetDateTime::now_utc() - time::Duration::hours(1));
    server.route("/leaf.crl", Route::Body(crl(&chain.intermediate, &[revoke(0x1001, at)], None)));
    let results = revocation::check_chain(&chain.certs(), &ctx(&fetcher));
    assert!(matches!(results[0].status, Status::Revoked { method: Method::Crl, .. }), "{:?}", results[0].status);

    let both_down = Chain::new(&Sources::default(), &Sources::both(&ocsp_down, &format!("http://127.0.0.1:{}/leaf.crl", closed_port())));
    let results = revocation::check_chain(&both_down.certs(), &ctx(&fetcher));
    let why = unknown_why(&results[0].status);
    assert!(why.contains("OCSP: ") && why.contains("; CRL: "), "{why}");
}

#[test]
fn an_answer_that_is_not_ocsp_falls_back_to_the_crl() {
    let server = Server::start();
    let chain = Chain::new(&Sources::default(), &Sources::both(&server.url("/ocsp"), &server.url("/leaf.crl")));
    server.route("/leaf.crl", Route::Body(crl(&chain.intermediate, &[], None)));
    let results = revocation::check_chain(&chain.certs(), &ctx(&HttpFetcher::default()));
    assert_eq!(results[0].status, good(Method::Crl, &server.url("/leaf.crl")));
    let hits = server.hits();
    assert!(hits[0].starts_with("GET /ocsp/"), "{hits:?}");
    assert_eq!(hits[1], "GET /leaf.crl");
    // Without a CRL to fall back to, the OCSP failure is the answer.
    let ocsp_only = Chain::new(&Sources::default(), &Sources::ocsp(&server.url("/ocsp")));
    let results = revocation::check_chain(&ocsp_only.certs(), &ctx(&HttpFetcher::default()));
    let why = unknown_why(&results[0].status);
    assert!(why.contains("404") && why.contains("no CRL distribution point to fall back to"), "{why}");
}

#[test]
fn a_chain_without_revocation_sources_is_non_revocable_even_offline() {
    let chain = Chain::new(&Sources::default(), &Sources::default());
    let results = revocation::check_chain(&chain.certs(), &Context { fetcher: None, now: OffsetDateTime::now_utc(), signing_time: None });
    assert_eq!(statuses(&results), vec![Status::NonRevocable, Status::NonRevocable, Status::Root]);
    let verifier = Verifier::new(policy("strict"), store_with(&chain.root.der()));
    let out = verify(&verifier, &es256(&chain), OffsetDateTime::now_utc());
    assert!(out.is_success, "{:?}", out.error);
    let c = check(&out, "revocation");
    assert_eq!(c.passed, Some(true));
    assert!(c.detail.as_deref().unwrap().contains("non-revocable"), "{:?}", c.detail);
}

#[test]
fn without_a_fetcher_a_revocable_chain_is_unknown_and_fails_strict() {
    let chain = Chain::new(&Sources::default(), &Sources::crl("http://127.0.0.1:9/leaf.crl"));
    let verifier = Verifier::new(policy("strict"), store_with(&chain.root.der()));
    let out = verify(&verifier, &es256(&chain), OffsetDateTime::now_utc());
    assert!(!out.is_success);
    others_passed(&out);
    assert!(matches!(&out.error, Some(NotationError::RevocationUnknown { subject, why }) if subject.contains("Test Leaf") && why.contains("no fetcher")), "{:?}", out.error);
    // Logged at permissive.
    let verifier = Verifier::new(policy("permissive"), store_with(&chain.root.der()));
    let out = verify(&verifier, &es256(&chain), OffsetDateTime::now_utc());
    assert!(out.is_success, "{:?}", out.error);
    assert_eq!(check(&out, "revocation").passed, Some(false));
}

#[test]
fn a_revoked_leaf_fails_strict_though_every_other_check_passed_and_is_logged_at_permissive() {
    let server = Server::start();
    let chain = Chain::new(&Sources::crl(&server.url("/i.crl")), &Sources::crl(&server.url("/l.crl")));
    let at = secs(OffsetDateTime::now_utc() - time::Duration::hours(2));
    server.route("/i.crl", Route::Body(crl(&chain.root, &[], None)));
    server.route("/l.crl", Route::Body(crl(&chain.intermediate, &[revoke(0x1001, at)], None)));
    let fetcher: Arc<dyn RevocationFetcher> = Arc::new(HttpFetcher::default());
    let envelope = es256(&chain);
    let now = OffsetDateTime::now_utc();

    let strict = Verifier::new(policy("strict"), store_with(&chain.root.der())).with_revocation(fetcher.clone());
    let out = verify(&strict, &envelope, now);
    assert!(!out.is_success);
    others_passed(&out);
    match &out.error {
        Some(e @ NotationError::CertificateRevoked { subject, at: when, reason }) => {
            assert!(subject.contains("Test Leaf"));
            assert_eq!(*when, at);
            assert_eq!(reason.as_deref(), Some("keyCompromise"));
            assert!(e.to_string().contains("is revoked"), "{e}");
        }
        other => panic!("expected CertificateRevoked, got {other:?}"),
    }
    let c = check(&out, "revocation");
    assert_eq!((c.action, c.passed), ("enforce", Some(false)));
    assert!(c.detail.as_deref().unwrap().contains("revoked at"), "{:?}", c.detail);
    assert_eq!(out.revocation.len(), 3);

    let permissive = Verifier::new(policy("permissive"), store_with(&chain.root.der())).with_revocation(fetcher.clone());
    let out = verify(&permissive, &envelope, now);
    assert!(out.is_success, "{:?}", out.error);
    let c = check(&out, "revocation");
    assert_eq!((c.action, c.passed), ("log", Some(false)));
    assert!(c.error.as_deref().unwrap().contains("is revoked"), "{:?}", c.error);

    // Not revoked: strict passes and says how it knows.
    server.route("/l.crl", Route::Body(crl(&chain.intermediate, &[], None)));
    let out = verify(&strict, &envelope, now);
    assert!(out.is_success, "{:?}", out.error);
    let detail = check(&out, "revocation").detail.clone().unwrap();
    assert!(detail.contains(&format!("good (CRL {})", server.url("/l.crl"))) && detail.contains("root, not checked"), "{detail}");
}

#[test]
fn an_untrusted_chain_is_never_looked_up() {
    let server = Server::start();
    let chain = Chain::new(&Sources::default(), &Sources::crl(&server.url("/l.crl")));
    let other = Chain::new(&Sources::default(), &Sources::default());
    let fetcher = Arc::new(HttpFetcher::default());
    for level in ["strict", "audit"] {
        let verifier = Verifier::new(policy(level), store_with(&other.root.der())).with_revocation(fetcher.clone());
        let out = verify(&verifier, &es256(&chain), OffsetDateTime::now_utc());
        assert_eq!(check(&out, "revocation").passed, None, "{level}");
    }
    assert!(fetcher.log().is_empty() && server.hits().is_empty(), "{:?}", fetcher.log());
}

// ---------------------------------------------------------------------------------------------
// OCSP against `openssl ocsp`

/// `openssl ocsp` as a responder on a loopback port, killed on drop.
struct Responder {
    child: Child,
    url: String,
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl() -> bool {
    let ok = Command::new("openssl").arg("version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        println!("skipped: openssl not found");
    }
    ok
}

/// One line of an `openssl ca` index: `V` or `R` (with the revocation time and reason).
fn index_line(serial: u16, cn: &str, revoked: Option<(OffsetDateTime, &str)>) -> String {
    let fmt = time::macros::format_description!("[year repr:last_two][month][day][hour][minute][second]Z");
    let expiry = (OffsetDateTime::now_utc() + time::Duration::days(30)).format(&fmt).unwrap();
    match revoked {
        None => format!("V\t{expiry}\t\t{serial:04X}\tunknown\t/CN={cn}\n"),
        Some((at, reason)) => format!("R\t{expiry}\t{},{reason}\t{serial:04X}\tunknown\t/CN={cn}\n", at.format(&fmt).unwrap()),
    }
}

/// Starts a responder for certificates issued by `ca`, signing with `signer`, answering from
/// `index`. It is ready once it says it waits for clients (a bare connection to probe it would
/// stall its single-threaded loop). Retries on another port if the chosen one was taken.
fn responder(ca: &Issued, signer: &Issued, index: &str) -> Responder {
    use std::io::BufRead as _;
    let dir = temp_dir("ocsp");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let ca_pem = write("ca.pem", &ca.cert.pem());
    let signer_pem = write("signer.pem", &signer.cert.pem());
    let signer_key = write("signer.key", &signer.key.serialize_pem());
    let index = write("index.txt", index);
    for _ in 0..5 {
        let port = closed_port();
        let mut child = Command::new("openssl")
            .arg("ocsp")
            .arg("-index")
            .arg(&index)
            .arg("-port")
            .arg(port.to_string())
            .arg("-CA")
            .arg(&ca_pem)
            .arg("-rsigner")
            .arg(&signer_pem)
            .arg("-rkey")
            .arg(&signer_key)
            .args(["-nmin", "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("waiting for OCSP client connections") {
                    let _ = ready_tx.send(());
                }
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(5)).is_ok() {
            return Responder { child, url: format!("http://127.0.0.1:{port}") };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("openssl ocsp did not start");
}

#[test]
fn ocsp_good_revoked_and_unknown_from_openssl() {
    if !openssl() {
        return;
    }
    // The responder runs first; the leaves, made afterwards, name its URL.
    let root = certify("Test Root", Kind::Root, 0x0101, &Sources::default(), None);
    let intermediate = certify("Test Intermediate", Kind::Intermediate, 0x0201, &Sources::default(), Some(&root));
    let revoked_at = secs(OffsetDateTime::now_utc() - time::Duration::hours(5));
    let index = [
        index_line(0x1101, "good", None),
        index_line(0x1102, "revoked", Some((revoked_at, "keyCompromise"))),
    ]
    .concat();
    let ocsp = responder(&intermediate, &intermediate, &index);
    let server = Server::start();
    let leaf = |serial: u16, sources: &Sources| certify(&format!("leaf {serial:x}"), Kind::Leaf, serial, sources, Some(&intermediate));
    let chain_of = |l: &Issued| vec![l.parsed(), intermediate.parsed(), root.parsed()];
    let fetcher = HttpFetcher::default();

    let good_leaf = leaf(0x1101, &Sources::ocsp(&ocsp.url));
    let results = revocation::check_chain(&chain_of(&good_leaf), &ctx(&fetcher));
    assert_eq!(results[0].status, good(Method::Ocsp, &ocsp.url));
    assert_eq!(results[1].status, Status::NonRevocable);

    let revoked_leaf = leaf(0x1102, &Sources::both(&ocsp.url, &server.url("/never.crl")));
    let results = revocation::check_chain(&chain_of(&revoked_leaf), &ctx(&fetcher));
    assert_eq!(
        results[0].status,
        Status::Revoked { method: Method::Ocsp, url: ocsp.url.clone(), at: revoked_at, reason: Some("keyCompromise".into()) }
    );
    assert!(server.hits().is_empty(), "a revoked answer needs no CRL: {:?}", server.hits());

    // openssl answers "unknown" for a serial its index does not list.
    let unknown_leaf = leaf(0x1103, &Sources::ocsp(&ocsp.url));
    let results = revocation::check_chain(&chain_of(&unknown_leaf), &ctx(&fetcher));
    assert!(unknown_why(&results[0].status).contains("status unknown"), "{:?}", results[0].status);

    // ... and then the CRL decides.
    let fallback_leaf = leaf(0x1103, &Sources::both(&ocsp.url, &server.url("/leaf.crl")));
    server.route("/leaf.crl", Route::Body(crl(&intermediate, &[], None)));
    let results = revocation::check_chain(&chain_of(&fallback_leaf), &ctx(&fetcher));
    assert_eq!(results[0].status, good(Method::Crl, &server.url("/leaf.crl")));

    // A response past its nextUpdate (ten minutes after it was made) is refused.
    let later = Context { now: OffsetDateTime::now_utc() + time::Duration::hours(1), ..ctx(&fetcher) };
    let results = revocation::check_chain(&chain_of(&good_leaf), &later);
    assert!(unknown_why(&results[0].status).contains("expired"), "{:?}", results[0].status);
}

#[test]
fn ocsp_from_a_delegated_responder() {
    if !openssl() {
        return;
    }
    let root = certify("Test Root", Kind::Root, 0x0101, &Sources::default(), None);
    let intermediate = certify("Test Intermediate", Kind::Intermediate, 0x0201, &Sources::default(), Some(&root));
    let delegate = certify("Test OCSP Responder", Kind::Responder(true), 0x0301, &Sources::default(), Some(&intermediate));
    let unauthorized = certify("Test Code Signer", Kind::Responder(false), 0x0302, &Sources::default(), Some(&intermediate));
    let stranger_ca = certify("Test Intermediate", Kind::Intermediate, 0x0202, &Sources::default(), Some(&root));
    let stranger = certify("Test OCSP Responder", Kind::Responder(true), 0x0303, &Sources::default(), Some(&stranger_ca));
    let index = index_line(0x1201, "leaf", None);
    let fetcher = HttpFetcher::default();

    let ok = responder(&intermediate, &delegate, &index);
    let leaf = certify("leaf", Kind::Leaf, 0x1201, &Sources::ocsp(&ok.url), Some(&intermediate));
    let results = revocation::check_chain(&[leaf.parsed(), intermediate.parsed(), root.parsed()], &ctx(&fetcher));
    assert_eq!(results[0].status, good(Method::Ocsp, &ok.url));

    let bad = responder(&intermediate, &unauthorized, &index);
    let leaf = certify("leaf", Kind::Leaf, 0x1201, &Sources::ocsp(&bad.url), Some(&intermediate));
    let results = revocation::check_chain(&[leaf.parsed(), intermediate.parsed(), root.parsed()], &ctx(&fetcher));
    assert!(unknown_why(&results[0].status).contains("not authorized for OCSP signing"), "{:?}", results[0].status);

    // A key that is not the issuer's, signing under the issuer's name.
    let forged = responder(&intermediate, &stranger_ca, &index);
    let leaf = certify("leaf", Kind::Leaf, 0x1201, &Sources::ocsp(&forged.url), Some(&intermediate));
    let results = revocation::check_chain(&[leaf.parsed(), intermediate.parsed(), root.parsed()], &ctx(&fetcher));
    assert!(unknown_why(&results[0].status).contains("signature does not verify"), "{:?}", results[0].status);

    let foreign = responder(&intermediate, &stranger, &index);
    let leaf = certify("leaf", Kind::Leaf, 0x1201, &Sources::ocsp(&foreign.url), Some(&intermediate));
    let results = revocation::check_chain(&[leaf.parsed(), intermediate.parsed(), root.parsed()], &ctx(&fetcher));
    assert!(unknown_why(&results[0].status).contains("is not issued by the certificate's issuer"), "{:?}", results[0].status);
}

#[test]
fn an_ocsp_revoked_leaf_denies_at_strict_and_is_logged_at_permissive() {
    if !openssl() {
        return;
    }
    let root = certify("Test Root", Kind::Root, 0x0101, &Sources::default(), None);
    let intermediate = certify("Test Intermediate", Kind::Intermediate, 0x0201, &Sources::default(), Some(&root));
    let at = secs(OffsetDateTime::now_utc() - time::Duration::minutes(30));
    let ocsp = responder(&intermediate, &intermediate, &index_line(0x1301, "leaf", Some((at, "cessationOfOperation"))));
    let leaf = certify("Test Leaf", Kind::Leaf, 0x1301, &Sources::ocsp(&ocsp.url), Some(&intermediate));
    let chain = Chain { root, intermediate, leaf };
    let fetcher: Arc<dyn RevocationFetcher> = Arc::new(HttpFetcher::default());
    let envelope = es256(&chain);

    let strict = Verifier::new(policy("strict"), store_with(&chain.root.der())).with_revocation(fetcher.clone());
    let out = verify(&strict, &envelope, OffsetDateTime::now_utc());
    others_passed(&out);
    assert!(
        matches!(&out.error, Some(NotationError::CertificateRevoked { at: t, reason: Some(r), .. }) if *t == at && r == "cessationOfOperation"),
        "{:?}",
        out.error
    );
    let permissive = Verifier::new(policy("permissive"), store_with(&chain.root.der())).with_revocation(fetcher);
    let out = verify(&permissive, &envelope, OffsetDateTime::now_utc());
    assert!(out.is_success, "{:?}", out.error);
    assert_eq!(check(&out, "revocation").passed, Some(false));
}

// ---------------------------------------------------------------------------------------------
// The timestamping chain of a verified timestamp

/// An RFC 3161 token over `data` by `tsa` (with `chain` embedded), made by `openssl ts`.
fn timestamp_token(dir: &Path, data: &[u8], tsa: &Issued, chain: &[&Issued]) -> Vec<u8> {
    std::fs::write(dir.join("data.bin"), data).unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(dir.join("tsa.pem"), tsa.cert.pem()).unwrap();
    std::fs::write(dir.join("tsa.key"), tsa.key.serialize_pem()).unwrap();
    std::fs::write(dir.join("chain.pem"), chain.iter().map(|c| c.cert.pem()).collect::<String>()).unwrap();
    let config = format!(
        "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = {}\ncrypto_device = builtin\nsigner_digest = sha256\n\
         default_policy = 1.3.6.1.4.1.57264.99.1\ndigests = sha256\naccuracy = secs:1\nordering = no\ntsa_name = yes\n\
         ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
        dir.join("serial").display()
    );
    std::fs::write(dir.join("tsa.cnf"), config).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl").current_dir(dir).args(args).output().unwrap();
        assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    };
    run(&["ts", "-query", "-data", "data.bin", "-sha256", "-cert", "-out", "q.tsq"]);
    run(&["ts", "-reply", "-queryfile", "q.tsq", "-signer", "tsa.pem", "-inkey", "tsa.key", "-chain", "chain.pem", "-config", "tsa.cnf", "-out", "r.tsr", "-token_out"]);
    std::fs::read(dir.join("r.tsr")).unwrap()
}

#[test]
fn the_timestamping_chain_of_a_verified_timestamp_is_checked_too() {
    if !openssl() {
        return;
    }
    let server = Server::start();
    let signing = Chain::new(&Sources::default(), &Sources::crl(&server.url("/leaf.crl")));
    server.route("/leaf.crl", Route::Body(crl(&signing.intermediate, &[], None)));
    let tsa_root = certify("Test TSA Root", Kind::Root, 0x0401, &Sources::default(), None);
    let tsa_ca = certify("Test TSA CA", Kind::Intermediate, 0x0402, &Sources::crl(&server.url("/tsa-ca.crl")), Some(&tsa_root));
    let tsa = certify("Test TSA", Kind::Tsa, 0x0403, &Sources::crl(&server.url("/tsa.crl")), Some(&tsa_ca));
    server.route("/tsa-ca.crl", Route::Body(crl(&tsa_root, &[], None)));
    server.route("/tsa.crl", Route::Body(crl(&tsa_ca, &[], None)));

    let envelope = es256(&signing);
    let signature = vouch_notation::envelope::parse_jws(&envelope).unwrap().signature;
    let token = timestamp_token(&temp_dir("tsa"), &signature, &tsa, &[&tsa_ca]);
    let mut jws: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    jws["header"]["io.cncf.notary.timestampSignature"] = json!(STANDARD.encode(&token));
    let envelope = serde_json::to_vec(&jws).unwrap();

    let dir = temp_dir("tsa-store");
    for (path, cert) in [("x509/ca/test", &signing.root), ("x509/tsa/test", &tsa_root)] {
        std::fs::create_dir_all(dir.join(path)).unwrap();
        std::fs::write(dir.join(path).join("root.crt"), cert.der()).unwrap();
    }
    let doc = r#"{"version":"1.0","trustPolicies":[{"name":"tsa","registryScopes":["*"],
        "signatureVerification":{"level":"strict","verifyTimestamp":"always"},
        "trustStores":["ca:test","tsa:test"],"trustedIdentities":["*"]}]}"#;
    let verifier = Verifier::new(TrustPolicyDocument::parse(doc.as_bytes()).unwrap(), TrustStore::open(&dir));
    let now = OffsetDateTime::now_utc();

    // Without a fetcher the timestamping chain is not looked up (and the signing leaf, which
    // names a CRL, is of unknown status).
    let out = verify(&verifier, &envelope, now);
    assert_eq!(check(&out, "authenticTimestamp").passed, Some(true));
    assert!(matches!(&out.error, Some(NotationError::RevocationUnknown { .. })), "{:?}", out.error);
    assert!(server.hits().is_empty());

    let online = verifier.clone().with_revocation(Arc::new(HttpFetcher::default()));
    let out = verify(&online, &envelope, now);
    assert!(out.is_success, "{:?}", out.error);
    let detail = check(&out, "authenticTimestamp").detail.clone().unwrap();
    assert!(detail.contains("timestamping chain") && detail.contains(&server.url("/tsa.crl")), "{detail}");

    let at = secs(now - time::Duration::hours(1));
    server.route("/tsa.crl", Route::Body(crl(&tsa_ca, &[revoke(0x0403, at)], None)));
    let out = verify(&online, &envelope, now);
    assert!(
        matches!(&out.error, Some(e @ NotationError::TimestampCertificateRevoked { subject, .. }) if subject.contains("Test TSA") && e.to_string().starts_with("timestamping certificate")),
        "{:?}",
        out.error
    );
    assert_eq!(check(&out, "authenticTimestamp").passed, Some(false));

    server.route("/tsa.crl", Route::Status(503));
    let out = verify(&online, &envelope, now);
    assert!(matches!(&out.error, Some(NotationError::TimestampRevocationUnknown { .. })), "{:?}", out.error);

    // The verified timestamp is the signing time an invalidity date is compared with: a key
    // that became invalid after the timestamp leaves the signature good.
    server.route("/tsa.crl", Route::Body(crl(&tsa_ca, &[], None)));
    let later = now + time::Duration::hours(2);
    let entry = |invalid_since| Revoke { serial: 0x1001, at: later - time::Duration::minutes(5), reason: None, invalid_since: Some(invalid_since) };
    server.route("/leaf.crl", Route::Body(crl(&signing.intermediate, &[entry(secs(now + time::Duration::hours(1)))], None)));
    let out = verify(&online, &envelope, later);
    assert!(out.is_success, "{:?}", out.error);
    assert!(matches!(out.revocation[0].status, Status::RevokedAfterSigning { .. }), "{:?}", out.revocation[0].status);
    server.route("/leaf.crl", Route::Body(crl(&signing.intermediate, &[entry(secs(now - time::Duration::hours(1)))], None)));
    let out = verify(&online, &envelope, later);
    assert!(matches!(&out.error, Some(NotationError::CertificateRevoked { .. })), "{:?}", out.error);
}

// ---------------------------------------------------------------------------------------------
// The Notary Project e2e CRL vectors

const VECTOR_NOW: OffsetDateTime = time::macros::datetime!(2025-06-01 00:00 UTC);

fn crl_vectors() -> Option<PathBuf> {
    vouch_testkit::shared_vectors("notation/truststore/notation-e2e/crl")
}

/// The e2e distribution points, serving `leaf` and `intermediate` from the vector files; the
/// intermediate's OCSP responder (`http://localhost.test/ocsp`) is unreachable.
fn vector_fetcher(dir: &Path, leaf: &str, intermediate: &str) -> MapFetcher {
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    MapFetcher(HashMap::from([
        ("http://localhost:10086/leaf.crl".to_string(), read(leaf)),
        ("http://localhost:10086/intermediate.crl".to_string(), read(intermediate)),
    ]))
}

fn vector_chain(dir: &Path) -> Vec<Cert> {
    parse_pem_or_der(&std::fs::read(dir.join("certchain_with_crl.pem")).unwrap()).unwrap()
}

#[test]
fn e2e_crl_vectors_through_the_fetcher() {
    let Some(dir) = crl_vectors() else { return };
    let chain = vector_chain(&dir);
    assert_eq!(chain[0].crl_urls().unwrap(), ["http://localhost:10086/leaf.crl"]);
    assert_eq!(chain[1].ocsp_urls().unwrap(), ["http://localhost.test/ocsp"]);
    let run = |leaf: &str, intermediate: &str| {
        let fetcher = vector_fetcher(&dir, leaf, intermediate);
        revocation::check_chain(&chain, &Context { fetcher: Some(&fetcher), now: VECTOR_NOW, signing_time: None })
    };
    let leaf_url = "http://localhost:10086/leaf.crl";
    let intermediate_url = "http://localhost:10086/intermediate.crl";

    let results = run("leaf.crl", "intermediate.crl");
    assert_eq!(statuses(&results), vec![good(Method::Crl, leaf_url), good(Method::Crl, intermediate_url), Status::Root]);

    let results = run("leaf_revoked.crl", "intermediate.crl");
    let revoked_at = time::macros::datetime!(2024-11-11 05:30:52 UTC);
    assert_eq!(results[0].status, Status::Revoked { method: Method::Crl, url: leaf_url.into(), at: revoked_at, reason: None });
    assert!(matches!(revocation::verdict(&results), Err(revocation::Finding::Revoked { subject, .. }) if subject.starts_with("CN=LeafCert")));

    let results = run("leaf.crl", "intermediate_revoked.crl");
    assert!(matches!(results[1].status, Status::Revoked { .. }), "{:?}", results[1].status);
    assert!(matches!(revocation::verdict(&results), Err(revocation::Finding::Revoked { subject, .. }) if subject.starts_with("CN=IntermediateCA")));

    // Stale since 2023 (and signed by an older intermediate key).
    let results = run("leaf_expired.crl", "intermediate.crl");
    let why = unknown_why(&results[0].status);
    assert!(why.contains(leaf_url), "{why}");
    // The intermediate's OCSP responder was tried first and is unreachable.
    assert!(matches!(results[1].status, Status::Good { method: Method::Crl, .. }));

    // A CRL served for the wrong certificate: the intermediate's CRL (by the root) as the leaf's.
    let results = run("intermediate.crl", "intermediate.crl");
    assert!(unknown_why(&results[0].status).contains("not by the certificate's issuer"), "{:?}", results[0].status);
}

/// A PS256 JWS over [`subject`] signed with the e2e `leaf.key`.
fn vector_envelope(dir: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(dir.join("leaf.key")).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let pkcs8 = STANDARD.decode(b64).unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
    let chain: Vec<Vec<u8>> = vector_chain(dir).into_iter().map(|c| c.der).collect();
    jws(&chain, "PS256", VECTOR_NOW - time::Duration::days(1), |m| {
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(&ring::signature::RSA_PSS_SHA256, &ring::rand::SystemRandom::new(), m, &mut sig).unwrap();
        sig
    })
}

#[test]
fn e2e_crl_vectors_in_a_full_verification() {
    let Some(dir) = crl_vectors() else { return };
    let envelope = vector_envelope(&dir);
    let root = std::fs::read(dir.join("root.crt")).unwrap();
    let verifier = |level: &str, leaf: &str, intermediate: &str| {
        Verifier::new(policy(level), store_with(&root)).with_revocation(Arc::new(vector_fetcher(&dir, leaf, intermediate)))
    };

    let out = verify(&verifier("strict", "leaf.crl", "intermediate.crl"), &envelope, VECTOR_NOW);
    assert!(out.is_success, "{:?}", out.error);
    assert_eq!(check(&out, "revocation").passed, Some(true));

    let out = verify(&verifier("strict", "leaf_revoked.crl", "intermediate.crl"), &envelope, VECTOR_NOW);
    others_passed(&out);
    let err = out.error.expect("revoked");
    assert!(matches!(&err, NotationError::CertificateRevoked { subject, .. } if subject.starts_with("CN=LeafCert")), "{err:?}");
    assert!(err.to_string().contains("is revoked"), "{err}");

    let out = verify(&verifier("strict", "leaf.crl", "intermediate_revoked.crl"), &envelope, VECTOR_NOW);
    assert!(matches!(&out.error, Some(NotationError::CertificateRevoked { subject, .. }) if subject.starts_with("CN=IntermediateCA")), "{:?}", out.error);

    let out = verify(&verifier("strict", "leaf_expired.crl", "intermediate.crl"), &envelope, VECTOR_NOW);
    assert!(matches!(&out.error, Some(NotationError::RevocationUnknown { .. })), "{:?}", out.error);

    let out = verify(&verifier("permissive", "leaf_revoked.crl", "intermediate.crl"), &envelope, VECTOR_NOW);
    assert!(out.is_success, "{:?}", out.error);
    assert_eq!(check(&out, "revocation").passed, Some(false));

    let out = verify(&verifier("audit", "leaf_revoked.crl", "intermediate_revoked.crl"), &envelope, VECTOR_NOW);
    assert!(out.is_success, "{:?}", out.error);
}
