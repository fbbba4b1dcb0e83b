//! The containerd contract without a registry: argv, stdin and configuration errors all deny
//! with a one-line reason in one JSON report, never a panic or a hang.

mod common;

use common::*;
use vouch_core::MEDIA_TYPE_DESCRIPTOR;
use vouch_testkit::containerd::{run_keeping_stdin_open, run_verifier_raw, VerifierRun, BARE_PATH};

const DIGEST: &str = "sha256:4515d57ce84c56ecfbf9f7a5fde8ff7b78b4f87f21f2e75e0c8a3a2e2d8a3b96";

fn line(digest: &str) -> Vec<u8> {
    format!("{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"{digest}\",\"size\":401}}\n").into_bytes()
}

/// A config whose registry part is never reached in these tests.
fn config(dir: &TempDir) -> std::path::PathBuf {
    let tp = dir.path().join("trustpolicy.json");
    std::fs::write(&tp, r#"{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#).unwrap();
    write_config(dir.path(), &tp, &dir.path().join("truststore"), "")
}

fn raw(args: &[&str], stdin: &[u8], cfg: &std::path::Path) -> VerifierRun {
    let cfg = cfg.to_string_lossy().to_string();
    run_verifier_raw(&vouch_bin(), args, stdin, &[("VOUCH_CONFIG", cfg.as_str())])
}

#[test]
fn wrong_stdin_media_type_denies() {
    let d = TempDir::new("mt");
    let r = raw(&["-name", "127.0.0.1:1/a:b", "-digest", DIGEST, "-stdin-media-type", "application/json"], &line(DIGEST), &config(&d));
    assert_deny(&r, &["-stdin-media-type", "application/json"]);
}

#[test]
fn malformed_stdin_denies() {
    let d = TempDir::new("stdin");
    let cfg = config(&d);
    for (stdin, fragment) in [
        (&b""[..], "stdin is empty"),
        (&b"not json\n"[..], "not an OCI descriptor"),
        (&b"{\"mediaType\":\"x\"}\n"[..], "not an OCI descriptor"),
        (&b"{\"mediaType\":\"x\",\"digest\":\"sha256:zz\",\"size\":1}\n"[..], "not an OCI descriptor"),
        (&b"[1,2,3]\n"[..], "not an OCI descriptor"),
    ] {
        assert_deny(&run(&cfg, "127.0.0.1:1/a:b", DIGEST, stdin), &[fragment]);
    }
}

#[test]
fn oversized_stdin_denies() {
    let d = TempDir::new("big");
    let big = vec![b' '; 2 * 1024 * 1024];
    assert_deny(&run(&config(&d), "127.0.0.1:1/a:b", DIGEST, &big), &["larger than"]);
}

#[test]
fn digest_mismatch_denies() {
    let d = TempDir::new("dm");
    let other = format!("sha256:{}", "0".repeat(64));
    let v = assert_deny(&run(&config(&d), "127.0.0.1:1/a:b", DIGEST, &line(&other)), &["descriptor on stdin has digest", "-digest is"]);
    assert_eq!(v["errorClass"], "input");
    let named = format!("127.0.0.1:1/a@{other}");
    assert_deny(&run(&config(&d), &named, DIGEST, &line(DIGEST)), &["-name carries digest"]);
}

#[test]
fn invalid_digest_and_reference_deny() {
    let d = TempDir::new("bad");
    let cfg = config(&d);
    assert_deny(&run(&cfg, "127.0.0.1:1/a:b", "md5:abc", &line(DIGEST)), &["-digest", "unsupported algorithm"]);
    assert_deny(&run(&cfg, "127.0.0.1:1/a:b", "sha256:ABC", &line(DIGEST)), &["-digest", "hex"]);
    assert_deny(&run(&cfg, "127.0.0.1:1/UPPER:b", DIGEST, &line(DIGEST)), &["-name", "repository path component"]);
    assert_deny(&run(&cfg, "", DIGEST, &line(DIGEST)), &["-name", "empty"]);
}

#[test]
fn usage_errors_exit_2_with_a_report() {
    let d = TempDir::new("usage");
    let cfg = config(&d);
    let r = raw(&["-name", "a", "-digest", DIGEST, "-stdin-media-type", "x", "-frobnicate", "1"], &line(DIGEST), &cfg);
    let v = report(&r);
    assert_eq!(r.exit_code, Some(2));
    assert_eq!(v["isSuccess"], false);
    assert!(v["reason"].as_str().unwrap().contains("-frobnicate"), "{v}");
    let r = raw(&["-name", "a"], b"", &cfg);
    assert_eq!(r.exit_code, Some(2));
    assert!(report(&r)["reason"].as_str().unwrap().contains("missing -digest"));
}

#[test]
fn help_and_version_print_text() {
    let d = TempDir::new("help");
    let r = raw(&["--help"], b"", &config(&d));
    assert_eq!(r.exit_code, Some(0));
    assert!(r.stdout.contains("-stdin-media-type") && r.stdout.contains("VOUCH_CONFIG"));
    let r = raw(&["-version"], b"", &config(&d));
    assert_eq!(r.exit_code, Some(0));
    assert!(r.stdout.starts_with("vouch "), "{}", r.stdout);
}

#[test]
fn missing_or_invalid_config_denies_naming_the_file() {
    let d = TempDir::new("cfg");
    let missing = d.path().join("nope.toml");
    let v = assert_deny(&run(&missing, "127.0.0.1:1/a:b", DIGEST, &line(DIGEST)), &["nope.toml", "does not exist"]);
    assert_eq!(v["errorClass"], "config");
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, "mode = \"sometimes\"\n").unwrap();
    assert_deny(&run(&bad, "127.0.0.1:1/a:b", DIGEST, &line(DIGEST)), &["bad.toml", "mode"]);
    std::fs::write(&bad, "[notation\n").unwrap();
    assert_deny(&run(&bad, "127.0.0.1:1/a:b", DIGEST, &line(DIGEST)), &["bad.toml", "invalid"]);
}

