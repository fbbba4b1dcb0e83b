//! Faults around many concurrent pulls and around time: a registry that dies and comes back
//! while 64 vouch processes are verifying must never turn into a wrong verdict, a late answer
//! or a damaged cache; and a cached allow must not outlive the signing certificate, however
//! long the verification that produced it took.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use vouch_core::{Descriptor, MEDIA_TYPE_DESCRIPTOR, MEDIA_TYPE_JWS, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST};
use vouch_testkit::containerd::descriptor_line;
use vouch_testkit::hostile::{referrers_index, Behaviour, HostileRegistry, SignedImage};
use vouch_testkit::registry::{free_port, TestRegistry, REGISTRY_BIN};
use vouch_testkit::signer::{push_demo_image, push_signature, write_trust_material, LeafOptions, SignOptions, TestCa};

const REPO: &str = "demo/app";
/// The `timeout` the fault test configures; every process must end within it plus one second.
const TIMEOUT: Duration = Duration::from_secs(3);

/// A docker-registry on a fixed port and storage directory that can be killed and started
/// again, so that clients see the same registry disappear and come back.
struct RestartableRegistry {
    dir: TempDir,
    host: String,
    child: Option<Child>,
}

impl RestartableRegistry {
    fn new() -> RestartableRegistry {
        assert!(Path::new(REGISTRY_BIN).exists(), "{REGISTRY_BIN} is missing: install Debian's docker-registry package");
        let dir = TempDir::new("faults-registry");
        let port = free_port().unwrap();
        let host = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            storage.display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut reg = RestartableRegistry { dir, host, child: None };
        reg.start();
        reg
    }

