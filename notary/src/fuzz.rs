//! The body of the decoder fuzz target, shared by `notary/fuzz` (cargo-fuzz,
//! nightly, coverage-guided) and the bounded mutation run that CI executes
//! on stable (`tests/fuzz_bounded.rs`), so both exercise the same property.

use crate::{VerifierConfig, verify, wire};

/// Decode and verify arbitrary bytes. Never panics on its own account; it
/// panics (a fuzz finding) only if a decodable input does not re-encode to
/// the same bytes (the format has one encoding per value).
pub fn decode_verify(data: &[u8], config: &VerifierConfig) {
    if let Ok(p) = wire::decode(data) {
        assert_eq!(wire::encode(&p), data, "decode/encode is not the identity");
    }
    let _ = verify(data, config);
}
