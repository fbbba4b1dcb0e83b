//! stdout discipline: exactly one JSON report per process, at most 32 KiB, whoever finishes
//! first (the run or the deadline guard in [`crate::watchdog`]) prints it and ends the process.

use serde_json::{json, Map};
use std::io::Write;
use std::sync::Mutex;
use vouch_core::report::STDOUT_LIMIT;
use vouch_core::Report;
use vouch_pipeline::Mode;

/// Exit code that allows the pull.
pub const EXIT_ALLOW: u8 = 0;
/// Exit code that denies the pull.
pub const EXIT_DENY: u8 = 1;
/// Exit code for usage errors (also blocks the pull).
pub const EXIT_USAGE: u8 = 2;

static PRINTED: Mutex<()> = Mutex::new(());

/// Prints `report` and ends the process with `code`. A second caller (the watchdog racing the
/// run) blocks here until the first has exited. Break-glass, when active, turns the code into 0
/// and marks the report; the decision goes to the audit log when one is attached.
pub fn finish(report: &Report, code: u8) -> ! {
    let _guard = PRINTED.lock().unwrap_or_else(|p| p.into_inner());
    if !crate::watchdog::claim_stdout() {
        // The deadline timer's handler is printing its report and ending the process.
        loop {
            std::thread::park();
        }
    }
    let (report, code) = as_printed(report, code);
    crate::audit_log::record(&report, code);
    let json = report.to_json_bounded(STDOUT_LIMIT - 1);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(json.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    std::process::exit(i32::from(code))
}

/// The report and exit code as printed: break-glass, when active, applied.
fn as_printed(report: &Report, code: u8) -> (Report, u8) {
    let mut report = report.clone();
    let code = crate::break_glass::apply(&mut report, code);
    (report, code)
}

/// The line [`finish`] would print for `report` (without the newline), and its exit code.
pub fn render(report: &Report, code: u8) -> (String, u8) {
    let (report, code) = as_printed(report, code);
    (report.to_json_bounded(STDOUT_LIMIT - 1), code)
}

/// A report with no signature detail.
pub fn plain_report(ok: bool, mode: &str, subject: &str, reason: String, class: Option<&str>) -> Report {
    let mut extra = Map::new();
    if let Some(c) = class {
        extra.insert("errorClass".into(), json!(c));
    }
    Report { is_success: ok, mode: mode.to_string(), subject: subject.to_string(), reason, verifier_reports: vec![], extra }
}

/// Prints a usage-error report and exits 2.
pub fn usage_error(reason: &str) -> u8 {
    let report = plain_report(false, "enforce", "", format!("usage error: {reason}"), Some("usage"));
    finish(&report, EXIT_USAGE)
}

/// The exit code for a finished report under `mode`, rewriting the reason in audit mode.
pub fn verdict(mut report: Report, mode: Mode) -> (Report, u8) {
    if report.is_success {
        return (report, EXIT_ALLOW);
    }
    match mode {
        Mode::Enforce => (report, EXIT_DENY),
        Mode::Audit => {
            report.reason = format!("audit: would {}", report.reason);
            (report, EXIT_ALLOW)
        }
    }
}
