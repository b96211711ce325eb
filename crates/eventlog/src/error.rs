//! Errors of the event log, by what the caller can do about them.

/// An error from an event store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version: reload and retry.
    #[error("version conflict on stream {stream}: expected {expected}, found {actual}")]
    Conflict {
        /// The stream.
        stream: String,
        /// The version the append expected.
        expected: u64,
        /// The version the stream is at.
        actual: u64,
    },
    /// A key the append claims ([`crate::Append::claims`]) was claimed before.
    #[error("{key} was claimed before")]
    Claimed {
        /// The key.
        key: String,
    },
    /// An event with this id was appended before.
    #[error("event {0} was appended before")]
    DuplicateEvent(uuid::Uuid),
    /// A malformed stream name.
    #[error("invalid stream name {stream:?}: {reason}")]
    InvalidStream {
        /// The name given.
        stream: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A malformed service or consumer name.
    #[error("invalid {kind} name {name:?}: use 1 to 64 of [a-z0-9_]")]
    InvalidName {
        /// What the name is of.
        kind: &'static str,
        /// The name given.
        name: String,
    },
    /// An append of no events, or a batch naming one stream twice.
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// A stored value out of its column's range (corruption or a foreign
    /// writer), or a position or version too large to be stored.
    #[error("corrupt {column}: {value} is out of range")]
    Corrupt {
        /// The column, as `table.column`.
        column: &'static str,
        /// The value read or to be written.
        value: i128,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A schema migration failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A group commit ([`crate::group::GroupCommit`]) failed for all its callers (the
    /// database's error, as text) or its writer stopped.
    #[error("group commit: {0}")]
    Group(String),
}

impl StoreError {
    /// Whether retrying the same operation after reloading state may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. } | Self::Claimed { .. })
    }
}

/// An error from the message bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus could not be reached or refused a request.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// A publish was not acknowledged as stored.
    #[error("publish of position {position} not acknowledged: {reason}")]
    PublishFailed {
        /// Position of the first event not confirmed.
        position: u64,
        /// Why.
        reason: String,
    },
    /// A message on the bus is not a valid envelope.
    #[error("undecodable message on {subject}: {reason}")]
    Decode {
        /// Its subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// The server lacks a feature we need.
    #[error("unsupported server: {0}")]
    Unsupported(String),
    /// The store behind an embedded bus failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
