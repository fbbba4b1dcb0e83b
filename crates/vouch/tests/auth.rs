//! vouch end to end against registries that require credentials, run exactly as containerd
//! runs it (bare environment, no HOME, PATH without the system directories): credentials from a
//! docker config, a credential helper and a kubelet credential provider plugin; clear denies
//! for wrong credentials and for programs that hang or answer garbage; and no secret in
//! stdout, stderr or any file vouch writes other than its 0600 credential cache.

mod common;

use base64::Engine as _;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use vouch_core::{Descriptor, MEDIA_TYPE_JWS};
use vouch_testkit::auth::htpasswd_auth;
use vouch_testkit::containerd::{descriptor_line, run_verifier, run_verifier_raw, VerifierRun};
use vouch_testkit::registry::TestRegistry;
use vouch_testkit::signer::{push_demo_image, push_signature, write_trust_material, LeafOptions, SignOptions, TestCa};

const USER: &str = "builder";
const PASSWORD: &str = "Pw-9f3b1c7e-never-print-me";

/// A signed image in a plain registry, served by a second registry that requires Basic auth.
struct Env {
    _plain: TestRegistry,
    guarded: TestRegistry,
    dir: TempDir,
    policy: PathBuf,
    store: PathBuf,
    image: Descriptor,
    runs: Vec<VerifierRun>,
}

