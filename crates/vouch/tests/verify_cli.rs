//! `vouch verify` as CI runs it: no configuration file, trust material and registry access from
//! flags, a table or JSON on stdout, exit 0 only when every image passes, and `--platform` for
//! images signed per platform. Against a real registry with images signed in the test.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use vouch_core::{Descriptor, MEDIA_TYPE_JWS, MEDIA_TYPE_OCI_INDEX};
use vouch_testkit::registry::{push_manifest, TestRegistry};
use vouch_testkit::signer::{push_demo_image, push_signature, write_trust_material, LeafOptions, SignOptions, TestCa, TestSigner};

/// A registry, a trusted CA and its signer, and trust material on disk (no vouch config).
struct Ci {
    registry: TestRegistry,
    signer: TestSigner,
    trust_policy: PathBuf,
    trust_store: PathBuf,
    dir: TempDir,
}

impl Ci {
    fn new() -> Ci {
        let registry = TestRegistry::start().expect("start docker-registry");
        let dir = TempDir::new("verify-cli");
        let ca = TestCa::new("ci root").unwrap();
        let signer = ca.issue_leaf(LeafOptions::new("ci signer")).unwrap();
        let (trust_policy, trust_store) = write_trust_material(dir.path(), &ca.cert_pem(), "ci", "*").unwrap();
        Ci { registry, signer, trust_policy, trust_store, dir }
    }

    fn host(&self) -> &str {
        self.registry.host()
    }

    fn push(&self, repo: &str, tag: &str) -> Descriptor {
        push_demo_image(self.host(), repo, tag).unwrap()
    }

    fn sign(&self, repo: &str, target: &Descriptor) {
        let envelope = self.signer.sign_jws(target, &SignOptions::default()).unwrap();
        push_signature(self.host(), repo, target, &envelope, MEDIA_TYPE_JWS).unwrap();
    }

    /// `vouch verify` with the trust flags, `--insecure-registry`, no configuration, and `extra`.
    fn verify(&self, extra: &[&str]) -> Output {
        let tp = self.trust_policy.to_string_lossy().to_string();
        let ts = self.trust_store.to_string_lossy().to_string();
        let mut args = vec!["verify", "--trust-policy", &tp, "--trust-store", &ts, "--insecure-registry", self.host()];
        args.extend_from_slice(extra);
        vouch(&args, self.dir.path())
    }

    fn image(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host())
    }
}

