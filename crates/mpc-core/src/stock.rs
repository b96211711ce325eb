//! The stockpile: preprocessed masks made ahead of the online phase, proven
//! when made (`docs/protocols/mpc-core.md` §6.1, `message-order.md` §8),
//! consumed by the online comparisons and truncations ([`crate::masked`]).
//!
//! Lockstep rule: the three parties run the same protocol steps in the same
//! order, so every decision to produce must be a function of state that is
//! identical at all of them. The stock levels are: they change only by
//! [`Stockpile::refill`] and `take_*`, which the program calls at the same
//! points everywhere. "Background" production therefore means: the driver
//! calls [`Stockpile::refill`] at a point of its choosing ahead of the online
//! phase (e.g. between queries); a `take_*` that finds the stock short makes
//! the shortfall on demand, at that same point at every party.
//!
//! Metrics (through the `metrics` facade; the process installs a recorder):
//! gauge `triad_mpc_stock_level{kind}`, counters
//! `triad_mpc_stock_produced_total{kind}` (rate = production rate) and
//! `triad_mpc_stock_on_demand_total{kind}` (elements made because the stock
//! ran out). [`Stockpile::stats`] gives the same figures plus the time spent
//! producing, for tests and benches.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::edabit::{EdaBits, TruncMask, edabits, trunc_masks};
use crate::engine::Engine;
use crate::{ArithShare, BoolShare, Error, Result};

/// What a stock holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StockKind {
    /// 64-bit edaBits, for LTZ and EQZ.
    EdaBits64,
    /// Masks of `TruncPr(x, k, m)` and exact truncation.
    Trunc {
        /// Input bound: `|x| < 2^(k-1)`.
        k: u32,
        /// Bits dropped.
        m: u32,
    },
}

impl StockKind {
    /// The metrics label: `edabit64`, `trunc_k40_m16`.
    pub fn label(self) -> String {
        match self {
            StockKind::EdaBits64 => "edabit64".to_owned(),
            StockKind::Trunc { k, m } => format!("trunc_k{k}_m{m}"),
        }
    }
}

/// Counters of one stock.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KindStats {
    /// Elements in stock now.
    pub level: usize,
    /// Elements the stock should hold after a refill.
    pub target: usize,
    /// Elements produced, by refills and on demand.
    pub produced: u64,
    /// Of which produced on demand because the stock was short.
    pub produced_on_demand: u64,
    /// Elements taken.
    pub taken: u64,
    /// Wall time spent producing (gates and proofs), seconds.
    pub produce_secs: f64,
}

impl KindStats {
    /// Elements produced per second of production time.
    pub fn rate(&self) -> f64 {
        if self.produce_secs > 0.0 { self.produced as f64 / self.produce_secs } else { 0.0 }
    }
}

/// A preprocessed batch that can be cut and glued by elements.
trait Batch: Sized {
    fn count(&self) -> usize;
    /// The first `n` elements and the rest (`n < count`).
    fn split_front(self, n: usize) -> Result<(Self, Self)>;
    /// The concatenation of non-empty `parts`.
    fn join(parts: Vec<Self>) -> Result<Self>;
}

/// One typed stock: a queue of proven batches.
#[derive(Debug)]
struct Stock<T> {
    kind: StockKind,
    queue: VecDeque<T>,
    stats: KindStats,
}

impl<T: Batch> Stock<T> {
    fn new(kind: StockKind) -> Self {
        Stock { kind, queue: VecDeque::new(), stats: KindStats::default() }
    }

    fn publish(&self) {
        metrics::gauge!("triad_mpc_stock_level", "kind" => self.kind.label()).set(self.stats.level as f64);
    }

    fn produced(&mut self, n: usize, since: Instant, on_demand: bool) {
        self.stats.produced += n as u64;
        self.stats.produce_secs += since.elapsed().as_secs_f64();
        metrics::counter!("triad_mpc_stock_produced_total", "kind" => self.kind.label()).increment(n as u64);
        if on_demand {
            self.stats.produced_on_demand += n as u64;
            metrics::counter!("triad_mpc_stock_on_demand_total", "kind" => self.kind.label()).increment(n as u64);
        }
    }

