//! The on-disk cache through the containerd-style invocation: repeat pulls are answered from
//! the cache without touching the registry, damaged or expired entries are misses that still
//! give the right verdict, any change to the trust material invalidates verdicts, failures are
//! never cached, a read-only or full cache directory changes nothing but speed, and concurrent
//! processes verifying one new image fetch its signature once.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use time::{Duration, OffsetDateTime};
use vouch_core::{Descriptor, Digest, MEDIA_TYPE_JWS};
use vouch_testkit::containerd::{descriptor_line, VerifierRun};
use vouch_testkit::registry::TestRegistry;
use vouch_testkit::signer::{push_demo_image, push_signature, write_trust_material, LeafOptions, SignOptions, TestCa, TestSigner};

const REPO: &str = "demo/app";

/// A registry, a trusted CA and signer, and a vouch configuration with the cache enabled.
struct Env {
    registry: TestRegistry,
    dir: TempDir,
    config: PathBuf,
    trust_policy: PathBuf,
    trust_store: PathBuf,
    signer: TestSigner,
}

impl Env {
    fn new(cache_section: &str) -> Env {
        let registry = TestRegistry::start().expect("start docker-registry");
        let dir = TempDir::new("cache");
        let ca = TestCa::new("vouch test root").unwrap();
        let signer = ca.issue_leaf(LeafOptions::new("vouch test signer")).unwrap();
        let (trust_policy, trust_store) = write_trust_material(dir.path(), &ca.cert_pem(), "test", "*").unwrap();
        let config = write_config(dir.path(), &trust_policy, &trust_store, cache_section);
        let env = Env { registry, dir, config, trust_policy, trust_store, signer };
        env.point_hosts_at(env.registry.host());
        env
    }

    /// Makes the registry's hosts.toml send requests to `server`.
    fn point_hosts_at(&self, server: &str) {
        let hosts = self.dir.path().join("certs.d").join(self.registry.host());
        std::fs::create_dir_all(&hosts).unwrap();
        std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{server}\"\n")).unwrap();
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Pushes an image signed with `opts`; returns it and the envelope's digest.
    fn signed_image(&self, tag: &str, opts: &SignOptions) -> (Descriptor, Digest) {
        let image = push_demo_image(self.registry.host(), REPO, tag).unwrap();
        let envelope = self.signer.sign_jws(&image, opts).unwrap();
        push_signature(self.registry.host(), REPO, &image, &envelope, MEDIA_TYPE_JWS).unwrap();
        (image, Digest::sha256_of(&envelope))
    }

    fn verify(&self, image: &Descriptor) -> VerifierRun {
        let name = format!("{}/{REPO}:t@{}", self.registry.host(), image.digest);
        let r = run(&self.config, &name, &image.digest.to_string(), &descriptor_line(image));
        println!("exit {:?}: {}\nstderr: {}", r.exit_code, r.stdout.trim(), r.stderr.trim());
        r
    }

    /// Requests the registry has answered so far.
    fn requests(&self) -> usize {
        self.registry.log().lines().filter(|l| l.contains("\"GET /v2/") || l.contains("\"HEAD /v2/")).count()
    }

    /// GET requests for one blob.
    fn blob_fetches(&self, digest: &Digest) -> usize {
        let needle = format!("\"GET /v2/{REPO}/blobs/{digest}");
        self.registry.log().lines().filter(|l| l.contains(&needle)).count()
    }

    /// Entry files of one kind.
    fn entries(&self, kind: &str) -> Vec<PathBuf> {
        files(&self.cache_dir().join(kind))
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn cached(v: &Value) -> bool {
    v["cached"]["age_s"].is_u64()
}

/// The report without the `cached` marker, for comparing a cached verdict with a fresh one.
fn without_cached(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("cached");
    v
}

#[test]
fn a_repeat_pull_is_answered_from_the_cache_without_the_registry() {
    let env = Env::new("");
    let (image, _) = env.signed_image("v1", &SignOptions::default());
    let first = assert_allow(&env.verify(&image));
    assert!(!cached(&first), "{first}");
    let before = env.requests();
    let second = assert_allow(&env.verify(&image));
    assert!(cached(&second), "{second}");
    assert_eq!(without_cached(&second), first);
    assert_eq!(env.requests(), before, "the cached pull reached the registry:\n{}", env.registry.log());
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&env.cache_dir()), 0o700);
    assert_eq!(mode(&env.entries("verdicts")[0]), 0o600);
}