/// Runs vouch in `cwd` with no VOUCH_CONFIG; stdout is a pipe, so JSON is the default.
fn vouch(args: &[&str], cwd: &Path) -> Output {
    let out = Command::new(vouch_bin()).args(args).current_dir(cwd).env_remove("VOUCH_CONFIG").output().unwrap();
    println!("vouch {}: {:?}\n{}\n{}", args.join(" "), out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn flags_replace_the_configuration_file() {
    let ci = Ci::new();
    let image = ci.push("ci/app", "v1");
    ci.sign("ci/app", &image);
    let out = ci.verify(&[&ci.image("ci/app", "v1")]);
    assert_eq!(out.status.code(), Some(0));
    let v = json_of(&out);
    assert_eq!(v["isSuccess"], true, "{v}");
    assert_eq!(v["subject"], format!("{}/ci/app@{}", ci.host(), image.digest));
    assert!(v.get("cached").is_none(), "no configuration, no cache: {v}");
}

#[test]
fn several_images_give_an_array_and_fail_if_one_fails() {
    let ci = Ci::new();
    let good = ci.push("ci/app", "good");
    ci.sign("ci/app", &good);
    ci.push("ci/app", "unsigned");
    let out = ci.verify(&[&ci.image("ci/app", "good"), &ci.image("ci/app", "unsigned")]);
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&out);
    let list = v.as_array().expect("an array for two images");
    assert_eq!((list[0]["isSuccess"].clone(), list[1]["isSuccess"].clone()), (json!(true), json!(false)));
    assert!(list[1]["reason"].as_str().unwrap().contains("no Notary Project signature"), "{v}");
}

#[test]
fn table_output_names_image_digest_verdict_signer_and_reason() {
    let ci = Ci::new();
    let good = ci.push("ci/app", "good");
    ci.sign("ci/app", &good);
    ci.push("ci/app", "bad");
    let (a, b) = (ci.image("ci/app", "good"), ci.image("ci/app", "bad"));
    let out = ci.verify(&["--output", "table", &a, &b]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for column in ["IMAGE", "DIGEST", "VERDICT", "SIGNER", "REASON"] {
        assert!(lines[0].contains(column), "{text}");
    }
    assert!(lines[1].starts_with(&a) && lines[1].contains("pass") && lines[1].contains("CN=ci signer"), "{text}");
    assert!(lines[1].contains(&good.digest.to_string()[..19]), "{text}");
    assert!(lines[2].starts_with(&b) && lines[2].contains("FAIL") && lines[2].contains("no Notary Project signature"), "{text}");
}

#[test]
fn quiet_prints_nothing_and_the_exit_code_answers() {
    let ci = Ci::new();
    let good = ci.push("ci/app", "good");
    ci.sign("ci/app", &good);
    ci.push("ci/app", "bad");
    let ok = ci.verify(&["--quiet", &ci.image("ci/app", "good")]);
    assert_eq!((ok.status.code(), ok.stdout.len()), (Some(0), 0));
    let bad = ci.verify(&["-q", &ci.image("ci/app", "bad")]);
    assert_eq!((bad.status.code(), bad.stdout.len()), (Some(1), 0));
}

#[test]
fn policy_flag_replaces_the_rego_policy() {
    let ci = Ci::new();
    let good = ci.push("ci/app", "good");
    ci.sign("ci/app", &good);
    std::fs::write(ci.dir.path().join("never.rego"), "package ratify.policy\ndefault valid = false\n").unwrap();
    // A relative path is taken from the working directory.
    let out = ci.verify(&["--policy", "never.rego", &ci.image("ci/app", "good")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(json_of(&out)["reason"].as_str().unwrap().contains("never.rego"), "{}", json_of(&out));
}

#[test]
fn hosts_dir_flag_reaches_the_registry_over_http() {
    let ci = Ci::new();
    let good = ci.push("ci/app", "good");
    ci.sign("ci/app", &good);
    let hosts = ci.dir.path().join("certs.d").join(ci.host());
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{}\"\n", ci.host())).unwrap();
    let certs = ci.dir.path().join("certs.d").to_string_lossy().to_string();
    let tp = ci.trust_policy.to_string_lossy().to_string();
    let ts = ci.trust_store.to_string_lossy().to_string();
    let out = vouch(&["verify", "--hosts-dir", &certs, "--trust-policy", &tp, "--trust-store", &ts, &ci.image("ci/app", "good")], ci.dir.path());
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn audit_mode_of_a_configuration_is_ignored_unless_asked() {
    let ci = Ci::new();
    ci.push("ci/app", "bad");
    let config = write_config(ci.dir.path(), &ci.trust_policy, &ci.trust_store, "");
    let text = std::fs::read_to_string(&config).unwrap().replace("mode = \"enforce\"", "mode = \"audit\"");
    std::fs::write(&config, text).unwrap();
    let cfg = config.to_string_lossy().to_string();
    let image = ci.image("ci/app", "bad");
    assert_eq!(ci.verify(&["--config", &cfg, &image]).status.code(), Some(1));
    let audit = ci.verify(&["--config", &cfg, "--audit", &image]);
    assert_eq!(audit.status.code(), Some(0));
    assert_eq!(json_of(&audit)["isSuccess"], false);
}

/// An index with linux/amd64 and linux/arm64 manifests, pushed as `ci/multi:v1`.
fn push_index(ci: &Ci) -> (Descriptor, Descriptor, Descriptor) {
    let amd = ci.push("ci/multi", "amd64");
    let arm = ci.push("ci/multi", "arm64");
    let entry = |d: &Descriptor, arch: &str| json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size, "platform": {"os": "linux", "architecture": arch}});
    let index = json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")]});
    let idx = push_manifest(ci.host(), "ci/multi", "v1", MEDIA_TYPE_OCI_INDEX, &serde_json::to_vec(&index).unwrap()).unwrap();
    (idx, amd, arm)
}

#[test]
fn platform_manifest_is_verified_too() {
    let ci = Ci::new();
    let (idx, amd, _arm) = push_index(&ci);
    ci.sign("ci/multi", &idx);
    ci.sign("ci/multi", &amd);
    let image = ci.image("ci/multi", "v1");
    assert_eq!(ci.verify(&[&image]).status.code(), Some(0), "the index alone is signed");
    let ok = ci.verify(&["--platform", "linux/amd64", &image]);
    assert_eq!(ok.status.code(), Some(0));
    let v = json_of(&ok);
    assert_eq!(v["platform"]["name"], "linux/amd64");
    assert_eq!(v["platform"]["report"]["subject"], format!("{}/ci/multi@{}", ci.host(), amd.digest), "{v}");
    let bad = ci.verify(&["--platform", "linux/arm64", &image]);
    assert_eq!(bad.status.code(), Some(1), "the arm64 manifest is unsigned");
    let v = json_of(&bad);
    assert_eq!(v["isSuccess"], false);
    assert!(v["reason"].as_str().unwrap().contains("platform linux/arm64"), "{v}");
    let table = ci.verify(&["--platform", "linux/arm64", "--output", "table", &image]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.lines().any(|l| l.contains("[linux/arm64]") && l.contains("FAIL")), "{text}");
}

#[test]
fn platform_missing_from_the_index_fails() {
    let ci = Ci::new();
    let (idx, _, _) = push_index(&ci);
    ci.sign("ci/multi", &idx);
    let out = ci.verify(&["--platform", "linux/s390x", &ci.image("ci/multi", "v1")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(json_of(&out)["reason"].as_str().unwrap().contains("no manifest for platform linux/s390x"), "{}", json_of(&out));
    let single = ci.push("ci/single", "v1");
    ci.sign("ci/single", &single);
    let other = ci.verify(&["--platform", "linux/arm64", &ci.image("ci/single", "v1")]);
    assert_eq!(other.status.code(), Some(1));
    assert!(json_of(&other)["reason"].as_str().unwrap().contains("is linux/amd64, not linux/arm64"));
    assert_eq!(ci.verify(&["--platform", "linux/amd64", &ci.image("ci/single", "v1")]).status.code(), Some(0));
    let usage = ci.verify(&["--platform", "linux", &ci.image("ci/single", "v1")]);
    assert_ne!(usage.status.code(), Some(0));
}
