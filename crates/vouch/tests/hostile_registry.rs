//! vouch against a registry that misbehaves on purpose, one fault per test (vouch-testkit's
//! `hostile` server). The honest case allows first; then one path at a time turns hostile.
//!
//! Every run is checked for what matters on a node: the verdict and a reason naming the fault,
//! an end well before containerd's kill (the configured deadline plus at most 1 s), peak memory
//! that does not grow with what the registry sends (measured with `/usr/bin/time` when it is
//! installed), and a cache holding nothing but entries that decode and match their digests, and
//! no verdict for a failure.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vouch_core::{Descriptor, Digest, MEDIA_TYPE_DESCRIPTOR, MEDIA_TYPE_JWS, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST};
use vouch_testkit::containerd::{descriptor_line, run_with_timeout, VerifierRun, CONTAINERD_TIMEOUT};
use vouch_testkit::hostile::{phantom_signature, referrers_index, Behaviour, HostileRegistry, SignedImage};
use vouch_testkit::signer::{write_trust_material, LeafOptions};

/// GNU time, for peak RSS; the RSS check is skipped (with a note) where it is missing.
const GNU_TIME: &str = "/usr/bin/time";
/// Peak RSS no run may exceed, whatever the registry sends (a flood is up to 1 GiB).
const MAX_RSS_KIB: u64 = 64 * 1024;
/// vouch's manifest and blob limit.
const LIMIT: u64 = 4 * 1024 * 1024;
const REPO: &str = "acme/app";

/// A node (configuration, trust material, cache) pointed at a hostile registry serving one
/// signed image.
struct Scene {
    reg: HostileRegistry,
    img: SignedImage,
    dir: TempDir,
    config: PathBuf,
    timeout: Duration,
}

/// One vouch run and its peak RSS.
struct Outcome {
    run: VerifierRun,
    report: Value,
    rss_kib: Option<u64>,
}

impl Scene {
    /// A scene whose configuration has `timeout` and `extra` (top-level keys, then tables).
    fn new(tag: &str, timeout: &str, extra: &str) -> Scene {
        let reg = HostileRegistry::start().expect("start the hostile registry");
        let img = SignedImage::new(REPO).unwrap();
        img.serve(&reg);
        let dir = TempDir::new(&format!("hostile-{tag}"));
        let (policy, store) = write_trust_material(dir.path(), &img.ca.cert_pem(), "hostile", "*").unwrap();
        let config = write_config(dir.path(), &policy, &store, extra);
        let text = std::fs::read_to_string(&config).unwrap().replace("timeout = \"8s\"", &format!("timeout = \"{timeout}\""));
        std::fs::write(&config, text).unwrap();
        let hosts = dir.path().join("certs.d").join(reg.host());
        std::fs::create_dir_all(&hosts).unwrap();
        std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{}\"\n", reg.host())).unwrap();
        let timeout = humantime_secs(timeout);
        Scene { reg, img, dir, config, timeout }
    }

    /// A scene with a 2 s deadline and nothing else configured.
    fn plain(tag: &str) -> Scene {
        Scene::new(tag, "2s", "")
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Runs vouch as containerd does for the scene's image, under GNU time when present.
    fn verify(&self) -> Outcome {
        let name = format!("{}/{REPO}:v1", self.reg.host());
        let digest = self.img.subject.digest.to_string();
        let vouch = vouch_bin().to_string_lossy().into_owned();
        let rss_file = self.dir.path().join(format!("rss-{}", self.reg.total_requests()));
        let rss_path = rss_file.to_string_lossy().into_owned();
        let config = self.config.to_string_lossy().into_owned();
        let break_glass = self.dir.path().join("no-break-glass").to_string_lossy().into_owned();
        let env = [("VOUCH_CONFIG", config.as_str()), ("VOUCH_BREAK_GLASS", break_glass.as_str())];
        let argv = ["-name", name.as_str(), "-digest", digest.as_str(), "-stdin-media-type", MEDIA_TYPE_DESCRIPTOR];
        let stdin = descriptor_line(&self.img.subject);
        let timed = Path::new(GNU_TIME).is_file();
        let run = if timed {
            let mut args = vec!["-f", "%M", "-o", rss_path.as_str(), vouch.as_str()];
            args.extend(argv);
            run_with_timeout(Path::new(GNU_TIME), &args, &stdin, &env, CONTAINERD_TIMEOUT)
        } else {
            run_with_timeout(&vouch_bin(), &argv, &stdin, &env, CONTAINERD_TIMEOUT)
        };
        let rss_kib = timed
            .then(|| std::fs::read_to_string(&rss_file).ok())
            .flatten()
            .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()));
        let report = report(&run);
        println!(
            "{name}: exit {:?} in {:?}, peak RSS {}: {}",
            run.exit_code,
            run.elapsed,
            rss_kib.map_or_else(|| "not measured".to_string(), |k| format!("{k} KiB")),
            report["reason"]
        );
        Outcome { run, report, rss_kib }
    }

    /// Asserts the run ended within the deadline plus 1 s, within the RSS bound, and left a
    /// sound cache (with a verdict only for a signature-decided outcome).
    fn assert_bounded(&self, out: &Outcome, verdict_stored: bool) {
        assert!(!out.run.killed, "killed: {}", out.run.stderr);
        assert!(out.run.elapsed < self.timeout + Duration::from_secs(1), "took {:?} with a {:?} deadline", out.run.elapsed, self.timeout);
        match out.rss_kib {
            Some(kib) => assert!(kib < MAX_RSS_KIB, "peak RSS {kib} KiB"),
            None => println!("note: peak RSS not measured ({GNU_TIME} is not installed)"),
        }
        let verdicts = assert_cache_sound(&self.cache_dir());
        assert_eq!(verdicts > 0, verdict_stored, "verdict entries: {verdicts}");
    }

    /// Runs, asserts a bounded deny whose reason holds every fragment, and returns the report.
    fn deny(&self, fragments: &[&str], class: &str) -> Outcome {
        let out = self.verify();
        assert_deny(&out.run, fragments);
        assert_eq!(out.report["errorClass"], class, "{}", out.report);
        self.assert_bounded(&out, false);
        out
    }
}

