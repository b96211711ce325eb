//! Batched verification of all logged gates by distributed zero-knowledge
//! proofs (Boyle, Gilboa, Ishai, Nof, CCS'19, ePrint 2019/1390, Sec. 4 for
//! the three-party setting): each party proves that every message it sent
//! was computed correctly; its two neighbours, who together hold everything
//! the prover used, verify. Proof messages are additively shared between the
//! two verifiers; the share towards the previous neighbour is expanded from
//! their common PRF key, so only one share is sent.
//!
//! All three proofs of a batch use the same randomness (`chi`, `lambda`, the
//! round challenges): each is a *common draw*, the XOR of one 16-byte term
//! per pair key. `P_i` lacks the term under `k_{i-1}`, held by both its
//! neighbours. It gets that term from the neighbour that *received* the
//! messages the draw must follow, after it received them, and checks it
//! against the hash the other holder sent first:
//!
//! * `chi` must follow `P_i`'s gate messages, which go to `P_{i-1}`: the term
//!   comes from `P_{i-1}`, which starts a verification only once every gate
//!   is finished ([`Session::verify_start`] refuses otherwise), i.e. after
//!   it received all of `P_i`'s gate messages; the hash from `P_{i+1}`.
//! * `lambda` and the round challenges must follow `P_i`'s proof messages,
//!   which go to `P_{i+1}`: the terms come from `P_{i+1}`, the hashes from
//!   `P_{i-1}`.
//!
//! A corrupt party may hold back any send until it has read everything the
//! honest parties send without it; with this order it still learns each
//! draw only after its binding messages reached an honest party that checks
//! them (`docs/protocols/message-order.md`). Its two honest verifiers use
//! exactly that draw; and a party's prover vectors are the sums of its own
//! two verifier shares (one round-0 pass for three roles).
//!
//! # Protocol (prover `P_i`, verifiers `V_prev = P_{i-1}`, `V_next = P_{i+1}`)
//! 1. `ProofSeed`: every party sends its next neighbour its `chi` term and
//!    the hashes of its other terms under the key that neighbour lacks, and
//!    its previous neighbour the hash of its `chi` term under the key that
//!    neighbour lacks.
//! 2. `ProofCarry`: `P_i` shares the pad product and (rings only; ePrint
//!    2024/700, Sec. 4) the 48 carries `C_t = (sum_j chi_{t,j} E_j) / 2^64`.
//! 3. `ProofLambda`: `V_next` sends its term of the coefficients `lambda_t`
//!    (rings) or `alpha_w` (GF(2^64)). The claim is an inner product
//!    `<u, v> = c` over the logged terms.
//! 4. `ProofRound(r)` / `ProofChallenge(r)`: `P_i` splits `u, v` into `k`
//!    blocks and shares the `k^2 - 1` cross products `<u^a, v^b>` (the
//!    diagonal `(0,0)` is implied by the claim); `V_next` answers with its
//!    term of the challenges `r_a, s_b` (`r_0 = s_0 = 1`); all fold
//!    `u' = sum_a r_a u^a`, `v' = sum_b s_b v^b`,
//!    `c' = sum_{a,b} r_a s_b <u^a, v^b>` (ePrint 2024/700, Sec. 4; the k^2
//!    form avoids interpolation, which Z_2^k lacks). Round 0 is the
//!    instance's own (`Instance::K0`, computed from the log, never storing
//!    the full-length vectors); then the pads enter slot 0 and the pad
//!    product the claim; later rounds fold by `K`.
//! 5. `ProofFinal`: the verifiers exchange their shares of the length-1
//!    `u, v, c` and check `u v = c`. Slot 0 keeps coefficient 1 through all
//!    folds, so the revealed `u, v` are masked by the pads.
//!
//! Soundness and costs are discussed in `docs/protocols/mpc-core.md`.

mod and;
mod inst;
mod mult;
mod ring;

pub(crate) use inst::Buffers;
use inst::{Instance, Pool, Shares};
use ring::VRing;

use crate::prf::Purpose;
use crate::session::BoolLog;
use crate::{Error, Message, PartyId, Payload, Result, Session, Step};
use mult::{ArithInst, K0_DOTS, K0_PRODUCTS};
use ring::{Z128, Z192};

/// Fold factor of the rounds after round 0 (each instance chooses its own
/// round 0, the full-length one). The cross products of all these rounds
/// cost `K^2 / (K - 1)` multiply-adds per element of the round-1 vectors
/// and the folds one, whatever `K`: 4 (5.3) beats 8 (9.1) for two more
/// rounds.
pub(crate) const K: usize = 4;

/// What a verification needs of the session, copied at its start so that a
/// [`Verify`] can run on another thread while the session goes on.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub(crate) id: crate::SessionId,
    pub(crate) me: PartyId,
    pub(crate) prf_prev: crate::prf::Prf,
    pub(crate) prf_next: crate::prf::Prf,
}

impl Ctx {
    fn expect_from_next(&self, step: Step, seq: u64) -> crate::message::Expect {
        crate::message::Expect { session: self.id, step, seq, from: self.me.next(), to: self.me }
    }

    fn expect_from_prev(&self, step: Step, seq: u64) -> crate::message::Expect {
        crate::message::Expect { session: self.id, step, seq, from: self.me.prev(), to: self.me }
    }
}

const SUB_CHI: u64 = 1;
const SUB_LAMBDA: u64 = 2;
const SUB_PAD: u64 = 3;
const SUB_CARRY: u64 = 4;
const SUB_ROUND: u64 = 0x100;
const SUB_CHAL: u64 = 0x200;

