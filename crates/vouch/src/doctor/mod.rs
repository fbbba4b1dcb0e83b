//! `vouch doctor`: checks vouch's own configuration and the containerd configuration that is
//! supposed to call it, and prints findings.
//!
//! Every finding is an error or a warning and names the offending TOML key or file path and
//! the fix, in one line. Errors are exactly the problems that break pulls or silently disable
//! verification; the exit code is 1 when there is at least one error, else 0.

mod bindir;
mod containerd_toml;
mod cri;
mod finding;
mod version;
pub mod vouch_checks;

pub use finding::{Finding, Severity};

use crate::cli::OutputFormat;
use crate::config;
use std::path::PathBuf;

/// Where containerd reads its configuration by default.
pub const DEFAULT_CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";

/// `vouch doctor` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct DoctorArgs {
    /// containerd's configuration (its `imports` are followed) [default: /etc/containerd/config.toml].
    #[arg(long, value_name = "PATH")]
    pub containerd_config: Option<PathBuf>,
    /// The containerd binary whose version is checked (default: `containerd` on PATH).
    #[arg(long, value_name = "PATH")]
    pub containerd_bin: Option<PathBuf>,
    /// human or json.
    #[arg(long, value_enum, default_value = "human")]
    pub output: OutputFormat,
}

/// Runs every check and prints the findings; returns the exit code.
pub fn run(config_flag: Option<PathBuf>, a: DoctorArgs) -> u8 {
    let findings = check_all(config_flag, &a);
    let text = match a.output {
        OutputFormat::Json => finding::to_json(&findings),
        OutputFormat::Human => finding::to_text(&findings),
    };
    println!("{}", text.trim_end());
    u8::from(findings.iter().any(|f| f.severity == Severity::Error))
}

/// All findings: vouch's configuration, then containerd's.
pub fn check_all(config_flag: Option<PathBuf>, a: &DoctorArgs) -> Vec<Finding> {
    let config_path = config::path(config_flag.as_deref());
    let vouch = vouch_checks::check(&config_path, vouch_checks::Scope::Node);
    let mut findings = vouch.findings;
    findings.extend(vouch_checks::break_glass());
    let timeout = vouch.config.as_ref().map_or(config::DEFAULT_TIMEOUT, |c| c.timeout);
    let hosts_dir = vouch.config.as_ref().and_then(|c| c.settings.registry.hosts_dir.clone());
    findings.extend(check_containerd(a, timeout, hosts_dir));
    findings.extend(version::check(a.containerd_bin.as_deref()));
    findings
}

fn check_containerd(a: &DoctorArgs, timeout: std::time::Duration, hosts_dir: Option<PathBuf>) -> Vec<Finding> {
    let named = a.containerd_config.is_some();
    let path = a.containerd_config.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONTAINERD_CONFIG));
    let layers = match containerd_toml::Layers::load(&path, named) {
        Ok(l) => l,
        Err(f) => return vec![f],
    };
    let mut findings = layers.findings.clone();
    findings.extend(bindir::check(&layers, timeout));
    findings.extend(cri::check(&layers, hosts_dir.as_deref()));
    findings
}
