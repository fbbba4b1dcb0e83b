//! Command-line arguments. containerd passes Go-style single-dash long flags (`-name`), which are
//! rewritten to clap's double-dash form before parsing.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The long flags that containerd (Go's flag package) may pass with one dash.
const SINGLE_DASH_FLAGS: &[&str] = &["name", "digest", "stdin-media-type", "config", "help", "version"];

#[derive(Parser, Debug)]
#[command(
    name = "vouch",
    version,
    about = "Image verifier for containerd: checks Notary Project signatures against a trust policy and a Rego policy",
    long_about = "Image verifier for containerd.\n\nAs a containerd image verifier (bin_dir of the io.containerd.image-verifier.v1.bindir plugin):\n  vouch -name <ref> -digest <digest> -stdin-media-type application/vnd.oci.descriptor.v1+json\nwith the image's OCI descriptor on stdin. Exit 0 allows the pull, 1 denies it, 2 is a usage error.\nstdout is always one JSON report; logs go to stderr (level from VOUCH_LOG: error, warn, info, debug).\n\nConfiguration: /etc/vouch/config.toml, or VOUCH_CONFIG, or --config."
)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The flags outside subcommands: containerd's three and `--config`.
#[derive(clap::Args, Debug)]
struct Flags {
    /// vouch's configuration file (default: $VOUCH_CONFIG, else /etc/vouch/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Image reference, as containerd passes it.
    #[arg(long, value_name = "REF")]
    name: Option<String>,
    /// Image digest, as containerd passes it.
    #[arg(long, value_name = "DIGEST")]
    digest: Option<String>,
    /// Media type of stdin; must be application/vnd.oci.descriptor.v1+json.
    #[arg(long = "stdin-media-type", value_name = "TYPE")]
    stdin_media_type: Option<String>,
}

impl Flags {
    /// The containerd invocation, when all three of its flags are given.
    fn containerd(self) -> Option<ContainerdArgs> {
        Some(ContainerdArgs { config: self.config, name: self.name?, digest: self.digest?, stdin_media_type: self.stdin_media_type? })
    }

    fn any_containerd_flag(&self) -> bool {
        self.name.is_some() || self.digest.is_some() || self.stdin_media_type.is_some()
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify images by reference (tags are resolved to digests) and print the report.
    Verify {
        /// Image references, e.g. ghcr.io/acme/app:1.0 or ghcr.io/acme/app@sha256:…
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
        /// Honour `mode = "audit"` from the configuration (by default verify always enforces).
        #[arg(long)]
        audit: bool,
        #[command(flatten)]
        ci: crate::verify::CiFlags,
    },
    /// Inspect or empty the on-disk cache (cache_dir in the configuration).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
        /// Output format.
        #[arg(long, global = true, value_enum, default_value = "human")]
        output: OutputFormat,
    },
    /// Show recent decisions from the audit log (audit_log in the configuration).
    Log(crate::log_cmd::LogOptions),
    /// Check vouch's configuration and containerd's (plugin, bin_dir, timeouts, CRI settings, version).
    Doctor(crate::doctor::DoctorArgs),
    /// Copy this vouch binary into containerd's bin_dir atomically.
    Install(crate::install::InstallArgs),
    /// Copy a mounted ConfigMap to vouch's configuration directory, validated, atomically.
    Sync(crate::sync::SyncArgs),
    /// Work with Rego policies.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Work with vouch's configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// What `vouch config` does.
#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Convert a Ratify v1 configuration (config.json, or its Verifier/Store/Policy resources in
    /// YAML) into vouch's: the trust policy, trust store and policy.rego go into DIR, the
    /// config.toml is printed on stdout, and what has no vouch equivalent is listed on stderr.
    ImportRatify {
        /// Ratify's config.json (or a YAML file of its custom resources).
        #[arg(value_name = "RATIFY_CONFIG")]
        ratify_config: PathBuf,
        /// Where trustpolicy.json, truststore/ and policy.rego are written.
        #[arg(long, value_name = "DIR", default_value = crate::import_ratify::DEFAULT_OUT_DIR)]
        out_dir: PathBuf,
    },
}

/// What `vouch policy` does.
#[derive(Subcommand, Debug)]
enum PolicyAction {
    /// Run a Rego policy over saved reports: CASES_DIR holds NAME.json (a report) and
    /// NAME.expected (allow or deny) per case.
    Test {
        /// The Rego policy file.
        #[arg(value_name = "POLICY.rego")]
        policy: PathBuf,
        /// The folder of cases.
        #[arg(value_name = "CASES_DIR")]
        cases: PathBuf,
    },
}

/// What `vouch cache` does.
#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAction {
    /// Entries and bytes per kind, and the hit ratio of lookups.
    Stats,
    /// Remove expired and damaged entries, then the least recently used while over max_size.
    Prune,
    /// Remove every entry.
    Clear,
}

