//! `vouch install` (the binary appears in bin_dir whole and executable, or not at all) and
//! `vouch sync` against a directory updated the way the kubelet updates a mounted ConfigMap
//! (valid update, invalid update refused, deletion, `..data` swaps followed by `--watch`).

mod common;

use common::*;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vouch_testkit::signer::TestCa;

fn vouch(args: &[&str]) -> Output {
    let out = Command::new(vouch_bin()).args(args).env_remove("VOUCH_CONFIG").output().unwrap();
    println!("vouch {}: {:?}\n{}{}", args.join(" "), out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn install_copies_the_running_binary_executable() {
    let dir = TempDir::new("install");
    let bin_dir = dir.path().join("opt/containerd/image-verifier/bin");
    let out = vouch(&["install", "--bin-dir", &s(&bin_dir)]);
    assert_eq!(out.status.code(), Some(0));
    let target = bin_dir.join("vouch");
    assert_eq!(std::fs::read(&target).unwrap(), std::fs::read(vouch_bin()).unwrap());
    assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o755);
    let leftovers: Vec<_> = std::fs::read_dir(bin_dir.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("bin")], "no temporary file is left beside bin_dir");
    let again = vouch(&["install", "--bin-dir", &s(&bin_dir)]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already this binary"));
    assert_eq!(vouch(&["install", "--bin-dir", &s(&bin_dir), "--name", "10-vouch"]).status.code(), Some(0));
    assert!(bin_dir.join("10-vouch").is_file());
}

#[test]
fn install_never_shows_a_partial_or_non_executable_file() {
    let dir = TempDir::new("install-watch");
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let size = std::fs::metadata(vouch_bin()).unwrap().len();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (bin_dir, stop) = (bin_dir.clone(), stop.clone());
        std::thread::spawn(move || watch_entries(&bin_dir, size, &stop))
    };
    for _ in 0..3 {
        let _ = std::fs::remove_file(bin_dir.join("vouch"));
        assert_eq!(vouch(&["install", "--bin-dir", &s(&bin_dir)]).status.code(), Some(0));
    }
    stop.store(true, Ordering::SeqCst);
    let seen = watcher.join().unwrap();
    assert!(seen > 0, "the watcher saw the installed file");
}

/// Lists `dir` until stopped; every entry must be `vouch`, `size` bytes, 0755. Returns how
/// often it saw the file.
fn watch_entries(dir: &Path, size: u64, stop: &AtomicBool) -> usize {
    let mut seen = 0;
    while !stop.load(Ordering::SeqCst) {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
            assert_eq!(entry.file_name(), "vouch", "only the finished file may appear in bin_dir");
            let Ok(meta) = std::fs::metadata(entry.path()) else { continue };
            assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (size, 0o755), "partial or non-executable file visible");
            seen += 1;
        }
    }
    seen
}

