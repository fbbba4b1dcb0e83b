//! `vouch-devsign`: a development-only Notary Project signer for the demo and tests.
//!
//! Keys are written unencrypted next to the trust material; never use it for real images.
//!
//! ```text
//! vouch-devsign init DIR                     # CA, leaf key/cert, trustpolicy.json, truststore/
//! vouch-devsign push-image HOST REPO TAG     # prints the image's descriptor as one JSON line
//! vouch-devsign sign DIR HOST REPO DIGEST [jws|cose]
//!                                            # signs HOST/REPO@DIGEST and pushes the signature
//! ```
//!
//! Registries are reached over plain HTTP.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;
use vouch_core::{Descriptor, Digest, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};
use vouch_testkit::registry::get_manifest;
use vouch_testkit::signer::{push_demo_image, push_signature, write_trust_material, LeafOptions, SignOptions, TestCa, TestSigner};

const WARNING: &str = "vouch-devsign: development and tests only; its keys are not protected";
const USAGE: &str = "usage:
  vouch-devsign init DIR
  vouch-devsign push-image HOST REPO TAG
  vouch-devsign sign DIR HOST REPO DIGEST [jws|cose]";

/// The trust store name `init` writes (`ca:vouch-dev` in the trust policy).
const STORE: &str = "vouch-dev";
const KEY_FILE: &str = "leaf.key";
const CHAIN_FILE: &str = "leaf.pem";

fn main() -> ExitCode {
    eprintln!("{WARNING}");
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vouch-devsign: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["init", dir] => init(Path::new(dir)),
        ["push-image", host, repo, tag] => {
            let desc = push_demo_image(host, repo, tag)?;
            println!("{}", descriptor_line(&desc));
            Ok(())
        }
        ["sign", dir, host, repo, digest] => sign(Path::new(dir), host, repo, digest, "jws"),
        ["sign", dir, host, repo, digest, format @ ("jws" | "cose")] => sign(Path::new(dir), host, repo, digest, format),
        ["-h" | "--help" | "help"] => {
            println!("{WARNING}\n{USAGE}");
            Ok(())
        }
        _ => bail!("unexpected arguments {args:?}\n{USAGE}"),
    }
}

/// Creates a CA and a code-signing leaf, and the notation trust material trusting the CA.
fn init(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca = TestCa::new("vouch dev root")?;
    let signer = ca.issue_leaf(LeafOptions::new("vouch dev signer"))?;
    std::fs::write(dir.join("ca.pem"), ca.cert_pem())?;
    write_private(&dir.join(KEY_FILE), &signer.key_pem())?;
    std::fs::write(dir.join(CHAIN_FILE), signer.chain_pem())?;
    let (policy, store) = write_trust_material(dir, &ca.cert_pem(), STORE, "*")?;
    eprintln!("wrote {}, {} and {}", dir.join(CHAIN_FILE).display(), policy.display(), store.display());
    Ok(())
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// Signs the manifest `host/repo@digest` with the leaf `init` wrote and pushes the signature.
fn sign(dir: &Path, host: &str, repo: &str, digest: &str, format: &str) -> Result<()> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).with_context(|| format!("reading {}", dir.join(name).display()));
    let signer = TestSigner::from_pem(&read(KEY_FILE)?, &read(CHAIN_FILE)?)?;
    let digest = Digest::parse(digest)?;
    let Some((bytes, media_type)) = get_manifest(host, repo, &digest.to_string())? else {
        bail!("{host}/{repo}@{digest} does not exist");
    };
    if !digest.matches(&bytes) {
        bail!("the registry returned content that does not match {digest}");
    }
    let target = Descriptor::new(media_type, digest, bytes.len() as u64);
    let (envelope, media_type) = if format == "cose" {
        (signer.sign_cose(&target, &SignOptions::default())?, MEDIA_TYPE_COSE)
    } else {
        (signer.sign_jws(&target, &SignOptions::default())?, MEDIA_TYPE_JWS)
    };
    let sig = push_signature(host, repo, &target, &envelope, media_type)?;
    eprintln!("signed {host}/{repo}@{}: signature manifest {}", target.digest, sig.digest);
    Ok(())
}

/// The line containerd writes on a verifier's stdin.
fn descriptor_line(d: &Descriptor) -> String {
    format!("{{\"mediaType\":\"{}\",\"digest\":\"{}\",\"size\":{}}}", d.media_type, d.digest, d.size)
}
