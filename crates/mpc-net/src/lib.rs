//! The data plane between Triad's three computation parties.
//!
//! `triad-mpc-core` is sans-IO: it produces byte messages addressed to a party and consumes
//! byte messages from a party. This crate moves them. Each party owns one [`Mesh`] with an
//! ordered, reliable channel per peer:
//!
//! * [`Mesh::connect`]: TCP links authenticated and encrypted with TLS 1.3 (rustls, `ring`
//!   provider, AES-128-GCM) and mutual authentication against *pinned* public keys
//!   ([`PartyIdentity`], [`PinnedKey`]); after TLS both ends exchange a hello
//!   (party id, [`SessionId`], [`PROTOCOL_VERSION`]) and abort on any mismatch.
//! * [`Mesh::in_memory`]: three meshes in one process over channels, with the same API and the
//!   same back-pressure and counters, for tests.
//! * [`BlockingMesh`]: a synchronous facade for the MPC core's compute thread.
//!
//! [`Mesh::connect`] and the async methods need a tokio runtime with I/O and time enabled.
//!
//! Who dials whom is fixed: the lower party id dials the higher one. Messages are framed as a
//! 4-byte big-endian length and the payload; frames larger than [`NetConfig::max_frame_len`] are
//! refused on both ends. Memory is bounded per peer and direction by byte budgets
//! ([`NetConfig::send_buffer_bytes`], [`NetConfig::recv_buffer_bytes`]): a slow receiver slows
//! the sender down instead of making anyone buffer without bound.
//!
//! Architecture invariant: this crate knows nothing of the MPC protocol; messages are opaque
//! bytes, and nothing here logs their contents.
//!
//! # Three parties over TCP with pinned keys
//!
//! ```
//! use bytes::Bytes;
//! use triad_mpc_net::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), NetError> {
//! // Each party makes its key once and publishes `pinned_key()`; the others pin it.
//! let ids = PartyId::ALL.map(|p| PartyIdentity::generate(p).expect("keygen"));
//! let pins: Vec<PinnedKey> = ids.iter().map(PartyIdentity::pinned_key).collect();
//! let config = NetConfig::new(SessionId::from_label("example network"));
//!
//! // Bind first (port 0 picks a free port), then share the real addresses.
//! let mut listeners = Vec::new();
//! for _ in 0..3 {
//!     listeners.push(MeshListener::bind(([127, 0, 0, 1], 0).into())?);
//! }
//! let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr()).collect::<Result<_, _>>()?;
//!
//! let mut parties = Vec::new();
//! for (identity, listener) in ids.into_iter().zip(listeners) {
//!     let peers = identity.party().others().into_iter().map(|p| PeerAddr {
//!         party: p,
//!         addr: addrs[p.index()],
//!         key: pins[p.index()].clone(),
//!     }).collect();
//!     let setup = TcpSetup { identity, listener, peers, config: config.clone() };
//!     parties.push(tokio::spawn(Mesh::connect(setup)));
//! }
//! let mut meshes = Vec::new();
//! for p in parties {
//!     meshes.push(p.await.expect("task")?);
//! }
//!
//! let [p0, p1, _] = PartyId::ALL;
//! meshes[0].send(p1, Bytes::from_static(b"share")).await?;
//! assert_eq!(meshes[1].recv(p0).await?, Bytes::from_static(b"share"));
//! meshes[0].mark_round();
//! assert_eq!(meshes[0].stats().peer(p1).bytes_sent, 5);
//! for m in meshes {
//!     m.close().await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! For tests, `Mesh::in_memory(&config)` returns the three meshes directly. From a synchronous
//! compute thread, use [`BlockingMesh`]: either around a mesh driven by a multi-thread runtime
//! ([`BlockingMesh::new`]) or on a private runtime driven by the calling thread
//! ([`BlockingMesh::connect`]).
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod blocking;
mod error;
mod frame;
mod handshake;
mod identity;
mod memory;
mod mesh;
mod stats;
mod tcp;
mod tls;

#[cfg(test)]
mod tests;

pub use blocking::BlockingMesh;
pub use error::NetError;
pub use identity::{PartyIdentity, PinnedKey};
pub use mesh::Mesh;
pub use stats::{NetStats, PeerStats};
pub use tcp::{MeshListener, PeerAddr, TcpSetup};

