//! containerd's registry host configuration: `<hosts_dir>/<host[:port]>/hosts.toml`, else
//! `<hosts_dir>/_default/hosts.toml`, else the registry itself over HTTPS.
//!
//! Read with the same meaning containerd gives it: `[host."…"]` entries are tried in file
//! order, then `server` (the upstream); `capabilities` limit what each host is asked
//! (`pull`, `resolve`, and `referrers` for the referrers API); requests to a host other than the
//! upstream carry `?ns=<registry>`; `ca`, `client`, `skip_verify`, `header` and `override_path`
//! apply per host; an `http://` URL means plain HTTP.

use crate::RegistryError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What a host may be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Fetch content by digest.
    pub pull: bool,
    /// Resolve a tag to a digest.
    pub resolve: bool,
    /// Answer the OCI referrers API.
    pub referrers: bool,
}

impl Capabilities {
    const ALL: Capabilities = Capabilities { pull: true, resolve: true, referrers: true };
}

/// An operation's need, to filter hosts by capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Fetching by digest.
    Pull,
    /// Resolving a tag.
    Resolve,
    /// The referrers API.
    Referrers,
}

impl Capabilities {
    /// True when the host offers `need`.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Pull => self.pull,
            Need::Resolve => self.resolve,
            Need::Referrers => self.referrers,
        }
    }
}

/// TLS settings of one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// Extra CA bundles (PEM).
    pub ca: Vec<PathBuf>,
    /// Client certificate and key files; the key may sit in the certificate file.
    pub client: Vec<(PathBuf, Option<PathBuf>)>,
    /// Do not verify the server's certificate.
    pub skip_verify: bool,
}

/// One host to try, fully resolved.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `host[:port]`.
    pub authority: String,
    /// API root path, `/v2` unless `override_path`.
    pub api_root: String,
    /// What this host may be asked.
    pub capabilities: Capabilities,
    /// A mirror rather than the upstream: requests carry `?ns=<registry>`.
    pub mirror: bool,
    /// No configuration and a loopback host: plain HTTP after an HTTPS failure, as containerd does.
    pub http_fallback: bool,
    /// TLS settings.
    pub tls: TlsSettings,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHost {
    server: Option<String>,
    capabilities: Option<Vec<String>>,
    ca: Option<toml::Value>,
    client: Option<toml::Value>,
    skip_verify: Option<bool>,
    header: Option<toml::Table>,
    override_path: Option<bool>,
    /// containerd's per-host connect timeout; accepted so a node's files load unchanged (every
    /// request here is bounded by the run's deadline instead).
    #[allow(dead_code)]
    dial_timeout: Option<String>,
    #[serde(default)]
    host: toml::Table,
}

/// The endpoints for `registry`, in the order to try them.
pub fn endpoints(hosts_dir: Option<&Path>, registry: &str, insecure: &[String]) -> Result<Vec<Endpoint>, RegistryError> {
    let upstream = upstream_authority(registry);
    let plain = insecure.iter().any(|h| h == registry);
    if let Some(dir) = hosts_dir {
        for candidate in [dir.join(registry).join("hosts.toml"), dir.join("_default").join("hosts.toml")] {
            if candidate.is_file() {
                return from_file(&candidate, registry, &upstream, plain);
            }
        }
    }
    let scheme = if plain { "http" } else { "https" };
    Ok(vec![Endpoint {
        scheme,
        authority: upstream,
        api_root: "/v2".into(),
        capabilities: Capabilities::ALL,
        mirror: false,
        http_fallback: !plain && is_loopback(registry),
        tls: TlsSettings::default(),
        headers: Vec::new(),
    }])
}

/// Docker Hub's API host.
fn upstream_authority(registry: &str) -> String {
    if registry == "docker.io" { "registry-1.docker.io".to_string() } else { registry.to_string() }
}

/// localhost, 127.0.0.0/8 and ::1, with or without a port.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry.rsplit_once(':').map_or(registry, |(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { registry }),
    };
    host == "localhost" || host == "::1" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

