//! The product relation: Araki multiplications and dot products over Z_2^64,
//! proven in Z_2^{64+s} = `A` (ePrint 2024/700, Sec. 4).
//!
//! For relation `j` (a product, or a dot product with terms `m`), an honest
//! prover has `E_j = Q_j - L_j = 2^64 c_j` with
//! `Q_j = sum_m x_i (y_i + y_{i+1}) + x_{i+1} y_i` and
//! `L_j = z_i - r_i + r_{i+1}`. Using
//! `x_i y_i + x_i y_{i+1} + x_{i+1} y_i = (x_i + x_{i+1})(y_i + y_{i+1}) - x_{i+1} y_{i+1}`
//! (the last product is known to `V_next` alone, a local term of its claim
//! share), the claim is `<u, v> = c` with one entry per term:
//! `u_m = rho_j (x_i + x_{i+1})`, `v_m = y_i + y_{i+1}`.
//!
//! Round 0 never stores these length-`T` vectors: every role reads the log.
//! Round 0 folds by `K0 = 4` (later rounds by `K = 4`, `dzkp/mod.rs`): its
//! cross products cost `K0` multiply-adds per term, the dominant cost of the
//! prover. The layout is interleaved, term `m` in block `m % K0` at offset
//! `m / K0`, so a round-0 fold reads `K0` consecutive terms and writes one
//! entry.

use super::inst::{Instance, Pool, Round0, Shares};
use super::ring::{Accumulator, ArithRing};
use crate::SessionId;
use crate::prf::{Prf, Purpose};
use crate::session::ArithLog;

/// Number of binary subset sums that cancel the carries (ePrint 2024/700
/// uses 40; each detects a wrong gate with probability >= 1/2 independently,
/// so a cheat survives with probability 2^-KAPPA; 48 leaves margin for the
/// folding rounds' share of the 40-bit budget).
pub(crate) const KAPPA: usize = 48;
/// Fold factor of round 0 for products (and logs of short dot products):
/// its cross products cost `K0` multiply-adds of a full-width `rho x` by
/// `y` per term, so a wider fold costs more than it saves in later rounds.
pub(crate) const K0_PRODUCTS: usize = 4;
/// Fold factor of round 0 for logs of long dot products: there `rho`
/// factors out of the cross products (one `mul` per product of two 65-bit
/// integers), and halving the later rounds' length is the better trade.
pub(crate) const K0_DOTS: usize = 8;
/// Subset bytes per relation.
const CHI_BYTES: usize = KAPPA / 8;
/// Groups of `K0` terms per chunk of the prover's round-0 cross products
/// for `K0 = 4` (the chunk's `u` and `v` stay in L1); `CHUNK * 4 / K0`
/// for a wider fold.
const CHUNK: usize = 128;
/// Groups per tile of a round-0 fold: one block's `r_a`-scaled tables
/// (36 KB for Z_2^192) and the tile's log entries stay in L1.
const FOLD_TILE: usize = 64;

/// One relation's subset bits: `chi_{t,j}` is bit `t % 8` of byte `t / 8`.
pub(crate) type ChiRow = [u8; CHI_BYTES];

/// Bits of `chi_j` per subset-sum table: bytes. Measured slower: 6-bit
/// pieces (8 look-ups into 12 KB of Z_2^192 tables, in L1) and 12-bit ones
/// (4 look-ups into 384 KB).
const PIECE: usize = 8;
/// Entries per table.
const ENTRIES: usize = 1 << PIECE;
/// Tables per relation: `KAPPA / PIECE`.
const PIECES: usize = KAPPA / PIECE;
const _: () = assert!(PIECES * PIECE == KAPPA && KAPPA <= 64);

/// Subset-sum tables by `PIECE`-bit piece of `chi_j`:
/// `t[q][v] = sum_{i in v} scale lambda_{PIECE q + i}` (fixed size, so that
/// look-ups need no bounds checks).
type Tables<A> = [[A; ENTRIES]; PIECES];

/// Piece `q` of a relation's subset bits.
#[inline(always)]
fn piece(bits: u64, q: usize) -> usize {
    ((bits >> (PIECE * q)) & (ENTRIES as u64 - 1)) as usize
}

/// A relation's subset bits as one word.
#[inline(always)]
fn chi_word(chi: &ChiRow) -> u64 {
    let mut b = [0u8; 8];
    b[..CHI_BYTES].copy_from_slice(chi);
    u64::from_le_bytes(b)
}

/// The subset bits of `n` relations from `seed`, into `buf` (recycled: a
/// fresh multi-megabyte buffer costs more in page faults than the AES).
fn chi_rows(sid: &SessionId, seed: &[u8; 16], n: usize, buf: &mut Vec<ChiRow>) {
    buf.clear();
    buf.resize(n, [0; CHI_BYTES]);
    Prf::new(seed, sid).fill_bytes(Purpose::Challenge, 0, buf.as_flattened_mut());
}

/// The subset bits of `n` relations as words (for the adaptive attack of
/// the tests).
#[cfg(feature = "deviation")]
pub(crate) fn chi_words(sid: &SessionId, seed: &[u8; 16], n: usize) -> Vec<u64> {
    let mut buf = Vec::new();
    chi_rows(sid, seed, n, &mut buf);
    buf.iter().map(chi_word).collect()
}

