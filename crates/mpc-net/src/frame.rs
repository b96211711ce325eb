//! Frames: a 4-byte big-endian payload length, then the payload.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{NetError, PartyId};

pub(crate) const HEADER_LEN: usize = 4;

/// Read a frame header. `Ok(None)` when the peer closed cleanly at a frame boundary.
pub(crate) async fn read_header<R: AsyncRead + Unpin>(
    r: &mut R,
    peer: PartyId,
    max: u32,
) -> Result<Option<u32>, NetError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut header[got..]).await {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(truncated(peer, 0, got)),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && got > 0 => {
                return Err(truncated(peer, 0, got));
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(NetError::Disconnected {
                    peer,
                    reason: "connection closed without TLS close_notify".into(),
                });
            }
            Err(e) => return Err(NetError::from_io(peer, e)),
        }
    }
    let len = u32::from_be_bytes(header);
    if len > max {
        return Err(NetError::FrameTooLarge { peer, len: len.into(), max });
    }
    Ok(Some(len))
}

/// Read a payload of exactly `len` bytes into fresh, uninitialised-then-filled memory.
pub(crate) async fn read_body<R: AsyncRead + Unpin>(r: &mut R, peer: PartyId, len: u32) -> Result<BytesMut, NetError> {
    let len = len as usize;
    let mut buf = BytesMut::with_capacity(len);
    while buf.len() < len {
        let want = (len - buf.len()) as u64;
        match (&mut *r).take(want).read_buf(&mut buf).await {
            Ok(0) => return Err(truncated(peer, len, HEADER_LEN + buf.len())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(truncated(peer, len, HEADER_LEN + buf.len()));
            }
            Err(e) => return Err(NetError::from_io(peer, e)),
        }
    }
    Ok(buf)
}

fn truncated(peer: PartyId, payload_len: usize, got: usize) -> NetError {
    NetError::Truncated { peer, expected: (HEADER_LEN + payload_len) as u64, got: got as u64 }
}
