//! The two relations proven: Araki multiplications over Z_2^64 lifted to
//! Z_2^128 (ePrint 2024/700) and AND gates lifted to F_p (ePrint 2023/909).
//!
//! Notation for prover `P_i`: its verifiers are `V_prev = P_{i-1}`, which
//! holds `x_i, y_i, z_i, r_i`, and `V_next = P_{i+1}`, which holds `x_{i+1},
//! y_{i+1}, r_{i+1}`. The prover proves, for each logged gate,
//! `z_i = x_i y_i + x_i y_{i+1} + x_{i+1} y_i + r_i - r_{i+1}` (BGIN19,
//! Sec. 4: each party proves the correctness of the message it sent).

use super::ring::{ArithRing, Fp, VRing};
use crate::SessionId;
use crate::prf::{Prf, Purpose};
use crate::session::{ArithLog, BoolLog};

/// Number of binary subset sums that cancel the carries (ePrint 2024/700
/// uses 40; each detects a wrong gate with probability >= 1/2 independently,
/// so a cheat survives with probability 2^-KAPPA; 48 leaves margin for the
/// folding rounds' share of the 40-bit budget).
pub(crate) const KAPPA: usize = 48;
/// Subset bytes per relation.
const CHI_BYTES: usize = KAPPA / 8;

/// Vectors and claim share of one role. For the prover, `c` is unused.
pub(crate) struct Shares<R> {
    pub(crate) u: Vec<R>,
    pub(crate) v: Vec<R>,
    pub(crate) c: R,
}

/// Receives the entries `(u_i, v_i)` of a role's vectors in increasing `i`.
pub(crate) trait Sink<R: VRing> {
    fn put(&mut self, i: usize, u: R, v: R);
    /// Only `u_i` (`v_i` is zero).
    fn put_u(&mut self, i: usize, u: R);
    /// Only `v_i` (`u_i` is zero).
    fn put_v(&mut self, i: usize, v: R);
}

/// Stores the vectors as they are (the prover needs them for round 0).
pub(crate) struct Full<R> {
    pub(crate) u: Vec<R>,
    pub(crate) v: Vec<R>,
}

impl<R: VRing> Full<R> {
    /// Zeroed vectors of length `len` in recycled buffers.
    pub(crate) fn from_bufs(mut u: Vec<R>, mut v: Vec<R>, len: usize) -> Self {
        u.clear();
        u.resize(len, R::ZERO);
        v.clear();
        v.resize(len, R::ZERO);
        Full { u, v }
    }
}

impl<R: VRing> Sink<R> for Full<R> {
    #[inline(always)]
    fn put(&mut self, i: usize, u: R, v: R) {
        self.u[i] = u;
        self.v[i] = v;
    }
    #[inline(always)]
    fn put_u(&mut self, i: usize, u: R) {
        self.u[i] = u;
    }
    #[inline(always)]
    fn put_v(&mut self, i: usize, v: R) {
        self.v[i] = v;
    }
}

/// Folds on the fly with the round-0 challenges (a verifier knows them in
/// advance: they come from the key it shares with the other verifier), so
/// the full-length vectors are never stored:
/// `u'[j] = sum_a r_a u[a m + j]`.
pub(crate) struct Folded<R> {
    pub(crate) u: Vec<R>,
    pub(crate) v: Vec<R>,
    r: Vec<R>,
    s: Vec<R>,
    m: usize,
    last: usize,
    a: usize,
    j: usize,
}

impl<R: VRing> Folded<R> {
    pub(crate) fn new(len: usize, k: usize, r: Vec<R>, s: Vec<R>) -> Self {
        let m = len.div_ceil(k).max(1);
        Folded { u: vec![R::ZERO; m], v: vec![R::ZERO; m], r, s, m, last: 0, a: 0, j: 0 }
    }
}

impl<R: VRing> Folded<R> {
    /// Advance the cursor `(a, j) = divmod(i, m)`; `i` never decreases.
    #[inline(always)]
    fn seek(&mut self, i: usize) -> (usize, usize) {
        self.j += i - self.last;
        self.last = i;
        while self.j >= self.m {
            self.j -= self.m;
            self.a += 1;
        }
        (self.a, self.j)
    }
}

impl<R: VRing> Sink<R> for Folded<R> {
    #[inline(always)]
    fn put(&mut self, i: usize, u: R, v: R) {
        let (a, j) = self.seek(i);
        self.u[j] = self.u[j].add(self.r[a].mul(u));
        self.v[j] = self.v[j].add(self.s[a].mul(v));
    }
    #[inline(always)]
    fn put_u(&mut self, i: usize, u: R) {
        let (a, j) = self.seek(i);
        self.u[j] = self.u[j].add(self.r[a].mul(u));
    }
    #[inline(always)]
    fn put_v(&mut self, i: usize, v: R) {
        let (a, j) = self.seek(i);
        self.v[j] = self.v[j].add(self.s[a].mul(v));
    }
}

