//! Credentials and auth flows against Debian's docker-registry: htpasswd (Basic), token auth
//! with a loopback issuer (Basic credentials, refresh tokens), TLS with a CA from hosts.toml,
//! client certificates, a mirror that is down, and credential programs written for the tests.
//! Content is pushed anonymously to one registry and served by a second one on the same
//! storage with authentication or TLS switched on.

use base64::Engine as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vouch_core::{Deadline, ImageRef};
use vouch_registry::auth::{AuthConfig, SourceKind, StaticCredential};
use vouch_registry::{Client, RegistryError, RegistryOptions};
use vouch_testkit::auth::{htpasswd_auth, TlsFiles, TokenIssuer};
use vouch_testkit::registry::{unique_dir, TestRegistry};
use vouch_testkit::signer::push_demo_image;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Pa55-for-tests";

/// A temporary directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = unique_dir(tag);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An image pushed to a plain registry, served again by a second one configured with `extra`.
struct Served {
    _plain: TestRegistry,
    guarded: TestRegistry,
    dir: Dir,
}

impl Served {
    fn new(extra: impl FnOnce(&Path) -> String) -> Served {
        let plain = TestRegistry::start().expect("start docker-registry");
        push_demo_image(plain.host(), "team/app", "1.0").unwrap();
        let dir = Dir::new("authreg");
        let guarded = TestRegistry::start_sharing(&plain, &extra(&dir.0)).unwrap();
        Served { _plain: plain, guarded, dir }
    }

    fn host(&self) -> &str {
        self.guarded.host()
    }

    fn image(&self) -> ImageRef {
        ImageRef::parse(&format!("{}/team/app:1.0", self.host())).unwrap()
    }

    /// hosts.toml for the guarded registry with `text`; returns the hosts dir.
    fn hosts(&self, text: &str) -> PathBuf {
        let d = self.dir.0.join("certs.d");
        std::fs::create_dir_all(d.join(self.host())).unwrap();
        std::fs::write(d.join(self.host()).join("hosts.toml"), text).unwrap();
        d
    }

    fn plain_hosts(&self) -> PathBuf {
        self.hosts(&format!("server = \"http://{}\"\n", self.host()))
    }

    fn resolve(&self, hosts_dir: PathBuf, auth: AuthConfig) -> (Client, Result<vouch_core::Descriptor, RegistryError>) {
        let client = Client::new(RegistryOptions { hosts_dir: Some(hosts_dir), auth, ..RegistryOptions::default() });
        let r = client.resolve(&self.image(), &Deadline::after(Duration::from_secs(8)));
        (client, r)
    }
}

