//! The executor's driver: the selection, the cohort check, every aggregate of the query (sharing
//! their work), then one open of all results.

use std::collections::BTreeMap;

use triad_mpc_core::ArithShare;
use triad_mpc_core::circuits::eqz;
use triad_mpc_core::engine::Engine;
use triad_mpc_core::fixed::{FixedFormat, inv_sqrt, sqrt};

use super::moments::{F, Moments, NF, Needs, moments, row_bits};
use super::order::{
    GroupSorted, geometric, gini, harmonic, mode, public_percentiles, secret_percentiles, sort_by_group, sort_column,
};
use super::select::{Selection, selection};
use super::util::{add_const, bits, cat, constant, eqz_bits, ltz_bits, one_minus, split, split_even, tile};
use super::wide::{Factor, msb_onehot, mul_shift, shift, weighted};
use super::{Answer, ColumnInfo, Columns, ExecError};
use crate::decimal::Decimal;
use crate::plan::{Aggregate, BinaryAgg, OutputValue, PercentileKind, Query, UnaryAgg};
use crate::schema::Schema;

/// How an opened ring element becomes a value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Decode {
    /// `(v + add) / 10^decimals` for a signed integer `v`.
    Int { decimals: u32, add: i128 },
    /// `v 2^-frac * mul + add`.
    Fixed { frac: u32, mul: f64, add: f64 },
    /// `(v / den + add) / 10^decimals`.
    Ratio { den: i128, decimals: u32, add: i128 },
}

impl Decode {
    fn value(self, v: u64) -> f64 {
        let v = v as i64;
        match self {
            Decode::Int { decimals, add } => (v as i128 + add) as f64 / 10f64.powi(decimals as i32),
            Decode::Fixed { frac, mul, add } => v as f64 * (-(frac as f64)).exp2() * mul + add,
            Decode::Ratio { den, decimals, add } => (v as f64 / den as f64 + add as f64) / 10f64.powi(decimals as i32),
        }
    }
}

/// A result awaiting the final open: one element per group, how to decode it, and optionally a
/// NULL flag per group (1 = NULL; the value is zeroed before the open so a NULL reveals nothing).
pub(crate) struct Pending {
    value: ArithShare,
    decode: Decode,
    null: Option<ArithShare>,
}

impl Pending {
    pub(crate) fn new(value: ArithShare, decode: Decode) -> Pending {
        Pending { value, decode, null: None }
    }

    pub(crate) fn with_null(mut self, null: ArithShare) -> Pending {
        self.null = Some(null);
        self
    }
}

fn fmt() -> Result<FixedFormat, ExecError> {
    Ok(FixedFormat::new(NF)?)
}

fn pow10(d: u32) -> f64 {
    10f64.powi(-(d as i32))
}

