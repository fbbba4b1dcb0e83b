//! The audit log (`audit_log` in the configuration): one JSON line per containerd decision.
//!
//! Many vouch processes append to the same file at once. Each opens it with `O_APPEND`, takes an
//! exclusive `flock` on it, checks that the path still names the file it locked (another process
//! may have rotated it meanwhile), rotates when the line would take the file past
//! `audit_log_max` (`decisions.jsonl` → `.1` → `.2` → `.3`, the oldest dropped), and writes the
//! whole line with one `write`. The file is created 0600: it names images, never secrets.
//!
//! A failure to write the log never changes a verdict: it is one warning on stderr.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use vouch_core::Report;

/// Default `audit_log_max`.
pub const DEFAULT_MAX: u64 = 50 << 20;
/// Smallest accepted `audit_log_max`.
pub const MIN_MAX: u64 = 1024;
/// Rotated files kept beside the log (`.1` newest … `.3` oldest).
pub const KEEP: usize = 3;
/// How long a process waits for the lock before giving up on its line.
const LOCK_WAIT: Duration = Duration::from_millis(500);
/// How many times the open-lock-check cycle is retried while other processes rotate.
const ATTEMPTS: usize = 8;

/// Where and how big the audit log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLogSettings {
    /// The log file (`audit_log`).
    pub path: PathBuf,
    /// Rotate before the file would grow past this many bytes (`audit_log_max`).
    pub max_bytes: u64,
}

/// One decision, as one line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When the decision was made (RFC 3339, UTC).
    pub time: String,
    /// The image reference as containerd passed it (`-name`).
    #[serde(rename = "ref")]
    pub reference: String,
    /// The image digest as containerd passed it (`-digest`).
    pub digest: String,
    /// `allow` (exit 0) or `deny`.
    pub verdict: String,
    /// The real verification result (false for audit-mode and break-glass allows of a deny).
    #[serde(rename = "isSuccess")]
    pub is_success: bool,
    /// `enforce` or `audit`.
    pub mode: String,
    /// The report's one-sentence reason.
    pub reason: String,
    /// Whether the verdict came from the verdict cache.
    pub cached: bool,
    /// Wall time of the run, in milliseconds.
    pub duration_ms: f64,
    /// The subject DN of the first verified signature's signer.
    #[serde(default)]
    pub signer: Option<String>,
    /// The report's `errorClass`, for denies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// The `[allow]` rule that allowed the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlisted: Option<String>,
    /// The break-glass reason, while break-glass is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<String>,
}

