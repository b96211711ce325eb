//! Typed protocol messages with a checked binary encoding.
//!
//! Wire format (little endian): `version u8 | session [16] | step u16 |
//! seq u64 | from u8 | to u8 | kind u8 | count u32 | body`. The body is
//! `count` elements of 8 (words), 16 (wide) or 1 (bytes) bytes.

use crate::{Error, PartyId, Result, SessionId, Step};

const VERSION: u8 = 1;
const HEADER: usize = 1 + 16 + 2 + 8 + 1 + 1 + 1 + 4;

/// Message body. `Debug` prints the kind and length only (bodies carry
/// share components, proof shares and challenge terms).
#[derive(Clone, PartialEq, Eq)]
pub enum Payload {
    /// Ring elements of Z_2^64 or bit-sliced GF(2) words.
    Words(Vec<u64>),
    /// Elements of a verification ring (Z_2^192 in two `u128`, Z_2^128 or
    /// GF(2^64) in one).
    Wide(Vec<u128>),
    /// Digests and seeds.
    Bytes(Vec<u8>),
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Words(w) => write!(f, "Words(len={})", w.len()),
            Payload::Wide(w) => write!(f, "Wide(len={})", w.len()),
            Payload::Bytes(b) => write!(f, "Bytes(len={})", b.len()),
        }
    }
}

impl Payload {
    fn kind(&self) -> u8 {
        match self {
            Payload::Words(_) => 1,
            Payload::Wide(_) => 2,
            Payload::Bytes(_) => 3,
        }
    }

    /// Encoded size of the body in bytes.
    pub fn body_len(&self) -> usize {
        match self {
            Payload::Words(w) => w.len() * 8,
            Payload::Wide(w) => w.len() * 16,
            Payload::Bytes(b) => b.len(),
        }
    }
}

/// One protocol message from one party to a neighbour. `Debug` prints the
/// header and the payload's shape, never its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The session it belongs to.
    pub session: SessionId,
    /// The protocol step that produced it.
    pub step: Step,
    /// The sender's operation counter when it produced the message; the
    /// receiver expects its own counter (all parties run the same program).
    pub seq: u64,
    /// Sender.
    pub from: PartyId,
    /// Receiver.
    pub to: PartyId,
    /// Body.
    pub payload: Payload,
}

impl Message {
    /// Size on the wire.
    pub fn encoded_len(&self) -> usize {
        HEADER + self.payload.body_len()
    }

    /// Encode to bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(VERSION);
        out.extend_from_slice(&self.session.0);
        out.extend_from_slice(&self.step.code().to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.push(self.from.0);
        out.push(self.to.0);
        out.push(self.payload.kind());
        let count = match &self.payload {
            Payload::Words(w) => w.len(),
            Payload::Wide(w) => w.len(),
            Payload::Bytes(b) => b.len(),
        };
        out.extend_from_slice(&(count as u32).to_le_bytes());
        let start = out.len();
        out.resize(start + self.payload.body_len(), 0);
        let body = &mut out[start..];
        match &self.payload {
            Payload::Words(w) => {
                for (c, x) in body.chunks_exact_mut(8).zip(w) {
                    c.copy_from_slice(&x.to_le_bytes());
                }
            }
            Payload::Wide(w) => {
                for (c, x) in body.chunks_exact_mut(16).zip(w) {
                    c.copy_from_slice(&x.to_le_bytes());
                }
            }
            Payload::Bytes(b) => body.copy_from_slice(b),
        }
        out
    }

    /// Decode and check the framing. `from` is the authenticated sender as
    /// known to the transport; a mismatch with the header is blamed on it.
    pub fn decode(bytes: &[u8], from: PartyId) -> Result<Message> {
        let bad = |reason| Error::abort(Step::Open, Some(from), reason);
        if bytes.len() < HEADER {
            return Err(bad("message shorter than its header"));
        }
        if bytes[0] != VERSION {
            return Err(bad("unknown message version"));
        }
        let mut session = [0u8; 16];
        session.copy_from_slice(&bytes[1..17]);
        let code = u16::from_le_bytes([bytes[17], bytes[18]]);
        let step = Step::from_code(code).ok_or(bad("unknown step code"))?;
        let bad = |reason| Error::abort(step, Some(from), reason);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[19..27]);
        let seq = u64::from_le_bytes(seq);
        let hdr_from = PartyId::new(bytes[27]).ok_or(bad("bad sender id"))?;
        let to = PartyId::new(bytes[28]).ok_or(bad("bad receiver id"))?;
        if hdr_from != from {
            return Err(bad("sender id does not match the link"));
        }
        let kind = bytes[29];
        let count = u32::from_le_bytes([bytes[30], bytes[31], bytes[32], bytes[33]]) as usize;
        let body = &bytes[HEADER..];
        let payload = match kind {
            1 => {
                if body.len() != count.checked_mul(8).ok_or(bad("length overflow"))? {
                    return Err(bad("body length does not match count"));
                }
                Payload::Words(
                    body.chunks_exact(8)
                        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                        .collect(),
                )
            }
            2 => {
                if body.len() != count.checked_mul(16).ok_or(bad("length overflow"))? {
                    return Err(bad("body length does not match count"));
                }
                Payload::Wide(
                    body.chunks_exact(16)
                        .map(|c| {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(c);
                            u128::from_le_bytes(a)
                        })
                        .collect(),
                )
            }
            3 => {
                if body.len() != count {
                    return Err(bad("body length does not match count"));
                }
                Payload::Bytes(body.to_vec())
            }
            _ => return Err(bad("unknown payload kind")),
        };
        Ok(Message { session: SessionId(session), step, seq, from, to, payload })
    }
}