#[test]
fn an_unsigned_image_deny_is_cached_and_audit_rewrites_it_again() {
    let env = Env::new("");
    std::fs::write(&env.config, std::fs::read_to_string(&env.config).unwrap().replace("mode = \"enforce\"", "mode = \"audit\"")).unwrap();
    let image = push_demo_image(env.registry.host(), REPO, "unsigned").unwrap();
    for expect_cached in [false, true] {
        let r = env.verify(&image);
        let v = report(&r);
        assert_eq!(r.exit_code, Some(0), "{v}");
        assert_eq!((v["isSuccess"].as_bool(), cached(&v)), (Some(false), expect_cached), "{v}");
        assert!(v["reason"].as_str().unwrap().starts_with("audit: would deny "), "{v}");
        assert!(!v["reason"].as_str().unwrap().contains("audit: would audit"), "{v}");
    }
}

#[test]
fn damaged_cache_files_are_misses_with_the_right_verdict() {
    let env = Env::new("");
    let (image, envelope) = env.signed_image("v1", &SignOptions::default());
    assert_allow(&env.verify(&image));
    let verdict = env.entries("verdicts").pop().expect("a verdict entry");
    let good = std::fs::read(&verdict).unwrap();

    std::fs::write(&verdict, &good[..good.len() / 2]).unwrap();
    assert!(!cached(&assert_allow(&env.verify(&image))), "a truncated verdict was used");

    let mut flipped = std::fs::read(&verdict).unwrap();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x20;
    std::fs::write(&verdict, &flipped).unwrap();
    assert!(!cached(&assert_allow(&env.verify(&image))), "a corrupted verdict was used");

    // Well-formed content entry whose bytes are not the envelope: deleted and fetched again.
    std::fs::remove_file(&verdict).unwrap();
    let content = env.cache_dir().join("content").join(format!("sha256-{}", envelope.hex()));
    assert!(content.exists(), "the envelope was not cached");
    std::fs::write(&content, vouch_cache::entry::encode(vouch_cache::now_ms(), None, b"not the envelope")).unwrap();
    let fetched = env.blob_fetches(&envelope);
    assert!(!cached(&assert_allow(&env.verify(&image))));
    assert_eq!(env.blob_fetches(&envelope), fetched + 1, "the envelope was not fetched again");
    let refreshed = vouch_cache::entry::decode(&std::fs::read(&content).unwrap()).unwrap();
    assert!(envelope.matches(&refreshed.body), "the refetched envelope was not cached again");
}

#[test]
fn expired_verdicts_are_not_used() {
    let env = Env::new("[cache]\nallow_ttl = \"1s\"\n");
    let (image, _) = env.signed_image("v1", &SignOptions::default());
    assert_allow(&env.verify(&image));
    assert!(cached(&assert_allow(&env.verify(&image))));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(!cached(&assert_allow(&env.verify(&image))), "an expired verdict was used");
}

#[test]
fn trust_store_and_trust_policy_changes_invalidate_verdicts() {
    let env = Env::new("");
    let (image, _) = env.signed_image("v1", &SignOptions::default());
    assert_allow(&env.verify(&image));
    assert!(cached(&assert_allow(&env.verify(&image))));

    let other = TestCa::new("another root").unwrap();
    std::fs::write(env.trust_store.join("x509/ca/test/another.crt"), other.cert_pem()).unwrap();
    assert!(!cached(&assert_allow(&env.verify(&image))), "a trust-store change kept the verdict");
    assert!(cached(&assert_allow(&env.verify(&image))));

    let policy = std::fs::read_to_string(&env.trust_policy).unwrap();
    std::fs::write(&env.trust_policy, format!("{policy}\n")).unwrap();
    assert!(!cached(&assert_allow(&env.verify(&image))), "a trust-policy change kept the verdict");

    // Removing the CA turns the answer around at once.
    std::fs::remove_file(env.trust_store.join("x509/ca/test/test.crt")).unwrap();
    let v = assert_deny(&env.verify(&image), &[]);
    assert!(!cached(&v), "{v}");
}

