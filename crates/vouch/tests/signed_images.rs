//! Images signed in the test by the development signer (vouch-testkit's `signer`), pushed to a
//! real registry as notation 1.x pushes them (signature manifest + `sha256-<hex>` tag index),
//! then verified through the containerd-style invocation. Each broken signature must deny with
//! a reason that names what is wrong.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use time::{Duration, OffsetDateTime};
use vouch_core::{Descriptor, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};
use vouch_testkit::containerd::{descriptor_line, VerifierRun};
use vouch_testkit::registry::TestRegistry;
use vouch_testkit::signer::{push_demo_image, push_signature, write_trust_material, LeafOptions, SignOptions, TestCa, TestSigner};

/// The subject DN vouch reports for the default test signer.
const SIGNER_SN: &str = "CN=vouch test signer,O=vouch-dev,ST=WA,C=US";

/// A registry, a trusted CA with one signer, and a vouch configuration trusting that CA.
struct Env {
    registry: TestRegistry,
    config: PathBuf,
    ca: TestCa,
    signer: TestSigner,
    _dir: TempDir,
}

impl Env {
    fn new() -> Env {
        let registry = TestRegistry::start().expect("start docker-registry");
        let dir = TempDir::new("signed");
        let ca = TestCa::new("vouch test root").unwrap();
        let signer = ca.issue_leaf(LeafOptions::new("vouch test signer")).unwrap();
        let (policy, store) = write_trust_material(dir.path(), &ca.cert_pem(), "test", "*").unwrap();
        let config = write_config(dir.path(), &policy, &store, "");
        let host = registry.host().to_string();
        let hosts = dir.path().join("certs.d").join(&host);
        std::fs::create_dir_all(&hosts).unwrap();
        std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{host}\"\n")).unwrap();
        Env { registry, config, ca, signer, _dir: dir }
    }

    fn host(&self) -> &str {
        self.registry.host()
    }

    /// Pushes a fresh image `repo:tag`.
    fn image(&self, repo: &str, tag: &str) -> Descriptor {
        push_demo_image(self.host(), repo, tag).unwrap()
    }

    /// Signs `target` (JWS) and attaches the signature to `subject`.
    fn attach(&self, repo: &str, subject: &Descriptor, target: &Descriptor, signer: &TestSigner, opts: &SignOptions) -> Descriptor {
        let envelope = signer.sign_jws(target, opts).unwrap();
        push_signature(self.host(), repo, subject, &envelope, MEDIA_TYPE_JWS).unwrap()
    }

    /// Signs `image` with `signer` and attaches the signature to it.
    fn sign(&self, repo: &str, image: &Descriptor, signer: &TestSigner, opts: &SignOptions) -> Descriptor {
        self.attach(repo, image, image, signer, opts)
    }

    /// Runs vouch as containerd does for `host/repo:tag@digest`.
    fn verify(&self, repo: &str, tag: &str, image: &Descriptor) -> VerifierRun {
        self.verify_name(&format!("{}/{repo}:{tag}@{}", self.host(), image.digest), image)
    }

    fn verify_name(&self, name: &str, image: &Descriptor) -> VerifierRun {
        let r = run(&self.config, name, &image.digest.to_string(), &descriptor_line(image));
        println!("{name}: exit {:?}: {}", r.exit_code, r.stdout.trim());
        r
    }
}

/// The `i`th signature's verifier result.
fn result(v: &Value, i: usize) -> &Value {
    &v["verifierReports"][i]["verifierReports"][0]
}

/// Asserts one failed signature whose `errorReason` contains `fragment`.
fn assert_one_failed(v: &Value, fragment: &str) {
    assert_eq!(v["errorClass"], "signature", "{v}");
    assert_eq!(v["verifierReports"].as_array().map(Vec::len), Some(1), "{v}");
    let r = result(v, 0);
    assert_eq!(r["isSuccess"], false, "{v}");
    assert!(r["errorReason"].as_str().is_some_and(|e| e.contains(fragment)), "errorReason lacks {fragment:?}: {v}");
}

#[test]
fn signed_image_is_allowed() {
    let env = Env::new();
    let image = env.image("demo/app", "v1");
    let sig = env.sign("demo/app", &image, &env.signer, &SignOptions::default());
    let v = assert_allow(&env.verify("demo/app", "v1", &image));
    assert!(v["reason"].as_str().unwrap().contains(SIGNER_SN), "{v}");
    assert_eq!(v["subject"], format!("{}/demo/app@{}", env.host(), image.digest));
    assert_eq!(v["verifierReports"][0]["referenceDigest"], sig.digest.to_string());
    assert_eq!(v["verifierReports"][0]["artifactType"], "application/vnd.cncf.notary.signature");
    let r = result(&v, 0);
    assert_eq!(r["isSuccess"], true);
    assert_eq!(r["extensions"]["SN"], SIGNER_SN);
    assert_eq!(r["extensions"]["Issuer"], "CN=vouch test root,O=vouch-dev,ST=WA,C=US");
    assert_eq!(r["extensions"]["signingScheme"], "notary.x509");
    assert_eq!(r["extensions"]["envelopeMediaType"], MEDIA_TYPE_JWS);
}

