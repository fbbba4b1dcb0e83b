//! Rego policy evaluation for vouch, compatible with Ratify.
//!
//! A policy is a Rego module in package `ratify.policy` whose rule `valid` says whether the
//! image is allowed. The input is Ratify's v1 Rego input, `{"verifierReports": [...]}`, built
//! from the report vouch prints. Ratify's policies are written in Rego v0 syntax (optionally with
//! `import future.keywords.*`), so modules are loaded in v0 mode; a module that only parses as
//! Rego v1 is accepted too.
//!
//! Every outcome other than a boolean is an error: an undefined rule, a non-boolean value or an
//! evaluation error all deny, with a [`PolicyError`] that says which.

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};
use std::num::NonZeroU32;
use std::time::Duration;

/// The rule vouch queries, as Ratify does.
pub const QUERY: &str = "data.ratify.policy.valid";

/// The policy used when the configuration names none: at least one notation signature verified.
pub const DEFAULT_POLICY: &str = include_str!("../../../policies/default.rego");

/// Why a policy could not give a decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The module does not parse or compile.
    #[error("policy {name} does not compile: {reason}")]
    Compile {
        /// The policy's file name.
        name: String,
        /// The parser's message.
        reason: String,
    },
    /// The module is not in package `ratify.policy`.
    #[error("policy {name} is in package {package}, expected package ratify.policy (vouch queries data.ratify.policy.valid)")]
    WrongPackage {
        /// The policy's file name.
        name: String,
        /// The package it declares.
        package: String,
    },
    /// `valid` is undefined for this input.
    #[error("policy {name} gave no decision: data.ratify.policy.valid is undefined (add `default valid = false`)")]
    Undefined {
        /// The policy's file name.
        name: String,
    },
    /// `valid` is not a boolean.
    #[error("policy {name} gave a non-boolean decision: data.ratify.policy.valid = {value}")]
    NotBoolean {
        /// The policy's file name.
        name: String,
        /// The value, as JSON (shortened).
        value: String,
    },
    /// Evaluation failed (including running out of time).
    #[error("policy {name} failed to evaluate: {reason}")]
    Evaluation {
        /// The policy's file name.
        name: String,
        /// The interpreter's message.
        reason: String,
    },
}

/// A loaded policy, ready to evaluate.
pub struct Policy {
    name: String,
    engine: Engine,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("name", &self.name).finish()
    }
}

impl Policy {
    /// Loads the embedded default policy (`policies/default.rego`).
    pub fn embedded_default() -> Policy {
        // The embedded module is tested to compile; failing here would be a build defect.
        Policy::load("default.rego", DEFAULT_POLICY).unwrap_or_else(|e| panic!("embedded default policy: {e}"))
    }

    /// Compiles `text`, tried as Rego v0 first (Ratify's syntax) and then as Rego v1.
    pub fn load(name: &str, text: &str) -> Result<Policy, PolicyError> {
        let text = &rewrite_walk_calls(text);
        let first_v0 = !looks_like_rego_v1(text);
        let (engine, package) = match compile(name, text, first_v0) {
            Ok(ok) => ok,
            Err(first_err) => compile(name, text, !first_v0).map_err(|_| first_err)?,
        };
        if package != "data.ratify.policy" {
            let package = package.trim_start_matches("data.").to_string();
            return Err(PolicyError::WrongPackage { name: name.to_string(), package });
        }
        Ok(Policy { name: name.to_string(), engine })
    }

    /// The policy's file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Evaluates `data.ratify.policy.valid` for `input` (`{"verifierReports": [...]}`), giving up
    /// after `time_limit`.
    pub fn evaluate(&mut self, input: &serde_json::Value, time_limit: Duration) -> Result<bool, PolicyError> {
        let name = self.name.clone();
        let timer = ExecutionTimerConfig { limit: time_limit, check_interval: NonZeroU32::MIN };
        self.engine.set_execution_timer_config(timer);
        self.engine.set_input(Value::from(input.clone()));
        let value = self
            .engine
            .eval_rule(QUERY.to_string())
            .map_err(|e| PolicyError::Evaluation { name: name.clone(), reason: one_line(&e.to_string()) })?;
        match value {
            Value::Bool(b) => Ok(b),
            Value::Undefined => Err(PolicyError::Undefined { name }),
            other => {
                let value: String = other.to_string().chars().take(200).collect();
                Err(PolicyError::NotBoolean { name, value })
            }
        }
    }
}

fn compile(name: &str, text: &str, rego_v0: bool) -> Result<(Engine, String), PolicyError> {
    let mut engine = Engine::new();
    engine.set_rego_v0(rego_v0);
    // Builtins that fail (bad arguments) make the rule undefined rather than aborting, as OPA does.
    engine.set_strict_builtin_errors(false);
    let package = engine
        .add_policy(name.to_string(), text.to_string())
        .map_err(|e| PolicyError::Compile { name: name.to_string(), reason: one_line(&e.to_string()) })?;
    Ok((engine, package))
}

