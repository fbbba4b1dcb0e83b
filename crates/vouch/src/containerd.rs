//! The containerd contract: argv and stdin in, one report and an exit code out.

use crate::cli::ContainerdArgs;
use crate::config;
use crate::output::{finish, plain_report, EXIT_DENY};
use crate::watchdog::{Guard, WatchState};
use crate::{audit_log, break_glass, on_error};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use vouch_core::{Deadline, Descriptor, Digest, ImageRef, MEDIA_TYPE_DESCRIPTOR};
use vouch_pipeline::{Mode, Progress, Request};

/// containerd writes one descriptor line; anything near this size is not one.
const STDIN_LIMIT: u64 = 1024 * 1024;

/// Runs one containerd verification and ends the process.
pub fn run(a: ContainerdArgs) -> u8 {
    let started = Instant::now();
    let break_glass = break_glass::activate();
    // The subject as far as known before the arguments are checked.
    let subject = if a.name.contains('@') { a.name.clone() } else { format!("{}@{}", a.name, a.digest) };
    let state = Arc::new(Mutex::new(WatchState {
        deadline: started + config::DEFAULT_TIMEOUT,
        budget: config::DEFAULT_TIMEOUT,
        mode: Mode::Enforce,
        subject: subject.clone(),
        on_error: on_error::OnError::default(),
    }));
    let progress = Progress::default();
    progress.set("reading the descriptor on stdin");
    let guard = Guard::arm(state.clone(), &progress);
    let deny = |reason: String, class: &str| -> u8 {
        let report = plain_report(false, "enforce", &subject, format!("deny {subject}: {reason}"), Some(class));
        finish(&report, EXIT_DENY)
    };

    let cfg_path = config::path(a.config.as_deref());
    let req = match request(&a) {
        Ok(r) => r,
        Err(reason) => {
            // Bad input is a decision too: log it when the configuration names an audit log.
            if let Ok(cfg) = config::load(&cfg_path) {
                audit_log::attach(cfg.audit_log, &a.name, &a.digest, started);
            }
            return deny(reason, "input");
        }
    };
    progress.set("loading the configuration");
    guard.update();
    let mut cfg = match config::load(&cfg_path) {
        Ok(c) => c,
        Err(reason) => return deny(reason, "config"),
    };
    audit_log::attach(cfg.audit_log.clone(), &a.name, &a.digest, started);
    if break_glass.is_some() {
        cfg.settings.mode = Mode::Audit;
    }
    if let Ok(mut s) = state.lock() {
        s.deadline = started + cfg.timeout;
        s.budget = cfg.timeout;
        s.mode = cfg.settings.mode;
        s.subject = req.subject_name();
        s.on_error = cfg.on_error;
    }
    progress.set("checking the allowlist and the verdict cache");
    guard.update();
    let deadline = Deadline::after(cfg.timeout.saturating_sub(started.elapsed()));
    let now = time::OffsetDateTime::now_utc();
    let report = vouch_pipeline::verify(&cfg.settings, &req, &deadline, now, &progress);
    log_decision(&report, started);
    let (report, code) = on_error::verdict(report, cfg.settings.mode, &cfg.on_error);
    finish(&report, code)
}

/// Validates argv and stdin into a request; the error is the deny reason.
fn request(a: &ContainerdArgs) -> Result<Request, String> {
    if a.stdin_media_type != MEDIA_TYPE_DESCRIPTOR {
        return Err(format!(
            "-stdin-media-type is {:?}, vouch reads only {MEDIA_TYPE_DESCRIPTOR}",
            a.stdin_media_type
        ));
    }
    let digest = Digest::parse(&a.digest).map_err(|e| format!("-digest: {e}"))?;
    let image = ImageRef::parse(&a.name).map_err(|e| format!("-name: {e}"))?;
    if let Some(d) = &image.digest {
        if *d != digest {
            return Err(format!("-name carries digest {} but -digest is {}", d.short(), digest.short()));
        }
    }
    let subject = read_descriptor()?;
    if subject.digest != digest {
        return Err(format!(
            "the descriptor on stdin has digest {}, but -digest is {}",
            subject.digest.short(),
            digest.short()
        ));
    }
    Ok(Request { image, subject })
}

fn read_descriptor() -> Result<Descriptor, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .take(STDIN_LIMIT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read the descriptor on stdin: {e}"))?;
    if buf.len() as u64 > STDIN_LIMIT {
        return Err(format!("stdin is larger than {} bytes; expected one OCI descriptor", STDIN_LIMIT));
    }
    if buf.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("stdin is empty; expected one OCI descriptor (JSON)".into());
    }
    serde_json::from_slice::<Descriptor>(&buf).map_err(|e| format!("stdin is not an OCI descriptor: {e}"))
}

fn log_decision(report: &vouch_core::Report, started: Instant) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if report.is_success {
        log::info!("{} ({ms:.1} ms)", report.reason);
    } else {
        log::warn!("{} ({ms:.1} ms)", report.reason);
    }
}
