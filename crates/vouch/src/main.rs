//! vouch: an image verifier for containerd's `io.containerd.image-verifier.v1.bindir` plugin.
//!
//! containerd runs `vouch -name <ref> -digest <digest> -stdin-media-type
//! application/vnd.oci.descriptor.v1+json` with the image's descriptor on stdin; vouch prints
//! one JSON report on stdout and exits 0 to allow the pull, 1 to deny it, 2 for usage errors.
//! The same binary serves CI (`vouch verify REF`) and maintains its cache (`vouch cache
//! stats|prune|clear`), tests Rego policies over saved reports (`vouch policy test`) and imports
//! Ratify configurations (`vouch config import-ratify`).

// vouch provides the C `main` itself instead of Rust's start-up code. Rust's start-up measures
// the main thread's stack by reading /proc/self/maps, for its stack-overflow message, and that
// alone costs about a twentieth of a verdict from the cache, on every pull. What it does that
// vouch relies on is done in `entry` below.
#![cfg_attr(not(test), no_main)]

mod allow_config;
mod audit_log;
mod auth_config;
mod break_glass;
mod cache_cmd;
mod cli;
mod config;
mod containerd;
mod doctor;
mod import_ratify;
mod install;
mod log_cmd;
mod logging;
mod on_error;
mod output;
mod platform;
mod policy_test;
mod sync;
mod verify;
mod verify_output;
mod watchdog;

use std::io::Write;

/// The process entry point: see [`entry`].
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: std::ffi::c_int, _argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    entry()
}

/// Under `cargo test` the harness supplies the entry point; this keeps the rest in use there.
#[cfg(test)]
fn main() {
    std::process::exit(entry());
}

/// Standard descriptors made safe, SIGPIPE ignored, the command run with a panic turned into a
/// deny report, stdout flushed; returns the exit code.
fn entry() -> std::ffi::c_int {
    open_standard_descriptors();
    // A reader that went away must show up as a write error, not kill the process.
    // SAFETY: setting a signal's disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let code = match std::panic::catch_unwind(run) {
        Ok(code) => code,
        Err(_) => after_panic(),
    };
    let _ = std::io::stdout().flush();
    std::ffi::c_int::from(code)
}

/// Points closed descriptors 0–2 at /dev/null, so that no file vouch opens becomes its stdout
/// or stderr by accident.
fn open_standard_descriptors() {
    for fd in 0..=2 {
        // SAFETY: fcntl(F_GETFD) only asks whether the descriptor is open; open(2) of a constant
        // path. The lowest free descriptor is the closed one.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) == -1 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}

/// A panic is a bug; containerd still gets one report and a deny (break-glass applies). The
/// panic message itself went to stderr through the default hook.
fn after_panic() -> u8 {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    if break_glass::is_containerd_invocation(&args) {
        if !watchdog::stdout_claimed() {
            let reason = "deny: internal error in vouch (a panic; its message is in containerd's debug log); please report it".to_string();
            let report = output::plain_report(false, "enforce", "", reason, Some("internal"));
            output::finish(&report, output::EXIT_DENY);
        }
        return output::EXIT_DENY;
    }
    101
}

/// Parses the command line and runs the command; returns the exit code.
fn run() -> u8 {
    logging::init();
    // Arguments that are not UTF-8 are kept, with U+FFFD in place of the bad bytes, so that
    // they fail as unusable names instead of aborting the parse.
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    match cli::parse(&args) {
        cli::Parsed::Text(text, code) => {
            print!("{text}");
            code
        }
        cli::Parsed::UsageError(reason) => {
            if break_glass::is_containerd_invocation(&args) {
                break_glass::activate();
            }
            output::usage_error(&reason)
        }
        cli::Parsed::Containerd(a) => containerd::run(a),
        cli::Parsed::Verify(a) => verify::run(a),
        cli::Parsed::Cache(a) => cache_cmd::run(a),
        cli::Parsed::PolicyTest(policy, cases) => policy_test::run(&policy, &cases),
        cli::Parsed::ImportRatify(input, out_dir) => import_ratify::run(&input, &out_dir),
        cli::Parsed::Doctor(config, a) => doctor::run(config, a),
        cli::Parsed::Install(a) => install::run(a),
        cli::Parsed::Sync(a) => sync::run(a),
        cli::Parsed::Log(config, opts) => log_cmd::run(config.as_deref(), &opts),
    }
}
