//! The audit log: one intact JSON line per decision from many concurrent vouch processes,
//! size-based rotation keeping three files, 0600, no effect on verdicts when it cannot be
//! written; and `vouch log` over it.

mod common;
mod operator;

use common::*;
use operator::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use vouch_core::MEDIA_TYPE_JWS;
use vouch_testkit::containerd::descriptor_line;
use vouch_testkit::registry::TestRegistry;
use vouch_testkit::signer::{push_demo_image, push_signature, write_trust_material, LeafOptions, SignOptions, TestCa};

/// A node that logs to `<dir>/log/decisions.jsonl` and allowlists `ok.io/**`.
fn logging_node(tag: &str, log_max: Option<&str>) -> (Node, PathBuf) {
    let max = log_max.map(|m| format!("audit_log_max = \"{m}\"\n")).unwrap_or_default();
    // Relative to the configuration file's directory.
    let extra = format!("audit_log = \"log/decisions.jsonl\"\n{max}[allow]\nimages = [\"ok.io/**\"]\n");
    let node = Node::new(tag, &extra);
    let log = node.path("log/decisions.jsonl");
    (node, log)
}

/// Every line of the log and its rotated files, oldest first, each parsed.
fn lines(log: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = (1..=3).rev().map(|n| PathBuf::from(format!("{}.{n}", log.display()))).collect();
    files.push(log.to_path_buf());
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| t.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line ({e}): {l:?}"))).collect::<Vec<Value>>())
        .collect()
}

/// Runs `n` allowlisted pulls at once, `ok.io/app<i>:v1`.
fn concurrent_pulls(node: &Node, n: usize) {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n).map(|i| s.spawn(move || node.run(&format!("ok.io/app{i}:v1")))).collect();
        for h in handles {
            assert_eq!(h.join().unwrap().exit_code, Some(0));
        }
    });
}

