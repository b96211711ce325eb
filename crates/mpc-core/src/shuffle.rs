//! Maliciously secure oblivious shuffle of XOR-shared rows.
//!
//! *Shuffle* (Araki, Asharov, Canetti, Kislev, Lindell, Nof, Osheter, Peled,
//! Wool, CCS'21 "Secure Graph Analysis at Scale", Sec. 5.2, the
//! honest-majority shuffle): three permutations, each known to one pair
//! (`pi_01` from `k_1`, `pi_12` from `k_2`, `pi_20` from `k_0`), applied in
//! turn to a two-party sharing held by that pair and re-masked with a
//! pair-known mask, so every party misses one permutation. With `x = A ^ B`
//! (`P_0`: `A = x_0 ^ x_1`, `P_1`: `B = x_2`):
//!
//! * round 1 ([`Step::Shuffle1`]): `P_0` sends `A1 = pi_01(A) ^ z_01` to `P_2`;
//!   `P_1` sends `B2 = pi_12(pi_01(B) ^ z_01) ^ z_12` to `P_0`;
//! * `P_2`: `D = pi_20(pi_12(A1) ^ z_12) ^ z_20`; `P_0`: `C = pi_20(B2) ^ z_20`,
//!   so `C ^ D = pi_20 pi_12 pi_01 (x)`;
//! * round 2 ([`Step::Shuffle2`]): with `y_0` from `k_0`, `P_0` sends
//!   `y_1 = C ^ y_0` and `P_2` sends `y_2 = D` to `P_1`: the output RSS
//!   `(y_0, y_1, y_2)`.
//!
//! Two rounds, four messages of `n w` words (`w` words per row): `P_0` sends
//! `2 n w`, `P_1` and `P_2` `n w` words each.
//!
//! *Malicious security* (the tag check of the private-attribution `ipa`
//! shuffle, `shuffle/malicious.rs`, over GF(2^64) instead of GF(2^32)):
//! every deviation of a party in the shuffle (wrong masks, another
//! permutation, any change of a message) adds to the honest parties' output
//! sharing an offset `Delta` that is a function of the cheater's view. Before
//! the shuffle each row gets a tag `t = sum_c kappa_c * row_c` in GF(2^64)
//! ([`Step::ShuffleTag`], one semi-honest RSS product per row), with
//! `kappa` a fresh random sharing, unknown to every party. After the shuffle
//! every party acknowledges to both neighbours the shuffle messages it
//! received ([`Step::ShuffleAck`]: a hash of what that neighbour sent it,
//! which the neighbour checks), and opens its part of `kappa` only once both
//! neighbours acknowledged. A corrupt party may hold back its shuffle
//! messages until it has read everything the honest parties send without
//! them; without the acknowledgements an honest party that needs none of its
//! messages (`P_2` for `B2`, `P_0` for `y_2`) would release its `kappa`
//! component first, and the cheater could add offsets that pass the check.
//! With them, each of its shuffle messages has reached an honest party
//! before any honest party releases a part of `kappa`
//! (`docs/protocols/message-order.md`). Then `kappa` is opened (after every
//! pending gate is verified) and each party
//! computes its shares of `d = t' ^ sum_c kappa_c * row'_c` (linear, local);
//! [`Step::ShuffleCheck`] checks `d = 0` by compare-view hashes: party `i`
//! gets a hash of its missing component `d_{i+2}` from both neighbours and
//! compares it with `d_i ^ d_{i+1}`. The cheater's view (its components of
//! `kappa` and of the masked tags) is independent of `kappa`, so for a row
//! with a data offset `Delta_c != 0`, `d = Delta_t ^ sum_c kappa_c Delta_c`
//! is uniform in GF(2^64): the check fails except with probability 2^-64.
//! A wrong tag product only shifts `Delta_t` (an abort, independent of the
//! data), which is why the tag products need no proof (as in `ipa`). The
//! two honest parties always check the value their shares define, so a
//! cheater cannot make both pass. Nothing shuffled is revealed before the
//! check passes.

