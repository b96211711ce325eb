//! The AND relation, proven in GF(2^64) on bit-sliced words.
//!
//! Notation for prover `P_i`: `a = x_i`, `b = y_i` (known to `V_prev`),
//! `c = x_{i+1}`, `d = y_{i+1}` (known to `V_next`). The prover sent
//! `z_i = ab ^ ad ^ bc ^ r_i ^ r_{i+1}`. With `P = z_i ^ r_i ^ ab` (known to
//! `V_prev`) and `Q = r_{i+1}` (known to `V_next`), an honest prover has
//! `P ^ Q = ad ^ bc`. Over GF(2^64), where the bits are the elements 0 and 1
//! and addition is XOR, that is already the degree-2 relation the folding
//! proof needs: two planes `U = (a, b)` (all known to `V_prev`) and
//! `V = (d, c)` (all known to `V_next`), and the claim
//! `sum_g rho_g (U_0(g) V_0(g) + U_1(g) V_1(g)) = sum_g rho_g (P_g + Q_g)`.
//! (Lifting to F_p, as ePrint 2023/909 does, needs four planes and
//! `2PQ`-style terms; staying in characteristic 2 halves everything.)
//!
//! Coefficients: `rho_{w,l} = alpha_w x^l` for lane `l` of word `w`. Then
//! `sum_l x^l e_{w,l}` is the error word `e_w` itself read as a polynomial,
//! non-zero exactly when some gate of word `w` is wrong, and
//! `sum_w alpha_w e_w` vanishes with probability `2^-64` over the uniform
//! `alpha` (drawn from the `ProofLambda` seed, after every gate was sent).
//! So the claim share of a verifier is `sum_w alpha_w P_w` (resp. `Q_w`), and
//! a round-0 cross product of two blocks is one carry-less product per word:
//! `<u^a, v^b> = sum_w alpha_{w_a} (U_a(w) & V_b(w))`.

use super::inst::{Instance, Pool, Round0, Shares};
use super::ring::G64;
use crate::SessionId;
use crate::clmul::{self, Clmul};
use crate::gf64;
use crate::prf::{Prf, Purpose};
use crate::session::BoolLog;

/// Fold factor of round 0: each of the two planes is cut into `KB / 2`
/// parts of whole words. A larger factor shortens every later round (the
/// folded length is `2 G / KB` for `G` gates) at `KB` carry-less products
/// per word in the prover's cross products.
const KB: usize = 16;
/// Parts per plane.
const HALF: usize = KB / 2;
const _: () = assert!(KB.is_multiple_of(16));

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

impl BoolLog {
    /// Word `w` of U-plane `t` (`a`, then `b`; zero past the log).
    #[inline(always)]
    fn uword(&self, view: View, t: usize, w: usize) -> u64 {
        if w >= self.words() {
            return 0;
        }
        match (view, t) {
            (View::Prover, 0) => self.x0[w],
            (View::Prover, _) => self.y0[w],
            (_, 0) => self.x1[w],
            _ => self.y1[w],
        }
    }

    /// Word `w` of V-plane `t` (`d`, then `c`; zero past the log).
    #[inline(always)]
    fn vword(&self, view: View, t: usize, w: usize) -> u64 {
        if w >= self.words() {
            return 0;
        }
        match (view, t) {
            (View::Prover, 0) => self.y1[w],
            (View::Prover, _) => self.x1[w],
            (_, 0) => self.y0[w],
            _ => self.x0[w],
        }
    }

    /// Words per fold block.
    fn block_words(&self) -> usize {
        self.words().div_ceil(HALF).max(1)
    }

    /// Plane and plane word of block `a` at offset `w` (`m` words a block).
    #[inline(always)]
    fn block_word(a: usize, m: usize, w: usize) -> (usize, usize) {
        (a / HALF, (a % HALF) * m + w)
    }
}

