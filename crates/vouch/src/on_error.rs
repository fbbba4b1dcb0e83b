//! `[on_error]`: whether an infrastructure failure (the registry could not be read, the deadline
//! passed) denies the pull or allows it. Bad or missing signatures and configuration errors
//! always deny under enforce; only the `registry` and `deadline` error classes are covered.

use crate::output::{verdict as mode_verdict, EXIT_ALLOW};
use serde::Deserialize;
use serde_json::{json, Value};
use vouch_core::Report;
use vouch_pipeline::Mode;

/// `[on_error]` as written in the file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OnErrorSection {
    /// What a registry failure does: `deny` (default) or `allow`.
    registry: Option<String>,
    /// What a passed deadline does: `deny` (default) or `allow`.
    deadline: Option<String>,
}

/// What an infrastructure failure does to the pull.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Action {
    /// Block the pull (fail closed).
    #[default]
    Deny,
    /// Let the pull through; the report keeps `isSuccess: false`.
    Allow,
}

/// The resolved failure policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnError {
    /// For `errorClass: "registry"`.
    pub registry: Action,
    /// For `errorClass: "deadline"`.
    pub deadline: Action,
}

impl OnError {
    /// The error class of a failed `report` that this policy allows, if any.
    fn allowed_class(&self, report: &Report) -> Option<&'static str> {
        if report.is_success {
            return None;
        }
        match report.extra.get("errorClass").and_then(Value::as_str) {
            Some("registry") if self.registry == Action::Allow => Some("registry"),
            Some("deadline") if self.deadline == Action::Allow => Some("deadline"),
            _ => None,
        }
    }
}

/// Validates the section.
pub fn resolve(section: &OnErrorSection) -> Result<OnError, String> {
    Ok(OnError { registry: action("registry", &section.registry)?, deadline: action("deadline", &section.deadline)? })
}

fn action(key: &str, value: &Option<String>) -> Result<Action, String> {
    match value.as_deref() {
        None | Some("deny") => Ok(Action::Deny),
        Some("allow") => Ok(Action::Allow),
        Some(other) => Err(format!("on_error.{key} = {other:?} is not one of \"deny\", \"allow\"")),
    }
}

/// The exit code for a finished report under `mode` and the failure policy. A failure the
/// policy allows exits 0 with `isSuccess` still false, `allowedByOnError` naming the class and
/// the reason saying so; everything else is decided by the mode.
pub fn verdict(mut report: Report, mode: Mode, policy: &OnError) -> (Report, u8) {
    let Some(class) = policy.allowed_class(&report) else { return mode_verdict(report, mode) };
    report.reason = format!("allowed by [on_error] {class} = \"allow\": {}", report.reason);
    report.extra.insert("allowedByOnError".into(), json!(class));
    log::warn!("{}", report.reason);
    (report, EXIT_ALLOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{plain_report, EXIT_DENY};

    fn deny(class: &str) -> Report {
        plain_report(false, "enforce", "s", format!("deny s: {class} trouble"), Some(class))
    }

    #[test]
    fn defaults_deny_everything() {
        let p = resolve(&OnErrorSection::default()).unwrap();
        for class in ["registry", "deadline", "signature", "config"] {
            assert_eq!(verdict(deny(class), Mode::Enforce, &p).1, EXIT_DENY, "{class}");
        }
    }

    #[test]
    fn allow_covers_only_its_class() {
        let p = resolve(&OnErrorSection { registry: Some("allow".into()), deadline: None }).unwrap();
        let (r, code) = verdict(deny("registry"), Mode::Enforce, &p);
        assert_eq!(code, EXIT_ALLOW);
        assert!(!r.is_success);
        assert!(r.reason.starts_with("allowed by [on_error] registry = \"allow\": deny s:"), "{}", r.reason);
        assert_eq!(r.extra["allowedByOnError"], "registry");
        for class in ["deadline", "signature", "policy", "config", "input"] {
            assert_eq!(verdict(deny(class), Mode::Enforce, &p).1, EXIT_DENY, "{class}");
        }
        let p = resolve(&OnErrorSection { registry: None, deadline: Some("allow".into()) }).unwrap();
        assert_eq!(verdict(deny("deadline"), Mode::Enforce, &p).1, EXIT_ALLOW);
        assert_eq!(verdict(deny("registry"), Mode::Enforce, &p).1, EXIT_DENY);
    }

    #[test]
    fn audit_mode_still_rewrites_other_denies() {
        let p = OnError::default();
        let (r, code) = verdict(deny("signature"), Mode::Audit, &p);
        assert_eq!(code, EXIT_ALLOW);
        assert!(r.reason.starts_with("audit: would deny"));
    }

    #[test]
    fn invalid_values_are_named() {
        let e = resolve(&OnErrorSection { registry: Some("maybe".into()), deadline: None }).unwrap_err();
        assert!(e.contains("on_error.registry = \"maybe\""), "{e}");
    }
}
