//! The hello both ends exchange right after TLS: who they are, which session, which version.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{NetError, PROTOCOL_VERSION, PartyId, SessionId};

const MAGIC: &[u8; 8] = b"TRIADNET";
pub(crate) const HELLO_LEN: usize = 8 + 2 + 1 + 1 + 32;

pub(crate) fn encode(me: PartyId, peer: PartyId, session: &SessionId) -> [u8; HELLO_LEN] {
    let mut out = [0u8; HELLO_LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..10].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out[10] = me.get();
    out[11] = peer.get();
    out[12..].copy_from_slice(&session.0);
    out
}

/// Send our hello, read the peer's and check it. Both ends send before reading, so both see
/// any mismatch and both abort with the same kind of error.
pub(crate) async fn exchange_hello<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    me: PartyId,
    peer: PartyId,
    session: &SessionId,
) -> Result<(), NetError> {
    let io = |e| NetError::from_io(peer, e);
    stream.write_all(&encode(me, peer, session)).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut theirs = [0u8; HELLO_LEN];
    stream.read_exact(&mut theirs).await.map_err(io)?;
    check(&theirs, me, peer, session)
}

pub(crate) fn check(h: &[u8; HELLO_LEN], me: PartyId, peer: PartyId, session: &SessionId) -> Result<(), NetError> {
    if &h[..8] != MAGIC {
        return Err(NetError::BadHello { peer, reason: "wrong magic" });
    }
    let version = u16::from_be_bytes([h[8], h[9]]);
    if version != PROTOCOL_VERSION {
        return Err(NetError::VersionMismatch { peer, ours: PROTOCOL_VERSION, theirs: version });
    }
    if h[10] != peer.get() {
        return Err(NetError::IdentityMismatch { expected: peer, claimed: h[10] });
    }
    if h[11] != me.get() {
        return Err(NetError::BadHello { peer, reason: "hello addressed to another party" });
    }
    let mut theirs = [0u8; 32];
    theirs.copy_from_slice(&h[12..]);
    if theirs != session.0 {
        return Err(NetError::SessionMismatch { peer, ours: *session, theirs: SessionId(theirs) });
    }
    Ok(())
}