/// Checks applied by a receiving state machine to a message it expects.
pub(crate) struct Expect {
    pub session: SessionId,
    pub step: Step,
    pub seq: u64,
    pub from: PartyId,
    pub to: PartyId,
}

impl Expect {
    fn header(&self, m: &Message) -> Result<()> {
        let bad = |reason| Err(Error::abort(self.step, Some(self.from), reason));
        if m.from != self.from {
            // Not the sender we wait for: the transport misrouted it; we
            // cannot blame the claimed sender.
            return Err(Error::abort(self.step, None, "message from an unexpected party"));
        }
        if m.to != self.to {
            return bad("message addressed to another party");
        }
        if m.session != self.session {
            return bad("message of another session");
        }
        if m.step != self.step {
            return bad("message of another protocol step");
        }
        if m.seq != self.seq {
            return bad("message out of sequence");
        }
        Ok(())
    }

    /// Expect `n` words.
    pub(crate) fn words(&self, m: Message, n: usize) -> Result<Vec<u64>> {
        self.header(&m)?;
        match m.payload {
            Payload::Words(w) if w.len() == n => Ok(w),
            _ => Err(Error::abort(self.step, Some(self.from), "wrong payload kind or length")),
        }
    }

    /// Expect `n` wide elements.
    pub(crate) fn wide(&self, m: Message, n: usize) -> Result<Vec<u128>> {
        self.header(&m)?;
        match m.payload {
            Payload::Wide(w) if w.len() == n => Ok(w),
            _ => Err(Error::abort(self.step, Some(self.from), "wrong payload kind or length")),
        }
    }

    /// Expect `n` bytes.
    pub(crate) fn bytes(&self, m: Message, n: usize) -> Result<Vec<u8>> {
        self.header(&m)?;
        match m.payload {
            Payload::Bytes(b) if b.len() == n => Ok(b),
            _ => Err(Error::abort(self.step, Some(self.from), "wrong payload kind or length")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Message {
        Message {
            session: SessionId([3; 16]),
            step: Step::ProofRound(4),
            seq: 99,
            from: PartyId(1),
            to: PartyId(2),
            payload: Payload::Wide(vec![1, u128::MAX]),
        }
    }

    #[test]
    fn encoding_round_trips() {
        let m = msg();
        let b = m.encode();
        assert_eq!(b.len(), m.encoded_len());
        assert_eq!(Message::decode(&b, PartyId(1)), Ok(m));
    }

    #[test]
    fn truncated_or_spoofed_messages_are_rejected_with_blame() {
        let b = msg().encode();
        let e = Message::decode(&b[..b.len() - 1], PartyId(1)).unwrap_err();
        assert!(matches!(e, Error::Abort { step: Step::ProofRound(4), blamed: Some(PartyId(1)), .. }));
        let e = Message::decode(&b, PartyId(0)).unwrap_err();
        assert!(matches!(e, Error::Abort { blamed: Some(PartyId(0)), .. }));
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), from in 0u8..3) {
            let from = PartyId::new(from).ok_or(Error::InvalidArgument("id")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let _ = Message::decode(&bytes, from);
        }

        #[test]
        fn flipping_any_header_byte_is_rejected_or_changes_the_message(pos in 0usize..34, bit in 0u8..8) {
            let m = Message {
                session: SessionId([3; 16]),
                step: Step::Mul,
                seq: 7,
                from: PartyId(1),
                to: PartyId(2),
                payload: Payload::Words(vec![1, 2, 3]),
            };
            let mut b = m.encode();
            b[pos] ^= 1 << bit;
            if let Ok(d) = Message::decode(&b, PartyId(1)) {
                prop_assert_ne!(d, m);
            }
        }
    }
}
