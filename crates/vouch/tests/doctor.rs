//! `vouch doctor` on the sample nodes in `testdata/doctor/`: the clean sample has no finding,
//! and each other sample (plus the bin_dir entries, certificates and containerd versions the
//! tests create) gives its finding, naming the TOML key or file and the fix, with exit 1 exactly
//! when there is an error.

mod common;

use common::*;
use serde_json::Value;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use time::{Duration, OffsetDateTime};
use vouch_testkit::signer::{LeafOptions, TestCa};

/// A sample node: `clean/` with a case's files over it, in a temporary directory.
struct Node {
    dir: TempDir,
}

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/doctor")
}

/// Copies `from` into `to`, replacing `@DIR@` with `root`.
fn copy_sample(from: &Path, to: &Path, root: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_sample(&entry.path(), &target, root);
        } else {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(&target, text.replace("@DIR@", &root.to_string_lossy())).unwrap();
        }
    }
}

impl Node {
    fn new(case: &str) -> Node {
        let dir = TempDir::new(&format!("doctor-{case}"));
        let root = dir.path().to_path_buf();
        copy_sample(&samples().join("clean"), &root, &root);
        if case != "clean" {
            copy_sample(&samples().join(case), &root, &root);
        }
        std::fs::create_dir_all(root.join("bin")).unwrap();
        symlink(vouch_bin(), root.join("bin/vouch")).unwrap();
        let store = root.join("truststore/x509/ca/acme");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(store.join("root.crt"), TestCa::new("acme root").unwrap().cert_pem()).unwrap();
        let node = Node { dir };
        node.fake_containerd("containerd github.com/containerd/containerd/v2 v2.3.4 0123abc");
        node
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A stand-in `containerd` whose `--version` prints `line`.
    fn fake_containerd(&self, line: &str) {
        self.script("containerd", &format!("#!/bin/sh\necho '{line}'\n"));
    }

    fn script(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Runs doctor with JSON output; returns the exit code and the document.
    fn doctor(&self) -> (i32, Value) {
        let out = Command::new(vouch_bin())
            .args(["--config", &self.s("vouch.toml"), "doctor", "--containerd-config", &self.s("containerd.toml")])
            .args(["--containerd-bin", &self.s("containerd"), "--output", "json"])
            .env("VOUCH_BREAK_GLASS", self.path("break-glass"))
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
        (out.status.code().unwrap_or(-1), v)
    }

    fn s(&self, rel: &str) -> String {
        self.path(rel).to_string_lossy().into_owned()
    }
}

fn findings(v: &Value) -> Vec<Value> {
    v["findings"].as_array().cloned().unwrap_or_default()
}

/// Asserts a finding of `severity` whose subject and problem contain the fragments, and that
/// every finding has a subject, a problem and a fix.
fn assert_finding(v: &Value, severity: &str, subject: &str, problem: &str) {
    for f in findings(v) {
        for k in ["subject", "problem", "fix"] {
            assert!(f[k].as_str().is_some_and(|s| !s.is_empty() && !s.contains('\n')), "{k} missing or not one line: {f}");
        }
    }
    let found = findings(v).into_iter().any(|f| {
        f["severity"] == severity && f["subject"].as_str().unwrap().contains(subject) && f["problem"].as_str().unwrap().contains(problem)
    });
    assert!(found, "no {severity} on {subject:?} saying {problem:?}: {v:#}");
}

/// The case gives exactly this one finding.
fn only(case: &str, severity: &str, subject: &str, problem: &str) {
    let (code, v) = Node::new(case).doctor();
    assert_finding(&v, severity, subject, problem);
    assert_eq!(findings(&v).len(), 1, "{v:#}");
    assert_eq!(code, i32::from(severity == "error"), "{v:#}");
}

#[test]
fn clean_node_has_no_findings() {
    let (code, v) = Node::new("clean").doctor();
    assert_eq!(findings(&v).len(), 0, "{v:#}");
    assert_eq!((code, v["ok"].clone()), (0, Value::Bool(true)));
}

#[test]
fn human_output_is_one_line_per_finding_with_the_fix() {
    let node = Node::new("timeout-too-short");
    let out = Command::new(vouch_bin())
        .args(["--config", &node.s("vouch.toml"), "doctor", "--containerd-config", &node.s("containerd.toml"), "--containerd-bin", &node.s("containerd")])
        .env("VOUCH_BREAK_GLASS", node.path("break-glass"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("error") && lines[0].contains("per_verifier_timeout") && lines[0].contains("; fix: set per_verifier_timeout = \"9s\""), "{text}");
    assert!(lines[1].contains("1 error(s), 0 warning(s)"), "{text}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bindir_section_missing_is_a_warning() {
    let (code, v) = Node::new("no-bindir-section").doctor();
    assert_finding(&v, "warning", "plugins.\"io.containerd.image-verifier.v1.bindir\"", "is not set");
    // containerd's default bin_dir does not exist on this machine either.
    assert_finding(&v, "error", "/opt/containerd/image-verifier/bin (the default bin_dir)", "allows every pull");
    assert_eq!(code, 1);
}

#[test]
fn bindir_plugin_disabled() {
    only("bindir-disabled", "error", "containerd.toml: disabled_plugins", "calls no verifier");
}

#[test]
fn per_verifier_timeout_below_vouch_timeout() {
    only("timeout-too-short", "error", "conf.d/vouch.toml: plugins.\"io.containerd.image-verifier.v1.bindir\".per_verifier_timeout", "less than vouch's timeout");
}

#[test]
fn default_per_verifier_timeout_below_vouch_timeout() {
    only("timeout-default-too-short", "error", "per_verifier_timeout (default 10s)", "9.5s");
}

#[test]
fn max_verifiers_smaller_than_the_entries() {
    let node = Node::new("max-verifiers-too-small");
    node.script("bin/other-verifier", "#!/bin/sh\nexit 0\n");
    let (code, v) = node.doctor();
    assert_finding(&v, "error", "max_verifiers", "is 1 but");
    assert_eq!((code, findings(&v).len()), (1, 1));
}

#[test]
fn max_verifiers_zero() {
    only("max-verifiers-zero", "error", "max_verifiers", "runs no verifier");
}

#[test]
fn max_verifiers_unlimited_accepts_any_count() {
    let node = Node::new("clean");
    let drop_in = node.path("conf.d/vouch.toml");
    let text = std::fs::read_to_string(&drop_in).unwrap().replace("max_verifiers = 10", "max_verifiers = -1");
    std::fs::write(&drop_in, text).unwrap();
    for i in 0..12 {
        node.script(&format!("bin/v{i:02}"), "#!/bin/sh\nexit 0\n");
    }
    assert_eq!(findings(&node.doctor().1).len(), 0);
}

#[test]
fn bin_dir_missing() {
    only("bin-dir-missing", "error", "no-such-dir", "allows every pull");
}

#[test]
fn bin_dir_is_a_file() {
    let node = Node::new("clean");
    std::fs::remove_dir_all(node.path("bin")).unwrap();
    std::fs::write(node.path("bin"), "not a directory").unwrap();
    let (code, v) = node.doctor();
    assert_finding(&v, "error", "bin_dir", "not a directory");
    assert_eq!(code, 1);
}

#[test]
fn bin_dir_empty_or_without_vouch() {
    let node = Node::new("clean");
    std::fs::remove_file(node.path("bin/vouch")).unwrap();
    assert_finding(&node.doctor().1, "error", "bin_dir", "is empty");
    node.script("bin/other-verifier", "#!/bin/sh\nexit 0\n");
    let (code, v) = node.doctor();
    assert_finding(&v, "error", "bin_dir", "no vouch executable");
    assert_eq!(code, 1);
}

#[test]
fn config_file_in_bin_dir() {
    let node = Node::new("clean");
    std::fs::write(node.path("bin/vouch.toml"), "mode = \"enforce\"\n").unwrap();
    let (code, v) = node.doctor();
    assert_finding(&v, "error", "bin/vouch.toml", "not executable");
    assert_eq!((code, findings(&v).len()), (1, 1));
}

#[test]
fn directory_in_bin_dir() {
    let node = Node::new("clean");
    std::fs::create_dir(node.path("bin/plugins")).unwrap();
    assert_finding(&node.doctor().1, "error", "bin/plugins", "is a directory");
}

#[test]
fn dangling_symlink_in_bin_dir() {
    let node = Node::new("clean");
    symlink(node.path("gone"), node.path("bin/old-vouch")).unwrap();
    assert_finding(&node.doctor().1, "error", "bin/old-vouch", "dangling symlink");
}

#[test]
fn script_without_interpreter_line_in_bin_dir() {
    let node = Node::new("clean");
    node.script("bin/check.sh", "exit 0\n");
    assert_finding(&node.doctor().1, "error", "bin/check.sh", "exec format error");
    node.script("bin/check.sh", "#!/no/such/shell\nexit 0\n");
    assert_finding(&node.doctor().1, "error", "bin/check.sh", "/no/such/shell");
    node.script("bin/check.sh", "#!/bin/sh\nexit 0\n");
    assert_eq!(findings(&node.doctor().1).len(), 0);
}

#[test]
fn hidden_entries_count_too() {
    let node = Node::new("clean");
    std::fs::write(node.path("bin/.keep"), "").unwrap();
    assert_finding(&node.doctor().1, "error", "bin/.keep", "not executable");
}

#[test]
fn cri_use_local_image_pull() {
    only("cri-use-local-image-pull", "error", "plugins.\"io.containerd.cri.v1.images\".use_local_image_pull", "without calling any image verifier");
}

#[test]
fn cri_max_concurrent_downloads() {
    only("cri-max-concurrent-downloads", "error", "max_concurrent_downloads", "= 10");
}

#[test]
fn cri_disable_snapshot_annotations_in_version_2_form() {
    only("cri-disable-snapshot-annotations-v2", "error", "plugins.\"io.containerd.grpc.v1.cri\".containerd.disable_snapshot_annotations", "= false");
}

#[test]
fn cri_discard_unpacked_layers() {
    only("cri-discard-unpacked-layers", "error", "discard_unpacked_layers", "= true");
}

#[test]
fn cri_image_pull_with_sync_fs() {
    only("cri-image-pull-with-sync-fs", "error", "image_pull_with_sync_fs", "= true");
}

#[test]
fn cri_deprecated_registry_tables() {
    only("cri-registry-mirrors-v2", "error", "plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors", "is set");
    only("cri-registry-configs", "error", "plugins.\"io.containerd.cri.v1.images\".registry.configs", "is set");
    only("cri-registry-auths", "error", "registry.auths", "is set");
}

#[test]
fn cri_config_path_differs_from_hosts_dir() {
    only("cri-config-path-differs", "warning", "registry.config_path", "/etc/docker/certs.d");
}

#[test]
fn old_containerd_config_version() {
    only("old-config-version", "warning", "containerd.toml: version", "oldest format");
}

#[test]
fn vouch_config_invalid() {
    only("vouch-config-invalid", "error", "vouch.toml", "trust_polcy");
}

#[test]
fn vouch_config_missing() {
    let node = Node::new("clean");
    std::fs::remove_file(node.path("vouch.toml")).unwrap();
    let (code, v) = node.doctor();
    assert_finding(&v, "error", "vouch.toml", "does not exist");
    assert_eq!(code, 1);
}

#[test]
fn trust_policy_invalid() {
    only("trust-policy-invalid", "error", "notation.trust_policy", "trustPolicies is empty");
}

#[test]
fn trust_store_missing() {
    only("trust-store-missing", "error", "truststore/x509/ca/partner", "ca:partner");
}

#[test]
fn certificate_that_does_not_parse() {
    let node = Node::new("clean");
    std::fs::write(node.path("truststore/x509/ca/acme/broken.crt"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let (code, v) = node.doctor();
    assert_finding(&v, "error", "truststore/x509/ca/acme", "broken.crt");
    assert_eq!(code, 1);
    // Outside the stores the trust policy names, only a warning.
    let node = Node::new("clean");
    std::fs::create_dir_all(node.path("truststore/x509/ca/unused")).unwrap();
    std::fs::write(node.path("truststore/x509/ca/unused/junk.crt"), "junk").unwrap();
    let (code, v) = node.doctor();
    assert_finding(&v, "warning", "unused/junk.crt", "not a certificate");
    assert_eq!(code, 0);
}

#[test]
fn certificate_expiring_within_30_days_is_a_warning() {
    let node = Node::new("clean");
    let soon = OffsetDateTime::now_utc() + Duration::days(10);
    let leaf = TestCa::new("acme root 2").unwrap().issue_leaf(LeafOptions { not_after: Some(soon), ..LeafOptions::new("short-lived") }).unwrap();
    std::fs::write(node.path("truststore/x509/ca/acme/short.der"), &leaf.leaf_der).unwrap();
    let (code, v) = node.doctor();
    assert_finding(&v, "warning", "acme/short.der (CN=short-lived", "expires in 9 day");
    assert_eq!((code, findings(&v).len()), (0, 1));
}

#[test]
fn expired_certificate_in_a_used_store_is_an_error() {
    let node = Node::new("clean");
    let now = OffsetDateTime::now_utc();
    let opts = LeafOptions { not_before: Some(now - Duration::days(30)), not_after: Some(now - Duration::days(1)), ..LeafOptions::new("old") };
    let leaf = TestCa::new("acme root 3").unwrap().issue_leaf(opts).unwrap();
    std::fs::write(node.path("truststore/x509/ca/acme/old.der"), &leaf.leaf_der).unwrap();
    let (code, v) = node.doctor();
    assert_finding(&v, "error", "acme/old.der", "expired at");
    assert_eq!(code, 1);
}

#[test]
fn rego_does_not_compile() {
    only("rego-does-not-compile", "error", "policy.rego", "does not compile");
}

#[test]
fn rego_not_boolean_on_a_sample_report() {
    only("rego-not-boolean", "error", "policy.rego", "non-boolean");
}

#[test]
fn cache_dir_not_writable() {
    only("cache-dir-not-writable", "warning", "cache_dir", "not a writable directory");
}

#[test]
fn containerd_older_than_2_1() {
    let node = Node::new("clean");
    node.fake_containerd("containerd github.com/containerd/containerd/v2 v2.0.5 abc");
    let (code, v) = node.doctor();
    assert_finding(&v, "error", "containerd --version", "Kubernetes (CRI) pulls skip image verifiers");
    assert_eq!((code, findings(&v).len()), (1, 1));
    node.fake_containerd("containerd containerd.io 1.7.27 05044ec");
    assert_finding(&node.doctor().1, "error", "containerd --version", "no image-verifier plugin");
}

#[test]
fn containerd_version_unknown_is_a_warning() {
    let node = Node::new("clean");
    node.fake_containerd("something else entirely");
    let (code, v) = node.doctor();
    assert_finding(&v, "warning", "containerd --version", "no version");
    assert_eq!(code, 0);
    node.script("containerd", "#!/bin/sh\nexit 3\n");
    assert_eq!(node.doctor().0, 0);
}

#[test]
fn break_glass_file_is_a_warning() {
    let node = Node::new("clean");
    std::fs::write(node.path("break-glass"), "INC-1234: registry outage\n").unwrap();
    let (code, v) = node.doctor();
    assert_finding(&v, "warning", "break-glass", "INC-1234: registry outage");
    assert_eq!(code, 0);
}
