//! `vouch config import-ratify RATIFY_CONFIG [--out-dir DIR]`: turns a Ratify v1 configuration
//! (the CLI/server `config.json`, or its Kubernetes custom resources in YAML) into vouch's.
//!
//! The notation verifier's trust policy is written as `trustpolicy.json`, its certificates are
//! copied into a notation trust store layout, the policy provider becomes `policy.rego`, all in
//! the output directory; the vouch `config.toml` pointing at them is printed on stdout. Whatever
//! has no vouch equivalent is listed on stderr, one line per item with the reason.

mod crd;
mod policy;
mod store;
mod trust;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Exit code when a configuration was produced.
const OK: u8 = 0;
/// Exit code for an unreadable or invalid Ratify configuration.
const INVALID: u8 = 2;
/// Where the files go when `--out-dir` is not given (relative to the current directory).
pub const DEFAULT_OUT_DIR: &str = "vouch-import";
/// The artifact type of Notary Project signatures.
const NOTARY_TYPE: &str = "application/vnd.cncf.notary.signature";
/// Top-level keys of a Ratify v1 configuration that the import reads.
const KNOWN_KEYS: &[&str] = &["store", "policy", "verifier", "executor"];

/// A Ratify configuration as read: the v1 `config.json` shape, plus certificates that
/// inline certificate resources carried (resource name → PEM), for the YAML form.
pub(crate) struct Input {
    /// The configuration in `config.json` shape.
    pub config: Value,
    /// PEM certificates of inline `KeyManagementProvider`/`CertificateStore` resources.
    pub inline_certs: BTreeMap<String, String>,
    /// What reading the input already found unmappable.
    pub findings: Findings,
}

/// What could not be carried over, and certificates that were not found.
#[derive(Default)]
pub(crate) struct Findings {
    lines: Vec<String>,
}

impl Findings {
    /// Records an item with no vouch equivalent.
    pub fn unmapped(&mut self, what: impl std::fmt::Display, why: impl std::fmt::Display) {
        self.lines.push(format!("not mapped: {what}: {why}"));
    }

    /// Records a file the configuration names but that does not exist here.
    pub fn missing(&mut self, what: impl std::fmt::Display, why: impl std::fmt::Display) {
        self.lines.push(format!("missing: {what}: {why}"));
    }
}

/// Runs the import; prints the configuration on stdout and the findings on stderr.
pub fn run(input: &Path, out_dir: &Path) -> u8 {
    match import(input, out_dir) {
        Ok((toml, findings)) => {
            print!("{toml}");
            for line in &findings.lines {
                eprintln!("{line}");
            }
            OK
        }
        Err(reason) => {
            eprintln!("error: {}", reason.split_whitespace().collect::<Vec<_>>().join(" "));
            INVALID
        }
    }
}

/// Plans everything from the input first (so invalid input writes nothing), then writes.
fn import(path: &Path, out_dir: &Path) -> Result<(String, Findings), String> {
    let Input { config, inline_certs, findings: mut f } = read(path)?;
    let verifiers = notation_verifiers(&config, &mut f)?;
    let trust = trust::plan(&verifiers, &inline_certs, &mut f)?;
    let rego = policy::plan(config.get("policy"), &mut f)?;
    let registry = store::plan(config.get("store"), &mut f);
    other_keys(&config, &mut f);
    let out = create_dir(out_dir)?;
    let written = trust.write(&out, &mut f)?;
    let rego_path = policy::write(&rego, &out, &mut f)?;
    let files = Files { trust_policy: written.trust_policy, trust_store: written.trust_store, rego: rego_path };
    Ok((render(path, &files, &registry), f))
}

/// Reads the file as JSON (`config.json`) or, for `.yaml`/`.yml` or YAML text, as custom resources.
fn read(path: &Path) -> Result<Input, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let input = if crd::looks_like_yaml(path, &text) {
        crd::read(&text).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        let config = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        Input { config, inline_certs: BTreeMap::new(), findings: Findings::default() }
    };
    check_shape(&input.config).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(input)
}

/// Rejects documents that are not a Ratify v1 configuration.
fn check_shape(config: &Value) -> Result<(), String> {
    let Some(obj) = config.as_object() else {
        return Err("not a Ratify configuration (expected a JSON object)".into());
    };
    if obj.contains_key("executors") {
        return Err("a Ratify v2 configuration (executors); only the v1 form (store, policy, verifier) is supported".into());
    }
    if !obj.contains_key("verifier") {
        return Err("not a Ratify v1 configuration: it has no verifier section".into());
    }
    Ok(())
}

/// The verifier plugins of type notation; every other verifier is reported as unmapped.
fn notation_verifiers<'a>(config: &'a Value, f: &mut Findings) -> Result<Vec<&'a Value>, String> {
    let plugins = config.pointer("/verifier/plugins").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut notation = Vec::new();
    for p in plugins {
        match verifier_type(p) {
            "notation" => notation.push(p),
            other => f.unmapped(format!("verifier {:?} ({other})", plugin_name(p)), other_verifier_reason(other)),
        }
    }
    if notation.is_empty() {
        return Err("no notation verifier: vouch verifies Notary Project signatures only".into());
    }
    Ok(notation)
}