/// Messages to send and the parties to receive exactly one message from
/// before the next call to [`Verify::step`].
#[derive(Debug)]
pub struct Outgoing {
    /// Messages to send.
    pub messages: Vec<Message>,
    /// Parties from which exactly one message each is expected next.
    pub await_from: Vec<PartyId>,
}

/// Progress of a verification.
#[derive(Debug)]
pub enum Progress {
    /// Send, then receive and call [`Verify::step`] again.
    Continue(Outgoing),
    /// Every gate logged before [`Session::verify_start`] is verified.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Seed,
    Carry,
    Lambda,
    Round(u8),
    Challenge(u8),
    Final,
}

struct Run<I: Instance> {
    inst: I,
    ctr: u64,
    /// Length after round 0 (without the pad slot).
    len: usize,
    rounds: u8,
    phase: Phase,
    /// The common seeds of `chi` and `lambda` (all three proofs use them).
    chi_seed: [u8; 16],
    lambda: [u8; 16],
    /// The hashes of the terms under the key `k_{i-1}` we lack, one per
    /// draw in [`Run::draws`] order: `chi`'s from the next party, the
    /// others' from the previous one (see [`Run::common`]).
    commits: Vec<u8>,
    /// Pad product shares of the (V_prev, V_next) roles, added after
    /// round 0.
    padprod: (I::R, I::R),
    /// V_next role: carry shares received from the prover.
    carry_in: Vec<I::R>,
    /// Slot 0 of the prover's `(u, v)` minus that of the two verifier
    /// shares, fixed after round 0 (see `prover_after`).
    slot0: (I::R, I::R),
    /// V_next role: the prover's cross-product shares of the current round,
    /// kept until the round's challenges are known.
    cross_in: Vec<I::R>,
    prover: Option<Shares<I::R>>,
    vprev: Option<Shares<I::R>>,
    vnext: Option<Shares<I::R>>,
    /// The session's recycled vectors, returned by `recycle`.
    pool: Pool<I::R>,
}

impl<I: Instance> std::fmt::Debug for Run<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Run(len={}, phase={:?})", self.len, self.phase)
    }
}

fn sub(ctr: u64, prover: PartyId, what: u64) -> u64 {
    (ctr << 20) | ((prover.index() as u64) << 16) | what
}

/// The `sub` counter of a common draw (prover field 3: no single prover).
fn sub_common(ctr: u64, what: u64) -> u64 {
    (ctr << 20) | (3 << 16) | what
}

/// One pair key's term of common draw `what`.
fn draw_term(prf: &crate::prf::Prf, ctr: u64, what: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    prf.fill_bytes(Purpose::Challenge, sub_common(ctr, what), &mut b);
    b
}

/// The hash that commits to a term (hiding it: the term is a 128-bit PRF
/// value).
fn draw_term_hash(s: &Ctx, ctr: u64, what: u64, t: &[u8; 16]) -> Vec<u8> {
    let x = u128::from_le_bytes(*t);
    crate::open::words_hash(b"triad dzkp common term", &s.id, sub_common(ctr, what), &[x as u64, (x >> 64) as u64])
}

const HASH: usize = 32;

fn ring_vec<R: VRing>(s: &Ctx, use_next_key: bool, purpose: Purpose, counter: u64, n: usize) -> Vec<R> {
    let prf = if use_next_key { &s.prf_next } else { &s.prf_prev };
    prf.wide(purpose, counter, n * R::WIRE).chunks_exact(R::WIRE).map(R::from_random).collect()
}

fn decode_ring<R: VRing>(w: Vec<u128>, step: Step, from: PartyId) -> Result<Vec<R>> {
    w.chunks_exact(R::WIRE)
        .map(|x| R::from_wire(x).ok_or(Error::abort(step, Some(from), "non-canonical ring element")))
        .collect()
}

/// Number of fold rounds taking length `len` to 1.
fn rounds_for(len: usize) -> u8 {
    let (mut l, mut r) = (len, 0u8);
    while l > 1 {
        l = l.div_ceil(K);
        r += 1;
    }
    r
}

/// Pad `x` with zeros to `K * m` elements, `m = ceil(len / K)`; returns `m`.
fn pad_to_blocks<R: VRing>(x: &mut Vec<R>) -> usize {
    let m = x.len().div_ceil(K);
    x.resize(K * m, R::ZERO);
    m
}

/// `x'[j] = x[j] + sum_{a>=1} r_a x[a m + j]` for `j < m`; `x` has `K m`
/// elements and is truncated to `m`.
fn fold<R: VRing>(x: &mut Vec<R>, r: &[R]) {
    let m = pad_to_blocks(x);
    // A verifier's share that is zero outside the pad slot (the AND proof's
    // `v` at V_prev, `u` at V_next) stays so: skip the products.
    if x.iter().skip(1).all(|e| *e == R::ZERO) {
        x.truncate(m);
        return;
    }
    R::fold_blocks(x, m, r);
    x.truncate(m);
}

/// Fold a verifier's claim share from its cross-product shares `x` (with
/// `x[0]` missing) and challenges (`k = r.len()`).
fn fold_claim<R: VRing>(c: R, x: &[R], r: &[R], s: &[R]) -> R {
    let k = r.len();
    let mut full = Vec::with_capacity(k * k);
    full.push(R::ZERO);
    full.extend_from_slice(x);
    let mut d = c;
    for a in 1..k {
        d = d.sub(full[a * k + a]);
    }
    full[0] = d;
    let mut out = R::ZERO;
    for a in 0..k {
        let mut row = R::ZERO;
        for b in 0..k {
            row = row.add(s[b].mul(full[a * k + b]));
        }
        out = out.add(r[a].mul(row));
    }
    out
}