    /// Produce up to the target, `batch` elements at a time.
    fn refill(&mut self, batch: usize, mut produce: impl FnMut(usize) -> Result<T>) -> Result<usize> {
        let mut made = 0;
        while self.stats.level < self.stats.target {
            let n = (self.stats.target - self.stats.level).min(batch.max(1));
            let t0 = Instant::now();
            let b = produce(n)?;
            self.produced(n, t0, false);
            self.queue.push_back(b);
            self.stats.level += n;
            made += n;
        }
        self.publish();
        Ok(made)
    }

    /// `n` elements: from stock first, the shortfall made on demand.
    fn take(&mut self, n: usize, produce: impl FnOnce(usize) -> Result<T>) -> Result<T> {
        let mut parts = Vec::new();
        let mut need = n;
        while need > 0 {
            let Some(front) = self.queue.pop_front() else { break };
            let c = front.count();
            if c <= need {
                need -= c;
                parts.push(front);
            } else {
                let (head, rest) = front.split_front(need)?;
                self.queue.push_front(rest);
                parts.push(head);
                need = 0;
            }
        }
        self.stats.level -= n - need;
        if need > 0 || parts.is_empty() {
            let t0 = Instant::now();
            parts.push(produce(need)?);
            self.produced(need, t0, true);
        }
        self.stats.taken += n as u64;
        self.publish();
        if parts.len() == 1
            && let Some(only) = parts.pop()
        {
            return Ok(only);
        }
        T::join(parts)
    }
}

/// Typed stocks of edaBits and truncation masks with target levels.
///
/// ```
/// use triad_mpc_core::harness::run3;
/// use triad_mpc_core::stock::{StockKind, Stockpile};
/// let out = run3(None, |p| {
///     let mut stock = Stockpile::default();
///     stock.set_target(StockKind::EdaBits64, 100);
///     stock.refill(p)?;                          // ahead of the online phase
///     let x = p.share_public_input(&[5, 0, u64::MAX])?;
///     let lt = stock.ltz(p, &x)?;                // 3 edaBits from stock
///     assert_eq!(stock.stats(StockKind::EdaBits64).level, 97);
///     p.open_bits(&lt)
/// });
/// for r in out { assert_eq!(r.unwrap()[0] & 0b111, 0b100); } // lanes past 3 are junk
/// ```
#[derive(Debug)]
pub struct Stockpile {
    batch: usize,
    edabits: Stock<EdaBits>,
    trunc: BTreeMap<(u32, u32), Stock<TruncMask>>,
}

impl Default for Stockpile {
    fn default() -> Self {
        Stockpile::new(1 << 20)
    }
}

impl Stockpile {
    /// An empty stockpile producing at most `batch` elements per production
    /// step (bounds the memory of one step; default 2^20). All targets are 0.
    pub fn new(batch: usize) -> Stockpile {
        Stockpile { batch: batch.max(1), edabits: Stock::new(StockKind::EdaBits64), trunc: BTreeMap::new() }
    }

    /// Keep `level` elements of `kind` after each [`Stockpile::refill`].
    /// Truncation kinds are checked (`0 < m < k <= 62`).
    pub fn set_target(&mut self, kind: StockKind, level: usize) -> Result<()> {
        match kind {
            StockKind::EdaBits64 => self.edabits.stats.target = level,
            StockKind::Trunc { k, m } => {
                crate::edabit::check_trunc_params(k, m)?;
                self.trunc_stock(k, m).stats.target = level;
            }
        }
        Ok(())
    }

    /// The counters of `kind` (zeros for a kind never used).
    pub fn stats(&self, kind: StockKind) -> KindStats {
        match kind {
            StockKind::EdaBits64 => self.edabits.stats,
            StockKind::Trunc { k, m } => self.trunc.get(&(k, m)).map_or_else(KindStats::default, |s| s.stats),
        }
    }

    /// Every kind used so far with its counters.
    pub fn all_stats(&self) -> Vec<(StockKind, KindStats)> {
        let mut v = vec![(StockKind::EdaBits64, self.edabits.stats)];
        v.extend(self.trunc.values().map(|s| (s.kind, s.stats)));
        v
    }