pub(crate) trait Instance: Send {
    type R: VRing;
    /// Vector length without the pad slot.
    fn data_len(&self) -> usize;
    /// Number of public carry values the prover shares before the
    /// combination coefficients are drawn.
    fn n_carries(&self) -> usize;
    /// Prover buffers kept by the session between batches.
    fn take_bufs(s: &mut crate::Session) -> (Vec<Self::R>, Vec<Self::R>);
    fn put_bufs(s: &mut crate::Session, u: Vec<Self::R>, v: Vec<Self::R>);
    /// Hand the (cleared) log back to the session for reuse.
    fn recycle(self, s: &mut crate::Session);
    fn prover_carries(&self, sid: &SessionId, chi: &[u8; 16]) -> Vec<Self::R>;
    /// Prover's vectors without slot 0 (the pad, put by the engine).
    fn prover<S: Sink<Self::R>>(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], sink: &mut S);
    /// This party's shares as the prover's previous neighbour; returns its
    /// claim share (without the pad product).
    fn vprev<S: Sink<Self::R>>(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], carry: &[Self::R], sink: &mut S) -> Self::R;
    /// Same as the prover's next neighbour.
    fn vnext<S: Sink<Self::R>>(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], carry: &[Self::R], sink: &mut S) -> Self::R;
}

/// Per-relation combination coefficients for the ring proof:
/// `rho_j = sum_t lambda_t chi_{t,j}` (ePrint 2024/700, Sec. 4: binary subset
/// sums with random `lambda_t` in Z_2^{64+s}), evaluated with byte tables.
struct Combiner<A> {
    chi: Vec<u8>,
    tables: Vec<[A; 256]>,
    lambda: Vec<A>,
}

impl<A: ArithRing> Combiner<A> {
    fn chi_bytes(sid: &SessionId, chi: &[u8; 16], n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n * KAPPA / 8];
        Prf::new(chi, sid).fill_bytes(Purpose::Challenge, 0, &mut b);
        b
    }

    fn new(sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], n: usize) -> Combiner<A> {
        let raw = Prf::new(lambda, sid).wide(Purpose::Challenge, 0, KAPPA * A::WIRE);
        let lambda: Vec<A> = raw.chunks_exact(A::WIRE).map(A::from_random).collect();
        let mut tables = vec![[A::ZERO; 256]; KAPPA / 8];
        for (q, t) in tables.iter_mut().enumerate() {
            for v in 1..256usize {
                let low = v & (v - 1);
                let bit = (v ^ low).trailing_zeros() as usize;
                t[v] = t[low].add(lambda[8 * q + bit]);
            }
        }
        Combiner { chi: Self::chi_bytes(sid, chi, n), tables, lambda }
    }

    #[inline(always)]
    fn rho(&self, j: usize) -> A {
        let b = &self.chi[j * CHI_BYTES..(j + 1) * CHI_BYTES];
        self.tables.iter().zip(b).fold(A::ZERO, |acc, (t, &byte)| acc.add(t[byte as usize]))
    }

    /// `2^64 * sum_t lambda_t C_t` for carry shares `C_t`.
    fn carry_term(&self, carry: &[A]) -> A {
        self.lambda.iter().zip(carry).fold(A::ZERO, |a, (l, c)| a.add(l.mul(*c))).shl64()
    }
}

/// Iterate relations with their term ranges.
fn relations(log: &ArithLog) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> + '_ {
    let single = log.terms.is_empty();
    let mut start = 0usize;
    (0..log.relations()).map(move |j| {
        let n = if single { 1 } else { log.terms[j] as usize };
        let r = start..start + n;
        start += n;
        (j, r)
    })
}

/// The arithmetic relation proven in Z_2^{64+s} = `A`.
pub(crate) struct ArithInst<A> {
    pub(crate) log: ArithLog,
    _ring: std::marker::PhantomData<A>,
}

impl<A> ArithInst<A> {
    pub(crate) fn new(log: ArithLog) -> Self {
        ArithInst { log, _ring: std::marker::PhantomData }
    }
}

impl<A: ArithRing> Instance for ArithInst<A> {
    type R = A;

    fn data_len(&self) -> usize {
        2 * self.log.x0.len()
    }

    fn n_carries(&self) -> usize {
        KAPPA
    }

    fn take_bufs(s: &mut crate::Session) -> (Vec<A>, Vec<A>) {
        std::mem::take(A::bufs(s))
    }

