//! The two relations proven: Araki multiplications over Z_2^64 lifted to
//! Z_2^128 (ePrint 2024/700) and AND gates lifted to F_p (ePrint 2023/909).
//!
//! Notation for prover `P_i`: its verifiers are `V_prev = P_{i-1}`, which
//! holds `x_i, y_i, z_i, r_i`, and `V_next = P_{i+1}`, which holds `x_{i+1},
//! y_{i+1}, r_{i+1}`. The prover proves, for each logged gate,
//! `z_i = x_i y_i + x_i y_{i+1} + x_{i+1} y_i + r_i - r_{i+1}` (BGIN19,
//! Sec. 4: each party proves the correctness of the message it sent).

use super::K;
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
        self.v[j] = self.v[j].add(self.s[a].mul_small(v));
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

    /// `Some(m)` if the instance runs fold round 0 itself on its own layout
    /// (then the engine prepends the pads to the length-`m` folded vectors
    /// and adds the pad product to the claim after round 0).
    fn custom_round0(&self) -> Option<usize> {
        None
    }
    /// Custom round 0, prover: the `K*K` cross products.
    fn prover_cross0(&self, _sid: &SessionId, _lambda: &[u8; 16]) -> Vec<Self::R> {
        Vec::new()
    }
    /// Custom round 0, prover: the folded vectors, slot 0 left for the pad.
    fn prover_fold0(&self, _sid: &SessionId, _lambda: &[u8; 16], _r: &[Self::R], _s: &[Self::R]) -> (Vec<Self::R>, Vec<Self::R>) {
        (Vec::new(), Vec::new())
    }
    /// Custom round 0, a verifier (`as_prev`: the prover's previous
    /// neighbour): folded shares (slot 0 left for the pad) and the claim
    /// share before round 0.
    fn verifier_fold0(&self, _sid: &SessionId, _lambda: &[u8; 16], _as_prev: bool, _r: &[Self::R], _s: &[Self::R]) -> Shares<Self::R> {
        Shares { u: Vec::new(), v: Vec::new(), c: Self::R::ZERO }
    }
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
                e = e.add(a0.mul_small(b0.add(b1))).add(a1.mul_small(b0));
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

    // One inner-product term per multiplication term, using
    //   x_i y_i + x_i y_{i+1} + x_{i+1} y_i
    //     = (x_i + x_{i+1})(y_i + y_{i+1}) - x_{i+1} y_{i+1},
    // whose last product V_next knows alone (a local term of its claim):
    // u = rho (x_i + x_{i+1}), v = y_i + y_{i+1}.
    fn prover<S: Sink<A>>(&self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16], sink: &mut S) {
        let log = &self.log;
        let comb = Combiner::<A>::new(sid, chi, lambda, log.relations());
        for (j, r) in relations(log) {
            let rho = comb.rho(j);
            for m in r {
                let (a0, a1, b0, b1) =
                    (A::from_u64(log.x0[m]), A::from_u64(log.x1[m]), A::from_u64(log.y0[m]), A::from_u64(log.y1[m]));
                sink.put(1 + m, rho.mul_small(a0.add(a1)), b0.add(b1));
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
                sink.put(1 + m, rho.mul_small(A::from_u64(log.x1[m])), A::from_u64(log.y1[m]));
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
            let mut local = A::from_u64(log.r0[j]);
            for m in r {
                let (x, y) = (A::from_u64(log.x0[m]), A::from_u64(log.y0[m]));
                sink.put(1 + m, rho.mul_small(x), y);
                local = local.add(x.mul_small(y));
            }
            c = c.add(rho.mul(local));
        }
        c
    }
}

// AND gates: ePrint 2023/909, Sec. 4 (lifting to F_p). With a = x_i,
// b = y_i, c = x_{i+1}, d = y_{i+1}, P = z_i ^ r_i ^ ab (known to V_prev) and
// Q = r_{i+1} (known to V_next), an honest prover has P ^ Q = ad ^ bc, i.e.
// over the integers P + Q - 2PQ - ad - bc + 2(ab)(cd) = 0: four planes
// t = 0..4 of bits U_t = (P, a, b, ab) (V_prev) and V_t = (Q, d, c, cd)
// (V_next) with coefficients (-2, -1, -1, 2), and the claim
//   sum_t coef_t sum_g rho_g U_t(g) V_t(g) = -sum_g rho_g (P_g + Q_g).
// The per-gate coefficient is a tensor rho_{w,l} = alpha_w beta_l (word w,
// lane l): if some gate is wrong, sum_l beta_l e_{w,l} != 0 except with
// probability 1/p, and then sum_w alpha_w E_w != 0 except with 1/p. It lets
// round 0 work on bit-sliced words: sum_l beta_l (bits of a mask) is a table
// look-up per byte.