/// Runs the query. `enforce_cohort = false` only for EXPLAIN's dry run over placeholder data: the
/// check still runs (and is counted) but its outcome does not stop the plan.
pub(crate) fn run<E: Engine>(
    e: &mut E,
    schema: &Schema,
    query: &Query,
    cols: &Columns<'_>,
    enforce_cohort: bool,
) -> Result<Answer, ExecError> {
    let me = e.session().me();
    let n = cols.n;
    if row_bits(n) > 31 {
        return Err(ExecError::Bounds(format!("{n} rows: at most 2^31 rows per query")));
    }

    // 1. Who is in which group (secret).
    let sel = selection(e, cols, query.filter.as_ref(), query.group_by.as_ref())?;
    let g = sel.groups;

    // 2. The privacy policy, before anything else is opened: one bit, "every group has at least
    //    min_cohort rows".
    if sel.weights.is_none() {
        if enforce_cohort && (n as u64) < schema.min_cohort {
            return Err(ExecError::BelowCohort { min_cohort: schema.min_cohort });
        }
    } else {
        let min = i128::from(schema.min_cohort.min(1 << 40));
        let below = ltz_bits(e, &add_const(me, &sel.counts, -min)?)?;
        let all_fine = eqz(e, &below.sum())?;
        let fine = e.open_bits(&all_fine)?;
        if enforce_cohort && fine.first().is_none_or(|w| w & 1 == 0) {
            return Err(ExecError::BelowCohort { min_cohort: schema.min_cohort });
        }
    }

    // 3. The work the aggregates share.
    let mut firsts = Vec::new();
    let mut means = Vec::new();
    let mut pairs = Vec::new();
    let mut samp_pairs = Vec::new();
    let mut sorted_cols: BTreeMap<usize, Vec<(PercentileKind, Decimal)>> = BTreeMap::new();
    for agg in &query.aggregates {
        match *agg {
            Aggregate::Count | Aggregate::Mode(_) => {}
            Aggregate::Unary(op, c) => match op {
                UnaryAgg::Sum => firsts.push(c.0),
                UnaryAgg::Avg => {
                    firsts.push(c.0);
                    means.push(c.0);
                }
                UnaryAgg::VarPop | UnaryAgg::StddevPop => {
                    firsts.push(c.0);
                    pairs.push((c.0, c.0));
                }
                UnaryAgg::VarSamp | UnaryAgg::StddevSamp => {
                    firsts.push(c.0);
                    pairs.push((c.0, c.0));
                    samp_pairs.push((c.0, c.0));
                }
                UnaryAgg::Min => sorted_cols.entry(c.0).or_default().push((PercentileKind::Disc, Decimal::int(0))),
                UnaryAgg::Max => sorted_cols.entry(c.0).or_default().push((PercentileKind::Disc, Decimal::int(1))),
                UnaryAgg::Gini => {
                    sorted_cols.entry(c.0).or_default();
                }
                UnaryAgg::GeometricMean | UnaryAgg::HarmonicMean => {}
            },
            Aggregate::Binary(op, y, x) => {
                if op != BinaryAgg::RegrCount {
                    let (a, b) = (y.0.min(x.0), y.0.max(x.0));
                    firsts.extend([y.0, x.0]);
                    pairs.push((a, b));
                    if !matches!(op, BinaryAgg::CovarPop | BinaryAgg::CovarSamp) {
                        pairs.extend([(y.0, y.0), (x.0, x.0)]);
                    }
                    if op == BinaryAgg::CovarSamp {
                        samp_pairs.push((a, b));
                    }
                }
            }
            Aggregate::Percentile { kind, p, column } => sorted_cols.entry(column.0).or_default().push((kind, p)),
        }
    }
    for v in [&mut firsts, &mut means] {
        v.sort_unstable();
        v.dedup();
    }
    for v in [&mut pairs, &mut samp_pairs] {
        v.sort_unstable();
        v.dedup();
    }
    let want_rho = query.aggregates.iter().any(|a| matches!(a, Aggregate::Binary(BinaryAgg::RegrIntercept, ..)));
    let m = moments(e, cols, &sel, &Needs { firsts, means, pairs, samp_pairs, want_rho })?;
    let derived = Derived::new(e, cols, &sel, &m, query)?;

    // Order statistics: one quickselect (public ranks) or one sort per column.
    let mut order: BTreeMap<(usize, PercentileKind, Decimal), usize> = BTreeMap::new();
    let mut order_pending: Vec<Option<Pending>> = Vec::new();
    let mut group_sorted: BTreeMap<usize, GroupSorted> = BTreeMap::new();
    let mut public_sorted: BTreeMap<usize, ArithShare> = BTreeMap::new();
    for (&j, reqs) in &sorted_cols {
        let mut reqs = reqs.clone();
        reqs.sort_by(|a, b| (a.0 as u8, a.1).partial_cmp(&(b.0 as u8, b.1)).unwrap_or(std::cmp::Ordering::Equal));
        reqs.dedup();
        let needs_gini = query.aggregates.contains(&Aggregate::Unary(UnaryAgg::Gini, crate::ColumnId(j)));
        let pend = if sel.weights.is_none() {
            // gini needs the whole column sorted; its percentiles then come from that sort.
            let sorted = if needs_gini { Some(sort_column(e, cols, j)?) } else { None };
            let p = if reqs.is_empty() { Vec::new() } else { public_percentiles(e, cols, j, &reqs, sorted.as_ref())? };
            if let Some(v) = sorted {
                public_sorted.insert(j, v);
            }
            p
        } else {
            let gs = sort_by_group(e, cols, &sel, j)?;
            let p = if reqs.is_empty() { Vec::new() } else { secret_percentiles(e, cols, &sel, j, &gs, &reqs)? };
            if needs_gini {
                group_sorted.insert(j, gs);
            }
            p
        };
        for (r, p) in reqs.iter().zip(pend) {
            order.insert((j, r.0, r.1), order_pending.len());
            order_pending.push(Some(p));
        }
    }

    // 4. Each aggregate's pending result.
    let mut pendings: Vec<Pending> = Vec::with_capacity(query.aggregates.len());
    // One normalisation per column serves its harmonic and geometric mean.
    let mut normals = super::order::Normals::new();
    for agg in &query.aggregates {
        let p = match *agg {
            Aggregate::Count | Aggregate::Binary(BinaryAgg::RegrCount, ..) => {
                Pending::new(sel.counts.clone(), Decode::Int { decimals: 0, add: 0 })
            }
            Aggregate::Unary(op, c) => {
                let j = c.0;
                let info = cols.info(j)?;
                match op {
                    UnaryAgg::Sum => {
                        if bits(n as u128) + bits(info.abs_max as u128) > 62 {
                            return Err(ExecError::Bounds(format!("sum over {n} rows of this column can exceed 2^62")));
                        }
                        let s1 = m.s1.get(&j).ok_or_else(missing)?;
                        Pending::new(
                            s1.add(&sel.counts.scale(info.mid as i64 as u64))?,
                            Decode::Int { decimals: info.decimals, add: 0 },
                        )
                    }
                    UnaryAgg::Avg => match &sel.weights {
                        // With a public count the mean is the exact ratio S1 / n + mid.
                        None => Pending::new(
                            m.s1.get(&j).ok_or_else(missing)?.clone(),
                            Decode::Ratio { den: n as i128, decimals: info.decimals, add: info.mid },
                        ),
                        Some(_) if m.means.contains_key(&j) => {
                            let (q, fa, raw) = m.means.get(&j).ok_or_else(missing)?;
                            let add = if *raw { 0.0 } else { info.mid as f64 * pow10(info.decimals) };
                            Pending::new(q.clone(), Decode::Fixed { frac: *fa, mul: pow10(info.decimals), add })
                        }
                        Some(_) => {
                            let c = m.centred.get(&j).ok_or_else(missing)?;
                            Pending::new(
                                c.centre.scale(1u64 << c.g).add(&c.rho)?,
                                Decode::Fixed {
                                    frac: c.g,
                                    mul: pow10(info.decimals),
                                    add: info.mid as f64 * pow10(info.decimals),
                                },
                            )
                        }
                    },
                    UnaryAgg::VarPop | UnaryAgg::VarSamp => {
                        let samp = op == UnaryAgg::VarSamp;
                        let p = derived.second_moment(cols, j, j, samp)?;
                        derived.samp_null(p, samp)
                    }
                    UnaryAgg::StddevPop | UnaryAgg::StddevSamp => {
                        let samp = op == UnaryAgg::StddevSamp;
                        let hw = m.centred.get(&j).ok_or_else(missing)?.hw;
                        let ratio = if samp { derived.public_ratio.map_or(1.0, f64::sqrt) } else { 1.0 };
                        let p = Pending::new(
                            derived.stddev(j, samp)?,
                            Decode::Fixed {
                                frac: SD_FRAC,
                                mul: (hw as f64).exp2() * pow10(info.decimals) * ratio,
                                add: 0.0,
                            },
                        );
                        derived.samp_null(p, samp)
                    }
                    UnaryAgg::Min | UnaryAgg::Max => {
                        let p = Decimal::int(i128::from(op == UnaryAgg::Max));
                        take(&mut order_pending, &order, (j, PercentileKind::Disc, p))?
                    }
                    UnaryAgg::Gini => gini(e, cols, &sel, j, group_sorted.get(&j), public_sorted.get(&j))?,
                    UnaryAgg::HarmonicMean => harmonic(e, cols, &sel, j, &mut normals)?,
                    UnaryAgg::GeometricMean => geometric(e, cols, &sel, j, &mut normals)?,
                }
            }
            Aggregate::Binary(op, y, x) => derived.binary(cols, op, y.0, x.0)?,
            Aggregate::Percentile { kind, p, column } => take(&mut order_pending, &order, (column.0, kind, p))?,
            Aggregate::Mode(c) => mode(e, cols, &sel, c.0)?,
        };
        pendings.push(p);
    }

    // 5. Zero the NULLs' values, then one open of everything.
    let flagged: Vec<usize> = (0..pendings.len()).filter(|&i| pendings[i].null.is_some()).collect();
    if !flagged.is_empty() {
        let vals = cat(&flagged.iter().map(|&i| &pendings[i].value).collect::<Vec<_>>())?;
        let keep = flagged
            .iter()
            .map(|&i| pendings[i].null.as_ref().map(|f| one_minus(me, f)).transpose())
            .collect::<Result<Option<Vec<_>>, _>>()?
            .ok_or_else(missing)?;
        let zeroed = split_even(&e.mul(&vals, &cat(&keep.iter().collect::<Vec<_>>())?)?, flagged.len())?;
        for (&i, z) in flagged.iter().zip(zeroed) {
            pendings[i].value = z;
        }
    }
    let mut parts: Vec<&ArithShare> = pendings.iter().map(|p| &p.value).collect();
    parts.extend(pendings.iter().filter_map(|p| p.null.as_ref()));
    let opened = e.open(&cat(&parts)?)?;
    let mut nulls = opened[pendings.len() * g..].chunks(g);
    let mut values: Vec<Vec<Option<f64>>> = Vec::with_capacity(pendings.len());
    for (i, p) in pendings.iter().enumerate() {
        let flags = if p.null.is_some() { nulls.next() } else { None };
        values.push(
            (0..g)
                .map(|b| {
                    let null = flags.and_then(|f| f.get(b)).is_some_and(|&f| f == 1);
                    (!null).then(|| p.decode.value(opened[i * g + b]))
                })
                .collect(),
        );
    }
    let rows = (0..g)
        .map(|b| {
            query
                .outputs
                .iter()
                .map(|o| match o.value {
                    OutputValue::Bucket => Some(b as f64),
                    OutputValue::Aggregate(i) => values.get(i).and_then(|v| v[b]),
                })
                .collect()
        })
        .collect();
    Ok(Answer { columns: query.outputs.iter().map(|o| o.label.clone()).collect(), rows })
}

