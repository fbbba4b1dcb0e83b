//! The notation verifier: its `trustPolicyDoc` becomes `trustpolicy.json`, and the
//! certificates of `verificationCerts` (or of the resources `verificationCertStores` names)
//! fill the `x509/<type>/<name>/` directories the trust policy refers to.

use super::{expand_home, plugin_name, write_file, Findings};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vouch_notation::trustpolicy::StoreRef;
use vouch_notation::TrustPolicyDocument;

/// Keys of a notation verifier plugin the import reads.
const KNOWN_KEYS: &[&str] = &["name", "type", "artifactTypes", "verificationCerts", "verificationCertStores", "trustPolicyDoc"];
/// How deep certificate directories are walked.
const MAX_DEPTH: usize = 8;

/// Where one trust store's certificates come from.
enum Source {
    /// A file or directory named in `verificationCerts`, as written.
    Path(String),
    /// An inline certificate resource carried by the input: its name and PEM text.
    Inline(String, String),
    /// A certificate resource the input does not carry.
    Resource(String),
}

/// One trust store of the trust policy and its certificate sources.
struct Store {
    reference: StoreRef,
    sources: Vec<Source>,
}

/// The trust policy document and trust stores to write.
pub(crate) struct Plan {
    policy_json: String,
    stores: Vec<Store>,
}

/// The written trust material.
pub(crate) struct Written {
    /// `trustpolicy.json`.
    pub trust_policy: PathBuf,
    /// The trust store root.
    pub trust_store: PathBuf,
}

/// Validates the first notation verifier's trust policy and gathers every store's sources;
/// further notation verifiers with the same trust policy are merged into it.
pub(crate) fn plan(verifiers: &[&Value], inline: &BTreeMap<String, String>, f: &mut Findings) -> Result<Plan, String> {
    let primary = verifiers[0];
    let name = plugin_name(primary);
    let doc = primary.get("trustPolicyDoc").ok_or_else(|| format!("notation verifier {name:?} has no trustPolicyDoc"))?;
    let policy_json = serde_json::to_string_pretty(doc).unwrap_or_default() + "\n";
    let parsed = TrustPolicyDocument::parse(policy_json.as_bytes())
        .map_err(|e| format!("notation verifier {name:?}: trustPolicyDoc is not a valid notation trust policy: {e}"))?;
    let mut stores: Vec<Store> = store_refs(&parsed).into_iter().map(|reference| Store { reference, sources: Vec::new() }).collect();
    add_sources(&mut stores, primary, inline, f);
    unknown_keys(primary, f);
    for extra in &verifiers[1..] {
        merge(extra, doc, &mut stores, inline, f);
    }
    Ok(Plan { policy_json, stores })
}

/// Every trust store the statements name, once each, in order.
fn store_refs(doc: &TrustPolicyDocument) -> Vec<StoreRef> {
    let mut out: Vec<StoreRef> = Vec::new();
    for r in doc.statements().iter().flat_map(|s| s.trust_stores.iter()) {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// A further notation verifier: merged when its trust policy equals the first one's.
fn merge(extra: &Value, doc: &Value, stores: &mut [Store], inline: &BTreeMap<String, String>, f: &mut Findings) {
    let what = format!("verifier {:?} (notation)", plugin_name(extra));
    if extra.get("trustPolicyDoc") != Some(doc) {
        f.unmapped(what, "vouch has one trust policy, and this verifier's trustPolicyDoc differs from the first notation verifier's; neither it nor its certificates were imported");
        return;
    }
    add_sources(stores, extra, inline, f);
    unknown_keys(extra, f);
    f.unmapped(
        what,
        "merged into the first notation verifier's trust stores: a signature passes when it chains to any of their certificates, and yields one report, not one per verifier",
    );
}

/// Adds a verifier's certificate sources: `verificationCertStores` when present (it supersedes
/// `verificationCerts` in Ratify), else `verificationCerts` for every store.
fn add_sources(stores: &mut [Store], verifier: &Value, inline: &BTreeMap<String, String>, f: &mut Findings) {
    let Some(named) = verifier.get("verificationCertStores").and_then(Value::as_object) else {
        let paths = strings(verifier.get("verificationCerts"));
        for s in stores.iter_mut() {
            s.sources.extend(paths.iter().cloned().map(Source::Path));
        }
        return;
    };
    if verifier.get("verificationCerts").is_some() {
        f.unmapped("verificationCerts", "ignored: verificationCertStores takes precedence, as in Ratify");
    }
    for (kind, name, resources) in named_stores(named) {
        match stores.iter_mut().find(|s| s.reference.kind.name() == kind && s.reference.name == name) {
            Some(s) => s.sources.extend(resources.iter().map(|r| resource(r, inline))),
            None => f.unmapped(format!("verificationCertStores {kind}:{name}"), "no trust policy statement uses this trust store"),
        }
    }
}

/// `{"ca": {"name": [resources]}}`, or the older `{"name": [resources]}` meaning type `ca`.
fn named_stores(map: &Map<String, Value>) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for (key, value) in map {
        match value.as_object() {
            Some(by_name) => out.extend(by_name.iter().map(|(n, list)| (key.clone(), n.clone(), strings(Some(list))))),
            None => out.push(("ca".to_string(), key.clone(), strings(Some(value)))),
        }
    }
    out
}

/// A resource reference (`name` or `namespace/name`), resolved against the inline resources.
fn resource(reference: &str, inline: &BTreeMap<String, String>) -> Source {
    let short = reference.rsplit('/').next().unwrap_or(reference);
    match inline.get(reference).or_else(|| inline.get(short)) {
        Some(pem) if !pem.trim().is_empty() => Source::Inline(reference.to_string(), pem.clone()),
        _ => Source::Resource(reference.to_string()),
    }
}

/// A string or a list of strings.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ => Vec::new(),
    }
}