impl<I: Instance> Run<I> {
    /// Fold factor of `round`: the instance's own in round 0, `K` after.
    fn k(round: u8) -> usize {
        if round == 0 { I::K0 } else { K }
    }

    fn new(s: &mut Session, inst: I) -> Run<I> {
        let ctr = s.next_seq();
        let pool = std::mem::take(s.proof_buffers.pool::<I::R>());
        let len = inst.folded_len();
        let rounds = 1 + rounds_for(1 + len); // + the pad slot
        Run {
            inst,
            ctr,
            len,
            rounds,
            phase: Phase::Seed,
            chi_seed: [0; 16],
            lambda: [0; 16],
            commits: Vec::new(),
            padprod: (I::R::ZERO, I::R::ZERO),
            carry_in: Vec::new(),
            slot0: (I::R::ZERO, I::R::ZERO),
            cross_in: Vec::new(),
            prover: None,
            vprev: None,
            vnext: None,
            pool,
        }
    }

    fn msg(&self, s: &Ctx, to: PartyId, step: Step, payload: Payload) -> Message {
        Message { session: s.id, step, seq: self.ctr, from: s.me, to, payload }
    }

    fn wide_msg(&self, s: &Ctx, to: PartyId, step: Step, xs: &[I::R]) -> Message {
        let mut w = Vec::with_capacity(xs.len() * I::R::WIRE);
        xs.iter().for_each(|x| x.to_wire(&mut w));
        self.msg(s, to, step, Payload::Wide(w))
    }

    /// The common draws, in commitment order: `chi`, `lambda`, the
    /// challenges of each round.
    fn draws(&self) -> Vec<u64> {
        [SUB_CHI, SUB_LAMBDA].into_iter().chain((0..self.rounds as u64).map(|r| SUB_CHAL | r)).collect()
    }

    /// Our `ProofSeed` to the next party, under `k_i` (the key it lacks):
    /// our `chi` term (the next party's gate messages reached us: every gate
    /// is finished) and the hashes of our terms of every later draw.
    fn seed_to_next(&self, s: &Ctx) -> Message {
        let mut body = draw_term(&s.prf_prev, self.ctr, SUB_CHI).to_vec();
        for d in self.draws().into_iter().skip(1) {
            body.extend(draw_term_hash(s, self.ctr, d, &draw_term(&s.prf_prev, self.ctr, d)));
        }
        self.msg(s, s.me.next(), Step::ProofSeed, Payload::Bytes(body))
    }

    /// Our `ProofSeed` to the previous party: the hash of our `chi` term
    /// under `k_{i+1}` (the key it lacks). The term itself reaches it from
    /// its previous party, the receiver of its gate messages.
    fn seed_to_prev(&self, s: &Ctx) -> Message {
        let hash = draw_term_hash(s, self.ctr, SUB_CHI, &draw_term(&s.prf_next, self.ctr, SUB_CHI));
        self.msg(s, s.me.prev(), Step::ProofSeed, Payload::Bytes(hash))
    }

    /// Our term of draw `what` for the previous party: under `k_{i+1}`,
    /// the key it lacks.
    fn draw_term_msg(&self, s: &Ctx, step: Step, what: u64) -> Message {
        self.msg(s, s.me.prev(), step, Payload::Bytes(draw_term(&s.prf_next, self.ctr, what).to_vec()))
    }

    /// Common draw `what` (all three proofs use it): the XOR of the three
    /// pair keys' terms. We hold `k_i` and `k_{i+1}`; the term under
    /// `k_{i-1}` was `received` from the neighbour that had received the
    /// messages of ours the draw must follow, and is checked, before any
    /// use, against the hash the other holder of `k_{i-1}` committed to in
    /// `ProofSeed`. A mismatch aborts with no party blamed: we cannot tell
    /// which neighbour lied. See `docs/protocols/mpc-core.md` §3.
    fn common(&self, s: &Ctx, what: u64, received: &[u8], from: PartyId, step: Step) -> Result<[u8; 16]> {
        let t: [u8; 16] = received.try_into().map_err(|_| Error::abort(step, Some(from), "wrong term length"))?;
        let at = self.draws().iter().position(|&d| d == what).ok_or(Error::InvalidArgument("unknown draw"))? * HASH;
        if self.commits.get(at..at + HASH) != Some(&draw_term_hash(s, self.ctr, what, &t)[..]) {
            return Err(Error::abort(step, None, "a challenge term does not match its commitment"));
        }
        let (a, b) = (draw_term(&s.prf_prev, self.ctr, what), draw_term(&s.prf_next, self.ctr, what));
        Ok(std::array::from_fn(|i| a[i] ^ b[i] ^ t[i]))
    }

    /// The challenges `(r, s)` of `round` from its common seed.
    fn challenges(s: &Ctx, seed: &[u8; 16], round: u8) -> (Vec<I::R>, Vec<I::R>) {
        let k = Self::k(round);
        let raw: Vec<I::R> = crate::prf::Prf::new(seed, &s.id)
            .wide(Purpose::Challenge, 0, 2 * (k - 1) * I::R::WIRE)
            .chunks_exact(I::R::WIRE)
            .map(I::R::from_random)
            .collect();
        let mut r = vec![I::R::ONE];
        r.extend_from_slice(&raw[..k - 1]);
        let mut t = vec![I::R::ONE];
        t.extend_from_slice(&raw[k - 1..]);
        (r, t)
    }

