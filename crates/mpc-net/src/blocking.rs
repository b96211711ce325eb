//! A synchronous facade for the MPC core's compute thread.

use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::{Handle, Runtime};

use crate::{Mesh, NetConfig, NetError, NetStats, PartyId, TcpSetup};

/// Who runs the link tasks.
enum Driver {
    /// A runtime that runs on its own threads; calls block on it.
    Shared(Handle),
    /// A current-thread runtime driven only by this facade's calls: the link tasks run on the
    /// caller's thread, inside `send`/`recv`.
    Own(Runtime),
}

/// [`Mesh`] for synchronous code.
///
/// Two ways to drive it:
///
/// * [`BlockingMesh::new`] with the handle of a runtime that runs on its own threads: the links
///   make progress while the caller computes, at the price of a thread hand-off per message
///   (a futex wake on each side).
/// * [`BlockingMesh::connect`] (or [`BlockingMesh::in_memory`]): the mesh lives on a private
///   current-thread runtime that only this facade drives, so sockets are read and written on
///   the caller's thread inside `send` and `recv`, with no hand-off. `send` returns once the
///   message is in the kernel's socket buffer (while it waits, incoming data is still read),
///   and incoming data is read only inside calls. This suits the MPC pattern of sending a
///   round's messages and then receiving, and gives the lowest round-trip latency; sends to
///   two peers are written one after the other rather than in parallel.
///
/// In both modes a message already queued (or free send budget) is handled without entering
/// the runtime. Call it from a plain thread, never from an async task: there it returns
/// [`NetError::BlockingInAsync`] instead of stalling a runtime worker.
pub struct BlockingMesh {
    // Dropped before the driver: the mesh's tasks belong to it.
    mesh: Option<Mesh>,
    driver: Driver,
}

impl std::fmt::Debug for BlockingMesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.driver {
            Driver::Shared(_) => "shared runtime",
            Driver::Own(_) => "own current-thread runtime",
        };
        f.debug_struct("BlockingMesh").field("mesh", &self.mesh).field("mode", &mode).finish()
    }
}

fn current_thread_runtime() -> Result<Runtime, NetError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NetError::Config(format!("cannot build a runtime: {e}")))
}

fn not_in_async() -> Result<(), NetError> {
    match Handle::try_current() {
        Ok(_) => Err(NetError::BlockingInAsync),
        Err(_) => Ok(()),
    }
}

impl BlockingMesh {
    /// Wrap `mesh`, driving it on `handle`'s runtime (which must keep running on its own
    /// threads, e.g. a multi-thread runtime).
    pub fn new(mesh: Mesh, handle: Handle) -> Self {
        BlockingMesh { mesh: Some(mesh), driver: Driver::Shared(handle) }
    }

    /// [`Mesh::connect`] on a private current-thread runtime driven by this thread's calls.
    pub fn connect(setup: TcpSetup) -> Result<Self, NetError> {
        Self::connect_unless(setup, std::future::pending::<String>())
    }

    /// [`BlockingMesh::connect`], given up as soon as `cancel` completes (with the reason):
    /// [`NetError::Cancelled`]. The dials and the accepts in flight are dropped with it. A
    /// future of another runtime is fine if it does not need that runtime to be polled (a
    /// `tokio::sync` channel or `Notify`).
    pub fn connect_unless(setup: TcpSetup, cancel: impl Future<Output = String>) -> Result<Self, NetError> {
        not_in_async()?;
        let rt = current_thread_runtime()?;
        let mesh = rt.block_on(async {
            tokio::select! {
                mesh = Mesh::connect(setup) => mesh,
                reason = cancel => Err(NetError::Cancelled(reason)),
            }
        })?;
        Ok(BlockingMesh { mesh: Some(mesh), driver: Driver::Own(rt) })
    }

