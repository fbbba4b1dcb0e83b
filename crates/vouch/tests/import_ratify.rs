//! `vouch config import-ratify`: Ratify v1 configurations (the fixture in testdata/ratify and
//! every shipped one in ../shared) become a vouch configuration that vouch accepts: run as
//! containerd runs it against a registry that is not there, the deny is a registry error, not a
//! configuration error. The trust policy parses, and what has no equivalent is listed on stderr.

mod common;
mod operator;

use common::*;
use operator::{dead_host, line, DIGEST};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use vouch_testkit::containerd::run_verifier;

/// An import's exit code, stdout and stderr.
struct Imported {
    code: i32,
    toml: String,
    stderr: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture_dir() -> PathBuf {
    repo().join("testdata/ratify")
}

/// Runs the import from `cwd` (Ratify reads relative paths from its working directory).
fn import(config: &Path, cwd: &Path, out: &Path) -> Imported {
    let o = Command::new(vouch_bin()).args(["config", "import-ratify"]).arg(config).arg("--out-dir").arg(out).current_dir(cwd).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Imported { code: o.status.code().unwrap_or(-1), toml: text(&o.stdout), stderr: text(&o.stderr) }
}

/// Every stderr line is one finding with a reason.
fn assert_findings_shape(stderr: &str) {
    for l in stderr.lines() {
        let ok = (l.starts_with("not mapped: ") || l.starts_with("missing: ")) && l.matches(": ").count() >= 2;
        assert!(ok, "finding without a reason: {l}");
    }
}

/// Runs vouch as containerd would with the produced configuration: the deny must come from the
/// registry (nothing listens there), proving the configuration, trust policy and Rego loaded.
fn assert_vouch_accepts(toml: &str, dir: &Path) {
    let text = format!("cache_dir = \"{}\"\n{toml}", dir.join("cache").display());
    let config = dir.join("config.toml");
    std::fs::write(&config, text).unwrap();
    let cfg = config.to_string_lossy().to_string();
    let glass = dir.join("break-glass").to_string_lossy().to_string();
    let env = [("VOUCH_CONFIG", cfg.as_str()), ("VOUCH_BREAK_GLASS", glass.as_str())];
    let run = run_verifier(&vouch_bin(), &format!("{}/acme/app:v1", dead_host()), DIGEST, &line(DIGEST), &env);
    let v = report(&run);
    assert_eq!(run.exit_code, Some(1), "{v}");
    assert_eq!(v["errorClass"], "registry", "{v}");
    assert!(!v["reason"].as_str().unwrap().contains("config.toml"), "{v}");
}

fn assert_trust_policy_parses(out: &Path) {
    let bytes = std::fs::read(out.join("trustpolicy.json")).unwrap();
    vouch_notation::TrustPolicyDocument::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// The produced configuration, its files and vouch's verdict on it.
fn assert_usable(imported: &Imported, dir: &Path, out: &Path) {
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    toml::from_str::<toml::Value>(&imported.toml).unwrap_or_else(|e| panic!("{e}\n{}", imported.toml));
    assert_findings_shape(&imported.stderr);
    assert_trust_policy_parses(out);
    assert!(out.join("policy.rego").is_file());
    assert_vouch_accepts(&imported.toml, dir);
}

#[test]
fn the_fixture_imports_with_every_gap_named() {
    let dir = TempDir::new("import-fixture");
    let out = dir.path().join("out");
    let r = import(Path::new("config.json"), &fixture_dir(), &out);
    assert_usable(&r, dir.path(), &out);
    let copied = std::fs::read(out.join("truststore/x509/ca/acme/ca.crt")).unwrap();
    assert_eq!(copied, std::fs::read(fixture_dir().join("certs/ca.crt")).unwrap());
    let rego = std::fs::read_to_string(out.join("policy.rego")).unwrap();
    assert!(rego.ends_with(&std::fs::read_to_string(repo().join("policies/default.rego")).unwrap()), "{rego}");
    assert!(r.toml.contains("sources = [\"docker\"]"), "{}", r.toml);
    let docker = fixture_dir().canonicalize().unwrap().join("docker-config.json");
    assert!(r.toml.contains(&format!("docker_config = \"{}\"", docker.display())), "{}", r.toml);
    assert!(r.toml.contains("server = \"http://<host[:port]>\""), "{}", r.toml);
    for fragment in [
        "not mapped: verifier \"cosign\" (cosign): ",
        "not mapped: policy artifactVerificationPolicies \"application/spdx+json\"",
        "not mapped: store oras cosignEnabled",
        "not mapped: store oras useHttp = true",
        "not mapped: executor.verificationRequestTimeout = 6000",
        "not mapped: crl: ",
        "missing: certificate certs/absent.crt: not found",
    ] {
        assert!(r.stderr.contains(fragment), "no {fragment:?} in:\n{}", r.stderr);
    }
}

/// The fixture with its policy section replaced.
fn fixture_with_policy(dir: &Path, policy: Value) -> PathBuf {
    let mut config: Value = serde_json::from_slice(&std::fs::read(fixture_dir().join("config.json")).unwrap()).unwrap();
    config["policy"] = policy;
    let p = dir.join("ratify.json");
    std::fs::write(&p, serde_json::to_vec(&config).unwrap()).unwrap();
    p
}

#[test]
fn rego_policies_are_kept_and_all_maps_to_all_signatures() {
    let dir = TempDir::new("import-rego");
    let module = "package ratify.policy\ndefault valid := false\nvalid {\n  not failed_verify(input)\n}\nfailed_verify(reports) {\n  [path, value] := walk(reports)\n  value == false\n  path[count(path) - 1] == \"isSuccess\"\n}";
    let config = fixture_with_policy(dir.path(), serde_json::json!({"plugin": {"name": "regoPolicy", "policyPath": "", "policy": module}}));
    let out = dir.path().join("rego");
    let r = import(&config, &fixture_dir(), &out);
    assert_usable(&r, dir.path(), &out);
    assert_eq!(std::fs::read_to_string(out.join("policy.rego")).unwrap(), format!("{module}\n"));
    let config = fixture_with_policy(dir.path(), serde_json::json!({"plugin": {"name": "configPolicy"}}));
    let out = dir.path().join("all");
    let r = import(&config, &fixture_dir(), &out);
    assert_usable(&r, dir.path(), &out);
    let all = std::fs::read_to_string(repo().join("policies/all-signatures.rego")).unwrap();
    assert!(std::fs::read_to_string(out.join("policy.rego")).unwrap().ends_with(&all));
}

#[test]
fn invalid_input_exits_2_with_one_line() {
    let dir = TempDir::new("import-invalid");
    let cases = [
        ("not-json.json", "{\"store\": ", "is not JSON"),
        ("v2.json", "{\"executors\": []}", "v2"),
        ("cosign-only.json", "{\"verifier\": {\"plugins\": [{\"name\": \"cosign\"}]}}", "no notation verifier"),
        ("no-trust-policy.json", "{\"verifier\": {\"plugins\": [{\"name\": \"notation\"}]}}", "no trustPolicyDoc"),
        ("policy-only.yaml", "kind: Policy\nmetadata:\n  name: ratify-policy\nspec:\n  type: config-policy\n", "no notation verifier"),
    ];
    for (name, text, fragment) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let r = import(&p, dir.path(), &dir.path().join("out"));
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.toml.is_empty(), "{name}: {}", r.toml);
        assert_eq!(r.stderr.lines().count(), 1, "{name}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: ") && r.stderr.contains(fragment), "{name}: {}", r.stderr);
    }
    let r = import(&dir.path().join("absent.json"), dir.path(), &dir.path().join("out"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!dir.path().join("out").exists(), "invalid input must write nothing");
}

