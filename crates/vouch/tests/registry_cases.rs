//! Every case of `../shared/testvectors/registry/CASES.md` (images signed by the real notation
//! CLI), loaded into a real registry and verified through the containerd-style invocation.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use vouch_testkit::registry::TestRegistry;

/// (case, repo, subject digest, expected pass, reason fragments for a deny)
const CASES: &[(&str, &str, &str, bool, &[&str])] = &[
    ("expired-cert-notation", "seta/expired-cert-notation", "sha256:fc516ce9a0f6660b46a89980350d640b082b8384704adde450c1cea691750dfe", false, &["expired"]),
    ("jws-ps256", "seta/jws-ps256", "sha256:8881f3895ca109c07c2cbca6c3bcefba5c0689cefc1f09a7c1a69a3afa8a8414", true, &[]),
    ("jws-ps384", "seta/jws-ps384", "sha256:3fbf7234fa7e6cca66af7a5649eba3a50ad02b40c0556601014d95f10a373e30", true, &[]),
    ("jws-ps512", "seta/jws-ps512", "sha256:1f8abc036b840f0efe5268b45cf2385eba1b618f2ef690003984dde5c99e2532", true, &[]),
    ("jws-es256", "seta/jws-es256", "sha256:7915cabde77e5bb2c3ae63b93491f896670c70a312a7ab53a2895756c6fbfcc5", true, &[]),
    ("jws-es384", "seta/jws-es384", "sha256:76eb367b20d6af6849227689a06a99054ce82fe4cb864e90028cb613695a3284", true, &[]),
    ("jws-es512", "seta/jws-es512", "sha256:c4e1fe1e153415c23cf17c433048b50687969da97819ff57ebe50edccb9a3f9d", true, &[]),
    ("jws-and-cose", "seta/jws-and-cose", "sha256:55d3ee5aae6c7fb048d83b9b66e9c3835018f3fac2bd718c66e6e9691526c195", true, &[]),
    ("untrusted-and-trusted", "seta/untrusted-and-trusted", "sha256:e565dfc8b2ebcc019f8d3a0c7cb62be991a86ef099e90dc01feeaa92877dc12d", true, &[]),
    ("untrusted-only", "seta/untrusted-only", "sha256:37dfb98d419992be04023838673303d2152955745e1089ba4a8315f9a9688d83", false, &["trust store"]),
    ("expired-cert", "seta/expired-cert", "sha256:2a114e881ed42eef27db0ebf6984761b0dd0994fd9c3c9e4e9a4fe8b7c71de0f", false, &["expired"]),
    ("no-codesign-eku", "seta/no-codesign-eku", "sha256:b0a57907557436779073407e9e558f95168a37a2e79e9ceb7e15e6b7b9687bcb", false, &["serverAuth"]),
    ("expired-signature", "seta/expired-signature", "sha256:b31d1ad84131aa48757d94301fc959403239aca75454b4f88f26f070d30d9fd3", false, &["expired"]),
    ("user-metadata", "seta/user-metadata", "sha256:544a89e0b8451313d539350e0a559603fa0d34247168730205c3e63956f196ac", true, &[]),
    ("unsigned", "seta/unsigned", "sha256:c4a7309ef3900e0d2e76c6c0764f276f073dff5c48486ee780f7b779ab3110f1", false, &["no Notary Project signature"]),
    ("multiarch-index", "seta/multiarch-index", "sha256:da58af6bcb17650fd4de3eb2b45d0279215a7b2e8d5007fd8fa20a285e65f572", true, &[]),
    ("multiarch-index (amd64 child)", "seta/multiarch-index", "sha256:55d22a77b082b3e41358645bf189000956dc2e8f86e59d26e279632266e335b6", false, &["no Notary Project signature"]),
];

/// COSE-only cases: all pass.
const COSE_CASES: &[(&str, &str, &str)] = &[
    ("cose-ps256", "seta/cose-ps256", "sha256:c458631eefaf8e212cd6839eb5b2f8e32bc3b2028930a683ae6c9bbe5ddb8804"),
    ("cose-es256", "seta/cose-es256", "sha256:7ac5f916f66ff1b3b095ea60aee2d73cde815f45f7ab3c4e878d8c1973be5e8f"),
    ("cose-es384", "seta/cose-es384", "sha256:bc3e4db5856e643a797e29998ef0104408d09810836cdc2f3aa96307253dfac7"),
];

/// The descriptor line containerd would send for `digest`, read from the layout's blob.
fn descriptor_line(layout: &Path, digest: &str) -> Vec<u8> {
    let blob = std::fs::read(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap();
    let v: Value = serde_json::from_slice(&blob).unwrap();
    let media_type = v["mediaType"].as_str().expect("vector manifests carry mediaType");
    format!("{{\"mediaType\":\"{media_type}\",\"digest\":\"{digest}\",\"size\":{}}}\n", blob.len()).into_bytes()
}

struct Setup {
    _registry: TestRegistry,
    host: String,
    layout: std::path::PathBuf,
    config: std::path::PathBuf,
    dir: TempDir,
}

fn setup() -> Option<Setup> {
    let Some(shared) = shared() else {
        println!("skipped: ../shared not present");
        return None;
    };
    let layout = shared.join("testvectors/registry");
    let registry = TestRegistry::start().expect("start docker-registry");
    let host = registry.host().to_string();
    vouch_testkit::layout::load_layout(&layout, &host).expect("load the vector layout");
    let dir = TempDir::new("cases");
    let config = write_config(dir.path(), &layout.join("trustpolicy.json"), &layout.join("truststore"), "");
    let hosts = dir.path().join("certs.d").join(&host);
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{host}\"\n")).unwrap();
    Some(Setup { _registry: registry, host, layout, config, dir })
}

