//! The instance interface of the folding proof, and the AND relation lifted
//! to F_p (ePrint 2023/909); the product relation is in `mult.rs`.
//!
//! Notation for prover `P_i`: its verifiers are `V_prev = P_{i-1}`, which
//! holds `x_i, y_i, z_i, r_i`, and `V_next = P_{i+1}`, which holds `x_{i+1},
//! y_{i+1}, r_{i+1}`. The prover proves, for each logged gate,
//! `z_i = x_i y_i + x_i y_{i+1} + x_{i+1} y_i + r_i - r_{i+1}` (BGIN19,
//! Sec. 4: each party proves the correctness of the message it sent).

use super::ring::{Fp, VRing, reduce128};
use crate::SessionId;
use crate::prf::{Prf, Purpose};
use crate::session::BoolLog;

/// Recycled vectors of one ring, kept by the session between batches:
/// fresh multi-megabyte allocations cost page faults (the kernel zeroes
/// every page), measured at 10-20% of a verification.
#[derive(Debug)]
pub(crate) struct Pool<R>(Vec<Vec<R>>);

impl<R> Default for Pool<R> {
    fn default() -> Self {
        Pool(Vec::new())
    }
}

impl<R> Pool<R> {
    /// A verification holds six vectors (three roles, `u` and `v`).
    const SLOTS: usize = 6;
    /// Smaller vectors (the pad-only shares) are not worth keeping: handed
    /// out for a large request, they would be reallocated anyway.
    const MIN_KEEP: usize = 1 << 10;

    /// An empty vector with room for `cap` elements: the smallest kept one
    /// that fits, else the largest (grown once).
    pub(crate) fn take(&mut self, cap: usize) -> Vec<R> {
        let fits = (0..self.0.len()).filter(|&i| self.0[i].capacity() >= cap).min_by_key(|&i| self.0[i].capacity());
        let pick = fits.or_else(|| (0..self.0.len()).max_by_key(|&i| self.0[i].capacity()));
        let mut v = pick.map(|i| self.0.swap_remove(i)).unwrap_or_default();
        v.clear();
        v.reserve(cap);
        v
    }

    /// Keep `v` for reuse if it is among the `SLOTS` largest.
    pub(crate) fn put(&mut self, v: Vec<R>) {
        if v.capacity() < Self::MIN_KEEP {
            return;
        }
        if self.0.len() < Self::SLOTS {
            self.0.push(v);
        } else if let Some(i) = (0..self.0.len()).min_by_key(|&i| self.0[i].capacity())
            && self.0[i].capacity() < v.capacity()
        {
            self.0[i] = v;
        }
    }
}

/// Round 0 of a party's three roles: its own proof's vectors (`c` unused)
/// and its shares as `V_prev` (of its next party) and `V_next` (of its
/// previous one).
pub(crate) struct Round0<R> {
    pub(crate) prover: Shares<R>,
    pub(crate) prev: Shares<R>,
    pub(crate) next: Shares<R>,
}

/// Vectors and claim share of one role. For the prover, `c` is unused.
pub(crate) struct Shares<R> {
    pub(crate) u: Vec<R>,
    pub(crate) v: Vec<R>,
    pub(crate) c: R,
}

/// A relation proven by the folding proof. Each instance runs fold round 0
/// on its own layout (the expensive, full-length round); the engine then
/// prepends the pads to the folded vectors (slot 0) and adds the pad
/// product, committed in `ProofCarry` before any coefficient is known, to
/// the claim.
pub(crate) trait Instance: Send {
    type R: VRing;
    /// Fold factor of round 0 (later rounds use `K`).
    const K0: usize;
    /// Whether, past the pad slot, the prover's vectors are the sums of the
    /// party's two verifier shares (then later rounds add instead of fold).
    const PROVER_IS_SUM: bool = false;
    /// Length of the vectors after round 0, without the pad slot.
    fn folded_len(&self) -> usize;
    /// Number of public carry values the prover shares before the
    /// combination coefficients are drawn.
    fn n_carries(&self) -> usize;
    /// Hand the (cleared) log back to the session for reuse.
    fn recycle(self, s: &mut crate::Session);
    /// The session's vector pool for this ring.
    fn pool(s: &mut crate::Session) -> &mut Pool<Self::R>;
    /// The prover's carries (seed `chi` from `ProofSeed`).
    fn prover_carries(&mut self, sid: &SessionId, chi: &[u8; 16]) -> Vec<Self::R>;
    /// Round 0, prover: the `K0*K0` cross products of the claim's blocks.
    fn prover_cross0(&mut self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16]) -> Vec<Self::R>;
    /// Round 0, prover: the folded vectors, slot 0 left for the pad.
    #[allow(clippy::too_many_arguments)]
    fn prover_fold0(
        &mut self,
        sid: &SessionId,
        chi: &[u8; 16],
        lambda: &[u8; 16],
        r: &[Self::R],
        s: &[Self::R],
        pool: &mut Pool<Self::R>,
    ) -> (Vec<Self::R>, Vec<Self::R>);
    /// Round 0, a verifier (`as_prev`: the prover's previous neighbour):
    /// folded shares (slot 0 left for the pad) and the claim share before
    /// round 0, given its shares of the carries.
    #[allow(clippy::too_many_arguments)]
    fn verifier_fold0(
        &mut self,
        sid: &SessionId,
        chi: &[u8; 16],
        lambda: &[u8; 16],
        carry: &[Self::R],
        as_prev: bool,
        r: &[Self::R],
        s: &[Self::R],
        pool: &mut Pool<Self::R>,
    ) -> Shares<Self::R>;
    /// Round 0 of all three roles, when all three proofs use the same
    /// `chi`, `lambda` and challenges (`carry_prev`, `carry_next`: the
    /// carry shares of the two verifier roles). Instances whose three roles
    /// share work override it.
    #[allow(clippy::too_many_arguments)]
    fn round0_all(
        &mut self,
        sid: &SessionId,
        chi: &[u8; 16],
        lambda: &[u8; 16],
        carry_prev: &[Self::R],
        carry_next: &[Self::R],
        r: &[Self::R],
        s: &[Self::R],
        pool: &mut Pool<Self::R>,
    ) -> Round0<Self::R> {
        let (u, v) = self.prover_fold0(sid, chi, lambda, r, s, pool);
        let prev = self.verifier_fold0(sid, chi, lambda, carry_prev, true, r, s, pool);
        let next = self.verifier_fold0(sid, chi, lambda, carry_next, false, r, s, pool);
        Round0 { prover: Shares { u, v, c: Self::R::ZERO }, prev, next }
    }
}

