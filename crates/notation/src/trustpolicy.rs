//! The notation trust policy document (`trustpolicy.json`, version 1.0), validated on load.
//!
//! Pure data: no crypto and no I/O. [`TrustPolicyDocument::applicable`] picks the statement for
//! a `host/repository` scope (the exact scope first, else the `*` statement), and each statement
//! says, per check, whether a failure is enforced, logged or skipped.

use crate::dn::{self, Attribute};
use crate::error::Check;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

/// Why a trust policy document is invalid, or has no statement for a scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustPolicyError {
    /// Not JSON, or not the document's shape (including unknown fields).
    #[error("it does not parse: {0}")]
    Parse(String),
    /// `version` is not "1.0".
    #[error("version {0:?} is not supported (expected \"1.0\")")]
    Version(String),
    /// A statement breaks a rule; the message names the statement.
    #[error("{0}")]
    Invalid(String),
    /// No statement covers the scope.
    #[error("no trust policy statement applies to {scope} (add it to a statement's registryScopes, or add a \"*\" statement)")]
    NoApplicableStatement {
        /// The `host/repository` looked up.
        scope: String,
    },
}

/// What a failed check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The failure fails the signature.
    Enforce,
    /// The failure is reported but does not fail the signature.
    Log,
    /// The check does not run.
    Skip,
}

impl Action {
    /// `enforce`, `log` or `skip`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Enforce => "enforce",
            Action::Log => "log",
            Action::Skip => "skip",
        }
    }
}

/// A verification level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Every check enforced.
    Strict,
    /// Integrity and authenticity enforced, the rest logged.
    Permissive,
    /// Integrity enforced, the rest logged.
    Audit,
    /// Nothing verified.
    Skip,
}

impl Level {
    /// The level's action for `check`, before overrides (the Notary Project's table).
    pub fn action(self, check: Check) -> Action {
        use Check::*;
        match (self, check) {
            (Level::Skip, _) => Action::Skip,
            (Level::Strict, _) => Action::Enforce,
            (Level::Permissive, Integrity | Authenticity) => Action::Enforce,
            (Level::Permissive, _) => Action::Log,
            (Level::Audit, Integrity) => Action::Enforce,
            (Level::Audit, _) => Action::Log,
        }
    }
}

/// When an RFC 3161 timestamp is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum VerifyTimestamp {
    /// Always, when a `tsa` store is configured.
    #[default]
    #[serde(rename = "always")]
    Always,
    /// Only once the signing certificate has expired.
    #[serde(rename = "afterCertExpiry")]
    AfterCertExpiry,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDocument {
    version: String,
    trust_policies: Vec<RawStatement>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawStatement {
    name: String,
    registry_scopes: Vec<String>,
    signature_verification: RawVerification,
    #[serde(default)]
    trust_stores: Option<Vec<String>>,
    #[serde(default)]
    trusted_identities: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVerification {
    level: Level,
    #[serde(default, rename = "override")]
    overrides: BTreeMap<String, Action>,
    #[serde(default)]
    verify_timestamp: Option<VerifyTimestamp>,
}

/// A trust store reference `type:name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreRef {
    /// `ca`, `signingAuthority` or `tsa`.
    pub kind: StoreKind,
    /// The store's directory name.
    pub name: String,
}

impl std::fmt::Display for StoreRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.name)
    }
}

/// The three trust store types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// Certificate authorities for `notary.x509`.
    Ca,
    /// Signing authorities for `notary.x509.signingAuthority`.
    SigningAuthority,
    /// Timestamping authorities.
    Tsa,
}

impl StoreKind {
    /// The directory and policy name of the type.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Ca => "ca",
            StoreKind::SigningAuthority => "signingAuthority",
            StoreKind::Tsa => "tsa",
        }
    }
}

/// A trusted identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `*`: any signer whose chain is trusted.
    Any,
    /// `x509.subject:<DN>`.
    Subject(Vec<Attribute>),
}

