//! `vouch policy test POLICY.rego CASES_DIR`: runs a Rego policy over saved reports.
//!
//! Each case is `NAME.json` (a report as vouch prints it, or a bare Rego input) and
//! `NAME.expected` holding `allow` or `deny`. The policy sees exactly what it sees in a run:
//! `{"verifierReports": …}` taken from the report.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vouch_policy::Policy;

/// Exit code when every case passed.
const OK: u8 = 0;
/// Exit code when a case failed or could not be read.
const FAILED: u8 = 1;

/// One case's outcome.
struct CaseResult {
    name: String,
    passed: bool,
    detail: String,
}

/// Runs every case in `cases` against the policy file; prints a line per case and a summary.
pub fn run(policy_path: &Path, cases: &Path) -> u8 {
    let mut policy = match load(policy_path) {
        Ok(p) => p,
        Err(e) => {
            println!("error: {e}");
            return FAILED;
        }
    };
    let files = match case_files(cases) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            println!("error: {} holds no NAME.json / NAME.expected cases", cases.display());
            return FAILED;
        }
        Err(e) => {
            println!("error: {e}");
            return FAILED;
        }
    };
    let results: Vec<CaseResult> = files.iter().map(|f| run_case(&mut policy, f)).collect();
    for r in &results {
        println!("{} {}{}", if r.passed { "pass" } else { "FAIL" }, r.name, r.detail);
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    println!("{} cases, {} passed, {failed} failed ({})", results.len(), results.len() - failed, policy.name());
    if failed == 0 {
        OK
    } else {
        FAILED
    }
}

fn load(path: &Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    Policy::load(&name, &text).map_err(|e| e.to_string())
}

/// The `NAME.json` files of the directory, sorted by name.
fn case_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    files.sort();
    Ok(files)
}

fn run_case(policy: &mut Policy, report_path: &Path) -> CaseResult {
    let name = report_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let fail = |detail: String| CaseResult { name: name.clone(), passed: false, detail: format!(": {detail}") };
    let expected = match expected(&report_path.with_extension("expected")) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let input = match read_input(report_path) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let decided = policy.evaluate(&input, Duration::from_secs(5)).unwrap_or(false);
    let word = |allow: bool| if allow { "allow" } else { "deny" };
    if decided == expected {
        CaseResult { name, passed: true, detail: format!(" ({})", word(decided)) }
    } else {
        fail(format!("expected {}, policy said {}", word(expected), word(decided)))
    }
}

/// `allow` → true, `deny` → false.
fn expected(path: &Path) -> Result<bool, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match text.trim() {
        "allow" => Ok(true),
        "deny" => Ok(false),
        other => Err(format!("{} says {other:?}; write allow or deny", path.display())),
    }
}

/// The Rego input of a saved report: its `verifierReports`.
fn read_input(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let reports = v.get("verifierReports").cloned().ok_or_else(|| format!("{} has no verifierReports", path.display()))?;
    Ok(json!({ "verifierReports": reports }))
}