/// Per-relation combination coefficients
/// `rho_j = sum_t lambda_t chi_{t,j}` (ePrint 2024/700, Sec. 4: binary subset
/// sums with random `lambda_t` in Z_2^{64+s}), evaluated with byte tables:
/// `tables[q][v] = sum_{i in v} lambda_{8q+i}`.
struct Combiner<A> {
    tables: Box<Tables<A>>,
    lambda: Vec<A>,
}

impl<A: ArithRing> Combiner<A> {
    fn new(sid: &SessionId, lambda: &[u8; 16]) -> Combiner<A> {
        let raw = Prf::new(lambda, sid).wide(Purpose::Challenge, 0, KAPPA * A::WIRE);
        let lambda: Vec<A> = raw.chunks_exact(A::WIRE).map(A::from_random).collect();
        Combiner { tables: byte_tables(&lambda, A::ONE), lambda }
    }

    /// `2^64 * sum_t lambda_t C_t` for carry shares `C_t`.
    fn carry_term(&self, carry: &[A]) -> A {
        self.lambda.iter().zip(carry).fold(A::ZERO, |a, (l, c)| a.add(l.mul(*c))).shl64()
    }
}

/// The subset-sum tables of `scale * lambda`.
fn byte_tables<A: ArithRing>(lambda: &[A], scale: A) -> Box<Tables<A>> {
    let mut tables = Box::new([[A::ZERO; ENTRIES]; PIECES]);
    for (q, t) in tables.iter_mut().enumerate() {
        for v in 1..ENTRIES {
            let low = v & (v - 1);
            let bit = (v ^ low).trailing_zeros() as usize;
            t[v] = t[low].add(scale.mul(lambda[PIECE * q + bit]));
        }
    }
    tables
}

/// `sum_q tables[q][chi_q]`: `rho_j` (or a multiple) from relation `j`'s
/// subset bytes.
#[inline(always)]
fn lookup<A: ArithRing>(tables: &Tables<A>, chi: &ChiRow) -> A {
    let bits = chi_word(chi);
    let mut acc = tables[0][piece(bits, 0)];
    for (q, t) in tables.iter().enumerate().skip(1) {
        acc = acc.add(t[piece(bits, q)]);
    }
    acc
}

/// Sums of per-relation values by subset byte: `b[q][v] = sum of the values
/// of the relations whose byte `q` is `v`; then `sum_j rho_j e_j` (a claim
/// share) is `sum_{q,v} tables[q][v] b[q][v]`.
struct Buckets<A> {
    b: Box<Tables<A>>,
}

impl<A: ArithRing> Buckets<A> {
    fn new() -> Self {
        Buckets { b: Box::new([[A::ZERO; ENTRIES]; PIECES]) }
    }

    #[inline(always)]
    fn add(&mut self, chi: &ChiRow, e: A) {
        let bits = chi_word(chi);
        for (q, bucket) in self.b.iter_mut().enumerate() {
            let v = piece(bits, q);
            bucket[v] = bucket[v].add(e);
        }
    }

    /// `sum_j rho_j e_j`.
    fn combined(&self, comb: &Combiner<A>) -> A {
        let mut acc = A::Acc::default();
        for (t, b) in comb.tables.iter().zip(self.b.iter()) {
            for (x, y) in t.iter().zip(b) {
                acc.mac(*x, *y);
            }
        }
        acc.total()
    }
}

/// `Q_j = sum_m x_i y_i + x_i y_{i+1} + x_{i+1} y_i` as an integer:
/// `lo + 2^128 over` (`over` wrapping: only `Q_j / 2^64 mod 2^128` is used).
#[derive(Clone, Copy, Default)]
struct HighSum {
    lo: u128,
    over: u128,
}

impl HighSum {
    #[inline(always)]
    fn add(self, x0: u64, x1: u64, y0: u64, y1: u64) -> HighSum {
        let (x0, x1, y0, y1) = (x0 as u128, x1 as u128, y0 as u128, y1 as u128);
        let (s, c0) = self.lo.overflowing_add(x0 * y0);
        let (s, c1) = s.overflowing_add(x0 * y1);
        let (s, c2) = s.overflowing_add(x1 * y0);
        HighSum { lo: s, over: self.over.wrapping_add(c0 as u128 + c1 as u128 + c2 as u128) }
    }

    /// `c_j = (Q_j - L_j) / 2^64 mod 2^128` with `L_j = z_i - r_i + r_{i+1}`,
    /// for a prover whose `Q_j = L_j mod 2^64` (an honest one: it computed
    /// `z_i` so): then `c_j` is the difference of the parts above 2^64. (A
    /// cheating prover's carries are wrong anyway; nothing relies on them.)
    #[inline(always)]
    fn carry(self, z0: u64, r0: u64, r1: u64) -> u128 {
        let high_q = (self.lo >> 64).wrapping_add(self.over << 64);
        let l = z0 as i128 - r0 as i128 + r1 as i128;
        high_q.wrapping_sub((l >> 64) as u128)
    }
}

/// Per-piece sums of the carries `c_j` mod 2^128 (two-word entries, where
/// [`Buckets`] over Z_2^192 updates three).
struct CarryBuckets {
    b: Box<[[u128; ENTRIES]; PIECES]>,
}

