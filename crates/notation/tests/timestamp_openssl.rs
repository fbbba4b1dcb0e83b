//! Timestamp countersignatures from a TSA made here with the openssl CLI: a root, an
//! intermediate and a timestamping certificate; tokens issued with `openssl ts -reply` over the
//! signature value of a real notation envelope (`jwsWithTimestamp.sig` from the vectors, whose
//! leaf is in `ca/valid-trust-store`), spliced into its `io.cncf.notary.timestampSignature`.
//!
//! Skipped when openssl or the vectors are missing.

use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use time::macros::datetime;
use time::OffsetDateTime;
use vouch_core::{Descriptor, MEDIA_TYPE_JWS};
use vouch_notation::envelope::parse_jws;
use vouch_notation::{NotationError, SignatureOutcome, TrustPolicyDocument, TrustStore, Verifier};

const ENVELOPE: &str = "jws/notation-go-timestamp/jwsWithTimestamp.sig";
const SIGNING_ROOT: &str = "truststore/notation-go/x509/ca/valid-trust-store/TestTimestamp.crt";

fn vectors() -> Option<PathBuf> {
    vouch_testkit::shared_vectors("notation")
}

fn openssl_present() -> bool {
    Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())
}

/// The inputs every test needs, or `None` (and a note) when they are missing.
fn setup(tag: &str) -> Option<(PathBuf, Tsa)> {
    if !openssl_present() {
        println!("skipped: openssl not found");
        return None;
    }
    let base = vectors()?;
    Some((base, Tsa::new(tag)))
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// Key algorithms for the generated certificates.
#[derive(Clone, Copy)]
enum Key {
    Rsa,
    P256,
}

impl Key {
    fn args(self) -> [&'static str; 4] {
        match self {
            Key::Rsa => ["-newkey", "rsa:2048", "-pkeyopt", "rsa_keygen_pubexp:65537"],
            Key::P256 => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        }
    }
}

const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const TSA_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n";

/// A scratch directory where certificates and tokens are made.
struct Tsa {
    dir: PathBuf,
}

impl Tsa {
    fn new(tag: &str) -> Tsa {
        let dir = std::env::temp_dir().join(format!("vouch-tsa-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tsa { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A self-signed CA `name` (`name.crt`, `name.key`).
    fn root(&self, name: &str, key: Key) {
        let (crt, k) = (format!("{name}.crt"), format!("{name}.key"));
        let subj = format!("/CN=vouch test {name}/O=vouch");
        let mut args = vec!["req", "-x509", "-nodes", "-days", "3650", "-subj", &subj, "-keyout", &k, "-out", &crt];
        args.extend(key.args());
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(&self.dir, &args);
    }

    /// A certificate `name` issued by `issuer` with the extensions `ext`.
    fn issue(&self, name: &str, issuer: &str, key: Key, ext: &str) {
        let (crt, k, csr, extfile) = (format!("{name}.crt"), format!("{name}.key"), format!("{name}.csr"), format!("{name}.ext"));
        std::fs::write(self.path(&extfile), ext).unwrap();
        let subj = format!("/CN=vouch test {name}/O=vouch");
        let mut args = vec!["req", "-new", "-nodes", "-subj", &subj, "-keyout", &k, "-out", &csr];
        args.extend(key.args());
        openssl(&self.dir, &args);
        let (ca, ca_key) = (format!("{issuer}.crt"), format!("{issuer}.key"));
        static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0x1000);
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::SeqCst).to_string();
        openssl(
            &self.dir,
            &["x509", "-req", "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-set_serial", &serial, "-days", "3650", "-sha256", "-extfile", &extfile, "-out", &crt],
        );
    }

    /// A timestamp token over `data`, signed by `signer` with `chain` (PEM files) embedded.
    fn token(&self, data: &[u8], signer: &str, chain: &[&str]) -> Vec<u8> {
        std::fs::write(self.path("data.bin"), data).unwrap();
        std::fs::write(self.path("serial"), "01\n").unwrap();
        let config = format!(
            "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = {}\ncrypto_device = builtin\nsigner_digest = sha256\n\
             default_policy = 1.3.6.1.4.1.57264.99.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1, millisecs:500\n\
             ordering = no\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
            self.path("serial").display()
        );
        std::fs::write(self.path("tsa.cnf"), config).unwrap();
        openssl(&self.dir, &["ts", "-query", "-data", "data.bin", "-sha256", "-cert", "-out", "q.tsq"]);
        let (crt, key) = (format!("{signer}.crt"), format!("{signer}.key"));
        let mut args = vec!["ts", "-reply", "-queryfile", "q.tsq", "-signer", &crt, "-inkey", &key, "-config", "tsa.cnf", "-out", "r.tsr", "-token_out"];
        if !chain.is_empty() {
            let pem: String = chain.iter().map(|c| std::fs::read_to_string(self.path(&format!("{c}.crt"))).unwrap()).collect();
            std::fs::write(self.path("chain.pem"), pem).unwrap();
            args.extend(["-chain", "chain.pem"]);
        }
        openssl(&self.dir, &args);
        std::fs::read(self.path("r.tsr")).unwrap()
    }

    /// A trust store: the envelope's root in `ca:signing`, `tsa_roots` in `tsa:test`.
    fn store(&self, base: &Path, tsa_roots: &[&str]) -> TrustStore {
        let root = self.path("store");
        let _ = std::fs::remove_dir_all(&root);
        let ca = root.join("x509/ca/signing");
        let tsa = root.join("x509/tsa/test");
        std::fs::create_dir_all(&ca).unwrap();
        std::fs::create_dir_all(&tsa).unwrap();
        std::fs::copy(base.join(SIGNING_ROOT), ca.join("root.crt")).unwrap();
        for name in tsa_roots {
            std::fs::copy(self.path(&format!("{name}.crt")), tsa.join(format!("{name}.crt"))).unwrap();
        }
        TrustStore::open(&root)
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The envelope, its signature value and the descriptor it signs.
fn envelope(base: &Path) -> (serde_json::Value, Vec<u8>, Descriptor) {
    let bytes = std::fs::read(base.join(ENVELOPE)).unwrap();
    let parsed = parse_jws(&bytes).unwrap();
    let t = &parsed.target;
    let subject = Descriptor::new(t.media_type.clone(), vouch_core::Digest::parse(&t.digest).unwrap(), t.size);
    (serde_json::from_slice(&bytes).unwrap(), parsed.signature, subject)
}

fn with_token(jws: &serde_json::Value, token: &[u8]) -> Vec<u8> {
    let mut jws = jws.clone();
    let b64 = base64::engine::general_purpose::STANDARD.encode(token);
    jws["header"]["io.cncf.notary.timestampSignature"] = serde_json::Value::String(b64);
    serde_json::to_vec(&jws).unwrap()
}

fn verify(store: TrustStore, subject: &Descriptor, envelope: &[u8], now: OffsetDateTime) -> SignatureOutcome {
    let doc = r#"{"version":"1.0","trustPolicies":[{"name":"tsa","registryScopes":["*"],
        "signatureVerification":{"level":"strict","verifyTimestamp":"always"},
        "trustStores":["ca:signing","tsa:test"],"trustedIdentities":["*"]}]}"#;
    let verifier = Verifier::new(TrustPolicyDocument::parse(doc.as_bytes()).unwrap(), store);
    verifier.verify("r.io/app", subject, MEDIA_TYPE_JWS, envelope, now)
}

/// The envelope's leaf (2023-05-09 → 2033-05-10) must be valid when the token is made.
fn leaf_valid_now() -> bool {
    let now = OffsetDateTime::now_utc();
    let ok = now > datetime!(2023-05-10 00:00 UTC) && now < datetime!(2033-05-09 00:00 UTC);
    if !ok {
        println!("skipped: the clock is outside the vector leaf's validity");
    }
    ok
}

#[test]
fn a_token_from_a_trusted_tsa_verifies_rsa_and_ecdsa() {
    let Some((base, tsa)) = setup("trusted") else { return };
    if !leaf_valid_now() {
        return;
    }
    let (jws, signature, subject) = envelope(&base);
    tsa.root("root", Key::P256);
    tsa.issue("intermediate", "root", Key::P256, CA_EXT);
    tsa.issue("rsa-tsa", "intermediate", Key::Rsa, TSA_EXT);
    tsa.issue("ec-tsa", "intermediate", Key::P256, TSA_EXT);
    for signer in ["rsa-tsa", "ec-tsa"] {
        let token = tsa.token(&signature, signer, &["intermediate"]);
        let bytes = with_token(&jws, &token);
        let out = verify(tsa.store(&base, &["root"]), &subject, &bytes, OffsetDateTime::now_utc());
        assert!(out.is_success, "{signer}: {:?}", out.error);
        // Once the signing leaf has expired, the timestamp still proves it was valid.
        let later = verify(tsa.store(&base, &["root"]), &subject, &bytes, datetime!(2034-01-01 00:00 UTC));
        assert!(later.is_success, "{signer} after leaf expiry: {:?}", later.error);
    }
}

#[test]
fn a_token_from_a_tsa_outside_the_store_is_not_trusted() {
    let Some((base, tsa)) = setup("untrusted") else { return };
    if !leaf_valid_now() {
        return;
    }
    let (jws, signature, subject) = envelope(&base);
    tsa.root("root", Key::P256);
    tsa.root("other-root", Key::P256);
    tsa.issue("other-tsa", "other-root", Key::P256, TSA_EXT);
    let token = tsa.token(&signature, "other-tsa", &["other-root"]);
    let out = verify(tsa.store(&base, &["root"]), &subject, &with_token(&jws, &token), OffsetDateTime::now_utc());
    assert!(matches!(out.error, Some(NotationError::TimestampNotTrusted { .. })), "{:?}", out.error);
    let text = out.error.unwrap().to_string();
    assert!(text.contains("tsa:test") && text.contains("unknown authority"), "{text}");
}

fn error_text(out: &SignatureOutcome) -> String {
    out.error.as_ref().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn tokens_breaking_the_timestamping_rules_fail() {
    let Some((base, tsa)) = setup("rules") else { return };
    if !leaf_valid_now() {
        return;
    }
    let (jws, signature, subject) = envelope(&base);
    let now = OffsetDateTime::now_utc();
    tsa.root("root", Key::P256);
    tsa.issue("tsa", "root", Key::P256, TSA_EXT);
    // openssl accepts nonRepudiation alone; the Notary Project requires digitalSignature.
    tsa.issue("nr-tsa", "root", Key::P256, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,nonRepudiation\nextendedKeyUsage=critical,timeStamping\n");
    // An end-entity certificate posing as the TSA's issuer.
    tsa.issue("not-a-ca", "root", Key::P256, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyCertSign\n");
    tsa.issue("under-leaf-tsa", "not-a-ca", Key::P256, TSA_EXT);

    let token = tsa.token(&signature, "nr-tsa", &[]);
    let out = verify(tsa.store(&base, &["root"]), &subject, &with_token(&jws, &token), now);
    assert!(matches!(out.error, Some(NotationError::TimestampInvalid { .. })) && error_text(&out).contains("digitalSignature"), "{}", error_text(&out));

    let token = tsa.token(&signature, "under-leaf-tsa", &["not-a-ca"]);
    let out = verify(tsa.store(&base, &["root"]), &subject, &with_token(&jws, &token), now);
    assert!(error_text(&out).contains("CA:TRUE"), "{}", error_text(&out));

    let token = tsa.token(b"some other signature", "tsa", &[]);
    let out = verify(tsa.store(&base, &["root"]), &subject, &with_token(&jws, &token), now);
    assert!(error_text(&out).contains("mismatched message"), "{}", error_text(&out));

    // The same, well-formed token verifies; a flipped bit in its signed content does not.
    let mut token = tsa.token(&signature, "tsa", &[]);
    assert!(verify(tsa.store(&base, &["root"]), &subject, &with_token(&jws, &token), now).is_success);
    let at = token.len() - 20;
    token[at] ^= 0x01;
    let out = verify(tsa.store(&base, &["root"]), &subject, &with_token(&jws, &token), now);
    assert!(matches!(out.error, Some(NotationError::TimestampInvalid { .. })), "{:?}", out.error);
}
