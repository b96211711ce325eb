//! Order statistics (percentiles, median, min, max), mode, gini and the harmonic mean.
//!
//! Without WHERE and GROUP BY every rank is a public function of the public row count, so one
//! quickselect (`sort::select`) serves every percentile of a column. With them the rank depends on
//! a secret count: the column is sorted once by the composite key `(group, x - lo)` (rows that fail
//! the filter get the group after the last, so they sort to the end), and each wanted rank is
//! selected by a secret one-hot vector: `le_i = [i <= pos]` from one batched LTZ of public-minus-
//! secret integers, `onehot_i = le_i - le_{i+1}`, then a dot product. Nothing is opened but the
//! results (and the sort's comparison pattern on a random permutation, which its simulator covers).

use std::collections::BTreeMap;
use triad_mpc_core::ArithShare;
use triad_mpc_core::engine::{Engine, dots_gate};

use triad_mpc_core::fixed::{DivBounds, Normal, Precision, div, exp2_fixed, log2_normal, pow2_div_normal};
use triad_mpc_core::masked::trunc;
use triad_mpc_core::sort::{select_unsigned, sort_unsigned, words_to_arith_low};

use super::aggregate::{Decode, Pending};
use super::moments::row_bits;
use super::select::Selection;
use super::util::{add_const, at, bits, cat, constant, eqz_bits, ltz_bits, split_even, tile};
use super::wide::{msb_onehot, weighted};
use super::{Columns, ExecError};
use crate::decimal::Decimal;
use crate::plan::{PercentileKind, cont_position, disc_rank};

/// Fractional bits of gini.
const FG: u32 = 24;

/// A column sorted by `(group, x - lo)`, as `x - lo` in sorted order, and each group's first
/// position.
pub(crate) struct GroupSorted {
    /// `x - lo` in sorted order (rows outside every group last).
    pub(crate) u: ArithShare,
    /// `C_b = Σ_{h<b} c_h`, one element per group.
    pub(crate) starts: ArithShare,
}

/// Sorts column `j` within the selection's groups.
pub(crate) fn sort_by_group<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    sel: &Selection,
    j: usize,
) -> Result<GroupSorted, ExecError> {
    let me = e.session().me();
    let n = cols.n;
    let info = cols.info(j)?;
    let rb = bits((info.hi - info.lo) as u128).max(1);
    let g = sel.groups as i128;
    if bits((g + 1) as u128) + rb > 61 {
        return Err(ExecError::Bounds(format!("sorting column {j} within {g} groups needs a key wider than 61 bits")));
    }
    let u = add_const(me, cols.share(j)?, -info.lo)?;
    // group index per row: Σ_b b w_b + G (1 - Σ_b w_b)
    let group = match &sel.weights {
        None => constant(me, 0, n),
        Some(w) => {
            let mut acc = constant(me, g, n);
            for (b, wb) in w.iter().enumerate() {
                acc = acc.add(&wb.scale((b as u64).wrapping_sub(g as u64)))?;
            }
            acc
        }
    };
    let key = group.scale(1u64 << rb).add(&u)?;
    // The key is below 2^(bits(g + 1) + rb): the sort compares that many bits, not 64.
    let sorted = sort_unsigned(e, &key, bits((g + 1) as u128) + rb, &[])?;
    let u = words_to_arith_low(e, &sorted.keys, rb)?;
    // starts: exclusive prefix sums of the counts (local)
    let counts = split_even(&sel.counts, sel.groups)?;
    let mut starts = Vec::with_capacity(sel.groups);
    let mut acc = constant(me, 0, 1);
    for c in &counts {
        starts.push(acc.clone());
        acc = acc.add(c)?;
    }
    Ok(GroupSorted { u, starts: cat(&starts.iter().collect::<Vec<_>>())? })
}

/// Column `j` sorted ascending, as arithmetic shares (sort, then bit injection). The sort keys are
/// `x - lo`, below `2^bits(hi - lo)`: the comparisons and conversions cover those bits, not 64.
pub(crate) fn sort_column<E: Engine>(e: &mut E, cols: &Columns<'_>, j: usize) -> Result<ArithShare, ExecError> {
    let me = e.session().me();
    let (info, rb) = key_range(cols, j)?;
    let u = add_const(me, cols.share(j)?, -info.lo)?;
    let sorted = sort_unsigned(e, &u, rb, &[])?;
    add_const(me, &words_to_arith_low(e, &sorted.keys, rb)?, info.lo)
}