/// Coefficients of the four planes.
const COEF: [Fp; 4] = [Fp(super::ring::P61 - 2), Fp(super::ring::P61 - 1), Fp(super::ring::P61 - 1), Fp(2)];

/// Which party's view builds the planes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// The prover: its own components.
    Prover,
    /// The prover's previous neighbour: its second components are the
    /// prover's first.
    Prev,
    /// The prover's next neighbour: its first components are the prover's
    /// second.
    Next,
}

struct AndCoeffs {
    alpha: Vec<Fp>,
    /// `tables[q][v] = sum_{i in v} beta_{8q+i}`.
    tables: [[u64; 256]; 8],
    beta: [Fp; 64],
}

impl AndCoeffs {
    fn new(sid: &SessionId, lambda: &[u8; 16], words: usize) -> AndCoeffs {
        let prf = Prf::new(lambda, sid);
        let alpha = prf.words(Purpose::Challenge, 1, words).into_iter().map(|w| Fp::from_random(&[w as u128])).collect();
        let b = prf.words(Purpose::Challenge, 2, 64);
        let mut beta = [Fp(0); 64];
        for (x, w) in beta.iter_mut().zip(b) {
            *x = Fp::from_random(&[w as u128]);
        }
        let mut tables = [[0u64; 256]; 8];
        for (q, t) in tables.iter_mut().enumerate() {
            for v in 1..256usize {
                let low = v & (v - 1);
                let bit = (v ^ low).trailing_zeros() as usize;
                t[v] = Fp(t[low]).add(beta[8 * q + bit]).0;
            }
        }
        AndCoeffs { alpha, tables, beta }
    }

    /// `sum_{l in mask} beta_l`.
    #[inline(always)]
    fn bsum(&self, mask: u64) -> Fp {
        let mut s = 0u64; // < 8p < 2^64
        for (q, t) in self.tables.iter().enumerate() {
            s += t[((mask >> (8 * q)) & 0xff) as usize];
        }
        let s = (s & super::ring::P61) + (s >> 61);
        Fp(if s >= super::ring::P61 { s - super::ring::P61 } else { s })
    }
}

/// `n` zeros with room for the fold's block padding (no reallocation).
fn zeros(n: usize) -> Vec<Fp> {
    let mut v = Vec::with_capacity(n + K);
    v.resize(n, Fp(0));
    v
}

/// A `u64` reduced into F_p.
#[inline(always)]
fn reduce64(s: u64) -> Fp {
    let s = (s & super::ring::P61) + (s >> 61);
    Fp(if s >= super::ring::P61 { s - super::ring::P61 } else { s })
}

impl BoolLog {
    /// Word `w` of U-plane `t` (zero past the log).
    #[inline(always)]
    fn uword(&self, view: View, t: usize, w: usize) -> u64 {
        if w >= self.words() {
            return 0;
        }
        let (x, y, z, r) = match view {
            View::Prover => (self.x0[w], self.y0[w], self.z0[w], self.r0[w]),
            _ => (self.x1[w], self.y1[w], self.z1[w], self.r1[w]),
        };
        match t {
            0 => z ^ r ^ (x & y),
            1 => x,
            2 => y,
            _ => x & y,
        }
    }

    /// Word `w` of V-plane `t` (zero past the log).
    #[inline(always)]
    fn vword(&self, view: View, t: usize, w: usize) -> u64 {
        if w >= self.words() {
            return 0;
        }
        let (x, y, r) = match view {
            View::Prover => (self.x1[w], self.y1[w], self.r1[w]),
            _ => (self.x0[w], self.y0[w], self.r0[w]),
        };
        match t {
            0 => r,
            1 => y,
            2 => x,
            _ => x & y,
        }
    }

    /// Words per fold block: the four planes of `H M` words (`H = K / 4`
    /// parts each) are cut into `K` blocks of `M` words.
    fn block_words(&self) -> usize {
        self.words().div_ceil(K / 4).max(1)
    }