/// Fold factor of the AND proof's bit-sliced round 0: the four planes are
/// cut into `KB` blocks of whole words, and its lazy `u64` sums of `KB`
/// field elements stay below 2^64.
const KB: usize = 8;
const _: () = assert!(KB.is_multiple_of(4) && KB <= 8);

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

/// A verifier's share that is zero but for the pad slot: stored as the pad
/// slot alone (folding zeros past the end gives zeros, and the fold skips
/// such shares).
fn pad_only() -> Vec<Fp> {
    vec![Fp(0)]
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

    /// Words per fold block: the four planes of `H M` words (`H = KB / 4`
    /// parts each) are cut into `KB` blocks of `M` words.
    fn block_words(&self) -> usize {
        self.words().div_ceil(KB / 4).max(1)
    }

    /// Word of block `a` at offset `w`: plane `a / H`, part `a % H`.
    #[inline(always)]
    fn block_word(a: usize, m: usize, w: usize) -> (usize, usize) {
        (a / (KB / 4), (a % (KB / 4)) * m + w)
    }

    fn fold_u(&self, view: View, co: &AndCoeffs, r: &[Fp], pool: &mut Pool<Fp>) -> Vec<Fp> {
        // u'[64 w + l] = beta_l sum_a gamma_a(w) U_a(w, l) with
        // gamma_a(w) = r_a coef_{t(a)} alpha_{w_a}: a subset-sum table over
        // the KB gammas, indexed by the lane's KB bits. (Moving beta_l into v'
        // through per-lane tables, 128 KB, was slower: L1 misses.)
        let m = self.block_words();
        let mut out = pool.take(64 * m + 1 + super::K);
        out.push(Fp(0)); // slot 0: the pad
        let mut table = [0u64; 256];
        for w in 0..m {
            let mut gamma = [0u64; KB];
            let mut bits = [0u64; KB];
            for a in 0..KB {
                let (t, ww) = Self::block_word(a, m, w);
                let al = co.alpha.get(ww).copied().unwrap_or(Fp(0));
                gamma[a] = r[a].mul(COEF[t]).mul(al).0;
                bits[a] = self.uword(view, t, ww);
            }
            subset_sums(&gamma, &mut table);
            let idx = lane_bytes(&bits);
            // table < 8p < 2^64, beta < 2^61: one reduction of the product.
            out.extend(idx.iter().zip(&co.beta).map(|(&i, b)| Fp(reduce128(b.0 as u128 * table[i as usize] as u128))));
        }
        out
    }

    fn fold_v(&self, view: View, sch: &[Fp], pool: &mut Pool<Fp>) -> Vec<Fp> {
        // v'[64 w + l] = sum_b s_b V_b(w, l): one table for all words.
        let m = self.block_words();
        let mut out = pool.take(64 * m + 1 + super::K);
        out.push(Fp(0)); // slot 0: the pad
        let mut table = [0u64; 256];
        let mut sv = [0u64; KB];
        for (x, s) in sv.iter_mut().zip(sch) {
            *x = s.0;
        }
        subset_sums(&sv, &mut table);
        let table: Vec<Fp> = table.iter().map(|x| reduce64(*x)).collect();
        for w in 0..m {
            let mut bits = [0u64; KB];
            for (b, slot) in bits.iter_mut().enumerate() {
                let (t, ww) = Self::block_word(b, m, w);
                *slot = self.vword(view, t, ww);
            }
            out.extend(lane_bytes(&bits).iter().map(|&i| table[i as usize]));
        }
        out
    }
}

