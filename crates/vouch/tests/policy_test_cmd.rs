//! `vouch policy test`: the shipped cases pass for every shipped policy, and a wrong
//! expectation fails the run with a line naming the case.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn policy_test(policy: &PathBuf, cases: &PathBuf) -> (i32, String) {
    let out = Command::new(vouch_bin()).args(["policy", "test"]).arg(policy).arg(cases).env_clear().output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn every_shipped_policy_passes_its_cases() {
    for name in ["default", "all-signatures", "require-metadata"] {
        let (code, out) = policy_test(&repo().join(format!("policies/{name}.rego")), &repo().join(format!("policies/tests/{name}")));
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains("7 cases, 7 passed, 0 failed"), "{name}: {out}");
    }
}

#[test]
fn a_wrong_expectation_fails_naming_the_case() {
    let dir = TempDir::new("policytest");
    let src = repo().join("policies/tests/default");
    std::fs::copy(src.join("unsigned.json"), dir.path().join("unsigned.json")).unwrap();
    std::fs::write(dir.path().join("unsigned.expected"), "allow\n").unwrap();
    std::fs::copy(src.join("jws-es256.json"), dir.path().join("jws-es256.json")).unwrap();
    std::fs::write(dir.path().join("jws-es256.expected"), "allow\n").unwrap();
    let (code, out) = policy_test(&repo().join("policies/default.rego"), &dir.path().to_path_buf());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL unsigned: expected allow, policy said deny"), "{out}");
    assert!(out.contains("pass jws-es256 (allow)"), "{out}");
    assert!(out.contains("2 cases, 1 passed, 1 failed"), "{out}");
}

#[test]
fn a_missing_expectation_is_a_failure() {
    let dir = TempDir::new("policytest-missing");
    std::fs::copy(repo().join("policies/tests/default/unsigned.json"), dir.path().join("unsigned.json")).unwrap();
    let (code, out) = policy_test(&repo().join("policies/default.rego"), &dir.path().to_path_buf());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL unsigned: cannot read"), "{out}");
}