    /// Pads `(u_0, v_0)` shares: the prover's previous pair key part and next
    /// pair key part.
    fn pad_part(&self, s: &Ctx, prover: PartyId, use_next: bool) -> Vec<I::R> {
        ring_vec(s, use_next, Purpose::Pad, sub(self.ctr, prover, SUB_PAD), 2)
    }

    fn start(&mut self, s: &Ctx) -> Outgoing {
        // Step 1: our `chi` term and the hashes of our later terms to the
        // next party, the hash of our `chi` term to the previous one.
        let to_next = self.seed_to_next(s);
        let to_prev = self.seed_to_prev(s);
        Outgoing { messages: vec![to_next, to_prev], await_from: vec![s.me.next(), s.me.prev()] }
    }

    fn prover_round_msg(&mut self, s: &Ctx, round: u8) -> Result<Message> {
        let p = self.prover.as_mut().ok_or(Error::InvalidArgument("prover state missing"))?;
        let m = pad_to_blocks(&mut p.u);
        pad_to_blocks(&mut p.v);
        let cross = I::R::cross(&p.u, &p.v, K, m);
        Ok(self.cross_msg(s, round, &cross))
    }

    /// The prover's round message: cross products minus the share of
    /// `V_prev` (drawn from their common key), without entry `(0,0)`.
    fn cross_msg(&self, s: &Ctx, round: u8, cross: &[I::R]) -> Message {
        let k = Self::k(round);
        let mask: Vec<I::R> =
            ring_vec(s, false, Purpose::ProofShare, sub(self.ctr, s.me, SUB_ROUND | round as u64), k * k - 1);
        let body: Vec<I::R> = cross[1..].iter().zip(&mask).map(|(c, r)| c.sub(*r)).collect();
        self.wide_msg(s, s.me.next(), Step::ProofRound(round), &body)
    }

    /// Put the pad shares in slot 0 and add the pad product after round 0.
    fn add_pads(x: &mut Shares<I::R>, pad: &[I::R], padprod: I::R) {
        if let (Some(u), Some(v)) = (x.u.first_mut(), x.v.first_mut()) {
            *u = pad[0];
            *v = pad[1];
        }
        x.c = x.c.add(padprod);
    }

    /// Round 0 of all three roles, once its challenges are known: the
    /// prover's folded vectors (pads in slot 0) and the verifiers' folded
    /// shares and claim shares before round 0.
    fn round0(&mut self, s: &Ctx, cr: &[I::R], cs: &[I::R]) -> Result<()> {
        let next = s.me.next();
        // V_prev role (prover = next): carry shares from the key we share
        // with the prover; V_next role: those it sent.
        let carry: Vec<I::R> =
            ring_vec(s, true, Purpose::ProofShare, sub(self.ctr, next, SUB_CARRY), self.inst.n_carries() + 1);
        let carry_in = std::mem::take(&mut self.carry_in);
        if carry_in.len() != self.inst.n_carries() + 1 {
            return Err(Error::InvalidArgument("carry shares missing"));
        }
        let r0 = self.inst.round0_all(&s.id, &self.chi_seed, &self.lambda, &carry, &carry_in, cr, cs, &mut self.pool);
        self.padprod = (carry[carry.len() - 1], carry_in[carry_in.len() - 1]);
        let pu = self.pad_part(s, s.me, false);
        let pv = self.pad_part(s, s.me, true);
        let mut p = r0.prover;
        Self::add_pads(&mut p, &[pu[0].add(pv[0]), pu[1].add(pv[1])], I::R::ZERO);
        self.prover = Some(p);
        self.vprev = Some(r0.prev);
        self.vnext = Some(r0.next);
        Ok(())
    }

    /// The verifiers' claim shares after round `r` (and, after round 0, the
    /// pads); their vectors after later rounds.
    fn verifiers_after(&mut self, s: &Ctx, r: u8, cr: &[I::R], cs: &[I::R]) -> Result<()> {
        let (prev, next) = (s.me.prev(), s.me.next());
        let k = Self::k(r);
        let pad_n = self.pad_part(s, prev, false);
        let pad_p = self.pad_part(s, next, true);
        let padprod = self.padprod;
        let x_next = std::mem::take(&mut self.cross_in);
        // As V_prev of next: its shares come from our common key.
        let x_prev: Vec<I::R> =
            ring_vec(s, true, Purpose::ProofShare, sub(self.ctr, next, SUB_ROUND | r as u64), k * k - 1);
        let vn = self.vnext.as_mut().ok_or(Error::InvalidArgument("verifier state missing"))?;
        vn.c = fold_claim(vn.c, &x_next, cr, cs);
        let vp = self.vprev.as_mut().ok_or(Error::InvalidArgument("verifier state missing"))?;
        vp.c = fold_claim(vp.c, &x_prev, cr, cs);
        if r == 0 {
            // Round 0 was folded while building.
            if let Some(vn) = self.vnext.as_mut() {
                Self::add_pads(vn, &pad_n, padprod.1);
            }
            if let Some(vp) = self.vprev.as_mut() {
                Self::add_pads(vp, &pad_p, padprod.0);
            }
        } else {
            for x in [self.vnext.as_mut(), self.vprev.as_mut()].into_iter().flatten() {
                fold(&mut x.u, cr);
                fold(&mut x.v, cs);
            }
        }
        Ok(())
    }

