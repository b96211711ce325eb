//! `triad-mpc-core`: a sans-IO engine for three-party computation with
//! replicated secret sharing (RSS), honest majority, malicious security with
//! abort.
//!
//! * Arithmetic RSS over Z_2^64: `x = x_0 + x_1 + x_2 (mod 2^64)`, party `i`
//!   holds `(x_i, x_{i+1})` ([`ArithShare`]).
//! * Boolean RSS over GF(2), bit-sliced, 64 lanes per `u64` word
//!   ([`BoolShare`]).
//! * Multiplication / AND as in Araki, Furukawa, Lindell, Nof, Ohara, CCS'16
//!   (ePrint 2016/768): one element (one bit) per party, one round.
//! * Every multiplication and AND is logged and verified in batches by
//!   distributed zero-knowledge proofs (Boyle, Gilboa, Ishai, Nof, CCS'19,
//!   ePrint 2019/1390): over Z_2^{64+s}, s = 128 by default, for rings
//!   (ePrint 2024/700) and over GF(2^64) for AND gates (bit-sliced, one
//!   carry-less product per word pair). See [`dzkp`] and
//!   `docs/protocols/mpc-core.md`.
//! * Conversions and comparisons built on verified gates ([`circuits`]):
//!   B2A, A2B, LTZ, EQZ; written against the driver interface [`engine::Engine`].
//! * Fixed-point arithmetic, select, reciprocal, division by a secret,
//!   square root, base-2 logarithm and exponential ([`fixed`]).
//! * Preprocessing ([`edabit`]: edaBits, truncation masks), kept in a
//!   [`stock::Stockpile`] and consumed by the online comparisons and
//!   truncations of [`masked`] (TruncPr, exact truncation, LTZ, EQZ).
//! * Opening with a compare-view consistency check (Furukawa, Lindell, Nof,
//!   Weinstein, EC'17, ePrint 2016/944), refused while any multiplication is
//!   unverified.
//! * Client input bundles and the parties' cross-check ([`input`]).
//! * Oblivious shuffle with GF(2^64) tags ([`shuffle`]); sorting and order
//!   statistics by shuffle + quicksort / quickselect ([`sort`]).
//!
//! The crate does no IO: each protocol step returns [`Message`]s addressed to
//! a [`PartyId`] and a continuation that consumes the replies. The
//! [`harness`] module runs three parties on threads over `std::sync::mpsc`.
// `unsafe` only in `clmul` (a CPU instruction behind run-time detection).
#![deny(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

// The adversarial hooks are for tests: a release build refuses them.
#[cfg(all(feature = "deviation", not(debug_assertions)))]
compile_error!("the `deviation` feature is test-only: it must not be enabled in a release build");

mod arith;
pub mod circuits;
mod clmul;
pub mod counted;
#[cfg(test)]
mod debug_tests;
#[cfg(feature = "deviation")]
pub mod deviation;
pub mod dzkp;
pub mod edabit;
pub mod engine;
mod error;
pub mod fixed;
mod gf64;
pub mod harness;
pub mod input;
pub mod masked;
mod message;
mod open;
mod prefix;
mod prf;
mod session;
mod share;
pub mod shuffle;
pub mod sort;
pub mod stock;

pub use arith::{AndPending, MulPending};
pub use dzkp::{Outgoing, Progress, Verify};
pub use error::{Error, Result, Step, TransportError, TransportKind};
pub use message::{Message, Payload};
pub use open::OpenPending;
pub use session::{PairKeys, Session};

pub use share::{ArithShare, BoolShare};

/// One of the three computation parties: 0, 1 or 2.
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
        self.0 as usize
    }

    /// Party `i + 1 mod 3`.
    pub fn next(self) -> PartyId {
        PartyId((self.0 + 1) % 3)
    }

    /// Party `i - 1 mod 3`.
    pub fn prev(self) -> PartyId {
        PartyId((self.0 + 2) % 3)
    }
}

impl std::fmt::Display for PartyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "P{}", self.0)
    }
}

/// The ring Z_2^{64+s} in which multiplications over Z_2^64 are proven
/// (ePrint 2024/700). See `docs/protocols/mpc-core.md` for the soundness
/// of each choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ArithProofRing {
    /// s = 128 (default): at least 45 bits for batches up to 8.6·10^9
    /// multiplications: the proven `2^-48` of the carry check plus the fold
    /// rounds' bound, which is a conjecture (`docs/protocols/mpc-core.md`
    /// §3.1, `docs/decisions/003-products-in-z2-192.md`).
    #[default]
    Z2_192,
    /// s = 64 (as in the paper's code): faster, but the fold rounds alone
    /// give only about 21 bits for 10^6 multiplications per batch, even
    /// against the one strategy of §3.1; not for production, so it exists only in tests and
    /// with the test-only `deviation` feature: no configuration of a
    /// production build can select it.
    #[cfg(any(test, feature = "deviation"))]
    Z2_128,
}

/// Session parameters; all three parties must use the same. Every value a
/// production build can express is production-strength.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Config {
    /// Verification ring for arithmetic gates.
    pub arith_ring: ArithProofRing,
}

/// A 16-byte session identifier. It separates every PRF stream and is carried
/// by every message, so messages of one session cannot be replayed in another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 16]);