#[test]
fn registry_failures_are_not_cached() {
    let env = Env::new("");
    let (image, _) = env.signed_image("v1", &SignOptions::default());
    let closed = vouch_testkit::registry::free_port().unwrap();
    env.point_hosts_at(&format!("127.0.0.1:{closed}"));
    let v = assert_deny(&env.verify(&image), &["registry"]);
    assert_eq!(v["errorClass"], "registry", "{v}");
    assert!(env.entries("verdicts").is_empty(), "a registry failure was cached");
    let v = assert_deny(&env.verify(&image), &["registry"]);
    assert!(!cached(&v));
}

#[test]
fn a_signature_expiry_caps_the_verdict_lifetime() {
    let env = Env::new("");
    let expiry = OffsetDateTime::now_utc() + Duration::seconds(3);
    let (image, _) = env.signed_image("v1", &SignOptions { expiry: Some(expiry), ..Default::default() });
    assert_allow(&env.verify(&image));
    assert!(cached(&assert_allow(&env.verify(&image))));
    let entry = vouch_cache::entry::decode(&std::fs::read(env.entries("verdicts").pop().unwrap()).unwrap()).unwrap();
    let lifetime = entry.expires_ms.unwrap() - entry.created_ms;
    assert!(lifetime <= 3_500, "verdict kept for {lifetime} ms past a 3 s signature expiry");
    let wait = expiry - OffsetDateTime::now_utc() + Duration::milliseconds(300);
    std::thread::sleep(wait.try_into().unwrap_or_default());
    let v = assert_deny(&env.verify(&image), &["expired"]);
    assert!(!cached(&v), "{v}");
}