fn unknown_keys(verifier: &Value, f: &mut Findings) {
    let Some(obj) = verifier.as_object() else { return };
    for key in obj.keys().filter(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        f.unmapped(format!("verifier {:?} {key}", plugin_name(verifier)), "no vouch equivalent");
    }
}

impl Plan {
    /// Writes `trustpolicy.json` and the trust store under `out`.
    pub fn write(&self, out: &Path, f: &mut Findings) -> Result<Written, String> {
        let trust_policy = out.join("trustpolicy.json");
        write_file(&trust_policy, self.policy_json.as_bytes())?;
        let trust_store = out.join("truststore");
        for store in &self.stores {
            fill(&trust_store, store, f)?;
        }
        Ok(Written { trust_policy, trust_store })
    }
}

/// Creates one store's directory and copies its certificates in.
fn fill(root: &Path, store: &Store, f: &mut Findings) -> Result<(), String> {
    let dir = root.join("x509").join(store.reference.kind.name()).join(&store.reference.name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut copied = 0;
    for source in &store.sources {
        copied += match source {
            Source::Path(p) => copy_path(p, &dir, f)?,
            Source::Inline(name, pem) => write_new(&dir, &format!("{}.crt", name.replace('/', "_")), pem.as_bytes())?,
            Source::Resource(name) => {
                let why = format!("no inline certificate of that name in the input; put its certificates in {}", dir.display());
                f.missing(format!("{name:?} for trust store {}", store.reference), why);
                0
            }
        };
    }
    if copied == 0 {
        f.missing(format!("trust store {}", store.reference), format!("{} is empty; signatures cannot verify against it until certificates are added", dir.display()));
    }
    Ok(())
}

/// Copies a certificate file, or every file under a directory; a missing path is reported.
fn copy_path(written: &str, dir: &Path, f: &mut Findings) -> Result<usize, String> {
    let src = expand_home(written);
    match std::fs::metadata(&src) {
        Err(_) => {
            let resolved = if src == Path::new(written) { String::new() } else { format!(" (looked for {})", src.display()) };
            f.missing(format!("certificate {written}"), format!("not found{resolved}; copy it into {}", dir.display()));
            Ok(0)
        }
        Ok(m) if m.is_dir() => copy_tree(&src, dir, 0),
        Ok(_) => copy_file(&src, dir),
    }
}

fn copy_tree(src: &Path, dir: &Path, depth: usize) -> Result<usize, String> {
    let entries = std::fs::read_dir(src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut copied = 0;
    for p in paths {
        copied += match p.is_dir() {
            true if depth < MAX_DEPTH => copy_tree(&p, dir, depth + 1)?,
            true => 0,
            false => copy_file(&p, dir)?,
        };
    }
    Ok(copied)
}

/// Copies one file, giving it a certificate extension the trust store reads.
fn copy_file(src: &Path, dir: &Path) -> Result<usize, String> {
    let bytes = std::fs::read(src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    let name = src.file_name().map_or_else(|| "cert".to_string(), |n| n.to_string_lossy().into_owned());
    let has_ext = ["crt", "cer", "pem"].iter().any(|x| src.extension().is_some_and(|e| e == *x));
    let name = if has_ext { name } else { format!("{name}.crt") };
    write_new(dir, &name, &bytes)
}

/// Writes `bytes` as `name` in `dir`, or as `N-name` when another file already has that name.
fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> Result<usize, String> {
    let mut n = 0;
    loop {
        let candidate = if n == 0 { dir.join(name) } else { dir.join(format!("{n}-{name}")) };
        match std::fs::read(&candidate) {
            Ok(existing) if existing == bytes => return Ok(1),
            Ok(_) => n += 1,
            Err(_) => return write_file(&candidate, bytes).map(|_| 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_stores_accept_both_shapes() {
        let v = json!({"ca": {"ca-certs": ["a", "ns/b"]}, "certs": ["c"]});
        let got = named_stores(v.as_object().unwrap());
        assert!(got.contains(&("ca".into(), "ca-certs".into(), vec!["a".into(), "ns/b".into()])));
        assert!(got.contains(&("ca".into(), "certs".into(), vec!["c".into()])));
    }

    #[test]
    fn resources_resolve_by_full_or_short_name() {
        let inline = BTreeMap::from([("b".to_string(), "PEM".to_string()), ("empty".to_string(), " ".to_string())]);
        assert!(matches!(resource("ns/b", &inline), Source::Inline(_, p) if p == "PEM"));
        assert!(matches!(resource("empty", &inline), Source::Resource(_)));
        assert!(matches!(resource("akv", &inline), Source::Resource(_)));
    }
}
