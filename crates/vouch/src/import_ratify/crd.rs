//! Ratify's Kubernetes custom resources (`Verifier`, `Store`, `Policy`, and inline
//! `KeyManagementProvider`/`CertificateStore`, cluster-wide or namespaced), read from one or
//! more YAML documents and rearranged into the `config.json` shape.

use super::{Findings, Input};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// True for `.yaml`/`.yml` files and for text that starts like a Kubernetes resource.
pub(crate) fn looks_like_yaml(path: &Path, text: &str) -> bool {
    if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
        return true;
    }
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    first.starts_with("apiVersion:") || first.starts_with("kind:") || first == "---"
}

/// Reads every YAML document into one configuration.
pub(crate) fn read(text: &str) -> Result<Input, String> {
    let mut input = Input {
        config: json!({"verifier": {"plugins": []}, "store": {"plugins": []}}),
        inline_certs: BTreeMap::new(),
        findings: Findings::default(),
    };
    for doc in serde_norway::Deserializer::from_str(text) {
        let resource = Value::deserialize(doc).map_err(|e| format!("is not YAML: {e}"))?;
        if !resource.is_null() {
            add(&mut input, &resource);
        }
    }
    Ok(input)
}

/// `metadata.name`, with `metadata.namespace/` in front when there is one.
fn names(resource: &Value) -> (String, Option<String>) {
    let name = resource.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("unnamed").to_string();
    let namespaced = resource.pointer("/metadata/namespace").and_then(Value::as_str).map(|ns| format!("{ns}/{name}"));
    (name, namespaced)
}

fn spec_str<'a>(resource: &'a Value, key: &str) -> Option<&'a str> {
    resource.get("spec").and_then(|s| s.get(key)).and_then(Value::as_str)
}

/// `spec.parameters` plus the given keys, as a plugin entry.
fn plugin(resource: &Value, extra: &[(&str, Option<&str>)]) -> Value {
    let mut out: Map<String, Value> = resource.pointer("/spec/parameters").and_then(Value::as_object).cloned().unwrap_or_default();
    for (k, v) in extra {
        if let Some(v) = v {
            out.insert(k.to_string(), json!(v));
        }
    }
    Value::Object(out)
}

fn push(input: &mut Input, section: &str, plugin: Value) {
    if let Some(list) = input.config.pointer_mut(&format!("/{section}/plugins")).and_then(Value::as_array_mut) {
        list.push(plugin);
    }
}

fn add(input: &mut Input, resource: &Value) {
    let kind = resource.get("kind").and_then(Value::as_str).unwrap_or("");
    let (name, _) = names(resource);
    match kind.trim_start_matches("Namespaced") {
        "Verifier" => {
            let kind = spec_str(resource, "type").or_else(|| spec_str(resource, "name"));
            let entry = plugin(resource, &[("name", Some(&name)), ("type", kind), ("artifactTypes", spec_str(resource, "artifactTypes"))]);
            push(input, "verifier", entry);
        }
        "Store" => push(input, "store", plugin(resource, &[("name", spec_str(resource, "name"))])),
        "Policy" => policy(input, resource, &name),
        "KeyManagementProvider" | "CertificateStore" => certificates(input, resource, kind),
        _ => input.findings.unmapped(format!("resource {kind} {name:?}"), "not a Ratify v1 resource vouch imports"),
    }
}

/// The one policy: `spec.type` (v1beta1) or `metadata.name` (v1alpha1) names the provider.
fn policy(input: &mut Input, resource: &Value, name: &str) {
    if input.config.get("policy").is_some() {
        input.findings.unmapped(format!("Policy {name:?}"), "Ratify applies one policy; the first one was imported");
        return;
    }
    let provider = spec_str(resource, "type").unwrap_or(name);
    input.config["policy"] = json!({ "plugin": plugin(resource, &[("name", Some(provider))]) });
}

/// Inline certificate resources are kept for the trust stores that name them; others are reported.
fn certificates(input: &mut Input, resource: &Value, kind: &str) {
    let (name, namespaced) = names(resource);
    let provider = spec_str(resource, "type").or_else(|| spec_str(resource, "provider")).unwrap_or("unknown");
    let content = resource.pointer("/spec/parameters/contentType").and_then(Value::as_str).unwrap_or("certificate");
    let value = resource.pointer("/spec/parameters/value").and_then(Value::as_str);
    match (provider, content, value) {
        ("inline", "certificate", Some(pem)) => {
            input.inline_certs.insert(name.clone(), pem.to_string());
            if let Some(n) = namespaced {
                input.inline_certs.insert(n, pem.to_string());
            }
        }
        _ => input.findings.unmapped(
            format!("{kind} {name:?} ({provider}, {content})"),
            "vouch reads certificates from its trust store directory only; export them there",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOURCES: &str = "apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata:
  name: verifier-notation
spec:
  name: notation
  artifactTypes: application/vnd.cncf.notary.signature
  parameters:
    verificationCertStores:
      ca:
        ca-certs: [inline-kmp]
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata:
  name: inline-kmp
spec:
  type: inline
  parameters:
    contentType: certificate
    value: PEM
---
kind: Policy
metadata:
  name: ratify-policy
spec:
  type: config-policy
  parameters:
    artifactVerificationPolicies:
      default: any
---
kind: Policy
metadata:
  name: second
spec:
  type: rego-policy
---
kind: ConfigMap
metadata:
  name: other
";

    #[test]
    fn resources_become_the_config_shape() {
        let input = read(RESOURCES).unwrap();
        let v = &input.config["verifier"]["plugins"][0];
        assert_eq!((v["name"].as_str(), v["type"].as_str()), (Some("verifier-notation"), Some("notation")));
        assert!(v["verificationCertStores"]["ca"]["ca-certs"].is_array());
        assert_eq!(input.config["policy"]["plugin"]["name"], "config-policy");
        assert_eq!(input.inline_certs["inline-kmp"], "PEM");
        assert_eq!(input.findings.lines.len(), 2, "{:?}", input.findings.lines);
        assert!(looks_like_yaml(Path::new("x.json"), "# c\napiVersion: v1\n"));
        assert!(!looks_like_yaml(Path::new("x.json"), "{\"a\": 1}"));
    }
}
