//! The glue's errors: the engine's (aborts name the step and, where possible, the party) and
//! the transport's (every link error names the peer).

/// What can go wrong when running a party over the mesh.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The protocol aborted or was misused (see [`triad_mpc_core::Error`]).
    #[error(transparent)]
    Engine(#[from] triad_mpc_core::Error),
    /// The mesh failed: setup (keys, session), timeouts, a dropped link.
    #[error(transparent)]
    Net(#[from] triad_mpc_net::NetError),
    /// A peer's pair-key contribution was malformed.
    #[error("pair-key agreement with {peer}: {reason}")]
    KeyAgreement {
        /// The peer that sent it.
        peer: triad_mpc_net::PartyId,
        /// What was wrong.
        reason: &'static str,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