fn missing() -> ExecError {
    ExecError::Input("internal: a shared intermediate is missing".into())
}

fn take(
    pend: &mut [Option<Pending>],
    index: &BTreeMap<(usize, PercentileKind, Decimal), usize>,
    key: (usize, PercentileKind, Decimal),
) -> Result<Pending, ExecError> {
    let i = *index.get(&key).ok_or_else(missing)?;
    let slot = pend.get_mut(i).ok_or_else(missing)?;
    // Two aggregates may share one order statistic (min and percentile_disc(0)): copy it.
    match slot {
        Some(p) => Ok(Pending { value: p.value.clone(), decode: p.decode, null: p.null.clone() }),
        None => Err(missing()),
    }
}

/// Fractional bits of the standard deviations: `sqrt` of `V = var / 2^(2H)` at `F` bits taken at
/// the fixed-point format [`SD_FORMAT`] is `sd / 2^H` at `(F + SD_FORMAT) / 2` bits.
pub(crate) const SD_FRAC: u32 = (F + SD_FORMAT) / 2;
/// The format of the square roots (`F + SD_FORMAT` even).
const SD_FORMAT: u32 = 30;
/// Bits of a clamped normalised variance (`V < 2^F` but for a few ulps of rounding).
const V_BITS: u32 = F + 1;
/// The normaliser's largest even exponent: `V 4^k` in `[2^(V_BITS - 2), 2^V_BITS)`, `k <= KMAX`.
const KMAX: u32 = (V_BITS - 1) / 2;

