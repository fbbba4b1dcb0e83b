//! `[on_error]`: infrastructure failures (registry, deadline) may be allowed; a bad or missing
//! signature and a broken configuration always deny under enforce.

mod common;
mod operator;

use common::*;
use operator::*;
use vouch_testkit::containerd::descriptor_line;
use vouch_testkit::registry::TestRegistry;
use vouch_testkit::signer::push_demo_image;

fn assert_allowed_failure(r: &vouch_testkit::containerd::VerifierRun, class: &str) {
    let v = report(r);
    assert_eq!(r.exit_code, Some(0), "{v}");
    assert_eq!(v["isSuccess"], false, "{v}");
    assert_eq!(v["errorClass"], class, "{v}");
    assert_eq!(v["allowedByOnError"], class, "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.starts_with(&format!("allowed by [on_error] {class} = \"allow\": deny ")), "{reason}");
}

#[test]
fn registry_failures_deny_by_default_and_allow_when_configured() {
    let host = dead_host();
    let name = format!("{host}/acme/app:v1");
    let node = Node::new("onerr-default", "");
    node.plain_http(&host);
    let v = assert_deny(&node.run(&name), &["registry"]);
    assert!(v.get("allowedByOnError").is_none());
    let node = Node::new("onerr-registry", "[on_error]\nregistry = \"allow\"\n");
    node.plain_http(&host);
    assert_allowed_failure(&node.run(&name), "registry");
    let node = Node::new("onerr-deadline-only", "[on_error]\ndeadline = \"allow\"\n");
    node.plain_http(&host);
    assert_deny(&node.run(&name), &["registry"]);
}

#[test]
fn a_passed_deadline_is_allowed_when_configured() {
    let silent = Witness::new();
    let name = format!("{}/acme/app:v1", silent.host);
    let node = Node::new("onerr-deadline", "[on_error]\ndeadline = \"allow\"\n");
    node.plain_http(&silent.host);
    set_timeout(&node.config, "1s");
    assert_allowed_failure(&node.run(&name), "deadline");
    let node = Node::new("onerr-deadline-deny", "[on_error]\nregistry = \"allow\"\ndeadline = \"deny\"\n");
    node.plain_http(&silent.host);
    set_timeout(&node.config, "1s");
    let v = assert_deny(&node.run(&name), &["deadline"]);
    assert_eq!(v["errorClass"], "deadline");
}

#[test]
fn the_deadline_watchdog_follows_on_error() {
    // A trust policy that is a FIFO without a writer: reading it blocks past the deadline, so
    // the watchdog, not the pipeline, ends the run.
    for (extra, code) in [("[on_error]\ndeadline = \"allow\"\n", 0), ("", 1)] {
        let node = Node::new("onerr-watchdog", extra);
        let tp = node.path("trustpolicy.json");
        std::fs::remove_file(&tp).unwrap();
        let c = std::ffi::CString::new(tp.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        set_timeout(&node.config, "1s");
        let r = node.run("ghcr.io/acme/app:v1");
        let v = report(&r);
        assert_eq!(r.exit_code, Some(code), "{v}");
        assert_eq!(v["errorClass"], "deadline", "{v}");
        assert!(v["reason"].as_str().unwrap().contains("deadline of 1s exceeded while"), "{v}");
        assert_eq!(v.get("allowedByOnError").is_some(), code == 0, "{v}");
    }
}

#[test]
fn a_missing_signature_denies_whatever_on_error_says() {
    let registry = TestRegistry::start().expect("start docker-registry");
    let image = push_demo_image(registry.host(), "demo/app", "unsigned").unwrap();
    let node = Node::new("onerr-sig", "[on_error]\nregistry = \"allow\"\ndeadline = \"allow\"\n");
    node.plain_http(registry.host());
    let name = format!("{}/demo/app:unsigned", registry.host());
    let v = assert_deny(&node.run_with(&name, &image.digest.to_string(), &descriptor_line(&image)), &["no Notary Project signature"]);
    assert_eq!(v["errorClass"], "signature");
    assert!(v.get("allowedByOnError").is_none());
}

#[test]
fn configuration_errors_deny_whatever_on_error_says() {
    let node = Node::new("onerr-config", "[on_error]\nregistry = \"allow\"\ndeadline = \"allow\"\n");
    std::fs::write(node.path("trustpolicy.json"), "{ not json").unwrap();
    let v = assert_deny(&node.run("ghcr.io/acme/app:v1"), &["trust policy"]);
    assert_eq!(v["errorClass"], "config");
    let node = Node::new("onerr-invalid", "[on_error]\nregistry = \"sometimes\"\n");
    let v = assert_deny(&node.run("ghcr.io/acme/app:v1"), &["config.toml", "on_error.registry = \"sometimes\""]);
    assert_eq!(v["errorClass"], "config");
    let node = Node::new("onerr-unknown", "[on_error]\nsignature = \"allow\"\n");
    assert_deny(&node.run("ghcr.io/acme/app:v1"), &["config.toml", "signature"]);
}
