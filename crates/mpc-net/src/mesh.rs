//! The per-party endpoint: one ordered, reliable, byte-budgeted channel per peer.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::stats::LinkCounters;
use crate::{NetConfig, NetError, NetStats, PartyId};

/// What travels through a link's queues. A message carries the permit of the byte budget it
/// occupies, so memory is released exactly when the message leaves the queue.
pub(crate) enum Packet {
    Msg(Bytes, Permit),
    /// The sender closed the link cleanly after its last message.
    Close,
    /// The link failed; the error is delivered in order, after the messages before it.
    Failed(NetError),
}

/// A share of a byte budget; empty messages hold none.
pub(crate) type Permit = Option<OwnedSemaphorePermit>;

/// A byte budget: at most `cap` bytes held at once. A message larger than the whole budget
/// takes all of it, so it still goes through, alone.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    sem: Arc<Semaphore>,
    cap: u32,
}

impl Budget {
    pub(crate) fn new(bytes: usize) -> Self {
        let cap = bytes.clamp(1, u32::MAX as usize) as u32;
        Budget { sem: Arc::new(Semaphore::new(cap as usize)), cap }
    }

    fn need(&self, len: usize) -> u32 {
        len.min(self.cap as usize) as u32
    }

    pub(crate) async fn acquire(&self, len: usize) -> Permit {
        let n = self.need(len);
        if n == 0 {
            return None;
        }
        // The semaphore is never closed, so acquiring only fails if that invariant breaks;
        // then running without the permit is the safe degradation (no deadlock, no panic).
        self.sem.clone().acquire_many_owned(n).await.ok()
    }

    pub(crate) fn try_acquire(&self, len: usize) -> Option<Permit> {
        let n = self.need(len);
        if n == 0 {
            return Some(None);
        }
        self.sem.clone().try_acquire_many_owned(n).ok().map(Some)
    }
}

struct RxState {
    rx: mpsc::UnboundedReceiver<Packet>,
    /// Set once the link ended; later receives return it without waiting.
    ended: Option<String>,
}

pub(crate) struct Link {
    peer: PartyId,
    tx: mpsc::UnboundedSender<Packet>,
    send_budget: Budget,
    rx: Mutex<RxState>,
    counters: Arc<LinkCounters>,
    /// Why the outgoing side failed, for the error `send` returns afterwards.
    failure: Arc<OnceLock<String>>,
    /// Count socket bytes as payload plus header (in-memory transport).
    count_wire_in_mesh: bool,
    /// Messages pushed into `tx` so far.
    pushed: AtomicU64,
    /// Messages the writer has handed to the socket and flushed (TCP only; in memory a
    /// pushed message is already at the peer).
    written: Option<watch::Receiver<u64>>,
}

/// What carries a link's messages.
pub(crate) enum Carrier {
    /// Channels straight into the peer's mesh.
    Memory,
    /// A writer task on a socket: why it failed (once it has), and how many messages it wrote.
    Tcp { failure: Arc<OnceLock<String>>, written: watch::Receiver<u64> },
}

impl Link {
    pub(crate) fn new(
        peer: PartyId,
        (tx, send_budget): (mpsc::UnboundedSender<Packet>, Budget),
        rx: mpsc::UnboundedReceiver<Packet>,
        counters: Arc<LinkCounters>,
        carrier: Carrier,
    ) -> Self {
        let (failure, written, count_wire_in_mesh) = match carrier {
            Carrier::Memory => (Arc::new(OnceLock::new()), None, true),
            Carrier::Tcp { failure, written } => (failure, Some(written), false),
        };
        Link {
            peer,
            tx,
            send_budget,
            rx: Mutex::new(RxState { rx, ended: None }),
            counters,
            failure,
            count_wire_in_mesh,
            pushed: AtomicU64::new(0),
            written,
        }
    }

    fn disconnected(&self) -> NetError {
        let reason = self.failure.get().cloned().unwrap_or_else(|| "link closed".to_string());
        NetError::Disconnected { peer: self.peer, reason }
    }

    fn count_sent(&self, len: usize) {
        self.counters.messages_sent.fetch_add(1, Relaxed);
        self.counters.bytes_sent.fetch_add(len as u64, Relaxed);
        if self.count_wire_in_mesh {
            let wire = (len + crate::frame::HEADER_LEN) as u64;
            self.counters.wire_bytes_sent.fetch_add(wire, Relaxed);
        }
    }

    fn push(&self, msg: Bytes, permit: Permit) -> Result<(), NetError> {
        let len = msg.len();
        self.tx.send(Packet::Msg(msg, permit)).map_err(|_| self.disconnected())?;
        self.pushed.fetch_add(1, Relaxed);
        self.count_sent(len);
        Ok(())
    }

