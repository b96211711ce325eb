use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::PartyId;

/// Live counters of one link, shared by the mesh and the link's tasks.
#[derive(Debug, Default)]
pub(crate) struct LinkCounters {
    pub(crate) messages_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) messages_received: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) wire_bytes_sent: AtomicU64,
    pub(crate) wire_bytes_received: AtomicU64,
}

impl LinkCounters {
    pub(crate) fn snapshot(&self) -> PeerStats {
        PeerStats {
            messages_sent: self.messages_sent.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            messages_received: self.messages_received.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            wire_bytes_sent: self.wire_bytes_sent.load(Relaxed),
            wire_bytes_received: self.wire_bytes_received.load(Relaxed),
        }
    }
}

/// Traffic with one peer since the mesh was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Messages handed to [`crate::Mesh::send`].
    pub messages_sent: u64,
    /// Payload bytes handed to [`crate::Mesh::send`] (framing and TLS excluded).
    pub bytes_sent: u64,
    /// Messages returned by [`crate::Mesh::recv`].
    pub messages_received: u64,
    /// Payload bytes returned by [`crate::Mesh::recv`].
    pub bytes_received: u64,
    /// Bytes written to the socket, TLS handshake, records and framing included (TCP only; the
    /// in-memory transport counts payload plus the 4-byte frame header).
    pub wire_bytes_sent: u64,
    /// Bytes read from the socket (as `wire_bytes_sent`).
    pub wire_bytes_received: u64,
}

/// A snapshot of a party's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetStats {
    /// The party these counters belong to.
    pub party: PartyId,
    /// Rounds marked with [`crate::Mesh::mark_round`].
    pub rounds: u64,
    /// Per peer, indexed by party id; `None` for the party itself and parties without a link.
    pub peers: [Option<PeerStats>; 3],
}

impl NetStats {
    /// Traffic with `peer`, or zeros if there is no link to it.
    pub fn peer(&self, peer: PartyId) -> PeerStats {
        self.peers[peer.index()].unwrap_or_default()
    }

    /// Payload bytes sent to all peers.
    pub fn bytes_sent(&self) -> u64 {
        self.peers.iter().flatten().map(|p| p.bytes_sent).sum()
    }

    /// Payload bytes received from all peers.
    pub fn bytes_received(&self) -> u64 {
        self.peers.iter().flatten().map(|p| p.bytes_received).sum()
    }

    /// Socket bytes written to all peers.
    pub fn wire_bytes_sent(&self) -> u64 {
        self.peers.iter().flatten().map(|p| p.wire_bytes_sent).sum()
    }

    /// Messages sent to all peers.
    pub fn messages_sent(&self) -> u64 {
        self.peers.iter().flatten().map(|p| p.messages_sent).sum()
    }
}

/// Counts the bytes that cross the socket.
#[derive(Debug)]
pub(crate) struct Counted<S> {
    inner: S,
    counters: Arc<LinkCounters>,
}

impl<S> Counted<S> {
    pub(crate) fn new(inner: S, counters: Arc<LinkCounters>) -> Self {
        Counted { inner, counters }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        self.counters.wire_bytes_received.fetch_add(n as u64, Relaxed);
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &res {
            self.counters.wire_bytes_sent.fetch_add(*n as u64, Relaxed);
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &res {
            self.counters.wire_bytes_sent.fetch_add(*n as u64, Relaxed);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