    /// Produce every stock up to its target (all three parties call this at
    /// the same point). Returns the number of elements made.
    pub fn refill<E: Engine>(&mut self, e: &mut E) -> Result<usize> {
        let batch = self.batch;
        let mut made = self.edabits.refill(batch, |n| edabits(e, n, 64))?;
        for (&(k, m), s) in self.trunc.iter_mut() {
            made += s.refill(batch, |n| trunc_masks(e, n, k, m))?;
        }
        Ok(made)
    }

    /// `n` 64-bit edaBits, from stock or made on demand.
    pub fn take_edabits<E: Engine>(&mut self, e: &mut E, n: usize) -> Result<EdaBits> {
        self.edabits.take(n, |n| edabits(e, n, 64))
    }

    /// `n` masks for `TruncPr(x, k, m)`, from stock or made on demand.
    pub fn take_trunc_masks<E: Engine>(&mut self, e: &mut E, n: usize, k: u32, m: u32) -> Result<TruncMask> {
        crate::edabit::check_trunc_params(k, m)?;
        self.trunc_stock(k, m).take(n, |n| trunc_masks(e, n, k, m))
    }

    /// `x < 0` ([`crate::masked::ltz_with`]) on stocked edaBits.
    pub fn ltz<E: Engine>(&mut self, e: &mut E, x: &ArithShare) -> Result<BoolShare> {
        let r = self.take_edabits(e, x.len())?;
        crate::masked::ltz_with(e, x, r)
    }

    /// `x == 0` ([`crate::masked::eqz_with`]) on stocked edaBits.
    pub fn eqz<E: Engine>(&mut self, e: &mut E, x: &ArithShare) -> Result<BoolShare> {
        let r = self.take_edabits(e, x.len())?;
        crate::masked::eqz_with(e, x, r)
    }

    /// `TruncPr(x, k, m)` ([`crate::masked::trunc_pr_with`]) on a stocked mask.
    pub fn trunc_pr<E: Engine>(&mut self, e: &mut E, x: &ArithShare, k: u32, m: u32) -> Result<ArithShare> {
        let mask = self.take_trunc_masks(e, x.len(), k, m)?;
        crate::masked::trunc_pr_with(e, x, &mask)
    }

    /// Exact `floor(x / 2^m)` ([`crate::masked::trunc_with`]) on a stocked mask.
    pub fn trunc<E: Engine>(&mut self, e: &mut E, x: &ArithShare, k: u32, m: u32) -> Result<ArithShare> {
        let mask = self.take_trunc_masks(e, x.len(), k, m)?;
        crate::masked::trunc_with(e, x, &mask)
    }

    fn trunc_stock(&mut self, k: u32, m: u32) -> &mut Stock<TruncMask> {
        self.trunc.entry((k, m)).or_insert_with(|| Stock::new(StockKind::Trunc { k, m }))
    }
}

// --- cutting and gluing batches ----------------------------------------------------------

fn arith_split(x: ArithShare, n: usize) -> (ArithShare, ArithShare) {
    let ArithShare { mut s0, mut s1 } = x;
    let (t0, t1) = (s0.split_off(n), s1.split_off(n));
    (ArithShare { s0, s1 }, ArithShare { s0: t0, s1: t1 })
}

fn arith_join(parts: impl Iterator<Item = ArithShare>) -> ArithShare {
    let (mut s0, mut s1) = (Vec::new(), Vec::new());
    for p in parts {
        s0.extend(p.s0);
        s1.extend(p.s1);
    }
    ArithShare { s0, s1 }
}

/// Lanes `start..start + len` of bit-sliced words, shifted down to lane 0.
fn lanes_of(w: &[u64], start: usize, len: usize) -> Vec<u64> {
    let (first, shift) = (start / 64, start % 64);
    (0..len.div_ceil(64))
        .map(|i| {
            let lo = w.get(first + i).map_or(0, |v| v >> shift);
            let hi = if shift == 0 { 0 } else { w.get(first + i + 1).map_or(0, |v| v << (64 - shift)) };
            lo | hi
        })
        .collect()
}

fn bool_split(x: &BoolShare, n: usize) -> (BoolShare, BoolShare) {
    let rest = x.lanes - n;
    let part = |start, len| BoolShare { s0: lanes_of(&x.s0, start, len), s1: lanes_of(&x.s1, start, len), lanes: len };
    (part(0, n), part(n, rest))
}