/// Column `j`'s declared range and the bits of `x - lo` (at least 1).
fn key_range(cols: &Columns<'_>, j: usize) -> Result<(super::ColumnInfo, u32), ExecError> {
    let info = cols.info(j)?;
    let rb = bits((info.hi - info.lo) as u128).max(1);
    if rb > 63 {
        return Err(ExecError::Bounds(format!("ordering column {j} needs keys wider than 63 bits")));
    }
    Ok((info, rb))
}

/// `(num, den)` of the exact decimal `p`.
fn fraction(p: Decimal) -> Result<(i128, i128), ExecError> {
    let den =
        10i128.checked_pow(p.scale).ok_or_else(|| ExecError::Bounds("a percentile with too many digits".into()))?;
    Ok((p.units, den))
}

/// Percentiles of column `j` under no selection: public ranks, one quickselect.
pub(crate) fn public_percentiles<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    j: usize,
    reqs: &[(PercentileKind, Decimal)],
    sorted: Option<&ArithShare>,
) -> Result<Vec<Pending>, ExecError> {
    let n = cols.n;
    let d = cols.info(j)?.decimals;
    let bad = || ExecError::Input("a percentile of no rows".into());
    let mut ranks: Vec<usize> = Vec::new();
    for &(kind, p) in reqs {
        match kind {
            PercentileKind::Cont => {
                let c = cont_position(p, n).ok_or_else(bad)?;
                ranks.extend([c.lo, c.hi]);
            }
            PercentileKind::Disc => ranks.push(disc_rank(p, n).ok_or_else(bad)?),
        }
    }
    ranks.sort_unstable();
    ranks.dedup();
    // A column already sorted (for gini) gives every rank for free; else one quickselect.
    let picked = match sorted {
        Some(v) => cat(&ranks.iter().map(|&r| at(v, r)).collect::<Result<Vec<_>, _>>()?.iter().collect::<Vec<_>>())?,
        None => {
            let me = e.session().me();
            let (info, rb) = key_range(cols, j)?;
            let u = add_const(me, cols.share(j)?, -info.lo)?;
            add_const(me, &select_unsigned(e, &u, rb, &ranks)?, info.lo)?
        }
    };
    let of = |r: usize| -> Result<ArithShare, ExecError> { at(&picked, ranks.binary_search(&r).map_err(|_| bad())?) };
    reqs.iter()
        .map(|&(kind, p)| {
            Ok(match kind {
                PercentileKind::Cont => {
                    let c = cont_position(p, n).ok_or_else(bad)?;
                    let y = of(c.lo)?.scale((c.den - c.num) as u64).add(&of(c.hi)?.scale(c.num as u64))?;
                    if c.den.checked_mul(cols.info(j)?.abs_max).is_none_or(|b| b >= 1 << 62) {
                        return Err(ExecError::Bounds(format!(
                            "percentile_cont({}) over this range needs more than 62 bits",
                            p.to_f64()
                        )));
                    }
                    Pending::new(y, Decode::Ratio { den: c.den, decimals: d, add: 0 })
                }
                PercentileKind::Disc => {
                    Pending::new(of(disc_rank(p, n).ok_or_else(bad)?)?, Decode::Int { decimals: d, add: 0 })
                }
            })
        })
        .collect()
}