fn humantime_secs(t: &str) -> Duration {
    Duration::from_secs(t.trim_end_matches('s').parse().expect("whole seconds"))
}

/// Walks `cache`: no temporary file is left, every entry decodes, every content entry hashes
/// to its name `sha256-<hex>`. Returns the number of verdict entries.
fn assert_cache_sound(cache: &Path) -> usize {
    let mut verdicts = 0;
    for kind in ["content", "referrers", "verdicts", "revocation", "tokens"] {
        let Ok(dir) = std::fs::read_dir(cache.join(kind)) else { continue };
        for f in dir.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(".tmp-"), "temporary file left: {kind}/{name}");
            let bytes = std::fs::read(f.path()).unwrap();
            let entry = vouch_cache::entry::decode(&bytes).unwrap_or_else(|e| panic!("{kind}/{name}: {e}"));
            if kind == "content" {
                let hex = name.strip_prefix("sha256-").unwrap_or_else(|| panic!("content entry {name}"));
                let digest = Digest::parse(&format!("sha256:{hex}")).unwrap();
                assert!(digest.matches(&entry.body), "content/{name} does not hash to its name");
            }
            if kind == "verdicts" {
                verdicts += 1;
            }
        }
    }
    verdicts
}

/// Whether the content cache holds `digest`.
fn cached(cache: &Path, digest: &Digest) -> bool {
    cache.join("content").join(format!("sha256-{}", digest.hex())).exists()
}

#[test]
fn the_honest_registry_allows_and_a_repeat_is_cached() {
    let s = Scene::plain("honest");
    let out = s.verify();
    assert_allow(&out.run);
    s.assert_bounded(&out, true);
    assert!(cached(&s.cache_dir(), &s.img.signature.descriptor.digest));
    assert!(cached(&s.cache_dir(), &s.img.signature.envelope.digest));
    assert_eq!(s.reg.requests(&s.img.referrers_path()), 1);
    let before = s.reg.total_requests();
    let again = s.verify();
    assert_allow(&again.run);
    assert!(again.report.get("cached").is_some(), "{}", again.report);
    assert_eq!(s.reg.total_requests(), before, "a cached verdict costs no request");
}