#[test]
fn every_registry_case_gives_the_expected_verdict() {
    let Some(s) = setup() else { return };
    for (i, (case, repo, digest, pass, fragments)) in CASES.iter().enumerate() {
        // containerd passes the reference in several forms; use each of them.
        let name = match i % 3 {
            0 => format!("{}/{repo}@{digest}", s.host),
            1 => format!("{}/{repo}:anytag@{digest}", s.host),
            _ => format!("{}/{repo}:anytag", s.host),
        };
        let r = run(&s.config, &name, digest, &descriptor_line(&s.layout, digest));
        println!("{case}: exit {:?}: {}", r.exit_code, r.stdout.trim());
        if *pass {
            let v = assert_allow(&r);
            assert!(v["verifierReports"].as_array().is_some_and(|a| !a.is_empty()), "{case}: {v}");
        } else {
            assert_deny(&r, fragments);
        }
    }
}

#[test]
fn untrusted_signature_is_reported_next_to_the_trusted_one() {
    let Some(s) = setup() else { return };
    let digest = "sha256:e565dfc8b2ebcc019f8d3a0c7cb62be991a86ef099e90dc01feeaa92877dc12d";
    let r = run(&s.config, &format!("{}/seta/untrusted-and-trusted:x", s.host), digest, &descriptor_line(&s.layout, digest));
    let v = assert_allow(&r);
    let reports = v["verifierReports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    // The untrusted signature comes first in the tag index.
    assert_eq!(reports[0]["referenceDigest"], "sha256:0aebd2a8cc384de296ef52b0084b643461cbd413251b48bf9e0fa6f78f039a5c");
    assert_eq!(reports[0]["verifierReports"][0]["isSuccess"], false);
    assert_eq!(reports[1]["verifierReports"][0]["isSuccess"], true);
    let ext = &reports[1]["verifierReports"][0]["extensions"];
    assert_eq!(ext["SN"], "CN=acme signer,O=acme,L=Seattle,ST=WA,C=US");
    assert!(ext["Issuer"].as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn user_metadata_reaches_the_report() {
    let Some(s) = setup() else { return };
    let digest = "sha256:544a89e0b8451313d539350e0a559603fa0d34247168730205c3e63956f196ac";
    let r = run(&s.config, &format!("{}/seta/user-metadata@{digest}", s.host), digest, &descriptor_line(&s.layout, digest));
    let v = assert_allow(&r);
    assert_eq!(v["verifierReports"][0]["verifierReports"][0]["extensions"]["userMetadata"]["env"], "prod");
}

#[test]
fn cose_cases() {
    let Some(s) = setup() else { return };
    for (case, repo, digest) in COSE_CASES {
        let r = run(&s.config, &format!("{}/{repo}@{digest}", s.host), digest, &descriptor_line(&s.layout, digest));
        println!("{case}: exit {:?}: {}", r.exit_code, r.stdout.trim());
        assert_allow(&r);
    }
}

/// CASES.md's `-m env=prod` and `-m env=dev` rows: notation checks required metadata on the
/// command line; vouch expresses the same requirement as a Rego policy (the shipped
/// `policies/require-metadata.rego`, and a copy requiring env=dev).
#[test]
fn required_user_metadata_through_rego() {
    let Some(s) = setup() else { return };
    let digest = "sha256:544a89e0b8451313d539350e0a559603fa0d34247168730205c3e63956f196ac";
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/require-metadata.rego")).unwrap();
    for (env, pass) in [("prod", true), ("dev", false)] {
        let rego = s.dir.path().join(format!("require-{env}.rego"));
        std::fs::write(&rego, shipped.replace("\"env\": \"prod\"", &format!("\"env\": \"{env}\""))).unwrap();
        let config = s.dir.path().join(format!("config-{env}.toml"));
        let text = std::fs::read_to_string(&s.config).unwrap();
        std::fs::write(&config, format!("{text}\n[policy]\nrego = \"{}\"\n", rego.display())).unwrap();
        let r = run(&config, &format!("{}/seta/user-metadata@{digest}", s.host), digest, &descriptor_line(&s.layout, digest));
        println!("env={env}: exit {:?}: {}", r.exit_code, r.stdout.trim());
        if pass {
            assert_allow(&r);
        } else {
            let v = assert_deny(&r, &[&format!("require-{env}.rego")]);
            assert_eq!(v["errorClass"], "signature");
        }
    }
    // The unsigned-metadata images are refused by the shipped policy.
    let other = "sha256:7915cabde77e5bb2c3ae63b93491f896670c70a312a7ab53a2895756c6fbfcc5";
    let config = s.dir.path().join("config-prod.toml");
    let r = run(&config, &format!("{}/seta/jws-es256@{other}", s.host), other, &descriptor_line(&s.layout, other));
    assert_deny(&r, &[]);
}