    /// Word of block `a` at offset `w`: plane `a / H`, part `a % H`.
    #[inline(always)]
    fn block_word(a: usize, m: usize, w: usize) -> (usize, usize) {
        (a / (K / 4), (a % (K / 4)) * m + w)
    }

    fn fold_u(&self, view: View, co: &AndCoeffs, r: &[Fp]) -> Vec<Fp> {
        // u'[64 w + l] = sum_a gamma_a(w) U_a(w, l) with
        // gamma_a(w) = r_a coef_{t(a)} alpha_{w_a}: a subset-sum table over
        // the K gammas, indexed by the lane's K bits. The lane coefficient
        // beta_l of the cross products goes into v' instead (see `fold_v`).
        let m = self.block_words();
        let mut out = Vec::with_capacity(64 * m + 1 + K);
        out.push(Fp(0)); // slot 0: the pad
        let mut table = [0u64; 256];
        for w in 0..m {
            let mut gamma = [0u64; K];
            let mut bits = [0u64; K];
            for a in 0..K {
                let (t, ww) = Self::block_word(a, m, w);
                let al = co.alpha.get(ww).copied().unwrap_or(Fp(0));
                gamma[a] = r[a].mul(COEF[t]).mul(al).0;
                bits[a] = self.uword(view, t, ww);
            }
            subset_sums(&gamma, &mut table);
            let idx = lane_bytes(&bits);
            out.extend(idx.iter().map(|&i| reduce64(table[i as usize])));
        }
        out
    }

    fn fold_v(&self, view: View, co: &AndCoeffs, sch: &[Fp]) -> Vec<Fp> {
        // v'[64 w + l] = beta_l sum_b s_b V_b(w, l). The round-0 cross
        // products are sum_{w,l} beta_l (U_a V_b)(w, l), so the lane factor
        // beta_l may sit in either folded vector: <u', v'> is the same.
        // Here it costs nothing per lane: one table per lane,
        // `lane[l][i] = beta_l sum_{b in i} s_b`, built once per batch.
        let m = self.block_words();
        let mut out = Vec::with_capacity(64 * m + 1 + K);
        out.push(Fp(0)); // slot 0: the pad
        let mut table = [0u64; 256];
        let mut sv = [0u64; K];
        for (x, s) in sv.iter_mut().zip(sch) {
            *x = s.0;
        }
        subset_sums(&sv, &mut table);
        let table: Vec<Fp> = table.iter().map(|x| reduce64(*x)).collect();
        // Per-lane tables pay off from a few words on (16K products).
        let lanes: Vec<Fp> = if m >= 64 {
            co.beta.iter().flat_map(|b| table.iter().map(move |t| b.mul(*t))).collect()
        } else {
            Vec::new()
        };
        for w in 0..m {
            let mut bits = [0u64; K];
            for (b, slot) in bits.iter_mut().enumerate() {
                let (t, ww) = Self::block_word(b, m, w);
                *slot = self.vword(view, t, ww);
            }
            let idx = lane_bytes(&bits);
            if lanes.is_empty() {
                out.extend(idx.iter().zip(&co.beta).map(|(&i, b)| b.mul(table[i as usize])));
            } else {
                out.extend(idx.iter().enumerate().map(|(l, &i)| lanes[256 * l + i as usize]));
            }
        }
        out
    }
}

/// `table[v] = sum_{a in v} x_a` (lazy: `K <= 8` terms below 2^61 each).
fn subset_sums(x: &[u64; K], table: &mut [u64; 256]) {
    table[0] = 0;
    for v in 1..(1usize << K) {
        let low = v & (v - 1);
        table[v] = table[low] + x[(v ^ low).trailing_zeros() as usize];
    }
}

/// Transpose an 8x8 bit matrix: byte `r`, bit `c` -> byte `c`, bit `r`
/// (Hacker's Delight, Sec. 7-3).
#[inline(always)]
fn transpose8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x = x ^ t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x = x ^ t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

/// For `K` words, byte `l` = the `K` bits of lane `l` (bit `a` from word `a`).
#[inline(always)]
fn lane_bytes(b: &[u64; K]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for q in 0..8 {
        let mut x = 0u64;
        for (a, w) in b.iter().enumerate() {
            x |= ((w >> (8 * q)) & 0xff) << (8 * a);
        }
        let y = transpose8(x);
        out[8 * q..8 * q + 8].copy_from_slice(&y.to_le_bytes());
    }
    out
}

