//! Opening with the compare-view consistency check (Furukawa, Lindell, Nof,
//! Weinstein, EC'17, ePrint 2016/944, Sec. 2 "reconstruct"; also Araki et al.
//! S&P'17): party `i` misses `x_{i+2}`, held by both neighbours; it gets the
//! value from party `i+1` and a hash of it from party `i-1`. A malicious
//! party can only cause a mismatch, hence an abort; it cannot tell which
//! neighbour lied, so no one is blamed.
//!
//! Every open first requires that no gate awaits verification
//! ([`crate::Error::Unverified`]): outputs depending on an unverified gate are
//! never revealed (additive attacks become selective failure otherwise).

use sha2::{Digest, Sha256};

use crate::{ArithShare, BoolShare, Error, Message, Payload, Result, Session, SessionId, Step};

/// An open awaiting the missing component (from next) and its hash (from prev).
/// `Debug` prints the sequence number and the length only.
#[must_use = "finish the open with the neighbours' messages"]
pub struct OpenPending {
    seq: u64,
    s0: Vec<u64>,
    s1: Vec<u64>,
    boolean: bool,
}

impl std::fmt::Debug for OpenPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenPending(seq={}, len={}, boolean={})", self.seq, self.s0.len(), self.boolean)
    }
}

fn view_hash(session: &SessionId, seq: u64, words: &[u64]) -> Vec<u8> {
    words_hash(b"triad/open/v1", session, seq, words)
}

/// SHA-256 of `words` bound to a domain label, the session and a sequence number: what
/// two parties compare to check they hold the same view (opens, the shuffle's tag check).
pub(crate) fn words_hash(domain: &[u8], session: &SessionId, seq: u64, words: &[u64]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(session.0);
    h.update(seq.to_le_bytes());
    h.update((words.len() as u64).to_le_bytes());
    for w in words {
        h.update(w.to_le_bytes());
    }
    h.finalize().to_vec()
}

impl Session {
    fn open_start_words(&mut self, s0: &[u64], s1: &[u64], boolean: bool) -> Result<(OpenPending, [Message; 2])> {
        self.live(Step::Open)?;
        if self.has_pending() {
            let (a, b) = self.pending();
            return Err(Error::Unverified(a + b * 64));
        }
        if self.unacked_shuffles > 0 {
            return Err(Error::InvalidArgument("a shuffle awaits its acknowledgements: finish them before opening"));
        }
        let seq = self.next_seq();
        // To prev: our second component x_{i+1}, which prev misses.
        let to_prev = Message {
            session: self.id,
            step: Step::Open,
            seq,
            from: self.me,
            to: self.me.prev(),
            payload: Payload::Words(s1.to_vec()),
        };
        // To next: a hash of our first component x_i, which next misses.
        let to_next = Message {
            session: self.id,
            step: Step::Open,
            seq,
            from: self.me,
            to: self.me.next(),
            payload: Payload::Bytes(view_hash(&self.id, seq, s0)),
        };
        Ok((OpenPending { seq, s0: s0.to_vec(), s1: s1.to_vec(), boolean }, [to_prev, to_next]))
    }

    /// Start opening an arithmetic sharing. Refused with
    /// [`Error::Unverified`] while gates await verification. Messages: one to
    /// the previous party (8 B per element), one to the next (32 B).
    pub fn open_start(&mut self, x: &ArithShare) -> Result<(OpenPending, [Message; 2])> {
        self.open_start_words(&x.s0.clone(), &x.s1.clone(), false)
    }

    /// Start opening a boolean sharing (result as bit-sliced words).
    pub fn open_bits_start(&mut self, x: &BoolShare) -> Result<(OpenPending, [Message; 2])> {
        self.open_start_words(&x.s0.clone(), &x.s1.clone(), true)
    }
}

impl OpenPending {
    /// Finish with the next party's component and the previous party's hash.
    /// Refused on a poisoned session; an abort poisons it.
    pub fn finish(self, s: &mut Session, from_next: Message, from_prev: Message) -> Result<Vec<u64>> {
        s.live(Step::Open)?;
        let r = self.finish_inner(s, from_next, from_prev);
        s.poison_on_abort(r)
    }

    fn finish_inner(self, s: &mut Session, from_next: Message, from_prev: Message) -> Result<Vec<u64>> {
        let n = self.s0.len();
        let missing = s.expect_from_next(Step::Open, self.seq).words(from_next, n)?;
        let digest = s.expect_from_prev(Step::Open, self.seq).bytes(from_prev, 32)?;
        if view_hash(&s.id, self.seq, &missing) != digest {
            return Err(Error::abort(Step::Open, None, "neighbours' views of the missing component differ"));
        }
        Ok((0..n)
            .map(|j| {
                if self.boolean {
                    self.s0[j] ^ self.s1[j] ^ missing[j]
                } else {
                    self.s0[j].wrapping_add(self.s1[j]).wrapping_add(missing[j])
                }
            })
            .collect())
    }
}