    /// The prover's vectors after a later round: folded, or (common
    /// randomness, `I::PROVER_IS_SUM`) the sums of the verifier shares just
    /// folded with the same challenges, slot 0 keeping its difference (the
    /// pads: slot 0 keeps coefficient 1 through every fold).
    fn prover_after(&mut self, cr: &[I::R], cs: &[I::R]) -> Result<()> {
        let p = self.prover.as_mut().ok_or(Error::InvalidArgument("prover state missing"))?;
        let (Some(vp), Some(vn)) = (self.vprev.as_ref(), self.vnext.as_ref()) else {
            return Err(Error::InvalidArgument("verifier state missing"));
        };
        if !I::PROVER_IS_SUM || vp.u.len() != vn.u.len() || vp.v.len() != vn.v.len() {
            fold(&mut p.u, cr);
            fold(&mut p.v, cs);
            return Ok(());
        }
        for (x, a, b, d) in [(&mut p.u, &vp.u, &vn.u, self.slot0.0), (&mut p.v, &vp.v, &vn.v, self.slot0.1)] {
            x.clear();
            x.extend(a.iter().zip(b).map(|(a, b)| a.add(*b)));
            if let Some(x0) = x.first_mut() {
                *x0 = x0.add(d);
            }
        }
        Ok(())
    }

    /// Slot 0 of the prover's `(u, v)` minus that of the two verifier
    /// shares (the other slots agree when `I::PROVER_IS_SUM`).
    fn slot0_diff(&self) -> Result<(I::R, I::R)> {
        let (Some(p), Some(vp), Some(vn)) = (self.prover.as_ref(), self.vprev.as_ref(), self.vnext.as_ref()) else {
            return Err(Error::InvalidArgument("proof state missing"));
        };
        let at0 = |x: &[I::R]| x.first().copied().unwrap_or(I::R::ZERO);
        Ok((at0(&p.u).sub(at0(&vp.u).add(at0(&vn.u))), at0(&p.v).sub(at0(&vp.v).add(at0(&vn.v)))))
    }

    fn one(msgs: &mut Vec<Message>, from: PartyId, step: Step) -> Result<Message> {
        let pos = msgs.iter().position(|m| m.from == from).ok_or(Error::abort(
            step,
            Some(from),
            "awaited message missing",
        ))?;
        Ok(msgs.swap_remove(pos))
    }