/// One validated statement of the document.
#[derive(Debug, Clone)]
pub struct TrustPolicyStatement {
    name: String,
    scopes: Vec<String>,
    level: Level,
    overrides: BTreeMap<String, Action>,
    /// Trust stores the statement names.
    pub trust_stores: Vec<StoreRef>,
    /// Identities the statement trusts.
    pub trusted_identities: Vec<Identity>,
    /// When timestamps are verified.
    pub verify_timestamp: VerifyTimestamp,
}

impl TrustPolicyStatement {
    /// The statement's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// True for level `skip`: signatures are not verified at all.
    pub fn is_skip(&self) -> bool {
        self.level == Level::Skip
    }

    /// What a failure of `check` does under this statement (level plus overrides).
    pub fn action(&self, check: Check) -> Action {
        if self.level == Level::Skip {
            return Action::Skip;
        }
        self.overrides.get(check.name()).copied().unwrap_or_else(|| self.level.action(check))
    }
}

/// A validated trust policy document.
#[derive(Debug, Clone)]
pub struct TrustPolicyDocument {
    statements: Vec<TrustPolicyStatement>,
}

impl TrustPolicyDocument {
    /// Parses and validates a document.
    pub fn parse(json: &[u8]) -> Result<TrustPolicyDocument, TrustPolicyError> {
        let raw: RawDocument = serde_json::from_slice(json).map_err(|e| TrustPolicyError::Parse(e.to_string()))?;
        if raw.version != "1.0" {
            return Err(TrustPolicyError::Version(raw.version));
        }
        if raw.trust_policies.is_empty() {
            return Err(TrustPolicyError::Invalid("trustPolicies is empty: at least one statement is required".into()));
        }
        let statements = raw.trust_policies.into_iter().map(statement).collect::<Result<Vec<_>, _>>()?;
        check_unique(&statements)?;
        Ok(TrustPolicyDocument { statements })
    }

    /// The statement for `scope` (`host/repository`): exact match first, else `*`.
    pub fn applicable(&self, scope: &str) -> Result<&TrustPolicyStatement, TrustPolicyError> {
        let exact = self.statements.iter().find(|s| s.scopes.iter().any(|x| x == scope));
        exact
            .or_else(|| self.statements.iter().find(|s| s.scopes.iter().any(|x| x == "*")))
            .ok_or_else(|| TrustPolicyError::NoApplicableStatement { scope: scope.to_string() })
    }

    /// All statements.
    pub fn statements(&self) -> &[TrustPolicyStatement] {
        &self.statements
    }
}

fn invalid(msg: String) -> TrustPolicyError {
    TrustPolicyError::Invalid(msg)
}

fn statement(raw: RawStatement) -> Result<TrustPolicyStatement, TrustPolicyError> {
    let name = raw.name;
    if name.trim().is_empty() {
        return Err(invalid("a trust policy statement has an empty name".into()));
    }
    check_scopes(&name, &raw.registry_scopes)?;
    let v = raw.signature_verification;
    for check in v.overrides.keys() {
        match check.as_str() {
            "integrity" => {
                return Err(invalid(format!("statement {name:?}: \"integrity\" verification cannot be overridden")))
            }
            "authenticity" | "authenticTimestamp" | "expiry" | "revocation" => {}
            other => return Err(invalid(format!("statement {name:?}: override of unknown check {other:?}"))),
        }
    }
    let stores = raw.trust_stores.unwrap_or_default();
    let identities = raw.trusted_identities.unwrap_or_default();
    if v.level == Level::Skip {
        if !stores.is_empty() || !identities.is_empty() {
            return Err(invalid(format!(
                "statement {name:?} has level skip and must not list trustStores or trustedIdentities"
            )));
        }
    } else if stores.is_empty() || identities.is_empty() {
        return Err(invalid(format!(
            "statement {name:?} is missing trustStores or trustedIdentities; both must be specified"
        )));
    }
    Ok(TrustPolicyStatement {
        trust_stores: stores.iter().map(|s| store_ref(&name, s)).collect::<Result<_, _>>()?,
        trusted_identities: identities_of(&name, &identities)?,
        verify_timestamp: v.verify_timestamp.unwrap_or_default(),
        scopes: raw.registry_scopes,
        level: v.level,
        overrides: v.overrides,
        name,
    })
}