/// Variances, covariances, roots, ratios and the flags derived from the moments, computed once
/// per query.
struct Derived {
    /// `n / (n - 1)` when the count is public (no selection) and `n > 1`.
    public_ratio: Option<f64>,
    /// `cov / 2^(H + H')` at `F` bits per pair (population), and the sample version with a secret
    /// count.
    cov: BTreeMap<(usize, usize), ArithShare>,
    cov_samp: BTreeMap<(usize, usize), ArithShare>,
    /// `H` per centred column.
    hw: BTreeMap<usize, u32>,
    /// 1 where the group has fewer than 2 rows (only when a sample statistic is asked).
    small: Option<ArithShare>,
    /// stddev per (column, sample?), `sd / 2^H` at `SD_FRAC` bits.
    sd: BTreeMap<(usize, bool), ArithShare>,
    /// Results of the binary aggregates.
    binary: BTreeMap<(BinaryAgg, usize, usize), Pending>,
}

impl Derived {
    fn new<E: Engine>(
        e: &mut E,
        cols: &Columns<'_>,
        sel: &Selection,
        m: &Moments,
        query: &Query,
    ) -> Result<Derived, ExecError> {
        let me = e.session().me();
        let secret_count = sel.weights.is_some();
        let mut d = Derived {
            public_ratio: (!secret_count && cols.n > 1).then(|| cols.n as f64 / (cols.n as f64 - 1.0)),
            cov: m.cov.clone(),
            cov_samp: m.cov_samp.clone(),
            hw: m.centred.iter().map(|(&j, c)| (j, c.hw)).collect(),
            small: None,
            sd: BTreeMap::new(),
            binary: BTreeMap::new(),
        };
        if m.cov.is_empty() {
            return Ok(d);
        }
        let has = |f: &dyn Fn(&Aggregate) -> bool| query.aggregates.iter().any(f);
        // Fewer than 2 rows: public when the count is (no selection), else one LTZ.
        let any_samp = has(&|a| {
            matches!(
                a,
                Aggregate::Unary(UnaryAgg::VarSamp | UnaryAgg::StddevSamp, _)
                    | Aggregate::Binary(BinaryAgg::CovarSamp, ..)
            )
        });
        let secret_small = any_samp && secret_count;
        if any_samp && !secret_count {
            d.small = Some(constant(me, i128::from(cols.n < 2), 1));
        }

        // The variances a root or a normalisation takes, clamped at 0 (rounding can push an exact
        // 0 a few ulps below; a variance printed as such is within its bound, a root of it is not
        // defined): population per column, and the sample one for stddev_samp with a secret count.
        let mut sd_keys = Vec::new();
        for a in &query.aggregates {
            match a {
                Aggregate::Unary(UnaryAgg::StddevPop, c) => sd_keys.push((c.0, false)),
                Aggregate::Unary(UnaryAgg::StddevSamp, c) => sd_keys.push((c.0, true)),
                _ => {}
            }
        }
        sd_keys.sort_unstable();
        sd_keys.dedup();
        let mut ratio_cols: Vec<usize> = Vec::new();
        for a in &query.aggregates {
            if let Aggregate::Binary(op, y, x) = *a
                && !matches!(op, BinaryAgg::CovarPop | BinaryAgg::CovarSamp | BinaryAgg::RegrCount)
            {
                ratio_cols.extend([y.0, x.0]);
            }
        }
        ratio_cols.sort_unstable();
        ratio_cols.dedup();
        let mut clamp_keys: Vec<(usize, bool)> = sd_keys.iter().map(|&(j, s)| (j, s && secret_count)).collect();
        clamp_keys.extend(ratio_cols.iter().map(|&j| (j, false)));
        clamp_keys.sort_unstable();
        clamp_keys.dedup();
        let g = sel.groups;
        let nb = row_bits(cols.n);
        let hw = |j: usize| d.hw.get(&j).copied().ok_or_else(missing);
        // Exact zero-variance flags for corr / regr: c S2 - S1^2 = Σ_{i<j} (x_i - x_j)^2 is 0 mod
        // 2^64 and the variance is below half the smallest one a nonzero multiple of 2^64 would need
        // (at least 2^(64 - 2nb) units², 2^(64 - 2nb - 2H + F) ulps): a threshold of
        // 2^(63 - 2nb - 2H + F) ulps, at least 2^7 when nb + H <= 56, and far above the error of a
        // zero variance (a few ulps, and with a secret count 2^-24 of ρ² < 2^(2 bd) units²).
        for &j in &ratio_cols {
            if nb + hw(j)? > 56 {
                return Err(ExecError::Bounds(format!(
                    "corr/regr over {} rows cannot decide a zero variance exactly for this column's range; \
                     narrow its declared range",
                    cols.n
                )));
            }
        }
        // One batched LTZ: the signs of the variances to clamp, "below the threshold" for the zero
        // flags, and with a secret count "fewer than 2 rows".
        let vs = clamp_keys
            .iter()
            .map(|&(j, s)| if s { m.cov_samp.get(&(j, j)) } else { m.cov.get(&(j, j)) }.ok_or_else(missing))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tests: Vec<ArithShare> = vs.iter().map(|v| (*v).clone()).collect();
        for &j in &ratio_cols {
            let t = (F + 63).saturating_sub(2 * nb + 2 * hw(j)?).min(60);
            tests.push(add_const(me, m.cov.get(&(j, j)).ok_or_else(missing)?, -(1i128 << t))?);
        }
        if secret_small {
            tests.push(add_const(me, &sel.counts, -2)?);
        }
        let mut signs = if tests.is_empty() {
            Vec::new()
        } else {
            split_even(&ltz_bits(e, &cat(&tests.iter().collect::<Vec<_>>())?)?, tests.len())?
        };
        if secret_small {
            d.small = signs.pop();
        }
        let tiny = signs.split_off(clamp_keys.len());
        let mut clamped: BTreeMap<(usize, bool), ArithShare> = BTreeMap::new();
        if !clamp_keys.is_empty() {
            let neg = cat(&signs.iter().collect::<Vec<_>>())?;
            let pos = split_even(&e.mul(&cat(&vs)?, &one_minus(me, &neg)?)?, clamp_keys.len())?;
            clamped = clamp_keys.iter().copied().zip(pos).collect();
        }

        // Standard deviations, all in one square root: sqrt(V 2^-SD_FORMAT) 2^SD_FORMAT.
        if !sd_keys.is_empty() {
            let vs = sd_keys
                .iter()
                .map(|&(j, s)| clamped.get(&(j, s && secret_count)).ok_or_else(missing))
                .collect::<Result<Vec<_>, _>>()?;
            let roots = sqrt(e, FixedFormat::new(SD_FORMAT)?, &cat(&vs)?, V_BITS + 1)?;
            for (k, r) in sd_keys.iter().zip(split_even(&roots, sd_keys.len())?) {
                d.sd.insert(*k, r);
            }
        }

        if ratio_cols.is_empty() {
            return Ok(d);
        }
        let vars =
            ratio_cols.iter().map(|&j| clamped.get(&(j, false)).ok_or_else(missing)).collect::<Result<Vec<_>, _>>()?;
        let vars = cat(&vars)?;
        let s1 = cat(&ratio_cols.iter().map(|j| m.s1.get(j).ok_or_else(missing)).collect::<Result<Vec<_>, _>>()?)?;
        let s2 =
            cat(&ratio_cols.iter().map(|j| m.s2.get(&(*j, *j)).ok_or_else(missing)).collect::<Result<Vec<_>, _>>()?)?;
        let cs = tile(&sel.counts, ratio_cols.len())?;
        let p = split_even(&e.mul(&cat(&[&cs, &s1])?, &cat(&[&s2, &s1])?)?, 2)?;
        let dd = p[0].sub(&p[1])?;
        let is_zero = eqz_bits(e, &dd)?;
        let is_tiny = cat(&tiny.iter().collect::<Vec<_>>())?;
        let zero: BTreeMap<usize, ArithShare> =
            ratio_cols.iter().copied().zip(split_even(&e.mul(&is_zero, &is_tiny)?, ratio_cols.len())?).collect();

        // Normalisation by a secret power of 4: V 4^k in [2^(V_BITS - 2), 2^V_BITS), from the one-hot
        // msb of V; u = 2^k, p = 2^(KMAX - k) (local weighted sums of the injected one-hot bits).
        let kk = |i: usize| (V_BITS - 1 - i as u32) / 2;
        let onehot = msb_onehot(e, &vars, V_BITS)?;
        let u_all = weighted(&onehot, |i| 1u64 << kk(i))?;
        let u2_all = weighted(&onehot, |i| 1u64 << (2 * kk(i)))?;
        let p_all = weighted(&onehot, |i| 1u64 << (KMAX - kk(i)))?;
        let us = split_even(&u_all, ratio_cols.len())?;
        let ps = split_even(&p_all, ratio_cols.len())?;
        let col = |j: usize| ratio_cols.binary_search(&j).map_err(|_| missing());
        let mut bpairs: Vec<(usize, usize)> = Vec::new();
        for a in &query.aggregates {
            if let Aggregate::Binary(op, y, x) = *a
                && !matches!(op, BinaryAgg::CovarPop | BinaryAgg::CovarSamp | BinaryAgg::RegrCount)
            {
                bpairs.push((y.0.min(x.0), y.0.max(x.0)));
            }
        }
        bpairs.sort_unstable();
        bpairs.dedup();
        // X = V u^2 per column and u_a u_b per pair (one round), then C = cov u_a u_b (one round):
        // |C| <= sqrt(X_a X_b) < 2^V_BITS.
        let mut uu_l = Vec::new();
        let mut uu_r = Vec::new();
        for &(a, b) in &bpairs {
            uu_l.push(&us[col(a)?]);
            uu_r.push(&us[col(b)?]);
        }
        let r1 = e.mul(&cat(&[&vars, &cat(&uu_l)?])?, &cat(&[&u2_all, &cat(&uu_r)?])?)?;
        let r1 = split(&r1, &[vars.len(), r1.len() - vars.len()])?;
        let covs = cat(&bpairs.iter().map(|p| m.cov.get(p).ok_or_else(missing)).collect::<Result<Vec<_>, _>>()?)?;
        let cnorm = e.mul(&covs, &r1[1])?;
        // Mantissas at NF bits: X' in [2^(NF-2), 2^NF), |C'| < 2^NF.
        let both = shift(e, &cat(&[&r1[0], &cnorm])?, V_BITS + 1, -((V_BITS - NF) as i64))?;
        let both = split(&both, &[vars.len(), cnorm.len()])?;
        let cps = split_even(&both[1], bpairs.len().max(1))?;
        let f = fmt()?;
        let zs = split_even(&inv_sqrt(e, f, &both[0], NF + 1)?, ratio_cols.len())?;

        // corr = C' z_a z_b; the slope's C'/X'_x = C' z_x^2: t = C' z_x, then t z_y and t z_x.
        let mut firsts_l = Vec::new();
        let mut firsts_r = Vec::new();
        let mut jobs: Vec<(BinaryAgg, usize, usize)> = Vec::new();
        for a in &query.aggregates {
            if let Aggregate::Binary(op, y, x) = *a
                && !matches!(op, BinaryAgg::CovarPop | BinaryAgg::CovarSamp | BinaryAgg::RegrCount)
            {
                jobs.push((op, y.0, x.0));
            }
        }
        jobs.sort_unstable_by_key(|j| (j.0 as u8, j.1, j.2));
        jobs.dedup();
        for &(_, y, x) in &jobs {
            let pi = bpairs.binary_search(&(y.min(x), y.max(x))).map_err(|_| missing())?;
            firsts_l.push(&cps[pi]);
            firsts_r.push(&zs[col(x)?]);
        }
        let t = triad_mpc_core::fixed::mul(e, f, &cat(&firsts_l)?, &cat(&firsts_r)?)?;
        let ts = split_even(&t, jobs.len())?;
        let mut sec_l = Vec::new();
        let mut sec_r = Vec::new();
        for (i, &(op, y, x)) in jobs.iter().enumerate() {
            sec_l.push(&ts[i]);
            sec_r.push(&zs[col(if matches!(op, BinaryAgg::Corr | BinaryAgg::RegrR2) { y } else { x })?]);
        }
        let t2 = triad_mpc_core::fixed::mul(e, f, &cat(&sec_l)?, &cat(&sec_r)?)?;
        let t2s = split_even(&t2, jobs.len())?;

        // The slopes (normalised by 2^(H_y - H_x)) at NF bits: T u_x p_y / 2^KMAX, |slope| <= 2^(KMAX+1).
        let slope_jobs: Vec<usize> =
            (0..jobs.len()).filter(|&i| matches!(jobs[i].0, BinaryAgg::RegrSlope | BinaryAgg::RegrIntercept)).collect();
        let mut slopes: BTreeMap<(usize, usize), ArithShare> = BTreeMap::new();
        if !slope_jobs.is_empty() {
            let tl = cat(&slope_jobs.iter().map(|&i| &t2s[i]).collect::<Vec<_>>())?;
            let ux =
                cat(&slope_jobs.iter().map(|&i| Ok(&us[col(jobs[i].2)?])).collect::<Result<Vec<_>, ExecError>>()?)?;
            let py =
                cat(&slope_jobs.iter().map(|&i| Ok(&ps[col(jobs[i].1)?])).collect::<Result<Vec<_>, ExecError>>()?)?;
            let a = e.mul(&tl, &ux)?;
            let sl = mul_shift(e, &a, NF + 2 + KMAX, Factor::Secret(&py), KMAX + 1, KMAX)?;
            for (&i, v) in slope_jobs.iter().zip(split_even(&sl, slope_jobs.len())?) {
                slopes.insert((jobs[i].1, jobs[i].2), v);
            }
        }
        for (i, &(op, y, x)) in jobs.iter().enumerate() {
            let (zy, zx) = (zero.get(&y).ok_or_else(missing)?, zero.get(&x).ok_or_else(missing)?);
            let p = match op {
                BinaryAgg::Corr => {
                    let either = zy.add(zx)?.sub(&e.mul(zy, zx)?)?;
                    Pending::new(t2s[i].clone(), Decode::Fixed { frac: NF, mul: 1.0, add: 0.0 }).with_null(either)
                }
                BinaryAgg::RegrR2 => {
                    // r2 = corr^2, or 1 where y is constant (and x is not).
                    let r2 = triad_mpc_core::fixed::mul(e, f, &t2s[i], &t2s[i])?;
                    let one = constant(me, 1i128 << NF, g);
                    let v = r2.add(&e.mul(zy, &one.sub(&r2)?)?)?;
                    Pending::new(v, Decode::Fixed { frac: NF, mul: 1.0, add: 0.0 }).with_null(zx.clone())
                }
                BinaryAgg::RegrSlope => {
                    let (iy, ix) = (cols.info(y)?, cols.info(x)?);
                    let mul =
                        (hw(y)? as f64 - hw(x)? as f64).exp2() * 10f64.powi(ix.decimals as i32 - iy.decimals as i32);
                    let s = slopes.get(&(y, x)).ok_or_else(missing)?.clone();
                    Pending::new(s, Decode::Fixed { frac: NF, mul, add: 0.0 }).with_null(zx.clone())
                }
                BinaryAgg::RegrIntercept => {
                    let s = slopes.get(&(y, x)).ok_or_else(missing)?;
                    let (v, ga) = intercept(e, cols, m, s, y, x)?;
                    let iy = cols.info(y)?;
                    Pending::new(v, Decode::Fixed { frac: ga, mul: pow10(iy.decimals), add: 0.0 }).with_null(zx.clone())
                }
                _ => return Err(missing()),
            };
            d.binary.insert((op, y, x), p);
        }
        Ok(d)
    }