impl CarryBuckets {
    fn new() -> Self {
        CarryBuckets { b: Box::new([[0; ENTRIES]; PIECES]) }
    }

    #[inline(always)]
    fn add(&mut self, chi: &ChiRow, c: u128) {
        let bits = chi_word(chi);
        for (q, bucket) in self.b.iter_mut().enumerate() {
            let v = piece(bits, q);
            bucket[v] = bucket[v].wrapping_add(c);
        }
    }

    /// `C_t = sum_j chi_{t,j} c_j mod 2^128`, t < KAPPA.
    fn subset_sums(&self) -> Vec<u128> {
        (0..KAPPA)
            .map(|t| {
                let (q, bit) = (t / PIECE, t % PIECE);
                (0..ENTRIES).filter(|v| v >> bit & 1 == 1).fold(0u128, |a, v| a.wrapping_add(self.b[q][v]))
            })
            .collect()
    }
}

/// The operands of one role for term `m`: `u_m = rho x`, `v_m = y` with
/// `x = xl + 2^64 xb`, `y = yl + 2^64 yb` (`xb, yb` in {0, 1}).
#[derive(Clone, Copy)]
struct Operands {
    xl: u64,
    xb: u64,
    yl: u64,
    yb: u64,
}

/// Which party's view of the log builds the vectors (a const parameter, so
/// that the verifiers' loops drop the 65th bits).
/// The prover: `x_i + x_{i+1}`, `y_i + y_{i+1}` (65 bits).
const PROVER: u8 = 0;
/// `V_prev`: its second components are the prover's `x_i, y_i`.
const PREV: u8 = 1;
/// `V_next`: its first components are the prover's `x_{i+1}, y_{i+1}`.
const NEXT: u8 = 2;

/// The arithmetic relation proven in Z_2^{64+s} = `A`.
pub(crate) struct ArithInst<A, const K0: usize> {
    pub(crate) log: ArithLog,
    /// Relation of each term, when some relation has several (dot products).
    rel_of: Vec<u32>,
    /// The prover's subset bytes, kept from the carries to round 0.
    chi: Vec<ChiRow>,
    /// Recycled buffers for the verifiers' subset bytes.
    spare: Vec<Vec<ChiRow>>,
    _ring: std::marker::PhantomData<A>,
}

impl<A: ArithRing, const K0: usize> ArithInst<A, K0> {
    /// `spare`: recycled subset-byte buffers (see [`Instance::recycle`]).
    pub(crate) fn new(log: ArithLog, mut spare: Vec<Vec<ChiRow>>) -> Self {
        let rel_of =
            log.terms.iter().enumerate().flat_map(|(j, &n)| std::iter::repeat_n(j as u32, n as usize)).collect();
        // Emptied: the prover's rows are computed when their length is off.
        let mut chi = spare.pop().unwrap_or_default();
        chi.clear();
        ArithInst { log, rel_of, chi, spare, _ring: std::marker::PhantomData }
    }

    fn terms(&self) -> usize {
        self.log.x0.len()
    }

    #[inline(always)]
    fn rel(&self, m: usize) -> usize {
        if self.rel_of.is_empty() { m } else { self.rel_of[m] as usize }
    }

    /// The relation of terms `first..=last` when they all belong to one
    /// (relations are contiguous runs of terms): a dot product's `rho` then
    /// factors out of their sums.
    #[inline(always)]
    fn run_rel(&self, first: usize, last: usize) -> Option<usize> {
        if self.rel_of.is_empty() || last >= self.terms() {
            return None;
        }
        let j = self.rel_of[first];
        (self.rel_of[last] == j).then_some(j as usize)
    }

    #[inline(always)]
    fn operands<const ROLE: u8>(&self, m: usize) -> Operands {
        let log = &self.log;
        match ROLE {
            PROVER => {
                let (xl, xb) = log.x0[m].overflowing_add(log.x1[m]);
                let (yl, yb) = log.y0[m].overflowing_add(log.y1[m]);
                Operands { xl, xb: xb as u64, yl, yb: yb as u64 }
            }
            PREV => Operands { xl: log.x1[m], xb: 0, yl: log.y1[m], yb: 0 },
            _ => Operands { xl: log.x0[m], xb: 0, yl: log.y0[m], yb: 0 },
        }
    }

    /// The prover's subset bytes, computed on first use (the buffer is
    /// handed back by the caller with `self.chi = ...`).
    fn prover_chi(&mut self, sid: &SessionId, chi: &[u8; 16]) -> Vec<ChiRow> {
        let mut rows = std::mem::take(&mut self.chi);
        if rows.len() != self.log.relations() {
            chi_rows(sid, chi, self.log.relations(), &mut rows);
        }
        rows
    }