use crate::dzkp::Outgoing;
use crate::engine::Engine;
use crate::gf64::MulTable;
use crate::prf::{Prf, Purpose};
use crate::{BoolShare, Error, Message, PartyId, Payload, Result, Session, SessionId, Step};

/// Rows as one row-major vector per share component.
struct Rows {
    n: usize,
    w: usize,
}

impl Rows {
    /// Interleave `w` columns of `n` words into `n` rows of `w` words.
    fn pack(&self, cols: &[&[u64]]) -> Vec<u64> {
        let mut out = vec![0u64; self.n * self.w];
        for (c, col) in cols.iter().enumerate() {
            for (j, x) in col.iter().enumerate() {
                out[j * self.w + c] = *x;
            }
        }
        out
    }

    /// Column `c` of row-major `rows`.
    fn column(&self, rows: &[u64], c: usize) -> Vec<u64> {
        rows.chunks_exact(self.w).map(|r| r[c]).collect()
    }

    /// Row `j` of the output is row `perm[j]` of `rows`, XOR `mask`.
    fn permute(&self, rows: &[u64], perm: &[u32], mask: &[u64]) -> Vec<u64> {
        let w = self.w;
        let mut out = Vec::with_capacity(rows.len());
        for &p in perm {
            let p = p as usize;
            out.extend_from_slice(&rows[p * w..(p + 1) * w]);
        }
        for (o, m) in out.iter_mut().zip(mask) {
            *o ^= m;
        }
        out
    }
}

fn xor(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// `floor(r m / 2^128)`: uniform in `[0, m)` up to a bias `m / 2^128`.
fn below(r: u128, m: usize) -> usize {
    let m = m as u128;
    let lo = (r as u64 as u128) * m;
    let hi = (r >> 64) * m + (lo >> 64);
    (hi >> 64) as usize
}

/// Sub-streams of one shuffle under [`Purpose::Shuffle`].
const SUB_PERM: u64 = 0;
const SUB_MASK: u64 = 1;
const SUB_OUT: u64 = 2;

fn counter(seq: u64, sub: u64) -> u64 {
    (seq << 2) | sub
}

/// A uniformly random permutation of `n` (Fisher–Yates) from a PRF stream.
fn permutation(prf: &Prf, seq: u64, n: usize) -> Vec<u32> {
    let r = prf.wide(Purpose::Shuffle, counter(seq, SUB_PERM), n);
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        p.swap(i, below(r[i], i + 1));
    }
    p
}

impl Session {
    /// The PRF of pair key `k_j`, held by parties `j - 1` and `j`.
    fn pair_prf(&self, j: usize) -> Result<&Prf> {
        let i = self.me.index();
        if i == j {
            Ok(&self.prf_prev)
        } else if (i + 1) % 3 == j {
            Ok(&self.prf_next)
        } else {
            Err(Error::InvalidArgument("not a holder of that pair key"))
        }
    }

    /// Apply the permutation and mask of pair key `k_j` to `rows`.
    fn pair_step(&self, j: usize, seq: u64, shape: &Rows, rows: &[u64]) -> Result<Vec<u64>> {
        let prf = self.pair_prf(j)?;
        let perm = permutation(prf, seq, shape.n);
        let mask = prf.words(Purpose::Shuffle, counter(seq, SUB_MASK), shape.n * shape.w);
        Ok(shape.permute(rows, &perm, &mask))
    }

    fn shuffle_msg(&self, step: Step, seq: u64, to: PartyId, words: Vec<u64>) -> Message {
        Message { session: self.id, step, seq, from: self.me, to, payload: Payload::Words(words) }
    }

