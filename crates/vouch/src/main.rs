//! vouch: an image verifier for containerd's `io.containerd.image-verifier.v1.bindir` plugin.
//!
//! containerd runs `vouch -name <ref> -digest <digest> -stdin-media-type
//! application/vnd.oci.descriptor.v1+json` with the image's descriptor on stdin; vouch prints
//! one JSON report on stdout and exits 0 to allow the pull, 1 to deny it, 2 for usage errors.
//! The same binary serves CI (`vouch verify REF`) and maintains its cache (`vouch cache
//! stats|prune|clear`), tests Rego policies over saved reports (`vouch policy test`) and imports
//! Ratify configurations (`vouch config import-ratify`).

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

use std::process::ExitCode;

fn main() -> ExitCode {
    logging::init();
    let args: Vec<String> = std::env::args().collect();
    let code = match cli::parse(&args) {
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
    };
    ExitCode::from(code)
}