/// Percentiles of a group-sorted column at secret ranks, every group and request in one LTZ.
pub(crate) fn secret_percentiles<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    sel: &Selection,
    j: usize,
    gs: &GroupSorted,
    reqs: &[(PercentileKind, Decimal)],
) -> Result<Vec<Pending>, ExecError> {
    let me = e.session().me();
    let (n, g) = (cols.n, sel.groups);
    let info = cols.info(j)?;
    let counts = split_even(&sel.counts, g)?;
    let starts = split_even(&gs.starts, g)?;
    // le_i = [i <= pos] as LTZ of den*i - secret, per (request, group).
    let mut diffs = Vec::with_capacity(reqs.len() * g);
    for &(kind, p) in reqs {
        let (num, den) = fraction(p)?;
        if den
            .checked_mul(n as i128 + 1)
            .and_then(|a| a.checked_add(num * (n as i128 + 1)))
            .is_none_or(|b| b >= 1 << 61)
            || den.checked_mul(info.hi - info.lo).is_none_or(|b| b >= 1 << 61)
        {
            return Err(ExecError::Bounds(format!("percentile {} has too many digits for {n} rows", p.to_f64())));
        }
        let idx: Vec<u64> = (0..n as i128).map(|i| (den * i) as u64).collect();
        for b in 0..g {
            // Cont: den (i - C) <= num (c - 1)  <=>  den i - den C - num (c - 1) - 1 < 0
            // Disc: den (i - C) < num c (p > 0), i - C <= 0 (p = 0)
            let secret = match kind {
                PercentileKind::Cont => {
                    add_const(me, &starts[b].scale(den as u64).add(&counts[b].scale(num as u64))?, 1 - num)?
                }
                PercentileKind::Disc => add_const(
                    me,
                    &starts[b].scale(den as u64).add(&counts[b].scale(num as u64))?,
                    i128::from(num == 0),
                )?,
            };
            diffs.push(ArithShare::public(me, &idx).sub(&tile(&secret, n)?)?);
        }
    }
    let le_all = ltz_bits(e, &cat(&diffs.iter().collect::<Vec<_>>())?)?;
    let les = split_even(&le_all, diffs.len())?;
    let shift = |x: &ArithShare| -> Result<ArithShare, ExecError> {
        let (a, b) = x.components();
        let mut a = a[1..].to_vec();
        let mut b = b[1..].to_vec();
        a.push(0);
        b.push(0);
        Ok(ArithShare::from_components(a, b)?)
    };
    let u_next = shift(&gs.u)?;
    let onehots = les.iter().map(|le| Ok(le.sub(&shift(le)?)?)).collect::<Result<Vec<_>, ExecError>>()?;
    let mut pl = Vec::with_capacity(2 * onehots.len());
    for oh in &onehots {
        pl.push((oh, &gs.u));
        pl.push((oh, &u_next));
    }
    let picked = dots_gate(e, &pl)?;
    // Interpolation for Cont: Y = den x_lo + fnum (x_hi - x_lo), fnum = num (c - 1) - den (Σ le - C - 1).
    let mut fnums = Vec::new();
    let mut gaps = Vec::new();
    let mut out = Vec::with_capacity(reqs.len());
    for (r, &(kind, p)) in reqs.iter().enumerate() {
        let (num, den) = fraction(p)?;
        let mut lo_vals = Vec::with_capacity(g);
        for b in 0..g {
            let t = r * g + b;
            let (x_lo, x_hi) = (at(&picked, 2 * t)?, at(&picked, 2 * t + 1)?);
            if kind == PercentileKind::Cont {
                let lo_local = add_const(me, &les[t].sum().sub(&starts[b])?, -1)?;
                let fnum = add_const(me, &counts[b].scale(num as u64), -num)?.sub(&lo_local.scale(den as u64))?;
                fnums.push(fnum);
                gaps.push(x_hi.sub(&x_lo)?);
            }
            lo_vals.push(x_lo);
        }
        out.push((kind, den, cat(&lo_vals.iter().collect::<Vec<_>>())?));
    }
    let interp = if fnums.is_empty() {
        Vec::new()
    } else {
        let prod = e.mul(&cat(&fnums.iter().collect::<Vec<_>>())?, &cat(&gaps.iter().collect::<Vec<_>>())?)?;
        split_even(&prod, fnums.len() / g)?
    };
    let mut interp = interp.into_iter();
    out.into_iter()
        .map(|(kind, den, x_lo)| {
            Ok(match kind {
                PercentileKind::Disc => Pending::new(x_lo, Decode::Int { decimals: info.decimals, add: info.lo }),
                PercentileKind::Cont => {
                    let add =
                        interp.next().ok_or_else(|| ExecError::Input("internal: interpolation missing".into()))?;
                    Pending::new(
                        x_lo.scale(den as u64).add(&add)?,
                        Decode::Ratio { den, decimals: info.decimals, add: info.lo },
                    )
                }
            })
        })
        .collect()
}