/// `table[v] = sum_{a in v} x_a` (lazy: `KB <= 8` terms below 2^61 each).
fn subset_sums(x: &[u64; KB], table: &mut [u64; 256]) {
    table[0] = 0;
    for v in 1..(1usize << KB) {
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

/// For `KB` words, byte `l` = the `KB` bits of lane `l` (bit `a` from word `a`).
#[inline(always)]
fn lane_bytes(b: &[u64; KB]) -> [u8; 64] {
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
    const K0: usize = KB;

    fn folded_len(&self) -> usize {
        64 * self.block_words()
    }

    fn n_carries(&self) -> usize {
        0
    }

    fn recycle(mut self, s: &mut crate::Session) {
        self.clear();
        if s.blog.words() == 0 && s.blog.x0.capacity() < self.x0.capacity() {
            s.blog = self;
        }
    }

    fn pool(s: &mut crate::Session) -> &mut Pool<Fp> {
        &mut s.pool_f
    }

    fn prover_carries(&mut self, _: &SessionId, _: &[u8; 16]) -> Vec<Fp> {
        Vec::new()
    }

    fn prover_cross0(&mut self, sid: &SessionId, _: &[u8; 16], lambda: &[u8; 16]) -> Vec<Fp> {
        // cross[a][b] = coef_{t(a)} sum_w alpha_{w_a} B(U_a(w) & V_b(w)).
        let m = self.block_words();
        let co = AndCoeffs::new(sid, lambda, (KB / 4) * m);
        let mut acc = [[0u128; KB]; KB];
        let mut red = [[Fp(0); KB]; KB];
        for w in 0..m {
            let mut uw = [0u64; KB];
            let mut vw = [0u64; KB];
            let mut al = [0u64; KB];
            for a in 0..KB {
                let (t, ww) = Self::block_word(a, m, w);
                uw[a] = self.uword(View::Prover, t, ww);
                vw[a] = self.vword(View::Prover, t, ww);
                al[a] = co.alpha[ww].0;
            }
            for a in 0..KB {
                if uw[a] == 0 {
                    continue;
                }
                for b in 0..KB {
                    let bs = co.bsum(uw[a] & vw[b]);
                    acc[a][b] += al[a] as u128 * bs.0 as u128;
                }
            }
            if w % 32 == 31 || w + 1 == m {
                for a in 0..KB {
                    for b in 0..KB {
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

    fn prover_fold0(&mut self, sid: &SessionId, _: &[u8; 16], lambda: &[u8; 16], r: &[Fp], s: &[Fp], pool: &mut Pool<Fp>) -> (Vec<Fp>, Vec<Fp>) {
        let co = AndCoeffs::new(sid, lambda, (KB / 4) * self.block_words());
        (self.fold_u(View::Prover, &co, r, pool), self.fold_v(View::Prover, s, pool))
    }

    fn verifier_fold0(
        &mut self,
        sid: &SessionId,
        _: &[u8; 16],
        lambda: &[u8; 16],
        _: &[Fp],
        as_prev: bool,
        r: &[Fp],
        s: &[Fp],
        pool: &mut Pool<Fp>,
    ) -> Shares<Fp> {
        let m = self.block_words();
        let co = AndCoeffs::new(sid, lambda, (KB / 4) * m);
        let words = self.words();
        if as_prev {
            // c_prev = -sum_w alpha_w B(P_w).
            let mut c = Fp(0);
            for w in 0..words {
                c = c.sub(co.alpha[w].mul(co.bsum(self.uword(View::Prev, 0, w))));
            }
            Shares { u: self.fold_u(View::Prev, &co, r, pool), v: pad_only(), c }
        } else {
            let mut c = Fp(0);
            for w in 0..words {
                c = c.sub(co.alpha[w].mul(co.bsum(self.vword(View::Next, 0, w))));
            }
            Shares { u: pad_only(), v: self.fold_v(View::Next, s, pool), c }
        }
    }
}

#[cfg(test)]
mod lane_tests {
    use super::*;

    #[test]
    fn lane_bytes_gather_the_bits_of_each_lane() {
        let mut b = [0u64; KB];
        for (a, w) in b.iter_mut().enumerate() {
            *w = 0x9e37_79b9_7f4a_7c15u64.rotate_left(7 * a as u32) ^ (a as u64 * 0x0101_0101);
        }
        let got = lane_bytes(&b);
        for (l, g) in got.iter().enumerate() {
            let want = (0..KB).fold(0u8, |acc, a| acc | ((((b[a] >> l) & 1) as u8) << a));
            assert_eq!(*g, want, "lane {l}");
        }
    }
}