#[test]
fn a_registry_slower_than_the_deadline_denies_at_the_deadline() {
    let s = Scene::new("slow", "1s", "");
    s.reg.set(&s.img.referrers_path(), Behaviour::Slow(Duration::from_secs(4)));
    let out = s.deny(&["deadline", "referrers"], "deadline");
    assert!(out.run.elapsed >= Duration::from_millis(900), "{:?}", out.run.elapsed);
}

#[test]
fn a_body_that_never_ends_denies_at_the_deadline() {
    let s = Scene::new("never-ends", "1s", "");
    s.reg.set(&s.img.envelope_path(), Behaviour::NeverEnds);
    s.deny(&["deadline", &s.img.signature.envelope.digest.short()], "deadline");
    assert!(!cached(&s.cache_dir(), &s.img.signature.envelope.digest));
}

#[test]
fn a_referrers_list_over_the_manifest_limit_denies() {
    let s = Scene::plain("oversized-list");
    s.reg.set(&s.img.referrers_path(), Behaviour::Oversized(LIMIT + 1024 * 1024));
    s.deny(&["referrers list", "larger than the limit of 4194304 bytes"], "registry");
}

#[test]
fn a_flood_without_content_length_is_cut_at_the_limit() {
    let s = Scene::plain("flood-list");
    s.reg.set(&s.img.referrers_path(), Behaviour::Flood);
    s.deny(&["referrers list", "larger than the limit of 4194304 bytes"], "registry");
}

#[test]
fn a_flooding_tag_schema_index_is_cut_at_the_limit() {
    // No referrers API (404), so vouch reads the `sha256-<hex>` tag index, which floods.
    let s = Scene::plain("flood-tag-index");
    s.reg.set(&s.img.referrers_path(), Behaviour::Status(404, None));
    let tag = format!("/v2/{REPO}/manifests/sha256-{}", s.img.subject.digest.hex());
    s.reg.set(&tag, Behaviour::Flood);
    s.deny(&["referrers tag index", "larger than the limit of 4194304 bytes"], "registry");
    assert_eq!(s.reg.requests(&tag), 1);
}

#[test]
fn a_signature_manifest_larger_than_its_descriptor_denies() {
    let s = Scene::plain("oversized-manifest");
    s.reg.set(&s.img.signature_path(), Behaviour::Oversized(LIMIT + 1));
    let size = s.img.signature.descriptor.size.to_string();
    s.deny(&["no signature verified", "larger than the limit of", &size], "signature");
    assert_eq!(s.reg.requests(&s.img.envelope_path()), 0);
}

#[test]
fn a_signature_manifest_listed_over_the_limit_is_never_fetched() {
    let s = Scene::plain("listed-too-large");
    let mut listed = s.img.signature.descriptor.clone();
    listed.size = LIMIT + 1;
    s.reg.serve(&s.img.referrers_path(), referrers_index(&[listed]), MEDIA_TYPE_OCI_INDEX);
    s.deny(&["larger than the limit of 4194304 bytes"], "signature");
    assert_eq!(s.reg.requests(&s.img.signature_path()), 0, "refused before any request");
}

/// Re-serves the image's signature with a manifest whose envelope layer is `layer`, listed in
/// the referrers list. Returns the new manifest's path.
fn serve_signature_with_layer(s: &Scene, layer: &Descriptor) -> String {
    let mut manifest: Value = serde_json::from_slice(&s.img.signature.manifest).unwrap();
    manifest["layers"] = serde_json::json!([layer]);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let mut desc = s.img.signature.descriptor.clone();
    desc.digest = Digest::sha256_of(&bytes);
    desc.size = bytes.len() as u64;
    let path = s.img.manifest_path(&desc.digest);
    s.reg.serve(&path, bytes, MEDIA_TYPE_OCI_MANIFEST);
    s.reg.serve(&s.img.referrers_path(), referrers_index(&[desc]), MEDIA_TYPE_OCI_INDEX);
    path
}

