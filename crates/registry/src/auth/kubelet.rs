//! kubelet image credential provider plugins, driven by the node's own
//! `CredentialProviderConfig` and plugin directory: a provider whose `matchImages` match the
//! image is run as `<bin_dir>/<name> <args…>` with `env` added, gets a
//! `CredentialProviderRequest` on stdin and answers a `CredentialProviderResponse`. Answers are
//! cached on disk under `cache_dir` (directory 0700, files 0600) by `cacheKeyType` for
//! `cacheDuration` (else the provider's `defaultCacheDuration`).

use super::exec::{self, ExecFailure};
use super::helper::JsonErrorKind;
use super::{AuthError, Credential, LookupCtx, Secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CONFIG_KIND: &str = "CredentialProviderConfig";
const CONFIG_VERSIONS: &[&str] = &["kubelet.config.k8s.io/v1", "kubelet.config.k8s.io/v1beta1", "kubelet.config.k8s.io/v1alpha1"];
const PLUGIN_VERSIONS: &[&str] = &["credentialprovider.kubelet.k8s.io/v1", "credentialprovider.kubelet.k8s.io/v1beta1", "credentialprovider.kubelet.k8s.io/v1alpha1"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderConfig {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    providers: Vec<Provider>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Provider {
    name: String,
    #[serde(default)]
    match_images: Vec<String>,
    default_cache_duration: Option<String>,
    api_version: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<EnvVar>,
}

#[derive(Deserialize)]
struct EnvVar {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    api_version: &'a str,
    kind: &'static str,
    image: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    api_version: String,
    kind: String,
    cache_key_type: String,
    cache_duration: Option<String>,
    #[serde(default)]
    auth: BTreeMap<String, AuthConfig>,
}

#[derive(Deserialize, Serialize, Clone)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// What the disk cache keeps for one answer.
#[derive(Deserialize, Serialize)]
struct Cached {
    expires_unix: u64,
    auth: BTreeMap<String, AuthConfig>,
}

/// The credential the first matching provider gives for `repository` on `host`.
pub fn lookup(ctx: &LookupCtx<'_>, host: &str, repository: &str) -> Result<Option<Credential>, AuthError> {
    let Some(path) = ctx.config.kubelet_provider_config.as_deref() else { return Ok(None) };
    let Some(config) = read_config(path)? else { return Ok(None) };
    let image = format!("{host}/{repository}");
    for provider in config.providers.iter().filter(|p| p.match_images.iter().any(|g| urls_match(g, &image))) {
        let bin_dir = ctx.config.kubelet_provider_bin_dir.as_deref().ok_or_else(|| AuthError::File {
            path: path.display().to_string(),
            reason: "set [auth] kubelet_provider_bin_dir to the kubelet's --image-credential-provider-bin-dir".into(),
        })?;
        let auth = match cached(ctx, provider, &image) {
            Some(a) => a,
            None => run_provider(ctx, provider, bin_dir, &image)?,
        };
        if let Some(c) = pick(&auth, &image, &provider.name) {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn read_config(path: &Path) -> Result<Option<ProviderConfig>, AuthError> {
    let err = |reason: String| AuthError::File { path: path.display().to_string(), reason };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(format!("cannot read it: {e}"))),
    };
    let config: ProviderConfig =
        serde_norway::from_str(&text).map_err(|e| err(format!("not a CredentialProviderConfig: {}", one_line(&e.to_string()))))?;
    if config.kind.as_deref() != Some(CONFIG_KIND) || !config.api_version.as_deref().is_some_and(|v| CONFIG_VERSIONS.contains(&v)) {
        return Err(err(format!("expected kind {CONFIG_KIND} with apiVersion {}", CONFIG_VERSIONS.join(" or "))));
    }
    for p in &config.providers {
        validate(p).map_err(|r| err(format!("provider {:?}: {r}", p.name)))?;
    }
    Ok(Some(config))
}

fn validate(p: &Provider) -> Result<(), String> {
    if p.name.is_empty() || p.name.contains('/') || p.name == "." || p.name == ".." {
        return Err("name must be a file name in the plugin directory".into());
    }
    if !PLUGIN_VERSIONS.contains(&p.api_version.as_str()) {
        return Err(format!("apiVersion {:?} is not one of {}", p.api_version, PLUGIN_VERSIONS.join(", ")));
    }
    if p.match_images.is_empty() {
        return Err("matchImages is empty".into());
    }
    if let Some(d) = &p.default_cache_duration {
        parse_go_duration(d).ok_or_else(|| format!("defaultCacheDuration {d:?} is not a duration like \"12h\""))?;
    }
    Ok(())
}

fn run_provider(ctx: &LookupCtx<'_>, p: &Provider, bin_dir: &Path, image: &str) -> Result<BTreeMap<String, AuthConfig>, AuthError> {
    let program = bin_dir.join(&p.name);
    let shown = format!("kubelet credential provider {}", program.display());
    let limit = ctx.exec_limit(&shown)?;
    let request = serde_json::to_vec(&Request { api_version: &p.api_version, kind: "CredentialProviderRequest", image }).unwrap_or_default();
    let env: Vec<(String, String)> = p.env.iter().map(|e| (e.name.clone(), e.value.clone())).collect();
    let out = match exec::run(&program, &p.args, &env, &request, limit) {
        Ok(o) => o,
        Err(ExecFailure::Timeout) => return Err(AuthError::Timeout { program: shown, millis: limit.as_millis() }),
        Err(ExecFailure::Spawn(e)) => return Err(AuthError::Exec { program: shown, reason: format!("cannot start it: {e}") }),
    };
    if !out.status.success() {
        let said = exec::first_line(&out.stderr);
        return Err(AuthError::Exec { program: shown, reason: format!("exited with {} ({said})", out.status) });
    }
    let bad = |reason: String| AuthError::BadAnswer { program: shown.clone(), expected: "a CredentialProviderResponse".into(), reason };
    let answer = read_response(&out.stdout, &p.api_version, image, p.default_cache_duration.as_deref()).map_err(bad)?;
    store(ctx, p, &answer.cache_key, answer.duration, &answer.auth);
    Ok(answer.auth)
}

/// A provider's answer, checked.
struct ProviderAnswer {
    cache_key: String,
    duration: Duration,
    auth: BTreeMap<String, AuthConfig>,
}

fn read_response(stdout: &[u8], api_version: &str, image: &str, default_duration: Option<&str>) -> Result<ProviderAnswer, String> {
    let resp: Response = serde_json::from_slice(stdout).map_err(|e| format!("{} bytes, {}", stdout.len(), e.classify_name()))?;
    if resp.kind != "CredentialProviderResponse" || resp.api_version != api_version {
        return Err(format!("kind {:?} apiVersion {:?}, expected {api_version:?}", resp.kind, resp.api_version));
    }
    let cache_key = cache_key(&resp.cache_key_type, image).ok_or_else(|| format!("cacheKeyType {:?} is not Image, Registry or Global", resp.cache_key_type))?;
    let duration = match resp.cache_duration.as_deref().or(default_duration) {
        Some(d) => parse_go_duration(d).ok_or_else(|| format!("cacheDuration {d:?} is not a duration"))?,
        None => Duration::ZERO,
    };
    Ok(ProviderAnswer { cache_key, duration, auth: resp.auth })
}

/// Checks a kubelet credential provider's `CredentialProviderResponse` for `image` as a lookup
/// does, and returns the registry patterns it has credentials for (never the credentials).
/// Public so that fuzzing and tests reach the exact parsing a lookup uses.
pub fn check_provider_response(stdout: &[u8], api_version: &str, image: &str) -> Result<Vec<String>, String> {
    let answer = read_response(stdout, api_version, image, None)?;
    let _ = pick(&answer.auth, image, "fuzz");
    Ok(answer.auth.into_keys().collect())
}

/// The cache key for a `cacheKeyType`: the image, its registry, or one global key.
fn cache_key(kind: &str, image: &str) -> Option<String> {
    match kind {
        "Image" => Some(format!("image:{image}")),
        "Registry" => Some(format!("registry:{}", image.split('/').next().unwrap_or(""))),
        "Global" => Some("global".into()),
        _ => None,
    }
}

/// The credential for `image` from an answer's `auth` map: matching keys, most specific first.
fn pick(auth: &BTreeMap<String, AuthConfig>, image: &str, provider: &str) -> Option<Credential> {
    let (_, a) = auth.iter().rev().find(|(k, a)| urls_match(k, image) && !(a.username.is_empty() && a.password.is_empty()))?;
    let secret = Secret::Basic { username: a.username.clone(), password: a.password.clone() };
    Some(Credential { secret, source: format!("kubelet provider {provider}") })
}

fn cache_dir(ctx: &LookupCtx<'_>, p: &Provider) -> Option<PathBuf> {
    Some(ctx.config.cache_dir.as_ref()?.join("kubelet-providers").join(&p.name))
}

fn cache_file(dir: &Path, key: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let h: String = Sha256::digest(key.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{h}.json"))
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A cached answer for `image` under any key type, when still fresh.
fn cached(ctx: &LookupCtx<'_>, p: &Provider, image: &str) -> Option<BTreeMap<String, AuthConfig>> {
    let dir = cache_dir(ctx, p)?;
    ["Image", "Registry", "Global"].iter().filter_map(|k| cache_key(k, image)).find_map(|key| {
        let bytes = std::fs::read(cache_file(&dir, &key)).ok()?;
        let entry: Cached = serde_json::from_slice(&bytes).ok()?;
        (entry.expires_unix > now_unix()).then(|| {
            log::debug!("auth: kubelet provider {} answer from the cache", p.name);
            entry.auth
        })
    })
}

fn store(ctx: &LookupCtx<'_>, p: &Provider, key: &str, duration: Duration, auth: &BTreeMap<String, AuthConfig>) {
    let Some(dir) = cache_dir(ctx, p).filter(|_| !duration.is_zero()) else { return };
    let entry = Cached { expires_unix: now_unix() + duration.as_secs(), auth: auth.clone() };
    if let Err(e) = write_private(&dir, &cache_file(&dir, key), &serde_json::to_vec(&entry).unwrap_or_default()) {
        log::warn!("auth: cannot cache the answer of kubelet provider {} in {}: {e}", p.name, dir.display());
    }
}

/// Writes `bytes` to `path` with mode 0600 in a directory of mode 0700, atomically.
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// kubelet's `matchImages` rule: the same number of DNS labels, each glob-matched; ports
/// equal; the image's path starts with the pattern's path.
pub fn urls_match(glob: &str, target: &str) -> bool {
    let (g_host, g_port, g_path) = split_url(glob);
    let (t_host, t_port, t_path) = split_url(target);
    if g_port != t_port || !t_path.starts_with(g_path) {
        return false;
    }
    let g_labels: Vec<&str> = g_host.split('.').collect();
    let t_labels: Vec<&str> = t_host.split('.').collect();
    g_labels.len() == t_labels.len() && g_labels.iter().zip(&t_labels).all(|(g, t)| glob_match(g.as_bytes(), t.as_bytes()))
}

/// `(host, port, path)` of a URL with or without a scheme.
fn split_url(s: &str) -> (&str, &str, &str) {
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match authority.rsplit_once(':') {
        Some((h, p)) => (h, p, path),
        None => (authority, "", path),
    }
}

/// A shell glob over one label: `*`, `?`, `[…]` classes (with `^` negation and ranges), `\` escapes.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob_match(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob_match(&p[1..], &s[1..]),
        Some(b'[') => match (s.first(), class(&p[1..])) {
            (Some(c), Some((matches, rest))) => matches(*c) && glob_match(rest, &s[1..]),
            _ => false,
        },
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob_match(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob_match(&p[1..], &s[1..]),
    }
}

/// Parses a class body after `[`; returns its predicate and the pattern after `]`.
fn class(p: &[u8]) -> Option<(impl Fn(u8) -> bool, &[u8])> {
    let (negate, body) = match p.first() {
        Some(b'^') => (true, &p[1..]),
        _ => (false, p),
    };
    let end = body.iter().position(|b| *b == b']').filter(|i| *i > 0)?;
    let mut ranges = Vec::new();
    let items = &body[..end];
    let mut i = 0;
    while i < items.len() {
        if i + 2 < items.len() && items[i + 1] == b'-' {
            ranges.push((items[i], items[i + 2]));
            i += 3;
        } else {
            ranges.push((items[i], items[i]));
            i += 1;
        }
    }
    Some((move |c: u8| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != negate, &body[end + 1..]))
}

/// Go duration syntax (`"12h"`, `"1h30m"`), as the kubelet reads `cacheDuration`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    vouch_core::go_duration::parse(s)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_images_as_the_kubelet() {
        assert!(urls_match("*.dkr.ecr.*.amazonaws.com", "123.dkr.ecr.us-east-1.amazonaws.com/app"));
        assert!(!urls_match("*.dkr.ecr.*.amazonaws.com", "a.b.dkr.ecr.us-east-1.amazonaws.com/app"));
        assert!(urls_match("*.azurecr.io", "acme.azurecr.io/x/y"));
        assert!(!urls_match("*.azurecr.io", "azurecr.io/x"));
        assert!(urls_match("registry.io:5000", "registry.io:5000/a"));
        assert!(!urls_match("registry.io:5000", "registry.io/a"));
        assert!(!urls_match("registry.io", "registry.io:5000/a"));
        assert!(urls_match("registry.io/team", "registry.io/team/app"));
        assert!(urls_match("registry.io/team", "registry.io/teamx/app"));
        assert!(!urls_match("registry.io/team", "registry.io/other"));
        assert!(urls_match("https://127.0.0.1:*", "127.0.0.1:*/a") );
        assert!(urls_match("gcr.io", "gcr.io/p/i"));
        assert!(urls_match("[a-c]?.io", "bz.io"));
        assert!(!urls_match("[^a-c]?.io", "bz.io"));
        assert!(urls_match("127.0.0.*:5000", "127.0.0.1:5000/a"));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("12h"), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("soon"), None);
        assert_eq!(parse_go_duration("5"), None);
    }

    #[test]
    fn config_yaml_and_json() {
        let yaml = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: ecr-credential-provider\n    matchImages: [\"*.dkr.ecr.*.amazonaws.com\"]\n    defaultCacheDuration: 12h\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n    args: [get-credentials]\n    env:\n      - name: AWS_PROFILE\n        value: node\n";
        let c: ProviderConfig = serde_norway::from_str(yaml).unwrap();
        assert_eq!(c.providers[0].args, ["get-credentials"]);
        assert!(validate(&c.providers[0]).is_ok());
        let json = r#"{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig","providers":[{"name":"p","matchImages":["x.io"],"apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1"}]}"#;
        let c: ProviderConfig = serde_norway::from_str(json).unwrap();
        assert_eq!(c.providers[0].name, "p");
    }
}