use std::fmt;
use std::time::Duration;

/// Version of the wire protocol spoken after the TLS handshake (hello and framing).
pub const PROTOCOL_VERSION: u16 = 1;

/// One of the three computation parties: 0, 1 or 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyId(u8);

impl PartyId {
    /// Number of parties in the network.
    pub const COUNT: usize = 3;
    /// All parties, in id order.
    pub const ALL: [PartyId; 3] = [PartyId(0), PartyId(1), PartyId(2)];

    /// The party with this id, or `None` unless `id < 3`.
    pub const fn new(id: u8) -> Option<Self> {
        if (id as usize) < Self::COUNT { Some(PartyId(id)) } else { None }
    }

    /// The id as a number.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The id as an index into per-party arrays.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The next party, cyclically (i + 1 mod 3), as replicated sharing uses it.
    pub const fn next(self) -> Self {
        PartyId((self.0 + 1) % 3)
    }

    /// The previous party, cyclically (i - 1 mod 3).
    pub const fn prev(self) -> Self {
        PartyId((self.0 + 2) % 3)
    }

    /// The two other parties, in id order.
    pub fn others(self) -> [PartyId; 2] {
        let mut out = [self; 2];
        let mut k = 0;
        for p in Self::ALL {
            if p != self {
                out[k] = p;
                k += 1;
            }
        }
        out
    }
}

impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", self.0)
    }
}

impl TryFrom<u8> for PartyId {
    type Error = NetError;
    fn try_from(id: u8) -> Result<Self, NetError> {
        PartyId::new(id).ok_or(NetError::InvalidPartyId(id as u64))
    }
}

impl TryFrom<usize> for PartyId {
    type Error = NetError;
    fn try_from(id: usize) -> Result<Self, NetError> {
        u8::try_from(id).ok().and_then(PartyId::new).ok_or(NetError::InvalidPartyId(id as u64))
    }
}

/// Identifies one network / session; both ends of every link must agree on it.
///
/// Derive it from the network's configuration (for example a hash of the three pinned keys and
/// a deployment label) so that parties of two deployments never talk to each other.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 32]);

impl SessionId {
    /// A session id from a short label, zero-padded; labels longer than 32 bytes are truncated.
    /// Meant for tests and examples: production code should pass a 32-byte digest.
    pub fn from_label(label: &str) -> Self {
        let mut id = [0u8; 32];
        let n = label.len().min(32);
        id[..n].copy_from_slice(&label.as_bytes()[..n]);
        SessionId(id)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Settings shared by both transports.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Both ends of every link must present the same session id.
    pub session: SessionId,
    /// How long [`Mesh::recv`] waits for a message before [`NetError::RecvTimeout`].
    pub recv_timeout: Duration,
    /// How long [`Mesh::send`] waits for room in a full send buffer (a peer that stopped
    /// reading) before [`NetError::SendTimeout`].
    pub send_timeout: Duration,
    /// Deadline for establishing all links (TCP connect with retries, TLS, hello).
    pub connect_timeout: Duration,
    /// Largest message accepted or sent, in bytes (at most `u32::MAX`).
    pub max_frame_len: u32,
    /// Bytes queued for one peer before [`Mesh::send`] waits (back-pressure).
    pub send_buffer_bytes: usize,
    /// Bytes received from one peer and not yet taken by [`Mesh::recv`] before reading from the
    /// socket pauses (back-pressure reaches the sender through TCP flow control).
    pub recv_buffer_bytes: usize,
    /// How long [`Mesh::close`] waits for queued messages to be written.
    pub close_timeout: Duration,
}

impl NetConfig {
    /// Defaults: 30 s receive and send timeouts, 30 s connect deadline, 256 MiB frames, 64 MiB buffers
    /// per peer and direction, 10 s to drain on close.
    pub fn new(session: SessionId) -> Self {
        NetConfig {
            session,
            recv_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            max_frame_len: 256 << 20,
            send_buffer_bytes: 64 << 20,
            recv_buffer_bytes: 64 << 20,
            close_timeout: Duration::from_secs(10),
        }
    }
}