    fn stddev(&self, j: usize, samp: bool) -> Result<ArithShare, ExecError> {
        self.sd.get(&(j, samp)).cloned().ok_or_else(missing)
    }

    /// var / covar of the pair `(j, k)`: `cov / 2^(H + H')` at `F` bits, times `n / (n - 1)` after the
    /// open when `samp` and the count is public; with a secret count the sample statistic is its own
    /// quotient by `c - 1`.
    fn second_moment(&self, cols: &Columns<'_>, j: usize, k: usize, samp: bool) -> Result<Pending, ExecError> {
        let key = (j.min(k), j.max(k));
        let (ij, ik) = (cols.info(j)?, cols.info(k)?);
        let (hj, hk) = (self.hw.get(&j).copied().ok_or_else(missing)?, self.hw.get(&k).copied().ok_or_else(missing)?);
        let unit = ((hj + hk) as f64).exp2() * pow10(ij.decimals + ik.decimals);
        let (v, ratio) = match (samp, self.cov_samp.get(&key)) {
            (true, Some(v)) => (v.clone(), 1.0),
            (true, None) => (self.cov.get(&key).cloned().ok_or_else(missing)?, self.public_ratio.unwrap_or(0.0)),
            (false, _) => (self.cov.get(&key).cloned().ok_or_else(missing)?, 1.0),
        };
        Ok(Pending::new(v, Decode::Fixed { frac: F, mul: unit * ratio, add: 0.0 }))
    }