impl Env {
    fn new() -> Env {
        let plain = TestRegistry::start().expect("start docker-registry");
        let dir = TempDir::new("auth");
        let ca = TestCa::new("vouch test root").unwrap();
        let signer = ca.issue_leaf(LeafOptions::new("vouch test signer")).unwrap();
        let (policy, store) = write_trust_material(dir.path(), &ca.cert_pem(), "test", "*").unwrap();
        let image = push_demo_image(plain.host(), "acme/app", "1.0").unwrap();
        let envelope = signer.sign_jws(&image, &SignOptions::default()).unwrap();
        push_signature(plain.host(), "acme/app", &image, &envelope, MEDIA_TYPE_JWS).unwrap();
        let auth_dir = dir.path().join("registry-auth");
        let guarded = TestRegistry::start_sharing(&plain, &htpasswd_auth(&auth_dir, &[(USER, PASSWORD)]).unwrap()).unwrap();
        let hosts = dir.path().join("certs.d").join(guarded.host());
        std::fs::create_dir_all(&hosts).unwrap();
        std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{}\"\n", guarded.host())).unwrap();
        Env { _plain: plain, guarded, dir, policy, store, image, runs: Vec::new() }
    }

    fn host(&self) -> &str {
        self.guarded.host()
    }

    fn name(&self) -> String {
        format!("{}/acme/app:1.0@{}", self.host(), self.image.digest)
    }

    /// Writes a configuration with this `[auth]` section body and a cache directory of its own
    /// (so no run is answered from an earlier run's cache).
    fn config(&self, auth: &str) -> PathBuf {
        let n = self.runs.len();
        let text = format!(
            "cache_dir = \"{}\"\ntimeout = \"8s\"\n[registry]\nhosts_dir = \"{}\"\n[notation]\ntrust_policy = \"{}\"\ntrust_store = \"{}\"\n[auth]\n{auth}\n",
            self.dir.path().join("caches").join(n.to_string()).display(),
            self.dir.path().join("certs.d").display(),
            self.policy.display(),
            self.store.display()
        );
        self.file(&format!("config-{n}.toml"), &text)
    }

    /// Runs vouch as containerd does with a configuration holding this `[auth]` section body.
    fn verify(&mut self, auth: &str) -> VerifierRun {
        let cfg = self.config(auth).display().to_string();
        let env = [("VOUCH_CONFIG", cfg.as_str()), ("VOUCH_LOG", "trace")];
        let r = run_verifier(&vouch_bin(), &self.name(), &self.image.digest.to_string(), &descriptor_line(&self.image), &env);
        println!("exit {:?}: {}\n{}", r.exit_code, r.stdout.trim(), r.stderr.trim());
        self.runs.push(r.clone());
        r
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.file(name, &format!("#!/bin/sh\n{body}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Asserts the password is in no run's output and in no file under the cache directory
    /// other than the 0600 credential cache.
    fn assert_no_leak(&self) {
        for r in &self.runs {
            assert!(!r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD), "secret leaked: {}\n{}", r.stdout, r.stderr);
            for encoded in [b64(PASSWORD), b64(&format!("{USER}:{PASSWORD}"))] {
                assert!(!r.stdout.contains(&encoded) && !r.stderr.contains(&encoded), "encoded secret leaked: {}", r.stderr);
            }
        }
        for f in files(&self.dir.path().join("caches")) {
            let bytes = std::fs::read(&f).unwrap_or_default();
            let has = String::from_utf8_lossy(&bytes).contains(PASSWORD);
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert!(!has || (f.to_string_lossy().contains("/credentials/") && mode == 0o600), "secret in {} (mode {mode:o})", f.display());
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn docker_config_credentials_allow_and_are_named() {
    let mut env = Env::new();
    let cfg = env.file("docker/config.json", &format!(r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#, env.host(), b64(&format!("{USER}:{PASSWORD}"))));
    let v = assert_allow(&env.verify(&format!("docker_config = \"{}\"\nsources = [\"docker\"]", cfg.display())));
    assert_eq!(v["auth"], format!("docker config {}", cfg.display()), "{v}");
    assert!(env.runs[0].stderr.contains(&format!("auth: docker config {}", cfg.display())), "{}", env.runs[0].stderr);

    let wrong = env.file("docker/wrong.json", &format!(r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#, env.host(), b64(&format!("{USER}:not-{PASSWORD}"))));
    assert_deny(&env.verify(&format!("docker_config = \"{}\"", wrong.display())), &[env.host(), "acme/app", "docker config", "refused"]);
    let missing = env.dir.path().join("docker/absent.json");
    assert_deny(&env.verify(&format!("docker_config = \"{}\"", missing.display())), &["no credential source"]);
    env.assert_no_leak();
}

#[test]
fn credential_helper_and_its_failures() {
    let mut env = Env::new();
    env.script("bin/docker-credential-node", &format!("read -r url\necho '{{\"ServerURL\":\"'$url'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n"));
    env.script("bin/docker-credential-stuck", "/bin/sleep 30\n");
    env.script("bin/docker-credential-noise", "echo '<html>not json</html>'\n");
    let bin = env.dir.path().join("bin");
    let with = |env: &Env, helper: &str| {
        let cfg = env.file(&format!("docker/{helper}.json"), &format!(r#"{{"credHelpers":{{"{}":"{helper}"}}}}"#, env.host()));
        format!("docker_config = \"{}\"\nhelper_dirs = [\"{}\"]\nexec_timeout = \"500ms\"", cfg.display(), bin.display())
    };
    let auth = with(&env, "node");
    let v = assert_allow(&env.verify(&auth));
    assert!(v["auth"].as_str().unwrap().contains("docker-credential-node"), "{v}");
    let auth = with(&env, "stuck");
    let r = env.verify(&auth);
    assert_deny(&r, &["docker-credential-stuck", "did not answer within 500 ms", "exec_timeout"]);
    assert!(r.elapsed.as_secs() < 5, "{:?}", r.elapsed);
    let auth = with(&env, "noise");
    assert_deny(&env.verify(&auth), &["docker-credential-noise", "not the credential helper JSON"]);
    env.assert_no_leak();
}

#[test]
fn kubelet_provider_plugin_with_cache() {
    let mut env = Env::new();
    let runs = env.dir.path().join("provider-runs");
    let response = format!(
        r#"{{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Image","auth":{{"{}/acme":{{"username":"{USER}","password":"{PASSWORD}"}}}}}}"#,
        env.host()
    );
    env.script("plugins/acme-provider", &format!("/bin/cat > /dev/null\necho run >> {}\necho '{response}'\n", runs.display()));
    env.script("plugins/stuck-provider", "/bin/sleep 30\n");
    env.script("plugins/noise-provider", "echo garbage\n");
    let host = env.host().to_string();
    let with = |env: &Env, name: &str| {
        let yaml = format!(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: {name}\n    matchImages: [\"{host}\"]\n    defaultCacheDuration: 5m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"
        );
        let cfg = env.file(&format!("kubelet/{name}.yaml"), &yaml);
        format!(
            "sources = [\"kubelet\"]\nkubelet_provider_config = \"{}\"\nkubelet_provider_bin_dir = \"{}\"\nexec_timeout = \"500ms\"",
            cfg.display(),
            env.dir.path().join("plugins").display()
        )
    };
    let auth = with(&env, "acme-provider");
    let v = assert_allow(&env.verify(&auth));
    assert_eq!(v["auth"], "kubelet provider acme-provider", "{v}");
    let auth = with(&env, "stuck-provider");
    assert_deny(&env.verify(&auth), &["stuck-provider", "did not answer within 500 ms"]);
    let auth = with(&env, "noise-provider");
    assert_deny(&env.verify(&auth), &["noise-provider", "not a CredentialProviderResponse"]);
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 1);
    env.assert_no_leak();
}

#[test]
fn environment_credentials_apply_to_vouch_verify_only() {
    let mut env = Env::new();
    let cfg = env.config("sources = [\"static\"]").display().to_string();
    let creds = [("VOUCH_REGISTRY_USERNAME", USER), ("VOUCH_REGISTRY_PASSWORD", PASSWORD)];
    let mut vars = vec![("VOUCH_CONFIG", cfg.as_str())];
    vars.extend(creds);
    let r = run_verifier(&vouch_bin(), &env.name(), &env.image.digest.to_string(), &descriptor_line(&env.image), &vars);
    assert_deny(&r, &["no credential source"]);
    env.runs.push(r);
    let name = format!("{}/acme/app:1.0", env.host());
    let r = run_verifier_raw(&vouch_bin(), &["verify", "--config", &cfg, &name], b"", &creds);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(r.exit_code, Some(0), "{v} {}", r.stderr);
    assert!(v["auth"].as_str().unwrap().contains("VOUCH_REGISTRY_USERNAME"), "{v}");
    env.runs.push(r);
    env.assert_no_leak();
}