    /// Returns `None` when finished.
    fn step(&mut self, s: &Ctx, mut msgs: Vec<Message>) -> Result<Option<Outgoing>> {
        let (prev, next) = (s.me.prev(), s.me.next());
        match self.phase {
            Phase::Seed => {
                // This round stays for every job, the AND proof's included
                // (it uses no `chi`): our next party answers `ProofLambda`
                // only after this step, i.e. after our previous party's
                // seed, which it sends only once it received all our gate
                // messages; so `alpha`/`lambda` follow them too.
                // The hash of our missing chi term from next; the term and
                // the hashes of our later missing terms from prev.
                let mn = Self::one(&mut msgs, next, Step::ProofSeed)?;
                self.commits = s.expect_from_next(Step::ProofSeed, self.ctr).bytes(mn, HASH)?;
                let mp = Self::one(&mut msgs, prev, Step::ProofSeed)?;
                let later = self.draws().len() - 1;
                let mut body = s.expect_from_prev(Step::ProofSeed, self.ctr).bytes(mp, 16 + later * HASH)?;
                self.commits.extend_from_slice(&body[16..]);
                body.truncate(16);
                self.chi_seed = self.common(s, SUB_CHI, &body, prev, Step::ProofSeed)?;
                // As prover: the carries.
                let carries = self.inst.prover_carries(&s.id, &self.chi_seed);
                let pu = self.pad_part(s, s.me, false);
                let pv = self.pad_part(s, s.me, true);
                let (pad_u, pad_v) = (pu[0].add(pv[0]), pu[1].add(pv[1]));
                let mut vals = carries;
                vals.push(pad_u.mul(pad_v));
                let mask: Vec<I::R> =
                    ring_vec(s, false, Purpose::ProofShare, sub(self.ctr, s.me, SUB_CARRY), vals.len());
                let body: Vec<I::R> = vals.iter().zip(&mask).map(|(v, r)| v.sub(*r)).collect();
                self.phase = Phase::Carry;
                Ok(Some(Outgoing {
                    messages: vec![self.wide_msg(s, next, Step::ProofCarry, &body)],
                    await_from: vec![prev],
                }))
            }
            Phase::Carry => {
                // As V_next of prev: its carry shares; answer with our
                // lambda term (only now: prev has committed its carries).
                let m = Self::one(&mut msgs, prev, Step::ProofCarry)?;
                let n = self.inst.n_carries() + 1;
                let w = s.expect_from_prev(Step::ProofCarry, self.ctr).wide(m, n * I::R::WIRE)?;
                self.carry_in = decode_ring(w, Step::ProofCarry, prev)?;
                self.phase = Phase::Lambda;
                Ok(Some(Outgoing {
                    messages: vec![self.draw_term_msg(s, Step::ProofLambda, SUB_LAMBDA)],
                    await_from: vec![next],
                }))
            }
            Phase::Lambda => {
                let m = Self::one(&mut msgs, next, Step::ProofLambda)?;
                let t = s.expect_from_next(Step::ProofLambda, self.ctr).bytes(m, 16)?;
                self.lambda = self.common(s, SUB_LAMBDA, &t, next, Step::ProofLambda)?;
                let cross = self.inst.prover_cross0(&s.id, &self.chi_seed, &self.lambda);
                let msg = self.cross_msg(s, 0, &cross);
                self.phase = Phase::Round(0);
                Ok(Some(Outgoing { messages: vec![msg], await_from: vec![prev] }))
            }
            Phase::Round(r) => {
                // As V_next of prev: its cross-product shares; answer with
                // our term of the round's challenges.
                let m = Self::one(&mut msgs, prev, Step::ProofRound(r))?;
                let k = Self::k(r);
                let w = s.expect_from_prev(Step::ProofRound(r), self.ctr).wide(m, (k * k - 1) * I::R::WIRE)?;
                self.cross_in = decode_ring(w, Step::ProofRound(r), prev)?;
                self.phase = Phase::Challenge(r);
                Ok(Some(Outgoing {
                    messages: vec![self.draw_term_msg(s, Step::ProofChallenge(r), SUB_CHAL | r as u64)],
                    await_from: vec![next],
                }))
            }
            Phase::Challenge(r) => {
                let m = Self::one(&mut msgs, next, Step::ProofChallenge(r))?;
                let t = s.expect_from_next(Step::ProofChallenge(r), self.ctr).bytes(m, 16)?;
                let seed = self.common(s, SUB_CHAL | r as u64, &t, next, Step::ProofChallenge(r))?;
                let (cr, cs) = Self::challenges(s, &seed, r);
                if r == 0 {
                    self.round0(s, &cr, &cs)?;
                    self.verifiers_after(s, r, &cr, &cs)?;
                    self.slot0 = self.slot0_diff()?;
                } else {
                    self.verifiers_after(s, r, &cr, &cs)?;
                    self.prover_after(&cr, &cs)?;
                }
                if r + 1 < self.rounds {
                    self.phase = Phase::Round(r + 1);
                    return Ok(Some(Outgoing {
                        messages: vec![self.prover_round_msg(s, r + 1)?],
                        await_from: vec![prev],
                    }));
                }
                // Final: exchange the verifiers' shares.
                let vp = self.vprev.as_ref().ok_or(Error::InvalidArgument("verifier state missing"))?;
                let vn = self.vnext.as_ref().ok_or(Error::InvalidArgument("verifier state missing"))?;
                let to_prev = self.wide_msg(s, prev, Step::ProofFinal, &[vp.u[0], vp.v[0], vp.c]);
                let to_next = self.wide_msg(s, next, Step::ProofFinal, &[vn.u[0], vn.v[0], vn.c]);
                self.phase = Phase::Final;
                Ok(Some(Outgoing { messages: vec![to_prev, to_next], await_from: vec![prev, next] }))
            }
            Phase::Final => {
                let mp = Self::one(&mut msgs, prev, Step::ProofFinal)?;
                let mn = Self::one(&mut msgs, next, Step::ProofFinal)?;
                let wp = decode_ring::<I::R>(
                    s.expect_from_prev(Step::ProofFinal, self.ctr).wide(mp, 3 * I::R::WIRE)?,
                    Step::ProofFinal,
                    prev,
                )?;
                let wn = decode_ring::<I::R>(
                    s.expect_from_next(Step::ProofFinal, self.ctr).wide(mn, 3 * I::R::WIRE)?,
                    Step::ProofFinal,
                    next,
                )?;
                // From prev: the other verifier's share for the proof of our
                // next party (our V_prev role); from next: for our prev's proof.
                let vp = self.vprev.as_ref().ok_or(Error::InvalidArgument("verifier state missing"))?;
                let vn = self.vnext.as_ref().ok_or(Error::InvalidArgument("verifier state missing"))?;
                for (mine, theirs) in [(vp, &wp), (vn, &wn)] {
                    let u = mine.u[0].add(theirs[0]);
                    let v = mine.v[0].add(theirs[1]);
                    let c = mine.c.add(theirs[2]);
                    if u.mul(v) != c {
                        return Err(Error::abort(Step::ProofFinal, None, "a neighbour's gates failed verification"));
                    }
                }
                Ok(None)
            }
        }
    }
}

impl<I: Instance> Run<I> {
    /// Give the log and the vectors back to the session.
    fn recycle(mut self, s: &mut Session) {
        for x in [self.prover.take(), self.vprev.take(), self.vnext.take()].into_iter().flatten() {
            self.pool.put(x.u);
            self.pool.put(x.v);
        }
        *s.proof_buffers.pool::<I::R>() = self.pool;
        self.inst.recycle(s);
    }
}

enum Job {
    /// Only with the test-only weak ring (`ArithProofRing::Z2_128`).
    #[cfg_attr(not(any(test, feature = "deviation")), allow(dead_code))]
    Arith128(Run<ArithInst<Z128, K0_PRODUCTS>>),
    #[cfg_attr(not(any(test, feature = "deviation")), allow(dead_code))]
    Arith128Dots(Run<ArithInst<Z128, K0_DOTS>>),
    Arith192(Run<ArithInst<Z192, K0_PRODUCTS>>),
    /// A log of long dot products (the wider round-0 fold).
    Arith192Dots(Run<ArithInst<Z192, K0_DOTS>>),
    Bool(Run<BoolLog>),
}

/// Whether a log's round 0 takes the dot products' fold factor: its
/// relations average at least `K0_DOTS` terms (the same choice at every
/// party: all three log the same program).
fn long_dots(log: &crate::session::ArithLog) -> bool {
    log.x0.len() >= K0_DOTS * log.relations()
}