#[test]
fn a_huge_signature_blob_is_refused_before_it_is_fetched() {
    let s = Scene::plain("huge-blob");
    let mut layer = s.img.signature.envelope.clone();
    layer.size = 1 << 30;
    serve_signature_with_layer(&s, &layer);
    s.deny(&["no signature verified", "larger than the limit of 4194304 bytes"], "signature");
    assert_eq!(s.reg.requests(&s.img.envelope_path()), 0, "a 1 GiB envelope is never asked for");
}

#[test]
fn a_flooding_signature_blob_is_cut_at_its_size() {
    let s = Scene::plain("flood-blob");
    s.reg.set(&s.img.envelope_path(), Behaviour::Flood);
    s.deny(&["no signature verified", &s.img.signature.envelope.digest.short(), "larger than the limit"], "signature");
    assert!(!cached(&s.cache_dir(), &s.img.signature.envelope.digest));
}

#[test]
fn a_content_length_shorter_than_the_content_denies() {
    let s = Scene::plain("short-length");
    let half = s.img.signature.envelope.size / 2;
    s.reg.set(&s.img.envelope_path(), Behaviour::LyingLength(half));
    let expected = format!("{half} bytes received, the descriptor says {}", s.img.signature.envelope.size);
    s.deny(&["no signature verified", &expected], "signature");
    assert!(!cached(&s.cache_dir(), &s.img.signature.envelope.digest));
}

#[test]
fn a_content_length_longer_than_the_content_denies() {
    let s = Scene::plain("long-length");
    let body = referrers_index(std::slice::from_ref(&s.img.signature.descriptor));
    s.reg.set(&s.img.referrers_path(), Behaviour::LyingLength(body.len() as u64 + 1000));
    s.deny(&["referrers list", "connection broke while reading"], "registry");
}

#[test]
fn content_that_does_not_match_its_digest_denies_and_is_not_cached() {
    let s = Scene::plain("wrong-digest");
    s.reg.set(&s.img.envelope_path(), Behaviour::WrongDigest);
    let expected = format!("expected {}", s.img.signature.envelope.digest);
    s.deny(&["no signature verified", "content digest is", &expected], "signature");
    assert!(!cached(&s.cache_dir(), &s.img.signature.envelope.digest));
    // The signature manifest was sound, and is cached; the envelope is asked for again.
    assert!(cached(&s.cache_dir(), &s.img.signature.descriptor.digest));
    s.reg.clear(&s.img.envelope_path());
    let out = s.verify();
    assert_allow(&out.run);
    s.assert_bounded(&out, true);
    assert_eq!(s.reg.requests(&s.img.envelope_path()), 2);
}

#[test]
fn a_redirect_loop_denies_after_a_few_hops() {
    let s = Scene::plain("redirect-loop");
    s.reg.set(&s.img.referrers_path(), Behaviour::RedirectLoop);
    s.deny(&["registry", "redirect"], "registry");
    let hops = s.reg.requests(&s.img.referrers_path());
    assert!((1..=10).contains(&hops), "{hops} requests");
}

/// A second registry on another loopback address (the same address where only one exists).
fn other_host() -> HostileRegistry {
    HostileRegistry::start_on("127.0.0.2").or_else(|_| HostileRegistry::start()).unwrap()
}

#[test]
fn a_redirect_to_another_host_never_carries_the_credential() {
    let password = "hostile-secret-7f3a";
    let s = Scene::plain("redirect-cred");
    let pw = s.dir.path().join("password");
    std::fs::write(&pw, password).unwrap();
    let statics = format!("\n[auth]\nsources = [\"static\"]\n[[auth.static]]\nregistry = \"{}\"\nusername = \"puller\"\npassword_file = \"{}\"\n", s.reg.host(), pw.display());
    let text = std::fs::read_to_string(&s.config).unwrap().replace("\n[registry]\n", &format!("{statics}\n[registry]\n"));
    std::fs::write(&s.config, text).unwrap();
    s.reg.require_basic("puller", password);
    // Storage on another host, as registries that redirect blob downloads to a CDN have it.
    let cdn = other_host();
    cdn.serve(&s.img.envelope_path(), s.img.signature.envelope_bytes.clone(), MEDIA_TYPE_JWS);
    s.reg.set(&s.img.envelope_path(), Behaviour::RedirectToOtherHost(cdn.base_url()));
    let out = s.verify();
    assert_allow(&out.run);
    s.assert_bounded(&out, true);
    assert_eq!(cdn.requests(&s.img.envelope_path()), 1);
    assert!(cdn.seen().iter().all(|r| r.authorization.is_none()), "credential sent to the other host: {:?}", cdn.seen());
    assert!(s.reg.seen().iter().any(|r| r.authorization.is_some()), "the registry itself got the credential");
    assert!(!out.run.stdout.contains(password) && !out.run.stderr.contains(password), "the password leaked");
}

