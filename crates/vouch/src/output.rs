//! stdout discipline: exactly one JSON report per process, at most 32 KiB, whoever finishes
//! first (the run or the deadline watchdog) prints it and ends the process.

use serde_json::{json, Map};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vouch_core::report::STDOUT_LIMIT;
use vouch_core::Report;
use vouch_pipeline::{Mode, Progress};

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
    let mut report = report.clone();
    let code = crate::break_glass::apply(&mut report, code);
    crate::audit_log::record(&report, code);
    let json = report.to_json_bounded(STDOUT_LIMIT - 1);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(json.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    std::process::exit(i32::from(code))
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

/// What the watchdog needs to write its deny.
#[derive(Debug, Clone)]
pub struct WatchState {
    /// When the run must end.
    pub deadline: Instant,
    /// The configured budget, for the message.
    pub budget: Duration,
    /// Enforce or audit.
    pub mode: Mode,
    /// The image, as far as known.
    pub subject: String,
    /// `[on_error]`: whether a passed deadline allows the pull.
    pub on_error: crate::on_error::OnError,
}

/// Starts a thread that ends the process with a deadline deny if the run has not finished
/// shortly after its deadline. The run's own requests time out at the deadline; the grace
/// lets their more precise deny win.
pub fn start_watchdog(state: Arc<Mutex<WatchState>>, progress: Progress) {
    const GRACE: Duration = Duration::from_millis(300);
    std::thread::spawn(move || loop {
        let s = state.lock().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone());
        let fire_at = s.deadline + GRACE;
        let now = Instant::now();
        if now < fire_at {
            // Short naps: the configured timeout replaces the default once the configuration
            // is loaded, and may be shorter.
            std::thread::sleep((fire_at - now).min(Duration::from_millis(50)));
            continue;
        }
        let step = progress.get();
        let step = if step.is_empty() { "starting".to_string() } else { step };
        let reason = format!("deny {}: deadline of {:?} exceeded while {step}", s.subject, s.budget);
        log::error!("{reason}");
        let report = plain_report(false, s.mode.name(), &s.subject, reason, Some("deadline"));
        let (report, code) = crate::on_error::verdict(report, s.mode, &s.on_error);
        finish(&report, code);
    });
}