/// Output format of the maintenance commands.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Lines for people.
    Human,
    /// One JSON object.
    Json,
}

/// The containerd invocation.
#[derive(Debug)]
pub struct ContainerdArgs {
    pub config: Option<PathBuf>,
    pub name: String,
    pub digest: String,
    pub stdin_media_type: String,
}

/// `vouch verify`.
#[derive(Debug)]
pub struct VerifyArgs {
    pub config: Option<PathBuf>,
    pub images: Vec<String>,
    pub audit: bool,
    /// Overrides and output options for CI.
    pub ci: crate::verify::CiFlags,
}

/// `vouch cache …`.
#[derive(Debug)]
pub struct CacheArgs {
    pub config: Option<PathBuf>,
    pub action: CacheAction,
    pub output: OutputFormat,
}

/// What the command line asks for.
pub enum Parsed {
    /// Print this text and exit with the code (help, version).
    Text(String, u8),
    /// A usage error; the reason goes into the JSON report.
    UsageError(String),
    Containerd(ContainerdArgs),
    Verify(VerifyArgs),
    Cache(CacheArgs),
    /// `vouch policy test POLICY CASES_DIR`.
    PolicyTest(PathBuf, PathBuf),
    /// `vouch config import-ratify RATIFY_CONFIG --out-dir DIR`.
    ImportRatify(PathBuf, PathBuf),
    /// `vouch doctor`, with the `--config` flag.
    Doctor(Option<PathBuf>, crate::doctor::DoctorArgs),
    /// `vouch install`.
    Install(crate::install::InstallArgs),
    /// `vouch sync`.
    Sync(crate::sync::SyncArgs),
    /// `vouch log`, with the `--config` flag.
    Log(Option<PathBuf>, crate::log_cmd::LogOptions),
}

/// The containerd invocation alone, without the subcommands. containerd runs vouch on every
/// pull, and building the whole command tree (every subcommand's flags and help) costs about a
/// tenth of a cached verdict's time; this parser is tried first and the full one decides
/// whenever it does not accept the arguments, so errors and help read the same.
#[derive(Parser, Debug)]
#[command(name = "vouch", disable_help_flag = true, disable_version_flag = true)]
struct ContainerdCli {
    #[command(flatten)]
    flags: Flags,
}

/// `-name` → `--name` (also `-name=value`), for the flags containerd uses.
fn normalise(args: &[String]) -> Vec<String> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            let word = a.strip_prefix('-').filter(|w| !w.starts_with('-'));
            let flag = word.map(|w| w.split('=').next().unwrap_or(w));
            // Unknown single-dash words become long flags too, so the usage error names them
            // whole (`--bogus`) instead of as a cluster of short flags.
            match flag {
                Some(f) if i > 0 && (SINGLE_DASH_FLAGS.contains(&f) || (f.len() > 1 && f.starts_with(|c: char| c.is_ascii_alphabetic()))) => {
                    format!("-{a}")
                }
                _ => a.clone(),
            }
        })
        .collect()
}

