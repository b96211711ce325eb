//! Sums, means and central second moments, computed so that their precision depends on the data,
//! not on how wide the declared ranges are (docs/protocols/stats.md §5.1 step 3).
//!
//! `W = x - mid` with `|W| < 2^h` (`h` = the column's `half_bits`). The sums `S1 = Σ w W` and
//! `S2 = Σ w W W'` are exact integers in Z_2^64 (the plan refuses ranges where they could wrap);
//! without a selection they are local sums and one dot product per pair of the raw columns (`W`
//! is never materialised: `S1 = Σx - n·mid` and `S2 = Σxx' - mid'Σx - midΣx' + n·mid·mid'`,
//! exact in the ring), with one a dot product per group over the centred columns.
//!
//! Second moments are never taken as `S2/c - (S1/c)^2`: when the data sit far from the declared
//! midpoint (a range declared much wider than the data), both terms are huge and nearly equal, and
//! their fixed-point errors swamp the variance. Instead each column gets an integer **centre**
//! `m` within a few units of its mean (a division of `S1` by the count), and the sums are moved to
//! it *exactly* in the ring: `T1 = S1 - c m = Σ w (W - m)` (a few units per row at most) and
//! `T2 = Σ w (W - m)(W' - m') = S2 - m S1' - m' T1`. Then
//!
//! `cov = T2 / c - ρ ρ'`, `ρ = T1 / c` (`|ρ|` a few units), and `mean = mid + m + ρ`,
//!
//! with no cancellation left: `T2 / c` is the variance plus at most a few units². The divisions by
//! the count are multiplications by a reciprocal `R = 2^K / c` (public, or one secret division per
//! group, shared by every quotient), over products wider than the ring (`wide::mul_shift`), at
//! [`F`] fractional bits of `cov / 2^(H + H')`, whatever the number of rows.

use std::collections::BTreeMap;

use triad_mpc_core::ArithShare;
use triad_mpc_core::engine::{Engine, dots_gate};
use triad_mpc_core::fixed::{DivBounds, div};

use super::select::Selection;
use super::util::{add_const, bits, cat, constant, mul_const, split, split_even, tile};
use super::wide::{Factor, mul_shift, shift};
use super::{ColumnInfo, Columns, ExecError};

/// Fractional bits of the fixed-point values the ratios and roots of moments work at (`corr`,
/// `regr_*`, the normalised mantissas of the variances).
pub(crate) const NF: u32 = 28;

/// Fractional bits of the normalised second moments `cov / 2^(H + H')` (below 1): the variance in
/// units² carries `F - 2H` fractional bits.
pub(crate) const F: u32 = 56;

/// `nb`: the number of bits of the row count (`n < 2^nb`).
pub(crate) fn row_bits(n: usize) -> u32 {
    super::util::bits(n as u128).max(2)
}

/// A column's centre and the offset of its mean from it.
pub(crate) struct Centred {
    /// `H`: the variance (plus `ρ²`) is below `2^(2H)` units² (`H = h` unless the range is tiny).
    pub(crate) hw: u32,
    /// `m`: an integer within `2^bd` units of `mean - mid` (one element per group).
    pub(crate) centre: ArithShare,
    /// `ρ = mean - mid - m` at [`Centred::g`] fractional bits, `|ρ| < 2^bd`.
    pub(crate) rho: ArithShare,
    /// Fractional bits of `rho` (units).
    pub(crate) g: u32,
    /// `|ρ| < 2^bd`.
    pub(crate) bd: u32,
}

/// The moments of a query, one element per group in each sharing.
#[derive(Default)]
pub(crate) struct Moments {
    /// `Σ w (x - mid)` per column.
    pub(crate) s1: BTreeMap<usize, ArithShare>,
    /// `Σ w (x - mid)(y - mid')` per pair `(j, k)`, `j <= k`.
    pub(crate) s2: BTreeMap<(usize, usize), ArithShare>,
    /// Centres and mean offsets of the columns of the pairs (`ρ` is zero, unused, with a public
    /// count and no intercept).
    pub(crate) centred: BTreeMap<usize, Centred>,
    /// Population covariance `cov / 2^(H + H')` at [`F`] bits per pair.
    pub(crate) cov: BTreeMap<(usize, usize), ArithShare>,
    /// The sample covariance the same way, per pair that needs it, when the count is secret (a
    /// public count makes it `cov · n / (n - 1)` when decoding).
    pub(crate) cov_samp: BTreeMap<(usize, usize), ArithShare>,
    /// With a secret count, the means of the columns not centred: the quotient at `fa` bits of
    /// `Σ w x` (`raw`) or of `Σ w (x - mid)`, as `(quotient, fa, raw)`.
    pub(crate) means: BTreeMap<usize, (ArithShare, u32, bool)>,
}

