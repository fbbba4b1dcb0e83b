//! The vouch pipeline: store → verifiers → policy → report.
//!
//! [`verify`] takes one image (reference and descriptor), finds its signature artifacts in the
//! registry, verifies each with the Notary Project verifier, runs the Rego policy over the
//! results and returns the [`Report`] vouch prints. It never panics on bad input and never
//! returns without a verdict: every failure becomes a deny whose `reason` names the step and
//! the fault. The error class (configuration, registry, deadline, policy, signature) is kept in
//! the report so callers can apply their failure policy.

mod allowlist;
mod artifacts;
pub use artifacts::signature_layer;
mod reason;
mod revocation;
mod verdicts;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use vouch_core::{Deadline, Descriptor, ImageRef, NestedReport, Report};
use vouch_notation::{TrustPolicyDocument, TrustStore, Verifier};
use vouch_policy::Policy;
use vouch_registry::{Cache, Client, RegistryOptions};

pub use allowlist::{AllowRule, Allowlist, AllowlistError};
pub use artifacts::SignatureArtifact;

/// Whether a deny blocks the pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deny blocks (exit 1).
    Enforce,
    /// Everything is allowed (exit 0); the report carries the real verdict.
    Audit,
}

impl Mode {
    /// `enforce` or `audit`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

/// What a run needs to know, resolved from vouch's configuration to explicit paths.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Enforce or audit.
    pub mode: Mode,
    /// Registry access.
    pub registry: RegistryOptions,
    /// notation trust policy (`trustpolicy.json`).
    pub trust_policy: PathBuf,
    /// notation trust store root (contains `x509/`).
    pub trust_store: PathBuf,
    /// Rego policy file; `None` uses the embedded default.
    pub rego: Option<PathBuf>,
    /// The on-disk cache; `None` runs uncached.
    pub cache: Option<CacheSettings>,
    /// Images allowed without verification (`[allow]`).
    pub allow: Allowlist,
}

/// The on-disk cache (`[cache]` in vouch's configuration).
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// The cache directory (`cache_dir`).
    pub dir: PathBuf,
    /// How long a referrers list is reused.
    pub referrers_ttl: Duration,
    /// How long an allow is reused (capped by the earliest expiry it relied on).
    pub allow_ttl: Duration,
    /// How long a signature deny is reused.
    pub deny_ttl: Duration,
    /// Size cap of all entries, in bytes.
    pub max_size: u64,
    /// The configuration file's bytes: part of every verdict key, so any change to the
    /// configuration invalidates cached verdicts.
    pub config_bytes: Vec<u8>,
}

/// The kind of failure behind a deny, for failure policies and exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// vouch's own configuration (trust policy, trust store, Rego file) is missing or invalid.
    Config,
    /// The registry could not be read.
    Registry,
    /// The run's deadline passed.
    Deadline,
    /// The Rego policy gave no boolean decision.
    Policy,
    /// Signatures were examined and the policy denied.
    Signature,
}

impl ErrorClass {
    /// Name used in the report's `errorClass`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Config => "config",
            ErrorClass::Registry => "registry",
            ErrorClass::Deadline => "deadline",
            ErrorClass::Policy => "policy",
            ErrorClass::Signature => "signature",
        }
    }
}

/// The step the run is in, shared with a watchdog that reports it if the deadline passes.
///
/// A watchdog may guard only local work (reading files) cheaply and need to change how it
/// guards before the run waits on anything else: [`Progress::before_waiting`] registers what
/// to do then, and the pipeline calls [`Progress::waiting_begins`] before its first registry
/// request or lock wait.
#[derive(Clone, Default)]
pub struct Progress {
    step: Arc<Mutex<String>>,
    before_waiting: Arc<Mutex<Option<Hook>>>,
}

/// What [`Progress::before_waiting`] registers.
type Hook = Box<dyn FnOnce() + Send>;

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("step", &self.get()).finish_non_exhaustive()
    }
}

/// When the first step began, for step timings in debug logs.
fn started() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

