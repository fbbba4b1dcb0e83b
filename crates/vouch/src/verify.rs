//! `vouch verify REF...`: the pipeline for CI, resolving tags to digests first.

use crate::cli::VerifyArgs;
use crate::config;
use crate::output::{finish, plain_report, verdict, EXIT_ALLOW, EXIT_DENY};
use std::io::Write;
use vouch_core::{Deadline, ImageRef, Report};
use vouch_pipeline::{Mode, Progress, Request};
use vouch_registry::Client;

/// Verifies every image; exits 0 only when all pass. One report for one image, an array for several.
pub fn run(a: VerifyArgs) -> u8 {
    let cfg = match config::load(&config::path(a.config.as_deref())) {
        Ok(c) => c,
        Err(reason) => {
            let report = plain_report(false, "enforce", "", format!("deny: {reason}"), Some("config"));
            finish(&report, EXIT_DENY)
        }
    };
    let mut settings = cfg.settings.clone();
    if !a.audit {
        settings.mode = Mode::Enforce;
    }
    // The environment pair is for CI runs of `vouch verify`, never for containerd's runs.
    settings.registry.auth.environment = crate::auth_config::environment_credential();
    let mut reports = Vec::new();
    let mut code = EXIT_ALLOW;
    for name in &a.images {
        let deadline = Deadline::after(cfg.timeout);
        let report = verify_one(&settings, name, &deadline);
        let (report, c) = verdict(report, settings.mode);
        code = code.max(c);
        reports.push(report);
    }
    let json = if reports.len() == 1 {
        serde_json::to_string_pretty(&reports[0])
    } else {
        serde_json::to_string_pretty(&reports)
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", json.unwrap_or_default());
    let _ = out.flush();
    code
}

fn verify_one(settings: &vouch_pipeline::Settings, name: &str, deadline: &Deadline) -> Report {
    let deny = |reason: String, class: &str| plain_report(false, settings.mode.name(), name, format!("deny {name}: {reason}"), Some(class));
    let image = match ImageRef::parse(name) {
        Ok(i) => i,
        Err(e) => return deny(e.to_string(), "input"),
    };
    let client = Client::new(settings.registry.clone());
    let subject = match client.resolve(&image, deadline) {
        Ok(d) => d,
        Err(e) => return deny(format!("registry: {e}"), "registry"),
    };
    let req = Request { image, subject };
    vouch_pipeline::verify(settings, &req, deadline, time::OffsetDateTime::now_utc(), &Progress::default())
}