#[test]
fn invalid_trust_policy_denies() {
    let d = TempDir::new("tp");
    let tp = d.path().join("trustpolicy.json");
    std::fs::write(&tp, "{\"version\":\"1.0\",\"trustPolicies\":[]").unwrap();
    let cfg = write_config(d.path(), &tp, &d.path().join("ts"), "");
    let v = assert_deny(&run(&cfg, "127.0.0.1:1/a:b", DIGEST, &line(DIGEST)), &["trust policy", "trustpolicy.json"]);
    assert_eq!(v["errorClass"], "config");
}

#[test]
fn unreachable_registry_denies_as_infrastructure() {
    // Port 1 on loopback refuses connections.
    let d = TempDir::new("unreach");
    let v = assert_deny(&run(&config(&d), "127.0.0.1:1/acme/app:v1", DIGEST, &line(DIGEST)), &["registry"]);
    assert_eq!(v["errorClass"], "registry");
}

#[test]
fn a_silent_registry_hits_the_deadline_not_the_kill() {
    // A listener that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let hold = std::thread::spawn(move || {
        // Accept whatever arrives for 4 s and hold it open without a word.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(4);
        let mut conns = Vec::new();
        while std::time::Instant::now() < end {
            if let Ok((c, _)) = listener.accept() {
                conns.push(c);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        drop(conns);
    });
    let d = TempDir::new("slow");
    let tp = d.path().join("trustpolicy.json");
    std::fs::write(&tp, r#"{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#).unwrap();
    let hosts = d.path().join("certs.d").join(addr.to_string());
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{addr}\"\n")).unwrap();
    let cfg = write_config(d.path(), &tp, &d.path().join("ts"), "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("timeout = \"8s\"", "timeout = \"1s\"");
    std::fs::write(&cfg, text).unwrap();
    let r = run(&cfg, &format!("{addr}/acme/app:v1"), DIGEST, &line(DIGEST));
    let v = assert_deny(&r, &["deadline"]);
    assert_eq!(v["errorClass"], "deadline");
    hold.join().unwrap();
}

