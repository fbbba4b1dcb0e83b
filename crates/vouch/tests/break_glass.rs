//! Break-glass: while the break-glass file exists every containerd run exits 0 (a deny, a
//! missing or broken configuration, bad stdin, a usage error), the report keeps the real
//! `isSuccess` and carries the operator's reason, and stderr says so.

mod common;
mod operator;

use common::*;
use operator::*;
use serde_json::Value;
use vouch_testkit::containerd::VerifierRun;

const REASON: &str = "INC-1234: registry outage, enforcement off until 14:00 (alice)";

/// Asserts exit 0 under break-glass with the real verdict kept; returns the report.
fn assert_break_glass(r: &VerifierRun, real: bool) -> Value {
    let v = report(r);
    assert_eq!(r.exit_code, Some(0), "break-glass must allow: {v}");
    assert_eq!(v["isSuccess"], real, "{v}");
    assert_eq!(v["breakGlass"], REASON, "{v}");
    assert_eq!(v["mode"], "audit", "{v}");
    if !real {
        assert!(v["reason"].as_str().unwrap().starts_with("audit: would deny"), "{v}");
    }
    assert!(r.stderr.contains("break-glass") && r.stderr.contains(REASON), "stderr: {}", r.stderr);
    v
}

#[test]
fn a_deny_exits_0_and_keeps_the_real_verdict() {
    let node = Node::new("bg-deny", "");
    let host = dead_host();
    node.plain_http(&host);
    let name = format!("{host}/acme/app:v1");
    let v = assert_deny(&node.run(&name), &["registry"]);
    assert!(v.get("breakGlass").is_none());
    node.break_glass(&format!("  {REASON}  \nsecond line is ignored\n"));
    let v = assert_break_glass(&node.run(&name), false);
    assert_eq!(v["errorClass"], "registry");
    std::fs::remove_file(&node.break_glass).unwrap();
    assert_deny(&node.run(&name), &["registry"]);
}

#[test]
fn a_missing_or_broken_configuration_exits_0() {
    let node = Node::new("bg-config", "");
    node.break_glass(REASON);
    std::fs::remove_file(&node.config).unwrap();
    let v = assert_break_glass(&node.run("ghcr.io/acme/app:v1"), false);
    assert_eq!(v["errorClass"], "config");
    assert!(v["reason"].as_str().unwrap().contains("does not exist"), "{v}");
    std::fs::write(&node.config, "mode = \"sometimes\"\n").unwrap();
    let v = assert_break_glass(&node.run("ghcr.io/acme/app:v1"), false);
    assert_eq!(v["errorClass"], "config");
    std::fs::write(&node.config, "[notation\n").unwrap();
    assert_break_glass(&node.run("ghcr.io/acme/app:v1"), false);
}

#[test]
fn bad_stdin_and_arguments_exit_0() {
    let node = Node::new("bg-input", "");
    node.break_glass(REASON);
    let v = assert_break_glass(&node.run_with("ghcr.io/acme/app:v1", DIGEST, b"not json\n"), false);
    assert_eq!(v["errorClass"], "input");
    assert_break_glass(&node.run_with("ghcr.io/acme/app:v1", "md5:abc", &line(DIGEST)), false);
    let mt = ["-name", "ghcr.io/a:b", "-digest", DIGEST, "-stdin-media-type", "application/json"];
    assert_break_glass(&node.run_raw(&mt, &line(DIGEST)), false);
}

#[test]
fn usage_errors_of_the_containerd_invocation_exit_0() {
    let node = Node::new("bg-usage", "");
    let bogus = ["-name", "ghcr.io/a:b", "-digest", DIGEST, "-stdin-media-type", "application/vnd.oci.descriptor.v1+json", "-frobnicate", "1"];
    assert_eq!(node.run_raw(&bogus, &line(DIGEST)).exit_code, Some(2));
    node.break_glass(REASON);
    let v = assert_break_glass(&node.run_raw(&bogus, &line(DIGEST)), false);
    assert_eq!(v["errorClass"], "usage");
    assert!(v["reason"].as_str().unwrap().contains("-frobnicate"), "{v}");
    assert_break_glass(&node.run_raw(&["-name", "ghcr.io/a:b"], b""), false);
    // Usage errors of the operator's own commands are not the pull path.
    let (code, _, _) = node.cli(&["log", "--since", "soon", "--bogus"]);
    assert_eq!(code, 2);
}

#[test]
fn allows_are_marked_too() {
    let node = Node::new("bg-allow", "[allow]\nimages = [\"ghcr.io/acme/**\"]\n");
    node.break_glass(REASON);
    let v = assert_break_glass(&node.run("ghcr.io/acme/app:v1"), true);
    assert_eq!(v["allowlisted"], "ghcr.io/acme/**");
}

#[test]
fn a_silent_registry_past_the_deadline_exits_0() {
    let silent = Witness::new();
    let node = Node::new("bg-deadline", "");
    node.plain_http(&silent.host);
    set_timeout(&node.config, "1s");
    node.break_glass(REASON);
    let v = assert_break_glass(&node.run(&format!("{}/acme/app:v1", silent.host)), false);
    assert_eq!(v["errorClass"], "deadline");
}

#[test]
fn the_reason_is_the_first_line_at_most_200_characters() {
    let node = Node::new("bg-reason", "");
    std::fs::remove_file(&node.config).unwrap();
    node.break_glass(&format!("\n\n   {}\nmore\n", "x".repeat(300)));
    let v = report(&node.run("ghcr.io/acme/app:v1"));
    assert_eq!(v["breakGlass"], "x".repeat(200));
    node.break_glass("");
    let r = node.run("ghcr.io/acme/app:v1");
    assert_eq!(r.exit_code, Some(0));
    assert_eq!(report(&r)["breakGlass"], "(no reason given)");
}
