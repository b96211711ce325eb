//! The crate's errors. None carries key material: reasons are the library's abort reasons
//! (indices and names) or our own fixed strings.

use dkls23::protocols::{Abort, AbortKind, AbortReason};

use crate::PartyId;

/// Why a DKG, signing or refresh session failed. The session is finished after any of them
/// (start a new one with a new [`crate::SessionId`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The protocol aborted in `round`. `blamed` is the party at fault where the protocol
    /// tells (a failed proof, commitment or OT/multiplication check names its counterparty;
    /// a two-signer signature that does not verify can only be the other signer's fault);
    /// `ban` is set where the library says the party must be excluded from every later
    /// session (a failed OT consistency check leaks reusable state).
    #[error("aborted in round {round}{}: {reason}", blamed.map(|p| format!(", blamed {p}")).unwrap_or_default())]
    Aborted {
        /// The round whose messages were being processed.
        round: u8,
        /// The culprit, where known.
        blamed: Option<PartyId>,
        /// Whether the culprit must be banned from later sessions.
        ban: bool,
        /// The library's reason.
        reason: String,
    },
    /// An authenticated participant sent a body that does not decode or names another sender
    /// or recipient inside.
    #[error("malformed round {round} message from {from}")]
    Malformed {
        /// The sender (to blame).
        from: PartyId,
        /// The round.
        round: u8,
    },
    /// A participant sent two different messages for one round.
    #[error("{from} sent two different round {round} messages")]
    Equivocation {
        /// The sender (to blame).
        from: PartyId,
        /// The round.
        round: u8,
    },
    /// A message of another session, protocol or recipient, or of a round the protocol does
    /// not have: a routing fault, not a party's.
    #[error("misrouted message: {0}")]
    Misrouted(&'static str),
    /// A message from a party that is not in this session.
    #[error("{0} is not a participant of this session")]
    NotAParticipant(PartyId),
    /// The session stopped before its end: the messages of `round` from `waiting_for` never
    /// came.
    #[error("incomplete: round {round} still waits for {waiting_for:?}")]
    Incomplete {
        /// The round waited for.
        round: u8,
        /// Who has not sent it.
        waiting_for: Vec<PartyId>,
    },
    /// The session already finished or failed.
    #[error("the session is finished")]
    Finished,
    /// The session cannot start: wrong signer set, a derived key asked to refresh, ...
    #[error("cannot start: {0}")]
    Setup(&'static str),
}

impl SigningError {
    /// The party at fault, where the protocol names one.
    pub fn blamed(&self) -> Option<PartyId> {
        match self {
            SigningError::Aborted { blamed, .. } => *blamed,
            SigningError::Malformed { from, .. } | SigningError::Equivocation { from, .. } => Some(*from),
            _ => None,
        }
    }

    /// From a library abort in `round`; `sole_peer` is the only other participant (signing
    /// with two signers), to whom a failure that names no one is attributed.
    pub(crate) fn from_abort(abort: Abort, round: u8, sole_peer: Option<PartyId>) -> SigningError {
        let (named, ban) = match abort.kind {
            AbortKind::BanCounterparty(p) => (PartyId::from_lib(p), true),
            AbortKind::Recoverable => (culprit(&abort.reason), false),
        };
        let blamed = named.or(match abort.reason {
            AbortReason::SignatureVerificationFailed | AbortReason::ZeroDenominator => sole_peer,
            _ => None,
        });
        SigningError::Aborted { round, blamed, ban, reason: abort.reason.to_string() }
    }
}

/// The counterparty a recoverable abort names as the one whose message failed a check.
fn culprit(reason: &AbortReason) -> Option<PartyId> {
    let index = match reason {
        AbortReason::ProofVerificationFailed { counterparty }
        | AbortReason::CommitmentMismatch { counterparty }
        | AbortReason::TrivialInstancePoint { counterparty }
        | AbortReason::OtConsistencyCheckFailed { counterparty }
        | AbortReason::MultiplicationVerificationFailed { counterparty, .. }
        | AbortReason::GammaUInconsistency { counterparty }
        | AbortReason::ZeroShareDecommitFailed { counterparty }
        | AbortReason::SessionBindingMismatch { counterparty } => *counterparty,
        AbortReason::ChainCodeCommitmentFailed { party } | AbortReason::MissingCommittedPoint { party } => *party,
        _ => return None,
    };
    PartyId::from_lib(index)
}

/// Why a key share or public key does not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a stored key share of this version.
    #[error("malformed key share")]
    MalformedShare,
    /// Not a 65-byte network key (compressed point and chain code) or a 33-byte point.
    #[error("malformed public key: {0}")]
    MalformedPublicKey(&'static str),
}

/// Why a derived key cannot be computed (BIP32's "proceed with the next index", which happens
/// with probability below 2^-127; we stop instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    /// The HMAC's left half is not below the group order, or the child key is the identity.
    #[error("derivation step {step} gives an invalid key")]
    InvalidChild {
        /// The step of the path (0..8).
        step: usize,
    },
    /// The key share is already at the library's maximum depth or holds no derivation data.
    #[error("derivation failed: {0}")]
    Library(String),
}
