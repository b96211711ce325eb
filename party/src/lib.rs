//! A computation party: keeps its shares in its own database, derives all network state
//! (members, datasets, submissions, sessions, queries) from the event log, runs the sessions
//! the coordinator opens with the other two parties over the `triad-mpc-net` data plane, and
//! reports what it computed through its own store.
//!
//! - [`intake`]: the checks a batch of contributions passes before its shares count.
//! - [`service`]: the party service ([`Party`]), its handlers and session runner.
//! - [`state`]: its private state database; [`identity`]: its long-term keys.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod identity;
pub mod intake;
pub mod memory;
pub mod service;
pub mod state;

pub use intake::{Accusation, AccusationFault, IntakeError, Outcome, Reason, accuse, check_commitments, judge};
pub use service::{Party, PartyError, PartySettings};
