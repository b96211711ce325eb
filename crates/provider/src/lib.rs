//! Provider side of client input (`docs/protocols/mpc-core.md` §5,
//! `docs/protocols/input-check.md`; issue 5, item 4).
//!
//! A data provider holds a TLSNotary presentation whose value (e.g. the
//! balance digits `12.345`) is hidden behind `H(value || blinder)`. It
//! splits the value three ways and goes offline (a contribution to a dataset
//! with several columns carries one such value per column, each dealt alike):
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
//! Beside the bundles the provider publishes [`ShareCommitments`]: a salted
//! SHA-256 commitment to each of the three components and the verifying key
//! of a fresh Ed25519 key that signs each party's copies, so a party whose
//! copy does not match can prove it ([`EquivocationProof`], module
//! [`attribution`]).
//!
//! ```no_run
//! # fn demo(secret: &triad_notary::ProverSecret, c: &triad_notary::UnopenedCommitment,
//! #   keys: [triad_provider::PublicKey; 3], sk: triad_provider::SecretKey) -> Result<(), triad_provider::ProviderError> {
//! use triad_provider::{BundleContext, DecimalFormat, ProvenValue, make_bundles, open_bundle, os_rng};
//! let format = DecimalFormat::new(12, 6, 16)?;
//! let cid = [7u8; 16];
//! let value = ProvenValue { secret, commitment: c, format: &format }; // one per column
//! let sealed = make_bundles(&[value], "eth-balances", cid, &keys, &mut os_rng())?;
//! let hashes = sealed.bundles.each_ref().map(|b| b.sha256()); // ContributionSubmitted.bundle_hashes
//! let public = &sealed.commitments; // published beside them
//! let ctx = BundleContext::new("eth-balances", cid, triad_mpc_core::PartyId::ALL[0]);
//! let mine = open_bundle(sealed.bundles[0].as_bytes(), &sk, &ctx)?;
//! let proofs = mine.check_components(public)?; // empty: the provider is honest
//! # Ok(()) }
//! ```
//!
//! Architecture invariant: no IO. The bundle messages are `triad-proto`'s;
//! this crate builds only the HPKE `info` bytes (`seal.rs`), and HPKE's own
//! encodings are RFC 9180's.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod attribution;
pub mod decimal;
mod error;
mod keys;
mod open;
mod seal;

pub use attribution::{ComponentOpening, EquivocationProof, MAX_COLUMNS, ProofError, ShareCommitments};
pub use decimal::{DecimalError, DecimalFormat, FormatError};
pub use error::ProviderError;
pub use keys::{PublicKey, SecretKey, generate_keypair};
pub use seal::{
    BundleContext, OpenedBundle, OpenedColumn, PlainValue, ProvenValue, SealedBundle, SealedContribution,
    check_submitted, make_bundles, open_bundle, open_bundles, seal_contribution, sha256,
};

/// Bundle format version written and read by this build.
pub const BUNDLE_VERSION: u32 = 3;

/// The operating system's RNG, for keys and sharing.
pub fn os_rng() -> impl hpke::rand_core::CryptoRng {
    hpke::rand_core::UnwrapErr(getrandom::SysRng)
}
