//! Errors: every abort names the protocol step and, where the protocol can
//! tell, the party to blame.

use crate::PartyId;

/// A protocol step, as carried in messages and named in aborts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Arithmetic multiplication / dot product round (Araki et al. CCS'16).
    Mul,
    /// Boolean AND round (Araki et al. CCS'16).
    And,
    /// Opening: missing component from one neighbour, hash from the other.
    Open,
    /// Client input cross-check between the two holders of a component.
    InputCheck,
    /// DZKP: verifier sends the seed of the batch combination (round 0).
    ProofSeed,
    /// DZKP: prover sends its carry / pad shares (ePrint 2024/700).
    ProofCarry,
    /// DZKP: verifier sends the combination coefficients' seed.
    ProofLambda,
    /// DZKP: prover sends cross inner products of fold round `n`.
    ProofRound(u8),
    /// DZKP: verifier sends fold challenges of round `n`.
    ProofChallenge(u8),
    /// DZKP: verifiers exchange their final shares and check.
    ProofFinal,
    /// Shuffle, round 1: a masked, permuted share to the next pair
    /// (Araki et al. CCS'21, Sec. 5.2).
    Shuffle1,
    /// Shuffle, round 2: the output components to the party outside the
    /// last pair.
    Shuffle2,
    /// Shuffle: the product message of the GF(2^64) MAC tags.
    ShuffleTag,
    /// Shuffle: compare-view check that the shuffled rows match their tags.
    ShuffleCheck,
    /// Shuffle: acknowledgement of the shuffle messages received, which
    /// every party awaits from both neighbours before it opens the tag key.
    ShuffleAck,
}

impl Step {
    pub(crate) fn code(self) -> u16 {
        match self {
            Step::Mul => 1,
            Step::And => 2,
            Step::Open => 3,
            Step::InputCheck => 4,
            Step::ProofSeed => 5,
            Step::ProofCarry => 6,
            Step::ProofLambda => 7,
            Step::ProofFinal => 8,
            Step::Shuffle1 => 0x30,
            Step::Shuffle2 => 0x31,
            Step::ShuffleTag => 0x32,
            Step::ShuffleCheck => 0x33,
            Step::ShuffleAck => 0x34,
            Step::ProofRound(n) => 0x100 | n as u16,
            Step::ProofChallenge(n) => 0x200 | n as u16,
        }
    }

    pub(crate) fn from_code(c: u16) -> Option<Step> {
        Some(match c {
            1 => Step::Mul,
            2 => Step::And,
            3 => Step::Open,
            4 => Step::InputCheck,
            5 => Step::ProofSeed,
            6 => Step::ProofCarry,
            7 => Step::ProofLambda,
            8 => Step::ProofFinal,
            0x30 => Step::Shuffle1,
            0x31 => Step::Shuffle2,
            0x32 => Step::ShuffleTag,
            0x33 => Step::ShuffleCheck,
            0x34 => Step::ShuffleAck,
            c if c & 0xff00 == 0x100 => Step::ProofRound(c as u8),
            c if c & 0xff00 == 0x200 => Step::ProofChallenge(c as u8),
            _ => return None,
        })
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::ProofRound(n) => write!(f, "ProofRound({n})"),
            Step::ProofChallenge(n) => write!(f, "ProofChallenge({n})"),
            s => write!(f, "{s:?}"),
        }
    }
}

/// Errors of the engine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The protocol must abort: a check failed or a message was malformed.
    #[error("aborted at step {step}: {reason} (blamed: {blamed:?})")]
    Abort {
        /// The step whose check failed.
        step: Step,
        /// The party the protocol can prove deviated, if it can tell.
        blamed: Option<PartyId>,
        /// What failed, for logs.
        reason: &'static str,
    },
    /// A reveal was requested while multiplications await verification.
    #[error("refusing to reveal: {0} logged gates are not verified yet")]
    Unverified(usize),
    /// The caller passed inconsistent arguments (lengths, party ids).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The message transport failed (a link, a timeout, a thread): raised by
    /// the drivers (the in-memory harness, `triad-mpc`'s `NetParty`), with
    /// the underlying error as its [`std::error::Error::source`].
    #[error("transport: {0}")]
    Transport(TransportError),
    /// The operating system's random source failed (client-side sharing,
    /// fresh keys).
    #[error("no randomness from the operating system")]
    NoRandomness,
}

/// What kind of transport failure (as `async-nats` pairs an error kind with
/// its source).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// A link to a peer failed (I/O, TLS, a peer that hung up).
    Link,
    /// A peer did not answer in time.
    Timeout,
    /// A driver's thread ended without a result.
    Thread,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Link => "link failed",
            TransportKind::Timeout => "timed out",
            TransportKind::Thread => "thread ended",
        })
    }
}

/// A transport failure: its kind, a short description, and the driver's
/// error behind it (the mesh's, for `NetParty`), kept as the source.
#[derive(Clone)]
pub struct TransportError {
    kind: TransportKind,
    what: &'static str,
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// A failure with no underlying error.
    pub fn new(kind: TransportKind, what: &'static str) -> TransportError {
        TransportError { kind, what, source: None }
    }

    /// A failure caused by `source`.
    pub fn with_source(
        kind: TransportKind,
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> TransportError {
        TransportError { kind, what, source: Some(std::sync::Arc::new(source)) }
    }

    /// The kind.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The underlying error, if it is a `T`.
    pub fn source_as<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.source.as_deref().and_then(|e| e.downcast_ref::<T>())
    }
}

impl std::fmt::Debug for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("what", &self.what)
            .field("source", &self.source)
            .finish()
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.what, self.kind)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Equal kind and description (the sources are not compared).
impl PartialEq for TransportError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.what == other.what
    }
}

impl Eq for TransportError {}

impl Error {
    /// A transport failure with no underlying error.
    pub fn transport(kind: TransportKind, what: &'static str) -> Error {
        Error::Transport(TransportError::new(kind, what))
    }

    pub(crate) fn abort(step: Step, blamed: Option<PartyId>, reason: &'static str) -> Error {
        Error::Abort { step, blamed, reason }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