/// What the run knows before its report exists.
struct Sink {
    settings: AuditLogSettings,
    reference: String,
    digest: String,
    started: Instant,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Makes [`record`] write this run's decision to `settings` (no-op for `None`).
pub fn attach(settings: Option<AuditLogSettings>, reference: &str, digest: &str, started: Instant) {
    let Some(settings) = settings else { return };
    let sink = Sink { settings, reference: reference.to_string(), digest: digest.to_string(), started };
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
}

/// Appends the run's final report to the audit log, once per process, when one is attached.
pub fn record(report: &Report, code: u8) {
    let Some(sink) = SINK.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
    let entry = entry(&sink, report, code);
    let line = match serde_json::to_string(&entry) {
        Ok(l) => l + "\n",
        Err(e) => return log::warn!("audit log: cannot encode the decision: {e}"),
    };
    if let Err(e) = append(&sink.settings, line.as_bytes()) {
        log::warn!(
            "audit log {}: {e}; the decision was not logged (check that the directory exists and is writable by root)",
            sink.settings.path.display()
        );
    }
}

fn entry(sink: &Sink, report: &Report, code: u8) -> Entry {
    let text = |k: &str| report.extra.get(k).and_then(Value::as_str).map(str::to_string);
    let ms = sink.started.elapsed().as_secs_f64() * 1000.0;
    Entry {
        time: time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        reference: sink.reference.clone(),
        digest: sink.digest.clone(),
        verdict: if code == 0 { "allow" } else { "deny" }.to_string(),
        is_success: report.is_success,
        mode: report.mode.clone(),
        reason: report.reason.clone(),
        cached: report.extra.contains_key("cached"),
        duration_ms: (ms * 10.0).round() / 10.0,
        signer: signer(report),
        error_class: text("errorClass"),
        allowlisted: text("allowlisted"),
        break_glass: text("breakGlass"),
    }
}

/// The subject DN of the first successful verifier result.
fn signer(report: &Report) -> Option<String> {
    report
        .verifier_reports
        .iter()
        .flat_map(|n| n.verifier_reports.iter())
        .filter(|v| v.is_success)
        .find_map(|v| v.extensions.get("SN").and_then(Value::as_str).map(str::to_string))
}

/// Appends one line under the lock, rotating first when needed.
pub fn append(settings: &AuditLogSettings, line: &[u8]) -> io::Result<()> {
    ensure_dir(&settings.path)?;
    for _ in 0..ATTEMPTS {
        let file = open(&settings.path)?;
        lock(&file)?;
        // The lock is on the file we opened; the path may name a newer one by now.
        if !same_file(&file, &settings.path)? {
            continue;
        }
        let size = file.metadata()?.len();
        if size > 0 && size + line.len() as u64 > settings.max_bytes {
            rotate(&settings.path)?;
            continue;
        }
        return write_once(&file, line);
    }
    Err(io::Error::other("the file kept being rotated by other processes; gave up"))
}

/// Creates the log's directory (0700) when it is missing.
fn ensure_dir(path: &Path) -> io::Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

fn open(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().append(true).create(true).mode(0o600).open(path)?;
    let meta = file.metadata()?;
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Takes an exclusive flock, waiting at most [`LOCK_WAIT`].
fn lock(file: &File) -> io::Result<()> {
    let until = Instant::now() + LOCK_WAIT;
    loop {
        // SAFETY: flock on a file descriptor this File owns; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) && err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
        if Instant::now() >= until {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("the lock was busy for {LOCK_WAIT:?}")));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let open = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == open.dev() && now.ino() == open.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// `log.2` → `log.3`, `log.1` → `log.2`, `log` → `log.1` (the old `.3` is replaced).
fn rotate(path: &Path) -> io::Result<()> {
    for n in (1..KEEP).rev() {
        rename_if_present(&rotated(path, n), &rotated(path, n + 1))?;
    }
    rename_if_present(path, &rotated(path, 1))
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The `n`th rotated file: `decisions.jsonl.n`.
pub fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The log and its rotated files, oldest first.
pub fn files_oldest_first(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=KEEP).rev().map(|n| rotated(path, n)).collect();
    files.push(path.to_path_buf());
    files
}

/// One `write` of the whole line; a short write (a full disk) is reported.
fn write_once(mut file: &File, line: &[u8]) -> io::Result<()> {
    let n = file.write(line)?;
    if n != line.len() {
        return Err(io::Error::other(format!("wrote {n} of {} bytes (disk full?)", line.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vouch-audit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn appends_creates_0600_and_rotates() {
        let d = dir("rotate");
        let settings = AuditLogSettings { path: d.join("sub/decisions.jsonl"), max_bytes: 100 };
        for i in 0..12 {
            append(&settings, format!("{{\"n\":{i:02},\"pad\":\"{}\"}}\n", "x".repeat(20)).as_bytes()).unwrap();
        }
        let mode = std::fs::metadata(&settings.path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::metadata(d.join("sub")).unwrap().mode() & 0o777, 0o700);
        let lines: Vec<String> = files_oldest_first(&settings.path)
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        // Lines are 37 bytes: two per file, four files kept.
        assert_eq!(lines.len(), 8, "{lines:?}");
        assert!(lines[0].contains("\"n\":04") && lines[7].contains("\"n\":11"), "{lines:?}");
        assert!(!rotated(&settings.path, 4).exists());
        for p in files_oldest_first(&settings.path) {
            assert!(std::fs::metadata(&p).unwrap().len() <= 100);
        }
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn a_line_larger_than_the_limit_is_still_written() {
        let d = dir("big");
        let settings = AuditLogSettings { path: d.join("log"), max_bytes: 10 };
        append(&settings, b"0123456789abcdef\n").unwrap();
        append(&settings, b"0123456789abcdef\n").unwrap();
        assert_eq!(std::fs::read_to_string(&settings.path).unwrap(), "0123456789abcdef\n");
        assert_eq!(std::fs::read_to_string(rotated(&settings.path, 1)).unwrap(), "0123456789abcdef\n");
        std::fs::remove_dir_all(&d).ok();
    }
}