    fn take(&self, st: &mut RxState, pkt: Option<Packet>) -> Result<Bytes, NetError> {
        match pkt {
            Some(Packet::Msg(msg, permit)) => {
                drop(permit);
                self.counters.messages_received.fetch_add(1, Relaxed);
                self.counters.bytes_received.fetch_add(msg.len() as u64, Relaxed);
                if self.count_wire_in_mesh {
                    let wire = (msg.len() + crate::frame::HEADER_LEN) as u64;
                    self.counters.wire_bytes_received.fetch_add(wire, Relaxed);
                }
                Ok(msg)
            }
            Some(Packet::Close) => {
                let reason = format!("{} closed the link", self.peer);
                st.ended = Some(reason.clone());
                Err(NetError::Disconnected { peer: self.peer, reason })
            }
            Some(Packet::Failed(e)) => {
                st.ended = Some(e.to_string());
                Err(e)
            }
            None => {
                let reason = "link closed".to_string();
                st.ended = Some(reason.clone());
                Err(NetError::Disconnected { peer: self.peer, reason })
            }
        }
    }
}

/// Tasks that drive TCP links; aborted when the mesh is dropped.
#[derive(Default)]
pub(crate) struct Tasks {
    pub(crate) writers: Vec<(PartyId, JoinHandle<Result<(), NetError>>)>,
    pub(crate) readers: Vec<JoinHandle<()>>,
    /// The runtime the tasks run on, so that dropping the mesh outside it still works.
    pub(crate) handle: Option<tokio::runtime::Handle>,
}

/// One party's endpoint of the network: an ordered, reliable channel to each peer.
///
/// Build it with [`Mesh::connect`] (TLS over TCP) or [`Mesh::in_memory`] (tests). All methods
/// take `&self`; concurrent sends to different peers (and a send and a receive on the same
/// peer) proceed independently. Messages from one peer arrive in the order they were sent.
pub struct Mesh {
    me: PartyId,
    links: [Option<Link>; 3],
    recv_timeout: Duration,
    send_timeout: Duration,
    max_frame_len: u32,
    close_timeout: Duration,
    rounds: AtomicU64,
    tasks: std::sync::Mutex<Tasks>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peers: Vec<PartyId> = self.links.iter().flatten().map(|l| l.peer).collect();
        f.debug_struct("Mesh").field("me", &self.me).field("peers", &peers).finish_non_exhaustive()
    }
}

impl Mesh {
    pub(crate) fn from_links(me: PartyId, links: [Option<Link>; 3], config: &NetConfig, tasks: Tasks) -> Self {
        Mesh {
            me,
            links,
            recv_timeout: config.recv_timeout,
            send_timeout: config.send_timeout,
            max_frame_len: config.max_frame_len,
            close_timeout: config.close_timeout,
            rounds: AtomicU64::new(0),
            tasks: std::sync::Mutex::new(tasks),
        }
    }

    /// This party's id.
    pub fn party(&self) -> PartyId {
        self.me
    }

    /// The parties this mesh has links to, in id order.
    pub fn peers(&self) -> Vec<PartyId> {
        self.links.iter().flatten().map(|l| l.peer).collect()
    }

    fn link(&self, peer: PartyId) -> Result<&Link, NetError> {
        self.links[peer.index()].as_ref().ok_or(NetError::NotAPeer { party: peer })
    }

    fn check_len(&self, to: PartyId, len: usize) -> Result<(), NetError> {
        if len > self.max_frame_len as usize {
            return Err(NetError::FrameTooLarge { peer: to, len: len as u64, max: self.max_frame_len });
        }
        Ok(())
    }

    /// Queue `msg` for `to`. Returns once the message is queued (not once it is delivered);
    /// waits while the bytes queued for `to` exceed [`NetConfig::send_buffer_bytes`], at most
    /// [`NetConfig::send_timeout`].
    ///
    /// Fails with [`NetError::FrameTooLarge`] above [`NetConfig::max_frame_len`],
    /// [`NetError::SendTimeout`] when the peer stopped reading, and [`NetError::Disconnected`]
    /// once the link is down.
    pub async fn send(&self, to: PartyId, msg: Bytes) -> Result<(), NetError> {
        let link = self.link(to)?;
        self.check_len(to, msg.len())?;
        let permit = match link.send_budget.try_acquire(msg.len()) {
            Some(permit) => permit,
            None => tokio::time::timeout(self.send_timeout, link.send_budget.acquire(msg.len()))
                .await
                .map_err(|_| NetError::SendTimeout { peer: to, after: self.send_timeout })?,
        };
        link.push(msg, permit)
    }

    /// Queue `msg` for `to` if the send budget allows it right now; `Ok(Some(msg))` hands the
    /// message back otherwise.
    pub fn try_send(&self, to: PartyId, msg: Bytes) -> Result<Option<Bytes>, NetError> {
        let link = self.link(to)?;
        self.check_len(to, msg.len())?;
        match link.send_budget.try_acquire(msg.len()) {
            Some(permit) => link.push(msg, permit).map(|()| None),
            None => Ok(Some(msg)),
        }
    }

