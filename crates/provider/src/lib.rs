//! Provider side of client input (`docs/protocols/mpc-core.md` §5,
//! `docs/protocols/input-check.md`; issue 5, item 4).
//!
//! A data provider holds a TLSNotary presentation whose value (e.g. the
//! balance digits `12.345`) is hidden behind `H(value || blinder)`. It
//! splits the value three ways and goes offline:
//!
//! * the number, as the exact integer `N = value * 10^max_decimals`,
//!   additively in Z_2^64 (party i holds `(x_i, x_{i+1})`);
//! * the value bytes (zero-padded to the format's longest value) and the
//!   16-byte blinder, XOR-shared and bit-sliced, so the parties can
//!   recompute the commitment inside MPC and check that the bytes parse to
//!   the same `N`.
//!
//! Each party's [`triad_proto::provider::v1::ShareBundle`] is sealed to its
//! published X25519 key with HPKE (RFC 9180, base mode,
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20Poly1305). The HPKE
//! `info` binds the dataset, the contribution id and the party index, so a
//! bundle cannot be replayed to another party or contribution. The
//! normative encodings are in `proto/triad/provider/v1/bundle.proto`.
//!
//! ```no_run
//! # fn demo(secret: &triad_notary::ProverSecret, c: &triad_notary::UnopenedCommitment,
//! #   keys: [triad_provider::PublicKey; 3], sk: triad_provider::SecretKey) -> Result<(), triad_provider::ProviderError> {
//! use triad_provider::{BundleContext, DecimalFormat, make_bundles, open_bundle, os_rng};
//! let format = DecimalFormat::new(12, 6, 16)?;
//! let cid = [7u8; 16];
//! let sealed = make_bundles(secret, c, "eth-balances", cid, &format, &keys, &mut os_rng())?;
//! let hashes = sealed.each_ref().map(|b| b.sha256()); // ContributionSubmitted.bundle_hashes
//! let ctx = BundleContext::new("eth-balances", cid, triad_mpc_core::PartyId::ALL[0]);
//! let mine = open_bundle(sealed[0].as_bytes(), &sk, &ctx)?;
//! # Ok(()) }
//! ```
//!
//! Architecture invariant: no IO. The bundle messages are `triad-proto`'s;
//! this crate builds only the HPKE `info` bytes (`seal.rs`), and HPKE's own
//! encodings are RFC 9180's.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod decimal;
mod error;
mod keys;
mod seal;

pub use decimal::{DecimalError, DecimalFormat, FormatError};
pub use error::ProviderError;
pub use keys::{PublicKey, SecretKey, generate_keypair};
pub use seal::{
    BundleContext, OpenedBundle, PlainContribution, SealedBundle, check_submitted, make_bundles,
    open_bundle, seal_contribution, sha256,
};

/// Bundle format version written and read by this build.
pub const BUNDLE_VERSION: u32 = 1;

/// The operating system's RNG, for keys and sharing.
pub fn os_rng() -> impl hpke::rand_core::CryptoRng {
    hpke::rand_core::UnwrapErr(getrandom::SysRng)
}
