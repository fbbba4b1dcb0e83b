//! The node's credential files as vouch reads them: docker `config.json`, containers
//! `auth.json` and the kubelet's `CredentialProviderConfig`, chosen by the first byte. Helpers
//! and providers named by the input are looked up only under a directory that does not exist.
#![no_main]
use std::sync::OnceLock;
use std::time::Duration;
use vouch_core::Deadline;
use vouch_registry::auth::{AuthConfig, Resolver, SourceKind};

fn file() -> &'static std::path::Path {
    static F: OnceLock<std::path::PathBuf> = OnceLock::new();
    F.get_or_init(|| std::env::temp_dir().join(format!("vouch-fuzz-creds-{}", std::process::id())))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    std::fs::write(file(), body).unwrap();
    let mut cfg = AuthConfig {
        docker_config: None,
        containers_auth: None,
        helper_dirs: vec!["/nonexistent-vouch-fuzz".into()],
        kubelet_provider_bin_dir: Some("/nonexistent-vouch-fuzz".into()),
        exec_timeout: Duration::from_millis(50),
        ..AuthConfig::default()
    };
    match which % 3 {
        0 => {
            cfg.sources = vec![SourceKind::Docker];
            cfg.docker_config = Some(file().to_path_buf());
        }
        1 => {
            cfg.sources = vec![SourceKind::Containers];
            cfg.containers_auth = Some(file().to_path_buf());
        }
        _ => {
            cfg.sources = vec![SourceKind::Kubelet];
            cfg.kubelet_provider_config = Some(file().to_path_buf());
        }
    }
    let deadline = Deadline::after(Duration::from_millis(200));
    let _ = Resolver::new(cfg).lookup("r.example:5000", "acme/app", &deadline);
});