impl Instance for BoolLog {
    type R = Fp;

    fn data_len(&self) -> usize {
        64 * K * self.block_words()
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

    // The generic build is not used: round 0 is custom.
    fn prover<S: Sink<Fp>>(&self, _: &SessionId, _: &[u8; 16], _: &[u8; 16], _: &mut S) {}

    fn vprev<S: Sink<Fp>>(&self, _: &SessionId, _: &[u8; 16], _: &[u8; 16], _: &[Fp], _: &mut S) -> Fp {
        Fp(0)
    }

    fn vnext<S: Sink<Fp>>(&self, _: &SessionId, _: &[u8; 16], _: &[u8; 16], _: &[Fp], _: &mut S) -> Fp {
        Fp(0)
    }

    fn custom_round0(&self) -> Option<usize> {
        Some(64 * self.block_words())
    }

    fn prover_cross0(&self, sid: &SessionId, lambda: &[u8; 16]) -> Vec<Fp> {
        // cross[a][b] = coef_{t(a)} sum_w alpha_{w_a} B(U_a(w) & V_b(w)).
        let m = self.block_words();
        let co = AndCoeffs::new(sid, lambda, (K / 4) * m);
        let mut acc = [[0u128; K]; K];
        let mut red = [[Fp(0); K]; K];
        for w in 0..m {
            let mut uw = [0u64; K];
            let mut vw = [0u64; K];
            let mut al = [0u64; K];
            for a in 0..K {
                let (t, ww) = Self::block_word(a, m, w);
                uw[a] = self.uword(View::Prover, t, ww);
                vw[a] = self.vword(View::Prover, t, ww);
                al[a] = co.alpha[ww].0;
            }
            for a in 0..K {
                if uw[a] == 0 {
                    continue;
                }
                for b in 0..K {
                    let bs = co.bsum(uw[a] & vw[b]);
                    acc[a][b] += al[a] as u128 * bs.0 as u128;
                }
            }
            if w % 32 == 31 || w + 1 == m {
                for a in 0..K {
                    for b in 0..K {
                        red[a][b] = red[a][b].add(Fp(super::ring::reduce128(acc[a][b])));
                        acc[a][b] = 0;
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(64);
        for (a, row) in red.iter().enumerate() {
            for x in row {
                out.push(COEF[Self::block_word(a, m, 0).0].mul(*x));
            }
        }
        out
    }

    fn prover_fold0(&self, sid: &SessionId, lambda: &[u8; 16], r: &[Fp], s: &[Fp]) -> (Vec<Fp>, Vec<Fp>) {
        let co = AndCoeffs::new(sid, lambda, (K / 4) * self.block_words());
        (self.fold_u(View::Prover, &co, r), self.fold_v(View::Prover, &co, s))
    }

    fn verifier_fold0(&self, sid: &SessionId, lambda: &[u8; 16], as_prev: bool, r: &[Fp], s: &[Fp]) -> Shares<Fp> {
        let m = self.block_words();
        let co = AndCoeffs::new(sid, lambda, (K / 4) * m);
        let words = self.words();
        if as_prev {
            // c_prev = -sum_w alpha_w B(P_w).
            let mut c = Fp(0);
            for w in 0..words {
                c = c.sub(co.alpha[w].mul(co.bsum(self.uword(View::Prev, 0, w))));
            }
            Shares { u: self.fold_u(View::Prev, &co, r), v: zeros(64 * m + 1), c }
        } else {
            let mut c = Fp(0);
            for w in 0..words {
                c = c.sub(co.alpha[w].mul(co.bsum(self.vword(View::Next, 0, w))));
            }
            Shares { u: zeros(64 * m + 1), v: self.fold_v(View::Next, &co, s), c }
        }
    }
}

#[cfg(test)]
mod lane_tests {
    use super::*;

    #[test]
    fn lane_bytes_gather_the_bits_of_each_lane() {
        let mut b = [0u64; K];
        for (a, w) in b.iter_mut().enumerate() {
            *w = 0x9e37_79b9_7f4a_7c15u64.rotate_left(7 * a as u32) ^ (a as u64 * 0x0101_0101);
        }
        let got = lane_bytes(&b);
        for (l, g) in got.iter().enumerate() {
            let want = (0..K).fold(0u8, |acc, a| acc | ((((b[a] >> l) & 1) as u8) << a));
            assert_eq!(*g, want, "lane {l}");
        }
    }
}
