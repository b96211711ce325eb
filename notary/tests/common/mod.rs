//! Shared helpers: fixture paths (notary/fixtures, copied from upstream; see its README) and the
//! pinned notary key of the fixtures.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use triad_notary::{NotaryKey, VerifierConfig, wire};

/// The fixtures' notary secret key: 32 bytes of 0x2a.
pub const NOTARY_SECRET: [u8; 32] = [0x2a; 32];

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tlsn")
}

/// Reads a fixture file; panics (fails the test) if it is missing.
pub fn read(rel: &str) -> Vec<u8> {
    let path = fixture_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} missing: {e}", path.display()))
}

pub fn notary_key() -> NotaryKey {
    NotaryKey::secp256k1_from_secret(&NOTARY_SECRET).expect("valid secret")
}

pub fn config() -> VerifierConfig {
    VerifierConfig::new(vec![notary_key()])
}

pub fn full() -> Vec<u8> {
    read("presentation.bin")
}

pub fn hidden() -> Vec<u8> {
    read("hidden/presentation.bin")
}

pub fn decode(bytes: &[u8]) -> wire::Presentation {
    wire::decode(bytes).expect("fixture decodes")
}

/// Minimal JSON string field reader for secret.json (avoids guessing its
/// full shape): returns the string value of `"key": "..."`.
pub fn json_str(json: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).expect("secret.json is JSON");
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing")).to_string()
}
