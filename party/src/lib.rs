//! A computation party: keeps its shares in its own store, derives all
//! network state (members, keys, datasets, accepted contributions, pending
//! queries) from the event log, runs MPC sessions with the other two parties
//! over the `triad-mpc-net` data plane, and signs what it computes.
//!
//! Not built yet: this crate holds the place the design card gives it; the
//! full-network issue fills it, on top of `triad-mpc-core`.
