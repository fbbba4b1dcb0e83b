//! The notation CLI's own end-to-end OCI layouts (`../shared/testvectors/notation/oci-layouts`),
//! loaded into a real registry and verified through the containerd-style invocation with the
//! notation e2e trust policy (strict, `ca:e2e`).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use vouch_testkit::containerd::descriptor_line;
use vouch_testkit::layout::load_layout_into;
use vouch_testkit::registry::TestRegistry;

fn vectors() -> Option<PathBuf> {
    let v = shared()?.join("testvectors/notation");
    v.is_dir().then_some(v)
}

/// The image (not a signature, not a tag-schema index) of a layout.
fn subject(layout: &Path) -> vouch_core::Descriptor {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            let tag = m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap_or("");
            m["mediaType"] == "application/vnd.oci.image.manifest.v1+json" && !tag.is_empty() && !tag.starts_with("sha256-")
        })
        .expect("a tagged image manifest");
    serde_json::from_value(entry.clone()).unwrap()
}

/// Lists every signature manifest of the layout in its subject's `sha256-<hex>` tag-schema
/// index, as notation does when it pushes to a registry without the referrers API (some of
/// these layouts hold signatures reachable only through that API).
fn index_signatures_by_tag_schema(layout: &Path, host: &str, repo: &str) {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut by_subject: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for m in index["manifests"].as_array().unwrap() {
        let digest = m["digest"].as_str().unwrap();
        let blob = std::fs::read(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap();
        let doc: Value = serde_json::from_slice(&blob).unwrap();
        let Some(subject) = doc["subject"]["digest"].as_str() else { continue };
        let artifact_type = doc["artifactType"].as_str().or(doc["config"]["mediaType"].as_str()).unwrap_or_default();
        let entry = serde_json::json!({"mediaType": doc["mediaType"], "digest": digest, "size": blob.len(), "artifactType": artifact_type});
        by_subject.entry(subject.to_string()).or_default().push(entry);
    }
    for (subject, entries) in by_subject {
        let tag = subject.replacen(':', "-", 1);
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
        vouch_testkit::registry::push_manifest(host, repo, &tag, "application/vnd.oci.image.index.v1+json", &serde_json::to_vec(&index).unwrap()).unwrap();
    }
}

#[test]
fn every_notation_e2e_layout_gives_the_expected_verdict() {
    let Some(v) = vectors() else {
        println!("skipped: ../shared/testvectors/notation is not present");
        return;
    };
    let registry = TestRegistry::start().expect("start docker-registry");
    let host = registry.host().to_string();
    let dir = TempDir::new("notation-layouts");
    let store = dir.path().join("truststore/x509/ca/e2e");
    std::fs::create_dir_all(&store).unwrap();
    for cert in ["e2e.crt", "expired_e2e.crt"] {
        std::fs::copy(v.join("truststore/notation-e2e/localkeys").join(cert), store.join(cert)).unwrap();
    }
    let config = write_config(dir.path(), &v.join("trustpolicy/notation-e2e/trustpolicy.json"), &dir.path().join("truststore"), "");
    let hosts = dir.path().join("certs.d").join(&host);
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{host}\"\n")).unwrap();

    // (layout, allowed, reason fragment of a deny)
    let cases: &[(&str, bool, &str)] = &[
        ("e2e", false, "no Notary Project signature"),
        ("e2e-valid-signature", true, ""),
        // The e2e signature verifies; the testcert11 one is untrusted.
        ("e2e-valid-multiple-signatures", true, "signature 1 of 2"),
        ("e2e-expired-signature", false, "expired"),
        ("e2e-with-expired-cert", false, "expired"),
        ("e2e-invalid-signature", false, "unsupported media type"),
        // Leaves (testcert7) that are in no shipped store.
        ("e2e-with-timestamped-signature", false, "trust store"),
        ("e2e-with-invalid-timestamped-signature", false, "trust store"),
    ];
    for (name, allowed, fragment) in cases {
        let layout = v.join("oci-layouts").join(name);
        load_layout_into(&layout, &host, name).unwrap();
        index_signatures_by_tag_schema(&layout, &host, name);
        let image = subject(&layout);
        let r = run(&config, &format!("{host}/{name}@{}", image.digest), &image.digest.to_string(), &descriptor_line(&image));
        println!("{name}: exit {:?}: {}", r.exit_code, r.stdout.trim());
        if *allowed {
            let v = assert_allow(&r);
            assert!(v["reason"].as_str().unwrap().contains(fragment), "{v}");
        } else {
            assert_deny(&r, &[fragment]);
        }
    }
}
