//! `triad bench engine-inproc` runs every default case on tiny inputs, checks each result
//! against the plaintext after the clock, and prints one table row per case.

use std::process::Command;

#[test]
fn engine_inproc_runs_and_checks_every_default_case() {
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["bench", "engine-inproc", "--n", "2000", "--ltz-n", "64", "--trunc-n", "64", "--reps", "1"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for case in ["mult#1", "ltz#1", "trunc#1", "and#1"] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("| {case}"))), "no {case} row in:\n{stdout}");
    }
}