/// A verification of every gate logged so far (arithmetic first, then
/// boolean), driven by [`Verify::step`]. It owns everything it needs
/// (`Send`), so a driver may also run it on another thread with
/// [`Verify::step_detached`] while the session evaluates the next gates;
/// opens stay refused until [`Verify::complete`] hands it back.
///
/// A failed run is poisoned: once a step returned an error, every later
/// step and [`Verify::complete`] return an error, and the open-lock is never
/// released. An abort also poisons the session ([`Session::is_poisoned`]),
/// at once through [`Verify::step`] or at [`Verify::complete`] after
/// [`Verify::step_detached`].
pub struct Verify {
    ctx: Ctx,
    jobs: Vec<Job>,
    done: Vec<Job>,
    finished: bool,
    /// A step returned an error (or the session was poisoned at the start).
    failed: bool,
}

impl std::fmt::Debug for Verify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verify(jobs={})", self.jobs.len())
    }
}

impl Session {
    /// Start verifying all logged gates; the log is taken over by the
    /// verification. Returns [`Progress::Done`] at once if nothing is logged.
    /// All three parties must call it at the same point of the program.
    ///
    /// Refuses while a started gate is unfinished: the first message of a
    /// verification releases the previous party's `chi` term, which must
    /// follow every gate message that party sent us (module documentation).
    pub fn verify_start(&mut self) -> Result<(Verify, Progress)> {
        self.live(Step::ProofSeed)?;
        if self.unfinished > 0 {
            return Err(Error::InvalidArgument("a gate is unfinished: finish every started gate before verifying"));
        }
        let mut jobs = Vec::new();
        if self.arith_log.relations() > 0 {
            let mut log = std::mem::take(&mut self.arith_log);
            log.seal();
            let spare = std::mem::take(&mut self.proof_buffers.chi_rows);
            let dots = long_dots(&log);
            jobs.push(match self.config.arith_ring {
                #[cfg(any(test, feature = "deviation"))]
                crate::ArithProofRing::Z2_128 if dots => Job::Arith128Dots(Run::new(self, ArithInst::new(log, spare))),
                #[cfg(any(test, feature = "deviation"))]
                crate::ArithProofRing::Z2_128 => Job::Arith128(Run::new(self, ArithInst::new(log, spare))),
                crate::ArithProofRing::Z2_192 if dots => Job::Arith192Dots(Run::new(self, ArithInst::new(log, spare))),
                crate::ArithProofRing::Z2_192 => Job::Arith192(Run::new(self, ArithInst::new(log, spare))),
            });
        }
        if self.bool_log.words() > 0 {
            let log = std::mem::take(&mut self.bool_log);
            jobs.push(Job::Bool(Run::new(self, log)));
        }
        self.verify_batches += 1;
        if !jobs.is_empty() {
            self.in_flight += 1;
        }
        jobs.reverse();
        let ctx = Ctx { id: self.id, me: self.me, prf_prev: self.prf_prev.clone(), prf_next: self.prf_next.clone() };
        // Nothing logged: finished at once (and nothing was counted in flight).
        let finished = jobs.is_empty();
        let mut v = Verify { ctx, jobs, done: Vec::new(), finished, failed: false };
        let p = v.start_next();
        Ok((v, p))
    }
}

impl Verify {
    fn start_next(&mut self) -> Progress {
        match self.jobs.last_mut() {
            None => Progress::Done,
            Some(Job::Arith128(r)) => Progress::Continue(r.start(&self.ctx)),
            Some(Job::Arith128Dots(r)) => Progress::Continue(r.start(&self.ctx)),
            Some(Job::Arith192(r)) => Progress::Continue(r.start(&self.ctx)),
            Some(Job::Arith192Dots(r)) => Progress::Continue(r.start(&self.ctx)),
            Some(Job::Bool(r)) => Progress::Continue(r.start(&self.ctx)),
        }
    }

    /// Consume one message from each awaited party. When it returns
    /// [`Progress::Done`], the verified gates are released for opening.
    /// `s` must be the session the verification was started from; an abort
    /// poisons it.
    pub fn step(&mut self, s: &mut Session, msgs: Vec<Message>) -> Result<Progress> {
        self.same_session(s)?;
        if let Err(e) = s.live(Step::ProofFinal) {
            self.failed = true;
            return Err(e);
        }
        let p = self.step_detached(msgs);
        let p = s.poison_on_abort(p)?;
        if matches!(p, Progress::Done) {
            self.complete(s)?;
        }
        Ok(p)
    }