/// Append `src` (its first `lanes` lanes) at lane `at` of `dst`.
fn put_lanes(dst: &mut [u64], at: usize, src: &[u64], lanes: usize) {
    for (i, &v) in src.iter().enumerate() {
        let take = (lanes - 64 * i).min(64);
        let v = if take == 64 { v } else { v & ((1u64 << take) - 1) };
        let (w, s) = ((at + 64 * i) / 64, (at + 64 * i) % 64);
        dst[w] |= v << s;
        if s > 0 && w + 1 < dst.len() {
            dst[w + 1] |= v >> (64 - s);
        }
    }
}

fn bool_join(parts: &[&BoolShare]) -> BoolShare {
    let lanes: usize = parts.iter().map(|p| p.lanes).sum();
    let (mut s0, mut s1) = (vec![0u64; lanes.div_ceil(64)], vec![0u64; lanes.div_ceil(64)]);
    let mut at = 0;
    for p in parts {
        put_lanes(&mut s0, at, &p.s0, p.lanes);
        put_lanes(&mut s1, at, &p.s1, p.lanes);
        at += p.lanes;
    }
    BoolShare { s0, s1, lanes }
}

fn planes_split(planes: Vec<BoolShare>, n: usize) -> (Vec<BoolShare>, Vec<BoolShare>) {
    planes.iter().map(|p| bool_split(p, n)).unzip()
}

fn planes_join(parts: &[&[BoolShare]]) -> Result<Vec<BoolShare>> {
    let width = parts.first().map_or(0, |p| p.len());
    if parts.iter().any(|p| p.len() != width) {
        return Err(Error::InvalidArgument("batches of different widths"));
    }
    Ok((0..width).map(|j| bool_join(&parts.iter().map(|p| &p[j]).collect::<Vec<_>>())).collect())
}

impl Batch for EdaBits {
    fn count(&self) -> usize {
        self.len()
    }
    fn split_front(self, n: usize) -> Result<(Self, Self)> {
        let (a0, a1) = arith_split(self.arith, n);
        let (b0, b1) = planes_split(self.bits, n);
        Ok((EdaBits { arith: a0, bits: b0 }, EdaBits { arith: a1, bits: b1 }))
    }
    fn join(parts: Vec<Self>) -> Result<Self> {
        let bits = planes_join(&parts.iter().map(|p| p.bits.as_slice()).collect::<Vec<_>>())?;
        Ok(EdaBits { arith: arith_join(parts.into_iter().map(|p| p.arith)), bits })
    }
}

impl Batch for TruncMask {
    fn count(&self) -> usize {
        self.len()
    }
    fn split_front(self, n: usize) -> Result<(Self, Self)> {
        let (k, m) = (self.k, self.m);
        let (r0, r1) = arith_split(self.r, n);
        let (h0, h1) = arith_split(self.r_hi, n);
        let (t0, t1) = arith_split(self.r_top, n);
        let (l0, l1) = planes_split(self.lo_bits, n);
        Ok((
            TruncMask { k, m, r: r0, r_hi: h0, r_top: t0, lo_bits: l0 },
            TruncMask { k, m, r: r1, r_hi: h1, r_top: t1, lo_bits: l1 },
        ))
    }
    fn join(parts: Vec<Self>) -> Result<Self> {
        let (k, m) = parts.first().map(|p| (p.k, p.m)).ok_or(Error::InvalidArgument("nothing to join"))?;
        let lo_bits = planes_join(&parts.iter().map(|p| p.lo_bits.as_slice()).collect::<Vec<_>>())?;
        let (mut r, mut r_hi, mut r_top) = (Vec::new(), Vec::new(), Vec::new());
        for p in parts {
            r.push(p.r);
            r_hi.push(p.r_hi);
            r_top.push(p.r_top);
        }
        let join = |v: Vec<ArithShare>| arith_join(v.into_iter());
        Ok(TruncMask { k, m, r: join(r), r_hi: join(r_hi), r_top: join(r_top), lo_bits })
    }
}

#[cfg(test)]
mod tests;