    fn samp_null(&self, p: Pending, samp: bool) -> Pending {
        match (&self.small, samp) {
            (Some(s), true) => p.with_null(s.clone()),
            _ => p,
        }
    }

    fn binary(&self, cols: &Columns<'_>, op: BinaryAgg, y: usize, x: usize) -> Result<Pending, ExecError> {
        match op {
            BinaryAgg::CovarPop | BinaryAgg::CovarSamp => {
                let samp = op == BinaryAgg::CovarSamp;
                let p = self.second_moment(cols, y, x, samp)?;
                Ok(self.samp_null(p, samp))
            }
            _ => {
                let p = self.binary.get(&(op, y, x)).ok_or_else(missing)?;
                Ok(Pending { value: p.value.clone(), decode: p.decode, null: p.null.clone() })
            }
        }
    }
}

/// `α = mean_y - slope · mean_x` in y's units at `ga` fractional bits, from the slope `Q = slope_n
/// 2^NF` (`slope = slope_n 2^(H_y - H_x)`, `|slope_n| < 2^(KMAX + 1)`) and the means `M + ρ`
/// (`M = mid + centre`, an integer; `ρ` at `g` bits). `Q` is split at `NF` bits into an integer
/// part and a fraction, and the four products with `M` and `ρ` (one round) are brought to the
/// result's scale separately. `ga = 61 - bits(|α|)` for the largest `|α|` the declared ranges and
/// the slope bound allow.
/// The intercept's fractional bits: `61 - bits(max |α|)` with `|α| <= |mean_y| + |slope| |mean_x|`,
/// `|slope| < 2^(KMAX + 1 + H_y - H_x)`; `None` when below 0 or when `slope · M_x` cannot be formed.
pub(crate) fn intercept_bits(iy: &ColumnInfo, ix: &ColumnInfo, bdy: u32, bdx: u32, hwy: u32, hwx: u32) -> Option<u32> {
    let ax = bits(ix.abs_max as u128 + (1u128 << bdx));
    let ay = bits(iy.abs_max as u128 + (1u128 << bdy));
    let top = (ay as i64).max(KMAX as i64 + 1 + hwy as i64 - hwx as i64 + ax as i64) + 1;
    (top <= 61 && KMAX + 1 + ax <= 60).then_some((61 - top) as u32)
}