fn check_scopes(name: &str, scopes: &[String]) -> Result<(), TrustPolicyError> {
    if scopes.is_empty() {
        return Err(invalid(format!("statement {name:?} has zero registry scopes")));
    }
    if scopes.iter().any(|s| s == "*") && scopes.len() > 1 {
        return Err(invalid(format!(
            "statement {name:?} uses the wildcard registry scope \"*\" together with other scopes"
        )));
    }
    for s in scopes.iter().filter(|s| *s != "*") {
        let valid = vouch_core::ImageRef::parse(s)
            .ok()
            .filter(|r| r.tag.is_none() && r.digest.is_none() && r.scope() == *s);
        if valid.is_none() {
            return Err(invalid(format!(
                "statement {name:?}: registry scope {s:?} is not valid; use a fully qualified host/repository without tag or digest"
            )));
        }
    }
    Ok(())
}

fn store_ref(statement: &str, s: &str) -> Result<StoreRef, TrustPolicyError> {
    let bad = |why: &str| invalid(format!("statement {statement:?}: trust store {s:?} {why}; the format is <type>:<name>"));
    let (kind, name) = s.split_once(':').ok_or_else(|| bad("is malformed"))?;
    let kind = match kind {
        "ca" => StoreKind::Ca,
        "signingAuthority" => StoreKind::SigningAuthority,
        "tsa" => StoreKind::Tsa,
        _ => return Err(bad("has an unsupported type (ca, signingAuthority or tsa)")),
    };
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !name_ok {
        return Err(bad("has an invalid name (letters, digits, '_', '.', '-')"));
    }
    Ok(StoreRef { kind, name: name.to_string() })
}

fn identities_of(statement: &str, ids: &[String]) -> Result<Vec<Identity>, TrustPolicyError> {
    if ids.iter().any(|i| i == "*") {
        if ids.len() > 1 {
            return Err(invalid(format!(
                "statement {statement:?} uses the wildcard trusted identity \"*\" together with other values"
            )));
        }
        return Ok(vec![Identity::Any]);
    }
    let mut out: Vec<Vec<Attribute>> = Vec::new();
    for id in ids {
        if id.trim().is_empty() {
            return Err(invalid(format!("statement {statement:?} has an empty trusted identity")));
        }
        let (kind, value) = id.split_once(':').ok_or_else(|| {
            invalid(format!("statement {statement:?}: trusted identity {id:?} is not <type>:<value> (e.g. x509.subject:C=US,ST=WA,O=acme)"))
        })?;
        if kind != "x509.subject" {
            return Err(invalid(format!("statement {statement:?}: trusted identity type {kind:?} is not supported (x509.subject)")));
        }
        let attrs = dn::parse(value)
            .and_then(|a| dn::check_mandatory(&a).map(|()| a))
            .map_err(|e| invalid(format!("statement {statement:?}: trusted identity {id:?} is invalid: {e}")))?;
        if out.iter().any(|o| dn::is_subset(o, &attrs) || dn::is_subset(&attrs, o)) {
            return Err(invalid(format!("statement {statement:?} has overlapping x509 trustedIdentities ({id:?})")));
        }
        out.push(attrs);
    }
    Ok(out.into_iter().map(Identity::Subject).collect())
}