    fn put_bufs(s: &mut crate::Session, u: Vec<A>, v: Vec<A>) {
        *A::bufs(s) = (u, v);
    }

    fn recycle(self, s: &mut crate::Session) {
        let mut log = self.log;
        log.clear();
        if s.alog.relations() == 0 && s.alog.x0.capacity() < log.x0.capacity() {
            s.alog = log;
        }
    }

    fn prover_carries(&self, sid: &SessionId, chi: &[u8; 16]) -> Vec<A> {
        // E_j = Q_j - L_j over Z_2^{64+s} is 2^64 c_j for an honest prover;
        // S_t = sum_j chi_{t,j} E_j; C_t = S_t / 2^64 (ePrint 2024/700, Sec. 4).
        let log = &self.log;
        let n = log.relations();
        let chi = Combiner::<A>::chi_bytes(sid, chi, n);
        let mut buckets = [[A::ZERO; 256]; CHI_BYTES];
        for (j, r) in relations(log) {
            let mut e = A::ZERO;
            for m in r {
                let (a0, a1, b0, b1) =
                    (A::from_u64(log.x0[m]), A::from_u64(log.x1[m]), A::from_u64(log.y0[m]), A::from_u64(log.y1[m]));
                e = e.add(a0.mul(b0.add(b1))).add(a1.mul(b0));
            }
            let l = A::from_u64(log.z0[j]).sub(A::from_u64(log.r0[j])).add(A::from_u64(log.r1[j]));
            let e = e.sub(l);
            for (q, bucket) in buckets.iter_mut().enumerate() {
                let b = chi[j * CHI_BYTES + q] as usize;
                bucket[b] = bucket[b].add(e);
            }
        }
        let mut out = Vec::with_capacity(KAPPA);
        for t in 0..KAPPA {
            let (q, bit) = (t / 8, t % 8);
            let s = (0..256usize).filter(|v| v >> bit & 1 == 1).fold(A::ZERO, |a, v| a.add(buckets[q][v]));
            out.push(s.shr64());
        }
        out
    }

    fn prover<S: Sink<A>>(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], sink: &mut S) {
        let log = &self.log;
        let comb = Combiner::<A>::new(sid, chi, lambda, log.relations());
        for (j, r) in relations(log) {
            let rho = comb.rho(j);
            for m in r {
                let (a0, a1, b0, b1) =
                    (A::from_u64(log.x0[m]), A::from_u64(log.x1[m]), A::from_u64(log.y0[m]), A::from_u64(log.y1[m]));
                sink.put(1 + 2 * m, rho.mul(a0), b0.add(b1));
                sink.put(2 + 2 * m, rho.mul(a1), b0);
            }
        }
    }

    fn vprev<S: Sink<A>>(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], carry: &[A], sink: &mut S) -> A {
        // We are P_{i-1}: our second components are the prover's x_i, y_i,
        // z_i, r_i.
        let log = &self.log;
        let comb = Combiner::<A>::new(sid, chi, lambda, log.relations());
        let mut c = comb.carry_term(carry);
        for (j, r) in relations(log) {
            let rho = comb.rho(j);
            for m in r {
                let y = A::from_u64(log.y1[m]);
                sink.put(1 + 2 * m, rho.mul(A::from_u64(log.x1[m])), y);
                sink.put_v(2 + 2 * m, y);
            }
            let l = A::from_u64(log.z1[j]).sub(A::from_u64(log.r1[j]));
            c = c.add(rho.mul(l));
        }
        c
    }

    fn vnext<S: Sink<A>>(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], carry: &[A], sink: &mut S) -> A {
        // We are P_{i+1}: our first components are x_{i+1}, y_{i+1}, r_{i+1}.
        let log = &self.log;
        let comb = Combiner::<A>::new(sid, chi, lambda, log.relations());
        let mut c = comb.carry_term(carry);
        for (j, r) in relations(log) {
            let rho = comb.rho(j);
            for m in r {
                sink.put_v(1 + 2 * m, A::from_u64(log.y0[m]));
                sink.put_u(2 + 2 * m, rho.mul(A::from_u64(log.x0[m])));
            }
            c = c.add(rho.mul(A::from_u64(log.r0[j])));
        }
        c
    }
}

/// Per-gate random coefficients in F_p for the AND proof.
fn fp_rhos(sid: &SessionId, lambda: &[u8; 16], n: usize) -> Vec<Fp> {
    Prf::new(lambda, sid)
        .words(Purpose::Challenge, 1, n)
        .into_iter()
        .map(|w| Fp::from_random(&[w as u128]))
        .collect()
}

impl Instance for BoolLog {
    type R = Fp;