/// Gini of column `j` (declared min >= 0): `Σ (2r + 1 - c) x_(r) / (c Σ x)` over each group's
/// sorted values; NULL where `Σ x = 0`.
pub(crate) fn gini<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    sel: &Selection,
    j: usize,
    gs: Option<&GroupSorted>,
    presorted: Option<&ArithShare>,
) -> Result<Pending, ExecError> {
    let me = e.session().me();
    let (n, g) = (cols.n, sel.groups);
    let info = cols.info(j)?;
    let nb = row_bits(n);
    let vb = bits(info.hi.max(1) as u128);
    // |N| and D are below 2^nbits: |2r + 1 - c| < c <= n < 2^nb, x < 2^vb, n terms (the ring
    // wraps in between, the final values do not).
    let nbits = 2 * nb + vb;
    if nbits > 61 {
        return Err(ExecError::Bounds(format!(
            "gini over {n} rows needs 2*log2(rows) + log2(max) <= 61 (here {nbits}); the declared max of this column \
             is too large"
        )));
    }
    let weights: Vec<u64> = (0..n as u64).map(|i| 2 * i + 1).collect();
    let (num, den, sum) = match gs {
        None => {
            let v = match presorted {
                Some(v) => v.clone(),
                None => sort_column(e, cols, j)?,
            };
            let t = v.mul_public(&weights)?.sum();
            let sv = v.sum();
            (t.sub(&sv.scale(n as u64))?, sv.scale(n as u64), sv)
        }
        Some(gs) => {
            let v = add_const(me, &gs.u, info.lo)?;
            let vw = v.mul_public(&weights)?;
            let counts = split_even(&sel.counts, g)?;
            let starts = split_even(&gs.starts, g)?;
            // A_b = [i < C_{b+1}], membership M_b = A_b - A_{b-1}.
            let idx: Vec<u64> = (0..n as u64).collect();
            let mut diffs = Vec::with_capacity(g);
            for b in 0..g {
                let end = starts[b].add(&counts[b])?;
                diffs.push(ArithShare::public(me, &idx).sub(&tile(&end, n)?)?);
            }
            let a_all = ltz_bits(e, &cat(&diffs.iter().collect::<Vec<_>>())?)?;
            let a = split_even(&a_all, g)?;
            let mut m = Vec::with_capacity(g);
            for b in 0..g {
                m.push(if b == 0 { a[0].clone() } else { a[b].sub(&a[b - 1])? });
            }
            let mut pl = Vec::with_capacity(2 * g);
            for mb in &m {
                pl.push((mb, &vw));
            }
            for mb in &m {
                pl.push((mb, &v));
            }
            let d = split_even(&dots_gate(e, &pl)?, 2)?;
            let (t, sv) = (&d[0], &d[1]);
            // N = T - (2C + c) SV, D = c SV
            let coef = gs.starts.scale(2).add(&sel.counts)?;
            let prods = split_even(&e.mul(&cat(&[&coef, &sel.counts])?, &cat(&[sv, sv])?)?, 2)?;
            (t.sub(&prods[0])?, prods[1].clone(), sv.clone())
        }
    };
    // The division needs num_bits + den_frac_bits <= 60 and num_bits + 2 den_bits <= 116 with
    // num_bits = l + FG, den_bits = l: l <= 30 after cutting s bits from both N and D. Both are
    // first scaled by the same secret power of two bringing D to [2^(nbits-1), 2^nbits) (|N| < D),
    // so that the cut keeps 29 significant bits of D however far below the declared maximum the
    // data are (cutting the raw D would keep only its bits above 2^s).
    let s = nbits.saturating_sub(30);
    let (num, den) = if s > 0 {
        let onehot = msb_onehot(e, &den, nbits)?;
        let v = weighted(&onehot, |i| 1u64 << (nbits - 1 - i as u32))?;
        let scaled = e.mul(&cat(&[&num, &den])?, &tile(&v, 2)?)?;
        let both = trunc(e, &scaled, nbits + 1, s)?;
        let p = split_even(&both, 2)?;
        (p[0].clone(), p[1].clone())
    } else {
        (num, den)
    };
    // N 2^FG / D with the scaling on the numerator (fb = 0): div's error then stays a few ulps,
    // where a scaled divisor would multiply it by 2^FG / D.
    let l = (nbits - s).max(2);
    let q = div(
        e,
        &num.scale(1u64 << FG),
        &den,
        DivBounds { num_bits: l + FG, den_bits: l, den_frac_bits: 0, signed_den: false },
    )?;
    let null = eqz_bits(e, &sum)?;
    Ok(Pending::new(q, Decode::Fixed { frac: FG, mul: 1.0, add: 0.0 }).with_null(null))
}

