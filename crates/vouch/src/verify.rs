//! `vouch verify REF...`: the pipeline for CI, resolving tags to digests first.
//!
//! A configuration file is optional: without `--config`, `VOUCH_CONFIG` or
//! `/etc/vouch/config.toml`, the defaults apply and the flags (`--trust-policy`,
//! `--trust-store`, `--policy`, `--hosts-dir`, `--insecure-registry`) name the rest.

use crate::cli::VerifyArgs;
use crate::config::{self, Config};
use crate::output::{finish, plain_report, verdict, EXIT_ALLOW, EXIT_DENY};
use crate::platform::{self, Platform, Selected};
use crate::verify_output::{self, Format, Outcome};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vouch_core::{Deadline, Descriptor, ImageRef, Report};
use vouch_pipeline::{Mode, Progress, Request, Settings};
use vouch_registry::Client;

/// The flags that let CI run `vouch verify` without a configuration file.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct CiFlags {
    /// notation trust policy (overrides notation.trust_policy).
    #[arg(long, value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,
    /// notation trust store root, holding x509/ (overrides notation.trust_store).
    #[arg(long, value_name = "DIR")]
    pub trust_store: Option<PathBuf>,
    /// Rego policy (overrides policy.rego).
    #[arg(long, value_name = "FILE.rego")]
    pub policy: Option<PathBuf>,
    /// containerd-style certs.d directory (overrides registry.hosts_dir).
    #[arg(long, value_name = "DIR")]
    pub hosts_dir: Option<PathBuf>,
    /// Reach this registry (host[:port]) over plain HTTP; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registry: Vec<String>,
    /// table or json (default: a table on a terminal, JSON otherwise).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
    /// Print nothing; the exit code is the answer.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Also verify this platform's manifest of a multi-platform image (os/arch[/variant]).
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
}

/// Verifies every image; exits 0 only when all pass.
pub fn run(a: VerifyArgs) -> u8 {
    let fail = |reason: String, class: &str| -> u8 {
        let report = plain_report(false, "enforce", "", format!("deny: {reason}"), Some(class));
        finish(&report, EXIT_DENY)
    };
    let cfg = match load(a.config.as_deref()) {
        Ok(c) => c,
        Err(reason) => return fail(reason, "config"),
    };
    let platform = match a.ci.platform.as_deref().map(Platform::parse).transpose() {
        Ok(p) => p,
        Err(reason) => return fail(reason, "usage"),
    };
    let settings = settings(&cfg, &a);
    let mut outcomes = Vec::new();
    let mut code = EXIT_ALLOW;
    for name in &a.images {
        let report = verify_ref(&settings, name, platform.as_ref(), cfg.timeout);
        let (report, c) = verdict(report, settings.mode);
        code = code.max(c);
        outcomes.push(Outcome { name: name.clone(), report });
    }
    if !a.ci.quiet {
        verify_output::print(&outcomes, Format::choose(a.ci.output));
    }
    code
}

/// The configuration file when there is one; the defaults when none was named and the default
/// file does not exist (CI), uncached.
fn load(flag: Option<&Path>) -> Result<Config, String> {
    let named = flag.is_some() || std::env::var_os("VOUCH_CONFIG").is_some_and(|v| !v.is_empty());
    let path = config::path(flag);
    if named || path.exists() {
        return config::load(&path);
    }
    let mut cfg = config::defaults()?;
    cfg.settings.cache = None;
    Ok(cfg)
}

/// The pipeline settings: the configuration, the command-line overrides, and enforce mode
/// unless `--audit`.
fn settings(cfg: &Config, a: &VerifyArgs) -> Settings {
    let mut s = cfg.settings.clone();
    if !a.audit {
        s.mode = Mode::Enforce;
    }
    let f = &a.ci;
    if let Some(p) = &f.trust_policy {
        s.trust_policy = absolute(p);
    }
    if let Some(p) = &f.trust_store {
        s.trust_store = absolute(p);
    }
    if let Some(p) = &f.policy {
        s.rego = Some(absolute(p));
    }
    if let Some(p) = &f.hosts_dir {
        s.registry.hosts_dir = Some(absolute(p));
    }
    s.registry.insecure_hosts.extend(f.insecure_registry.iter().cloned());
    // The environment pair is for CI runs of `vouch verify`, never for containerd's runs.
    s.registry.auth.environment = crate::auth_config::environment_credential();
    s
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
}

/// One reference: resolved, verified, and with `--platform` its platform manifest too.
fn verify_ref(settings: &Settings, name: &str, platform: Option<&Platform>, timeout: Duration) -> Report {
    let deny = |reason: String, class: &str| plain_report(false, settings.mode.name(), name, format!("deny {name}: {reason}"), Some(class));
    let image = match ImageRef::parse(name) {
        Ok(i) => i,
        Err(e) => return deny(e.to_string(), "input"),
    };
    let client = Client::new(settings.registry.clone());
    let deadline = Deadline::after(timeout);
    let subject = match client.resolve(&image, &deadline) {
        Ok(d) => d,
        Err(e) => return deny(format!("registry: {e}"), "registry"),
    };
    let report = verify_digest(settings, &image, subject.clone(), timeout);
    match platform {
        Some(p) => with_platform(settings, &client, &image, &subject, p, report, timeout),
        None => report,
    }
}

fn verify_digest(settings: &Settings, image: &ImageRef, subject: Descriptor, timeout: Duration) -> Report {
    let req = Request { image: image.clone(), subject };
    let deadline = Deadline::after(timeout);
    vouch_pipeline::verify(settings, &req, &deadline, time::OffsetDateTime::now_utc(), &Progress::default())
}

/// Adds the platform manifest's verification to `report` (`platform.report`); the image
/// passes only when both pass.
fn with_platform(
    settings: &Settings,
    client: &Client,
    image: &ImageRef,
    subject: &Descriptor,
    p: &Platform,
    mut report: Report,
    timeout: Duration,
) -> Report {
    let deadline = Deadline::after(timeout);
    let nested = match platform::select(client, image, subject, p, &deadline) {
        Ok(Selected::Manifest(desc)) => verify_digest(settings, &image.with_digest(desc.digest.clone()), desc, timeout),
        Ok(Selected::SameImage) => {
            report.extra.insert("platform".into(), json!({ "name": p.to_string(), "digest": subject.digest }));
            return report;
        }
        Err(reason) => {
            let subject_name = format!("{}@{}", image.scope(), subject.digest);
            plain_report(false, settings.mode.name(), &subject_name, format!("deny {subject_name}: {reason}"), Some("input"))
        }
    };
    combine(report, nested, p)
}

fn combine(mut report: Report, nested: Report, p: &Platform) -> Report {
    if report.is_success && !nested.is_success {
        report.is_success = false;
        report.reason = format!("deny {}: platform {p}: {}", report.subject, nested.reason);
        let class = nested.extra.get("errorClass").cloned().unwrap_or(json!("signature"));
        report.extra.insert("errorClass".into(), class);
    }
    report.extra.insert("platform".into(), json!({ "name": p.to_string(), "report": nested }));
    report
}
