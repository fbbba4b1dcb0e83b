//! The revocation check through the containerd-style invocation: an image signed by a leaf
//! whose certificate names a CRL distribution point on loopback. vouch fetches the CRL itself
//! over HTTP; a CRL that lists the leaf denies the pull under `strict`.
//!
//! Certificates and CRLs are made with the openssl CLI (the test prints "skipped" without it).

mod common;

use common::*;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use vouch_core::MEDIA_TYPE_JWS;
use vouch_testkit::containerd::descriptor_line;
use vouch_testkit::registry::TestRegistry;
use vouch_testkit::signer::{push_demo_image, push_signature, write_trust_material, SignOptions, TestSigner};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

fn openssl_present() -> bool {
    let ok = Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: openssl not found");
    }
    ok
}

/// Serves one body (replaceable) for every GET, on 127.0.0.1, until dropped.
struct CrlServer {
    addr: SocketAddr,
    body: Arc<Mutex<Vec<u8>>>,
    hits: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
}

impl CrlServer {
    fn start() -> CrlServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body: Arc<Mutex<Vec<u8>>> = Arc::default();
        let hits: Arc<Mutex<usize>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (b, h, s) = (body.clone(), hits.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 && conn.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                *h.lock().unwrap() += 1;
                let body = b.lock().unwrap().clone();
                let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = conn.write_all(&body);
            }
        });
        CrlServer { addr, body, hits, stop }
    }
}

impl Drop for CrlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// A root CA and a code-signing leaf (P-256) whose CRL distribution point is `crl_url`, and
/// the means to issue the root's CRLs.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new(crl_url: &str) -> Pki {
        let dir = TempDir::new("revocation-pki");
        let d = dir.path();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        let mut root = vec!["req", "-x509", "-days", "30", "-subj", "/C=US/ST=WA/O=vouch-dev/CN=vouch revocation root", "-keyout", "root.key", "-out", "root.crt"];
        root.extend(ec);
        root.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(d, &root);
        let mut csr = vec!["req", "-new", "-subj", "/C=US/ST=WA/O=vouch-dev/CN=vouch revocable signer", "-keyout", "leaf.key", "-out", "leaf.csr"];
        csr.extend(ec);
        openssl(d, &csr);
        let ext = format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\ncrlDistributionPoints=URI:{crl_url}\n"
        );
        std::fs::write(d.join("leaf.ext"), ext).unwrap();
        openssl(
            d,
            &["x509", "-req", "-in", "leaf.csr", "-CA", "root.crt", "-CAkey", "root.key", "-set_serial", "0x2001", "-days", "30", "-sha256", "-extfile", "leaf.ext", "-out", "leaf.crt"],
        );
        std::fs::write(d.join("crlnumber"), "01\n").unwrap();
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = root\n[root]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 1\n",
        )
        .unwrap();
        Pki { dir }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap()
    }

    /// A DER CRL by the root; `revoked` lists the leaf (revoked an hour ago, keyCompromise).
    fn crl(&self, revoked: bool) -> Vec<u8> {
        let d = self.dir.path();
        let index = if revoked {
            let fmt = time::macros::format_description!("[year repr:last_two][month][day][hour][minute][second]Z");
            let now = time::OffsetDateTime::now_utc();
            let expiry = (now + time::Duration::days(30)).format(&fmt).unwrap();
            let at = (now - time::Duration::hours(1)).format(&fmt).unwrap();
            format!("R\t{expiry}\t{at},keyCompromise\t2001\tunknown\t/CN=vouch revocable signer\n")
        } else {
            String::new()
        };
        std::fs::write(d.join("index.txt"), index).unwrap();
        openssl(d, &["ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "root.key", "-cert", "root.crt", "-out", "crl.pem"]);
        openssl(d, &["crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der"]);
        std::fs::read(d.join("crl.der")).unwrap()
    }
}

/// A registry holding `repo:v1` signed by the PKI's revocable leaf; the image and the `-name`
/// containerd would pass.
fn signed_image(pki: &Pki, repo: &str) -> (TestRegistry, vouch_core::Descriptor, String) {
    let signer = TestSigner::from_pem(&pki.read("leaf.key"), &(pki.read("leaf.crt") + &pki.read("root.crt"))).unwrap();
    let registry = TestRegistry::start().expect("start docker-registry");
    let host = registry.host().to_string();
    let image = push_demo_image(&host, repo, "v1").unwrap();
    let envelope = signer.sign_jws(&image, &SignOptions::default()).unwrap();
    push_signature(&host, repo, &image, &envelope, MEDIA_TYPE_JWS).unwrap();
    let name = format!("{host}/{repo}:v1@{}", image.digest);
    (registry, image, name)
}

/// A vouch configuration trusting `root_pem` under `strict`, with its own cache directory.
fn config(root_pem: &str, host: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("revocation-config");
    let (policy, store) = write_trust_material(dir.path(), root_pem, "test", "*").unwrap();
    let config = write_config(dir.path(), &policy, &store, "");
    let hosts = dir.path().join("certs.d").join(host);
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{host}\"\n")).unwrap();
    (dir, config)
}

