//! The envelope of a protocol message: which session, protocol and round, from whom, to whom,
//! and the round's body (postcard-encoded library messages; opaque here).
//!
//! Encoding (`docs/protocols/signing.md` §4), all integers big-endian:
//! `version (1) || protocol (1) || round (1) || from (1) || to (1) || session (32) ||
//! body length (4) || body`.

use crate::PartyId;

/// Version byte of the envelope.
const VERSION: u8 = 1;
/// Bytes before the body.
const HEADER_LEN: usize = 5 + 32 + 4;
/// Largest body we accept (a DKG round-3 message is about 100 KB).
pub const MAX_BODY: usize = 1 << 20;

/// A session's id: 32 bytes chosen by whoever starts it (the coordinator), unique per run.
/// The library binds every proof and OT instance of the run to it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub [u8; 32]);

impl SessionId {
    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionId({})", self.to_hex())
    }
}

/// Which protocol a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Distributed key generation.
    Dkg,
    /// Signing.
    Sign,
    /// Key refresh.
    Refresh,
}

impl Protocol {
    fn code(self) -> u8 {
        match self {
            Protocol::Dkg => 1,
            Protocol::Sign => 2,
            Protocol::Refresh => 3,
        }
    }

    fn from_code(code: u8) -> Option<Protocol> {
        match code {
            1 => Some(Protocol::Dkg),
            2 => Some(Protocol::Sign),
            3 => Some(Protocol::Refresh),
            _ => None,
        }
    }

    /// Whether its messages carry secrets (polynomial fragments, zero-share seeds), so a
    /// transport must seal them to the recipient. Signing messages are sealed too by
    /// `triad-signing-bus`, for authentication.
    pub fn carries_secrets(self) -> bool {
        matches!(self, Protocol::Dkg | Protocol::Refresh)
    }
}

/// A message from one party to another. `Debug` shows the body's length only: DKG and
/// refresh bodies carry secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The session.
    pub session: SessionId,
    /// The protocol.
    pub protocol: Protocol,
    /// The round, from 1.
    pub round: u8,
    /// The sender.
    pub from: PartyId,
    /// The recipient.
    pub to: PartyId,
    /// The round's body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("session", &self.session)
            .field("protocol", &self.protocol)
            .field("round", &self.round)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body);
    }
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Shorter than its header or its stated body.
    #[error("truncated message")]
    Truncated,
    /// Bytes after the body.
    #[error("trailing bytes after the body")]
    Trailing,
    /// An unknown version, protocol or party.
    #[error("bad header field: {0}")]
    BadField(&'static str),
    /// A body above [`MAX_BODY`].
    #[error("body of {0} bytes is above the limit")]
    TooLarge(usize),
}

impl Message {
    /// The encoding above.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len());
        out.extend_from_slice(&[VERSION, self.protocol.code(), self.round, self.from.0, self.to.0]);
        out.extend_from_slice(&self.session.0);
        out.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses [`Message::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<Message, MessageError> {
        let header = bytes.get(..HEADER_LEN).ok_or(MessageError::Truncated)?;
        if header[0] != VERSION {
            return Err(MessageError::BadField("version"));
        }
        let protocol = Protocol::from_code(header[1]).ok_or(MessageError::BadField("protocol"))?;
        let round = header[2];
        let from = PartyId::new(header[3]).ok_or(MessageError::BadField("from"))?;
        let to = PartyId::new(header[4]).ok_or(MessageError::BadField("to"))?;
        let mut session = [0u8; 32];
        session.copy_from_slice(&header[5..37]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&header[37..41]);
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_BODY {
            return Err(MessageError::TooLarge(len));
        }
        let rest = &bytes[HEADER_LEN..];
        if rest.len() < len {
            return Err(MessageError::Truncated);
        }
        if rest.len() > len {
            return Err(MessageError::Trailing);
        }
        Ok(Message { session: SessionId(session), protocol, round, from, to, body: rest.to_vec() })
    }
}