/// `alpha_w` for every plane word (`HALF * m` of them).
fn alphas(sid: &SessionId, lambda: &[u8; 16], m: usize) -> Vec<u64> {
    Prf::new(lambda, sid).words(Purpose::Challenge, 1, HALF * m)
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

/// For 8 words, byte `l` = the 8 bits of lane `l` (bit `a` from word `a`).
#[inline(always)]
fn lane_bytes(b: &[u64]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for q in 0..8 {
        let mut x = 0u64;
        for (a, w) in b.iter().take(8).enumerate() {
            x |= ((w >> (8 * q)) & 0xff) << (8 * a);
        }
        out[8 * q..8 * q + 8].copy_from_slice(&transpose8(x).to_le_bytes());
    }
    out
}

/// `table[v] = XOR of x_a for the bits a of v` (8 elements). Built from two
/// 16-entry halves so that no entry waits on a store of the previous one
/// (the one-entry-at-a-time recurrence was 15% of an LTZ).
#[inline(always)]
fn subset_xors(x: &[u64], table: &mut [u64; 256]) {
    let half = |x: &[u64]| -> [u64; 16] {
        std::array::from_fn(|v| (0..4).fold(0u64, |acc, a| acc ^ (x[a] & 0u64.wrapping_sub((v as u64 >> a) & 1))))
    };
    let (lo, hi) = (half(&x[..4]), half(&x[4..8]));
    for (row, h) in table.chunks_exact_mut(16).zip(hi) {
        for (t, l) in row.iter_mut().zip(lo) {
            *t = l ^ h;
        }
    }
}

/// The prover's round-0 cross products.
struct Cross0<'a> {
    log: &'a BoolLog,
    alpha: &'a [u64],
}

impl clmul::Task for Cross0<'_> {
    type Out = Vec<G64>;
    #[inline(always)]
    fn run<C: Clmul>(self, c: C) -> Vec<G64> {
        let m = self.log.block_words();
        let mut acc = [[c.zero(); KB]; KB];
        for w in 0..m {
            let mut uw = [0u64; KB];
            let mut vw = [0u64; KB];
            let mut al = [0u64; KB];
            for a in 0..KB {
                let (t, ww) = BoolLog::block_word(a, m, w);
                uw[a] = self.log.uword(View::Prover, t, ww);
                vw[a] = self.log.vword(View::Prover, t, ww);
                al[a] = self.alpha[ww];
            }
            for a in 0..KB {
                if uw[a] == 0 {
                    continue;
                }
                for b in 0..KB {
                    acc[a][b] = c.mul_add(acc[a][b], al[a], uw[a] & vw[b]);
                }
            }
        }
        acc.iter().flat_map(|row| row.iter().map(|x| G64(gf64::reduce(c.sum(*x))))).collect()
    }
}

/// Round-0 fold of `u`: `u'[64 w + l] = x^l sum_a r_a alpha_{w_a} U_a(w, l)`,
/// a subset-XOR table of the `KB` coefficients per word, indexed by the
/// lane's bits; appended to `outs[i]` from the planes of `views[i]`. The
/// tables depend only on the coefficients, so the views of one party (the
/// prover's and its V_prev share, under common randomness) share them.
struct FoldU<'a, const N: usize> {
    log: &'a BoolLog,
    views: [View; N],
    alpha: &'a [u64],
    r: &'a [G64],
    outs: [Vec<G64>; N],
}

impl<const N: usize> clmul::Task for FoldU<'_, N> {
    type Out = [Vec<G64>; N];
    #[inline(always)]
    fn run<C: Clmul>(mut self, c: C) -> [Vec<G64>; N] {
        let m = self.log.block_words();
        let mut tables = [[0u64; 256]; KB / 8];
        for w in 0..m {
            let mut gamma = [0u64; KB];
            for (a, g) in gamma.iter_mut().enumerate() {
                let (_, ww) = BoolLog::block_word(a, m, w);
                *g = gf64::reduce(c.clmul(self.r[a].0, self.alpha[ww]));
            }
            for (g, table) in tables.iter_mut().enumerate() {
                subset_xors(&gamma[8 * g..8 * g + 8], table);
            }
            for (view, out) in self.views.iter().zip(&mut self.outs) {
                let bits: [u64; KB] = std::array::from_fn(|a| {
                    let (t, ww) = BoolLog::block_word(a, m, w);
                    self.log.uword(*view, t, ww)
                });
                let idx: [[u8; 64]; KB / 8] = std::array::from_fn(|g| lane_bytes(&bits[8 * g..8 * g + 8]));
                let mut lanes: [u64; 64] =
                    std::array::from_fn(|l| tables.iter().zip(&idx).fold(0u64, |s, (t, ix)| s ^ t[ix[l] as usize]));
                gf64::mul_xpow_lanes(&mut lanes);
                out.extend(lanes.map(G64));
            }
        }
        self.outs
    }
}