    /// Round-0 fold from the log: `u'[1+g] = sum_a r_a rho_{gK+a} x_{gK+a}`
    /// (with tables of `r_a lambda`, so no full product per term) and
    /// `v'[1+g] = sum_a s_a y_{gK+a}`; slot 0 is left for the pad. Tiled
    /// by `FOLD_TILE` groups so that one block's tables stay in L1.
    fn fold0<const ROLE: u8>(
        &self,
        chi: &[ChiRow],
        lambda: &[A],
        r: &[A],
        s: &[A],
        pool: &mut Pool<A>,
    ) -> (Vec<A>, Vec<A>) {
        let scaled: Vec<Box<Tables<A>>> = r.iter().map(|ra| byte_tables(lambda, *ra)).collect();
        let (t, groups) = (self.terms(), self.folded_len());
        // Room for the later rounds' block padding.
        let mut u = pool.take(1 + groups + super::K);
        let mut v = pool.take(1 + groups + super::K);
        u.push(A::ZERO);
        v.push(A::ZERO);
        let mut au = [A::Acc::default(); FOLD_TILE];
        let mut av = [A::Acc::default(); FOLD_TILE];
        for g0 in (0..groups).step_by(FOLD_TILE) {
            let n = FOLD_TILE.min(groups - g0);
            au[..n].fill(A::Acc::default());
            av[..n].fill(A::Acc::default());
            for (a, (tables, sa)) in scaled.iter().zip(s).enumerate() {
                for (g, (xu, xv)) in au[..n].iter_mut().zip(&mut av[..n]).enumerate() {
                    let m = (g0 + g) * K0 + a;
                    if m >= t {
                        break;
                    }
                    let j = self.rel(m);
                    let o = self.operands::<ROLE>(m);
                    xu.mac65(lookup(tables, &chi[j]), o.xl, o.xb);
                    xv.mac65(*sa, o.yl, o.yb);
                }
            }
            u.extend(au[..n].iter().map(|x| x.total()));
            v.extend(av[..n].iter().map(|x| x.total()));
        }
        (u, v)
    }
}

impl<A: ArithRing, const K0: usize> ArithInst<A, K0> {
    /// Round 0 of both verifier roles in one pass over the log (they share
    /// `rho`, the challenges and the log rows): the folded shares
    /// `u'[1+g] = sum_a r_a rho_j x_m`, `v'[1+g] = sum_a s_a y_m`
    /// (`m = gK + a`, relation `j` of term `m`; slot 0 left for the pad) and
    /// the log part of each claim share, `sum_j rho_j l_j` with
    /// `l_j = z_i - r_i` (V_prev, whose `x, y` are the log's second
    /// components) or `r_{i+1} + sum_m x_{i+1} y_{i+1}` (V_next: the first
    /// ones). One `rho_j` look-up per term serves both roles and both
    /// claims (scaled tables per block would need another look-up for the
    /// claims), `r_a rho_j` is one product for both roles, and the
    /// accumulators stay in registers (the `v` folds, which need neither
    /// `rho` nor `x`, run in a second pass: with all six accumulators in one
    /// pass it was 8% slower). Returns `[V_prev, V_next]`.
    fn verifiers_pass(
        &self,
        chi: &[ChiRow],
        comb: &Combiner<A>,
        r: &[A],
        s: &[A],
        pool: &mut Pool<A>,
    ) -> [Shares<A>; 2] {
        let log = &self.log;
        let (t, groups) = (self.terms(), self.folded_len());
        // Relations of one product each: their part of the claims is taken
        // per term, in this pass; otherwise (dot products) per relation, after.
        let single = self.rel_of.is_empty();
        let mut out = [0, 1].map(|_| {
            let mut x = Shares { u: pool.take(1 + groups + super::K), v: pool.take(1 + groups + super::K), c: A::ZERO };
            x.u.push(A::ZERO);
            x.v.push(A::ZERO);
            x
        });
        let (mut cp, mut cn) = (A::Acc::default(), A::Acc::default());
        // V_prev's `l_j = z_i - r_i` enters as `(l_j + 2^64) - 2^64`, so that
        // its factor is a 65-bit value: `sum_rho` collects the correction.
        let mut sum_rho = A::ZERO;
        // A dot product's groups (all `K0` terms in relation `run`): `r_a
        // rho` once per relation, and V_next's local terms summed as
        // integers and multiplied by `rho` once (`flush`).
        let mut run = usize::MAX;
        let mut ra_rho = [A::ZERO; K0];
        let mut run_local = A::Acc::default();
        let flush = |cn: &mut A::Acc, rho: A, local: &mut A::Acc| {
            cn.mac(rho, std::mem::take(local).total());
        };
        for g in 0..groups {
            let (mut up, mut un) = (A::Acc::default(), A::Acc::default());
            if let Some(j) = self.run_rel(g * K0, g * K0 + K0 - 1) {
                if j != run {
                    if run != usize::MAX {
                        flush(&mut cn, ra_rho[0], &mut run_local);
                    }
                    run = j;
                    ra_rho[0] = lookup(&comb.tables, &chi[j]);
                    for a in 1..K0 {
                        ra_rho[a] = r[a].mul(ra_rho[0]);
                    }
                }
                for (a, rr) in ra_rho.iter().enumerate() {
                    let m = g * K0 + a;
                    let (x0, x1, y0) = (log.x0[m], log.x1[m], log.y0[m]);
                    up.mac65(*rr, x1, 0);
                    un.mac65(*rr, x0, 0);
                    run_local.add128(x0 as u128 * y0 as u128);
                }
                let [p, n] = &mut out;
                p.u.push(up.total());
                n.u.push(un.total());
                continue;
            }
            for (a, ra) in r.iter().enumerate().take(K0) {
                let m = g * K0 + a;
                if m >= t {
                    break;
                }
                let j = self.rel(m);
                let rho = lookup(&comb.tables, &chi[j]);
                let (x0, x1, y0) = (log.x0[m], log.x1[m], log.y0[m]);
                // r_a rho once, then one 64-bit product per role.
                let ra_rho = if a == 0 { rho } else { ra.mul(rho) };
                up.mac65(ra_rho, x1, 0);
                un.mac65(ra_rho, x0, 0);
                // V_next's local term rho x_{i+1} y_{i+1} (+ rho r_{i+1}):
                // x y + r < 2^128, one 128-bit factor.
                let local = x0 as u128 * y0 as u128;
                if single {
                    cn.mac128(rho, local + log.r0[j] as u128);
                    let (lo, borrow) = log.z1[j].overflowing_sub(log.r1[j]);
                    cp.mac65(rho, lo, !borrow as u64);
                    sum_rho = sum_rho.add(rho);
                } else {
                    cn.mac128(rho, local);
                }
            }
            let [p, n] = &mut out;
            p.u.push(up.total());
            n.u.push(un.total());
        }
        if run != usize::MAX {
            flush(&mut cn, ra_rho[0], &mut run_local);
        }
        // The v folds need neither rho nor x: a second, lighter pass keeps
        // the first one's accumulators in registers.
        let [p, n] = &mut out;
        for (ys1, ys0) in log.y1.chunks(K0).zip(log.y0.chunks(K0)) {
            let (mut vp, mut vn) = (A::Acc::default(), A::Acc::default());
            for (a, (y1, y0)) in ys1.iter().zip(ys0).enumerate() {
                if a == 0 {
                    vp.add(A::from_u64(*y1));
                    vn.add(A::from_u64(*y0));
                } else {
                    vp.mac65(s[a], *y1, 0);
                    vn.mac65(s[a], *y0, 0);
                }
            }
            p.v.push(vp.total());
            n.v.push(vn.total());
        }
        out[0].c = cp.total().sub(sum_rho.shl64());
        out[1].c = cn.total();
        if !single {
            out[0].c = out[0].c.add(self.relation_claims::<PREV>(chi, comb));
            out[1].c = out[1].c.add(self.relation_claims::<NEXT>(chi, comb));
        }
        out
    }

