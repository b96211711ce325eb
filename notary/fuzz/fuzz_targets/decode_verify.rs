//! Decoder and verifier on arbitrary bytes: must never panic.
//!
//! Run (nightly, cargo-fuzz), seeding with the fixtures:
//!   mkdir -p corpus/decode_verify && cp ../fixtures/tlsn/presentation.bin \
//!     ../fixtures/tlsn/hidden/presentation.bin corpus/decode_verify/ 2>/dev/null
//!   cargo +nightly fuzz run decode_verify corpus/decode_verify -- -max_total_time=60
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use triad_notary::{NotaryKey, VerifierConfig};

fn config() -> &'static VerifierConfig {
    static CONFIG: OnceLock<VerifierConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let key = NotaryKey::secp256k1_from_secret(&[0x2a; 32]).expect("valid secret");
        VerifierConfig::new(vec![key])
    })
}

fuzz_target!(|data: &[u8]| triad_notary::fuzz::decode_verify(data, config()));