    /// Start the shuffle of the rows formed by `cols` (each column `n` words,
    /// XOR-shared). Drive it with [`ShuffleRun::step`]: send the messages,
    /// receive one message from each awaited party, step again; then
    /// exchange the acknowledgements ([`ShuffleRun::acknowledge`]): opens
    /// are refused until they are in. The output is *unchecked*: use
    /// [`shuffle`], which adds and checks the tags.
    pub fn shuffle_start(&mut self, cols: &[BoolShare]) -> Result<(ShuffleRun, Outgoing)> {
        self.live(Step::Shuffle1)?;
        let n = cols.first().map_or(0, BoolShare::words);
        if cols.iter().any(|c| c.words() != n) {
            return Err(Error::InvalidArgument("shuffle columns differ in length"));
        }
        let shape = Rows { n, w: cols.len() };
        let seq = self.next_seq();
        let s0: Vec<&[u64]> = cols.iter().map(|c| c.s0.as_slice()).collect();
        let s1: Vec<&[u64]> = cols.iter().map(|c| c.s1.as_slice()).collect();
        let lanes = cols.iter().map(BoolShare::lanes).collect();
        let (me, prev, next) = (self.me, self.me.prev(), self.me.next());
        let acks = Acks::default();
        let (phase, out) = match me.index() {
            0 => {
                let a = xor(&shape.pack(&s0), &shape.pack(&s1));
                let a1 = self.pair_step(1, seq, &shape, &a)?;
                (
                    Phase::AwaitB2,
                    Outgoing {
                        messages: vec![self.shuffle_msg(Step::Shuffle1, seq, prev, a1)],
                        await_from: vec![next],
                    },
                )
            }
            1 => {
                let b1 = self.pair_step(1, seq, &shape, &shape.pack(&s1))?;
                let b2 = self.pair_step(2, seq, &shape, &b1)?;
                (
                    Phase::AwaitY,
                    Outgoing {
                        messages: vec![self.shuffle_msg(Step::Shuffle1, seq, prev, b2)],
                        await_from: vec![prev, next],
                    },
                )
            }
            _ => (Phase::AwaitA1, Outgoing { messages: Vec::new(), await_from: vec![next] }),
        };
        self.unacked_shuffles += 1;
        Ok((ShuffleRun { seq, shape, lanes, phase, out: None, acks }, out))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `P_0`: waits for `B2` from `P_1`.
    AwaitB2,
    /// `P_1`: waits for `y_1` from `P_0` and `y_2` from `P_2`.
    AwaitY,
    /// `P_2`: waits for `A1` from `P_0`.
    AwaitA1,
    /// `P_0`, `P_2`: output ready once the round-2 message is sent.
    Sent,
}

/// A shuffle in progress (see [`Session::shuffle_start`]).
#[must_use = "drive the shuffle to completion"]
pub struct ShuffleRun {
    seq: u64,
    shape: Rows,
    lanes: Vec<usize>,
    phase: Phase,
    out: Option<(Vec<u64>, Vec<u64>)>,
    acks: Acks,
}

/// Hashes of the shuffle messages a party received from each party (index
/// by party), for the acknowledgements.
#[derive(Default)]
struct Acks {
    received: [Option<Vec<u8>>; 3],
}

fn ack_hash(session: &SessionId, seq: u64, step: Step, words: &[u64]) -> Vec<u8> {
    let label: &[u8] =
        if step == Step::Shuffle1 { b"triad/shuffle-ack/v1/round1" } else { b"triad/shuffle-ack/v1/round2" };
    crate::open::words_hash(label, session, seq, words)
}

impl Acks {
    fn received(&mut self, s: &Session, from: PartyId, step: Step, seq: u64, words: &[u64]) {
        self.received[from.index()] = Some(ack_hash(&s.id, seq, step, words));
    }

