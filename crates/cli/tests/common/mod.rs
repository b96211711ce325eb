//! Shared by the CLI tests that use upstream TLSNotary's fixtures (`notary/fixtures`, copied
//! from upstream with their origin noted there).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The fixtures' notary: secp256k1, secret key 32 bytes of 0x2a.
pub const NOTARY: &str = "secp256k1:035be5e9478209674a96e60f1f037f6176540fd001fa1d64694770c56a7709c42c";

pub fn fixture(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../notary/fixtures/tlsn").join(rel);
    assert!(p.exists(), "fixture {} is missing", p.display());
    p
}

/// Runs `triad` with `args` (no notary keys from the environment): success, stdout, stderr.
pub fn triad(args: &[&str]) -> (bool, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_triad")).args(args).env_remove("TRIAD_NOTARY_KEYS").output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