/// A verifier's type: `type` when given, else its `name`.
fn verifier_type(plugin: &Value) -> &str {
    plugin.get("type").and_then(Value::as_str).or_else(|| plugin.get("name").and_then(Value::as_str)).unwrap_or("unnamed")
}

/// A plugin's `name`.
pub(crate) fn plugin_name(plugin: &Value) -> &str {
    plugin.get("name").and_then(Value::as_str).unwrap_or("unnamed")
}

fn other_verifier_reason(kind: &str) -> String {
    match kind {
        "cosign" => "vouch verifies Notary Project signatures only; cosign signatures are not checked, so images signed only with cosign are denied".into(),
        "sbom" | "licensechecker" | "schemavalidator" | "vulnerabilityreport" => {
            format!("vouch does not verify {kind} artifacts; they never appear in its policy input")
        }
        _ => "external verifier plugins are not supported; vouch verifies Notary Project signatures only".into(),
    }
}

/// Top-level sections other than store, policy and verifier.
fn other_keys(config: &Value, f: &mut Findings) {
    let Some(obj) = config.as_object() else { return };
    if let Some(executor) = obj.get("executor").and_then(Value::as_object) {
        for (key, value) in executor {
            f.unmapped(format!("executor.{key} = {value}"), executor_reason(key));
        }
    }
    for (key, _) in obj.iter().filter(|(k, _)| !KNOWN_KEYS.contains(&k.as_str())) {
        let why = match key.as_str() {
            "crl" => "vouch caches CRLs in cache_dir whenever [cache] is enabled; there is no separate CRL cache switch",
            "logger" => "vouch logs to stderr at the level in VOUCH_LOG",
            _ => "no vouch equivalent",
        };
        f.unmapped(key, why);
    }
}

fn executor_reason(key: &str) -> &'static str {
    if key.to_ascii_lowercase().contains("timeout") {
        "vouch's whole run is bounded by `timeout` (default 8s), which must stay below containerd's per_verifier_timeout"
    } else if key.to_ascii_lowercase().contains("cache") {
        "vouch keeps verdicts in cache_dir for [cache] allow_ttl / deny_ttl"
    } else {
        "no vouch equivalent"
    }
}

/// A path as Ratify reads it: `~` from HOME, anything else as written (relative paths from the
/// current directory).
pub(crate) fn expand_home(p: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => match home() {
            Some(h) => h.join(rest.trim_start_matches('/')),
            None => PathBuf::from(p),
        },
        _ => PathBuf::from(p),
    }
}

/// [`expand_home`], made absolute against the current directory (for paths written into the
/// produced configuration, where relative paths would mean the configuration's directory).
pub(crate) fn absolute(p: &str) -> PathBuf {
    let path = expand_home(p);
    match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path),
        _ => path,
    }
}

/// Writes a file, naming it in the error.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Creates the output directory and returns its absolute path.
fn create_dir(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    dir.canonicalize().map_err(|e| format!("cannot resolve {}: {e}", dir.display()))
}

/// The files the produced configuration points at.
struct Files {
    trust_policy: PathBuf,
    trust_store: PathBuf,
    rego: PathBuf,
}

/// A TOML string literal.
fn quoted(p: &Path) -> String {
    toml::Value::String(p.to_string_lossy().into_owned()).to_string()
}

/// The vouch configuration text.
fn render(input: &Path, files: &Files, registry: &store::Plan) -> String {
    let mut out = format!(
        "# vouch configuration imported from the Ratify configuration {} by `vouch config import-ratify`.\n\
         # Review the comments, then install it as /etc/vouch/config.toml or point VOUCH_CONFIG at it.\n\
         mode = \"enforce\"\n\n[registry]\nhosts_dir = \"/etc/containerd/certs.d\"\n",
        input.display()
    );
    for note in &registry.registry_notes {
        out.push_str(&format!("# {note}\n"));
    }
    out.push_str(&format!("\n[notation]\ntrust_policy = {}\ntrust_store = {}\n", quoted(&files.trust_policy), quoted(&files.trust_store)));
    out.push_str(&format!("\n[policy]\nrego = {}\n", quoted(&files.rego)));
    out.push_str(&registry.auth_section());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_that_are_not_ratify_v1_are_rejected() {
        assert!(check_shape(&serde_json::json!([1])).unwrap_err().contains("JSON object"));
        assert!(check_shape(&serde_json::json!({"executors": []})).unwrap_err().contains("v2"));
        assert!(check_shape(&serde_json::json!({"store": {}})).unwrap_err().contains("no verifier"));
        assert!(check_shape(&serde_json::json!({"verifier": {}})).is_ok());
    }

    #[test]
    fn verifier_types_come_from_type_then_name() {
        assert_eq!(verifier_type(&serde_json::json!({"name": "v1", "type": "notation"})), "notation");
        assert_eq!(verifier_type(&serde_json::json!({"name": "cosign"})), "cosign");
        let mut f = Findings::default();
        let config = serde_json::json!({"verifier": {"plugins": [{"name": "cosign"}]}});
        assert!(notation_verifiers(&config, &mut f).is_err());
        assert!(f.lines[0].starts_with("not mapped: verifier \"cosign\""));
    }
}