/// The mode of column `j` over its declared domain: counts by EQZ per domain value, then a
/// tournament of comparisons in which the larger value wins only on a strictly larger count
/// (ties go to the smallest value, as PostgreSQL's `mode()`).
pub(crate) fn mode<E: Engine>(e: &mut E, cols: &Columns<'_>, sel: &Selection, j: usize) -> Result<Pending, ExecError> {
    let me = e.session().me();
    let g = sel.groups;
    let info = cols.info(j)?;
    let domain = usize::try_from(info.hi - info.lo + 1)
        .map_err(|_| ExecError::Bounds(format!("mode: the declared domain of column {j} is too large")))?;
    let u = add_const(me, cols.share(j)?, -info.lo)?;
    let mut diffs = Vec::with_capacity(domain);
    for v in 0..domain {
        diffs.push(add_const(me, &u, -(v as i128))?);
    }
    let eq = split_even(&eqz_bits(e, &cat(&diffs.iter().collect::<Vec<_>>())?)?, domain)?;
    // counts[v]: one element per group
    let mut counts: Vec<ArithShare> = match &sel.weights {
        None => eq.iter().map(ArithShare::sum).collect(),
        Some(w) => {
            let pl: Vec<(&ArithShare, &ArithShare)> = eq.iter().flat_map(|q| w.iter().map(move |wb| (wb, q))).collect();
            split_even(&dots_gate(e, &pl)?, domain)?
        }
    };
    let mut vals: Vec<ArithShare> = (0..domain).map(|v| constant(me, v as i128, g)).collect();
    while counts.len() > 1 {
        if counts.len() % 2 == 1 {
            counts.push(constant(me, -1, g));
            vals.push(constant(me, 0, g));
        }
        let half = counts.len() / 2;
        let (mut dl, mut dc, mut dv) = (Vec::new(), Vec::new(), Vec::new());
        for t in 0..half {
            dl.push(counts[2 * t].sub(&counts[2 * t + 1])?);
            dc.push(counts[2 * t + 1].sub(&counts[2 * t])?);
            dv.push(vals[2 * t + 1].sub(&vals[2 * t])?);
        }
        let right_wins = ltz_bits(e, &cat(&dl.iter().collect::<Vec<_>>())?)?;
        let moves = e.mul(&tile(&right_wins, 2)?, &cat(&dc.iter().chain(dv.iter()).collect::<Vec<_>>())?)?;
        let mv = split_even(&moves, 2 * half)?;
        let mut nc = Vec::with_capacity(half);
        let mut nv = Vec::with_capacity(half);
        for t in 0..half {
            nc.push(counts[2 * t].add(&mv[t])?);
            nv.push(vals[2 * t].add(&mv[half + t])?);
        }
        counts = nc;
        vals = nv;
    }
    let v = vals.pop().ok_or_else(|| ExecError::Input("mode of an empty domain".into()))?;
    Ok(Pending::new(v, Decode::Int { decimals: info.decimals, add: info.lo }))
}