    /// What a party that received nothing from us acknowledges.
    fn nothing(s: &Session, seq: u64) -> Vec<u8> {
        crate::open::words_hash(b"triad/shuffle-ack/v1/nothing", &s.id, seq, &[])
    }
}

impl std::fmt::Debug for ShuffleRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShuffleRun(n={}, w={}, {:?})", self.shape.n, self.shape.w, self.phase)
    }
}

/// Progress of a [`ShuffleRun`].
#[derive(Debug)]
pub enum ShuffleProgress {
    /// Send, receive from each awaited party, step again.
    Continue(Outgoing),
    /// The shuffled columns (unchecked).
    Done(Vec<BoolShare>),
}

fn take(msgs: &mut Vec<Message>, from: PartyId, step: Step) -> Result<Message> {
    let pos =
        msgs.iter().position(|m| m.from == from).ok_or(Error::abort(step, Some(from), "awaited message missing"))?;
    Ok(msgs.swap_remove(pos))
}

impl ShuffleRun {
    /// Consume the awaited messages.
    pub fn step(&mut self, s: &mut Session, mut msgs: Vec<Message>) -> Result<ShuffleProgress> {
        let (seq, len) = (self.seq, self.shape.n * self.shape.w);
        let (prev, next) = (s.me.prev(), s.me.next());
        match self.phase {
            Phase::AwaitB2 => {
                let m = take(&mut msgs, next, Step::Shuffle1)?;
                let b2 = s.expect_from_next(Step::Shuffle1, seq).words(m, len)?;
                self.acks.received(s, next, Step::Shuffle1, seq, &b2);
                let c = s.pair_step(0, seq, &self.shape, &b2)?;
                let y0 = s.pair_prf(0)?.words(Purpose::Shuffle, counter(seq, SUB_OUT), len);
                let y1 = xor(&c, &y0);
                let msg = s.shuffle_msg(Step::Shuffle2, seq, next, y1.clone());
                self.out = Some((y0, y1));
                self.phase = Phase::Sent;
                Ok(ShuffleProgress::Continue(Outgoing { messages: vec![msg], await_from: Vec::new() }))
            }
            Phase::AwaitA1 => {
                let m = take(&mut msgs, next, Step::Shuffle1)?;
                let a1 = s.expect_from_next(Step::Shuffle1, seq).words(m, len)?;
                self.acks.received(s, next, Step::Shuffle1, seq, &a1);
                let a2 = s.pair_step(2, seq, &self.shape, &a1)?;
                let y2 = s.pair_step(0, seq, &self.shape, &a2)?;
                let y0 = s.pair_prf(0)?.words(Purpose::Shuffle, counter(seq, SUB_OUT), len);
                let msg = s.shuffle_msg(Step::Shuffle2, seq, prev, y2.clone());
                self.out = Some((y2, y0));
                self.phase = Phase::Sent;
                Ok(ShuffleProgress::Continue(Outgoing { messages: vec![msg], await_from: Vec::new() }))
            }
            Phase::AwaitY => {
                let m = take(&mut msgs, prev, Step::Shuffle2)?;
                let y1 = s.expect_from_prev(Step::Shuffle2, seq).words(m, len)?;
                self.acks.received(s, prev, Step::Shuffle2, seq, &y1);
                let m = take(&mut msgs, next, Step::Shuffle2)?;
                let y2 = s.expect_from_next(Step::Shuffle2, seq).words(m, len)?;
                self.acks.received(s, next, Step::Shuffle2, seq, &y2);
                self.done(y1, y2)
            }
            Phase::Sent => {
                let (a, b) = self.out.take().ok_or(Error::InvalidArgument("shuffle already finished"))?;
                self.done(a, b)
            }
        }
    }