    /// [`Mesh::in_memory`], each party with its private current-thread runtime (for timeouts).
    pub fn in_memory(config: &NetConfig) -> Result<[Self; 3], NetError> {
        let [m0, m1, m2] = Mesh::in_memory(config);
        let own =
            |mesh| Ok::<_, NetError>(BlockingMesh { mesh: Some(mesh), driver: Driver::Own(current_thread_runtime()?) });
        Ok([own(m0)?, own(m1)?, own(m2)?])
    }

    fn mesh_ref(&self) -> &Mesh {
        // Only `close` and `drop` take the mesh out, and both consume the facade.
        self.mesh.as_ref().unwrap_or_else(|| unreachable!("mesh present until close or drop"))
    }

    fn block_on<F: Future>(&self, f: F) -> Result<F::Output, NetError> {
        not_in_async()?;
        Ok(match &self.driver {
            Driver::Shared(handle) => handle.block_on(f),
            Driver::Own(rt) => rt.block_on(f),
        })
    }

    /// This party's id.
    pub fn party(&self) -> PartyId {
        self.mesh_ref().party()
    }

    /// As [`Mesh::send`], blocking while the send budget is exhausted. With a private runtime
    /// it also blocks until the message is written to the socket (nothing would write it once
    /// the caller stops calling); the peer's reader keeps draining meanwhile, so this waits for
    /// the network, not for the peer's application.
    pub fn send(&self, to: PartyId, msg: Bytes) -> Result<(), NetError> {
        let mesh = self.mesh_ref();
        if let Some(msg) = mesh.try_send(to, msg)? {
            self.block_on(mesh.send(to, msg))??;
        }
        match &self.driver {
            Driver::Own(_) => self.block_on(mesh.flush(to))?,
            Driver::Shared(_) => Ok(()),
        }
    }

    /// As [`Mesh::flush`]: block until everything queued for `to` is in the socket.
    pub fn flush(&self, to: PartyId) -> Result<(), NetError> {
        let mesh = self.mesh_ref();
        self.block_on(mesh.flush(to))?
    }

    /// As [`Mesh::recv`], blocking up to the configured receive timeout.
    pub fn recv(&self, from: PartyId) -> Result<Bytes, NetError> {
        let mesh = self.mesh_ref();
        if let Some(msg) = mesh.try_recv(from)? {
            return Ok(msg);
        }
        self.block_on(mesh.recv(from))?
    }

    /// As [`Mesh::recv_timeout`].
    pub fn recv_timeout(&self, from: PartyId, timeout: Duration) -> Result<Bytes, NetError> {
        let mesh = self.mesh_ref();
        if let Some(msg) = mesh.try_recv(from)? {
            return Ok(msg);
        }
        self.block_on(mesh.recv_timeout(from, timeout))?
    }

    /// As [`Mesh::mark_round`].
    pub fn mark_round(&self) {
        self.mesh_ref().mark_round();
    }

    /// As [`Mesh::stats`].
    pub fn stats(&self) -> NetStats {
        self.mesh_ref().stats()
    }

    /// The async mesh underneath.
    pub fn mesh(&self) -> &Mesh {
        self.mesh_ref()
    }

    /// As [`Mesh::close`], blocking until done.
    pub fn close(mut self) -> Result<(), NetError> {
        not_in_async()?;
        match self.mesh.take() {
            Some(mesh) => self.block_on(mesh.close())?,
            None => Ok(()),
        }
    }
}

/// Dropping without [`BlockingMesh::close`]: with a private runtime nothing would flush the
/// queued messages afterwards, so the drop closes the mesh (bounded by
/// [`NetConfig::close_timeout`]) when called from a plain thread.
impl Drop for BlockingMesh {
    fn drop(&mut self) {
        if let (Some(mesh), Driver::Own(rt)) = (self.mesh.take(), &self.driver)
            && not_in_async().is_ok()
            && let Err(e) = rt.block_on(mesh.close())
        {
            tracing::warn!(error = %e, "closing a dropped BlockingMesh failed");
        }
    }
}
