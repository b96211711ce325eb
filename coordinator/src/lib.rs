//! The coordinator: the network's front door (gRPC `triad.api.v1.Coordinator`).
//!
//! It verifies presentations against the dataset's template (pinned notary
//! keys, server name, freshness, request shape), prevents Sybil contributions
//! (the disclosed `uid`, unique by a database constraint), rate-limits,
//! sequences input-check sessions and queries, and records every decision as
//! an event in its own store. It never sees a plaintext value.
//!
//! Not built yet: this crate holds the place the design card gives it; the
//! full-network issue fills it (`commands/` decide events, `handlers/` react
//! to parties' events, `grpc.rs` maps errors to statuses).
