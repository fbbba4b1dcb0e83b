//! Helpers for the allowlist, break-glass, on_error and audit-log tests: a configuration in a
//! temporary directory, a break-glass path that exists only when a test creates it, and runs
//! of the binary exactly as containerd makes them.
#![allow(dead_code)]

use crate::common::{vouch_bin, write_config, TempDir};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use vouch_testkit::containerd::{run_verifier, run_verifier_raw, VerifierRun};

/// A digest no registry in these tests serves.
pub const DIGEST: &str = "sha256:4515d57ce84c56ecfbf9f7a5fde8ff7b78b4f87f21f2e75e0c8a3a2e2d8a3b96";

/// A trust policy that requires signatures for every image.
const TRUST_POLICY: &str = r#"{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#;

/// The descriptor line containerd writes for `digest`.
pub fn line(digest: &str) -> Vec<u8> {
    format!("{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"{digest}\",\"size\":401}}\n").into_bytes()
}

/// A configuration directory for one test.
pub struct Node {
    /// The temporary directory holding everything.
    pub dir: TempDir,
    /// vouch's configuration file.
    pub config: PathBuf,
    /// Where this node's break-glass file would be (absent until [`Node::break_glass`]).
    pub break_glass: PathBuf,
}

impl Node {
    /// A node whose configuration has `extra` after the top-level keys (top-level keys first,
    /// then tables).
    pub fn new(tag: &str, extra: &str) -> Node {
        let dir = TempDir::new(tag);
        let tp = dir.path().join("trustpolicy.json");
        std::fs::write(&tp, TRUST_POLICY).unwrap();
        let config = write_config(dir.path(), &tp, &dir.path().join("truststore"), extra);
        let break_glass = dir.path().join("break-glass");
        Node { dir, config, break_glass }
    }

    /// A path inside the node's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Points `host`'s hosts.toml at plain-http `server`.
    pub fn plain_http(&self, host: &str) {
        let hosts = self.path("certs.d").join(host);
        std::fs::create_dir_all(&hosts).unwrap();
        std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{host}\"\n")).unwrap();
    }

    /// Creates the break-glass file with `content`.
    pub fn break_glass(&self, content: &str) {
        std::fs::write(&self.break_glass, content).unwrap();
    }

    fn env(&self) -> [(String, String); 2] {
        [
            ("VOUCH_CONFIG".into(), self.config.to_string_lossy().into_owned()),
            ("VOUCH_BREAK_GLASS".into(), self.break_glass.to_string_lossy().into_owned()),
        ]
    }

    /// Runs vouch as containerd does for `name` at [`DIGEST`].
    pub fn run(&self, name: &str) -> VerifierRun {
        self.run_with(name, DIGEST, &line(DIGEST))
    }

    /// Runs vouch as containerd does, with chosen digest and stdin.
    pub fn run_with(&self, name: &str, digest: &str, stdin: &[u8]) -> VerifierRun {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = run_verifier(&vouch_bin(), name, digest, stdin, &env);
        println!("{name}: exit {:?}: {}\nstderr: {}", r.exit_code, r.stdout.trim(), r.stderr.trim());
        r
    }

    /// Runs vouch with arbitrary arguments under containerd's conditions.
    pub fn run_raw(&self, args: &[&str], stdin: &[u8]) -> VerifierRun {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_verifier_raw(&vouch_bin(), args, stdin, &env)
    }

    /// Runs `vouch <args>` as an operator would, returning exit code, stdout and stderr.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(vouch_bin()).args(args).env("VOUCH_CONFIG", &self.config).env("VOUCH_BREAK_GLASS", &self.break_glass).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }
}

/// A loopback port that accepts connections and records whether any arrived. Nothing answers.
pub struct Witness {
    listener: TcpListener,
    /// `127.0.0.1:<port>`.
    pub host: String,
}

impl Witness {
    /// Binds a fresh port.
    pub fn new() -> Witness {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        Witness { listener, host }
    }

    /// Whether any connection was made to the port.
    pub fn contacted(&self) -> bool {
        self.listener.accept().is_ok()
    }
}

/// A loopback port nothing listens on.
pub fn dead_host() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = l.local_addr().unwrap().to_string();
    drop(l);
    host
}

/// Rewrites `timeout` in the configuration.
pub fn set_timeout(config: &Path, timeout: &str) {
    let text = std::fs::read_to_string(config).unwrap().replace("timeout = \"8s\"", &format!("timeout = \"{timeout}\""));
    std::fs::write(config, text).unwrap();
}
