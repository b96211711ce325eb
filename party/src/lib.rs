//! A computation party: keeps its shares in its own store, derives all
//! network state (members, keys, datasets, accepted contributions, pending
//! queries) from the event log, runs MPC sessions with the other two parties
//! over the `triad-mpc-net` data plane, and signs what it computes.
//!
//! Built so far: [`intake`], the checks a batch of contributions passes
//! before its shares count (issue 5). The service around it (event handlers,
//! share store, sessions driven by the log) comes with the full-network
//! issue.
#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod intake;

pub use intake::{Accusation, AccusationFault, IntakeError, Outcome, Reason, accuse, check_commitments, judge};