    /// `sum_j rho_j l_j` for the per-relation values `l_j = z_i - r_i`
    /// (V_prev) or `r_{i+1}` (V_next), by subset-byte buckets.
    fn relation_claims<const ROLE: u8>(&self, chi: &[ChiRow], comb: &Combiner<A>) -> A {
        let log = &self.log;
        let mut buckets = Buckets::<A>::new();
        for (j, row) in chi.iter().enumerate() {
            let l =
                if ROLE == PREV { A::from_u64(log.z1[j]).sub(A::from_u64(log.r1[j])) } else { A::from_u64(log.r0[j]) };
            buckets.add(row, l);
        }
        buckets.combined(comb)
    }
}

impl<A: ArithRing, const K0: usize> Instance for ArithInst<A, K0> {
    type R = A;
    const K0: usize = K0;
    const PROVER_IS_SUM: bool = true;

    fn folded_len(&self) -> usize {
        self.terms().div_ceil(K0)
    }

    fn n_carries(&self) -> usize {
        KAPPA
    }

    fn recycle(mut self, s: &mut crate::Session) {
        self.spare.push(self.chi);
        if s.proof_buffers.chi_rows.len() < self.spare.len() {
            s.proof_buffers.chi_rows = self.spare;
        }
        let mut log = self.log;
        log.clear();
        if s.arith_log.relations() == 0 && s.arith_log.x0.capacity() < log.x0.capacity() {
            s.arith_log = log;
        }
    }

    fn prover_carries(&mut self, sid: &SessionId, chi: &[u8; 16]) -> Vec<A> {
        // E_j = Q_j - L_j over Z_2^{64+s} is 2^64 c_j for an honest prover;
        // S_t = sum_j chi_{t,j} E_j; C_t = S_t / 2^64 = sum_j chi_{t,j} c_j
        // (ePrint 2024/700, Sec. 4). Only 2^64 C_t enters the proof, so C_t
        // mod 2^128 suffices (2^64 in Z_2^128): the c_j are summed as u128.
        let chi = self.prover_chi(sid, chi);
        let log = &self.log;
        let mut buckets = CarryBuckets::new();
        if self.rel_of.is_empty() {
            let terms = log.x0.iter().zip(&log.x1).zip(log.y0.iter().zip(&log.y1));
            let rels = log.z0.iter().zip(&log.r0).zip(&log.r1);
            for ((((x0, x1), (y0, y1)), ((z0, r0), r1)), row) in terms.zip(rels).zip(&chi) {
                let q = HighSum::default().add(*x0, *x1, *y0, *y1);
                buckets.add(row, q.carry(*z0, *r0, *r1));
            }
        } else {
            let mut m = 0;
            for (j, row) in chi.iter().enumerate() {
                let n = log.terms[j] as usize;
                let q = (m..m + n).fold(HighSum::default(), |q, m| q.add(log.x0[m], log.x1[m], log.y0[m], log.y1[m]));
                m += n;
                buckets.add(row, q.carry(log.z0[j], log.r0[j], log.r1[j]));
            }
        }
        self.chi = chi;
        buckets.subset_sums().into_iter().map(A::from_u128).collect()
    }