#[test]
fn install_refuses_a_bin_dir_that_is_a_file() {
    let dir = TempDir::new("install-file");
    let not_dir = dir.path().join("bin");
    std::fs::write(&not_dir, "x").unwrap();
    let out = vouch(&["install", "--bin-dir", &s(&not_dir)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a directory"));
}

/// A directory updated the way the kubelet updates a projected volume: files in a timestamped
/// directory, `..data` renamed over to name it, top-level links `<name> → ..data/<name>`.
struct Projected {
    dir: PathBuf,
    version: usize,
}

impl Projected {
    fn new(dir: PathBuf) -> Projected {
        std::fs::create_dir_all(&dir).unwrap();
        Projected { dir, version: 0 }
    }

    /// Publishes a new version holding exactly `files`.
    fn publish(&mut self, files: &[(&str, Vec<u8>)]) {
        self.version += 1;
        let name = format!("..2026_01_01_00_00_{:02}.{:09}", self.version, self.version);
        let new = self.dir.join(&name);
        for (rel, bytes) in files {
            let p = new.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        symlink(&name, self.dir.join("..data_tmp")).unwrap();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        let tops: Vec<String> = files.iter().map(|(rel, _)| rel.split('/').next().unwrap().to_string()).collect();
        for top in &tops {
            let _ = symlink(Path::new("..data").join(top), self.dir.join(top));
        }
        self.remove_stale(&tops);
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }

    fn remove_stale(&self, tops: &[String]) {
        for e in std::fs::read_dir(&self.dir).unwrap().map(|e| e.unwrap()) {
            let n = e.file_name().to_string_lossy().into_owned();
            if !n.starts_with("..") && !tops.contains(&n) {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
    }
}

const TRUST_POLICY: &str = r#"{"version":"1.0","trustPolicies":[{"name":"acme","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:acme"],"trustedIdentities":["*"]}]}"#;
const CONFIG: &str = "timeout = \"8s\"\ncache_dir = \"/var/lib/vouch\"\n[notation]\ntrust_policy = \"trustpolicy.json\"\ntrust_store = \"truststore\"\n[policy]\nrego = \"policy.rego\"\n";
const POLICY_A: &str = "package ratify.policy\ndefault valid = false\n";
const POLICY_B: &str = "package ratify.policy\ndefault valid = false\nvalid { count(input.verifierReports) > 0 }\n";

/// A valid configuration set with `policy` as the Rego module.
fn files(ca_pem: &str, policy: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("config.toml", CONFIG.as_bytes().to_vec()),
        ("trustpolicy.json", TRUST_POLICY.as_bytes().to_vec()),
        ("policy.rego", policy.as_bytes().to_vec()),
        ("truststore/x509/ca/acme/root.crt", ca_pem.as_bytes().to_vec()),
    ]
}

struct SyncEnv {
    source: Projected,
    target: PathBuf,
    ca_pem: String,
    _dir: TempDir,
}

impl SyncEnv {
    fn new() -> SyncEnv {
        let dir = TempDir::new("sync");
        let source = Projected::new(dir.path().join("config"));
        let target = dir.path().join("host/etc/vouch");
        let ca_pem = TestCa::new("acme root").unwrap().cert_pem();
        SyncEnv { source, target, ca_pem, _dir: dir }
    }

    fn sync(&self) -> Output {
        vouch(&["sync", "--from", &s(&self.source.dir), "--to", &s(&self.target)])
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.target.join(rel)).ok()
    }

    fn versions(&self) -> usize {
        std::fs::read_dir(&self.target).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("..vouch_")).count()
    }
}

#[test]
fn sync_installs_and_updates_a_valid_configuration() {
    let mut env = SyncEnv::new();
    env.source.publish(&files(&env.ca_pem, POLICY_A));
    assert_eq!(env.sync().status.code(), Some(0));
    assert_eq!(env.read("policy.rego").as_deref(), Some(POLICY_A));
    assert_eq!(env.read("truststore/x509/ca/acme/root.crt").as_deref(), Some(env.ca_pem.as_str()));
    assert!(std::fs::symlink_metadata(env.target.join("config.toml")).unwrap().file_type().is_symlink());
    // The installed configuration is one vouch loads as it is.
    let doctor = vouch(&["--config", &s(&env.target.join("config.toml")), "doctor", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert!(!v["findings"].as_array().unwrap().iter().any(|f| f["subject"].as_str().unwrap().contains("vouch/")), "{v:#}");
    let unchanged = env.sync();
    assert_eq!((unchanged.status.code(), unchanged.stdout.len()), (Some(0), 0), "nothing to do the second time");
    env.source.publish(&files(&env.ca_pem, POLICY_B));
    let out = env.sync();
    assert!(String::from_utf8_lossy(&out.stdout).contains("installed a new configuration"));
    assert_eq!(env.read("policy.rego").as_deref(), Some(POLICY_B));
    assert_eq!(env.versions(), 1, "the previous version is removed");
}

#[test]
fn sync_refuses_an_invalid_configuration_and_keeps_the_old_one() {
    let mut env = SyncEnv::new();
    env.source.publish(&files(&env.ca_pem, POLICY_A));
    assert_eq!(env.sync().status.code(), Some(0));
    env.source.publish(&files(&env.ca_pem, "package ratify.policy\nvalid {\n"));
    let out = env.sync();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused") && stderr.contains("does not compile"), "{stderr}");
    assert_eq!(env.read("policy.rego").as_deref(), Some(POLICY_A));
    assert_eq!(env.versions(), 1, "the refused version is not left behind");
    let mut bad_cert = files(&env.ca_pem, POLICY_A);
    bad_cert[3].1 = b"not a certificate".to_vec();
    env.source.publish(&bad_cert);
    assert_eq!(env.sync().status.code(), Some(1));
    assert_eq!(env.read("truststore/x509/ca/acme/root.crt").as_deref(), Some(env.ca_pem.as_str()));
    env.source.publish(&[("config.toml", b"mode = \"strict\"\n".to_vec())]);
    assert_eq!(env.sync().status.code(), Some(1));
    assert_eq!(env.read("config.toml").as_deref(), Some(CONFIG));
}

#[test]
fn sync_removes_deleted_files_and_leaves_unmanaged_ones() {
    let mut env = SyncEnv::new();
    env.source.publish(&files(&env.ca_pem, POLICY_A));
    assert_eq!(env.sync().status.code(), Some(0));
    std::fs::write(env.target.join("break-glass"), "INC-1\n").unwrap();
    let without_rego: Vec<_> = files(&env.ca_pem, POLICY_A).into_iter().filter(|(n, _)| *n != "policy.rego").collect();
    let config = CONFIG.replace("[policy]\nrego = \"policy.rego\"\n", "");
    let mut next: Vec<_> = without_rego.into_iter().filter(|(n, _)| *n != "config.toml").collect();
    next.push(("config.toml", config.clone().into_bytes()));
    env.source.publish(&next);
    assert_eq!(env.sync().status.code(), Some(0));
    assert_eq!(env.read("config.toml"), Some(config));
    assert!(std::fs::symlink_metadata(env.target.join("policy.rego")).is_err(), "the deleted key is gone");
    assert_eq!(env.read("break-glass").as_deref(), Some("INC-1\n"), "files sync does not manage stay");
}

#[test]
fn sync_refuses_a_source_without_config_toml() {
    let mut env = SyncEnv::new();
    env.source.publish(&[("trustpolicy.json", TRUST_POLICY.as_bytes().to_vec())]);
    let out = env.sync();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no config.toml"));
    assert!(!env.target.join("..data").exists());
}

#[test]
fn sync_watch_follows_data_swaps() {
    let mut env = SyncEnv::new();
    env.source.publish(&files(&env.ca_pem, POLICY_A));
    let mut child = Command::new(vouch_bin())
        .args(["sync", "--from", &s(&env.source.dir), "--to", &s(&env.target), "--watch", "--interval", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| env.read("policy.rego").as_deref() == Some(POLICY_A));
    env.source.publish(&files(&env.ca_pem, POLICY_B));
    wait_for(|| env.read("policy.rego").as_deref() == Some(POLICY_B));
    env.source.publish(&files(&env.ca_pem, "package ratify.policy\nvalid {\n"));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(env.read("policy.rego").as_deref(), Some(POLICY_B), "an invalid update is not installed");
    env.source.publish(&files(&env.ca_pem, POLICY_A));
    wait_for(|| env.read("policy.rego").as_deref() == Some(POLICY_A));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("refused the configuration").count(), 1, "one refusal message per bad version: {stderr}");
}

fn wait_for(ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(15), "timed out");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn synced_configuration_verifies_images_as_containerd_runs_vouch() {
    use vouch_core::MEDIA_TYPE_JWS;
    use vouch_testkit::containerd::descriptor_line;
    use vouch_testkit::signer::{push_demo_image, push_signature, LeafOptions, SignOptions};
    let registry = vouch_testkit::registry::TestRegistry::start().expect("start docker-registry");
    let mut env = SyncEnv::new();
    let ca = TestCa::new("acme root").unwrap();
    let signer = ca.issue_leaf(LeafOptions::new("acme signer")).unwrap();
    let mut set = files(&ca.cert_pem(), &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/default.rego")).unwrap());
    set[0].1 = CONFIG.replace("cache_dir = \"/var/lib/vouch\"\n", "[cache]\nenabled = false\n").into_bytes();
    env.source.publish(&set);
    assert_eq!(env.sync().status.code(), Some(0));
    let image = push_demo_image(registry.host(), "acme/app", "v1").unwrap();
    let envelope = signer.sign_jws(&image, &SignOptions::default()).unwrap();
    push_signature(registry.host(), "acme/app", &image, &envelope, MEDIA_TYPE_JWS).unwrap();
    let unsigned = push_demo_image(registry.host(), "acme/app", "unsigned").unwrap();
    let config = env.target.join("config.toml");
    let name = |tag: &str| format!("{}/acme/app:{tag}", registry.host());
    assert_allow(&run(&config, &name("v1"), &image.digest.to_string(), &descriptor_line(&image)));
    assert_deny(&run(&config, &name("unsigned"), &unsigned.digest.to_string(), &descriptor_line(&unsigned)), &["no Notary Project signature"]);
}
