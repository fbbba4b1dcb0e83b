//! Helpers shared by vouch's integration tests.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use vouch_testkit::containerd::{run_verifier, VerifierRun};

/// The built vouch binary.
pub fn vouch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vouch"))
}

/// `../shared` beside the project, when present.
pub fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    p.is_dir().then(|| p.canonicalize().unwrap_or(p))
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("vouch-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a vouch config in `dir` and returns its path.
pub fn write_config(dir: &Path, trust_policy: &Path, trust_store: &Path, extra: &str) -> PathBuf {
    let hosts = dir.join("certs.d");
    std::fs::create_dir_all(&hosts).unwrap();
    let text = format!(
        "mode = \"enforce\"\ncache_dir = \"{}\"\ntimeout = \"8s\"\n{extra}\n[registry]\nhosts_dir = \"{}\"\n\n[notation]\ntrust_policy = \"{}\"\ntrust_store = \"{}\"\n",
        dir.join("cache").display(),
        hosts.display(),
        trust_policy.display(),
        trust_store.display()
    );
    let p = dir.join("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs vouch as containerd does, with `VOUCH_CONFIG` set to `config`.
pub fn run(config: &Path, name: &str, digest: &str, stdin: &[u8]) -> VerifierRun {
    let cfg = config.to_string_lossy().to_string();
    run_verifier(&vouch_bin(), name, digest, stdin, &[("VOUCH_CONFIG", cfg.as_str())])
}

/// The run's stdout as the JSON report, asserting the contract every run must keep:
/// one compact JSON object, within containerd's 32 KiB, with isSuccess and reason.
pub fn report(run: &VerifierRun) -> Value {
    assert!(!run.killed, "vouch was killed: stderr={}", run.stderr);
    assert!(run.stdout.len() <= 32 * 1024, "stdout is {} bytes", run.stdout.len());
    assert_eq!(run.stdout.trim_end().lines().count(), 1, "stdout is not one line: {}", run.stdout);
    let v: Value = serde_json::from_str(run.stdout.trim_end())
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", run.stdout));
    assert!(v["isSuccess"].is_boolean(), "no isSuccess: {v}");
    assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()), "no reason: {v}");
    assert_eq!(v["reason"].as_str().unwrap().lines().count(), 1, "reason is not one line: {v}");
    v
}

/// Asserts a deny (exit 1) whose reason contains every fragment.
pub fn assert_deny(run: &VerifierRun, fragments: &[&str]) -> Value {
    let v = report(run);
    assert_eq!(run.exit_code, Some(1), "expected deny, got {:?}: {v}", run.exit_code);
    assert_eq!(v["isSuccess"], Value::Bool(false));
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.starts_with("deny "), "{reason}");
    for f in fragments {
        assert!(reason.contains(f), "reason {reason:?} lacks {f:?}");
    }
    v
}

/// Asserts an allow (exit 0, isSuccess true).
pub fn assert_allow(run: &VerifierRun) -> Value {
    let v = report(run);
    assert_eq!(run.exit_code, Some(0), "expected allow, got {:?}: {v}\nstderr: {}", run.exit_code, run.stderr);
    assert_eq!(v["isSuccess"], Value::Bool(true), "{v}");
    assert!(v["reason"].as_str().unwrap().starts_with("allow "), "{v}");
    v
}

/// Every cache entry file (not a leftover temporary file) under `root` decodes, and content
/// entries hold the bytes their digest names.
pub fn assert_cache_intact(root: &Path) {
    for kind in ["content", "referrers", "verdicts", "revocation", "tokens"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind)) else { continue };
        for file in dir.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                continue;
            }
            let bytes = std::fs::read(file.path()).unwrap();
            let entry = vouch_cache::entry::decode(&bytes).unwrap_or_else(|e| panic!("{kind}/{name} is damaged: {e}"));
            if kind == "content" {
                let hex = vouch_core::Digest::sha256_of(&entry.body).hex().to_string();
                assert_eq!(name, format!("sha256-{hex}"), "content/{name} holds other bytes");
            }
        }
    }
}