#[test]
fn unsigned_image_is_denied() {
    let env = Env::new();
    let image = env.image("demo/app", "unsigned");
    let v = assert_deny(&env.verify("demo/app", "unsigned", &image), &["no Notary Project signature"]);
    assert_eq!(v["verifierReports"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["errorClass"], "signature");
}

#[test]
fn signer_from_an_untrusted_ca_is_denied() {
    let env = Env::new();
    let other = TestCa::new("someone else's root").unwrap().issue_leaf(LeafOptions::new("intruder")).unwrap();
    let image = env.image("demo/app", "v1");
    env.sign("demo/app", &image, &other, &SignOptions::default());
    let v = assert_deny(&env.verify("demo/app", "v1", &image), &["trust store", "ca:test"]);
    assert_one_failed(&v, "does not lead to trust store");
    assert_eq!(result(&v, 0)["extensions"]["SN"], "CN=intruder,O=vouch-dev,ST=WA,C=US");
}

#[test]
fn tampered_payload_is_denied() {
    let env = Env::new();
    let image = env.image("demo/app", "v1");
    env.sign("demo/app", &image, &env.signer, &SignOptions { tamper_payload: true, ..Default::default() });
    let v = assert_deny(&env.verify("demo/app", "v1", &image), &["signature is invalid"]);
    assert_one_failed(&v, "does not verify");
}

#[test]
fn unknown_critical_header_is_denied() {
    let env = Env::new();
    let image = env.image("demo/app", "v1");
    let opts = SignOptions { extra_critical: vec![("io.cncf.notary.unknown".into(), "x".into())], ..Default::default() };
    env.sign("demo/app", &image, &env.signer, &opts);
    let v = assert_deny(&env.verify("demo/app", "v1", &image), &["unknown critical header", "io.cncf.notary.unknown"]);
    assert_one_failed(&v, "io.cncf.notary.unknown");
}

#[test]
fn algorithm_that_does_not_fit_the_key_is_denied() {
    let env = Env::new();
    let image = env.image("demo/app", "v1");
    env.sign("demo/app", &image, &env.signer, &SignOptions { alg: Some("PS256".into()), ..Default::default() });
    let v = assert_deny(&env.verify("demo/app", "v1", &image), &["PS256", "does not match the signing key"]);
    assert_one_failed(&v, "EC P-256");
}

#[test]
fn expired_signature_is_denied() {
    let env = Env::new();
    let image = env.image("demo/app", "v1");
    let now = OffsetDateTime::now_utc();
    let opts = SignOptions { signing_time: Some(now - Duration::hours(2)), expiry: Some(now - Duration::hours(1)), ..Default::default() };
    env.sign("demo/app", &image, &env.signer, &opts);
    let v = assert_deny(&env.verify("demo/app", "v1", &image), &["expired"]);
    assert_one_failed(&v, "signature expired at");
    assert!(result(&v, 0)["extensions"]["expiry"].is_string(), "{v}");
}

#[test]
fn signature_with_a_future_expiry_is_allowed() {
    let env = Env::new();
    let image = env.image("demo/app", "v1");
    let opts = SignOptions { expiry: Some(OffsetDateTime::now_utc() + Duration::days(1)), ..Default::default() };
    env.sign("demo/app", &image, &env.signer, &opts);
    let v = assert_allow(&env.verify("demo/app", "v1", &image));
    assert!(result(&v, 0)["extensions"]["expiry"].is_string(), "{v}");
}

#[test]
fn expired_signing_certificate_is_denied() {
    let env = Env::new();
    let now = OffsetDateTime::now_utc();
    let leaf = LeafOptions {
        not_before: Some(now - Duration::days(30)),
        not_after: Some(now - Duration::days(1)),
        ..LeafOptions::new("old signer")
    };
    let old = env.ca.issue_leaf(leaf).unwrap();
    let image = env.image("demo/app", "v1");
    env.sign("demo/app", &image, &old, &SignOptions { signing_time: Some(now - Duration::days(2)), ..Default::default() });
    let v = assert_deny(&env.verify("demo/app", "v1", &image), &["expired", "old signer"]);
    assert_one_failed(&v, "has expired");
}

#[test]
fn server_auth_leaf_is_denied() {
    let env = Env::new();
    let tls = env.ca.issue_leaf(LeafOptions { server_auth: true, ..LeafOptions::new("tls server") }).unwrap();
    let image = env.image("demo/app", "v1");
    env.sign("demo/app", &image, &tls, &SignOptions::default());
    let v = assert_deny(&env.verify("demo/app", "v1", &image), &["serverAuth"]);
    assert_one_failed(&v, "extended key usage must not contain serverAuth");
}

#[test]
fn signature_of_another_image_is_denied() {
    let env = Env::new();
    let a = env.image("demo/app", "a");
    let b = env.image("demo/app", "b");
    assert_ne!(a.digest, b.digest);
    env.attach("demo/app", &b, &a, &env.signer, &SignOptions::default());
    let v = assert_deny(&env.verify("demo/app", "b", &b), &["signature is for", &a.digest.to_string()]);
    assert_one_failed(&v, "not for this image");
    // The signature still verifies for the image it was made for... once attached to it.
    env.sign("demo/app", &a, &env.signer, &SignOptions::default());
    assert_allow(&env.verify("demo/app", "a", &a));
}

#[test]
fn untrusted_then_trusted_signature_is_allowed() {
    let env = Env::new();
    let other = TestCa::new("someone else's root").unwrap().issue_leaf(LeafOptions::new("intruder")).unwrap();
    let image = env.image("demo/app", "v1");
    let bad = env.sign("demo/app", &image, &other, &SignOptions::default());
    let good = env.sign("demo/app", &image, &env.signer, &SignOptions::default());
    let v = assert_allow(&env.verify("demo/app", "v1", &image));
    assert!(v["reason"].as_str().unwrap().contains("signature 2 of 2 verified"), "{v}");
    assert_eq!(v["verifierReports"][0]["referenceDigest"], bad.digest.to_string());
    assert_eq!(v["verifierReports"][1]["referenceDigest"], good.digest.to_string());
    assert_eq!(result(&v, 0)["isSuccess"], false);
    assert!(result(&v, 0)["errorReason"].as_str().unwrap().contains("trust store"), "{v}");
    assert_eq!(result(&v, 1)["isSuccess"], true);
    assert_eq!(result(&v, 1)["extensions"]["SN"], SIGNER_SN);
}

#[test]
fn every_trusted_signature_is_reported() {
    let env = Env::new();
    let second = env.ca.issue_leaf(LeafOptions { organization: "vouch-release".into(), ..LeafOptions::new("release signer") }).unwrap();
    let image = env.image("demo/app", "v1");
    let mut metadata = BTreeMap::new();
    metadata.insert("env".to_string(), "prod".to_string());
    env.sign("demo/app", &image, &env.signer, &SignOptions::default());
    env.sign("demo/app", &image, &second, &SignOptions { annotations: metadata, ..Default::default() });
    let v = assert_allow(&env.verify("demo/app", "v1", &image));
    assert_eq!(v["verifierReports"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(result(&v, 0)["isSuccess"], true);
    assert_eq!(result(&v, 1)["isSuccess"], true);
    assert_eq!(result(&v, 0)["extensions"]["SN"], SIGNER_SN);
    assert_eq!(result(&v, 1)["extensions"]["SN"], "CN=release signer,O=vouch-release,ST=WA,C=US");
    assert_eq!(result(&v, 1)["extensions"]["userMetadata"]["env"], "prod");
}

#[test]
fn every_name_form_containerd_passes_is_verified() {
    let env = Env::new();
    let image = env.image("team/service", "1.0");
    env.sign("team/service", &image, &env.signer, &SignOptions::default());
    let forms = [
        format!("{}/team/service:1.0@{}", env.host(), image.digest),
        format!("{}/team/service@{}", env.host(), image.digest),
    ];
    for name in forms {
        let v = assert_allow(&env.verify_name(&name, &image));
        assert_eq!(v["subject"], format!("{}/team/service@{}", env.host(), image.digest), "{name}");
    }
    let unsigned = env.image("team/service", "2.0");
    let name = format!("{}/team/service@{}", env.host(), unsigned.digest);
    assert_deny(&env.verify_name(&name, &unsigned), &["no Notary Project signature"]);
}

#[test]
fn cose_signature_is_allowed() {
    let env = Env::new();
    let image = env.image("demo/app", "cose");
    let envelope = env.signer.sign_cose(&image, &SignOptions::default()).unwrap();
    push_signature(env.host(), "demo/app", &image, &envelope, MEDIA_TYPE_COSE).unwrap();
    let v = assert_allow(&env.verify("demo/app", "cose", &image));
    assert_eq!(result(&v, 0)["extensions"]["SN"], SIGNER_SN);
    assert_eq!(result(&v, 0)["extensions"]["envelopeMediaType"], MEDIA_TYPE_COSE);
}

#[test]
fn tampered_cose_signature_is_denied() {
    let env = Env::new();
    let image = env.image("demo/app", "cose");
    let envelope = env.signer.sign_cose(&image, &SignOptions { tamper_payload: true, ..Default::default() }).unwrap();
    push_signature(env.host(), "demo/app", &image, &envelope, MEDIA_TYPE_COSE).unwrap();
    let v = assert_deny(&env.verify("demo/app", "cose", &image), &["signature is invalid"]);
    assert_one_failed(&v, "does not verify");
}
