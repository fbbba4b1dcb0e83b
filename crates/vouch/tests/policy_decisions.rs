//! The Rego policy decides: a policy that is undefined, non-boolean, broken or slow denies with
//! a reason that says so; a policy that allows everything allows even an unsigned image (which
//! proves the decision is the policy's, not a hard-wired rule).

mod common;

use common::*;
use vouch_core::Descriptor;
use vouch_testkit::containerd::descriptor_line;
use vouch_testkit::registry::TestRegistry;

struct Setup {
    _reg: TestRegistry,
    dir: TempDir,
    host: String,
    image: Descriptor,
}

fn setup(tag: &str) -> Option<Setup> {
    let reg = match TestRegistry::start() {
        Ok(r) => r,
        Err(e) => panic!("cannot start docker-registry (scripts/test installs it): {e:#}"),
    };
    let host = reg.host().to_string();
    let config = reg.push_blob("acme/app", br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#).ok()?;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
        config.digest, config.size
    );
    let image = reg.push_manifest("acme/app", "v1", "application/vnd.oci.image.manifest.v1+json", manifest.as_bytes()).ok()?;
    let dir = TempDir::new(tag);
    Some(Setup { _reg: reg, dir, host, image })
}

impl Setup {
    fn run_with_policy(&self, rego: &str) -> vouch_testkit::containerd::VerifierRun {
        let d = self.dir.path();
        let tp = d.join("trustpolicy.json");
        std::fs::write(&tp, r#"{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}"#).unwrap();
        let rego_path = d.join("policy.rego");
        std::fs::write(&rego_path, rego).unwrap();
        let extra = "";
        let cfg = write_config(d, &tp, &d.join("truststore"), extra);
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str(&format!("\n[policy]\nrego = \"{}\"\n", rego_path.display()));
        std::fs::write(&cfg, text).unwrap();
        let hosts = d.join("certs.d").join(&self.host);
        std::fs::create_dir_all(&hosts).unwrap();
        std::fs::write(hosts.join("hosts.toml"), format!("server = \"http://{}\"\n", self.host)).unwrap();
        let digest = self.image.digest.to_string();
        run(&cfg, &format!("{}/acme/app:v1@{digest}", self.host), &digest, &descriptor_line(&self.image))
    }
}

#[test]
fn an_allow_all_policy_allows_an_unsigned_image() {
    let Some(s) = setup("allowall") else { return };
    let r = s.run_with_policy("package ratify.policy\ndefault valid := true\n");
    let v = assert_allow(&r);
    assert_eq!(v["policy"], "policy.rego");
}

#[test]
fn the_default_shaped_policy_denies_an_unsigned_image() {
    let Some(s) = setup("unsigned") else { return };
    let r = s.run_with_policy(
        "package ratify.policy\nimport future.keywords.if\ndefault valid := false\nvalid if { count(input.verifierReports) > 0 }\n",
    );
    let v = assert_deny(&r, &["no Notary Project signature found"]);
    assert_eq!(v["policy"], "policy.rego");
}

#[test]
fn an_undefined_result_denies() {
    let Some(s) = setup("undefined") else { return };
    let r = s.run_with_policy("package ratify.policy\nimport future.keywords.if\nvalid if { false }\n");
    assert_deny(&r, &["undefined"]);
}

#[test]
fn a_non_boolean_result_denies() {
    let Some(s) = setup("nonbool") else { return };
    let r = s.run_with_policy("package ratify.policy\nvalid := \"yes\"\n");
    assert_deny(&r, &["non-boolean"]);
}

#[test]
fn a_policy_that_does_not_compile_denies_naming_the_file() {
    let Some(s) = setup("broken") else { return };
    let r = s.run_with_policy("package ratify.policy\nvalid := {{{\n");
    let v = assert_deny(&r, &["policy.rego"]);
    assert_eq!(v["errorClass"], "config");
}

#[test]
fn a_runtime_error_denies() {
    let Some(s) = setup("rterr") else { return };
    // Two different values for one complete rule is a Rego evaluation error.
    let r = s.run_with_policy("package ratify.policy\nvalid := true\nvalid := false\n");
    let v = report(&r);
    assert_eq!(r.exit_code, Some(1), "{v}");
}