impl Progress {
    /// Records that `step` started (and logs it with the time since the run began).
    pub fn set(&self, step: impl Into<String>) {
        let step = step.into();
        log::debug!("step +{:.2} ms: {step}", started().elapsed().as_secs_f64() * 1000.0);
        if let Ok(mut s) = self.step.lock() {
            *s = step;
        }
    }

    /// The current step.
    pub fn get(&self) -> String {
        self.step.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Registers `hook` to run once, when the run is about to wait on the network or on
    /// another process (replacing any hook registered before).
    pub fn before_waiting(&self, hook: impl FnOnce() + Send + 'static) {
        if let Ok(mut h) = self.before_waiting.lock() {
            *h = Some(Box::new(hook));
        }
    }

    /// Runs the hook registered with [`Progress::before_waiting`], the first time only.
    pub fn waiting_begins(&self) {
        let hook = self.before_waiting.lock().ok().and_then(|mut h| h.take());
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// One image to verify: containerd's `-name` and its descriptor.
#[derive(Debug, Clone)]
pub struct Request {
    /// The image reference.
    pub image: ImageRef,
    /// The image's descriptor (manifest or index).
    pub subject: Descriptor,
}

impl Request {
    /// `host/repo@digest`, the subject every report names.
    pub fn subject_name(&self) -> String {
        format!("{}@{}", self.image.scope(), self.subject.digest)
    }

    fn short_name(&self) -> String {
        format!("{}@{}", self.image.scope(), self.subject.digest.short())
    }
}

/// Verifies one image and returns its report. `now` is the verification time. An image the
/// allowlist names is allowed at once, without any registry request or cache lookup; its report
/// carries `"allowlisted": "<rule>"`. With
/// `settings.cache`, a verdict cached for the same image and inputs is returned instead (its
/// report carries `"cached": {"age_s": N}`), and concurrent processes verifying the same new
/// image wait for one of them.
pub fn verify(settings: &Settings, req: &Request, deadline: &Deadline, now: OffsetDateTime, progress: &Progress) -> Report {
    if let Some(rule) = settings.allow.find(req) {
        return allowlist::report(settings, req, rule);
    }
    match &settings.cache {
        Some(cache) => verdicts::verify_cached(settings, cache, req, deadline, now, progress),
        None => run(settings, None, req, deadline, now, progress),
    }
}

/// One uncached verification; registry content goes through `cache` when given.
fn run(
    settings: &Settings,
    cache: Option<Arc<Cache>>,
    req: &Request,
    deadline: &Deadline,
    now: OffsetDateTime,
    progress: &Progress,
) -> Report {
    progress.waiting_begins();
    let mut run = Run { settings, req, deadline, now, progress, cache };
    match run.decide() {
        Ok(report) => report,
        Err(f) => run.deny(f.class, f.reason, Vec::new(), Map::new()),
    }
}

/// A deny that ends the run before a policy decision.
struct Failure {
    class: ErrorClass,
    reason: String,
}

impl Failure {
    fn new(class: ErrorClass, reason: impl Into<String>) -> Failure {
        Failure { class, reason: reason.into() }
    }
}

struct Run<'a> {
    settings: &'a Settings,
    req: &'a Request,
    deadline: &'a Deadline,
    now: OffsetDateTime,
    progress: &'a Progress,
    cache: Option<Arc<Cache>>,
}

impl Run<'_> {
    fn decide(&mut self) -> Result<Report, Failure> {
        self.progress.set("loading the trust policy");
        let doc = self.load_trust_policy()?;
        let scope = self.req.image.scope();
        let statement = doc.applicable(&scope).map_err(|e| {
            Failure::new(ErrorClass::Config, format!("trust policy {}: {e}", self.settings.trust_policy.display()))
        })?;
        let statement_name = statement.name().to_string();
        if statement.is_skip() {
            let reason = format!(
                "allow {}: trust policy statement {statement_name:?} has level skip, signatures are not checked",
                self.req.short_name()
            );
            let extra = Map::from_iter([("trustPolicy".to_string(), json!(statement_name))]);
            return Ok(self.report(true, reason, Vec::new(), extra));
        }
        let policy = self.load_rego()?;
        let client = self.client();
        let found = artifacts::find(&client, self.req, self.deadline, self.progress)?;
        let http = revocation::HttpFetcher::new(*self.deadline);
        let fetcher = Arc::new(revocation::CachingFetcher::new(http, self.cache.clone()));
        let verifier = Verifier::new(doc, TrustStore::open(&self.settings.trust_store)).with_revocation(fetcher.clone());
        self.progress.set("verifying signatures");
        let mut checked = artifacts::verify_all(&verifier, &client, self.req, &found, self.deadline, self.now, self.progress)?;
        if let Some(until) = fetcher.earliest_next_update() {
            // The verdict rests on revocation answers that are current only until then.
            for result in checked.iter_mut().flat_map(|n| n.verifier_reports.iter_mut()) {
                result.extensions.insert("revocationNextUpdate".into(), artifacts::rfc3339(&Some(until)));
            }
        }
        self.progress.set(format!("evaluating policy {}", policy.name()));
        let mut report = self.conclude(policy, statement_name, found.truncated, checked)?;
        let sources = client.auth_sources();
        if !sources.is_empty() {
            // Where the registry credential came from (never the secret).
            report.extra.insert("auth".into(), json!(sources.join(", ")));
        }
        Ok(report)
    }

    fn client(&self) -> Client {
        let client = Client::new(self.settings.registry.clone());
        match (&self.cache, &self.settings.cache) {
            (Some(store), Some(cs)) => client.with_cache(store.clone(), cs.referrers_ttl),
            _ => client,
        }
    }

    fn load_trust_policy(&self) -> Result<TrustPolicyDocument, Failure> {
        let path = &self.settings.trust_policy;
        let bytes = std::fs::read(path).map_err(|e| {
            Failure::new(ErrorClass::Config, format!("cannot read trust policy {}: {e}", path.display()))
        })?;
        TrustPolicyDocument::parse(&bytes)
            .map_err(|e| Failure::new(ErrorClass::Config, format!("trust policy {} is invalid: {e}", path.display())))
    }

    fn load_rego(&self) -> Result<Policy, Failure> {
        let Some(path) = &self.settings.rego else { return Ok(Policy::embedded_default()) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(ErrorClass::Config, format!("cannot read Rego policy {}: {e}", path.display())))?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        Policy::load(&name, &text).map_err(|e| Failure::new(ErrorClass::Config, e.to_string()))
    }

    fn conclude(
        &self,
        mut policy: Policy,
        statement: String,
        truncated: bool,
        checked: Vec<NestedReport>,
    ) -> Result<Report, Failure> {
        let input = json!({ "verifierReports": checked });
        let limit = self.deadline.remaining().max(Duration::from_millis(1));
        let allowed = policy.evaluate(&input, limit).map_err(|e| Failure::new(ErrorClass::Policy, e.to_string()))?;
        let mut extra = Map::new();
        extra.insert("trustPolicy".into(), json!(statement));
        extra.insert("policy".into(), json!(policy.name()));
        if truncated {
            extra.insert("signaturesTruncated".into(), json!(self.settings.registry.max_signatures));
        }
        let reason = reason::summarise(&self.req.short_name(), allowed, policy.name(), &checked, truncated);
        if allowed {
            Ok(self.report(true, reason, checked, extra))
        } else {
            Ok(self.deny(ErrorClass::Signature, reason, checked, extra))
        }
    }

    fn deny(&self, class: ErrorClass, reason: String, checked: Vec<NestedReport>, mut extra: Map<String, Value>) -> Report {
        extra.insert("errorClass".into(), json!(class.name()));
        let reason = if reason.starts_with("deny ") { reason } else { format!("deny {}: {reason}", self.req.short_name()) };
        self.report(false, reason, checked, extra)
    }

    fn report(&self, ok: bool, reason: String, checked: Vec<NestedReport>, extra: Map<String, Value>) -> Report {
        Report {
            is_success: ok,
            mode: self.settings.mode.name().to_string(),
            subject: self.req.subject_name(),
            reason,
            verifier_reports: checked,
            extra,
        }
    }
}
