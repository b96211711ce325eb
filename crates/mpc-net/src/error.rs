use std::io;
use std::time::Duration;

use crate::{PartyId, SessionId};

/// Everything that can go wrong on the data plane. Every variant that concerns one link names
/// the peer, so that an abort can be attributed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A party id outside 0..3.
    #[error("invalid party id {0}: parties are 0, 1 and 2")]
    InvalidPartyId(u64),
    /// Sending to oneself, or to a party this mesh has no link to.
    #[error("{party} is not a peer of this mesh")]
    NotAPeer {
        /// The party asked for.
        party: PartyId,
    },
    /// Bad local configuration (key material, missing address, duplicate peer, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The peer presented a key other than the one pinned for it.
    #[error("{peer} presented a key that is not the key pinned for {peer}")]
    KeyMismatch {
        /// The party the connection claims to be (or the one we dialed).
        peer: PartyId,
    },
    /// Binding or using the local listener failed.
    #[error("listener on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The peer aborted the TLS handshake with an alert, typically because it does not accept
    /// our key.
    #[error("{peer} rejected the TLS handshake (alert {alert}); it probably does not accept our key")]
    RejectedByPeer {
        /// The peer that sent the alert.
        peer: PartyId,
        /// The TLS alert, as text.
        alert: String,
    },
    /// The hello after TLS named another party than the key and the address did.
    #[error("{expected} claimed to be {claimed} in its hello")]
    IdentityMismatch {
        /// The party the key belongs to.
        expected: PartyId,
        /// The id it claimed.
        claimed: u8,
    },
    /// The peer is in another session / network.
    #[error("{peer} is in session {theirs}, we are in {ours}")]
    SessionMismatch {
        /// The peer.
        peer: PartyId,
        /// Our session id.
        ours: SessionId,
        /// The peer's session id.
        theirs: SessionId,
    },
    /// The peer speaks another protocol version.
    #[error("{peer} speaks protocol version {theirs}, we speak {ours}")]
    VersionMismatch {
        /// The peer.
        peer: PartyId,
        /// Our version.
        ours: u16,
        /// The peer's version.
        theirs: u16,
    },
    /// The peer's hello was malformed.
    #[error("{peer} sent a malformed hello: {reason}")]
    BadHello {
        /// The peer.
        peer: PartyId,
        /// What was wrong.
        reason: &'static str,
    },
    /// The link to `peer` could not be established before the deadline.
    #[error("could not connect to {peer} within {after:?}: {last_error}")]
    ConnectTimeout {
        /// The peer.
        peer: PartyId,
        /// The deadline that passed.
        after: Duration,
        /// The last failure seen, if any.
        last_error: String,
    },
    /// The caller gave up connecting (its session was closed before the mesh was up).
    #[error("connecting was cancelled: {0}")]
    Cancelled(String),
    /// No message arrived from `peer` within the receive timeout.
    #[error("no message from {peer} within {after:?}")]
    RecvTimeout {
        /// The silent peer.
        peer: PartyId,
        /// The timeout that passed.
        after: Duration,
    },
    /// The send buffer for `peer` stayed full (it is not reading) for the send timeout.
    #[error("{peer} accepted no data for {after:?} (send buffer full)")]
    SendTimeout {
        /// The peer that stopped reading.
        peer: PartyId,
        /// The timeout that passed.
        after: Duration,
    },
    /// A frame longer than the maximum was announced (by the peer) or offered (by us).
    #[error("frame of {len} bytes for/from {peer} exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The peer.
        peer: PartyId,
        /// The announced or offered length.
        len: u64,
        /// The configured maximum.
        max: u32,
    },
    /// The peer closed the connection in the middle of a message.
    #[error("{peer} closed the connection mid-message ({got} of {expected} bytes)")]
    Truncated {
        /// The peer.
        peer: PartyId,
        /// Bytes the frame announced (header included).
        expected: u64,
        /// Bytes that arrived.
        got: u64,
    },
    /// The link to `peer` is gone (the peer closed it, it failed earlier, or this mesh closed).
    #[error("link to {peer} is closed: {reason}")]
    Disconnected {
        /// The peer.
        peer: PartyId,
        /// Why.
        reason: String,
    },
    /// A TLS error on the link to `peer`.
    #[error("TLS error with {peer}: {source}")]
    Tls {
        /// The peer.
        peer: PartyId,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// An I/O error on the link to `peer`.
    #[error("I/O error with {peer}: {source}")]
    Io {
        /// The peer.
        peer: PartyId,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The blocking facade was called from inside an async runtime, where blocking would stall
    /// the runtime's worker (and tokio would panic).
    #[error("BlockingMesh called from inside an async runtime; use Mesh from async code")]
    BlockingInAsync,
}

impl NetError {
    /// The peer this error is about, if it is about one.
    pub fn peer(&self) -> Option<PartyId> {
        use NetError::*;
        match self {
            NotAPeer { party } => Some(*party),
            KeyMismatch { peer }
            | RejectedByPeer { peer, .. }
            | SessionMismatch { peer, .. }
            | VersionMismatch { peer, .. }
            | BadHello { peer, .. }
            | ConnectTimeout { peer, .. }
            | RecvTimeout { peer, .. }
            | SendTimeout { peer, .. }
            | FrameTooLarge { peer, .. }
            | Truncated { peer, .. }
            | Disconnected { peer, .. }
            | Tls { peer, .. }
            | Io { peer, .. } => Some(*peer),
            IdentityMismatch { expected, .. } => Some(*expected),
            InvalidPartyId(_) | Config(_) | Listen { .. } | BlockingInAsync | Cancelled(_) => None,
        }
    }

    /// Classify an I/O error on the link to `peer`, surfacing pinning failures and TLS alerts.
    pub(crate) fn from_io(peer: PartyId, e: io::Error) -> NetError {
        let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).cloned();
        match tls {
            Some(tls) => NetError::from_tls(peer, tls),
            None => NetError::Io { peer, source: e },
        }
    }

    pub(crate) fn from_tls(peer: PartyId, e: rustls::Error) -> NetError {
        use rustls::{CertificateError, Error};
        match &e {
            Error::InvalidCertificate(CertificateError::Other(other))
                if other.0.downcast_ref::<crate::tls::NotPinned>().is_some() =>
            {
                NetError::KeyMismatch { peer }
            }
            Error::AlertReceived(alert) => NetError::RejectedByPeer { peer, alert: format!("{alert:?}") },
            _ => NetError::Tls { peer, source: e },
        }
    }
}
