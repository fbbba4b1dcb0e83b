//! Runs a verifier exactly as containerd's bindir plugin does: the same argv, the descriptor
//! line on stdin, its own process group, a bare environment, and SIGKILL to the group after the
//! timeout.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use vouch_core::{Descriptor, MEDIA_TYPE_DESCRIPTOR};

/// containerd's default `per_verifier_timeout`.
pub const CONTAINERD_TIMEOUT: Duration = Duration::from_secs(10);
/// The PATH containerd's environment may boil down to.
pub const BARE_PATH: &str = "/opt/containerd/bin:";

/// What a verifier run produced.
#[derive(Debug, Clone)]
pub struct VerifierRun {
    /// Exit code; `None` when killed by a signal.
    pub exit_code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
    /// Killed at the timeout (containerd blocks the pull).
    pub killed: bool,
    /// Wall time until the process ended and its stdout closed.
    pub elapsed: Duration,
}

/// The stdin line containerd writes: `{"mediaType":…,"digest":…,"size":…}` and `\n`.
pub fn descriptor_line(d: &Descriptor) -> Vec<u8> {
    format!("{{\"mediaType\":\"{}\",\"digest\":\"{}\",\"size\":{}}}\n", d.media_type, d.digest, d.size).into_bytes()
}

/// `<bin> -name <name> -digest <digest> -stdin-media-type application/vnd.oci.descriptor.v1+json`.
pub fn run_verifier(bin: &Path, name: &str, digest: &str, stdin: &[u8], env: &[(&str, &str)]) -> VerifierRun {
    let args = ["-name", name, "-digest", digest, "-stdin-media-type", MEDIA_TYPE_DESCRIPTOR];
    run_verifier_raw(bin, &args, stdin, env)
}

/// Runs `bin` with arbitrary arguments under the same conditions.
pub fn run_verifier_raw(bin: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> VerifierRun {
    run_with_timeout(bin, args, stdin, env, CONTAINERD_TIMEOUT)
}

/// As [`run_verifier_raw`] with a chosen kill timeout.
pub fn run_with_timeout(bin: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)], timeout: Duration) -> VerifierRun {
    run_inner(bin, args, stdin, env, timeout, false)
}

/// As [`run_verifier_raw`], but stdin stays open after `stdin` is written, until the run ends:
/// a caller that never finishes its input.
pub fn run_keeping_stdin_open(bin: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> VerifierRun {
    run_inner(bin, args, stdin, env, CONTAINERD_TIMEOUT, true)
}

fn run_inner(bin: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)], timeout: Duration, keep_stdin_open: bool) -> VerifierRun {
    let start = Instant::now();
    let mut cmd = Command::new(bin);
    cmd.args(args).env_clear().env("PATH", BARE_PATH).process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match spawn(&mut cmd) {
        Ok(c) => c,
        Err(e) => {
            return VerifierRun { exit_code: None, stdout: String::new(), stderr: format!("spawn failed: {e}"), killed: false, elapsed: start.elapsed() }
        }
    };
    let pgid = child.id() as i32;
    // containerd writes stdin asynchronously; a verifier that never reads it must not block us.
    let mut input = child.stdin.take();
    let data = stdin.to_vec();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Some(i) = input.as_mut() {
            let _ = i.write_all(&data);
        }
        if keep_stdin_open {
            // Closed when the run has ended and the sender is dropped.
            let _ = held_rx.recv();
        }
    });
    let out_rx = read_in_background(child.stdout.take());
    let err_rx = read_in_background(child.stderr.take());
    let deadline = start + timeout;
    let mut killed = false;
    let stdout = match out_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(s) => s,
        Err(_) => {
            kill_group(pgid);
            killed = true;
            out_rx.recv().unwrap_or_default()
        }
    };
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            kill_group(pgid);
            killed = true;
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    drop(held_tx);
    let stderr = err_rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    let exit_code = if killed { None } else { status.and_then(|s| s.code()) };
    VerifierRun { exit_code, stdout, stderr, killed, elapsed: start.elapsed() }
}

/// Spawns `cmd`, retrying while the kernel says the executable is busy (ETXTBSY). A test that
/// has just written a script can meet this: another test thread's fork may still hold the
/// script's write descriptor until that child execs.
fn spawn(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    for _ in 0..50 {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => std::thread::sleep(Duration::from_millis(10)),
            other => return other,
        }
    }
    cmd.spawn()
}

/// Reads `r` to its end on a thread of its own; the receiver gets everything it produced (an
/// empty string without a stream), so a process's stdout and stderr drain independently.
pub fn read_in_background<R: Read + Send + 'static>(r: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(body: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = crate::registry::unique_dir("script");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn passes_argv_stdin_and_a_bare_environment() {
        let s = script("echo \"$1 $3 $5 $6\"; /bin/cat; echo \"PATH=$PATH HOME=${HOME:-none}\" >&2; exit 3");
        let r = run_verifier(&s, "r.io/a:1", "sha256:00", b"{\"x\":1}\n", &[("VOUCH_CONFIG", "/c")]);
        assert_eq!(r.exit_code, Some(3));
        assert_eq!(r.stdout, format!("-name -digest -stdin-media-type {MEDIA_TYPE_DESCRIPTOR}\n{{\"x\":1}}\n"));
        assert_eq!(r.stderr.trim(), "PATH=/opt/containerd/bin: HOME=none");
        assert!(!r.killed);
        std::fs::remove_file(s).ok();
    }

    #[test]
    fn kills_the_group_when_a_child_holds_stdout() {
        let s = script("/bin/sleep 30 & exit 0");
        let r = run_with_timeout(&s, &[], b"", &[], Duration::from_millis(500));
        assert!(r.killed, "{r:?}");
        assert_eq!(r.exit_code, None);
        std::fs::remove_file(s).ok();
    }
}
