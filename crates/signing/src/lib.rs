//! Threshold-signed results: DKLs23 2-of-3 threshold ECDSA over secp256k1 among the three
//! parties (`docs/protocols/signing.md`, `docs/decisions/007-threshold-ecdsa-library.md`).
//!
//! Sans-IO: each protocol is a party state machine ([`Session`]) that takes the messages
//! addressed to its party and returns the messages it sends; `triad-signing-bus` carries
//! them over NATS, [`local`] in memory.
//!
//! - [`dkg`]: distributed key generation, all three parties, three rounds.
//! - [`sign`]: two of the three parties sign a 32-byte digest, three rounds.
//! - [`refresh`]: all three parties re-randomise their shares; the public key stays, and old
//!   shares no longer sign with new ones.
//! - [`KeyShare::derive`] / [`NetworkKey::dataset_key`]: the per-dataset child key, BIP32
//!   non-hardened derivation along a path fixed by the dataset id; the party side tweaks its
//!   share, a consumer derives the public key from the network's public key alone.
//! - [`KeyShare::derive_request`] / [`NetworkKey::request_key`]: the same for an operator's
//!   signing requests, under another derivation domain, so a request never yields a
//!   signature under a dataset's key; [`verify_digest`] checks such a signature.
//! - [`ResultStatement`]: the canonical encoding of a result, and [`verify`] with the reason
//!   a signature does not hold.
//!
//! The library ([`dkls23`]) uses `k256` 0.14; our public types carry keys and signatures as
//! bytes, and verification uses the workspace's `k256` 0.13, as a consumer would.

pub mod derive;
pub mod dkg;
mod error;
mod fragments;
mod key;
pub mod local;
mod message;
pub mod refresh;
mod result;
mod session;
pub mod sign;
mod verify;

#[cfg(test)]
mod tests;

pub use derive::{DatasetKey, NetworkKey};
pub use error::{DeriveError, KeyError, SigningError};
pub use key::{Derivation, KeyShare};
pub use message::{Message, MessageError, Protocol, SessionId};
pub use result::{ResultColumn, ResultStatement};
pub use session::{Progress, Rounds, Session};
pub use verify::{Expectation, VerifyError, verify, verify_digest, verify_with_dataset_key};

/// One of the three parties: 0, 1 or 2 (the numbering of `triad_mpc_core::PartyId`; the
/// library counts from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyId(u8);

impl PartyId {
    /// All three parties in order.
    pub const ALL: [PartyId; 3] = [PartyId(0), PartyId(1), PartyId(2)];

    /// A party id; `None` unless `i < 3`.
    pub fn new(i: u8) -> Option<PartyId> {
        (i < 3).then_some(PartyId(i))
    }

    /// The index 0..3.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The library's 1-based index.
    pub(crate) fn lib(self) -> dkls23::protocols::PartyIndex {
        dkls23::protocols::PartyIndex::new(self.0 + 1)
            .unwrap_or_else(|_| unreachable!("a PartyId is below 3, so its library index is 1..=3"))
    }

    /// From the library's 1-based index.
    pub(crate) fn from_lib(index: dkls23::protocols::PartyIndex) -> Option<PartyId> {
        index.as_u8().checked_sub(1).and_then(PartyId::new)
    }
}

impl std::fmt::Display for PartyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "P{}", self.0)
    }
}

/// The library's secp256k1 party (a key share with its multiplication state).
pub(crate) type LibParty = dkls23::secp256k1::Party;
/// The curve the library is instantiated with.
pub(crate) type Curve = k256_dkls::Secp256k1;
