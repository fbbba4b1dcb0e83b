//! Replays the `hosts_toml` and `node_credentials` fuzzing corpora (`fuzz/corpus/`, see
//! docs/fuzzing.md) through the same entry points the fuzz targets use, in every test run.

use std::path::PathBuf;
use std::time::Duration;
use vouch_core::Deadline;
use vouch_registry::auth::{AuthConfig, Resolver, SourceKind};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vouch-replay-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn hosts_toml_corpus() {
    let dir = scratch("hosts");
    std::fs::create_dir_all(dir.join("r.example:5000")).unwrap();
    for input in corpus("hosts_toml") {
        std::fs::write(dir.join("r.example:5000/hosts.toml"), &input).unwrap();
        let _ = vouch_registry::hosts::endpoints(Some(&dir), "r.example:5000", &[]);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn node_credentials_corpus() {
    let dir = scratch("creds");
    let file = dir.join("credentials");
    for input in corpus("node_credentials") {
        let Some((&which, body)) = input.split_first() else { continue };
        std::fs::write(&file, body).unwrap();
        let mut cfg = AuthConfig {
            docker_config: None,
            containers_auth: None,
            helper_dirs: vec!["/nonexistent-vouch-replay".into()],
            kubelet_provider_bin_dir: Some("/nonexistent-vouch-replay".into()),
            exec_timeout: Duration::from_millis(50),
            ..AuthConfig::default()
        };
        match which % 3 {
            0 => (cfg.sources, cfg.docker_config) = (vec![SourceKind::Docker], Some(file.clone())),
            1 => (cfg.sources, cfg.containers_auth) = (vec![SourceKind::Containers], Some(file.clone())),
            _ => (cfg.sources, cfg.kubelet_provider_config) = (vec![SourceKind::Kubelet], Some(file.clone())),
        }
        let _ = Resolver::new(cfg).lookup("r.example:5000", "acme/app", &Deadline::after(Duration::from_millis(200)));
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn registry_answers_corpus() {
    // The fuzz target gives each input to the parser its first byte picks; here every parser
    // reads every input, which covers the same cases and more.
    for input in corpus("registry_answers") {
        let body = input.get(1..).unwrap_or_default();
        drop(vouch_registry::index_manifests(body));
        drop(vouch_registry::token_answer(body));
        let _ = std::str::from_utf8(body).map(vouch_registry::next_link);
    }
}

/// The parsers behind the corpus give the answers a run relies on.
#[test]
fn registry_answers_parse_as_expected() {
    assert_eq!(vouch_registry::token_answer(br#"{"access_token":"a","expires_in":60}"#).unwrap(), ("a".to_string(), Some(60)));
    assert_eq!(vouch_registry::token_answer(br#"{"token":"","access_token":"b"}"#).unwrap().0, "b");
    assert!(vouch_registry::token_answer(br#"{"token":""}"#).is_err());
    assert_eq!(vouch_registry::next_link(r#"</v2/a/referrers/sha256:00?last=1>; rel="next""#).as_deref(), Some("/v2/a/referrers/sha256:00?last=1"));
    assert!(vouch_registry::index_manifests(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap().is_empty());
    assert!(vouch_registry::index_manifests(b"[]").is_err());
}

#[test]
fn provider_response_corpus() {
    for input in corpus("provider_response") {
        let _ = vouch_registry::auth::check_provider_response(&input, "credentialprovider.kubelet.k8s.io/v1", "r.example:5000/acme/app:1");
    }
}

/// Found by the `provider_response` fuzz target: a `cacheDuration` too large for a Duration
/// made the lookup panic; it is now refused as "not a duration".
#[test]
fn a_huge_cache_duration_is_refused_not_a_panic() {
    let answer = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"644444444444444444444444444444444444444446h","auth":{"*.e0":{"sswsswor[":"b"}}}"#;
    let err = vouch_registry::auth::check_provider_response(answer, "credentialprovider.kubelet.k8s.io/v1", "r.example:5000/acme/app:1").unwrap_err();
    assert!(err.contains("is not a duration"), "{err}");
}