fn intercept<E: Engine>(
    e: &mut E,
    cols: &Columns<'_>,
    m: &Moments,
    q: &ArithShare,
    y: usize,
    x: usize,
) -> Result<(ArithShare, u32), ExecError> {
    let me = e.session().me();
    let (iy, ix) = (cols.info(y)?, cols.info(x)?);
    let (cy, cx) = (m.centred.get(&y).ok_or_else(missing)?, m.centred.get(&x).ok_or_else(missing)?);
    let ax = bits(ix.abs_max as u128 + (1u128 << cx.bd));
    let e_xy = cy.hw as i64 - cx.hw as i64;
    let ga = intercept_bits(&iy, &ix, cy.bd, cx.bd, cy.hw, cx.hw).ok_or_else(|| {
        ExecError::Bounds(
            "regr_intercept: the declared ranges are too wide (or too far from 0) for a fixed-point intercept".into(),
        )
    })?;
    let qb = NF + KMAX + 1;
    let q_hi = shift(e, q, qb, -(NF as i64))?;
    let q_lo = q.sub(&q_hi.scale(1u64 << NF))?;
    let mx = add_const(me, &cx.centre, ix.mid)?;
    let my = add_const(me, &cy.centre, iy.mid)?;
    let p = e.mul(&cat(&[&q_hi, &q_lo, &q_hi, &q_lo])?, &cat(&[&mx, &mx, &cx.rho, &cx.rho])?)?;
    let p = split_even(&p, 4)?;
    let ex = e_xy + ga as i64;
    let (gx, gy) = (cx.g as i64, cy.g as i64);
    let terms = [
        (&p[0], KMAX + 1 + ax, ex),
        (&p[1], NF + ax, ex - NF as i64),
        (&p[2], KMAX + 1 + cx.bd + cx.g, ex - gx),
        (&p[3], NF + cx.bd + cx.g, ex - NF as i64 - gx),
    ];
    let mut prod = my.scale(0);
    for (v, b, s) in terms {
        prod = prod.add(&shift(e, v, b, s)?)?;
    }
    let mean_y = my.scale(1u64 << ga).add(&shift(e, &cy.rho, cy.bd + cy.g, ga as i64 - gy)?)?;
    Ok((mean_y.sub(&prod)?, ga))
}
