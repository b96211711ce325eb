//! Client input: the client splits each value into three additive
//! components and gives party `i` the bundle `(x_i, x_{i+1})`
//! ([`share_inputs`]). The two parties holding a component in common check
//! that they got the same one ([`Session::input_check_start`]): first one
//! 32-byte digest per neighbour and batch; only if a digest differs, the
//! pair exchanges that component per input to find the inconsistent inputs,
//! which are rejected by index (and attributed to the client) while the
//! other inputs stay accepted.
//!
//! Each party sees two of the three components, so it reports mismatches on
//! those two.
//!
//! **These rejections are not attributable.** When a neighbour's digest and
//! list are consistent with each other but differ from this party's copy, the
//! party cannot tell a provider that dealt inconsistent copies from a
//! neighbour that lies about its copy; a caller that drops the union of the
//! reported sets lets one corrupt party censor any input. What the check does
//! guarantee: a neighbour whose list contradicts its own digest, agrees with
//! this party's copy everywhere after a differing digest, or has the wrong
//! shape, is named (an abort blaming it). Share intake (`triad-party`) no
//! longer uses this check: providers publish per-component commitments and
//! signatures, which make a rejection provable (`docs/protocols/input-check.md`,
//! "Attributable intake"). It stays for callers without commitments (tests,
//! benchmarks, the in-memory harness).

use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::prf::{Prf, Purpose};
use crate::{ArithShare, Error, Message, PartyId, Payload, Result, Session, SessionId, Step};

/// What a client sends to one party: `(x_i, x_{i+1})` for each input.
#[derive(Clone, PartialEq, Eq)]
pub struct InputBundle {
    /// Component `x_i` of every input.
    pub first: Vec<u64>,
    /// Component `x_{i+1}` of every input.
    pub second: Vec<u64>,
}

impl InputBundle {
    /// The components as a sharing, leaving the bundle empty.
    fn take_share(&mut self) -> ArithShare {
        ArithShare { s0: std::mem::take(&mut self.first), s1: std::mem::take(&mut self.second) }
    }
}

/// A client's components are wiped when a bundle is dropped (e.g. after an
/// abort, or a copy kept by a driver); a checked bundle hands its vectors
/// on to the [`ArithShare`] it becomes, which is not wiped (shares in use
/// are the engine's working data, see `crate::session`).
impl Drop for InputBundle {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.first.zeroize();
        self.second.zeroize();
    }
}

impl std::fmt::Debug for InputBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InputBundle(len={})", self.first.len())
    }
}

/// Split `values` into the three parties' bundles with fresh OS randomness.
pub fn share_inputs(values: &[u64]) -> Result<[InputBundle; 3]> {
    let mut seed = [0u8; 16];
    getrandom::fill(&mut seed).map_err(|_| Error::NoRandomness)?;
    Ok(share_inputs_with_seed(values, seed))
}

/// Split `values` with randomness expanded from `seed` (AES-CTR). Use a fresh
/// uniformly random seed per call.
pub fn share_inputs_with_seed(values: &[u64], seed: [u8; 16]) -> [InputBundle; 3] {
    let prf = Prf::new(&seed, &SessionId(*b"triad/client/in1"));
    let n = values.len();
    let c0 = prf.words(Purpose::Random, 0, n);
    let c1 = prf.words(Purpose::Random, 1, n);
    let c2: Vec<u64> = (0..n).map(|j| values[j].wrapping_sub(c0[j]).wrapping_sub(c1[j])).collect();
    let comps = [c0, c1, c2];
    [0usize, 1, 2].map(|i| InputBundle { first: comps[i].clone(), second: comps[(i + 1) % 3].clone() })
}

/// Split bit-sliced boolean inputs (e.g. the bytes of a commitment blinder,
/// 64 bits per word) into XOR sharings: bundles in the same layout, checked
/// by the same [`Session::input_check_start`]; turn the checked share into a
/// [`crate::BoolShare`] with [`crate::ArithShare::into_bool`].
pub fn share_bit_inputs_with_seed(words: &[u64], seed: [u8; 16]) -> [InputBundle; 3] {
    let prf = Prf::new(&seed, &SessionId(*b"triad/client/bi1"));
    let n = words.len();
    let c0 = prf.words(Purpose::Random, 0, n);
    let c1 = prf.words(Purpose::Random, 1, n);
    let c2: Vec<u64> = (0..n).map(|j| words[j] ^ c0[j] ^ c1[j]).collect();
    let comps = [c0, c1, c2];
    [0usize, 1, 2].map(|i| InputBundle { first: comps[i].clone(), second: comps[(i + 1) % 3].clone() })
}