/// Parses argv (including argv0).
pub fn parse(args: &[String]) -> Parsed {
    let args = normalise(args);
    if let Some(a) = ContainerdCli::try_parse_from(&args).ok().and_then(|c| c.flags.containerd()) {
        return Parsed::Containerd(a);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Parsed::Text(e.render().to_string(), 0),
                _ => Parsed::UsageError(first_line(&e.render().to_string())),
            };
        }
    };
    match cli.command {
        Some(Command::Verify { images, audit, ci }) => {
            if cli.flags.any_containerd_flag() {
                return Parsed::UsageError("-name, -digest and -stdin-media-type do not apply to verify".into());
            }
            Parsed::Verify(VerifyArgs { config: cli.flags.config, images, audit, ci })
        }
        Some(Command::Cache { action, output }) => {
            if cli.flags.any_containerd_flag() {
                return Parsed::UsageError("-name, -digest and -stdin-media-type do not apply to cache".into());
            }
            Parsed::Cache(CacheArgs { config: cli.flags.config, action, output })
        }
        Some(Command::Policy { action: PolicyAction::Test { policy, cases } }) => Parsed::PolicyTest(policy, cases),
        Some(Command::Config { action: ConfigAction::ImportRatify { ratify_config, out_dir } }) => {
            Parsed::ImportRatify(ratify_config, out_dir)
        }
        Some(Command::Doctor(a)) => Parsed::Doctor(cli.flags.config, a),
        Some(Command::Install(a)) => Parsed::Install(a),
        Some(Command::Sync(a)) => Parsed::Sync(a),
        Some(Command::Log(opts)) => {
            if cli.flags.any_containerd_flag() {
                return Parsed::UsageError("-name, -digest and -stdin-media-type do not apply to log".into());
            }
            Parsed::Log(cli.flags.config, opts)
        }
        None => {
            let f = cli.flags;
            let missing: Vec<&str> =
                [("-name", f.name.is_none()), ("-digest", f.digest.is_none()), ("-stdin-media-type", f.stdin_media_type.is_none())]
                    .iter()
                    .filter(|(_, m)| *m)
                    .map(|(flag, _)| *flag)
                    .collect();
            match f.containerd() {
                Some(a) => Parsed::Containerd(a),
                None => Parsed::UsageError(format!(
                    "missing {} (containerd runs: vouch -name <ref> -digest <digest> -stdin-media-type application/vnd.oci.descriptor.v1+json; see vouch --help)",
                    missing.join(", ")
                )),
            }
        }
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
    line.trim_start_matches("error: ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn containerd_single_dash_flags() {
        let p = parse(&argv("/bin/vouch -name a/b:1 -digest sha256:x -stdin-media-type t"));
        let Parsed::Containerd(a) = p else { panic!("not containerd") };
        assert_eq!((a.name.as_str(), a.digest.as_str(), a.stdin_media_type.as_str()), ("a/b:1", "sha256:x", "t"));
        let p = parse(&argv("vouch --name=a -digest=d --stdin-media-type t"));
        assert!(matches!(p, Parsed::Containerd(a) if a.name == "a" && a.digest == "d"));
        let p = parse(&argv("vouch -config /c -stdin-media-type t -digest d -name a"));
        assert!(matches!(p, Parsed::Containerd(a) if a.config.as_deref() == Some(std::path::Path::new("/c"))));
    }

    #[test]
    fn what_the_containerd_parser_refuses_goes_to_the_full_one() {
        // A subcommand after the containerd flags, help and version are decided by the full parser.
        let p = parse(&argv("vouch -name a -digest d -stdin-media-type t verify x"));
        assert!(matches!(p, Parsed::UsageError(r) if r.contains("do not apply to verify")), "a subcommand must not be ignored");
        assert!(matches!(parse(&argv("vouch -name a -digest d -stdin-media-type t -help")), Parsed::Text(t, 0) if t.contains("Usage")));
        assert!(matches!(parse(&argv("vouch -name a -digest d -stdin-media-type t -version")), Parsed::Text(t, 0) if t.starts_with("vouch ")));
        assert!(matches!(parse(&argv("vouch -name a -name b -digest d -stdin-media-type t")), Parsed::UsageError(_)));
    }

    #[test]
    fn usage_errors() {
        assert!(matches!(parse(&argv("vouch -name a -digest d -stdin-media-type t -bogus 1")), Parsed::UsageError(r) if r.contains("-bogus")));
        assert!(matches!(parse(&argv("vouch -name a")), Parsed::UsageError(r) if r.contains("-digest, -stdin-media-type")));
        assert!(matches!(parse(&argv("vouch")), Parsed::UsageError(_)));
        assert!(matches!(parse(&argv("vouch --help")), Parsed::Text(_, 0)));
        assert!(matches!(parse(&argv("vouch -version")), Parsed::Text(t, 0) if t.starts_with("vouch ")));
    }

    #[test]
    fn verify_subcommand() {
        let p = parse(&argv("vouch verify --config /c a b"));
        assert!(matches!(p, Parsed::Verify(v) if v.images == ["a", "b"] && v.config.is_some() && !v.audit));
    }

    #[test]
    fn cache_subcommands() {
        let p = parse(&argv("vouch cache stats --output json"));
        assert!(matches!(p, Parsed::Cache(c) if c.action == CacheAction::Stats && c.output == OutputFormat::Json));
        let p = parse(&argv("vouch --config /c cache clear"));
        assert!(matches!(p, Parsed::Cache(c) if c.action == CacheAction::Clear && c.output == OutputFormat::Human && c.config.is_some()));
        assert!(matches!(parse(&argv("vouch cache shred")), Parsed::UsageError(_)));
    }

    #[test]
    fn policy_test_subcommand() {
        let p = parse(&argv("vouch policy test p.rego cases"));
        assert!(matches!(p, Parsed::PolicyTest(a, b) if a.to_str() == Some("p.rego") && b.to_str() == Some("cases")));
        assert!(matches!(parse(&argv("vouch policy test p.rego")), Parsed::UsageError(_)));
    }

    #[test]
    fn config_import_ratify_subcommand() {
        let p = parse(&argv("vouch config import-ratify r.json --out-dir o"));
        assert!(matches!(p, Parsed::ImportRatify(a, b) if a.to_str() == Some("r.json") && b.to_str() == Some("o")));
        let p = parse(&argv("vouch config import-ratify r.json"));
        assert!(matches!(p, Parsed::ImportRatify(_, b) if b.to_str() == Some("vouch-import")));
        assert!(matches!(parse(&argv("vouch config import-ratify")), Parsed::UsageError(_)));
    }
}
