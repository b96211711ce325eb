//! Sums and second moments around each column's declared midpoint, and their normalised means.
//!
//! `W = x - mid` with `|W| < 2^h` (`h` = the column's `half_bits`). The sums `S1 = Σ w W` and
//! `S2 = Σ w W W'` are exact integers in Z_2^64 (the plan refuses ranges where they could wrap);
//! without a selection they are local sums and one dot product per pair, with one a dot product
//! per group. The means are then taken in *normalised* units, `an = S1 / (c 2^h)` and
//! `bn = S2 / (c 2^(h+h'))`, both in `(-1, 1)` at `NF` fractional bits, by one vectorised
//! division: every later step (variance, covariance, correlation, regression) stays within a
//! fixed-point product of two numbers below 1.

use std::collections::BTreeMap;

use triad_mpc_core::ArithShare;
use triad_mpc_core::engine::{Engine, dots_gate};
use triad_mpc_core::fixed::{DivBounds, div};
use triad_mpc_core::masked::trunc;

use super::select::Selection;
use super::util::{add_const, cat, split, split_even};
use super::{Columns, ExecError};

/// Fractional bits of the normalised moments and everything derived from them.
pub(crate) const NF: u32 = 28;

/// The moments of a query, one element per group in each sharing.
#[derive(Default)]
pub(crate) struct Moments {
    /// `Σ w (x - mid)` per column.
    pub(crate) s1: BTreeMap<usize, ArithShare>,
    /// `Σ w (x - mid)(y - mid')` per pair `(j, k)`, `j <= k`.
    pub(crate) s2: BTreeMap<(usize, usize), ArithShare>,
    /// `S1 / (c 2^h)` at `NF` bits.
    pub(crate) an: BTreeMap<usize, ArithShare>,
    /// `S2 / (c 2^(h + h'))` at `NF` bits.
    pub(crate) bn: BTreeMap<(usize, usize), ArithShare>,
    /// `c / (c - 1)` at `NF` bits (0 where `c = 1`).
    pub(crate) ratio: Option<ArithShare>,
}

/// `nb`: the number of bits of the row count (`n < 2^nb`).
pub(crate) fn row_bits(n: usize) -> u32 {
    super::util::bits(n as u128).max(2)
}

/// Computes the sums for `firsts` and the second moments for `pairs`, and the normalised means of
/// the sums in `means` (a sum alone needs no division) and of every second moment.
pub(crate) fn moments<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    sel: &Selection,
    firsts: &[usize],
    means: &[usize],
    pairs: &[(usize, usize)],
    want_ratio: bool,
) -> Result<Moments, ExecError> {
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
        centred.insert(j, add_const(me, cols.share(j)?, -c.mid)?);
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

    // First moments.
    match &sel.weights {
        None => {
            for &j in firsts {
                m.s1.insert(j, get(&j)?.sum());
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
                let pl = pairs.iter().map(|(a, b)| Ok((get(a)?, get(b)?))).collect::<Result<Vec<_>, ExecError>>()?;
                dots_gate(e, &pl)?
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

    // Normalised means: numerators N with |N| < 2^(nb + NF), denominators c, one division.
    let g = sel.groups;
    let mut nums: Vec<ArithShare> = Vec::new();
    let mut dens: Vec<ArithShare> = Vec::new();
    let scaled = |e: &mut E, s: &ArithShare, h: u32, bound_bits: u32| -> Result<ArithShare, ExecError> {
        Ok(if h <= NF { s.scale(1u64 << (NF - h)) } else { trunc(e, s, bound_bits + 1, h - NF)? })
    };
    for (&j, s) in m.s1.iter().filter(|(j, _)| means.contains(j)) {
        let h = cols.info(j)?.half_bits;
        nums.push(scaled(e, s, h, nb + h)?);
        dens.push(sel.counts.clone());
    }
    for (&(j, k), s) in &m.s2 {
        let h = cols.info(j)?.half_bits + cols.info(k)?.half_bits;
        nums.push(scaled(e, s, h, nb + h)?);
        dens.push(sel.counts.clone());
    }
    let public_n = sel.weights.is_none();
    if want_ratio && !public_n {
        nums.push(sel.counts.scale(1u64 << NF));
        dens.push(add_const(me, &sel.counts, -1)?);
    }
    if public_n && want_ratio {
        // n / (n - 1) is public (0 for n = 1, which is NULL anyway).
        let n = cols.n as i128;
        let r = if n > 1 { ((n << NF) + (n - 1) / 2) / (n - 1) } else { 0 };
        m.ratio = Some(super::util::constant(me, r, 1));
    }
    if nums.is_empty() {
        return Ok(m);
    }
    let all = cat(&nums.iter().collect::<Vec<_>>())?;
    let q = if public_n {
        divide_by_public(e, &all, cols.n as i128, nb)?
    } else {
        div(
            e,
            &all,
            &cat(&dens.iter().collect::<Vec<_>>())?,
            DivBounds { num_bits: nb + NF, den_bits: nb, den_frac_bits: 0, signed_den: false },
        )?
    };
    let mut parts = split(&q, &vec![g; nums.len()])?.into_iter();
    for &j in m.s1.keys().filter(|j| means.contains(j)) {
        m.an.insert(j, parts.next().ok_or_else(|| ExecError::Input("internal: quotient missing".into()))?);
    }
    for &p in m.s2.keys() {
        m.bn.insert(p, parts.next().ok_or_else(|| ExecError::Input("internal: quotient missing".into()))?);
    }
    if want_ratio && !public_n {
        m.ratio = parts.next();
    }
    Ok(m)
}

/// `N / n` for a public `n < 2^nb` and `|N| < 2^(nb + NF)` (every element), without the secret
/// division's thousand rounds: `N' = floor(N / 2^s)` with `s = nb - 4`, then
/// `floor(N' R / 2^(K - s))` with `R = ceil(2^K / n)`, `K = 60 - NF + s`, so `|N' R| < 2^61`.
/// Error: `2^s / n` (the first floor) + `N' / 2^(K - s)` (R's rounding, at most `2^(nb - 4 - s)`)
/// + 1 (the second floor): under 3 ulps. Two exact truncations.
fn divide_by_public<E: Engine>(e: &mut E, x: &ArithShare, n: i128, nb: u32) -> Result<ArithShare, ExecError> {
    if n < 1 {
        return Err(ExecError::Input("a mean of no rows".into()));
    }
    let s = nb.saturating_sub(4);
    let xs = if s > 0 { trunc(e, x, nb + NF + 1, s)? } else { x.clone() };
    let k = 60 - NF + s;
    let r = ((1i128 << k) + n - 1) / n;
    Ok(trunc(e, &xs.scale(r as u64), 62, k - s)?)
}