    fn data_len(&self) -> usize {
        4 * 64 * self.words()
    }

    fn n_carries(&self) -> usize {
        0
    }

    fn take_bufs(s: &mut crate::Session) -> (Vec<Fp>, Vec<Fp>) {
        std::mem::take(&mut s.bufs_f)
    }

    fn put_bufs(s: &mut crate::Session, u: Vec<Fp>, v: Vec<Fp>) {
        s.bufs_f = (u, v);
    }

    fn recycle(mut self, s: &mut crate::Session) {
        self.clear();
        if s.blog.words() == 0 && s.blog.x0.capacity() < self.x0.capacity() {
            s.blog = self;
        }
    }

    fn prover_carries(&self, _: &SessionId, _: &[u8; 16]) -> Vec<Fp> {
        Vec::new()
    }

    // ePrint 2023/909, Sec. 4 (lifting to F_p): with a = x_i, b = y_i,
    // c = x_{i+1}, d = y_{i+1}, P = z_i ^ r_i ^ ab (known to V_prev) and
    // Q = r_{i+1} (known to V_next), an honest prover satisfies
    // P ^ Q = ad ^ bc, i.e. over the integers
    //   P + Q - 2PQ - ad - bc + 2(ab)(cd) = 0,
    // a 4-term inner product <(-2P, -a, -b, 2ab), (Q, d, c, cd)> = -(P + Q).
    fn prover<S: Sink<Fp>>(&self, sid: &SessionId, _: &[u8; 16], lambda: &[u8; 16], sink: &mut S) {
        let n = 64 * self.words();
        let rho = fp_rhos(sid, lambda, n);
        for w in 0..self.words() {
            let pw = self.z0[w] ^ self.r0[w] ^ (self.x0[w] & self.y0[w]);
            for l in 0..64 {
                let g = 64 * w + l;
                let bit = |x: u64| (x >> l) & 1;
                let (a, b, c, d, p, q) =
                    (bit(self.x0[w]), bit(self.y0[w]), bit(self.x1[w]), bit(self.y1[w]), bit(pw), bit(self.r1[w]));
                let r = rho[g];
                let o = 1 + 4 * g;
                let sel = |x: u64, f: Fp| if x == 1 { f } else { Fp(0) };
                let (r2, rn) = (r.add(r), r.neg());
                sink.put(o, sel(p, r2.neg()), Fp(q));
                sink.put(o + 1, sel(a, rn), Fp(d));
                sink.put(o + 2, sel(b, rn), Fp(c));
                sink.put(o + 3, sel(a & b, r2), Fp(c & d));
            }
        }
    }

    fn vprev<S: Sink<Fp>>(&self, sid: &SessionId, _: &[u8; 16], lambda: &[u8; 16], _: &[Fp], sink: &mut S) -> Fp {
        let n = 64 * self.words();
        let rho = fp_rhos(sid, lambda, n);
        let mut c = Fp(0);
        for w in 0..self.words() {
            let pw = self.z1[w] ^ self.r1[w] ^ (self.x1[w] & self.y1[w]);
            for l in 0..64 {
                let g = 64 * w + l;
                let bit = |x: u64| (x >> l) & 1;
                let (a, b, p) = (bit(self.x1[w]), bit(self.y1[w]), bit(pw));
                let r = rho[g];
                let o = 1 + 4 * g;
                let sel = |x: u64, f: Fp| if x == 1 { f } else { Fp(0) };
                let (r2, rn) = (r.add(r), r.neg());
                sink.put_u(o, sel(p, r2.neg()));
                sink.put_u(o + 1, sel(a, rn));
                sink.put_u(o + 2, sel(b, rn));
                sink.put_u(o + 3, sel(a & b, r2));
                c = c.sub(sel(p, r));
            }
        }
        c
    }

    fn vnext<S: Sink<Fp>>(&self, sid: &SessionId, _: &[u8; 16], lambda: &[u8; 16], _: &[Fp], sink: &mut S) -> Fp {
        let n = 64 * self.words();
        let rho = fp_rhos(sid, lambda, n);
        let mut c = Fp(0);
        for w in 0..self.words() {
            for l in 0..64 {
                let g = 64 * w + l;
                let bit = |x: u64| (x >> l) & 1;
                let (cc, d, q) = (bit(self.x0[w]), bit(self.y0[w]), bit(self.r0[w]));
                let o = 1 + 4 * g;
                sink.put_v(o, Fp(q));
                sink.put_v(o + 1, Fp(d));
                sink.put_v(o + 2, Fp(cc));
                sink.put_v(o + 3, Fp(cc & d));
                if q == 1 {
                    c = c.sub(rho[g]);
                }
            }
        }
        c
    }
}
