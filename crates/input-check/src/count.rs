//! Gate counts of a check: [`triad_mpc_core::counted::Counted`], proving in batches.

pub use triad_mpc_core::counted::Cost;

/// Prove the logged gates once this many are pending: the AND proof is cheapest per gate
/// around 10^6 gates, and the log stays small (as `triad-mpc`'s `NetParty` does by itself;
/// the in-memory harness does not). The counts are public, so all parties prove at the
/// same point.
pub(crate) const VERIFY_AFTER: u64 = 1 << 20;
