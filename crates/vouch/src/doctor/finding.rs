//! One doctor finding and how findings are printed.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks pulls or silently disables verification; doctor exits 1.
    Error,
    /// Worth fixing, but pulls are verified as configured.
    Warning,
}

/// A problem found, with the setting or file it concerns and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The TOML key (with the file that sets it) or the file path at fault.
    pub subject: String,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl Finding {
    /// An error finding.
    pub fn error(subject: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { severity: Severity::Error, subject: subject.into(), problem: one_line(problem.into()), fix: one_line(fix.into()) }
    }

    /// A warning finding.
    pub fn warning(subject: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding { severity: Severity::Warning, ..Finding::error(subject, problem, fix) }
    }

    /// `error    <subject>: <problem>; fix: <fix>`.
    pub fn line(&self) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!("{level:<8} {}: {}; fix: {}", self.subject, self.problem, self.fix)
    }
}

fn one_line(s: String) -> String {
    if s.contains('\n') { s.split_whitespace().collect::<Vec<_>>().join(" ") } else { s }
}

fn counts(findings: &[Finding]) -> (usize, usize) {
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    (errors, findings.len() - errors)
}

/// One line per finding, then a summary line.
pub fn to_text(findings: &[Finding]) -> String {
    let mut out: String = findings.iter().map(|f| f.line() + "\n").collect();
    let (errors, warnings) = counts(findings);
    let verdict = if errors == 0 { "ok" } else { "problems found" };
    out.push_str(&format!("vouch doctor: {verdict}: {errors} error(s), {warnings} warning(s)\n"));
    out
}

/// `{"ok":…,"errors":N,"warnings":N,"findings":[…]}`.
pub fn to_json(findings: &[Finding]) -> String {
    let (errors, warnings) = counts(findings);
    let doc = serde_json::json!({ "ok": errors == 0, "errors": errors, "warnings": warnings, "findings": findings });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