/// [`share_bit_inputs_with_seed`] with fresh OS randomness.
pub fn share_bit_inputs(words: &[u64]) -> Result<[InputBundle; 3]> {
    let mut seed = [0u8; 16];
    getrandom::fill(&mut seed).map_err(|_| Error::NoRandomness)?;
    Ok(share_bit_inputs_with_seed(words, seed))
}

fn digest(session: &SessionId, seq: u64, component: usize, words: &[u64]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"triad/input/v1");
    h.update(session.0);
    h.update(seq.to_le_bytes());
    h.update((component as u64).to_le_bytes());
    h.update((words.len() as u64).to_le_bytes());
    for w in words {
        h.update(w.to_le_bytes());
    }
    h.finalize().to_vec()
}

/// The digests a neighbour sent, `(from prev, from next)`, kept only for the
/// components whose digest differed from this party's.
type SentDigests = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The input check in progress.
#[derive(Debug)]
#[must_use = "drive the input check to completion"]
pub struct InputCheck {
    seq: u64,
    bundle: InputBundle,
    /// After a differing digest: the digests received from (prev, next),
    /// for the components that differed; their lists are awaited.
    detail: Option<SentDigests>,
}

/// Outcome of a step of [`InputCheck`].
#[derive(Debug)]
pub enum InputProgress {
    /// Finished: the sharing of all inputs and the indices this party found
    /// inconsistent (the client's fault or a lying neighbour's, which this
    /// party cannot tell apart; see the module documentation).
    Done {
        /// The shares (rejected positions included; drop them).
        share: ArithShare,
        /// Sorted indices of inputs whose components disagree.
        rejected: Vec<usize>,
    },
    /// A digest differed: send these messages and wait for one message from
    /// each party in `await_from`.
    More {
        /// The continuation.
        check: InputCheck,
        /// Messages to send.
        out: Vec<Message>,
        /// Parties to receive exactly one message from.
        await_from: Vec<PartyId>,
    },
}

impl Session {
    /// Start checking a client's bundle. Messages: a digest of `x_i` to the
    /// previous party and of `x_{i+1}` to the next; then call
    /// [`InputCheck::step`] with one message from each neighbour.
    pub fn input_check_start(&mut self, bundle: InputBundle) -> Result<(InputCheck, [Message; 2])> {
        self.live(Step::InputCheck)?;
        if bundle.first.len() != bundle.second.len() {
            return Err(Error::InvalidArgument("bundle components differ in length"));
        }
        let seq = self.next_seq();
        let i = self.me.index();
        let mk = |to: PartyId, payload| Message {
            session: self.id,
            step: Step::InputCheck,
            seq,
            from: self.me,
            to,
            payload,
        };
        let to_prev = mk(self.me.prev(), Payload::Bytes(digest(&self.id, seq, i, &bundle.first)));
        let to_next = mk(self.me.next(), Payload::Bytes(digest(&self.id, seq, (i + 1) % 3, &bundle.second)));
        Ok((InputCheck { seq, bundle, detail: None }, [to_prev, to_next]))
    }
}

/// Drive the check of `bundle` over a driver: send both digests, receive from
/// the previous then the next party, then [`InputCheck::step`] (one exchange
/// per step) until [`InputProgress::Done`]. Returns the accepted sharing and
/// the indices this party saw rejected. The harness's `Party::input` and
/// `triad-mpc`'s `NetParty::input` both run this.
pub fn check_bundle<E: Engine + ?Sized>(e: &mut E, bundle: InputBundle) -> Result<(ArithShare, Vec<usize>)> {
    let me = e.session().me();
    let (mut check, msgs) = e.session().input_check_start(bundle)?;
    let mut incoming = e.exchange(msgs.into(), &[me.prev(), me.next()])?;
    loop {
        match check.step(e.session(), incoming)? {
            InputProgress::Done { share, rejected } => return Ok((share, rejected)),
            InputProgress::More { check: c, out, await_from } => {
                incoming = e.exchange(out, &await_from)?;
                check = c;
            }
        }
    }
}

