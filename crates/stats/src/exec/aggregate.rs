//! The executor's driver: the selection, the cohort check, every aggregate of the query (sharing
//! their work), then one open of all results.

use std::collections::BTreeMap;

use triad_mpc_core::ArithShare;
use triad_mpc_core::circuits::eqz;
use triad_mpc_core::engine::Engine;
use triad_mpc_core::fixed::{DivBounds, FixedFormat, div, inv_sqrt, sqrt};
use triad_mpc_core::masked::trunc;

use super::moments::{Moments, NF, moments, row_bits};
use super::order::{
    GroupSorted, geometric, gini, harmonic, mode, public_percentiles, secret_percentiles, sort_by_group, sort_column,
};
use super::select::{Selection, selection};
use super::util::{add_const, bits, cat, constant, eqz_bits, ltz_bits, one_minus, split_even, tile};
use super::{Answer, Columns, ExecError};
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
    let mut sums_only = Vec::new();
    let mut pairs = Vec::new();
    let mut want_ratio = false;
    let mut sorted_cols: BTreeMap<usize, Vec<(PercentileKind, Decimal)>> = BTreeMap::new();
    for agg in &query.aggregates {
        match *agg {
            Aggregate::Count | Aggregate::Mode(_) => {}
            Aggregate::Unary(op, c) => match op {
                UnaryAgg::Sum => sums_only.push(c.0),
                UnaryAgg::Avg => firsts.push(c.0),
                UnaryAgg::VarPop | UnaryAgg::StddevPop => {
                    firsts.push(c.0);
                    pairs.push((c.0, c.0));
                }
                UnaryAgg::VarSamp | UnaryAgg::StddevSamp => {
                    firsts.push(c.0);
                    pairs.push((c.0, c.0));
                    want_ratio = true;
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
                    pairs.extend([(a, b), (y.0, y.0), (x.0, x.0)]);
                    want_ratio |= op == BinaryAgg::CovarSamp;
                }
            }
            Aggregate::Percentile { kind, p, column } => sorted_cols.entry(column.0).or_default().push((kind, p)),
        }
    }
    firsts.sort_unstable();
    firsts.dedup();
    let means = firsts.clone();
    firsts.extend(sums_only);
    firsts.sort_unstable();
    firsts.dedup();
    pairs.sort_unstable();
    pairs.dedup();
    let m = moments(e, cols, &sel, &firsts, &means, &pairs, want_ratio)?;
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
    for agg in &query.aggregates {
        let p = match *agg {
            Aggregate::Count | Aggregate::Binary(BinaryAgg::RegrCount, ..) => {
                Pending::new(sel.counts.clone(), Decode::Int { decimals: 0, add: 0 })
            }
            Aggregate::Unary(op, c) => {
                let j = c.0;
                let info = cols.info(j)?;
                let h = info.half_bits;
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
                    UnaryAgg::Avg => Pending::new(
                        m.an.get(&j).ok_or_else(missing)?.clone(),
                        Decode::Fixed {
                            frac: NF,
                            mul: (h as f64).exp2() * pow10(info.decimals),
                            add: info.mid as f64 * pow10(info.decimals),
                        },
                    ),
                    UnaryAgg::VarPop | UnaryAgg::VarSamp => {
                        let unit = (2.0 * h as f64).exp2() * pow10(2 * info.decimals);
                        let p = derived.second_moment(j, j, op == UnaryAgg::VarSamp, unit)?;
                        derived.samp_null(p, op == UnaryAgg::VarSamp)
                    }
                    UnaryAgg::StddevPop | UnaryAgg::StddevSamp => {
                        let s = derived.stddev(j, op == UnaryAgg::StddevSamp)?;
                        let p = Pending::new(
                            s,
                            Decode::Fixed { frac: NF, mul: (h as f64).exp2() * pow10(info.decimals), add: 0.0 },
                        );
                        derived.samp_null(p, op == UnaryAgg::StddevSamp)
                    }
                    UnaryAgg::Min | UnaryAgg::Max => {
                        let p = Decimal::int(i128::from(op == UnaryAgg::Max));
                        take(&mut order_pending, &order, (j, PercentileKind::Disc, p))?
                    }
                    UnaryAgg::Gini => gini(e, cols, &sel, j, group_sorted.get(&j), public_sorted.get(&j))?,
                    UnaryAgg::HarmonicMean => harmonic(e, cols, &sel, j)?,
                    UnaryAgg::GeometricMean => geometric(e, cols, &sel, j)?,
                }
            }
            Aggregate::Binary(op, y, x) => derived.binary(op, y.0, x.0)?,
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

/// Variances, covariances and the flags derived from the moments, computed once per query.
struct Derived {
    me: triad_mpc_core::PartyId,
    /// `relu(bn_jj - an_j^2)` per column.
    var: BTreeMap<usize, ArithShare>,
    /// `bn_jk - an_j an_k` per pair.
    cov: BTreeMap<(usize, usize), ArithShare>,
    /// `c / (c - 1)`.
    ratio: Option<ArithShare>,
    /// 1 where the group has fewer than 2 rows (only when min_cohort < 2).
    small: Option<ArithShare>,
    /// 1 where every value of the column in the group is equal (exact).
    zero: BTreeMap<usize, ArithShare>,
    /// `1/sqrt(var)` per column (for corr / r2).
    inv_sd: BTreeMap<usize, ArithShare>,
    /// stddev per (column, sample?).
    sd: BTreeMap<(usize, bool), ArithShare>,
    /// var_samp per column.
    var_samp: BTreeMap<usize, ArithShare>,
    /// Results of the binary aggregates.
    binary: BTreeMap<(BinaryAgg, usize, usize), Pending>,
    /// `bn - an an'` at 2 NF bits per pair (untruncated).
    wide: BTreeMap<(usize, usize), ArithShare>,
    /// `n / (n - 1)` when the count is public (no selection) and `n > 1`.
    public_ratio: Option<f64>,
    /// Whether the counts are secret (a selection).
    secret_count: bool,
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
        let f = fmt()?;
        let g = sel.groups;
        let mut d = Derived {
            me,
            var: BTreeMap::new(),
            cov: BTreeMap::new(),
            ratio: m.ratio.clone(),
            small: None,
            zero: BTreeMap::new(),
            inv_sd: BTreeMap::new(),
            sd: BTreeMap::new(),
            var_samp: BTreeMap::new(),
            binary: BTreeMap::new(),
            wide: BTreeMap::new(),
            public_ratio: None,
            secret_count: sel.weights.is_some(),
        };
        if m.bn.is_empty() {
            return Ok(d);
        }
        // an_j an_k for every pair in one multiplication; `bn 2^NF - an an'` at 2 NF bits needs no
        // truncation (|.| < 2^57), and is what var_pop / covar_pop open. Only the aggregates that
        // go on (roots, ratios, sample statistics under a secret count) truncate it to NF bits.
        let keys: Vec<(usize, usize)> = m.bn.keys().copied().collect();
        let an = |j: usize| m.an.get(&j).ok_or_else(missing);
        let left = cat(&keys.iter().map(|&(j, _)| an(j)).collect::<Result<Vec<_>, _>>()?)?;
        let right = cat(&keys.iter().map(|&(_, k)| an(k)).collect::<Result<Vec<_>, _>>()?)?;
        let raw = split_even(&e.mul(&left, &right)?, keys.len())?;
        for (&(j, k), p) in keys.iter().zip(&raw) {
            let w = m.bn.get(&(j, k)).ok_or_else(missing)?.scale(1u64 << NF).sub(p)?;
            d.wide.insert((j, k), w);
        }
        let secret_count = sel.weights.is_some();
        d.public_ratio = (!secret_count && cols.n > 1).then(|| cols.n as f64 / (cols.n as f64 - 1.0));
        let narrow = query.aggregates.iter().any(|a| match a {
            Aggregate::Unary(UnaryAgg::StddevPop | UnaryAgg::StddevSamp, _) => true,
            Aggregate::Unary(UnaryAgg::VarSamp, _) | Aggregate::Binary(BinaryAgg::CovarSamp, ..) => secret_count,
            Aggregate::Binary(op, ..) => {
                !matches!(op, BinaryAgg::CovarPop | BinaryAgg::CovarSamp | BinaryAgg::RegrCount)
            }
            _ => false,
        });
        if !narrow {
            return Ok(d);
        }
        let all = cat(&keys.iter().map(|k| d.wide.get(k).ok_or_else(missing)).collect::<Result<Vec<_>, _>>()?)?;
        let prods = split_even(&trunc(e, &all, 2 * NF + 3, NF)?, keys.len())?;
        let mut diag = Vec::new();
        for (&(j, k), c) in keys.iter().zip(prods) {
            if j == k {
                diag.push((j, c));
            } else {
                d.cov.insert((j, k), c);
            }
        }
        // Variances clamped at 0 where a root takes them (rounding can push an exact 0 a few ulps
        // below; a variance printed as such is within its bound, a root of it is not defined).
        let dv = cat(&diag.iter().map(|(_, v)| v).collect::<Vec<_>>())?;
        let rooted = query.aggregates.iter().any(|a| {
            matches!(
                a,
                Aggregate::Unary(UnaryAgg::StddevPop | UnaryAgg::StddevSamp, _)
                    | Aggregate::Binary(BinaryAgg::Corr | BinaryAgg::RegrR2, ..)
            )
        });
        let clamped = if rooted {
            let neg = ltz_bits(e, &dv)?;
            split_even(&e.mul(&dv, &one_minus(me, &neg)?)?, diag.len())?
        } else {
            diag.iter().map(|(_, v)| v.clone()).collect()
        };
        for ((j, _), v) in diag.iter().zip(clamped) {
            d.var.insert(*j, v.clone());
            d.cov.insert((*j, *j), v);
        }
        let needs = |ops: &[BinaryAgg]| {
            query.aggregates.iter().any(|a| matches!(a, Aggregate::Binary(op, ..) if ops.contains(op)))
        };
        // Exact zero-variance flags for corr / regr: c S2 - S1^2 = Σ_{i<j} (x_i - x_j)^2 is 0 mod 2^64
        // and the variance is below 64 ulps; the second rules out a nonzero multiple of 2^64 when
        // nb + h < 43 (then such a variance is at least 2^(64 - 2nb - 2h) > 64 ulps).
        if needs(&[BinaryAgg::Corr, BinaryAgg::RegrSlope, BinaryAgg::RegrIntercept, BinaryAgg::RegrR2]) {
            let nb = row_bits(cols.n);
            let js: Vec<usize> = d.var.keys().copied().collect();
            for &j in &js {
                if nb + cols.info(j)?.half_bits >= 43 {
                    return Err(ExecError::Bounds(format!(
                        "corr/regr over {} rows cannot decide a zero variance exactly for this column's range; \
                         narrow its declared range",
                        cols.n
                    )));
                }
            }
            let s1 = cat(&js.iter().map(|j| m.s1.get(j).ok_or_else(missing)).collect::<Result<Vec<_>, _>>()?)?;
            let s2 =
                cat(&js.iter().map(|j| m.s2.get(&(*j, *j)).ok_or_else(missing)).collect::<Result<Vec<_>, _>>()?)?;
            let cs = tile(&sel.counts, js.len())?;
            let p = split_even(&e.mul(&cat(&[&cs, &s1])?, &cat(&[&s2, &s1])?)?, 2)?;
            let dd = p[0].sub(&p[1])?;
            let vars = cat(&js.iter().map(|j| d.var.get(j).ok_or_else(missing)).collect::<Result<Vec<_>, _>>()?)?;
            let is_zero = eqz_bits(e, &dd)?;
            let is_tiny = ltz_bits(e, &add_const(me, &vars, -64)?)?;
            let z = split_even(&e.mul(&is_zero, &is_tiny)?, js.len())?;
            for (j, zj) in js.iter().zip(z) {
                d.zero.insert(*j, zj);
            }
            if needs(&[BinaryAgg::Corr, BinaryAgg::RegrR2]) {
                let inv = split_even(&inv_sqrt(e, f, &vars, NF + 2)?, js.len())?;
                for (j, v) in js.iter().zip(inv) {
                    d.inv_sd.insert(*j, v);
                }
            }
        }
        // Sample statistics: times c / (c - 1); NULL below 2 rows.
        if let Some(r) = &m.ratio {
            let js: Vec<usize> = d.var.keys().copied().collect();
            let vs = cat(&js.iter().map(|j| d.var.get(j).ok_or_else(missing)).collect::<Result<Vec<_>, _>>()?)?;
            let vsamp = split_even(&triad_mpc_core::fixed::mul(e, f, &vs, &tile(r, js.len())?)?, js.len())?;
            for (j, v) in js.iter().zip(vsamp) {
                d.var_samp.insert(*j, v);
            }
            // Fewer than 2 rows: public when the count is (no selection), else one LTZ.
            d.small = if sel.weights.is_none() {
                Some(constant(me, i128::from(cols.n < 2), 1))
            } else {
                Some(ltz_bits(e, &add_const(me, &sel.counts, -2)?)?)
            };
        }
        // Standard deviations, all in one square root.
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
        if !sd_keys.is_empty() {
            let vs = sd_keys
                .iter()
                .map(|(j, s)| if *s { d.var_samp.get(j) } else { d.var.get(j) }.ok_or_else(missing))
                .collect::<Result<Vec<_>, _>>()?;
            // var_samp <= 2 (c >= 2) or garbage where NULL: clamp the input's width.
            let roots = split_even(&sqrt(e, f, &cat(&vs)?, NF + 3)?, sd_keys.len())?;
            for (k, r) in sd_keys.iter().zip(roots) {
                d.sd.insert(*k, r);
            }
        }
        // Binary aggregates.
        for a in &query.aggregates {
            if let Aggregate::Binary(op, y, x) = *a
                && op != BinaryAgg::RegrCount
            {
                let p = d.compute_binary(e, cols, m, op, y.0, x.0, g)?;
                d.binary.insert((op, y.0, x.0), p);
            }
        }
        Ok(d)
    }

    fn var(&self, j: usize) -> Result<ArithShare, ExecError> {
        self.var.get(&j).cloned().ok_or_else(missing)
    }

    fn var_samp(&self, j: usize) -> Result<ArithShare, ExecError> {
        self.var_samp.get(&j).cloned().ok_or_else(missing)
    }

    fn stddev(&self, j: usize, samp: bool) -> Result<ArithShare, ExecError> {
        self.sd.get(&(j, samp)).cloned().ok_or_else(missing)
    }

    /// var / covar of the pair `(j, k)` from the untruncated moments (at 2 NF bits), times
    /// `n / (n - 1)` after the open when `samp` and the count is public; with a secret count the
    /// sample statistic is `pop · c/(c - 1)` at NF bits.
    fn second_moment(&self, j: usize, k: usize, samp: bool, unit: f64) -> Result<Pending, ExecError> {
        if samp && self.secret_count && j == k {
            return Ok(Pending::new(self.var_samp(j)?, Decode::Fixed { frac: NF, mul: unit, add: 0.0 }));
        }
        let w = self.wide.get(&(j, k)).cloned().ok_or_else(missing)?;
        let ratio = if samp { self.public_ratio.unwrap_or(0.0) } else { 1.0 };
        Ok(Pending::new(w, Decode::Fixed { frac: 2 * NF, mul: unit * ratio, add: 0.0 }))
    }

    fn samp_null(&self, p: Pending, samp: bool) -> Pending {
        match (&self.small, samp) {
            (Some(s), true) => p.with_null(s.clone()),
            _ => p,
        }
    }

    fn cov(&self, y: usize, x: usize) -> Result<ArithShare, ExecError> {
        self.cov.get(&(y.min(x), y.max(x))).cloned().ok_or_else(missing)
    }

    fn zero(&self, j: usize) -> Result<ArithShare, ExecError> {
        self.zero.get(&j).cloned().ok_or_else(missing)
    }

    fn binary(&self, op: BinaryAgg, y: usize, x: usize) -> Result<Pending, ExecError> {
        let p = self.binary.get(&(op, y, x)).ok_or_else(missing)?;
        Ok(Pending { value: p.value.clone(), decode: p.decode, null: p.null.clone() })
    }

    #[allow(clippy::too_many_arguments)]
    fn compute_binary<E: Engine>(
        &self,
        e: &mut E,
        cols: &Columns<'_>,
        m: &Moments,
        op: BinaryAgg,
        y: usize,
        x: usize,
        g: usize,
    ) -> Result<Pending, ExecError> {
        let me = self.me;
        let f = fmt()?;
        let (iy, ix) = (cols.info(y)?, cols.info(x)?);
        let scale_xy = ((iy.half_bits + ix.half_bits) as f64).exp2() * pow10(iy.decimals + ix.decimals);
        let cov = || self.cov(y, x);
        Ok(match op {
            BinaryAgg::CovarPop | BinaryAgg::CovarSamp => {
                let samp = op == BinaryAgg::CovarSamp;
                let p = match (samp, self.secret_count) {
                    (true, true) => {
                        let r = self.ratio.as_ref().ok_or_else(missing)?;
                        let v = triad_mpc_core::fixed::mul(e, f, &cov()?, r)?;
                        Pending::new(v, Decode::Fixed { frac: NF, mul: scale_xy, add: 0.0 })
                    }
                    _ => self.second_moment(y.min(x), y.max(x), samp, scale_xy)?,
                };
                self.samp_null(p, samp)
            }
            BinaryAgg::Corr | BinaryAgg::RegrR2 => {
                let (sy, sx) = (self.inv_sd.get(&y).ok_or_else(missing)?, self.inv_sd.get(&x).ok_or_else(missing)?);
                let t = triad_mpc_core::fixed::mul(e, f, &cov()?, sx)?;
                let corr = triad_mpc_core::fixed::mul(e, f, &t, sy)?;
                let (zy, zx) = (self.zero(y)?, self.zero(x)?);
                if op == BinaryAgg::Corr {
                    let either = zy.add(&zx)?.sub(&e.mul(&zy, &zx)?)?;
                    Pending::new(corr, Decode::Fixed { frac: NF, mul: 1.0, add: 0.0 }).with_null(either)
                } else {
                    // r2 = corr^2, or 1 where y is constant (and x is not).
                    let r2 = triad_mpc_core::fixed::mul(e, f, &corr, &corr)?;
                    let one = constant(me, 1i128 << NF, g);
                    let v = r2.add(&e.mul(&zy, &one.sub(&r2)?)?)?;
                    Pending::new(v, Decode::Fixed { frac: NF, mul: 1.0, add: 0.0 }).with_null(zx)
                }
            }
            BinaryAgg::RegrSlope | BinaryAgg::RegrIntercept => {
                let vx = self.var(x)?;
                // cov 2^NF / var (fb = 0): the scaling on the numerator keeps div's error a few ulps.
                let slope = div(
                    e,
                    &cov()?.scale(1u64 << NF),
                    &vx,
                    DivBounds { num_bits: 2 * NF + 1, den_bits: NF + 1, den_frac_bits: 0, signed_den: false },
                )?;
                let zx = self.zero(x)?;
                if op == BinaryAgg::RegrSlope {
                    let mul = ((iy.half_bits as f64) - (ix.half_bits as f64)).exp2()
                        * 10f64.powi(ix.decimals as i32 - iy.decimals as i32);
                    Pending::new(slope, Decode::Fixed { frac: NF, mul, add: 0.0 }).with_null(zx)
                } else {
                    // α = m_y + 2^h_y (an_y - slope_n * x̄_n), x̄_n = an_x + m_x / 2^h_x at NF - gs bits,
                    // |slope_n| <= 2^11 where var_x >= 64 ulps (else NULL).
                    let kx = bits((ix.mid.unsigned_abs() >> ix.half_bits) + 2);
                    let gs = kx + 7;
                    if gs >= NF {
                        return Err(ExecError::Bounds(
                            "regr_intercept: the x column's range lies too far from 0 for its width".into(),
                        ));
                    }
                    let an_x = m.an.get(&x).ok_or_else(missing)?;
                    let an_y = m.an.get(&y).ok_or_else(missing)?;
                    let both = trunc(e, &cat(&[an_x, an_y])?, NF + 2, gs)?;
                    let p = split_even(&both, 2)?;
                    let offset = (ix.mid as f64 * ((NF - gs) as f64 - ix.half_bits as f64).exp2()).round() as i128;
                    let xbar = add_const(me, &p[0], offset)?;
                    let raw = e.mul(&slope, &xbar)?;
                    let prod = trunc(e, &raw, 62, NF)?;
                    let v = p[1].sub(&prod)?;
                    Pending::new(
                        v,
                        Decode::Fixed {
                            frac: NF - gs,
                            mul: (iy.half_bits as f64).exp2() * pow10(iy.decimals),
                            add: iy.mid as f64 * pow10(iy.decimals),
                        },
                    )
                    .with_null(zx)
                }
            }
            BinaryAgg::RegrCount => return Err(missing()),
        })
    }
}