fn check_unique(statements: &[TrustPolicyStatement]) -> Result<(), TrustPolicyError> {
    let mut names = HashSet::new();
    let mut scopes = HashSet::new();
    for s in statements {
        if !names.insert(s.name.as_str()) {
            return Err(invalid(format!("several statements use the name {:?}; names must be unique", s.name)));
        }
        for scope in &s.scopes {
            if !scopes.insert(scope.as_str()) {
                return Err(invalid(format!("registry scope {scope:?} is present in several trust policy statements")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(statements: &str) -> Result<TrustPolicyDocument, TrustPolicyError> {
        TrustPolicyDocument::parse(format!("{{\"version\":\"1.0\",\"trustPolicies\":[{statements}]}}").as_bytes())
    }

    fn st(name: &str, scopes: &str, level: &str) -> String {
        format!(r#"{{"name":"{name}","registryScopes":[{scopes}],"signatureVerification":{{"level":"{level}"}},"trustStores":["ca:x"],"trustedIdentities":["*"]}}"#)
    }

    #[test]
    fn exact_scope_wins_over_wildcard() {
        let d = doc(&[st("all", "\"*\"", "audit"), st("one", "\"r.io/a/b\"", "strict")].join(",")).unwrap();
        assert_eq!(d.applicable("r.io/a/b").unwrap().name(), "one");
        assert_eq!(d.applicable("r.io/a/c").unwrap().name(), "all");
        let d = doc(&st("one", "\"r.io/a/b\"", "strict")).unwrap();
        assert!(matches!(d.applicable("r.io/x"), Err(TrustPolicyError::NoApplicableStatement { .. })));
    }

    #[test]
    fn level_table_and_overrides() {
        use Action::*;
        let expect = [
            (Level::Strict, [Enforce, Enforce, Enforce, Enforce, Enforce]),
            (Level::Permissive, [Enforce, Enforce, Log, Log, Log]),
            (Level::Audit, [Enforce, Log, Log, Log, Log]),
            (Level::Skip, [Skip, Skip, Skip, Skip, Skip]),
        ];
        for (level, actions) in expect {
            for (check, action) in Check::ALL.iter().zip(actions) {
                assert_eq!(level.action(*check), action, "{level:?} {check:?}");
            }
        }
        let d = doc(r#"{"name":"o","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"expiry":"log","revocation":"skip"}},"trustStores":["ca:x"],"trustedIdentities":["*"]}"#).unwrap();
        let s = d.applicable("a.io/b").unwrap();
        assert_eq!(s.action(Check::Expiry), Log);
        assert_eq!(s.action(Check::Revocation), Skip);
        assert_eq!(s.action(Check::Authenticity), Enforce);
    }

    #[test]
    fn invalid_documents() {
        let cases = [
            (doc(&[st("a", "\"*\"", "strict"), st("a", "\"r.io/x\"", "strict")].join(",")), "names must be unique"),
            (doc(&[st("a", "\"r.io/x\"", "strict"), st("b", "\"r.io/x\"", "strict")].join(",")), "present in several"),
            (doc(&[st("a", "\"*\"", "strict"), st("b", "\"*\"", "strict")].join(",")), "present in several"),
            (doc(&st("a", "\"*\",\"r.io/x\"", "strict")), "together with other scopes"),
            (doc(&st("a", "", "strict")), "zero registry scopes"),
            (doc(&st("a", "\"r.io\\\\x\"", "strict")), "is not valid"),
            (doc(&st("a", "\"r.io/x:tag\"", "strict")), "is not valid"),
            (doc(&st("a", "\"*\"", "lenient")), "does not parse"),
            (doc(&st("a", "\"*\"", "skip")), "must not list"),
            (doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"integrity":"log"}},"trustStores":["ca:x"],"trustedIdentities":["*"]}"#), "cannot be overridden"),
            (doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:"],"trustedIdentities":["*"]}"#), "invalid name"),
            (doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["*"],"trustedIdentities":["*"]}"#), "malformed"),
            (doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"]}"#), "both must be specified"),
            (doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*","x509.subject:C=US,ST=WA,O=a"]}"#), "wildcard trusted identity"),
            (doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["x509.subject C=US"]}"#), "not <type>:<value>"),
            (doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["x509.subject:CN=e2e,ST=WA,C=US"]}"#), "no O attribute"),
            (doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["x509.subject:C=US,ST=WA,O=a","x509.subject:C=US,ST=WA,O=a,CN=b"]}"#), "overlapping"),
            (doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"],"extra":1}"#), "unknown field"),
            (TrustPolicyDocument::parse(br#"{"version":"2.0","trustPolicies":[]}"#), "version"),
            (TrustPolicyDocument::parse(br#"{"version":"1.0","trustPolicies":[]}"#), "at least one statement"),
        ];
        for (i, (result, fragment)) in cases.into_iter().enumerate() {
            let err = result.expect_err(&format!("case {i} should be invalid")).to_string();
            assert!(err.contains(fragment), "case {i}: {err:?} lacks {fragment:?}");
        }
    }
}
