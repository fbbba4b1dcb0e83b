//! The policy provider. A `regoPolicy` module runs unchanged in vouch (same input, same query);
//! a `configPolicy` rule for Notary Project signatures becomes the shipped Rego module with the
//! same meaning: `any` → `policies/default.rego`, `all` → `policies/all-signatures.rego`.

use super::{expand_home, plugin_name, write_file, Findings, NOTARY_TYPE};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// `policies/all-signatures.rego`: every signature must verify.
const ALL_SIGNATURES: &str = include_str!("../../../../policies/all-signatures.rego");
/// A module that denies every image.
const DENY_ALL: &str = "package ratify.policy\n\ndefault valid = false\n";
/// Ratify's rule for artifact types the config policy does not list.
const RATIFY_DEFAULT_RULE: &str = "all";

/// The Rego module for the configuration's `policy` section.
pub(crate) fn plan(policy: Option<&Value>, f: &mut Findings) -> Result<String, String> {
    let Some(plugin) = policy.and_then(|p| p.get("plugin")) else {
        f.unmapped("policy", "the configuration has no policy provider; Ratify's default config policy (\"all\") was assumed");
        return config_policy(&Value::Object(Map::new()), f);
    };
    match plugin_name(plugin).to_ascii_lowercase().replace('-', "").as_str() {
        "configpolicy" => config_policy(plugin, f),
        "regopolicy" => rego_policy(plugin, f),
        _ => Err(format!("policy provider {:?} is neither configPolicy nor regoPolicy", plugin_name(plugin))),
    }
}

/// `artifactVerificationPolicies`: the rule for Notary Project signatures (else `default`, else
/// Ratify's `all`) picks the module; rules for other artifact types are reported.
fn config_policy(plugin: &Value, f: &mut Findings) -> Result<String, String> {
    let empty = Map::new();
    let rules = plugin.get("artifactVerificationPolicies").and_then(Value::as_object).unwrap_or(&empty);
    let rule = |key: &str| rules.get(key).and_then(Value::as_str);
    let (key, rule) = match (rule(NOTARY_TYPE), rule("default")) {
        (Some(r), _) => (NOTARY_TYPE, r),
        (None, Some(r)) => ("default", r),
        (None, None) => ("default", RATIFY_DEFAULT_RULE),
    };
    for (other, value) in rules.iter().filter(|(k, _)| k.as_str() != NOTARY_TYPE && k.as_str() != "default") {
        let why = "vouch examines Notary Project signatures only; artifacts of this type are not verified";
        f.unmapped(format!("policy artifactVerificationPolicies {other:?} = {value}"), why);
    }
    unknown_keys(plugin, &["name", "artifactVerificationPolicies"], f);
    let module = match rule {
        "any" => vouch_policy::DEFAULT_POLICY,
        "all" => ALL_SIGNATURES,
        "deny-all" => DENY_ALL,
        other => return Err(format!("configPolicy rule {other:?} for {key:?} is not \"any\", \"all\" or \"deny-all\"")),
    };
    Ok(format!("# Imported from Ratify's configPolicy: {key:?} = {rule:?} (Notary Project signatures).\n{module}"))
}

/// `regoPolicy`: the inline `policy`, else the file at `policyPath`.
fn rego_policy(plugin: &Value, f: &mut Findings) -> Result<String, String> {
    if plugin.get("passthroughEnabled").and_then(Value::as_bool) == Some(true) {
        let why = "vouch always acts on the policy's decision; mode = \"audit\" allows pulls while reporting denies";
        f.unmapped("policy passthroughEnabled = true", why);
    }
    unknown_keys(plugin, &["name", "policy", "policyPath", "passthroughEnabled"], f);
    let text = |key: &str| plugin.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty());
    if let Some(module) = text("policy") {
        return Ok(ensure_newline(module));
    }
    let path = text("policyPath").ok_or("regoPolicy has neither policy nor policyPath")?;
    match std::fs::read_to_string(expand_home(path)) {
        Ok(module) => Ok(ensure_newline(&module)),
        Err(e) => {
            f.missing(format!("policyPath {path}"), format!("{e}; policy.rego denies every image until the module is put there"));
            Ok(format!("# Placeholder: Ratify's regoPolicy was read from {path}, which was not found here.\n{DENY_ALL}"))
        }
    }
}

fn ensure_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

fn unknown_keys(plugin: &Value, known: &[&str], f: &mut Findings) {
    let Some(obj) = plugin.as_object() else { return };
    for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        f.unmapped(format!("policy {key}"), "no vouch equivalent");
    }
}

/// Writes `policy.rego` and checks that vouch can load it.
pub(crate) fn write(module: &str, out: &Path, f: &mut Findings) -> Result<PathBuf, String> {
    let path = out.join("policy.rego");
    write_file(&path, module.as_bytes())?;
    if let Err(e) = vouch_policy::Policy::load("policy.rego", module) {
        f.unmapped("policy.rego", format!("vouch cannot load it ({e}); every pull is denied until it is fixed"));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan_of(plugin: Value) -> (Result<String, String>, Vec<String>) {
        let mut f = Findings::default();
        let r = plan(Some(&json!({ "plugin": plugin })), &mut f);
        (r, f.lines)
    }

    #[test]
    fn config_policy_rules_pick_the_shipped_module() {
        let (any, _) = plan_of(json!({"name": "configPolicy", "artifactVerificationPolicies": {NOTARY_TYPE: "any"}}));
        assert!(any.unwrap().contains(vouch_policy::DEFAULT_POLICY));
        let (all, _) = plan_of(json!({"name": "configPolicy"}));
        assert!(all.unwrap().contains(ALL_SIGNATURES));
        let (deny, _) = plan_of(json!({"name": "config-policy", "artifactVerificationPolicies": {"default": "deny-all"}}));
        assert!(deny.unwrap().ends_with(DENY_ALL));
        let (bad, _) = plan_of(json!({"name": "configPolicy", "artifactVerificationPolicies": {"default": "most"}}));
        assert!(bad.unwrap_err().contains("\"most\""));
    }

    #[test]
    fn other_artifact_types_are_reported() {
        let (_, lines) = plan_of(json!({"name": "configPolicy", "artifactVerificationPolicies": {"application/spdx+json": "all"}}));
        assert!(lines[0].contains("application/spdx+json"), "{lines:?}");
    }

    #[test]
    fn rego_policy_inline_or_missing_path() {
        let (m, _) = plan_of(json!({"name": "regoPolicy", "policy": "package ratify.policy\ndefault valid = true"}));
        assert!(m.unwrap().ends_with("true\n"));
        let (m, lines) = plan_of(json!({"name": "regoPolicy", "policy": "", "policyPath": "/nonexistent/p.rego"}));
        assert!(m.unwrap().ends_with(DENY_ALL));
        assert!(lines[0].starts_with("missing: policyPath /nonexistent/p.rego"), "{lines:?}");
        assert!(plan_of(json!({"name": "regoPolicy"})).0.is_err());
        assert!(plan_of(json!({"name": "opa"})).0.is_err());
    }
}
