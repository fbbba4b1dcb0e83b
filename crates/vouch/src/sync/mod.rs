//! `vouch sync --from /config --to /host/etc/vouch [--watch]`: keeps the node's vouch
//! configuration in step with a mounted ConfigMap.
//!
//! Each round reads one consistent version of the source (following the kubelet's `..data`
//! link swaps), and when it differs from what is installed, writes it into a new version
//! directory inside the target, validates it there as `vouch doctor` validates vouch's
//! configuration (configuration file, trust policy, trust store certificates, Rego policy), and
//! only then makes it current with one atomic rename. An invalid version is refused: the
//! installed one stays and the reason is printed.

mod swap;
mod tree;

use crate::doctor::vouch_checks::{self, Scope};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration file inside the synced directory.
pub const CONFIG_FILE: &str = "config.toml";

/// `vouch sync` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct SyncArgs {
    /// The mounted ConfigMap (or any directory) to copy from.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// vouch's configuration directory on the node, e.g. /host/etc/vouch.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Keep running and apply every change.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between checks with --watch.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub interval: u64,
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new version was validated and installed (its file count).
    Applied(usize),
    /// The installed version already matches the source.
    Unchanged,
    /// The new version is invalid and was not installed; the lines say why.
    Refused(Vec<String>),
}

/// Runs one round, or rounds forever with `--watch`; returns the exit code.
pub fn run(a: SyncArgs) -> u8 {
    if !a.watch {
        return report(&a, &sync_once(&a.from, &a.to), &mut None);
    }
    let mut last_refusal = None;
    loop {
        report(&a, &sync_once(&a.from, &a.to), &mut last_refusal);
        std::thread::sleep(Duration::from_secs(a.interval.max(1)));
    }
}

/// Prints what happened (a refusal once per distinct reason) and gives the exit code.
fn report(a: &SyncArgs, r: &Result<Outcome, String>, last_refusal: &mut Option<Vec<String>>) -> u8 {
    match r {
        Ok(Outcome::Applied(n)) => {
            *last_refusal = None;
            println!("vouch sync: installed a new configuration from {} in {} ({n} files)", a.from.display(), a.to.display());
            0
        }
        Ok(Outcome::Unchanged) => 0,
        Ok(Outcome::Refused(lines)) => {
            if last_refusal.as_ref() != Some(lines) {
                eprintln!("vouch sync: refused the configuration in {}; {} stays as it was:", a.from.display(), a.to.display());
                lines.iter().for_each(|l| eprintln!("vouch sync:   {l}"));
                *last_refusal = Some(lines.clone());
            }
            1
        }
        Err(e) => {
            eprintln!("vouch sync: {e}");
            1
        }
    }
}

/// One round: read, compare, stage, validate, activate.
pub fn sync_once(from: &Path, to: &Path) -> Result<Outcome, String> {
    let tree = tree::snapshot(from)?;
    if !tree.contains_key(Path::new(CONFIG_FILE)) {
        return Ok(Outcome::Refused(vec![format!("{} holds no {CONFIG_FILE}", from.display())]));
    }
    if swap::current(to).as_ref() == Some(&tree) {
        return Ok(Outcome::Unchanged);
    }
    let version = swap::stage(to, &tree)?;
    let errors = validate(&version);
    if !errors.is_empty() {
        let _ = std::fs::remove_dir_all(&version);
        return Ok(Outcome::Refused(errors));
    }
    swap::activate(to, &version, &tree)?;
    Ok(Outcome::Applied(tree.len()))
}

/// The error findings of the staged configuration, one line each, with the staging directory
/// replaced by the source's names.
fn validate(version: &Path) -> Vec<String> {
    let check = vouch_checks::check(&version.join(CONFIG_FILE), Scope::Staged);
    let staged = version.display().to_string();
    check
        .findings
        .iter()
        .filter(|f| f.severity == crate::doctor::Severity::Error)
        .map(|f| f.line().replace(&staged, "<new configuration>"))
        .collect()
}