/// True for modules that use `if` before a rule body without importing it: Rego v1 syntax.
///
/// regorus's v0 parser accepts such modules but then misreads the rules (function arguments
/// become unsafe variables at evaluation), so they are compiled as v1 first.
fn looks_like_rego_v1(text: &str) -> bool {
    let imports_keywords = text.contains("future.keywords") || text.contains("import rego.v1");
    !imports_keywords && text.split(|c: char| c.is_whitespace() || c == ')').any(|w| w == "if")
}

/// Rewrites `[path, value] := walk(x)` into the relation form `walk(x, [path, value])`.
///
/// In OPA both forms enumerate every nested document; regorus enumerates only with the
/// relation form. Ratify's documented policies use the assignment form, so it is rewritten
/// before compiling rather than asking users to edit their policies.
fn rewrite_walk_calls(text: &str) -> std::borrow::Cow<'_, str> {
    // Compiling the pattern costs more than evaluating most policies; most have no walk.
    if !text.contains("walk(") {
        return std::borrow::Cow::Borrowed(text);
    }
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = PATTERN.get_or_init(|| {
        let ident = r"([A-Za-z_][A-Za-z0-9_]*)";
        let pattern = format!(r"\[\s*{ident}\s*,\s*{ident}\s*\]\s*:=\s*walk\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\)");
        regex::Regex::new(&pattern).expect("constant pattern")
    });
    re.replace_all(text, "walk($3, [$1, $2])")
}

/// Folds a multi-line interpreter message into one line for a deny reason.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SEC: Duration = Duration::from_secs(1);

    fn nested(results: &[bool]) -> serde_json::Value {
        let reports: Vec<_> =
            results.iter().map(|ok| json!({"isSuccess": ok, "name": "notation", "message": "", "extensions": {}})).collect();
        json!({"subject": "s", "referenceDigest": "sha256:00", "artifactType": "application/vnd.cncf.notary.signature",
               "verifierReports": reports, "nestedReports": []})
    }

    #[test]
    fn default_needs_one_good_signature() {
        let mut p = Policy::embedded_default();
        assert!(!p.evaluate(&json!({"verifierReports": []}), SEC).unwrap());
        assert!(!p.evaluate(&json!({"verifierReports": [nested(&[false])]}), SEC).unwrap());
        assert!(p.evaluate(&json!({"verifierReports": [nested(&[false]), nested(&[true])]}), SEC).unwrap());
    }

    #[test]
    fn undefined_and_non_boolean_are_errors() {
        let mut p = Policy::load("u.rego", "package ratify.policy\nvalid { input.x == 1 }").unwrap();
        assert!(matches!(p.evaluate(&json!({}), SEC), Err(PolicyError::Undefined { .. })));
        let mut p = Policy::load("n.rego", "package ratify.policy\nvalid = \"yes\"").unwrap();
        assert!(matches!(p.evaluate(&json!({}), SEC), Err(PolicyError::NotBoolean { .. })));
    }

    #[test]
    fn bad_modules_are_refused() {
        assert!(matches!(Policy::load("x.rego", "package ratify.policy\nvalid {"), Err(PolicyError::Compile { .. })));
        assert!(matches!(
            Policy::load("p.rego", "package other\nvalid = true"),
            Err(PolicyError::WrongPackage { package, .. }) if package == "other"
        ));
    }

    #[test]
    fn walk_assignments_enumerate_like_opa() {
        assert_eq!(rewrite_walk_calls("[path, value] := walk(reports)"), "walk(reports, [path, value])");
        assert_eq!(rewrite_walk_calls("[p,v]:=walk( input.a )"), "walk(input.a, [p, v])");
        assert_eq!(rewrite_walk_calls("x := walk(y)"), "x := walk(y)");
        let text = "package ratify.policy\ndefault valid = false\nvalid { not bad }\nbad { [p, v] := walk(input); v == false }";
        let mut p = Policy::load("w.rego", text).unwrap();
        assert!(!p.evaluate(&json!({"verifierReports": [nested(&[true, false])]}), SEC).unwrap());
        assert!(p.evaluate(&json!({"verifierReports": [nested(&[true, true])]}), SEC).unwrap());
    }

    #[test]
    fn v1_syntax_is_accepted_too() {
        let mut p = Policy::load("v1.rego", "package ratify.policy\ndefault valid := false\nvalid if { count(input.verifierReports) > 0 }").unwrap();
        assert!(p.evaluate(&json!({"verifierReports": [nested(&[true])]}), SEC).unwrap());
    }

    #[test]
    fn runaway_policies_time_out() {
        let text = "package ratify.policy\nvalid { count({[x, y] | x := numbers.range(1, 3000)[_]; y := numbers.range(1, 3000)[_]}) > 0 }";
        let mut p = Policy::load("slow.rego", text).unwrap();
        let err = p.evaluate(&json!({}), Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, PolicyError::Evaluation { .. }), "{err:?}");
    }
}