/// The numerator bits of the secret division: `div` takes numerators below 2^59 (its last product,
/// a 61-bit value split for the truncation, must stay below 2^62) and `num_bits + 2 den_bits <= 116`.
pub(crate) fn num_bits(nb: u32) -> u32 {
    59u32.min(116 - 2 * nb)
}

/// How a mean is one quotient of the secret division: `(raw, fa)`, the quotient being
/// `Σ w x 2^fa / c` (`raw`, relative error 2^-25 of the mean: ranges reaching 0) or
/// `Σ w (x - mid) 2^fa / c` (ranges far from 0), with `fa` as many fractional bits as fit.
pub(crate) fn mean_format(info: &ColumnInfo, nb: u32) -> Option<(bool, u32)> {
    let lnum = num_bits(nb);
    let a = bits(info.abs_max as u128);
    if a <= info.half_bits + 1 && nb + a <= lnum {
        Some((true, lnum - nb - a))
    } else {
        (nb + info.half_bits <= lnum).then(|| (false, lnum - nb - info.half_bits))
    }
}

/// Centre error bound `|ρ| < 2^bd`: the public reciprocal's floor (below 2 units), or the secret
/// division's `3 + 2 / c + |q| 2^-25` (docs/protocols/mpc-core.md, fixed point).
pub(crate) fn centre_bits(public: bool, h: u32) -> u32 {
    if public { 2 } else { bits(8 + (1u128 << h.saturating_sub(24))) }
}

/// `H` for a column of half-width `h` with centre bound `2^bd`: the smallest with
/// `(2^h - 1)^2 + 2^(2 bd) <= 2^(2H)` (the variance is at most `(2^h - 1)^2`, Popoviciu).
pub(crate) fn work_bits(h: u32, bd: u32) -> u32 {
    let v = ((1u128 << h) - 1).pow(2) + (1u128 << (2 * bd));
    let mut hw = h;
    while (1u128 << (2 * hw)) < v {
        hw += 1;
    }
    hw
}

/// What the aggregates of a query need from the moments.
#[derive(Default)]
pub(crate) struct Needs {
    /// Columns whose sum is needed.
    pub(crate) firsts: Vec<usize>,
    /// Columns whose mean is needed.
    pub(crate) means: Vec<usize>,
    /// Pairs `(j, k)`, `j <= k`, whose (co)variance is needed.
    pub(crate) pairs: Vec<(usize, usize)>,
    /// The pairs whose sample covariance is needed.
    pub(crate) samp_pairs: Vec<(usize, usize)>,
    /// Whether the mean offsets ρ are needed even with a public count (the intercept).
    pub(crate) want_rho: bool,
}

