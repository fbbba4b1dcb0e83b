//! Debian's `docker-registry` (distribution 2.x) on a free loopback port with its own storage,
//! plus plain-HTTP push helpers.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vouch_core::{Descriptor, Digest};

/// Where Debian installs the registry.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running registry; killed and its storage removed on drop.
pub struct TestRegistry {
    child: Child,
    host: String,
    dir: PathBuf,
    storage: PathBuf,
}

impl TestRegistry {
    /// Starts a registry without authentication.
    pub fn start() -> Result<TestRegistry> {
        TestRegistry::start_with("")
    }

    /// Starts a registry whose config gets `extra` YAML appended (e.g. an `auth:` section).
    pub fn start_with(extra: &str) -> Result<TestRegistry> {
        let dir = unique_dir("registry");
        let reg = TestRegistry::launch(dir.join("storage"), dir, extra)?;
        reg.wait_ready()?;
        Ok(reg)
    }

    /// Starts a second registry serving `shared`'s storage, with `extra` YAML appended right
    /// after `http.addr` (so lines indented by two spaces, such as `  tls:`, extend the `http`
    /// section). Content pushed anonymously to `shared` is then served by this one, with
    /// whatever authentication or TLS `extra` sets up. Ready once it accepts connections.
    pub fn start_sharing(shared: &TestRegistry, extra: &str) -> Result<TestRegistry> {
        let reg = TestRegistry::launch(shared.storage.clone(), unique_dir("registry"), extra)?;
        crate::auth::wait_listening(&reg.host)?;
        Ok(reg)
    }

    fn launch(storage: PathBuf, dir: PathBuf, extra: &str) -> Result<TestRegistry> {
        if !Path::new(REGISTRY_BIN).exists() {
            bail!("{REGISTRY_BIN} is missing: install Debian's docker-registry package (scripts/test does)");
        }
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(&storage)?;
        let port = free_port()?;
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{extra}",
            storage.display()
        );
        std::fs::write(dir.join("config.yml"), config)?;
        let log = std::fs::File::create(dir.join("registry.log"))?;
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry")?;
        Ok(TestRegistry { child, host, dir, storage })
    }

    fn wait_ready(&self) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if std::net::TcpStream::connect(&self.host).is_ok() {
                match ureq::get(&format!("http://{}/v2/", self.host)).timeout(Duration::from_secs(2)).call() {
                    Ok(_) | Err(ureq::Error::Status(401, _)) => return Ok(()),
                    Err(_) => {}
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default();
        bail!("docker-registry on {} did not become ready: {log}", self.host)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The registry's log (access log included), for counting requests.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// Pushes a blob.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> Result<Descriptor> {
        push_blob(&self.host, repo, bytes)
    }

    /// Pushes a manifest under `reference` (a tag or its digest).
    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        push_manifest(&self.host, repo, reference, media_type, bytes)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A new, empty temporary directory path.
pub fn unique_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("vouch-{tag}-{}-{n}", std::process::id()))
}

/// Pushes a blob (monolithic upload) over plain HTTP.
pub fn push_blob(host: &str, repo: &str, bytes: &[u8]) -> Result<Descriptor> {
    let digest = Digest::sha256_of(bytes);
    let head = ureq::head(&format!("http://{host}/v2/{repo}/blobs/{digest}")).call();
    if head.is_ok() {
        return Ok(Descriptor::new("application/octet-stream", digest, bytes.len() as u64));
    }
    let start = ureq::post(&format!("http://{host}/v2/{repo}/blobs/uploads/")).call().context("starting a blob upload")?;
    let location = start.header("location").context("upload without Location")?.to_string();
    let url = if location.starts_with("http") { location } else { format!("http://{host}{location}") };
    let sep = if url.contains('?') { '&' } else { '?' };
    ureq::put(&format!("{url}{sep}digest={digest}"))
        .set("Content-Type", "application/octet-stream")
        .send_bytes(bytes)
        .with_context(|| format!("uploading blob {digest}"))?;
    Ok(Descriptor::new("application/octet-stream", digest, bytes.len() as u64))
}

/// Pushes a manifest over plain HTTP and returns its descriptor.
pub fn push_manifest(host: &str, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
    ureq::put(&format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .set("Content-Type", media_type)
        .send_bytes(bytes)
        .map_err(|e| match e {
            ureq::Error::Status(code, r) => {
                let mut body = String::new();
                let _ = r.into_reader().take(4096).read_to_string(&mut body);
                anyhow::anyhow!("pushing manifest {repo}:{reference}: HTTP {code}: {body}")
            }
            other => anyhow::anyhow!("pushing manifest {repo}:{reference}: {other}"),
        })?;
    Ok(Descriptor::new(media_type, Digest::sha256_of(bytes), bytes.len() as u64))
}

/// Fetches a manifest (for tests and tools), returning its bytes and media type.
pub fn get_manifest(host: &str, repo: &str, reference: &str) -> Result<Option<(Vec<u8>, String)>> {
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
    match ureq::get(&format!("http://{host}/v2/{repo}/manifests/{reference}")).set("Accept", accept).call() {
        Ok(r) => {
            let mt = r.header("content-type").unwrap_or("").to_string();
            let mut body = Vec::new();
            r.into_reader().take(4 << 20).read_to_end(&mut body)?;
            Ok(Some((body, mt)))
        }
        Err(ureq::Error::Status(404, _)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
