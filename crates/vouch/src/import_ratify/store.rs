//! The referrer store. vouch reads signatures from the registry itself; what Ratify's `oras`
//! store said about plain HTTP and credentials becomes notes on containerd's `hosts.toml` and
//! vouch's `[auth]` section.

use super::{absolute, plugin_name, quoted, Findings};
use serde_json::Value;

/// Registry and credential notes for the produced configuration.
#[derive(Default)]
pub(crate) struct Plan {
    /// Comment lines for `[registry]`.
    pub registry_notes: Vec<String>,
    /// `key = value` lines for `[auth]`.
    auth_lines: Vec<String>,
    /// Comment lines for `[auth]`.
    auth_notes: Vec<String>,
}

impl Plan {
    /// The `[auth]` section, or nothing when Ratify's store said nothing about credentials.
    pub fn auth_section(&self) -> String {
        if self.auth_lines.is_empty() && self.auth_notes.is_empty() {
            return String::new();
        }
        let mut out = String::from("\n[auth]\n");
        for line in &self.auth_lines {
            out.push_str(&format!("{line}\n"));
        }
        for note in &self.auth_notes {
            out.push_str(&format!("# {note}\n"));
        }
        out
    }
}

/// Reads `store.plugins`; only `oras` has a counterpart.
pub(crate) fn plan(store: Option<&Value>, f: &mut Findings) -> Plan {
    let mut plan = Plan::default();
    let plugins = store.and_then(|s| s.get("plugins")).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for p in plugins {
        match plugin_name(p) {
            "oras" => oras(p, &mut plan, f),
            other => f.unmapped(
                format!("store {other:?}"),
                "vouch reads signatures from the registry itself (referrers API, else the sha256-<digest> tag schema); other stores are not supported",
            ),
        }
    }
    plan
}

fn oras(plugin: &Value, plan: &mut Plan, f: &mut Findings) {
    let Some(obj) = plugin.as_object() else { return };
    for (key, value) in obj {
        match key.as_str() {
            "name" => {}
            "useHttp" if value == &Value::Bool(true) => plain_http(plan, f),
            "useHttp" => {}
            "authProvider" => auth(value, plan, f),
            "cosignEnabled" if value == &Value::Bool(true) => f.unmapped("store oras cosignEnabled", "vouch does not read cosign signatures"),
            "cosignEnabled" => {}
            "localCachePath" => f.unmapped("store oras localCachePath", "vouch keeps registry content in cache_dir"),
            _ => f.unmapped(format!("store oras {key}"), "no vouch equivalent"),
        }
    }
}

/// `useHttp`: Ratify used plain HTTP for every registry; vouch, like containerd, per host.
fn plain_http(plan: &mut Plan, f: &mut Findings) {
    plan.registry_notes.extend(
        [
            "Ratify's oras store used plain HTTP (useHttp: true). vouch reads containerd's hosts.toml instead:",
            "for each registry served over plain HTTP, create <hosts_dir>/<host[:port]>/hosts.toml with",
            "  server = \"http://<host[:port]>\"",
        ]
        .map(String::from),
    );
    f.unmapped(
        "store oras useHttp = true",
        "plain HTTP is chosen per registry in vouch: write <hosts_dir>/<host>/hosts.toml with server = \"http://<host>\" (see the comment under [registry])",
    );
}

/// `authProvider`: docker config files map to `[auth]`; cloud identities to the kubelet's
/// credential provider plugins; Kubernetes Secrets have no counterpart on the node.
fn auth(provider: &Value, plan: &mut Plan, f: &mut Findings) {
    let name = provider.get("name").and_then(Value::as_str).unwrap_or("unnamed");
    match name {
        "dockerConfig" => docker_config(provider, plan),
        "azureWorkloadIdentity" | "azureManagedIdentity" => cloud(name, "acr-credential-provider", plan, f),
        "awsEcrBasic" | "awsIrsaBasic" => cloud(name, "ecr-credential-provider", plan, f),
        "k8Secrets" => {
            let why = "vouch runs on the node and does not read Kubernetes Secrets; put the pull credentials in a docker config.json ([auth] docker_config) or in [[auth.static]]";
            plan.auth_notes.push("Ratify read Kubernetes Secrets (k8Secrets); put the credentials in docker_config or [[auth.static]]".into());
            f.unmapped("store oras authProvider k8Secrets", why);
        }
        other => f.unmapped(format!("store oras authProvider {other:?}"), "unknown authentication provider"),
    }
}

fn docker_config(provider: &Value, plan: &mut Plan) {
    plan.auth_lines.push("sources = [\"docker\"]".into());
    match provider.get("configPath").and_then(Value::as_str).filter(|p| !p.is_empty()) {
        Some(p) => plan.auth_lines.push(format!("docker_config = {}", quoted(&absolute(p)))),
        None => plan.auth_notes.push("Ratify read ~/.docker/config.json; vouch reads /root/.docker/config.json unless docker_config says otherwise".into()),
    }
}

fn cloud(name: &str, plugin: &str, plan: &mut Plan, f: &mut Findings) {
    plan.auth_notes.extend([
        format!("Ratify authenticated with {name}. On the node, use the kubelet's {plugin}:"),
        "  kubelet_provider_config = \"<the kubelet's --image-credential-provider-config>\"".to_string(),
        "  kubelet_provider_bin_dir = \"<the kubelet's --image-credential-provider-bin-dir>\"".to_string(),
    ]);
    f.unmapped(
        format!("store oras authProvider {name}"),
        format!("vouch uses the node's kubelet credential provider ({plugin}) instead: set [auth] kubelet_provider_config and kubelet_provider_bin_dir"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn oras_settings_become_notes_and_auth_lines() {
        let mut f = Findings::default();
        let store = json!({"plugins": [{"name": "oras", "useHttp": true, "cosignEnabled": true, "authProvider": {"name": "dockerConfig", "configPath": "/x/config.json"}}, {"name": "local"}]});
        let plan = plan(Some(&store), &mut f);
        assert!(plan.registry_notes.iter().any(|n| n.contains("hosts.toml")));
        let auth = plan.auth_section();
        assert!(auth.contains("sources = [\"docker\"]") && auth.contains("docker_config = \"/x/config.json\""), "{auth}");
        let all = f.lines.join("\n");
        assert!(all.contains("cosignEnabled") && all.contains("useHttp") && all.contains("store \"local\""), "{all}");
    }

    #[test]
    fn cloud_and_secret_providers_are_reported() {
        for name in ["azureWorkloadIdentity", "awsEcrBasic", "k8Secrets"] {
            let mut f = Findings::default();
            let plan = plan(Some(&json!({"plugins": [{"name": "oras", "authProvider": {"name": name}}]})), &mut f);
            assert!(f.lines[0].contains(name), "{:?}", f.lines);
            assert!(plan.auth_section().contains("# "), "{name}");
            assert!(toml::from_str::<toml::Value>(&plan.auth_section()).is_ok());
        }
    }
}