    /// Wait until every message queued for `to` so far has been written to the socket and
    /// flushed (over TCP; in memory a sent message is already with the peer). Waits at most
    /// [`NetConfig::send_timeout`].
    pub async fn flush(&self, to: PartyId) -> Result<(), NetError> {
        let link = self.link(to)?;
        let Some(written) = &link.written else {
            return Ok(());
        };
        let target = link.pushed.load(Relaxed);
        let mut written = written.clone();
        match tokio::time::timeout(self.send_timeout, written.wait_for(|&n| n >= target)).await {
            Ok(Ok(_)) => Ok(()),
            // The writer stopped: the link failed or was closed.
            Ok(Err(_)) => Err(link.disconnected()),
            Err(_) => Err(NetError::SendTimeout { peer: to, after: self.send_timeout }),
        }
    }

    /// The next message from `from`, waiting at most [`NetConfig::recv_timeout`].
    pub async fn recv(&self, from: PartyId) -> Result<Bytes, NetError> {
        self.recv_timeout(from, self.recv_timeout).await
    }

    /// The next message from `from`, waiting at most `timeout`; [`NetError::RecvTimeout`]
    /// names the peer when it passes. The link stays usable after a timeout.
    pub async fn recv_timeout(&self, from: PartyId, timeout: Duration) -> Result<Bytes, NetError> {
        let link = self.link(from)?;
        let mut st = link.rx.lock().await;
        if let Some(reason) = &st.ended {
            return Err(NetError::Disconnected { peer: from, reason: reason.clone() });
        }
        // Fast path without arming a timer.
        if let Ok(pkt) = st.rx.try_recv() {
            return link.take(&mut st, Some(pkt));
        }
        match tokio::time::timeout(timeout, st.rx.recv()).await {
            Ok(pkt) => link.take(&mut st, pkt),
            Err(_) => Err(NetError::RecvTimeout { peer: from, after: timeout }),
        }
    }

    /// A message from `from` if one is already there (`Ok(None)` if not).
    pub fn try_recv(&self, from: PartyId) -> Result<Option<Bytes>, NetError> {
        let link = self.link(from)?;
        let Ok(mut st) = link.rx.try_lock() else {
            return Ok(None);
        };
        if let Some(reason) = &st.ended {
            return Err(NetError::Disconnected { peer: from, reason: reason.clone() });
        }
        match st.rx.try_recv() {
            Ok(pkt) => link.take(&mut st, Some(pkt)).map(Some),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => link.take(&mut st, None).map(Some),
        }
    }

    /// Count one communication round (for benchmarks: the MPC engine calls this once per
    /// protocol round).
    pub fn mark_round(&self) {
        self.rounds.fetch_add(1, Relaxed);
    }

    /// The counters, readable at any time.
    pub fn stats(&self) -> NetStats {
        let mut peers = [None; 3];
        for link in self.links.iter().flatten() {
            peers[link.peer.index()] = Some(link.counters.snapshot());
        }
        NetStats { party: self.me, rounds: self.rounds.load(Relaxed), peers }
    }

    /// Close cleanly: every message queued so far is written, then each peer sees the link
    /// end ([`NetError::Disconnected`] after its last message). Waits at most
    /// [`NetConfig::close_timeout`]; returns the first write error, if any.
    pub async fn close(self) -> Result<(), NetError> {
        for link in self.links.iter().flatten() {
            // A link whose writer already stopped has nothing left to flush.
            let _ = link.tx.send(Packet::Close);
        }
        let writers = match self.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut t.writers),
            Err(poisoned) => std::mem::take(&mut poisoned.into_inner().writers),
        };
        let mut first_err = None;
        let deadline = tokio::time::Instant::now() + self.close_timeout;
        for (peer, handle) in writers {
            let abort = handle.abort_handle();
            let res = match tokio::time::timeout_at(deadline, handle).await {
                Ok(Ok(res)) => res,
                Ok(Err(join)) => Err(NetError::Disconnected { peer, reason: format!("writer task: {join}") }),
                Err(_) => {
                    abort.abort();
                    warn!(%peer, "close timed out while flushing");
                    Err(NetError::Disconnected { peer, reason: "close timed out while flushing".into() })
                }
            };
            if let Err(e) = res {
                first_err.get_or_insert(e);
            }
        }
        debug!(party = %self.me, "mesh closed");
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
        // Drop aborts the readers.
    }
}

/// Dropping a mesh without [`Mesh::close`] stops receiving at once, and lets each writer
/// flush what was already queued and close the link, in the background, for at most
/// [`NetConfig::close_timeout`]; then the writer is aborted.
impl Drop for Mesh {
    fn drop(&mut self) {
        let tasks = match self.tasks.get_mut() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        for r in &tasks.readers {
            r.abort();
        }
        let writers = std::mem::take(&mut tasks.writers);
        match &tasks.handle {
            Some(handle) if !writers.is_empty() => {
                let limit = self.close_timeout;
                handle.spawn(async move {
                    let deadline = tokio::time::Instant::now() + limit;
                    for (peer, w) in writers {
                        let abort = w.abort_handle();
                        if tokio::time::timeout_at(deadline, w).await.is_err() {
                            warn!(%peer, "dropped mesh did not flush in time; link aborted");
                            abort.abort();
                        }
                    }
                });
            }
            _ => {
                for (_, w) in writers {
                    w.abort();
                }
            }
        }
    }
}
