//! Runs a credential program with a time limit: its own process group (killed whole on
//! timeout), stdin written from a thread, stdout and stderr piped and capped, never inherited.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Output larger than this is cut (no credential answer is this large).
const OUTPUT_LIMIT: u64 = 1024 * 1024;
/// Variables of vouch's own that no credential program gets.
const WITHHELD_ENV: &[&str] = &["VOUCH_REGISTRY_USERNAME", "VOUCH_REGISTRY_PASSWORD"];

/// What a program produced.
pub struct Output {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout (may hold secrets: never log it).
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
}

/// Why a program produced no output.
pub enum ExecFailure {
    /// It could not be started.
    Spawn(std::io::Error),
    /// It ran past the limit and was killed.
    Timeout,
}

/// Runs `program args…` with `env` added to vouch's environment and `stdin` as input.
pub fn run(program: &Path, args: &[String], env: &[(String, String)], stdin: &[u8], limit: Duration) -> Result<Output, ExecFailure> {
    let started = Instant::now();
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    for k in WITHHELD_ENV {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd.spawn().map_err(ExecFailure::Spawn)?;
    let pid = child.id() as i32;
    if let Some(mut input) = child.stdin.take() {
        let data = stdin.to_vec();
        std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
    }
    let out = collect(child.stdout.take());
    let err = collect(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                kill_group(pid);
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExecFailure::Timeout);
            }
        }
    };
    let rest = limit.saturating_sub(started.elapsed()).max(Duration::from_millis(50));
    let stdout = out.recv_timeout(rest).unwrap_or_default();
    let stderr = err.recv_timeout(Duration::from_millis(50)).unwrap_or_default();
    Ok(Output { status, stdout, stderr })
}

fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = pipe {
            let _ = p.take(OUTPUT_LIMIT).read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

fn kill_group(pid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group the child leads.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// The first line of a program's message, cut short, for an error reason.
pub fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut s: String = line.chars().take(160).collect();
    if line.chars().count() > 160 {
        s.push('…');
    }
    s
}