/// Ratify v1 config.json files shipped in ../shared, and the notation Verifier resources.
fn shipped_configs(shared: &Path) -> Vec<PathBuf> {
    let base = shared.join("testvectors/ratify/configs");
    let mut out = Vec::new();
    for sub in ["bats", "repo"] {
        let Ok(entries) = std::fs::read_dir(base.join(sub)) else { continue };
        out.extend(entries.flatten().map(|e| e.path()).filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".json") || name.contains("_verifier_notation")
        }));
    }
    out.sort();
    out
}

/// Names of the verifiers in a config.json that are not notation verifiers.
fn other_verifiers(path: &Path) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(path).unwrap()) else { return Vec::new() };
    let plugins = v.pointer("/verifier/plugins").and_then(Value::as_array).cloned().unwrap_or_default();
    plugins
        .iter()
        .filter(|p| p.get("type").or_else(|| p.get("name")).and_then(Value::as_str) != Some("notation"))
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect()
}

#[test]
fn every_shipped_ratify_config_imports() {
    let Some(shared) = shared() else {
        println!("skipped: ../shared is absent");
        return;
    };
    let configs = shipped_configs(&shared);
    assert!(configs.len() >= 10, "{configs:?}");
    for config in configs {
        let dir = TempDir::new("import-shared");
        let out = dir.path().join("out");
        let r = import(&config, dir.path(), &out);
        println!("{}:\n{}", config.display(), r.stderr);
        assert_usable(&r, dir.path(), &out);
        for name in other_verifiers(&config) {
            assert!(r.stderr.contains(&format!("not mapped: verifier {name:?}")), "{}: {name} not reported:\n{}", config.display(), r.stderr);
        }
        assert!(!r.stderr.is_empty(), "{}: nothing reported, but no shipped config is fully mappable here", config.display());
    }
    let v2 = shared.join("testvectors/ratify/configs/v2-main/config.json");
    let dir = TempDir::new("import-v2");
    let r = import(&v2, dir.path(), &dir.path().join("out"));
    assert_eq!(r.code, 2, "{}", r.stderr);
}