/// An auth configuration with no source but those set here.
fn nothing() -> AuthConfig {
    AuthConfig { docker_config: None, containers_auth: None, ..AuthConfig::default() }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn docker_config(dir: &Path, json: &str) -> AuthConfig {
    let p = dir.join("docker-config.json");
    std::fs::write(&p, json).unwrap();
    AuthConfig { docker_config: Some(p), ..nothing() }
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn htpasswd(dir: &Path) -> String {
    htpasswd_auth(dir, &[(USER, PASSWORD)]).unwrap()
}

#[test]
fn basic_auth_with_docker_config_entries() {
    let s = Served::new(htpasswd);
    let hosts = s.plain_hosts();
    let good = docker_config(&s.dir.0, &format!(r#"{{"auths":{{"http://{}/v1/":{{"auth":"{}"}}}}}}"#, s.host(), b64(&format!("{USER}:{PASSWORD}"))));
    let (client, r) = s.resolve(hosts.clone(), good);
    r.expect("resolve with the docker config credential");
    assert_eq!(client.auth_sources().len(), 1);
    assert!(client.auth_sources()[0].starts_with("docker config "), "{:?}", client.auth_sources());

    let wrong = docker_config(&s.dir.0, &format!(r#"{{"auths":{{"{}":{{"username":"{USER}","password":"nope"}}}}}}"#, s.host()));
    let e = s.resolve(hosts.clone(), wrong).1.unwrap_err().to_string();
    assert!(e.contains(s.host()) && e.contains("team/app") && e.contains("docker config") && e.contains("refused"), "{e}");
    assert!(!e.contains("nope"), "{e}");

    let e = s.resolve(hosts, nothing()).1.unwrap_err().to_string();
    assert!(e.contains("no credential source"), "{e}");
}

#[test]
fn static_credentials_and_source_order() {
    let s = Served::new(htpasswd);
    let hosts = s.plain_hosts();
    let pw = s.dir.0.join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let statics = vec![StaticCredential { registry: s.host().to_string(), username: USER.into(), password_file: pw }];
    let (client, r) = s.resolve(hosts.clone(), AuthConfig { statics: statics.clone(), ..nothing() });
    r.unwrap();
    assert!(client.auth_sources()[0].starts_with("static credential"), "{:?}", client.auth_sources());

    // A wrong docker entry earlier in the order is reported, not skipped over.
    let wrong = docker_config(&s.dir.0, &format!(r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#, s.host(), b64("alice:bad")));
    let e = s.resolve(hosts.clone(), AuthConfig { statics: statics.clone(), ..wrong.clone() }).1.unwrap_err().to_string();
    assert!(e.contains("docker config"), "{e}");
    let order = AuthConfig { sources: vec![SourceKind::Static, SourceKind::Docker], statics, ..wrong };
    s.resolve(hosts, order).1.unwrap();
}

#[test]
fn containers_auth_longest_prefix() {
    let s = Served::new(htpasswd);
    let hosts = s.plain_hosts();
    let p = s.dir.0.join("auth.json");
    let json = format!(
        r#"{{"auths":{{"{h}":{{"auth":"{bad}"}},"{h}/team":{{"auth":"{good}"}},"{h}/team/other":{{"auth":"{bad}"}}}}}}"#,
        h = s.host(),
        bad = b64("alice:wrong"),
        good = b64(&format!("{USER}:{PASSWORD}"))
    );
    std::fs::write(&p, json).unwrap();
    let (client, r) = s.resolve(hosts, AuthConfig { containers_auth: Some(p), ..nothing() });
    r.unwrap();
    assert!(client.auth_sources()[0].contains(&format!("entry {}/team", s.host())), "{:?}", client.auth_sources());
}

#[test]
fn token_auth_with_basic_credentials_reuses_the_token() {
    let tmp = Dir::new("issuer");
    let issuer = TokenIssuer::start(&tmp.0, &[(USER, PASSWORD)]).unwrap();
    let s = Served::new(|_| issuer.registry_yaml());
    let hosts = s.plain_hosts();
    let cfg = docker_config(&s.dir.0, &format!(r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#, s.host(), b64(&format!("{USER}:{PASSWORD}"))));
    let client = Client::new(RegistryOptions { hosts_dir: Some(hosts.clone()), auth: cfg, ..RegistryOptions::default() });
    let deadline = Deadline::after(Duration::from_secs(8));
    let image = s.image();
    let desc = client.resolve(&image, &deadline).expect("resolve through token auth");
    client.fetch_manifest(&image, &desc, &deadline).unwrap();
    client.resolve(&image, &deadline).unwrap();
    let log = issuer.log().requests;
    assert_eq!(log.iter().filter(|r| *r == "GET alice").count(), 1, "one token for the run: {log:?}");

    // Anonymous access gets a token without access: a clear deny naming the missing credential.
    let e = s.resolve(hosts.clone(), nothing()).1.unwrap_err().to_string();
    assert!(e.contains("no credential source") && e.contains("team/app"), "{e}");

    // A wrong password is refused by the token endpoint.
    let wrong = docker_config(&s.dir.0, &format!(r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#, s.host(), b64("alice:wrong")));
    let e = s.resolve(hosts, wrong).1.unwrap_err().to_string();
    assert!(e.contains("token endpoint") && e.contains("docker config") && e.contains("401"), "{e}");
}

#[test]
fn identity_tokens_use_the_refresh_grant_then_get() {
    let tmp = Dir::new("issuer");
    let issuer = TokenIssuer::start(&tmp.0, &[(USER, PASSWORD)]).unwrap();
    issuer.add_refresh_token("refresh-XYZ-123", USER);
    let s = Served::new(|_| issuer.registry_yaml());
    let hosts = s.plain_hosts();
    let cfg = docker_config(&s.dir.0, &format!(r#"{{"auths":{{"{}":{{"auth":"{}","identitytoken":"refresh-XYZ-123"}}}}}}"#, s.host(), b64(&format!("{USER}:"))));
    s.resolve(hosts.clone(), cfg.clone()).1.expect("refresh-token grant");
    assert_eq!(issuer.log().requests, ["POST refresh"]);

    issuer.refuse_post();
    s.resolve(hosts, cfg).1.expect("GET fallback after 404");
    assert_eq!(issuer.log().requests[1..], ["POST refresh".to_string(), "GET alice".to_string()]);
}

#[test]
fn tls_with_a_ca_from_hosts_toml_and_client_certificates() {
    let tmp = Dir::new("tls");
    let tls = TlsFiles::generate(&tmp.0).unwrap();
    let s = Served::new(|_| tls.registry_http_yaml(false));
    let ok = s.hosts(&format!("server = \"https://{}\"\nca = \"{}\"\n", s.host(), tls.ca.display()));
    s.resolve(ok, nothing()).1.expect("TLS with the hosts.toml CA");
    let no_ca = s.hosts(&format!("server = \"https://{}\"\n", s.host()));
    let e = s.resolve(no_ca, nothing()).1.unwrap_err();
    assert!(matches!(e, RegistryError::Tls { .. } | RegistryError::Unreachable { .. }), "{e}");

    let m = Served::new(|_| tls.registry_http_yaml(true));
    let with_client = m.hosts(&format!(
        "server = \"https://{}\"\nca = \"{}\"\nclient = [[\"{}\", \"{}\"]]\n",
        m.host(),
        tls.ca.display(),
        tls.client_cert.display(),
        tls.client_key.display()
    ));
    m.resolve(with_client, nothing()).1.expect("mTLS with the hosts.toml client pair");
    let without = m.hosts(&format!("server = \"https://{}\"\nca = \"{}\"\n", m.host(), tls.ca.display()));
    assert!(m.resolve(without, nothing()).1.is_err());
}

#[test]
fn a_mirror_that_is_down_falls_through_to_the_upstream() {
    let s = Served::new(htpasswd);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let hosts = s.hosts(&format!("server = \"http://{}\"\n[host.\"http://127.0.0.1:{dead}\"]\n  capabilities = [\"pull\", \"resolve\"]\n", s.host()));
    let pw = s.dir.0.join("pw");
    std::fs::write(&pw, PASSWORD).unwrap();
    let statics = vec![StaticCredential { registry: s.host().to_string(), username: USER.into(), password_file: pw }];
    s.resolve(hosts, AuthConfig { statics, ..nothing() }).1.expect("upstream after the dead mirror");
}

#[test]
fn docker_credential_helpers() {
    let s = Served::new(htpasswd);
    let hosts = s.plain_hosts();
    let bin = s.dir.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let seen = s.dir.0.join("helper-stdin");
    script(
        &bin,
        "docker-credential-vtest",
        &format!("[ \"$1\" = get ] || exit 3\nread -r url\necho \"$url\" > {}\necho '{{\"ServerURL\":\"'$url'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n", seen.display()),
    );
    script(&bin, "docker-credential-none", "echo 'credentials not found in native keychain'\nexit 1\n");
    script(&bin, "docker-credential-hang", "/bin/sleep 30\n");
    script(&bin, "docker-credential-junk", "echo 'this is not json'\n");
    let helper = |name: &str, store: bool| {
        let json = if store {
            format!(r#"{{"credsStore":"{name}","auths":{{"{}":{{"auth":"{}"}}}}}}"#, s.host(), b64("alice:wrong"))
        } else {
            format!(r#"{{"credHelpers":{{"{}":"{name}"}},"credsStore":"junk"}}"#, s.host())
        };
        AuthConfig { helper_dirs: vec![bin.clone()], exec_timeout: Duration::from_millis(400), ..docker_config(&s.dir.0, &json) }
    };
    let (client, r) = s.resolve(hosts.clone(), helper("vtest", false));
    r.expect("credHelpers entry");
    assert!(client.auth_sources()[0].contains("docker-credential-vtest"), "{:?}", client.auth_sources());
    assert_eq!(std::fs::read_to_string(&seen).unwrap().trim(), s.host());
    s.resolve(hosts.clone(), helper("vtest", true)).1.expect("credsStore takes precedence over auths");

    let e = s.resolve(hosts.clone(), helper("none", false)).1.unwrap_err().to_string();
    assert!(e.contains("no credential source"), "{e}");
    let started = std::time::Instant::now();
    let e = s.resolve(hosts.clone(), helper("hang", false)).1.unwrap_err().to_string();
    assert!(e.contains("docker-credential-hang") && e.contains("did not answer within 400 ms"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let e = s.resolve(hosts.clone(), helper("junk", false)).1.unwrap_err().to_string();
    assert!(e.contains("docker-credential-junk") && e.contains("not the credential helper JSON"), "{e}");
    let e = s.resolve(hosts, helper("absent", false)).1.unwrap_err().to_string();
    assert!(e.contains("docker-credential-absent") && e.contains("helper_dirs"), "{e}");
}

fn provider_config(dir: &Path, host: &str, name: &str) -> PathBuf {
    let glob = host.replace("127.0.0.1", "127.0.*.1");
    let p = dir.join(format!("providers-{name}.yaml"));
    std::fs::write(
        &p,
        format!(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: {name}\n    matchImages:\n      - \"{glob}\"\n    defaultCacheDuration: \"10m\"\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n    args: [get-credentials]\n    env:\n      - name: PROVIDER_MODE\n        value: test\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn kubelet_credential_providers() {
    let s = Served::new(htpasswd);
    let hosts = s.plain_hosts();
    let bin = s.dir.0.join("plugins");
    std::fs::create_dir_all(&bin).unwrap();
    let count = s.dir.0.join("provider-runs");
    let request = s.dir.0.join("provider-request");
    script(
        &bin,
        "test-provider",
        &format!(
            "[ \"$1\" = get-credentials ] && [ \"$PROVIDER_MODE\" = test ] || exit 3\n/bin/cat > {req}\necho run >> {count}\necho '{{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"Registry\",\"cacheDuration\":\"1h\",\"auth\":{{\"{host}\":{{\"username\":\"{USER}\",\"password\":\"{PASSWORD}\"}}}}}}'\n",
            req = request.display(),
            count = count.display(),
            host = s.host()
        ),
    );
    script(&bin, "hang-provider", "/bin/sleep 30\n");
    script(&bin, "junk-provider", "echo '{\"kind\":\"Something\"}'\n");
    let cache = s.dir.0.join("cache");
    let cfg = |name: &str| AuthConfig {
        kubelet_provider_config: Some(provider_config(&s.dir.0, s.host(), name)),
        kubelet_provider_bin_dir: Some(bin.clone()),
        cache_dir: Some(cache.clone()),
        exec_timeout: Duration::from_millis(400),
        ..nothing()
    };
    let (client, r) = s.resolve(hosts.clone(), cfg("test-provider"));
    r.expect("credentials from the provider plugin");
    assert_eq!(client.auth_sources(), ["kubelet provider test-provider"]);
    let req: serde_json::Value = serde_json::from_slice(&std::fs::read(&request).unwrap()).unwrap();
    assert_eq!(req["kind"], "CredentialProviderRequest");
    assert_eq!(req["apiVersion"], "credentialprovider.kubelet.k8s.io/v1");
    assert_eq!(req["image"], format!("{}/team/app", s.host()));

    // The second run is answered from the on-disk cache.
    s.resolve(hosts.clone(), cfg("test-provider")).1.unwrap();
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1);
    let dir = cache.join("kubelet-providers").join("test-provider");
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    for f in std::fs::read_dir(&dir).unwrap() {
        assert_eq!(f.unwrap().metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }

    let e = s.resolve(hosts.clone(), cfg("hang-provider")).1.unwrap_err().to_string();
    assert!(e.contains("hang-provider") && e.contains("did not answer within 400 ms"), "{e}");
    let e = s.resolve(hosts, cfg("junk-provider")).1.unwrap_err().to_string();
    assert!(e.contains("junk-provider") && e.contains("not a CredentialProviderResponse"), "{e}");
}

/// A Bearer token outlives the process in the cache (mode 0600): a second client — a second
/// vouch process — sharing the cache directory asks the token endpoint nothing, and the file
/// holds the token, never the password.
#[test]
fn bearer_tokens_are_reused_across_processes_through_the_cache() {
    let tmp = Dir::new("issuer-cache");
    let issuer = TokenIssuer::start(&tmp.0, &[(USER, PASSWORD)]).unwrap();
    let s = Served::new(|_| issuer.registry_yaml());
    let hosts = s.plain_hosts();
    let cfg = docker_config(&s.dir.0, &format!(r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#, s.host(), b64(&format!("{USER}:{PASSWORD}"))));
    let cache_dir = tmp.0.join("cache");
    let deadline = Deadline::after(Duration::from_secs(8));
    for _ in 0..2 {
        let cache = std::sync::Arc::new(vouch_cache::Cache::open(&cache_dir, 1 << 20).unwrap());
        let client = Client::new(RegistryOptions { hosts_dir: Some(hosts.clone()), auth: cfg.clone(), ..RegistryOptions::default() })
            .with_cache(cache, Duration::from_secs(60));
        client.resolve(&s.image(), &deadline).expect("resolve through token auth");
    }
    let log = issuer.log().requests;
    assert_eq!(log.iter().filter(|r| *r == "GET alice").count(), 1, "one token for both processes: {log:?}");
    let tokens: Vec<PathBuf> = std::fs::read_dir(cache_dir.join("tokens")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(std::fs::metadata(&tokens[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let bytes = std::fs::read(&tokens[0]).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("Bearer "), "the file holds the token");
    assert!(!text.contains(PASSWORD) && !text.contains(&b64(&format!("{USER}:{PASSWORD}"))), "the password reached the cache");
}