/// A verifier's claim share `sum_w alpha_w word(w)`.
struct Claim<'a> {
    alpha: &'a [u64],
    words: &'a mut dyn Iterator<Item = u64>,
}

impl clmul::Task for Claim<'_> {
    type Out = G64;
    #[inline(always)]
    fn run<C: Clmul>(self, c: C) -> G64 {
        let acc = self.alpha.iter().zip(self.words).fold(c.zero(), |acc, (a, w)| c.mul_add(acc, *a, w));
        G64(gf64::reduce(c.sum(acc)))
    }
}

impl BoolLog {
    fn fold_u<const N: usize>(
        &self,
        views: [View; N],
        alpha: &[u64],
        r: &[G64],
        pool: &mut Pool<G64>,
    ) -> [Vec<G64>; N] {
        let outs = std::array::from_fn(|_| {
            let mut out = pool.take(64 * self.block_words() + 1 + super::K);
            out.push(G64(0)); // slot 0: the pad
            out
        });
        clmul::run(FoldU { log: self, views, alpha, r, outs })
    }

    /// A verifier's claim share: `sum_w alpha_w P_w` (V_prev, `P = z_i ^ r_i ^ ab`
    /// from its second components) or `sum_w alpha_w Q_w` (V_next, `Q = r_{i+1}`,
    /// its first component).
    fn claim(&self, alpha: &[u64], as_prev: bool) -> G64 {
        if as_prev {
            let mut p = (0..self.words()).map(|w| self.z1[w] ^ self.r1[w] ^ (self.x1[w] & self.y1[w]));
            clmul::run(Claim { alpha, words: &mut p })
        } else {
            clmul::run(Claim { alpha, words: &mut self.r0.iter().copied() })
        }
    }

    /// Round-0 fold of `v`: `v'[64 w + l] = sum_b s_b V_b(w, l)`, one table
    /// set for all words (no per-gate coefficient on this side).
    fn fold_v(&self, view: View, s: &[G64], pool: &mut Pool<G64>) -> Vec<G64> {
        let m = self.block_words();
        let mut out = pool.take(64 * m + 1 + super::K);
        out.push(G64(0)); // slot 0: the pad
        let mut tables = [[0u64; 256]; KB / 8];
        let sv: Vec<u64> = s.iter().map(|x| x.0).collect();
        for (g, t) in tables.iter_mut().enumerate() {
            subset_xors(&sv[8 * g..8 * g + 8], t);
        }
        let mut bits = [0u64; KB];
        for w in 0..m {
            for (b, slot) in bits.iter_mut().enumerate() {
                let (t, ww) = Self::block_word(b, m, w);
                *slot = self.vword(view, t, ww);
            }
            let idx: [[u8; 64]; KB / 8] = std::array::from_fn(|g| lane_bytes(&bits[8 * g..8 * g + 8]));
            out.extend((0..64).map(|l| G64(tables.iter().zip(&idx).fold(0u64, |s, (t, ix)| s ^ t[ix[l] as usize]))));
        }
        out
    }
}

/// A verifier's share that is zero but for the pad slot: stored as the pad
/// slot alone (folding zeros past the end gives zeros, and the fold skips
/// such shares).
fn pad_only() -> Vec<G64> {
    vec![G64(0)]
}

impl Instance for BoolLog {
    type R = G64;
    const K0: usize = KB;

    fn folded_len(&self) -> usize {
        64 * self.block_words()
    }

    fn n_carries(&self) -> usize {
        0
    }

    fn recycle(mut self, s: &mut crate::Session) {
        self.clear();
        if s.bool_log.words() == 0 && s.bool_log.x0.capacity() < self.x0.capacity() {
            s.bool_log = self;
        }
    }

    fn prover_carries(&mut self, _: &SessionId, _: &[u8; 16]) -> Vec<G64> {
        Vec::new()
    }

    fn prover_cross0(&mut self, sid: &SessionId, _: &[u8; 16], lambda: &[u8; 16]) -> Vec<G64> {
        let alpha = alphas(sid, lambda, self.block_words());
        clmul::run(Cross0 { log: self, alpha: &alpha })
    }

    fn prover_fold0(
        &mut self,
        sid: &SessionId,
        _: &[u8; 16],
        lambda: &[u8; 16],
        r: &[G64],
        s: &[G64],
        pool: &mut Pool<G64>,
    ) -> (Vec<G64>, Vec<G64>) {
        let alpha = alphas(sid, lambda, self.block_words());
        let [u] = self.fold_u([View::Prover], &alpha, r, pool);
        (u, self.fold_v(View::Prover, s, pool))
    }

