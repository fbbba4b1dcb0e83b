//! Break-glass: while the file `/etc/vouch/break-glass` (or `$VOUCH_BREAK_GLASS`) exists, every
//! containerd run exits 0, whatever happened (a deny, a missing or broken configuration, bad
//! input, a usage error). The report keeps the real `isSuccess`, says `"mode": "audit"` and
//! carries the operator's reason, the file's first line, as `"breakGlass"`.
//!
//! The file is looked up before the configuration is read, so it works when the configuration
//! is what is broken.

use crate::output::EXIT_ALLOW;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;
use vouch_core::Report;

/// Where the break-glass file lives unless `VOUCH_BREAK_GLASS` names another path.
pub const DEFAULT_PATH: &str = "/etc/vouch/break-glass";
/// The environment variable that overrides [`DEFAULT_PATH`].
pub const ENV: &str = "VOUCH_BREAK_GLASS";
/// The reason is cut to this many characters.
const REASON_LIMIT: usize = 200;
/// At most this much of the file is read.
const READ_LIMIT: u64 = 4096;

static ACTIVE: OnceLock<String> = OnceLock::new();

/// The break-glass file's path: `$VOUCH_BREAK_GLASS` when set and not empty, else the default.
pub fn path() -> PathBuf {
    match std::env::var_os(ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_PATH),
    }
}

/// The operator's reason when the break-glass file exists; `None` when it does not.
pub fn read() -> Option<String> {
    let path = path();
    std::fs::symlink_metadata(&path).ok()?;
    let mut text = String::new();
    let read = std::fs::File::open(&path).and_then(|f| f.take(READ_LIMIT).read_to_string(&mut text));
    Some(match read {
        Ok(_) => reason_from(&text),
        Err(e) => format!("(break-glass file {} is present but unreadable: {e})", path.display()),
    })
}

/// The first non-empty line, trimmed, at most [`REASON_LIMIT`] characters.
fn reason_from(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if line.is_empty() {
        return "(no reason given)".to_string();
    }
    line.chars().take(REASON_LIMIT).collect()
}

/// Looks for the break-glass file and, when present, switches this process to break-glass and
/// logs it. Returns the reason.
pub fn activate() -> Option<&'static str> {
    if let Some(r) = ACTIVE.get() {
        return Some(r.as_str());
    }
    let reason = read()?;
    log::warn!(
        "break-glass: {} exists, every pull is allowed and only audited (reason: {reason}); remove the file to enforce again",
        path().display()
    );
    Some(ACTIVE.get_or_init(|| reason).as_str())
}

/// The reason, when break-glass is active in this process.
pub fn active() -> Option<&'static str> {
    ACTIVE.get().map(String::as_str)
}

/// Whether argv is containerd's invocation (it carries `-name`, `-digest` or
/// `-stdin-media-type`, or no subcommand at all), whose usage errors break-glass also covers.
pub fn is_containerd_invocation(args: &[String]) -> bool {
    const FLAGS: [&str; 3] = ["name", "digest", "stdin-media-type"];
    let rest = args.get(1..).unwrap_or_default();
    let flag = |a: &String| {
        let word = a.trim_start_matches('-');
        a.starts_with('-') && FLAGS.contains(&word.split('=').next().unwrap_or(word))
    };
    rest.iter().any(flag) || rest.iter().all(|a| a.starts_with('-'))
}

/// Applies break-glass, when active, to a finished report: marks it and turns any exit code
/// into 0 (a deny's reason becomes `audit: would deny …`). Returns the exit code to use.
pub fn apply(report: &mut Report, code: u8) -> u8 {
    let Some(reason) = active() else { return code };
    report.extra.insert("breakGlass".into(), json!(reason));
    report.mode = "audit".to_string();
    if code == EXIT_ALLOW || report.reason.starts_with("audit: ") {
        return EXIT_ALLOW;
    }
    report.reason = if report.reason.starts_with("deny ") {
        format!("audit: would {}", report.reason)
    } else {
        format!("audit: would deny: {}", report.reason)
    };
    EXIT_ALLOW
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn reason_is_the_first_line_trimmed_and_cut() {
        assert_eq!(reason_from("  INC-42: registry down \nsecond line\n"), "INC-42: registry down");
        assert_eq!(reason_from("\n\n  x\n"), "x");
        assert_eq!(reason_from(""), "(no reason given)");
        assert_eq!(reason_from(&"é".repeat(500)).chars().count(), REASON_LIMIT);
    }

    #[test]
    fn containerd_invocations_are_recognised() {
        assert!(is_containerd_invocation(&argv("vouch -name a -digest d -stdin-media-type t -bogus")));
        assert!(is_containerd_invocation(&argv("vouch --digest=d")));
        assert!(is_containerd_invocation(&argv("vouch")));
        assert!(is_containerd_invocation(&argv("vouch -frobnicate")));
        assert!(!is_containerd_invocation(&argv("vouch verify --bogus x")));
        assert!(!is_containerd_invocation(&argv("vouch log --since soon")));
    }
}