#[test]
fn a_revoked_signer_is_denied_and_a_good_one_allowed() {
    if !openssl_present() {
        return;
    }
    let server = CrlServer::start();
    let pki = Pki::new(&format!("http://{}/root.crl", server.addr));
    let (registry, image, name) = signed_image(&pki, "demo/revocable");
    let host = registry.host().to_string();

    *server.body.lock().unwrap() = pki.crl(false);
    let (_dir, cfg) = config(&pki.read("root.crt"), &host);
    let v = assert_allow(&run(&cfg, &name, &image.digest.to_string(), &descriptor_line(&image)));
    let checks = &v["verifierReports"][0]["verifierReports"][0]["extensions"]["checks"];
    let revocation = checks.as_array().unwrap().iter().find(|c| c["name"] == "revocation").unwrap();
    assert_eq!(revocation["passed"], true, "{v}");
    assert!(revocation["detail"].as_str().unwrap().contains(&format!("good (CRL http://{}/root.crl)", server.addr)), "{v}");
    assert_eq!(*server.hits.lock().unwrap(), 1);

    *server.body.lock().unwrap() = pki.crl(true);
    let (_dir, cfg) = config(&pki.read("root.crt"), &host);
    let v = assert_deny(&run(&cfg, &name, &image.digest.to_string(), &descriptor_line(&image)), &["is revoked", "keyCompromise"]);
    assert_eq!(v["errorClass"], "signature", "{v}");
}

/// A CRL that verified is kept in the cache until its nextUpdate: a second pull (its verdict no
/// longer cached) verifies again without downloading the CRL. The report carries the times that
/// bound how long its verdict may be reused.
#[test]
fn a_verified_crl_is_reused_from_the_cache() {
    if !openssl_present() {
        return;
    }
    let server = CrlServer::start();
    let pki = Pki::new(&format!("http://{}/root.crl", server.addr));
    let (registry, image, name) = signed_image(&pki, "demo/crl-cache");
    let host = registry.host().to_string();
    *server.body.lock().unwrap() = pki.crl(false);

    let (_dir, cfg) = config(&pki.read("root.crt"), &host);
    // Verdicts live 1 ms, so the second pull verifies again.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}\n[cache]\nallow_ttl = \"1ms\"\n")).unwrap();
    for round in 1..=2 {
        std::thread::sleep(std::time::Duration::from_millis(5));
        let v = assert_allow(&run(&cfg, &name, &image.digest.to_string(), &descriptor_line(&image)));
        assert!(v.get("cached").is_none(), "round {round}: the verdict itself came from the cache: {v}");
        let ext = &v["verifierReports"][0]["verifierReports"][0]["extensions"];
        assert!(ext["revocationNextUpdate"].is_string(), "round {round}: {ext}");
        assert!(ext["certificateNotAfter"].is_string(), "round {round}: {ext}");
    }
    assert_eq!(*server.hits.lock().unwrap(), 1, "the CRL was downloaded again");
}