/// A mount made for one test, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    /// `mount -t tmpfs -o OPTIONS tmpfs DIR`; `None` (with a message) where mounting is not allowed.
    fn tmpfs(dir: &Path, options: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(dir).output();
        match out {
            Ok(o) if o.status.success() => Some(Mount(dir.to_path_buf())),
            Ok(o) => {
                println!("SKIPPED: mount -o {options} failed: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                println!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn warning_lines(r: &VerifierRun) -> usize {
    r.stderr.lines().filter(|l| l.starts_with("vouch warn: cache")).count()
}

#[test]
fn a_read_only_cache_dir_changes_nothing_but_speed() {
    let env = Env::new("");
    let (image, _) = env.signed_image("v1", &SignOptions::default());
    let Some(_mount) = Mount::tmpfs(&env.cache_dir(), "ro,mode=0700") else { return };
    for _ in 0..2 {
        let r = env.verify(&image);
        let v = assert_allow(&r);
        assert!(!cached(&v));
        assert_eq!(warning_lines(&r), 1, "expected one warning line: {}", r.stderr);
        assert!(r.stderr.contains("verifying without the cache"), "{}", r.stderr);
    }
    assert!(files(&env.cache_dir()).is_empty(), "something was written: {:?}", files(&env.cache_dir()));
    let unsigned = push_demo_image(env.registry.host(), REPO, "unsigned").unwrap();
    assert_deny(&env.verify(&unsigned), &["no Notary Project signature"]);
}

#[test]
fn a_full_cache_disk_changes_nothing_but_speed() {
    let env = Env::new("");
    let (image, _) = env.signed_image("v1", &SignOptions::default());
    let Some(_mount) = Mount::tmpfs(&env.cache_dir(), "size=64k,mode=0700") else { return };
    // Fill it: writes fail with ENOSPC from here on.
    let filler = env.cache_dir().join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 128 * 1024]);
    for _ in 0..2 {
        let r = env.verify(&image);
        assert!(!cached(&assert_allow(&r)));
        assert!(warning_lines(&r) <= 1, "{}", r.stderr);
    }
    let temps: Vec<PathBuf> = ["content", "referrers", "verdicts"]
        .iter()
        .flat_map(|k| env.entries(k))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(temps.is_empty(), "temporary files left behind: {temps:?}");
    let unsigned = push_demo_image(env.registry.host(), REPO, "unsigned").unwrap();
    assert_deny(&env.verify(&unsigned), &["no Notary Project signature"]);
}

#[test]
fn concurrent_pulls_of_a_new_image_fetch_its_signature_once() {
    let env = Env::new("");
    let (image, envelope) = env.signed_image("v1", &SignOptions::default());
    let runs: Vec<VerifierRun> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16).map(|_| s.spawn(|| env.verify(&image))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let cached_count = runs.iter().map(assert_allow).filter(cached).count();
    assert_eq!(cached_count, 15, "one process verifies, the others read its verdict");
    assert_eq!(env.blob_fetches(&envelope), 1, "the envelope was fetched more than once:\n{}", env.registry.log());
}

#[test]
fn cache_commands_report_prune_and_clear() {
    let env = Env::new("");
    let (image, _) = env.signed_image("v1", &SignOptions::default());
    assert_allow(&env.verify(&image));
    assert_allow(&env.verify(&image));
    let cfg = env.config.to_string_lossy().to_string();
    let cli = |args: &[&str]| {
        let out = Command::new(vouch_bin()).args(["--config", &cfg, "cache"]).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let stats: Value = serde_json::from_str(&cli(&["stats", "--output", "json"])).unwrap();
    let verdicts = &stats["kinds"][2];
    assert_eq!((verdicts["kind"].as_str(), verdicts["entries"].as_u64(), verdicts["hits"].as_u64()), (Some("verdicts"), Some(1), Some(1)), "{stats}");
    assert_eq!(verdicts["hitRatio"].as_f64(), Some(0.5), "{stats}");
    assert!(cli(&["stats"]).contains("verdicts"));
    assert!(cli(&["prune"]).starts_with("pruned "));
    let cleared: Value = serde_json::from_str(&cli(&["clear", "--output", "json"])).unwrap();
    assert!(cleared["evicted"].as_u64().unwrap() >= 3, "{cleared}");
    assert!(env.entries("verdicts").is_empty());
    assert!(!cached(&assert_allow(&env.verify(&image))));
}


/// vouch killed with SIGKILL at many points of cold verifications (cache writes included)
/// leaves a cache that the next runs read correctly: every verdict is still right and no
/// entry under its final name is damaged.
#[test]
fn kill_9_at_any_point_leaves_a_readable_cache() {
    let env = Env::new("");
    let (good, _) = env.signed_image("good", &SignOptions::default());
    let unsigned = push_demo_image(env.registry.host(), REPO, "unsigned").unwrap();
    let cfg = env.config.to_string_lossy().to_string();
    for round in 0..30u64 {
        if round % 5 == 0 {
            // Empty the cache now and then so that the kills keep landing on writes.
            let _ = std::fs::remove_dir_all(env.cache_dir());
        }
        let image = if round % 2 == 0 { &good } else { &unsigned };
        let name = format!("{}/{REPO}:t@{}", env.registry.host(), image.digest);
        let mut child = Command::new(vouch_bin())
            .args(["-name", &name, "-digest", &image.digest.to_string(), "-stdin-media-type", "application/vnd.oci.descriptor.v1+json"])
            .env_clear()
            .env("VOUCH_CONFIG", &cfg)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        let _ = child.stdin.take().unwrap().write_all(&descriptor_line(image));
        // Spread the kills over the run: 0 to 24 ms in a fixed, varied order.
        std::thread::sleep(std::time::Duration::from_micros((round * 7919) % 24_000));
        let _ = child.kill();
        let _ = child.wait();
        assert_cache_intact(&env.cache_dir());
    }
    assert_allow(&env.verify(&good));
    assert_deny(&env.verify(&unsigned), &["no Notary Project signature"]);
    // Twice: the second answers come from what the first wrote.
    assert_allow(&env.verify(&good));
    assert_deny(&env.verify(&unsigned), &["no Notary Project signature"]);
    assert_cache_intact(&env.cache_dir());
}