fn from_file(path: &Path, registry: &str, upstream: &str, plain: bool) -> Result<Vec<Endpoint>, RegistryError> {
    let err = |reason: String| RegistryError::HostsToml { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let raw: RawHost = toml::from_str(&text).map_err(|e| err(e.to_string().replace('\n', " ")))?;
    let base = path.parent().unwrap_or(Path::new("/"));
    let mut out = Vec::new();
    for (url, value) in &raw.host {
        let host: RawHost = value.clone().try_into().map_err(|e: toml::de::Error| err(format!("[host.{url:?}]: {e}")))?;
        if host.server.is_some() || !host.host.is_empty() {
            return Err(err(format!("[host.{url:?}] may not set server or nest hosts")));
        }
        let mut ep = endpoint(url, &host, base, false).map_err(|e| err(format!("[host.{url:?}]: {e}")))?;
        ep.mirror = ep.authority != upstream;
        out.push(ep);
    }
    let server = match &raw.server {
        Some(s) => s.clone(),
        None => format!("{}://{upstream}", if plain { "http" } else { "https" }),
    };
    let mut ep = endpoint(&server, &raw, base, true).map_err(|e| err(format!("server: {e}")))?;
    ep.mirror = ep.authority != upstream && registry != "docker.io";
    out.push(ep);
    Ok(out)
}

fn endpoint(url: &str, raw: &RawHost, base: &Path, is_server: bool) -> Result<Endpoint, String> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = url.strip_prefix("http://") {
        ("http", r)
    } else if !url.contains("://") {
        ("https", url)
    } else {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let api_root = if raw.override_path.unwrap_or(false) { path.to_string() } else { format!("{path}/v2") };
    Ok(Endpoint {
        scheme,
        authority: authority.to_string(),
        api_root,
        capabilities: capabilities(raw.capabilities.as_deref(), is_server)?,
        mirror: false,
        http_fallback: false,
        tls: TlsSettings {
            ca: paths(raw.ca.as_ref(), base)?,
            client: clients(raw.client.as_ref(), base)?,
            skip_verify: raw.skip_verify.unwrap_or(false),
        },
        headers: headers(raw.header.as_ref())?,
    })
}

fn capabilities(list: Option<&[String]>, is_server: bool) -> Result<Capabilities, String> {
    let Some(list) = list else {
        // The upstream can do everything; a mirror without a list may pull and resolve, and is
        // asked for referrers too (containerd 2.2 skips it only when a list omits referrers).
        let _ = is_server;
        return Ok(Capabilities::ALL);
    };
    let mut c = Capabilities { pull: false, resolve: false, referrers: false };
    for cap in list {
        match cap.as_str() {
            "pull" => c.pull = true,
            "resolve" => c.resolve = true,
            "referrers" => c.referrers = true,
            "push" => {}
            other => return Err(format!("unknown capability {other:?} (pull, resolve, push, referrers)")),
        }
    }
    Ok(c)
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() { p } else { base.join(p) }
}

fn paths(v: Option<&toml::Value>, base: &Path) -> Result<Vec<PathBuf>, String> {
    match v {
        None => Ok(Vec::new()),
        Some(toml::Value::String(s)) => Ok(vec![resolve(base, s)]),
        Some(toml::Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(|s| resolve(base, s)).ok_or_else(|| "ca entries must be strings".to_string()))
            .collect(),
        Some(_) => Err("ca must be a path or a list of paths".into()),
    }
}

fn clients(v: Option<&toml::Value>, base: &Path) -> Result<Vec<(PathBuf, Option<PathBuf>)>, String> {
    let pair = |v: &toml::Value| -> Result<(PathBuf, Option<PathBuf>), String> {
        match v {
            toml::Value::String(s) => Ok((resolve(base, s), None)),
            toml::Value::Array(a) => match a.as_slice() {
                [toml::Value::String(c), toml::Value::String(k)] => Ok((resolve(base, c), Some(resolve(base, k)))),
                [toml::Value::String(c)] => Ok((resolve(base, c), None)),
                _ => Err("client pairs must be [cert, key]".into()),
            },
            _ => Err("client must be a path, a [cert, key] pair or a list of pairs".into()),
        }
    };
    match v {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(a)) if a.iter().all(|x| x.is_array()) => a.iter().map(pair).collect(),
        Some(other) => Ok(vec![pair(other)?]),
    }
}

fn headers(t: Option<&toml::Table>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (k, v) in t.into_iter().flatten() {
        match v {
            toml::Value::String(s) => out.push((k.clone(), s.clone())),
            toml::Value::Array(a) => {
                for x in a {
                    out.push((k.clone(), x.as_str().ok_or_else(|| format!("header {k} values must be strings"))?.to_string()));
                }
            }
            _ => return Err(format!("header {k} must be a string or a list of strings")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(host: &str, text: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vouch-hosts-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(d.join(host)).unwrap();
        std::fs::write(d.join(host).join("hosts.toml"), text).unwrap();
        d
    }

    #[test]
    fn defaults_without_configuration() {
        let e = endpoints(None, "docker.io", &[]).unwrap();
        assert_eq!((e[0].scheme, e[0].authority.as_str(), e[0].http_fallback), ("https", "registry-1.docker.io", false));
        let e = endpoints(None, "127.0.0.1:5000", &[]).unwrap();
        assert!(e[0].http_fallback);
        let e = endpoints(None, "r.io", &["r.io".to_string()]).unwrap();
        assert_eq!(e[0].scheme, "http");
        assert!(is_loopback("localhost:1") && is_loopback("[::1]:5") && is_loopback("127.3.4.5") && !is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn mirrors_first_then_server() {
        let d = dir_with(
            "r.io",
            r#"server = "https://r.io"
[host."http://mirror.local:5000"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
  [host."http://mirror.local:5000".header]
    x-a = ["1", "2"]
[host."https://m2.local/prefix/v2"]
  override_path = true
  dial_timeout = "3s"
  ca = "ca.pem"
  client = [["c.pem", "k.pem"]]
"#,
        );
        let e = endpoints(Some(&d), "r.io", &[]).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].scheme, e[0].authority.as_str(), e[0].api_root.as_str(), e[0].mirror), ("http", "mirror.local:5000", "/v2", true));
        assert!(!e[0].capabilities.referrers && e[0].capabilities.pull);
        assert_eq!(e[0].headers, vec![("x-a".into(), "1".into()), ("x-a".into(), "2".into())]);
        assert_eq!(e[1].api_root, "/prefix/v2");
        assert_eq!(e[1].tls.ca, vec![d.join("r.io").join("ca.pem")]);
        assert_eq!(e[1].tls.client.len(), 1);
        assert_eq!((e[2].authority.as_str(), e[2].mirror), ("r.io", false));
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn invalid_files_name_the_file() {
        let d = dir_with("bad.io", "server = 3\n");
        let e = endpoints(Some(&d), "bad.io", &[]).unwrap_err();
        assert!(matches!(e, RegistryError::HostsToml { ref path, .. } if path.ends_with("bad.io/hosts.toml")), "{e}");
        std::fs::remove_dir_all(d).ok();
    }
}