    /// The acknowledgements, once the shuffle is done: to each neighbour
    /// the hash of the shuffle messages it sent us. Send them, then finish
    /// the returned [`AckPending`] with both neighbours' before releasing
    /// anything that the shuffle messages must precede (the tag key; opens
    /// are refused until then).
    pub fn acknowledge(&self, s: &Session) -> (AckPending, [Message; 2]) {
        let got = |p: PartyId| self.acks.received[p.index()].clone().unwrap_or_else(|| Acks::nothing(s, self.seq));
        let msg = |to: PartyId| Message {
            session: s.id,
            step: Step::ShuffleAck,
            seq: self.seq,
            from: s.me,
            to,
            payload: Payload::Bytes(got(to)),
        };
        (AckPending { seq: self.seq }, [msg(s.me.prev()), msg(s.me.next())])
    }

    fn done(&self, s0: Vec<u64>, s1: Vec<u64>) -> Result<ShuffleProgress> {
        let cols = (0..self.shape.w)
            .map(|c| BoolShare::from_components(self.shape.column(&s0, c), self.shape.column(&s1, c), self.lanes[c]))
            .collect::<Result<Vec<_>>>()?;
        Ok(ShuffleProgress::Done(cols))
    }
}

/// The acknowledgements awaited from both neighbours (see
/// [`ShuffleRun::acknowledge`]).
#[derive(Debug)]
#[must_use = "await both neighbours' acknowledgements"]
pub struct AckPending {
    seq: u64,
}

impl AckPending {
    /// Both neighbours acknowledged. What matters is that they did (their
    /// acknowledgement follows every shuffle message they received); the
    /// hash binds it to those messages for the record, and a shuffle
    /// message altered on its way is the tag check's to catch (the sender's
    /// own view is not evidence), so its content is not compared here.
    pub fn finish(self, s: &mut Session, from_next: Message, from_prev: Message) -> Result<()> {
        s.expect_from_next(Step::ShuffleAck, self.seq).bytes(from_next, 32)?;
        s.expect_from_prev(Step::ShuffleAck, self.seq).bytes(from_prev, 32)?;
        s.unacked_shuffles = s.unacked_shuffles.saturating_sub(1);
        Ok(())
    }
}

/// The tag product awaiting `z_{i+1}` from the next party. `Debug` prints
/// the sequence number and length only.
#[must_use = "finish the tag product with the next party's message"]
pub struct TagPending {
    seq: u64,
    z0: Vec<u64>,
}

impl std::fmt::Debug for TagPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TagPending(seq={}, words={})", self.seq, self.z0.len())
    }
}

impl Session {
    /// Start the MAC tags `t = sum_c kappa_c * col_c` in GF(2^64), one per
    /// row, for a shared key `kappa` with one word per column: the RSS
    /// product of Araki et al. CCS'16 over GF(2^64),
    /// `z_i = sum_c kappa_{c,i} (x_{c,i} + x_{c,i+1}) + kappa_{c,i+1} x_{c,i} + alpha_i`,
    /// sent to the previous party. Not logged for proof: see the module
    /// documentation. The shuffle reads only `P_0`'s two components and
    /// `P_1`'s second, so `z_0` is not sent to `P_2` (whose tag share is
    /// then `(z_2, 0)`, usable only as shuffle input).
    pub fn shuffle_tag_start(&mut self, cols: &[BoolShare], kappa: &BoolShare) -> Result<(TagPending, Outgoing)> {
        self.live(Step::ShuffleTag)?;
        let n = cols.first().map_or(0, BoolShare::words);
        if cols.iter().any(|c| c.words() != n) || kappa.words() != cols.len() {
            return Err(Error::InvalidArgument("tag columns and key differ in length"));
        }
        let seq = self.next_seq();
        let (r0, r1) = self.zero_parts(seq, n);
        let mut z0 = xor(&r0, &r1);
        for (c, col) in cols.iter().enumerate() {
            let (k0, k1) = (MulTable::new(kappa.s0[c]), MulTable::new(kappa.s1[c]));
            for ((z, a), b) in z0.iter_mut().zip(&col.s0).zip(&col.s1) {
                *z ^= k0.mul(a ^ b) ^ k1.mul(*a);
            }
        }
        let (prev, next) = (self.me.prev(), self.me.next());
        let out = match self.me.index() {
            0 => Outgoing { messages: Vec::new(), await_from: vec![next] },
            1 => Outgoing {
                messages: vec![self.shuffle_msg(Step::ShuffleTag, seq, prev, z0.clone())],
                await_from: vec![next],
            },
            _ => Outgoing {
                messages: vec![self.shuffle_msg(Step::ShuffleTag, seq, prev, z0.clone())],
                await_from: Vec::new(),
            },
        };
        Ok((TagPending { seq, z0 }, out))
    }
}