#[test]
fn a_redirect_to_another_host_serving_other_bytes_denies() {
    let s = Scene::plain("redirect-other");
    let elsewhere = other_host();
    elsewhere.serve(&s.img.envelope_path(), s.img.signature.envelope_bytes.clone(), MEDIA_TYPE_JWS);
    elsewhere.set(&s.img.envelope_path(), Behaviour::WrongDigest);
    s.reg.set(&s.img.envelope_path(), Behaviour::RedirectToOtherHost(elsewhere.base_url()));
    s.deny(&["content digest is", &format!("expected {}", s.img.signature.envelope.digest)], "signature");
    assert_eq!(elsewhere.requests(&s.img.envelope_path()), 1);
    assert!(!cached(&s.cache_dir(), &s.img.signature.envelope.digest));
}

/// A referrers list of 10 000 signatures: the image's real one at `good_at`, the others
/// manifests that do not exist.
fn ten_thousand(s: &Scene, good_at: usize) {
    let list: Vec<Descriptor> =
        (0..10_000).map(|i| if i == good_at { s.img.signature.descriptor.clone() } else { phantom_signature(i) }).collect();
    s.reg.serve(&s.img.referrers_path(), referrers_index(&list), MEDIA_TYPE_OCI_INDEX);
}

/// Signature manifests asked for (the image's own manifest is never asked for).
fn manifest_requests(s: &Scene) -> usize {
    s.reg.requests_under(&format!("/v2/{REPO}/manifests/"))
}

#[test]
fn ten_thousand_referrers_are_cut_at_max_signatures_and_the_report_says_so() {
    let s = Scene::new("10k", "4s", "");
    ten_thousand(&s, 0);
    let out = s.verify();
    let v = assert_allow(&out.run);
    s.assert_bounded(&out, true);
    assert_eq!(v["signaturesTruncated"], 100, "{v}");
    assert!(v["reason"].as_str().unwrap().contains("signature list truncated"), "{v}");
    // The report keeps within containerd's 32 KiB by dropping per-signature entries, and says so.
    let listed = v["verifierReports"].as_array().map_or(0, Vec::len);
    assert!(listed == 100 || (listed < 100 && v["truncated"] == true), "{listed} entries: {v}");
    assert_eq!(manifest_requests(&s), 100, "vouch examined more than max_signatures");
}

#[test]
fn a_manifest_listed_many_times_takes_one_place_under_the_cap() {
    // 10 000 copies of one phantom ahead of the real signature: counted once, the real
    // signature stays within the 100 examined.
    let s = Scene::new("repeats", "4s", "");
    let mut list = vec![phantom_signature(0); 10_000];
    list.push(s.img.signature.descriptor.clone());
    s.reg.serve(&s.img.referrers_path(), referrers_index(&list), MEDIA_TYPE_OCI_INDEX);
    let out = s.verify();
    let v = assert_allow(&out.run);
    s.assert_bounded(&out, true);
    assert!(v.get("signaturesTruncated").is_none(), "{v}");
    assert_eq!(s.reg.requests(&s.img.manifest_path(&phantom_signature(0).digest)), 1);
}

#[test]
fn a_signature_beyond_max_signatures_is_never_examined() {
    let s = Scene::new("10k-late", "4s", "");
    ten_thousand(&s, 5_000);
    let out = s.deny(&["no signature verified", "signature list truncated"], "signature");
    assert_eq!(out.report["signaturesTruncated"], 100, "{}", out.report);
    assert_eq!(s.reg.requests(&s.img.signature_path()), 0);
    assert_eq!(manifest_requests(&s), 100);
}