    /// [`Verify::step`] without the session (e.g. on another thread). After
    /// [`Progress::Done`], call [`Verify::complete`] with the session. After
    /// an error, every later call returns an error.
    pub fn step_detached(&mut self, msgs: Vec<Message>) -> Result<Progress> {
        if self.failed {
            return Err(Error::abort(Step::ProofFinal, None, "this verification failed earlier"));
        }
        let r = self.step_jobs(msgs);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn same_session(&self, s: &Session) -> Result<()> {
        if s.id != self.ctx.id || s.me != self.ctx.me {
            return Err(Error::InvalidArgument("not the session this verification was started from"));
        }
        Ok(())
    }

    fn step_jobs(&mut self, msgs: Vec<Message>) -> Result<Progress> {
        let out = match self.jobs.last_mut() {
            None => return Ok(Progress::Done),
            Some(Job::Arith128(r)) => r.step(&self.ctx, msgs)?,
            Some(Job::Arith128Dots(r)) => r.step(&self.ctx, msgs)?,
            Some(Job::Arith192(r)) => r.step(&self.ctx, msgs)?,
            Some(Job::Arith192Dots(r)) => r.step(&self.ctx, msgs)?,
            Some(Job::Bool(r)) => r.step(&self.ctx, msgs)?,
        };
        match out {
            Some(o) => Ok(Progress::Continue(o)),
            None => {
                if let Some(j) = self.jobs.pop() {
                    self.done.push(j);
                }
                Ok(self.start_next())
            }
        }
    }

    /// Hand a finished verification back to the session it was started
    /// from: releases the open-lock and recycles buffers. Refused (opens
    /// stay refused) for another session ([`Error::InvalidArgument`]), a
    /// verification that has not finished, and one that failed (an abort,
    /// which also poisons the session). Completing twice is a no-op.
    pub fn complete(&mut self, s: &mut Session) -> Result<()> {
        self.same_session(s)?;
        if self.failed {
            s.poisoned = true;
            return Err(Error::abort(Step::ProofFinal, None, "this verification failed; the session is poisoned"));
        }
        if self.finished {
            return Ok(());
        }
        if !self.jobs.is_empty() {
            return Err(Error::InvalidArgument("the verification has not finished"));
        }
        self.finished = true;
        for j in self.done.drain(..) {
            match j {
                Job::Arith128(r) => r.recycle(s),
                Job::Arith128Dots(r) => r.recycle(s),
                Job::Arith192(r) => r.recycle(s),
                Job::Arith192Dots(r) => r.recycle(s),
                Job::Bool(r) => r.recycle(s),
            }
        }
        s.in_flight = s.in_flight.saturating_sub(1);
        Ok(())
    }
}

/// Test-only access to the proof's draws, for the adaptive attacks of
/// [`crate::deviation`].
#[cfg(feature = "deviation")]
mod attack {
    use super::ring::{ArithRing, Z128, Z192};
    use super::{SUB_CHI, draw_term};
    use crate::{Message, Payload, Session, SessionId};

    /// `chi`'s seed of the proof with counter `ctr`, given the term under
    /// the key this party lacks.
    pub(crate) fn chi_seed_with_term(s: &Session, ctr: u64, t: &[u8; 16]) -> [u8; 16] {
        let (a, b) = (draw_term(&s.prf_prev, ctr, SUB_CHI), draw_term(&s.prf_next, ctr, SUB_CHI));
        std::array::from_fn(|i| a[i] ^ b[i] ^ t[i])
    }

    /// A non-empty set of relations among `at..total` (as offsets from
    /// `at`) whose `KAPPA`-bit `chi` rows XOR to zero (Gaussian elimination
    /// over GF(2)), empty if there is none.
    pub(crate) fn cancelling_set(sid: &SessionId, seed: &[u8; 16], total: usize, at: usize) -> Vec<usize> {
        let rows = super::mult::chi_words(sid, seed, total);
        // Basis vectors with the set of original rows that make them.
        let mut basis: Vec<(u64, Vec<usize>)> = Vec::new();
        for (j, &r) in rows.iter().enumerate().skip(at) {
            let (mut v, mut set) = (r, vec![j - at]);
            for (b, bs) in &basis {
                if v ^ b < v {
                    v ^= b;
                    for &x in bs {
                        if let Some(p) = set.iter().position(|&y| y == x) {
                            set.swap_remove(p);
                        } else {
                            set.push(x);
                        }
                    }
                }
            }
            if v == 0 {
                set.sort_unstable();
                return set;
            }
            basis.push((v, set));
            basis.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
        }
        Vec::new()
    }

    /// The carry corrections `k_t` for adding `2^63` to the prover's message
    /// at `set` (offsets from `at`; `z` the unaltered words).
    pub(crate) fn carry_shifts(
        sid: &SessionId,
        seed: &[u8; 16],
        total: usize,
        at: usize,
        set: &[usize],
        z: &[u64],
    ) -> Vec<i64> {
        let rows = super::mult::chi_words(sid, seed, total);
        (0..super::mult::KAPPA)
            .map(|t| {
                // E'_j = E_j - 2^63 if z_j < 2^63 (the lift grew), else + 2^63.
                let s: i64 = set
                    .iter()
                    .filter(|&&j| rows[at + j] >> t & 1 == 1)
                    .map(|&j| if z[j] < 1 << 63 { -1 } else { 1 })
                    .sum();
                s / 2
            })
            .collect()
    }

    fn shift<R: ArithRing>(w: &mut [u128], k: &[i64]) {
        for (c, &d) in w.chunks_exact_mut(R::WIRE).zip(k) {
            let Some(x) = R::from_wire(c) else { continue };
            let step = R::from_u64(d.unsigned_abs());
            let y = if d < 0 { x.sub(step) } else { x.add(step) };
            let mut out = Vec::with_capacity(R::WIRE);
            y.to_wire(&mut out);
            c.copy_from_slice(&out);
        }
    }

    /// Add `k_t` to the carries of a `ProofCarry` message.
    pub(crate) fn shift_carries(ring: crate::ArithProofRing, m: &mut Message, k: &[i64]) {
        let Payload::Wide(w) = &mut m.payload else { return };
        match ring {
            crate::ArithProofRing::Z2_128 => shift::<Z128>(w, k),
            crate::ArithProofRing::Z2_192 => shift::<Z192>(w, k),
        }
    }
}
#[cfg(feature = "deviation")]
pub(crate) use attack::{cancelling_set, carry_shifts, chi_seed_with_term, shift_carries};