/// Computes the sums for `firsts`, and for `pairs` the centred (co)variances; with a secret count
/// also the means of `means` (a public count makes a mean an exact ratio of `S1`), and the
/// sample covariances of `samp_pairs`.
pub(crate) fn moments<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    sel: &Selection,
    needs: &Needs,
) -> Result<Moments, ExecError> {
    let Needs { firsts, means, pairs, samp_pairs, want_rho } = needs;
    let want_rho = *want_rho;
    let me = e.session().me();
    let nb = row_bits(cols.n);
    let mut m = Moments::default();
    let mut centred = BTreeMap::new();
    let needed: Vec<usize> = {
        let mut v: Vec<usize> = firsts.iter().copied().chain(pairs.iter().flat_map(|&(a, b)| [a, b])).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    for &j in &needed {
        let c = cols.info(j)?;
        if nb + c.half_bits > 60 {
            return Err(ExecError::Bounds(format!(
                "a sum over {} rows of column {j} (|x - {}| < 2^{}) can exceed 2^60",
                cols.n, c.mid, c.half_bits
            )));
        }
        // With a selection, `W` itself enters the products with the weights; without one the sums
        // of the raw column move to `mid` exactly in the ring below (no n-element vector made).
        if sel.weights.is_some() {
            centred.insert(j, add_const(me, cols.share(j)?, -c.mid)?);
        }
    }
    for &(j, k) in pairs {
        let (hj, hk) = (cols.info(j)?.half_bits, cols.info(k)?.half_bits);
        if nb + hj + hk > 60 {
            return Err(ExecError::Bounds(format!(
                "second moments over {} rows need the declared half-ranges to satisfy rows * 2^{} * 2^{} < 2^60; \
                 narrow the declared ranges (or use fewer decimals)",
                cols.n, hj, hk
            )));
        }
    }
    let get = |j: &usize| centred.get(j).ok_or_else(|| ExecError::Input("internal: column not centred".into()));

    // Without a selection, each column's raw sum Σ x, one pass per column: S1 and the pairs'
    // move to `mid` both read it.
    let mut raw_sums = BTreeMap::new();
    if sel.weights.is_none() {
        for &j in firsts.iter().chain(pairs.iter().flat_map(|(a, b)| [a, b])) {
            if let std::collections::btree_map::Entry::Vacant(slot) = raw_sums.entry(j) {
                slot.insert(cols.share(j)?.sum());
            }
        }
    }
    let raw_sum = |j: usize| raw_sums.get(&j).ok_or_else(|| ExecError::Input("internal: a sum is missing".into()));

    // First moments.
    let n = cols.n as i128;
    match &sel.weights {
        None => {
            // S1 = Σ x - n mid, exact modulo 2^64.
            for &j in firsts {
                let mid = cols.info(j)?.mid;
                m.s1.insert(j, add_const(me, raw_sum(j)?, -(n.wrapping_mul(mid)))?);
            }
        }
        Some(w) if !firsts.is_empty() => {
            let mut pl = Vec::new();
            for &j in firsts {
                let x = get(&j)?;
                pl.extend(w.iter().map(|wg| (wg, x)));
            }
            let all = dots_gate(e, &pl)?;
            for (&j, s) in firsts.iter().zip(split_even(&all, firsts.len())?) {
                m.s1.insert(j, s);
            }
        }
        Some(_) => {}
    }
    // Second moments: one dot per pair, or elementwise products then one dot per pair and group.
    if !pairs.is_empty() {
        let all = match &sel.weights {
            None => {
                // S2 = Σ x x' - mid' Σ x - mid Σ x' + n mid mid' = Σ (x - mid)(x' - mid'), exact
                // modulo 2^64: the dot products of the raw columns, moved after.
                let pl = pairs
                    .iter()
                    .map(|(a, b)| Ok((cols.share(*a)?, cols.share(*b)?)))
                    .collect::<Result<Vec<_>, ExecError>>()?;
                let raw = split_even(&dots_gate(e, &pl)?, pairs.len())?;
                let mut moved = Vec::with_capacity(pairs.len());
                for (&(a, b), d) in pairs.iter().zip(&raw) {
                    let (ma, mb) = (cols.info(a)?.mid, cols.info(b)?.mid);
                    let d = d.sub(&mul_const(raw_sum(a)?, mb))?.sub(&mul_const(raw_sum(b)?, ma))?;
                    moved.push(add_const(me, &d, n.wrapping_mul(ma).wrapping_mul(mb))?);
                }
                cat(&moved.iter().collect::<Vec<_>>())?
            }
            Some(w) => {
                let left = cat(&pairs.iter().map(|(a, _)| get(a)).collect::<Result<Vec<_>, _>>()?)?;
                let right = cat(&pairs.iter().map(|(_, b)| get(b)).collect::<Result<Vec<_>, _>>()?)?;
                let prods = split_even(&e.mul(&left, &right)?, pairs.len())?;
                let pl: Vec<(&ArithShare, &ArithShare)> =
                    prods.iter().flat_map(|p| w.iter().map(move |wg| (wg, p))).collect();
                dots_gate(e, &pl)?
            }
        };
        for (&p, s) in pairs.iter().zip(split_even(&all, pairs.len())?) {
            m.s2.insert(p, s);
        }
    }

    // The columns that need a centre: those of the pairs. With a secret count a mean of another
    // column is one quotient of the division below (a public count makes it an exact ratio).
    let public = sel.weights.is_none();
    let mut ccols: Vec<usize> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    ccols.sort_unstable();
    ccols.dedup();
    let direct: Vec<usize> =
        if public { Vec::new() } else { means.iter().copied().filter(|j| ccols.binary_search(j).is_err()).collect() };
    if ccols.is_empty() && direct.is_empty() {
        return Ok(m);
    }
    let g = sel.groups;
    let samp = !public && !samp_pairs.is_empty();
    let s1 = |j: usize| m.s1.get(&j).ok_or_else(|| ExecError::Input("internal: a sum is missing".into()));
    let hs: Vec<u32> = ccols.iter().map(|&j| Ok(cols.info(j)?.half_bits)).collect::<Result<_, ExecError>>()?;

    // 1. Centres m ≈ S1 / c (integers), and the reciprocals of the count.
    let (centres, recip, recip1, k_recip, rb) = if public {
        // m = floor(S1 R / 2^K), R = round(2^K / n), K = nb + max h - 1: |m - S1/n| < 2; the
        // product is below 2^(nb + 2h + 1) <= 2^61 (the plan's nb + 2h <= 60 for paired columns).
        let hmax = hs.iter().copied().max().unwrap_or(1);
        let k = nb + hmax - 1;
        let r = ((1i128 << k) + n / 2) / n;
        let x = cat(&ccols.iter().map(|&j| s1(j)).collect::<Result<Vec<_>, _>>()?)?;
        let q = mul_shift(e, &x, nb + hmax, Factor::Public(&[r as u64]), bits(r as u128), k)?;
        (q, None, None, 0, 0)
    } else {
        // One secret division: S1 / c for the centres, 2^K / c (and 2^K / (c - 1)) for every later
        // quotient. `div` takes numerators below 2^59 (its final product, a 61-bit value split for
        // the truncation, must stay below 2^62), and num_bits + 2 den_bits <= 116.
        let lnum = num_bits(nb);
        let k = lnum - 1;
        if nb + hs.iter().copied().max().unwrap_or(0) > lnum {
            return Err(ExecError::Bounds(format!("means over {} rows: the declared ranges are too wide", cols.n)));
        }
        let mut nums: Vec<ArithShare> = ccols.iter().map(|&j| s1(j).cloned()).collect::<Result<_, _>>()?;
        let mut formats = Vec::with_capacity(direct.len());
        for &j in &direct {
            let info = cols.info(j)?;
            let (raw, fa) = mean_format(&info, nb).ok_or_else(|| {
                ExecError::Bounds(format!("means over {} rows: the declared ranges are too wide", cols.n))
            })?;
            let x = if raw { s1(j)?.add(&sel.counts.scale(info.mid as i64 as u64))? } else { s1(j)?.clone() };
            nums.push(x.scale(1u64 << fa));
            formats.push((raw, fa));
        }
        if !ccols.is_empty() {
            nums.push(constant(me, 1i128 << k, g));
        }
        let mut dens: Vec<ArithShare> = vec![sel.counts.clone(); nums.len()];
        if samp {
            nums.push(constant(me, 1i128 << k, g));
            dens.push(add_const(me, &sel.counts, -1)?);
        }
        let q = div(
            e,
            &cat(&nums.iter().collect::<Vec<_>>())?,
            &cat(&dens.iter().collect::<Vec<_>>())?,
            DivBounds { num_bits: lnum, den_bits: nb, den_frac_bits: 0, signed_den: false },
        )?;
        let mut parts = split(&q, &vec![g; nums.len()])?.into_iter();
        let centres: Vec<ArithShare> = parts.by_ref().take(ccols.len()).collect();
        for (&j, (raw, fa)) in direct.iter().zip(formats) {
            let q = parts.next().ok_or_else(|| ExecError::Input("internal: quotient missing".into()))?;
            m.means.insert(j, (q, fa, raw));
        }
        if ccols.is_empty() {
            return Ok(m);
        }
        let r = parts.next();
        let r1 = if samp { parts.next() } else { None };
        (cat(&centres.iter().collect::<Vec<_>>())?, r, r1, k, k + 1)
    };
    let centre_of: Vec<ArithShare> = split_even(&centres, ccols.len())?;
    let bds: Vec<u32> = hs.iter().map(|&h| centre_bits(public, h)).collect();
    let hws: Vec<u32> = hs.iter().zip(&bds).map(|(&h, &bd)| work_bits(h, bd)).collect();
    let gs: Vec<u32> = bds.iter().map(|&bd| 30 - bd).collect();
    let idx = |j: usize| ccols.binary_search(&j).map_err(|_| ExecError::Input("internal: no centre".into()));

    // 2. T1 = S1 - c m (exact), then T2 = S2 - m_j S1_k - m_k T1_j (exact) for every pair; with a
    //    public count also T1_j T1_k (exact, below n^2 2^(2 bd)) in the same round.
    let t1: Vec<ArithShare> = if public {
        ccols
            .iter()
            .zip(&centre_of)
            .map(|(&j, c)| Ok(s1(j)?.sub(&c.scale(n as u64))?))
            .collect::<Result<_, ExecError>>()?
    } else {
        let cs = tile(&sel.counts, ccols.len())?;
        let cm = split_even(&e.mul(&cs, &cat(&centre_of.iter().collect::<Vec<_>>())?)?, ccols.len())?;
        ccols.iter().zip(&cm).map(|(&j, c)| Ok(s1(j)?.sub(c)?)).collect::<Result<_, ExecError>>()?
    };
    let mut t2: Vec<ArithShare> = Vec::with_capacity(pairs.len());
    let mut t11: Vec<ArithShare> = Vec::new();
    if !pairs.is_empty() {
        let per = if public { 3 } else { 2 };
        let mut left = Vec::new();
        let mut right = Vec::new();
        for &(j, k) in pairs {
            let (ij, ik) = (idx(j)?, idx(k)?);
            left.extend([&centre_of[ij], &centre_of[ik]]);
            right.extend([s1(k)?, &t1[ij]]);
            if public {
                left.push(&t1[ij]);
                right.push(&t1[ik]);
            }
        }
        let prods = split_even(&e.mul(&cat(&left)?, &cat(&right)?)?, per * pairs.len())?;
        for (p, &pair) in pairs.iter().enumerate() {
            let s2 = m.s2.get(&pair).ok_or_else(|| ExecError::Input("internal: a moment is missing".into()))?;
            t2.push(s2.sub(&prods[per * p])?.sub(&prods[per * p + 1])?);
            if public {
                t11.push(prods[per * p + 2].clone());
            }
        }
    }

    // 3. The quotients, all by multiplications with reciprocals of the count and one final shift:
    //    ρ = T1 / c at g bits, T2 / c at F - H - H' bits; with a public count T1 T1' / n^2 at the
    //    same bits (then cov = T2/n - T1 T1'/n^2 needs nothing more); with a secret one the same
    //    over c - 1 for the sample statistics. Each numerator x (|x| < 2^xb) with target exponent s
    //    is scaled by 2^(s - min s) so that all share one shift.
    #[derive(Clone, Copy, PartialEq)]
    enum Den {
        C,
        CMinus1,
        CSquared,
    }
    struct Quot {
        x: ArithShare,
        xb: u32,
        s: i64,
        den: Den,
    }
    let f_pair = |ij: usize, ik: usize| F as i64 - (hws[ij] + hws[ik]) as i64;
    let mut quots: Vec<Quot> = Vec::new();
    for (p, &(j, k)) in pairs.iter().enumerate() {
        let (ij, ik) = (idx(j)?, idx(k)?);
        quots.push(Quot { x: t2[p].clone(), xb: nb + hws[ij] + hws[ik], s: f_pair(ij, ik), den: Den::C });
    }
    // T1 T1' / n^2 joins only if it fits the common scale (it does unless a narrow column meets a
    // very large row count); otherwise the correction is ρ ρ', as with a secret count. The
    // reciprocal 2^K / n needs K >= the widest scaled numerator (its rounding then costs at most
    // half a unit); 2^K / n^2 for T1 T1' must be as exact: 2nb + bd + bd' + f <= K. ρ itself is
    // needed with a public count only for the intercept or that fallback (it would lower the
    // common scale, widening every numerator).
    let rho_quot = |i: usize| Quot { x: t1[i].clone(), xb: nb + bds[i], s: gs[i] as i64, den: Den::C };
    let sq_fits = |quots: &[Quot]| -> Result<bool, ExecError> {
        let s_min = quots.iter().map(|q| q.s).min().unwrap_or(0);
        let k_pub = quots.iter().map(|q| q.xb as i64 + q.s).max().unwrap_or(0);
        let mut fits = public;
        for &(j, k) in pairs {
            let (ij, ik) = (idx(j)?, idx(k)?);
            let top = 2 * nb as i64 + (bds[ij] + bds[ik]) as i64 + f_pair(ij, ik);
            fits &= top - s_min <= 60 && top <= k_pub;
        }
        Ok(fits)
    };
    let mut use_sq = sq_fits(&quots)?;
    let with_rho = !public || want_rho || !use_sq;
    if with_rho {
        quots.extend((0..ccols.len()).map(rho_quot));
        use_sq = sq_fits(&quots)?;
    }
    let k_pub = quots.iter().map(|q| q.xb as i64 + q.s).max().unwrap_or(0);
    for (p, &(j, k)) in pairs.iter().enumerate().filter(|_| use_sq) {
        let (ij, ik) = (idx(j)?, idx(k)?);
        let xb = 2 * nb + bds[ij] + bds[ik];
        quots.push(Quot { x: t11[p].clone(), xb, s: f_pair(ij, ik), den: Den::CSquared });
    }
    let samp_cols: Vec<usize> = if samp {
        let mut v: Vec<usize> = samp_pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        v.sort_unstable();
        v.dedup();
        v
    } else {
        Vec::new()
    };
    for &j in &samp_cols {
        let i = idx(j)?;
        quots.push(Quot { x: t1[i].clone(), xb: nb + bds[i], s: gs[i] as i64, den: Den::CMinus1 });
    }
    for &(j, k) in samp_pairs.iter().filter(|_| samp) {
        let p = pairs.iter().position(|q| *q == (j, k)).ok_or_else(|| ExecError::Input("internal: pair".into()))?;
        let (ij, ik) = (idx(j)?, idx(k)?);
        quots.push(Quot { x: t2[p].clone(), xb: nb + hws[ij] + hws[ik], s: f_pair(ij, ik), den: Den::CMinus1 });
    }
    let s_min = quots.iter().map(|q| q.s).min().unwrap_or(0);
    let mut xs = Vec::with_capacity(quots.len());
    let mut xb = 2;
    for q in &quots {
        let up = (q.s - s_min) as u32;
        xs.push(q.x.scale(1u64 << up));
        xb = xb.max(q.xb + up);
    }
    let x = cat(&xs.iter().collect::<Vec<_>>())?;
    if xb > 60 {
        return Err(ExecError::Bounds(format!(
            "second moments over {} rows: too many rows for these declared ranges",
            cols.n
        )));
    }
    let out = if public {
        // R = round(2^K / n) (and round(2^K / n^2)), K = k_pub + s_min: R's rounding costs at most
        // half a unit of every result. Up to 3 bits less (up to 4 units) when that lets the wide
        // product finish with one truncation (wide::mul_shift).
        let un = n as u128;
        let recips = |k0: i64| -> Result<(u128, u128), ExecError> {
            let k = k0 + s_min;
            if !(1..=120).contains(&k) || k0 < 0 {
                return Err(ExecError::Input("internal: reciprocal scale".into()));
            }
            Ok((((1u128 << k) + un / 2) / un, ((1u128 << k) + un * un / 2) / (un * un)))
        };
        let widest = k_pub - s_min;
        let mut k0 = widest;
        for cand in (widest - 3..=widest).rev().filter(|&c| c >= 0) {
            let rb = bits(recips(cand)?.0);
            let (c, xb) = (cand as u32, xb);
            let one_product = xb + rb <= 61 || xb + c.max((xb + rb).saturating_sub(61)) <= 61;
            let halves = (xb.max(rb).saturating_sub(30)..=30).contains(&c.div_ceil(2));
            if one_product || halves {
                k0 = cand;
                break;
            }
        }
        let (r1, r2) = recips(k0)?;
        if bits(r1) > 60 {
            return Err(ExecError::Input("internal: reciprocal too wide".into()));
        }
        let mut rs: Vec<u64> = Vec::with_capacity(x.len());
        for q in &quots {
            let r = if q.den == Den::CSquared { r2 } else { r1 };
            rs.extend(std::iter::repeat_n(r as u64, g));
        }
        mul_shift(e, &x, xb, Factor::Public(&rs), bits(r1), k0 as u32)?
    } else {
        let r = recip.as_ref().ok_or_else(|| ExecError::Input("internal: no reciprocal".into()))?;
        let mut rs: Vec<&ArithShare> = Vec::with_capacity(quots.len());
        for q in &quots {
            rs.push(if q.den == Den::CMinus1 { recip1.as_ref().unwrap_or(r) } else { r });
        }
        let k = k_recip as i64 - s_min;
        if k < 0 {
            return Err(ExecError::Input("internal: reciprocal scale".into()));
        }
        mul_shift(e, &x, xb, Factor::Secret(&cat(&rs)?), rb, k as u32)?
    };
    let mut outs = split_even(&out, quots.len())?.into_iter();
    let mut next = || outs.next().ok_or_else(|| ExecError::Input("internal: quotient missing".into()));
    let raw: Vec<ArithShare> = (0..pairs.len()).map(|_| next()).collect::<Result<_, _>>()?;
    // Without ρ (a public count, no intercept), zeros stand in: nothing reads them.
    let rho: Vec<ArithShare> = if with_rho {
        (0..ccols.len()).map(|_| next()).collect::<Result<_, _>>()?
    } else {
        vec![constant(me, 0, g); ccols.len()]
    };
    let sq: Vec<ArithShare> =
        if use_sq { (0..pairs.len()).map(|_| next()).collect::<Result<_, _>>()? } else { Vec::new() };
    let sigma: Vec<ArithShare> = (0..samp_cols.len()).map(|_| next()).collect::<Result<_, _>>()?;
    let raw_samp: Vec<ArithShare> =
        if samp { (0..samp_pairs.len()).map(|_| next()).collect::<Result<_, _>>()? } else { Vec::new() };

    // 4. cov = T2/c - ρ ρ': ready with T1 T1' / n^2; otherwise the products ρ ρ' (and
    //    ρ σ' = T1 T1' / (c (c - 1)) for the sample statistics) at g + g' bits are brought to each
    //    pair's F - H - H' bits (one truncation per distinct shift).
    if use_sq {
        for ((&pair, r), q) in pairs.iter().zip(&raw).zip(&sq) {
            m.cov.insert(pair, r.sub(q)?);
        }
    } else if !pairs.is_empty() {
        let mut left: Vec<&ArithShare> = Vec::new();
        let mut right: Vec<&ArithShare> = Vec::new();
        let mut shifts: Vec<(i64, u32)> = Vec::new();
        let mut targets: Vec<((usize, usize), bool)> = Vec::new();
        for &(j, k) in pairs {
            let (ij, ik) = (idx(j)?, idx(k)?);
            left.push(&rho[ij]);
            right.push(&rho[ik]);
            // |ρ 2^g| < 2^30, |σ 2^g| < 2^31.
            shifts.push((f_pair(ij, ik) - (gs[ij] + gs[ik]) as i64, 60));
            targets.push(((j, k), false));
        }
        for &(j, k) in samp_pairs.iter().filter(|_| samp) {
            let (ij, ik) = (idx(j)?, idx(k)?);
            let sk = samp_cols.binary_search(&k).map_err(|_| ExecError::Input("internal: sigma".into()))?;
            left.push(&rho[ij]);
            right.push(&sigma[sk]);
            shifts.push((f_pair(ij, ik) - (gs[ij] + gs[ik]) as i64, 61));
            targets.push(((j, k), true));
        }
        let prods = split_even(&e.mul(&cat(&left)?, &cat(&right)?)?, left.len())?;
        let mut corr: Vec<Option<ArithShare>> = vec![None; prods.len()];
        let mut distinct: Vec<i64> = shifts.iter().map(|s| s.0).collect();
        distinct.sort_unstable();
        distinct.dedup();
        for d in distinct {
            let which: Vec<usize> = (0..prods.len()).filter(|&i| shifts[i].0 == d).collect();
            let b = which.iter().map(|&i| shifts[i].1).max().unwrap_or(61);
            let both = cat(&which.iter().map(|&i| &prods[i]).collect::<Vec<_>>())?;
            let moved = split_even(&shift(e, &both, b, d)?, which.len())?;
            for (&i, v) in which.iter().zip(moved) {
                corr[i] = Some(v);
            }
        }
        let raws: Vec<&ArithShare> = raw.iter().chain(raw_samp.iter()).collect();
        for (i, &(pair, is_samp)) in targets.iter().enumerate() {
            let c = corr[i].take().ok_or_else(|| ExecError::Input("internal: correction missing".into()))?;
            let r = raws.get(i).ok_or_else(|| ExecError::Input("internal: quotient missing".into()))?;
            let v = r.sub(&c)?;
            if is_samp {
                m.cov_samp.insert(pair, v);
            } else {
                m.cov.insert(pair, v);
            }
        }
    }
    for (i, &j) in ccols.iter().enumerate() {
        m.centred
            .insert(j, Centred { hw: hws[i], centre: centre_of[i].clone(), rho: rho[i].clone(), g: gs[i], bd: bds[i] });
    }
    Ok(m)
}
