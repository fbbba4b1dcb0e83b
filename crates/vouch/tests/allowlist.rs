//! `[allow]`: an allowlisted image is allowed with no registry request and no cache access, and
//! the report names the rule; everything else is verified as before.

mod common;
mod operator;

use common::*;
use operator::*;

#[test]
fn an_allowlisted_image_is_allowed_without_contacting_the_registry() {
    let registry = Witness::new();
    let extra = format!("[allow]\nimages = [\"registry.k8s.io/pause:*\", \"{}/platform/**\"]\n", registry.host);
    let node = Node::new("allow-pattern", &extra);
    node.plain_http(&registry.host);
    let name = format!("{}/platform/agent/node:1.2", registry.host);
    let v = assert_allow(&node.run(&name));
    assert_eq!(v["allowlisted"], format!("{}/platform/**", registry.host), "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("allowlisted by [allow] images \"{}/platform/**\"", registry.host)), "{reason}");
    assert_eq!(v["subject"], format!("{}/platform/agent/node@{DIGEST}", registry.host));
    assert!(!registry.contacted(), "the registry was contacted for an allowlisted image");
    assert!(!node.path("cache").exists(), "the cache was opened for an allowlisted image");
}

#[test]
fn docker_hub_style_names_match_normalised_patterns() {
    let node = Node::new("allow-hub", "[allow]\nimages = [\"docker.io/library/busybox:1.*\", \"registry.k8s.io/pause:*\"]\n");
    let v = assert_allow(&node.run("busybox:1.36"));
    assert_eq!(v["allowlisted"], "docker.io/library/busybox:1.*");
    let v = assert_allow(&node.run(&format!("registry.k8s.io/pause@{DIGEST}")));
    assert_eq!(v["allowlisted"], "registry.k8s.io/pause:*");
    assert_eq!(
        v["reason"],
        "allow registry.k8s.io/pause@sha256:4515d57ce84c…: allowlisted by [allow] images \"registry.k8s.io/pause:*\""
    );
}

#[test]
fn an_allowlisted_digest_is_allowed_under_any_name() {
    let host = dead_host();
    let node = Node::new("allow-digest", &format!("[allow]\ndigests = [\"{DIGEST}\"]\n"));
    let v = assert_allow(&node.run(&format!("{host}/any/thing:v9")));
    assert_eq!(v["allowlisted"], DIGEST);
    assert!(v["reason"].as_str().unwrap().contains(&format!("allowlisted by [allow] digests \"{DIGEST}\"")), "{v}");
}

#[test]
fn images_outside_the_allowlist_are_still_verified() {
    let host = dead_host();
    let extra = format!("[allow]\nimages = [\"{host}/platform/*\", \"{host}/exact\"]\n");
    let node = Node::new("allow-miss", &extra);
    node.plain_http(&host);
    for name in [
        format!("{host}/platform/a/b:1"),
        format!("{host}/platformer/a:1"),
        format!("{host}/exact2:1"),
        format!("{host}/other:1"),
    ] {
        let v = assert_deny(&node.run(&name), &["registry"]);
        assert_eq!(v["errorClass"], "registry", "{name}: {v}");
        assert!(v.get("allowlisted").is_none(), "{v}");
    }
    assert_allow(&node.run(&format!("{host}/exact:1")));
}

#[test]
fn an_allowlist_hit_skips_the_trust_material() {
    // The trust policy is broken: any verification would deny with errorClass config.
    let node = Node::new("allow-broken-tp", "[allow]\nimages = [\"ghcr.io/acme/**\"]\n");
    std::fs::write(node.path("trustpolicy.json"), "{ not json").unwrap();
    assert_allow(&node.run("ghcr.io/acme/tools/kubectl:1.31"));
    let v = assert_deny(&node.run("ghcr.io/other/app:1"), &["trust policy"]);
    assert_eq!(v["errorClass"], "config");
}

#[test]
fn an_invalid_allow_entry_denies_naming_it() {
    let node = Node::new("allow-invalid", "[allow]\nimages = [\"ok.io/a\", \"Bad//Pattern\"]\n");
    let v = assert_deny(&node.run("ok.io/a:1"), &["config.toml", "allow.images[1]"]);
    assert_eq!(v["errorClass"], "config");
    let node = Node::new("allow-invalid-digest", "[allow]\ndigests = [\"sha256:123\"]\n");
    assert_deny(&node.run("ok.io/a:1"), &["allow.digests[0]", "sha256:<64 hex>"]);
    let node = Node::new("allow-unknown-key", "[allow]\nimage = [\"ok.io/a\"]\n");
    assert_deny(&node.run("ok.io/a:1"), &["config.toml", "image"]);
}

#[test]
fn audit_mode_reports_allowlisted_images_in_audit_mode() {
    let node = Node::new("allow-audit", "[allow]\nimages = [\"ok.io/**\"]\n");
    let text = std::fs::read_to_string(&node.config).unwrap().replace("mode = \"enforce\"", "mode = \"audit\"");
    std::fs::write(&node.config, text).unwrap();
    let v = assert_allow(&node.run("ok.io/a/b:1"));
    assert_eq!(v["mode"], "audit");
    assert_eq!(v["allowlisted"], "ok.io/**");
}