#[test]
fn stdin_left_open_denies_at_the_default_deadline() {
    // The deadline is the default 8 s: the configuration is read after stdin.
    let d = TempDir::new("open-stdin");
    let cfg = config(&d).to_string_lossy().to_string();
    let args = ["-name", "127.0.0.1:1/a:b", "-digest", DIGEST, "-stdin-media-type", MEDIA_TYPE_DESCRIPTOR];
    let r = run_keeping_stdin_open(&vouch_bin(), &args, &line(DIGEST)[..20], &[("VOUCH_CONFIG", cfg.as_str())]);
    let v = assert_deny(&r, &["deadline of 8s exceeded while reading the descriptor on stdin"]);
    assert_eq!(v["errorClass"], "deadline");
}

#[test]
fn a_trust_policy_that_never_opens_hits_the_configured_deadline() {
    // A FIFO without a writer: opening it waits forever. The trust policy is first read for
    // the verdict cache's key, while vouch is still reading local files only.
    let d = TempDir::new("fifo");
    let fifo = d.path().join("trustpolicy.json");
    let path = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    for (mode, code) in [("enforce", 1), ("audit", 0)] {
        let cfg = write_config(d.path(), &fifo, &d.path().join("ts"), "");
        let text = std::fs::read_to_string(&cfg).unwrap().replace("timeout = \"8s\"", "timeout = \"1s\"");
        std::fs::write(&cfg, text.replace("mode = \"enforce\"", &format!("mode = \"{mode}\""))).unwrap();
        let r = run(&cfg, "127.0.0.1:1/a:b", DIGEST, &line(DIGEST));
        let v = report(&r);
        assert_eq!(r.exit_code, Some(code), "{mode}: {v}");
        let reason = v["reason"].as_str().unwrap();
        assert!(reason.contains("deadline of 1s exceeded while checking the allowlist and the verdict cache"), "{mode}: {reason}");
        assert_eq!(v["errorClass"], "deadline");
        // Not a speed check: it tells the configured 1 s deadline from the default 8 s one.
        assert!(r.elapsed < std::time::Duration::from_secs(5), "{mode}: the default deadline was used: {:?}", r.elapsed);
    }
}

#[test]
fn arguments_that_are_not_utf8_deny_as_bad_input() {
    use std::os::unix::ffi::OsStrExt;
    let d = TempDir::new("utf8");
    let cfg = config(&d);
    let out = std::process::Command::new(vouch_bin())
        .arg("-name")
        .arg(std::ffi::OsStr::from_bytes(b"127.0.0.1:1/a\xff:b"))
        .args(["-digest", DIGEST, "-stdin-media-type", MEDIA_TYPE_DESCRIPTOR])
        .env_clear()
        .env("PATH", BARE_PATH)
        .env("VOUCH_CONFIG", &cfg)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert!(v["reason"].as_str().unwrap().contains("-name"), "{v}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn audit_mode_allows_and_reports_the_real_verdict() {
    let d = TempDir::new("audit");
    let cfg = config(&d);
    let text = std::fs::read_to_string(&cfg).unwrap().replace("mode = \"enforce\"", "mode = \"audit\"");
    std::fs::write(&cfg, text).unwrap();
    let r = run(&cfg, "127.0.0.1:1/acme/app:v1", DIGEST, &line(DIGEST));
    let v = report(&r);
    assert_eq!(r.exit_code, Some(0));
    assert_eq!(v["isSuccess"], false);
    assert_eq!(v["mode"], "audit");
    assert!(v["reason"].as_str().unwrap().starts_with("audit: would deny "), "{v}");
}
