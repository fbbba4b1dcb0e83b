//! vouch: an image verifier for containerd's `io.containerd.image-verifier.v1.bindir` plugin.
//!
//! containerd runs `vouch -name <ref> -digest <digest> -stdin-media-type
//! application/vnd.oci.descriptor.v1+json` with the image's descriptor on stdin; vouch prints
//! one JSON report on stdout and exits 0 to allow the pull, 1 to deny it, 2 for usage errors.
//! The same binary serves CI (`vouch verify REF`) and maintains its cache (`vouch cache
//! stats|prune|clear`) and tests Rego policies over saved reports (`vouch policy test`).

mod cache_cmd;
mod auth_config;
mod cli;
mod config;
mod containerd;
mod logging;
mod output;
mod policy_test;
mod verify;

use std::process::ExitCode;

fn main() -> ExitCode {
    logging::init();
    let args: Vec<String> = std::env::args().collect();
    let code = match cli::parse(&args) {
        cli::Parsed::Text(text, code) => {
            print!("{text}");
            code
        }
        cli::Parsed::UsageError(reason) => output::usage_error(&reason),
        cli::Parsed::Containerd(a) => containerd::run(a),
        cli::Parsed::Verify(a) => verify::run(a),
        cli::Parsed::Cache(a) => cache_cmd::run(a),
        cli::Parsed::PolicyTest(policy, cases) => policy_test::run(&policy, &cases),
    };
    ExitCode::from(code)
}