#[test]
fn a_cycle_of_referrers_pages_ends() {
    let s = Scene::plain("page-cycle");
    // Two pages that name each other as the next one: the first page (any query) links to
    // `last=b`, which links to `last=a`, which links back to `last=b`.
    let other = s.img.ca.issue_leaf(LeafOptions::new("second signer")).unwrap();
    let second = s.img.sign_with(&other).unwrap();
    s.img.serve_signature(&s.reg, &second);
    let path = s.img.referrers_path();
    let link = |to: &str| format!("<{path}?last={to}>; rel=\"next\"");
    let page_a = referrers_index(std::slice::from_ref(&s.img.signature.descriptor));
    let page_b = referrers_index(std::slice::from_ref(&second.descriptor));
    s.reg.serve_with_headers(&path, page_a.clone(), MEDIA_TYPE_OCI_INDEX, &[("Link", &link("b"))]);
    s.reg.serve_with_headers(&format!("{path}?last=b"), page_b, MEDIA_TYPE_OCI_INDEX, &[("Link", &link("a"))]);
    s.reg.serve_with_headers(&format!("{path}?last=a"), page_a, MEDIA_TYPE_OCI_INDEX, &[("Link", &link("b"))]);
    let out = s.verify();
    let v = assert_allow(&out.run);
    s.assert_bounded(&out, true);
    let pages = s.reg.requests(&path);
    assert!(pages <= 3, "{pages} page requests for a two-page cycle");
    let examined: Vec<&str> =
        v["verifierReports"].as_array().unwrap().iter().map(|r| r["referenceDigest"].as_str().unwrap()).collect();
    assert_eq!(examined.len(), 2, "each signature once: {examined:?}");
    assert_ne!(examined[0], examined[1]);
}

#[test]
fn a_500_denies_without_retrying() {
    let s = Scene::plain("status-500");
    s.reg.set(&s.img.referrers_path(), Behaviour::Status(500, None));
    s.deny(&["registry", "answered HTTP 500"], "registry");
    assert_eq!(s.reg.requests(&s.img.referrers_path()), 1);
}

#[test]
fn a_429_with_retry_after_denies_at_once() {
    let s = Scene::plain("status-429");
    s.reg.set(&s.img.referrers_path(), Behaviour::Status(429, Some("3600".into())));
    let out = s.deny(&["registry", "answered HTTP 429"], "registry");
    assert_eq!(s.reg.requests(&s.img.referrers_path()), 1);
    assert!(out.run.elapsed < Duration::from_secs(1), "waited {:?}", out.run.elapsed);
}

#[test]
fn a_reset_mid_body_denies() {
    let s = Scene::plain("reset-blob");
    s.reg.set(&s.img.envelope_path(), Behaviour::ResetMidBody);
    s.deny(&["no signature verified", &s.img.signature.envelope.digest.short(), "connection broke while reading"], "signature");
    assert!(!cached(&s.cache_dir(), &s.img.signature.envelope.digest));
    let s = Scene::plain("reset-list");
    s.reg.set(&s.img.referrers_path(), Behaviour::ResetMidBody);
    s.deny(&["referrers list", "connection broke while reading"], "registry");
}

#[test]
fn on_error_registry_allow_lets_a_failing_registry_through_and_caches_nothing() {
    let s = Scene::new("on-error", "2s", "[on_error]\nregistry = \"allow\"\n");
    s.reg.set(&s.img.referrers_path(), Behaviour::Status(503, Some("120".into())));
    let out = s.verify();
    assert_eq!(out.run.exit_code, Some(0), "{}", out.report);
    assert_eq!(out.report["isSuccess"], false);
    assert_eq!(out.report["errorClass"], "registry");
    assert_eq!(out.report["allowedByOnError"], "registry");
    assert!(out.report["reason"].as_str().unwrap().contains("answered HTTP 503"), "{}", out.report);
    s.assert_bounded(&out, false);
    // A hostile answer that is not a registry failure still denies: content that does not
    // match its digest is a signature that cannot be used.
    s.reg.clear(&s.img.referrers_path());
    s.reg.set(&s.img.envelope_path(), Behaviour::WrongDigest);
    s.deny(&["content digest is"], "signature");
}