/// The harmonic mean of column `j` (declared min > 0): `c / Σ w 2^K / x` with one vectorised
/// reciprocal.
pub(crate) fn harmonic<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    sel: &Selection,
    j: usize,
    normals: &mut Normals,
) -> Result<Pending, ExecError> {
    let n = cols.n;
    let info = cols.info(j)?;
    let nb = row_bits(n);
    let vb = bits(info.hi as u128).max(2);
    let lo_log = bits(info.lo.max(1) as u128) - 1;
    // The reciprocal's own relative error is 2^-15 (two Goldschmidt steps, an underestimate: within
    // the documented 2·10^-4); K keeps its floors far below that.
    let k = 58.min(60 - nb + lo_log).min(vb + 26);
    if k < vb + 16 {
        return Err(ExecError::Bounds(format!(
            "harmonic_mean over {n} rows: the declared range [{}, {}] (units) is too wide for 16 bits of precision per reciprocal",
            info.lo, info.hi
        )));
    }
    // 2^K / x: the numerator is public, so no product with it (`fixed::pow2_div`).
    let normal = normal_of(e, cols, j, normals)?;
    let r = pow2_div_normal(e, normal, k, Precision::Coarse)?;
    let sums = match &sel.weights {
        None => r.sum(),
        Some(w) => dots_gate(e, &w.iter().map(|wb| (wb, &r)).collect::<Vec<_>>())?,
    };
    // R < 2^rb; the division needs num_bits + 2 den_bits <= 116 with num_bits = 60, so R is cut to
    // 28 bits (R >= c 2^K / hi keeps at least K - vb - 1 bits before the cut: >= 2^-25 relative).
    let rb = nb + k - lo_log + 1;
    let s = rb.saturating_sub(28);
    let sums = if s > 0 { trunc(e, &sums, rb + 1, s)? } else { sums };
    // q = c 2^fb / R' = hm 2^(fb + s - K): as many fractional bits as fit both the numerator and
    // the quotient.
    let frac = (56 - nb + s).saturating_sub(k).min(59 - vb);
    let fb = (frac + k).checked_sub(s).filter(|fb| nb + fb <= 56).ok_or_else(|| {
        ExecError::Bounds(format!("harmonic_mean over {n} rows: no fixed-point format fits the declared range"))
    })?;
    let q = div(
        e,
        &sel.counts.scale(1u64 << fb),
        &sums,
        DivBounds { num_bits: nb + fb, den_bits: (rb - s).max(2), den_frac_bits: 0, signed_den: false },
    )?;
    Ok(Pending::new(q, Decode::Fixed { frac, mul: 10f64.powi(-(info.decimals as i32)), add: 0.0 }))
}

/// Columns normalised once (bit decomposition, most significant bit) for the harmonic and the
/// geometric mean, which share it.
pub(crate) type Normals = BTreeMap<usize, Normal>;

/// Column `j` (declared min > 0) normalised over `bits(hi)` bits, from `normals` or made there.
fn normal_of<'a, E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    j: usize,
    normals: &'a mut Normals,
) -> Result<&'a Normal, ExecError> {
    Ok(match normals.entry(j) {
        std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::btree_map::Entry::Vacant(v) => {
            let vb = bits(cols.info(j)?.hi as u128).max(2);
            v.insert(Normal::new(e, cols.share(j)?, vb)?)
        }
    })
}

/// The geometric mean of column `j` (declared min > 0, so every value is at least one unit):
/// `2^(Σ w log2 x / c)`, one vectorised `log2_int`, one division of the sums by the counts, and
/// one `exp2_fixed` per group (`triad_mpc_core::fixed::log`). Relative error below 10^-6.
pub(crate) fn geometric<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    sel: &Selection,
    j: usize,
    normals: &mut Normals,
) -> Result<Pending, ExecError> {
    let n = cols.n;
    let info = cols.info(j)?;
    let nb = row_bits(n);
    let vb = bits(info.hi as u128).max(2);
    let lb = bits(u128::from(vb));
    if vb > 32 || nb + 28 + lb > 60 {
        return Err(ExecError::Bounds(format!(
            "geometric_mean over {n} rows needs values below 2^32 units and fewer than 2^{} rows",
            60 - 28 - lb
        )));
    }
    let normal = normal_of(e, cols, j, normals)?;
    let lg = log2_normal(e, normal)?;
    let sums = match &sel.weights {
        None => lg.sum(),
        Some(w) => dots_gate(e, &w.iter().map(|wb| (wb, &lg)).collect::<Vec<_>>())?,
    };
    let mean = div(
        e,
        &sums,
        &sel.counts,
        DivBounds { num_bits: nb + 28 + lb, den_bits: nb, den_frac_bits: 0, signed_den: false },
    )?;
    let g = exp2_fixed(e, &mean, vb)?;
    Ok(Pending::new(g, Decode::Fixed { frac: 28, mul: 10f64.powi(-(info.decimals as i32)), add: 0.0 }))
}