impl TagPending {
    /// Consume the awaited message (`z_{i+1}` from the next party, at `P_0`
    /// and `P_1`): the tag column (64 lanes per row).
    pub fn finish(self, s: &mut Session, mut msgs: Vec<Message>) -> Result<BoolShare> {
        let n = self.z0.len();
        let z1 = if s.me.index() != 2 {
            let m = take(&mut msgs, s.me.next(), Step::ShuffleTag)?;
            s.expect_from_next(Step::ShuffleTag, self.seq).words(m, n)?
        } else {
            vec![0; n]
        };
        BoolShare::from_components(self.z0, z1, 64 * n)
    }
}

fn check_hash(session: &SessionId, seq: u64, words: &[u64]) -> Vec<u8> {
    crate::open::words_hash(b"triad/shuffle-check/v1", session, seq, words)
}

/// The tag check awaiting the neighbours' hashes. `Debug` prints the
/// sequence number only.
#[must_use = "finish the check with the neighbours' messages"]
pub struct CheckPending {
    seq: u64,
    expect: Vec<u8>,
}

impl std::fmt::Debug for CheckPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckPending(seq={})", self.seq)
    }
}

impl Session {
    /// Start checking shuffled rows against their tags: `cols` are the
    /// shuffled columns with the tag column last, `kappa` the opened key (one
    /// word per data column). Sends a hash of `d_{i+1}` to the previous party
    /// and of `d_i` to the next, 32 B each.
    pub fn shuffle_check_start(&mut self, cols: &[BoolShare], kappa: &[u64]) -> Result<(CheckPending, [Message; 2])> {
        self.live(Step::ShuffleCheck)?;
        let (tag, data) = cols.split_last().ok_or(Error::InvalidArgument("no tag column"))?;
        let n = tag.words();
        if data.len() != kappa.len() || data.iter().any(|c| c.words() != n) {
            return Err(Error::InvalidArgument("check columns and key differ in length"));
        }
        let (mut d0, mut d1) = (tag.s0.clone(), tag.s1.clone());
        for (col, k) in data.iter().zip(kappa) {
            let t = MulTable::new(*k);
            for (d, x) in d0.iter_mut().zip(&col.s0) {
                *d ^= t.mul(*x);
            }
            for (d, x) in d1.iter_mut().zip(&col.s1) {
                *d ^= t.mul(*x);
            }
        }
        let seq = self.next_seq();
        let msg = |to, words: &[u64]| Message {
            session: self.id,
            step: Step::ShuffleCheck,
            seq,
            from: self.me,
            to,
            payload: Payload::Bytes(check_hash(&self.id, seq, words)),
        };
        let msgs = [msg(self.me.prev(), &d1), msg(self.me.next(), &d0)];
        Ok((CheckPending { seq, expect: check_hash(&self.id, seq, &xor(&d0, &d1)) }, msgs))
    }
}

impl CheckPending {
    /// Both neighbours' hashes of our missing component must match
    /// `d_i ^ d_{i+1}` (that is, `d = 0`). An abort poisons the session.
    pub fn finish(self, s: &mut Session, from_next: Message, from_prev: Message) -> Result<()> {
        let r = self.finish_inner(s, from_next, from_prev);
        s.poison_on_abort(r)
    }