    fn host(&self) -> &str {
        &self.host
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Starts the registry (appending to the same log) and waits until `/v2/` answers 200.
    fn start(&mut self) {
        assert!(self.child.is_none(), "the registry is already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        self.child = Some(child);
        let begun = Instant::now();
        while begun.elapsed() < Duration::from_secs(15) {
            if self.answers_v2() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("docker-registry on {} did not become ready:\n{}", self.host, self.log());
    }

    /// SIGKILL, then reap it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// One plain HTTP/1.0 `GET /v2/`; true on a 200.
    fn answers_v2(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(&self.host) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host).as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[8..12] == b" 200"
    }
}

impl Drop for RestartableRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One image of the fault test and the verdict it deserves.
struct Image {
    desc: Descriptor,
    signed: bool,
}

impl Image {
    fn name(&self, host: &str) -> String {
        format!("{host}/{REPO}:t@{}", self.desc.digest)
    }
}

/// A vouch process started as containerd starts it, with stdout and stderr collected.
struct Pull {
    image: usize,
    child: Child,
    started: Instant,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

/// What one process reported.
struct Outcome {
    image: usize,
    exit: Option<i32>,
    elapsed: Duration,
    ended: Instant,
    stdout: String,
    stderr: String,
}

fn spawn_pull(config: &Path, host: &str, images: &[Image], which: usize) -> Pull {
    let image = &images[which];
    let started = Instant::now();
    let mut child = Command::new(vouch_bin())
        .args(["-name", &image.name(host), "-digest", &image.desc.digest.to_string(), "-stdin-media-type", MEDIA_TYPE_DESCRIPTOR])
        .env_clear()
        .env("VOUCH_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning vouch");
    // One short line: it fits the pipe buffer, so this never blocks.
    let _ = child.stdin.take().unwrap().write_all(&descriptor_line(&image.desc));
    let stdout = vouch_testkit::containerd::read_in_background(child.stdout.take());
    let stderr = vouch_testkit::containerd::read_in_background(child.stderr.take());
    Pull { image: which, child, started, stdout, stderr }
}

/// Reaps the `count` processes arriving on `pulls`, noting when each one ended and counting
/// them in `ended`. A process still running 10 s past its deadline is killed (and then fails
/// the elapsed-time check).
fn reap(pulls: mpsc::Receiver<Pull>, count: usize, ended: &AtomicUsize) -> Vec<Outcome> {
    let mut running: Vec<Pull> = Vec::new();
    let mut done: Vec<Outcome> = Vec::new();
    while done.len() < count {
        running.extend(pulls.try_iter());
        let mut i = 0;
        while i < running.len() {
            let p = &mut running[i];
            let status = match p.child.try_wait().unwrap() {
                Some(s) => Some(s),
                None if p.started.elapsed() > TIMEOUT + Duration::from_secs(10) => {
                    let _ = p.child.kill();
                    Some(p.child.wait().unwrap())
                }
                None => None,
            };
            match status {
                Some(s) => {
                    let at = Instant::now();
                    let p = running.swap_remove(i);
                    let stdout = p.stdout.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
                    let stderr = p.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
                    done.push(Outcome { image: p.image, exit: s.code(), elapsed: at - p.started, ended: at, stdout, stderr });
                    ended.fetch_add(1, Ordering::SeqCst);
                }
                None => i += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done
}

/// How a process under the registry fault ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    /// Signed image allowed.
    Allow,
    /// Unsigned image denied for having no signature.
    CorrectDeny,
    /// Denied because the registry could not be read (or the deadline passed).
    InfrastructureDeny,
}

/// Wording of the registry faults a signature fetch can meet, as vouch_registry words them.
const FETCH_FAULTS: &[&str] = &["cannot reach", "connection broke", "unexpected answer", "answered HTTP", "deadline exceeded"];

/// Classifies one outcome, failing on anything a registry outage must never cause.
///
/// The rule: a signed image is allowed; an unsigned one is denied with "no Notary Project
/// signature". Either may instead be denied with errorClass "registry" or "deadline" and a
/// reason that says so. A signed image may also be denied with errorClass "signature" when
/// the listing succeeded but fetching a signature manifest or envelope then failed: that
/// signature is reported as unusable, and the reason must then quote the registry fault
/// (one of [`FETCH_FAULTS`]) for every signature, none of which was examined. No other deny
/// of a signed image, and no allow of an unsigned one, is acceptable.
///
/// In practice the second kind is the one seen: the first process for an image caches its
/// signature listing, so the processes that meet the dead registry fail on the signature
/// manifest or envelope, with reasons like `deny …: no signature verified: signature 1 of 1:
/// cannot reach 127.0.0.1:PORT: http://…/blobs/sha256:…: … Connection refused`.
fn classify(o: &Outcome, images: &[Image]) -> Verdict {
    let image = &images[o.image];
    let context = format!("image {} (signed: {}), exit {:?}, {:?}: {}\nstderr: {}", o.image, image.signed, o.exit, o.elapsed, o.stdout.trim(), o.stderr.trim());
    assert!(
        o.elapsed <= TIMEOUT + Duration::from_secs(1),
        "the process ended {:?} after it started, past its deadline + 1 s: {context}",
        o.elapsed
    );
    assert_eq!(o.stdout.trim_end().lines().count(), 1, "stdout is not one line: {context}");
    let v: Value = serde_json::from_str(o.stdout.trim_end()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {context}"));
    let reason = v["reason"].as_str().unwrap_or_else(|| panic!("no reason: {context}"));
    let class = v["errorClass"].as_str();
    match o.exit {
        Some(0) => {
            assert!(image.signed, "an unsigned image was allowed: {context}");
            assert_eq!(v["isSuccess"], Value::Bool(true), "{context}");
            assert!(reason.starts_with("allow "), "{context}");
            Verdict::Allow
        }
        Some(1) => {
            assert_eq!(v["isSuccess"], Value::Bool(false), "{context}");
            assert!(reason.starts_with("deny "), "{context}");
            match class {
                Some("registry") => {
                    assert!(reason.contains("registry"), "a registry deny that does not say so: {context}");
                    Verdict::InfrastructureDeny
                }
                Some("deadline") => {
                    assert!(reason.contains("deadline"), "a deadline deny that does not say so: {context}");
                    Verdict::InfrastructureDeny
                }
                Some("signature") if !image.signed => {
                    assert!(reason.contains("no Notary Project signature"), "wrong deny of an unsigned image: {context}");
                    Verdict::CorrectDeny
                }
                Some("signature") => {
                    assert!(
                        reason.contains("no signature verified") && FETCH_FAULTS.iter().any(|f| reason.contains(f)),
                        "a signed image was denied for its signature without a registry fault: {context}"
                    );
                    // Every signature that failed was one that could not be fetched: none was
                    // examined (an examined envelope carries its media type).
                    let results: Vec<&Value> = v["verifierReports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|n| n["verifierReports"].as_array().into_iter().flatten())
                        .collect();
                    assert!(!results.is_empty(), "{context}");
                    for r in results {
                        let why = r["errorReason"].as_str().unwrap_or_default();
                        assert!(
                            r["extensions"]["envelopeMediaType"].is_null() && FETCH_FAULTS.iter().any(|f| why.contains(f)),
                            "a fetched signature of a signed image failed: {context}"
                        );
                    }
                    Verdict::InfrastructureDeny
                }
                other => panic!("unexpected errorClass {other:?}: {context}"),
            }
        }
        other => panic!("unexpected exit {other:?}: {context}"),
    }
}


/// A vouch configuration for `host` with the given `timeout`, in `dir`.
fn configure(dir: &Path, ca: &TestCa, host: &str, timeout: &str) -> PathBuf {
    let (trust_policy, trust_store) = write_trust_material(dir, &ca.cert_pem(), "test", "*").unwrap();
    let config = write_config(dir, &trust_policy, &trust_store, "");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("timeout = \"8s\""), "{text}");
    std::fs::write(&config, text.replace("timeout = \"8s\"", &format!("timeout = \"{timeout}\""))).unwrap();
    let hosts = dir.join("certs.d").join(host);
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{host}\"\n")).unwrap();
    config
}

/// 64 processes over 8 images (6 signed, 2 unsigned) start at once; the registry is killed
/// with SIGKILL in the middle of the burst and started again on the same port and storage
/// 300 ms later.
/// Every process ends by its deadline + 1 s with the right verdict or an infrastructure deny,
/// the cache is intact, and a second round gives exactly the right verdicts.
#[test]
fn sixty_four_processes_survive_a_registry_restart() {
    let mut registry = RestartableRegistry::new();
    let host = registry.host().to_string();
    let dir = TempDir::new("faults");
    let ca = TestCa::new("vouch test root").unwrap();
    let signer = ca.issue_leaf(LeafOptions::new("vouch test signer")).unwrap();
    let mut images = Vec::new();
    for i in 0..8 {
        let signed = i < 6;
        let tag = if signed { format!("signed-{i}") } else { format!("unsigned-{i}") };
        let desc = push_demo_image(&host, REPO, &tag).unwrap();
        if signed {
            let envelope = signer.sign_jws(&desc, &SignOptions::default()).unwrap();
            push_signature(&host, REPO, &desc, &envelope, MEDIA_TYPE_JWS).unwrap();
        }
        images.push(Image { desc, signed });
    }
    let config = configure(dir.path(), &ca, &host, "3s");

    // The registry dies in the middle of the burst: once `kill_at` processes have ended
    // (between 8 and 24, varying from one test run to the next), while the others are in
    // flight or still starting, whatever the machine's speed. It is back 300 ms later.
    let kill_at = 8 + std::process::id() as usize % 17;
    let ended = Arc::new(AtomicUsize::new(0));
    let first_spawn = Instant::now();
    let seen = ended.clone();
    let fault = std::thread::spawn(move || {
        while seen.load(Ordering::SeqCst) < kill_at && first_spawn.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        registry.kill();
        let killed = Instant::now();
        std::thread::sleep(Duration::from_millis(300));
        registry.start();
        (registry, killed, Instant::now())
    });
    // Reaped on another thread as they start, so that every end time is seen when it happens.
    let (tx, rx) = mpsc::channel();
    let reaper = std::thread::spawn(move || reap(rx, 64, &ended));
    // Interleaved, so that every image has processes started early and late.
    for n in 0..64 {
        tx.send(spawn_pull(&config, &host, &images, n % images.len())).unwrap();
    }
    let spawning = first_spawn.elapsed();
    let outcomes = reaper.join().unwrap();
    let (registry, killed, restarted) = fault.join().unwrap();
    assert_eq!(outcomes.len(), 64);

    let ms = |t: Instant| t.saturating_duration_since(first_spawn).as_millis();
    let ended_before = outcomes.iter().filter(|o| o.ended < killed).count();
    let ended_during = outcomes.iter().filter(|o| o.ended >= killed && o.ended < restarted).count();
    println!(
        "spawning took {} ms; registry killed after {kill_at} processes ended, at {} ms, back at {} ms; processes ended: {ended_before} before the kill, {ended_during} while it was down, {} after",
        spawning.as_millis(),
        ms(killed),
        ms(restarted),
        64 - ended_before - ended_during
    );

    let mut counts = std::collections::BTreeMap::new();
    for o in &outcomes {
        let verdict = classify(o, &images);
        let v: Value = serde_json::from_str(o.stdout.trim_end()).unwrap();
        let fault = FETCH_FAULTS.iter().find(|f| v["reason"].as_str().unwrap().contains(*f)).copied().unwrap_or("-");
        let class = v["errorClass"].as_str().unwrap_or("-").to_string();
        *counts.entry((verdict, class, fault)).or_insert(0usize) += 1;
    }
    let slowest = outcomes.iter().map(|o| o.elapsed).max().unwrap();
    println!("verdicts: {counts:?}; slowest process: {slowest:?}");

    let cache = dir.path().join("cache");
    assert_cache_intact(&cache);

    // The registry is back: one process at a time gets exactly the right verdict, twice (the
    // second pass reads what the first wrote).
    for pass in 0..2 {
        for (i, image) in images.iter().enumerate() {
            let r = run(&config, &image.name(&host), &image.desc.digest.to_string(), &descriptor_line(&image.desc));
            println!("pass {pass}, image {i}: exit {:?}: {}", r.exit_code, r.stdout.trim());
            if image.signed {
                assert_allow(&r);
            } else {
                let v = assert_deny(&r, &["no Notary Project signature"]);
                assert_eq!(v["errorClass"], "signature", "{v}");
            }
        }
    }
    assert_cache_intact(&cache);
    drop(registry);
}

fn cached(v: &Value) -> bool {
    v.get("cached").is_some()
}

/// A verdict resting on a leaf certificate that expires 4 s from now is cached until then at
/// most: once the certificate has expired the next pull is verified again, not answered from
/// the cache, and denied.
#[test]
fn verdicts_are_not_reused_past_a_certificate_expiry() {
    let registry = TestRegistry::start().expect("start docker-registry");
    let host = registry.host().to_string();
    let dir = TempDir::new("faults-cert");
    let ca = TestCa::new("vouch test root").unwrap();
    // X.509 times have whole seconds: start from one so the notAfter is exactly this.
    let not_after = (OffsetDateTime::now_utc() + time::Duration::seconds(4)).replace_nanosecond(0).unwrap();
    let mut leaf = LeafOptions::new("short-lived signer");
    leaf.not_after = Some(not_after);
    let signer = ca.issue_leaf(leaf).unwrap();
    let image = push_demo_image(&host, REPO, "short").unwrap();
    let envelope = signer.sign_jws(&image, &SignOptions::default()).unwrap();
    push_signature(&host, REPO, &image, &envelope, MEDIA_TYPE_JWS).unwrap();
    let config = configure(dir.path(), &ca, &host, "8s");
    let name = format!("{host}/{REPO}:t@{}", image.digest);
    let verify = || {
        let r = run(&config, &name, &image.digest.to_string(), &descriptor_line(&image));
        println!("exit {:?}: {}\nstderr: {}", r.exit_code, r.stdout.trim(), r.stderr.trim());
        r
    };

    let first = assert_allow(&verify());
    assert!(!cached(&first), "{first}");
    let second = assert_allow(&verify());
    assert!(cached(&second), "the allow was not cached: {second}");

    let wait = not_after - OffsetDateTime::now_utc() + time::Duration::milliseconds(500);
    std::thread::sleep(wait.try_into().unwrap_or_default());
    let r = verify();
    let v = assert_deny(&r, &["expired"]);
    assert!(!cached(&v), "a verdict was reused after the certificate expired: {v}");
    assert!(!r.stdout.contains("cached"), "{}", r.stdout);
    assert_eq!(v["errorClass"], "signature", "{v}");
}

/// The same bound when the verification itself takes a while: the envelope arrives 2 s late,
/// so the verdict is written 2 s after the verification time. Its lifetime must still end at
/// the certificate's notAfter, not 2 s later; a pull just after the notAfter is verified
/// again and denied.
#[test]
fn a_slow_verification_does_not_stretch_a_verdict_past_the_certificate_expiry() {
    let reg = HostileRegistry::start().expect("start the hostile registry");
    let img = SignedImage::new("acme/app").unwrap();
    let not_after = (OffsetDateTime::now_utc() + time::Duration::seconds(5)).replace_nanosecond(0).unwrap();
    let mut leaf = LeafOptions::new("short-lived signer");
    leaf.not_after = Some(not_after);
    let signature = img.sign_with(&img.ca.issue_leaf(leaf).unwrap()).unwrap();
    reg.serve(&img.manifest_path(&img.subject.digest), img.subject_manifest.clone(), MEDIA_TYPE_OCI_MANIFEST);
    img.serve_signature(&reg, &signature);
    reg.serve(&img.referrers_path(), referrers_index(std::slice::from_ref(&signature.descriptor)), MEDIA_TYPE_OCI_INDEX);
    reg.set(&img.blob_path(&signature.envelope.digest), Behaviour::Slow(Duration::from_secs(2)));

    let dir = TempDir::new("faults-slow-cert");
    let config = configure(dir.path(), &img.ca, reg.host(), "8s");
    let name = format!("{}/{}:v1", reg.host(), img.repo);
    let verify = || {
        let r = run(&config, &name, &img.subject.digest.to_string(), &descriptor_line(&img.subject));
        println!("exit {:?} after {:?}: {}", r.exit_code, r.elapsed, r.stdout.trim());
        r
    };

    let first = verify();
    assert!(!cached(&assert_allow(&first)));
    assert!(first.elapsed >= Duration::from_secs(2), "the envelope was not slow: {:?}", first.elapsed);
    assert!(OffsetDateTime::now_utc() < not_after, "the slow verification outlasted the certificate; nothing to check");
    assert!(cached(&assert_allow(&verify())), "the allow was not cached");

    let wait = not_after - OffsetDateTime::now_utc() + time::Duration::milliseconds(500);
    std::thread::sleep(wait.try_into().unwrap_or_default());
    let r = verify();
    let v = report(&r);
    assert!(!cached(&v), "an allow was served from the cache after the signing certificate expired: {v}");
    assert_deny(&r, &["expired"]);
}
