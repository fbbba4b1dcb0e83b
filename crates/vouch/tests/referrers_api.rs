//! Signatures found through the OCI referrers API (`GET /v2/<repo>/referrers/<digest>`), the
//! path most registries take, including paging with `Link` headers. Debian's docker-registry
//! has no referrers API, so a loopback front (vouch-testkit's `referrers`) answers it from the
//! registry's own content; every other request reaches the real registry.

mod common;

use common::*;
use vouch_core::MEDIA_TYPE_JWS;
use vouch_testkit::containerd::descriptor_line;
use vouch_testkit::referrers::{Paging, ReferrersFront};
use vouch_testkit::registry::TestRegistry;
use vouch_testkit::signer::{push_demo_image, push_signature, write_trust_material, LeafOptions, SignOptions, TestCa};

/// Pushes an image signed first by an untrusted signer and then by a trusted one, and runs
/// vouch against a front that serves the referrers API in `paging`'s pages.
fn verify_through_front(paging: Paging) -> (serde_json::Value, usize) {
    let registry = TestRegistry::start().expect("start docker-registry");
    let dir = TempDir::new("referrers");
    let trusted = TestCa::new("referrers root").unwrap();
    let stranger = TestCa::new("stranger root").unwrap();
    let (policy, store) = write_trust_material(dir.path(), &trusted.cert_pem(), "test", "*").unwrap();
    let image = push_demo_image(registry.host(), "acme/app", "v1").unwrap();
    for ca in [&stranger, &trusted] {
        let signer = ca.issue_leaf(LeafOptions::new("referrers signer")).unwrap();
        let envelope = signer.sign_jws(&image, &SignOptions::default()).unwrap();
        push_signature(registry.host(), "acme/app", &image, &envelope, MEDIA_TYPE_JWS).unwrap();
    }
    let front = ReferrersFront::start(registry.host(), paging).unwrap();
    let config = write_config(dir.path(), &policy, &store, "");
    let hosts = dir.path().join("certs.d").join(front.host());
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{}\"\n", front.host())).unwrap();
    let name = format!("{}/acme/app:v1@{}", front.host(), image.digest);
    let r = run(&config, &name, &image.digest.to_string(), &descriptor_line(&image));
    println!("{name}: exit {:?}: {}", r.exit_code, r.stdout.trim());
    let v = assert_allow(&r);
    (v, front.referrers_requests())
}

#[test]
fn signatures_are_found_through_the_referrers_api() {
    let (v, requests) = verify_through_front(Paging::None);
    assert_eq!(requests, 1, "one referrers request");
    assert_eq!(v["verifierReports"].as_array().unwrap().len(), 2, "{v}");
    assert!(v["reason"].as_str().unwrap().contains("signature 2 of 2 verified"), "{v}");
}

/// Both signatures are found across two pages of one entry each, and nothing is cut.
fn assert_two_pages_followed(paging: Paging) {
    let (v, requests) = verify_through_front(paging);
    assert_eq!(requests, 2, "two pages of one entry each");
    assert_eq!(v["verifierReports"].as_array().unwrap().len(), 2, "{v}");
    assert!(v.get("signaturesTruncated").is_none(), "{v}");
}

#[test]
fn referrers_pages_are_followed_through_link_headers() {
    assert_two_pages_followed(Paging::Relative);
}

#[test]
fn link_headers_with_absolute_urls_on_the_same_host_are_followed() {
    assert_two_pages_followed(Paging::AbsoluteUrl);
}