    fn prover_cross0(&mut self, sid: &SessionId, chi: &[u8; 16], lambda: &[u8; 16]) -> Vec<A> {
        // cross[a][b] = sum_g u_{gK+a} v_{gK+b}, by chunks of groups: the
        // chunk's u (rho x, full width) and v (65 bits) are built once, then
        // each (a, b) pair runs with its accumulator in registers.
        let chi_b = self.prover_chi(sid, chi);
        let comb = Combiner::<A>::new(sid, lambda);
        let (t, groups) = (self.terms(), self.folded_len());
        let mut acc = [[A::Acc::default(); K0]; K0];
        let mut ub = vec![[A::ZERO; CHUNK]; K0];
        let mut vl = vec![[0u64; CHUNK]; K0];
        let mut vb = vec![[0u64; CHUNK]; K0];
        let (mut xl, mut xb) = (vec![[0u64; CHUNK]; K0], vec![[0u64; CHUNK]; K0]);
        let chunk = CHUNK * 4 / K0;
        for g0 in (0..groups).step_by(chunk) {
            let n = chunk.min(groups - g0);
            let (first, last) = (g0 * K0, (g0 + n) * K0 - 1);
            if let Some(j) = self.run_rel(first, last) {
                // One dot product: cross[a][b] += rho_j sum_g x y, the sum
                // over the integers (one `mul` per product, not three); for
                // a square (x = y, as the log shows) the sums are symmetric.
                let log = &self.log;
                let square =
                    log.x0[first..=last] == log.y0[first..=last] && log.x1[first..=last] == log.y1[first..=last];
                for g in 0..n {
                    for a in 0..K0 {
                        let o = self.operands::<PROVER>((g0 + g) * K0 + a);
                        (xl[a][g], xb[a][g], vl[a][g], vb[a][g]) = (o.xl, o.xb, o.yl, o.yb);
                    }
                }
                let rho = lookup(&comb.tables, &chi_b[j]);
                let mut sums = [[A::ZERO; K0]; K0];
                for a in 0..K0 {
                    for b in if square { a..K0 } else { 0..K0 } {
                        let (al, ab, bl, bb) = (&xl[a][..n], &xb[a][..n], &vl[b][..n], &vb[b][..n]);
                        let mut x = A::Acc::default();
                        for g in 0..n {
                            x.mac_int65(al[g], ab[g], bl[g], bb[g]);
                        }
                        sums[a][b] = x.total();
                        if square {
                            sums[b][a] = sums[a][b];
                        }
                    }
                }
                for (row, srow) in acc.iter_mut().zip(&sums) {
                    for (cell, s) in row.iter_mut().zip(srow) {
                        cell.mac(rho, *s);
                    }
                }
                continue;
            }
            for g in 0..n {
                for a in 0..K0 {
                    let m = (g0 + g) * K0 + a;
                    if m >= t {
                        (ub[a][g], vl[a][g], vb[a][g]) = (A::ZERO, 0, 0);
                        continue;
                    }
                    let j = self.rel(m);
                    let o = self.operands::<PROVER>(m);
                    ub[a][g] = lookup(&comb.tables, &chi_b[j]).mul65(o.xl, o.xb);
                    (vl[a][g], vb[a][g]) = (o.yl, o.yb);
                }
            }
            for (row, ua) in acc.iter_mut().zip(&ub) {
                for (cell, (bl, bb)) in row.iter_mut().zip(vl.iter().zip(&vb)) {
                    let mut x = *cell;
                    for g in 0..n {
                        x.mac65(ua[g], bl[g], bb[g]);
                    }
                    *cell = x;
                }
            }
        }
        self.chi = chi_b;
        acc.iter().flat_map(|row| row.iter().map(|x| x.total())).collect()
    }

    fn prover_fold0(
        &mut self,
        sid: &SessionId,
        chi: &[u8; 16],
        lambda: &[u8; 16],
        r: &[A],
        s: &[A],
        pool: &mut Pool<A>,
    ) -> (Vec<A>, Vec<A>) {
        let chi_b = self.prover_chi(sid, chi);
        let comb = Combiner::<A>::new(sid, lambda);
        let out = self.fold0::<PROVER>(&chi_b, &comb.lambda, r, s, pool);
        self.chi = chi_b;
        out
    }

    fn verifier_fold0(
        &mut self,
        sid: &SessionId,
        chi: &[u8; 16],
        lambda: &[u8; 16],
        carry: &[A],
        as_prev: bool,
        r: &[A],
        s: &[A],
        pool: &mut Pool<A>,
    ) -> Shares<A> {
        let mut rows = self.spare.pop().unwrap_or_default();
        chi_rows(sid, chi, self.log.relations(), &mut rows);
        let comb = Combiner::<A>::new(sid, lambda);
        let [prev, next] = self.verifiers_pass(&rows, &comb, r, s, pool);
        self.spare.push(rows);
        let (mut mine, other) = if as_prev { (prev, next) } else { (next, prev) };
        pool.put(other.u);
        pool.put(other.v);
        mine.c = comb.carry_term(carry).add(mine.c);
        mine
    }

