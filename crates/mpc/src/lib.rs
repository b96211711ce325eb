//! `triad-mpc`: runs a [`triad_mpc_core`] party over a [`triad_mpc_net`] mesh.
//!
//! The core is sans-IO (typed [`Message`](triad_mpc_core::Message)s in and out); the
//! mesh moves opaque byte frames between three parties over pinned-key TLS 1.3 (or in
//! memory). This crate is the glue, and the only place that knows both:
//!
//! * ids: the core's [`PartyId`](triad_mpc_core::PartyId) and the mesh's are distinct types
//!   with the same numbering ([`net_party`], [`core_party`]); the mesh's 32-byte session id is
//!   derived from the core's 16-byte one by a domain-separated SHA-256 ([`net_session_id`]),
//!   so both layers are bound to the same session;
//! * keys: the two PRF pair keys of a party are agreed over the authenticated links when the
//!   party is built ([`NetParty::new`]; see `keys.rs` for the argument);
//! * driving: [`NetParty`] sends each step's messages, receives the replies, and feeds them to
//!   the session. It implements the core's [`Engine`](triad_mpc_core::engine::Engine), so
//!   every circuit (B2A, A2B, LTZ, EQZ, TruncPr) runs unchanged over the network;
//! * bounded memory: large gate layers are cut into chunks and the logged gates are verified
//!   (distributed zero-knowledge proofs) every [`PartyConfig::verify_after_mults`]
//!   multiplications / [`PartyConfig::verify_after_ands`] ANDs, at the same point at every
//!   party because all three run the same program;
//! * counters: bytes from the mesh ([`NetParty::stats`]), one round marked per message
//!   exchange.
//!
//! ```
//! use triad_mpc::{NetParty, PartyConfig};
//! use triad_mpc_core::SessionId;
//!
//! # fn main() -> Result<(), triad_mpc::Error> {
//! let parties = NetParty::in_memory(SessionId(*b"doc-example-sess"), PartyConfig::default())?;
//! let out: Vec<_> = std::thread::scope(|s| {
//!     let hs: Vec<_> = parties
//!         .into_iter()
//!         .map(|mut p| {
//!             s.spawn(move || {
//!                 let x = p.random(4);
//!                 let y = p.random(4);
//!                 let z = p.mul(&x, &y)?;
//!                 let (x, y, z) = (p.open(&x)?, p.open(&y)?, p.open(&z)?); // verifies first
//!                 Ok::<_, triad_mpc::Error>((x, y, z))
//!             })
//!         })
//!         .collect();
//!     hs.into_iter().map(|h| h.join().expect("party thread")).collect()
//! });
//! for r in out {
//!     let (x, y, z) = r?;
//!     for j in 0..4 {
//!         assert_eq!(z[j], x[j].wrapping_mul(y[j]));
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod error;
mod ids;
mod keys;
mod party;

pub use error::{Error, Result};
pub use ids::{core_party, net_party, net_session_id};
pub use party::{NetParty, PartyConfig, PartyStats};

/// Re-exports, so that users need not name both crates.
pub use triad_mpc_core as core;
pub use triad_mpc_net as net;