#[test]
fn concurrent_processes_write_one_intact_line_each() {
    let (node, log) = logging_node("audit-concurrent", None);
    concurrent_pulls(&node, 32);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'));
    let entries = lines(&log);
    assert_eq!(entries.len(), 32, "{text}");
    let refs: BTreeSet<String> = entries.iter().map(|e| e["ref"].as_str().unwrap().to_string()).collect();
    let want: BTreeSet<String> = (0..32).map(|i| format!("ok.io/app{i}:v1")).collect();
    assert_eq!(refs, want);
    assert_eq!(std::fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn rotation_under_concurrency_loses_no_line() {
    let (node, log) = logging_node("audit-rotate-concurrent", Some("6KiB"));
    concurrent_pulls(&node, 32);
    assert!(PathBuf::from(format!("{}.1", log.display())).exists(), "no rotation happened");
    assert_eq!(lines(&log).len(), 32);
    for n in ["", ".1", ".2", ".3"] {
        let f = PathBuf::from(format!("{}{n}", log.display()));
        if let Ok(m) = std::fs::metadata(&f) {
            assert!(m.len() <= 6 * 1024, "{} is {} bytes", f.display(), m.len());
            assert_eq!(m.permissions().mode() & 0o777, 0o600);
        }
    }
}

#[test]
fn rotation_keeps_three_files() {
    let (node, log) = logging_node("audit-rotate", Some("1KiB"));
    for i in 0..30 {
        assert_eq!(node.run(&format!("ok.io/seq{i:02}:v1")).exit_code, Some(0));
    }
    for n in 1..=3 {
        assert!(PathBuf::from(format!("{}.{n}", log.display())).exists(), ".{n} missing");
    }
    assert!(!PathBuf::from(format!("{}.4", log.display())).exists());
    let entries = lines(&log);
    assert!(entries.len() < 30 && entries.len() >= 6, "{}", entries.len());
    // Oldest first and contiguous: the newest decisions survive, in order.
    let last: Vec<String> = entries.iter().map(|e| e["ref"].as_str().unwrap().to_string()).collect();
    let want: Vec<String> = (30 - entries.len()..30).map(|i| format!("ok.io/seq{i:02}:v1")).collect();
    assert_eq!(last, want);
}

#[test]
fn entries_describe_the_decision() {
    let (node, log) = logging_node("audit-fields", None);
    let host = dead_host();
    node.plain_http(&host);
    assert_eq!(node.run("ok.io/a:1").exit_code, Some(0));
    assert_eq!(node.run(&format!("{host}/acme/app:v1")).exit_code, Some(1));
    assert_eq!(node.run_with("ghcr.io/acme/app:v1", DIGEST, b"not json\n").exit_code, Some(1));
    node.break_glass("INC-7");
    assert_eq!(node.run(&format!("{host}/acme/app:v2")).exit_code, Some(0));
    let e = lines(&log);
    assert_eq!(e.len(), 4, "{e:?}");
    let allow = &e[0];
    assert_eq!((allow["verdict"].as_str(), allow["isSuccess"].as_bool()), (Some("allow"), Some(true)));
    assert_eq!(allow["ref"], "ok.io/a:1");
    assert_eq!(allow["digest"], DIGEST);
    assert_eq!(allow["mode"], "enforce");
    assert_eq!(allow["cached"], false);
    assert_eq!(allow["allowlisted"], "ok.io/**");
    assert!(allow["signer"].is_null());
    assert!(allow["duration_ms"].as_f64().is_some_and(|d| d > 0.0), "{allow}");
    assert!(time::OffsetDateTime::parse(allow["time"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).is_ok());
    assert_eq!((e[1]["verdict"].as_str(), e[1]["error_class"].as_str()), (Some("deny"), Some("registry")));
    assert!(e[1]["reason"].as_str().unwrap().starts_with("deny "), "{}", e[1]);
    assert_eq!((e[2]["verdict"].as_str(), e[2]["error_class"].as_str()), (Some("deny"), Some("input")));
    assert_eq!((e[3]["verdict"].as_str(), e[3]["isSuccess"].as_bool()), (Some("allow"), Some(false)));
    assert_eq!((e[3]["mode"].as_str(), e[3]["break_glass"].as_str()), (Some("audit"), Some("INC-7")));
}

#[test]
fn a_verified_allow_names_the_signer_and_the_cache() {
    let registry = TestRegistry::start().expect("start docker-registry");
    let dir = TempDir::new("audit-signed");
    let ca = TestCa::new("vouch test root").unwrap();
    let signer = ca.issue_leaf(LeafOptions::new("vouch test signer")).unwrap();
    let (tp, ts) = write_trust_material(dir.path(), &ca.cert_pem(), "test", "*").unwrap();
    let log = dir.path().join("decisions.jsonl");
    let config = write_config(dir.path(), &tp, &ts, &format!("audit_log = \"{}\"\n", log.display()));
    let hosts = dir.path().join("certs.d").join(registry.host());
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{}\"\n", registry.host())).unwrap();
    let image = push_demo_image(registry.host(), "demo/app", "v1").unwrap();
    let envelope = signer.sign_jws(&image, &SignOptions::default()).unwrap();
    push_signature(registry.host(), "demo/app", &image, &envelope, MEDIA_TYPE_JWS).unwrap();
    let name = format!("{}/demo/app:v1", registry.host());
    for _ in 0..2 {
        assert_allow(&run(&config, &name, &image.digest.to_string(), &descriptor_line(&image)));
    }
    let e = lines(&log);
    assert_eq!(e.len(), 2);
    assert_eq!(e[0]["signer"], "CN=vouch test signer,O=vouch-dev,ST=WA,C=US");
    assert_eq!((e[0]["cached"].as_bool(), e[1]["cached"].as_bool()), (Some(false), Some(true)));
    assert_eq!(e[1]["signer"], e[0]["signer"]);
}

#[test]
fn an_unwritable_audit_log_changes_no_verdict() {
    let node = Node::new("audit-broken", "audit_log = \"/dev/null/decisions.jsonl\"\n[allow]\nimages = [\"ok.io/**\"]\n");
    let r = node.run("ok.io/a:1");
    assert_allow(&r);
    assert!(r.stderr.contains("audit log /dev/null/decisions.jsonl"), "{}", r.stderr);
    let host = dead_host();
    node.plain_http(&host);
    assert_deny(&node.run(&format!("{host}/x:1")), &["registry"]);
}

#[test]
fn an_invalid_audit_log_max_denies() {
    let node = Node::new("audit-bad-max", "audit_log = \"x.jsonl\"\naudit_log_max = \"lots\"\n");
    assert_deny(&node.run("ok.io/a:1"), &["audit_log_max"]);
    let node = Node::new("audit-tiny-max", "audit_log = \"x.jsonl\"\naudit_log_max = 10\n");
    assert_deny(&node.run("ok.io/a:1"), &["audit_log_max must be at least"]);
}

/// A log with an old decision in a rotated file and fresh ones (allow, deny) in the current one.
fn prepared_log() -> (Node, PathBuf) {
    let (node, log) = logging_node("audit-cmd", None);
    let host = dead_host();
    node.plain_http(&host);
    assert_eq!(node.run("ok.io/web/frontend:1").exit_code, Some(0));
    assert_eq!(node.run(&format!("{host}/acme/app:v1")).exit_code, Some(1));
    let old = r#"{"time":"2020-01-02T03:04:05Z","ref":"ok.io/ancient:1","digest":"sha256:4515d57ce84c56ecfbf9f7a5fde8ff7b78b4f87f21f2e75e0c8a3a2e2d8a3b96","verdict":"deny","isSuccess":false,"mode":"enforce","reason":"deny ok.io/ancient: old","cached":false,"duration_ms":1.0,"signer":null}"#;
    std::fs::write(format!("{}.1", log.display()), format!("{old}\n{{torn\n")).unwrap();
    (node, log)
}

#[test]
fn vouch_log_prints_a_table_of_recent_decisions() {
    let (node, _log) = prepared_log();
    let (code, out, err) = node.cli(&["log"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 4, "{out}");
    assert!(rows[0].starts_with("TIME") && rows[0].contains("VERDICT") && rows[0].contains("IMAGE") && rows[0].contains("REASON"));
    assert!(rows[1].contains("2020-01-02T03:04:05Z") && rows[1].contains("ok.io/ancient:1"), "{out}");
    assert!(rows[2].contains("allow") && rows[2].contains("ok.io/web/frontend:1") && rows[2].contains("allowlisted"), "{out}");
    assert!(rows[3].contains("deny") && rows[3].contains("/acme/app:v1"), "{out}");
    assert!(err.contains("skipped 1 lines"), "{err}");
}

#[test]
fn vouch_log_filters() {
    let (node, log) = prepared_log();
    let refs = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["log", "--output", "json"];
        all.extend_from_slice(args);
        let (code, out, err) = node.cli(&all);
        assert_eq!(code, 0, "{err}");
        let v: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        v.iter().map(|e| e["ref"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(refs(&[]).len(), 3);
    let denied = refs(&["--denied"]);
    assert_eq!(denied.len(), 2);
    assert!(denied.iter().all(|r| !r.contains("frontend")), "{denied:?}");
    assert_eq!(refs(&["--since", "1h"]).len(), 2);
    assert_eq!(refs(&["--since", "2019-12-31T00:00:00Z"]).len(), 3);
    assert_eq!(refs(&["--image", "ok.io/**"]), vec!["ok.io/ancient:1", "ok.io/web/frontend:1"]);
    assert_eq!(refs(&["--image", "ok.io/*:1"]), vec!["ok.io/ancient:1"]);
    assert_eq!(refs(&["--denied", "--since", "1h"]).len(), 1);
    assert_eq!(refs(&["--limit", "1"]).len(), 1);
    let file = log.to_string_lossy().into_owned();
    assert_eq!(refs(&["--file", &file, "--image", "ok.io/web/*"]), vec!["ok.io/web/frontend:1"]);
}

#[test]
fn vouch_log_explains_what_is_missing() {
    let node = Node::new("audit-cmd-unset", "");
    let (code, _, err) = node.cli(&["log"]);
    assert_eq!(code, 1);
    assert!(err.contains("audit_log is not set") && err.contains("--file"), "{err}");
    let (code, _, err) = node.cli(&["log", "--file", "/nonexistent/decisions.jsonl"]);
    assert_eq!(code, 1);
    assert!(err.contains("no audit log at /nonexistent/decisions.jsonl"), "{err}");
    let (code, _, err) = node.cli(&["log", "--file", "/nonexistent/x", "--since", "soon"]);
    assert_eq!(code, 1);
    assert!(err.contains("--since \"soon\""), "{err}");
}