    fn finish_inner(self, s: &mut Session, from_next: Message, from_prev: Message) -> Result<()> {
        let a = s.expect_from_next(Step::ShuffleCheck, self.seq).bytes(from_next, 32)?;
        let b = s.expect_from_prev(Step::ShuffleCheck, self.seq).bytes(from_prev, 32)?;
        if a != self.expect || b != self.expect {
            return Err(Error::abort(Step::ShuffleCheck, None, "shuffled rows do not match their tags"));
        }
        Ok(())
    }
}

/// Drive a [`ShuffleRun`] to its (unchecked) output, then exchange the
/// acknowledgements: when this returns, every shuffle message of every party
/// has been received by its honest recipient (or we aborted).
fn run_shuffle<E: Engine>(e: &mut E, cols: &[BoolShare]) -> Result<Vec<BoolShare>> {
    let (mut run, mut out) = e.session().shuffle_start(cols)?;
    let shuffled = loop {
        let msgs = e.exchange(out.messages, &out.await_from)?;
        match run.step(e.session(), msgs)? {
            ShuffleProgress::Continue(o) => out = o,
            ShuffleProgress::Done(cols) => break cols,
        }
    };
    let (prev, next) = (e.session().me().prev(), e.session().me().next());
    let (pending, msgs) = run.acknowledge(e.session());
    let mut replies = e.exchange(msgs.into(), &[next, prev])?;
    let (from_prev, from_next) = match (replies.pop(), replies.pop()) {
        (Some(p), Some(n)) => (p, n),
        _ => return Err(Error::abort(Step::ShuffleAck, None, "awaited message missing")),
    };
    pending.finish(e.session(), from_next, from_prev)?;
    Ok(shuffled)
}

/// Shuffle the rows formed by `cols` (each column `n` XOR-shared words) by a
/// permutation no party knows, with malicious security: tag, shuffle, verify
/// every pending gate and open the key, check (module documentation).
/// Soundness error 2^-64 per shuffle. Cost per row: one tag word (sent by
/// `P_1` and `P_2`) plus `w + 1` words in each of the four shuffle messages
/// (`P_0` sends two of them); 3 + 1 rounds, plus one open of `w` words and
/// two 32-byte hashes per party, and the acknowledgement round (two 32-byte
/// hashes per party).
pub fn shuffle<E: Engine>(e: &mut E, cols: &[BoolShare]) -> Result<Vec<BoolShare>> {
    let n = cols.first().map_or(0, BoolShare::words);
    if cols.iter().any(|c| c.words() != n) {
        return Err(Error::InvalidArgument("shuffle columns differ in length"));
    }
    if n == 0 {
        return Ok(cols.to_vec());
    }
    let (prev, next) = (e.session().me().prev(), e.session().me().next());
    let kappa = e.session().random_bits(64 * cols.len());
    let (pending, out) = e.session().shuffle_tag_start(cols, &kappa)?;
    let replies = e.exchange(out.messages, &out.await_from)?;
    let tag = pending.finish(e.session(), replies)?;
    let mut all = cols.to_vec();
    all.push(tag);
    let mut shuffled = run_shuffle(e, &all)?;
    // Both neighbours acknowledged their shuffle messages (`run_shuffle`), so
    // every party's shuffle messages are fixed before any part of the key is
    // released; opening it verifies every pending gate first.
    let kappa = e.open_bits(&kappa)?;
    let (pending, msgs) = e.session().shuffle_check_start(&shuffled, &kappa)?;
    let mut replies = e.exchange(msgs.into(), &[next, prev])?;
    let (from_prev, from_next) = match (replies.pop(), replies.pop()) {
        (Some(p), Some(n)) => (p, n),
        _ => return Err(Error::abort(Step::ShuffleCheck, None, "awaited message missing")),
    };
    pending.finish(e.session(), from_next, from_prev)?;
    shuffled.pop();
    Ok(shuffled)
}