impl InputCheck {
    /// Consume the awaited messages (in any order).
    pub fn step(self, s: &mut Session, msgs: Vec<Message>) -> Result<InputProgress> {
        s.live(Step::InputCheck)?;
        let r = self.step_inner(s, msgs);
        s.poison_on_abort(r)
    }

    fn step_inner(mut self, s: &mut Session, msgs: Vec<Message>) -> Result<InputProgress> {
        let (prev, next) = (s.me.prev(), s.me.next());
        let mut from_prev = None;
        let mut from_next = None;
        for m in msgs {
            if m.from == prev && from_prev.is_none() {
                from_prev = Some(m);
            } else if m.from == next && from_next.is_none() {
                from_next = Some(m);
            } else {
                return Err(Error::abort(Step::InputCheck, Some(m.from), "unexpected message"));
            }
        }
        let n = self.bundle.first.len();
        let i = s.me.index();
        match self.detail {
            None => {
                let (Some(mp), Some(mn)) = (from_prev, from_next) else {
                    return Err(Error::abort(Step::InputCheck, None, "missing digest"));
                };
                let dp = s.expect_from_prev(Step::InputCheck, self.seq).bytes(mp, 32)?;
                let dn = s.expect_from_next(Step::InputCheck, self.seq).bytes(mn, 32)?;
                let bad_prev = (dp != digest(&s.id, self.seq, i, &self.bundle.first)).then_some(dp);
                let bad_next = (dn != digest(&s.id, self.seq, (i + 1) % 3, &self.bundle.second)).then_some(dn);
                if bad_prev.is_none() && bad_next.is_none() {
                    let share = self.bundle.take_share();
                    return Ok(InputProgress::Done { share, rejected: vec![] });
                }
                let mut out = Vec::new();
                let mut await_from = Vec::new();
                let mk = |to: PartyId, w: &[u64]| Message {
                    session: s.id,
                    step: Step::InputCheck,
                    seq: self.seq,
                    from: s.me,
                    to,
                    payload: Payload::Words(w.to_vec()),
                };
                if bad_prev.is_some() {
                    out.push(mk(prev, &self.bundle.first));
                    await_from.push(prev);
                }
                if bad_next.is_some() {
                    out.push(mk(next, &self.bundle.second));
                    await_from.push(next);
                }
                Ok(InputProgress::More {
                    check: InputCheck { detail: Some((bad_prev, bad_next)), ..self },
                    out,
                    await_from,
                })
            }
            Some((bad_prev, bad_next)) => {
                let mut rejected = Vec::new();
                for (sent_digest, m, mine, from, component) in [
                    (bad_prev, from_prev, &self.bundle.first, prev, i),
                    (bad_next, from_next, &self.bundle.second, next, (i + 1) % 3),
                ] {
                    let Some(sent_digest) = sent_digest else {
                        if m.is_some() {
                            return Err(Error::abort(Step::InputCheck, Some(from), "unexpected component list"));
                        }
                        continue;
                    };
                    let Some(m) = m else {
                        return Err(Error::abort(Step::InputCheck, Some(from), "missing component list"));
                    };
                    let theirs = if from == prev {
                        s.expect_from_prev(Step::InputCheck, self.seq).words(m, n)?
                    } else {
                        s.expect_from_next(Step::InputCheck, self.seq).words(m, n)?
                    };
                    // The list must be the one the digest was computed from:
                    // otherwise the neighbour sent a wrong digest or list.
                    if digest(&s.id, self.seq, component, &theirs) != sent_digest {
                        return Err(Error::abort(
                            Step::InputCheck,
                            Some(from),
                            "the component list contradicts its digest",
                        ));
                    }
                    let before = rejected.len();
                    rejected.extend((0..n).filter(|&j| theirs[j] != mine[j]));
                    if rejected.len() == before {
                        // The digest differed but every component agrees:
                        // the neighbour sent a wrong digest or list.
                        return Err(Error::abort(
                            Step::InputCheck,
                            Some(from),
                            "digest contradicts the component list",
                        ));
                    }
                }
                rejected.sort_unstable();
                rejected.dedup();
                let share = self.bundle.take_share();
                Ok(InputProgress::Done { share, rejected })
            }
        }
    }
}