    fn verifier_fold0(
        &mut self,
        sid: &SessionId,
        _: &[u8; 16],
        lambda: &[u8; 16],
        _: &[G64],
        as_prev: bool,
        r: &[G64],
        s: &[G64],
        pool: &mut Pool<G64>,
    ) -> Shares<G64> {
        let alpha = alphas(sid, lambda, self.block_words());
        let c = self.claim(&alpha, as_prev);
        if as_prev {
            let [u] = self.fold_u([View::Prev], &alpha, r, pool);
            Shares { u, v: pad_only(), c }
        } else {
            Shares { u: pad_only(), v: self.fold_v(View::Next, s, pool), c }
        }
    }

    fn round0_all(
        &mut self,
        sid: &SessionId,
        _: &[u8; 16],
        lambda: &[u8; 16],
        _: &[G64],
        _: &[G64],
        r: &[G64],
        s: &[G64],
        pool: &mut Pool<G64>,
    ) -> Round0<G64> {
        // The prover's u and its V_prev share use the same coefficients:
        // one pass builds each word's tables once for both.
        let alpha = alphas(sid, lambda, self.block_words());
        let [pu, u] = self.fold_u([View::Prover, View::Prev], &alpha, r, pool);
        let prover = Shares { u: pu, v: self.fold_v(View::Prover, s, pool), c: G64(0) };
        let prev = Shares { u, v: pad_only(), c: self.claim(&alpha, true) };
        let next = Shares { u: pad_only(), v: self.fold_v(View::Next, s, pool), c: self.claim(&alpha, false) };
        Round0 { prover, prev, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dzkp::ring::VRing;

    #[test]
    fn lane_bytes_gather_the_bits_of_each_lane() {
        let mut b = [0u64; 8];
        for (a, w) in b.iter_mut().enumerate() {
            *w = 0x9e37_79b9_7f4a_7c15u64.rotate_left(7 * a as u32) ^ (a as u64 * 0x0101_0101);
        }
        let got = lane_bytes(&b);
        for (l, g) in got.iter().enumerate() {
            let want = (0..8).fold(0u8, |acc, a| acc | ((((b[a] >> l) & 1) as u8) << a));
            assert_eq!(*g, want, "lane {l}");
        }
    }

    #[test]
    fn subset_xors_are_xors_of_subsets() {
        let x: Vec<u64> = (0..8u64).map(|a| 0x9e37_79b9_7f4a_7c15u64.rotate_left(9 * a as u32)).collect();
        let mut t = [0u64; 256];
        subset_xors(&x, &mut t);
        for (v, got) in t.iter().enumerate() {
            assert_eq!(*got, (0..8).filter(|a| v >> a & 1 == 1).fold(0, |acc, a| acc ^ x[a]), "subset {v:#b}");
        }
    }

    /// The three logs of one prover `P_i` (its own, `V_prev`'s, `V_next`'s)
    /// over `words` words; `cheat` flips bits of `z_i` in word 0.
    fn logs(words: usize, cheat: u64) -> (BoolLog, BoolLog, BoolLog) {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let (mut p, mut vp, mut vn) = (BoolLog::default(), BoolLog::default(), BoolLog::default());
        for w in 0..words {
            let (a, b, c, d, ri, ri1) = (next(), next(), next(), next(), next(), next());
            let z = (a & b) ^ (a & d) ^ (b & c) ^ ri ^ ri1 ^ if w == 0 { cheat } else { 0 };
            for (log, row) in [
                (&mut p, [a, c, b, d, z, next(), ri, ri1]),
                (&mut vp, [next(), a, next(), b, next(), z, next(), ri]),
                (&mut vn, [c, next(), d, next(), next(), next(), ri1, next()]),
            ] {
                for (col, x) in [
                    &mut log.x0,
                    &mut log.x1,
                    &mut log.y0,
                    &mut log.y1,
                    &mut log.z0,
                    &mut log.z1,
                    &mut log.r0,
                    &mut log.r1,
                ]
                .into_iter()
                .zip(row)
                {
                    col.push(x);
                }
            }
        }
        (p, vp, vn)
    }

    /// Round 0 from the three views: the verifiers' folds add up to the
    /// prover's, the cross products' trace is the claim (for an honest
    /// prover), and the folded claim is the folded vectors' inner product.
    fn round0(words: usize, cheat: u64) -> bool {
        let (mut p, mut vp, mut vn) = logs(words, cheat);
        let (sid, lambda) = (SessionId([3; 16]), [9u8; 16]);
        let cross = p.prover_cross0(&sid, &[0; 16], &lambda);
        let r: Vec<G64> =
            (0..KB as u64).map(|a| G64(if a == 0 { 1 } else { a.wrapping_mul(0x9e37_79b9_7f4a_7c15) })).collect();
        let s: Vec<G64> =
            (0..KB as u64).map(|a| G64(if a == 0 { 1 } else { a.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) })).collect();
        let mut pool = Pool::default();
        let (pu, pv) = p.prover_fold0(&sid, &[0; 16], &lambda, &r, &s, &mut pool);
        let a = vp.verifier_fold0(&sid, &[0; 16], &lambda, &[], true, &r, &s, &mut pool);
        let b = vn.verifier_fold0(&sid, &[0; 16], &lambda, &[], false, &r, &s, &mut pool);
        assert_eq!(pu, a.u, "V_prev holds all of u");
        assert_eq!(pv, b.v, "V_next holds all of v");
        assert_eq!((a.v.len(), b.u.len()), (1, 1), "the other shares are pad-only");
        let folded = (0..KB * KB).fold(G64(0), |acc, i| acc.add(r[i / KB].mul(s[i % KB]).mul(cross[i])));
        let inner = pu.iter().zip(&pv).skip(1).fold(G64(0), |acc, (x, y)| acc.add(x.mul(*y)));
        assert_eq!(folded, inner, "folded cross products = folded inner product");
        let trace = (0..KB).fold(G64(0), |acc, i| acc.add(cross[i * KB + i]));
        trace == a.c.add(b.c)
    }

    #[test]
    fn the_portable_multiplier_gives_the_same_round_0() {
        use crate::clmul::{Soft, Task};
        let (p, _, _) = logs(40, 0);
        let alpha = alphas(&SessionId([5; 16]), &[6; 16], p.block_words());
        let want = clmul::run(Cross0 { log: &p, alpha: &alpha });
        assert_eq!(Cross0 { log: &p, alpha: &alpha }.run(Soft), want);
        let r: Vec<G64> = (0..KB as u64).map(|a| G64(a * 0x0123_4567_89ab_cdef + 1)).collect();
        let fold = |soft: bool| {
            let t = FoldU { log: &p, views: [View::Prover], alpha: &alpha, r: &r, outs: [Vec::new()] };
            if soft { t.run(Soft) } else { clmul::run(t) }
        };
        assert_eq!(fold(true), fold(false));
    }

    #[test]
    fn round0_of_all_roles_matches_each_role_alone() {
        let (mut log, _, _) = logs(70, 0);
        let (sid, lambda) = (SessionId([8; 16]), [1u8; 16]);
        let r: Vec<G64> = (0..KB as u64).map(|a| G64(a.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)).collect();
        let s: Vec<G64> = (0..KB as u64).map(|a| G64(a.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) + 3)).collect();
        let mut pool = Pool::default();
        let all = log.round0_all(&sid, &[0; 16], &lambda, &[], &[], &r, &s, &mut pool);
        let (pu, pv) = log.prover_fold0(&sid, &[0; 16], &lambda, &r, &s, &mut pool);
        let prev = log.verifier_fold0(&sid, &[0; 16], &lambda, &[], true, &r, &s, &mut pool);
        let next = log.verifier_fold0(&sid, &[0; 16], &lambda, &[], false, &r, &s, &mut pool);
        assert_eq!((all.prover.u, all.prover.v), (pu, pv));
        assert_eq!((all.prev.u, all.prev.v, all.prev.c), (prev.u, prev.v, prev.c));
        assert_eq!((all.next.u, all.next.v, all.next.c), (next.u, next.v, next.c));
    }

    #[test]
    fn round0_holds_for_an_honest_prover_and_not_for_a_cheat() {
        for words in [1, 7, 8, 9, 33, 1000] {
            assert!(round0(words, 0), "honest, {words} words");
            for cheat in [1u64, 1 << 63, 0x10, u64::MAX] {
                assert!(!round0(words, cheat), "cheat {cheat:#x}, {words} words");
            }
        }
    }
}
