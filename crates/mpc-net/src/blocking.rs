//! A synchronous facade for the MPC core's compute thread.

use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Handle;

use crate::{Mesh, NetError, NetStats, PartyId};

/// [`Mesh`] for synchronous code: each call completes the async operation on `handle`'s
/// runtime, blocking the calling thread. Messages already queued (or budget already free) are
/// handled on the calling thread without entering the runtime.
///
/// Call it from a plain thread (for example `std::thread::spawn` or `spawn_blocking`), never
/// from an async task: there it returns [`NetError::BlockingInAsync`] instead of stalling a
/// runtime worker.
#[derive(Debug)]
pub struct BlockingMesh {
    mesh: Mesh,
    handle: Handle,
}

impl BlockingMesh {
    /// Wrap `mesh`, driving it on `handle`'s runtime (which must keep running).
    pub fn new(mesh: Mesh, handle: Handle) -> Self {
        BlockingMesh { mesh, handle }
    }

    fn not_in_async() -> Result<(), NetError> {
        match Handle::try_current() {
            Ok(_) => Err(NetError::BlockingInAsync),
            Err(_) => Ok(()),
        }
    }

    /// This party's id.
    pub fn party(&self) -> PartyId {
        self.mesh.party()
    }

    /// As [`Mesh::send`], blocking while the send budget is exhausted.
    pub fn send(&self, to: PartyId, msg: Bytes) -> Result<(), NetError> {
        let Some(msg) = self.mesh.try_send(to, msg)? else {
            return Ok(());
        };
        Self::not_in_async()?;
        self.handle.block_on(self.mesh.send(to, msg))
    }

    /// As [`Mesh::recv`], blocking up to the configured receive timeout.
    pub fn recv(&self, from: PartyId) -> Result<Bytes, NetError> {
        if let Some(msg) = self.mesh.try_recv(from)? {
            return Ok(msg);
        }
        Self::not_in_async()?;
        self.handle.block_on(self.mesh.recv(from))
    }

    /// As [`Mesh::recv_timeout`].
    pub fn recv_timeout(&self, from: PartyId, timeout: Duration) -> Result<Bytes, NetError> {
        if let Some(msg) = self.mesh.try_recv(from)? {
            return Ok(msg);
        }
        Self::not_in_async()?;
        self.handle.block_on(self.mesh.recv_timeout(from, timeout))
    }

    /// As [`Mesh::mark_round`].
    pub fn mark_round(&self) {
        self.mesh.mark_round();
    }

    /// As [`Mesh::stats`].
    pub fn stats(&self) -> NetStats {
        self.mesh.stats()
    }

    /// The async mesh underneath.
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// As [`Mesh::close`], blocking until done.
    pub fn close(self) -> Result<(), NetError> {
        Self::not_in_async()?;
        let BlockingMesh { mesh, handle } = self;
        handle.block_on(mesh.close())
    }
}