    fn round0_all(
        &mut self,
        sid: &SessionId,
        chi: &[u8; 16],
        lambda: &[u8; 16],
        carry_prev: &[A],
        carry_next: &[A],
        r: &[A],
        s: &[A],
        pool: &mut Pool<A>,
    ) -> Round0<A> {
        // With common randomness the prover's vectors are the sums of the
        // party's two verifier shares: u = rho (x_i + x_{i+1}) and
        // v = y_i + y_{i+1} over the integers, and the fold is linear.
        let rows = self.prover_chi(sid, chi);
        let comb = Combiner::<A>::new(sid, lambda);
        let [mut prev, mut next] = self.verifiers_pass(&rows, &comb, r, s, pool);
        self.chi = rows;
        prev.c = comb.carry_term(carry_prev).add(prev.c);
        next.c = comb.carry_term(carry_next).add(next.c);
        let sum = |a: &[A], b: &[A], pool: &mut Pool<A>| {
            let mut x = pool.take(a.len() + super::K);
            x.extend(a.iter().zip(b).map(|(a, b)| a.add(*b)));
            x
        };
        let prover = Shares { u: sum(&prev.u, &next.u, pool), v: sum(&prev.v, &next.v, pool), c: A::ZERO };
        Round0 { prover, prev, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dzkp::ring::{Z128, Z192};

    /// The three logs of one honest prover `P_i` (its own, `V_prev`'s and
    /// `V_next`'s), with relations of `terms` terms each; with `square`,
    /// the dot products (`terms > 1`) are squares (`y = x`).
    fn logs(terms: &[u32], square: bool) -> (ArithLog, ArithLog, ArithLog) {
        let mut w = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            w ^= w << 13;
            w ^= w >> 7;
            w ^= w << 17;
            // Edge values now and then.
            match w % 7 {
                0 => u64::MAX,
                1 => 1 << 63,
                2 => 0,
                _ => w,
            }
        };
        let (mut p, mut vp, mut vn) = (ArithLog::default(), ArithLog::default(), ArithLog::default());
        for &n in terms {
            let (ri, ri1) = (next(), next());
            let mut z = ri.wrapping_sub(ri1);
            for _ in 0..n {
                let (xi, xi1, mut yi, mut yi1) = (next(), next(), next(), next());
                if square && n > 1 {
                    (yi, yi1) = (xi, xi1);
                }
                z = z
                    .wrapping_add(xi.wrapping_mul(yi))
                    .wrapping_add(xi.wrapping_mul(yi1))
                    .wrapping_add(xi1.wrapping_mul(yi));
                p.x0.push(xi);
                p.x1.push(xi1);
                p.y0.push(yi);
                p.y1.push(yi1);
                vp.x1.push(xi);
                vp.y1.push(yi);
                vn.x0.push(xi1);
                vn.y0.push(yi1);
                for l in [&mut vp.x0, &mut vp.y0, &mut vn.x1, &mut vn.y1] {
                    l.push(next());
                }
            }
            p.z0.push(z);
            p.r0.push(ri);
            p.r1.push(ri1);
            p.z1.push(next());
            vp.z1.push(z);
            vp.r1.push(ri);
            vp.z0.push(next());
            vp.r0.push(next());
            vn.r0.push(ri1);
            vn.z0.push(next());
            vn.z1.push(next());
            vn.r1.push(next());
        }
        if terms.iter().any(|&n| n != 1) {
            for l in [&mut p, &mut vp, &mut vn] {
                l.terms = terms.to_vec();
            }
        }
        (p, vp, vn)
    }

    /// Round 0 of an honest proof: the carries are exact, the verifiers'
    /// folded shares add up to the prover's vectors, the cross products'
    /// trace is the claim, and the folded claim is the folded inner product.
    fn round0_is_consistent<A: ArithRing, const K0: usize>(terms: &[u32], square: bool) {
        let (p, vp, vn) = logs(terms, square);
        let sid = SessionId([7; 16]);
        let (chi, lambda) = ([1u8; 16], [2u8; 16]);
        let mut prover = ArithInst::<A, K0>::new(p, Vec::new());
        let carries = prover.prover_carries(&sid, &chi);
        // Carry shares: any split works; V_prev gets a constant.
        let share_p: Vec<A> = (0..KAPPA).map(|t| A::from_u64(t as u64 * 0x1234_5678_9abc)).collect();
        let share_n: Vec<A> = carries.iter().zip(&share_p).map(|(c, s)| c.sub(*s)).collect();
        let cross = prover.prover_cross0(&sid, &chi, &lambda);
        let r: Vec<A> =
            (0..K0)
                .map(|a| {
                    if a == 0 {
                        A::ONE
                    } else {
                        A::from_u64(u64::MAX - 3 * a as u64).shl64().add(A::from_u64(a as u64))
                    }
                })
                .collect();
        let s: Vec<A> = (0..K0)
            .map(|a| if a == 0 { A::ONE } else { A::from_u64(0x5555 * a as u64 + 1).shl64().sub(A::ONE) })
            .collect();
        let mut pool = Pool::default();
        let (pu, pv) = prover.prover_fold0(&sid, &chi, &lambda, &r, &s, &mut pool);
        let a = ArithInst::<A, K0>::new(vp, Vec::new())
            .verifier_fold0(&sid, &chi, &lambda, &share_p, true, &r, &s, &mut pool);
        let b = ArithInst::<A, K0>::new(vn, Vec::new())
            .verifier_fold0(&sid, &chi, &lambda, &share_n, false, &r, &s, &mut pool);
        assert_eq!(pu.len(), a.u.len());
        for j in 0..pu.len() {
            assert_eq!(pu[j], a.u[j].add(b.u[j]), "u[{j}]");
            assert_eq!(pv[j], a.v[j].add(b.v[j]), "v[{j}]");
        }
        let trace = (0..K0).fold(A::ZERO, |acc, i| acc.add(cross[i * K0 + i]));
        assert_eq!(trace, a.c.add(b.c));
        let folded = (0..K0 * K0).fold(A::ZERO, |acc, i| acc.add(r[i / K0].mul(s[i % K0]).mul(cross[i])));
        let inner = pu.iter().zip(&pv).fold(A::ZERO, |acc, (x, y)| acc.add(x.mul(*y)));
        assert_eq!(folded, inner);
    }

    /// One party's round 0 of all three roles at once (common randomness)
    /// equals its three roles run one by one, and its prover vectors are the
    /// sums of its verifier shares.
    fn round0_all_matches_the_roles<A: ArithRing, const K0: usize>(terms: &[u32], square: bool) {
        let (log, _, _) = logs(terms, square);
        let sid = SessionId([5; 16]);
        let (chi, lambda) = ([3u8; 16], [4u8; 16]);
        let carry_p: Vec<A> = (0..=KAPPA).map(|t| A::from_u64(t as u64 + 11)).collect();
        let carry_n: Vec<A> = (0..=KAPPA).map(|t| A::from_u64(3 * t as u64 + u64::MAX / 3)).collect();
        let r: Vec<A> = (0..K0)
            .map(|a| if a == 0 { A::ONE } else { A::from_u64(0x9e37_79b9 * a as u64).shl64().add(A::from_u64(7)) })
            .collect();
        let s: Vec<A> = (0..K0)
            .map(|a| if a == 0 { A::ONE } else { A::from_u64(u64::MAX - a as u64).shl64().sub(A::ONE) })
            .collect();
        let mut pool = Pool::default();
        let mut one = ArithInst::<A, K0>::new(log, Vec::new());
        one.prover_carries(&sid, &chi);
        let (pu, pv) = one.prover_fold0(&sid, &chi, &lambda, &r, &s, &mut pool);
        let vp = one.verifier_fold0(&sid, &chi, &lambda, &carry_p, true, &r, &s, &mut pool);
        let vn = one.verifier_fold0(&sid, &chi, &lambda, &carry_n, false, &r, &s, &mut pool);
        let all = one.round0_all(&sid, &chi, &lambda, &carry_p, &carry_n, &r, &s, &mut pool);
        assert_eq!((all.prover.u, all.prover.v), (pu, pv));
        assert_eq!((&all.prev.u, &all.prev.v, all.prev.c), (&vp.u, &vp.v, vp.c));
        assert_eq!((&all.next.u, &all.next.v, all.next.c), (&vn.u, &vn.v, vn.c));
    }

    #[test]
    fn round0_of_all_roles_at_once_matches_the_roles_one_by_one() {
        for terms in [vec![1u32; 1], vec![1; 9], vec![1; 203], vec![3, 1, 8, 2, 1, 0, 17, 5]] {
            round0_all_matches_the_roles::<Z192, K0_PRODUCTS>(&terms, false);
            round0_all_matches_the_roles::<Z128, K0_PRODUCTS>(&terms, false);
            round0_all_matches_the_roles::<Z192, K0_DOTS>(&terms, false);
        }
    }

    #[test]
    fn round0_of_an_honest_prover_is_consistent() {
        for terms in [vec![1u32; 1], vec![1; 8], vec![1; 203], vec![3, 1, 8, 2, 1, 1, 17, 5], vec![2, 0, 1]] {
            round0_is_consistent::<Z192, K0_PRODUCTS>(&terms, false);
            round0_is_consistent::<Z128, K0_PRODUCTS>(&terms, false);
            round0_is_consistent::<Z192, K0_DOTS>(&terms, false);
        }
        // More groups than one chunk or tile.
        round0_is_consistent::<Z192, K0_PRODUCTS>(&[1; 8 * (CHUNK + FOLD_TILE) + 3], false);
    }

    /// Long dot products take the paths that factor their `rho` out (whole
    /// chunks and groups in one relation); relations starting and ending
    /// inside groups and chunks mix both paths.
    #[test]
    fn round0_of_long_dot_products_is_consistent() {
        fn check<const K0: usize>() {
            let long = (3 * CHUNK * 4 + 5) as u32;
            for terms in [vec![long], vec![1, long, 2, 700, 1, 9], vec![(CHUNK * 4) as u32, 4, 8, 3]] {
                for square in [false, true] {
                    round0_is_consistent::<Z192, K0>(&terms, square);
                    round0_is_consistent::<Z128, K0>(&terms, square);
                    round0_all_matches_the_roles::<Z192, K0>(&terms, square);
                }
            }
        }
        check::<K0_PRODUCTS>();
        check::<K0_DOTS>();
    }
}
