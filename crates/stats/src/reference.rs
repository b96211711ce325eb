//! The plaintext reference evaluator: PostgreSQL's meanings of every aggregate, with `WHERE` and
//! `GROUP BY width_bucket`. The MPC executor is checked against it.
//!
//! Rows hold exact decimals. `WHERE` and bucket numbers are evaluated exactly (rationals over `i128`);
//! aggregates are computed in `f64` (compensated sums, two-pass second moments), except that the
//! "all values equal" cases (zero variance, PostgreSQL's NULL for `corr` and `regr_*`) are decided exactly.
//! A result of `None` is SQL's NULL.

use crate::decimal::Decimal;
use crate::plan::{
    Aggregate, BinaryAgg, CmpOp, ColumnId, Expr, OutputValue, PercentileKind, Predicate, Query, UnaryAgg,
    cont_position, disc_rank,
};
use crate::schema::Schema;

/// Rows that do not fit their schema, or arithmetic beyond the reference's exact range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// A row with the wrong number of values.
    #[error("row {row}: {found} values, the schema has {expected} columns")]
    RowLength {
        /// 1-based row.
        row: usize,
        /// Columns in the schema.
        expected: usize,
        /// Values in the row.
        found: usize,
    },
    /// NaN or infinity.
    #[error("row {row}, column `{column}`: not a finite number")]
    NotFinite {
        /// 1-based row.
        row: usize,
        /// The column.
        column: String,
    },
    /// A value outside the declared range.
    #[error("row {row}, column `{column}`: {value} is outside the declared range [{min}, {max}]")]
    OutOfRange {
        /// 1-based row.
        row: usize,
        /// The column.
        column: String,
        /// The value.
        value: String,
        /// Declared min.
        min: Decimal,
        /// Declared max.
        max: Decimal,
    },
    /// More digits after the point than declared.
    #[error("row {row}, column `{column}`: {value} has more than the declared {decimals} decimals")]
    TooPrecise {
        /// 1-based row.
        row: usize,
        /// The column.
        column: String,
        /// The value.
        value: String,
        /// Declared decimals.
        decimals: u32,
    },
    /// A WHERE expression whose exact value does not fit 128-bit rationals.
    #[error("row {row}: the WHERE expression overflows the reference's exact arithmetic")]
    Overflow {
        /// 1-based row.
        row: usize,
    },
    /// A query planned against another schema.
    #[error("the query is over dataset `{query}`, the data is dataset `{data}`")]
    WrongDataset {
        /// The query's dataset.
        query: String,
        /// The data's.
        data: String,
    },
}

/// Rows checked against a schema; each value in units of `10^-decimals` of its column.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    schema: Schema,
    rows: Vec<Vec<i128>>,
}

impl Dataset {
    /// Rows of exact decimals.
    pub fn from_decimals(schema: Schema, rows: &[Vec<Decimal>]) -> Result<Self, DataError> {
        let mut out = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter().enumerate() {
            Self::check_len(&schema, r, row.len())?;
            let mut units = Vec::with_capacity(row.len());
            for (c, (v, col)) in row.iter().zip(&schema.columns).enumerate() {
                let u = v.units_at(col.decimals).ok_or_else(|| DataError::TooPrecise {
                    row: r + 1,
                    column: col.name.clone(),
                    value: v.to_string(),
                    decimals: col.decimals,
                })?;
                Self::check_range(&schema, r, c, u, &v.to_string())?;
                units.push(u);
            }
            out.push(units);
        }
        Ok(Self { schema, rows: out })
    }

    /// Rows of `f64`; each value must be within `1e-9` (relative) of a decimal with the column's precision.
    pub fn from_f64(schema: Schema, rows: &[Vec<f64>]) -> Result<Self, DataError> {
        let mut out = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter().enumerate() {
            Self::check_len(&schema, r, row.len())?;
            let mut units = Vec::with_capacity(row.len());
            for (c, (&v, col)) in row.iter().zip(&schema.columns).enumerate() {
                if !v.is_finite() {
                    return Err(DataError::NotFinite { row: r + 1, column: col.name.clone() });
                }
                let scaled = v * 10f64.powi(col.decimals as i32);
                let rounded = scaled.round();
                if (scaled - rounded).abs() > 1e-9 * rounded.abs().max(1.0) {
                    return Err(DataError::TooPrecise {
                        row: r + 1,
                        column: col.name.clone(),
                        value: v.to_string(),
                        decimals: col.decimals,
                    });
                }
                if rounded.abs() >= 2f64.powi(63) {
                    return Err(Self::range_error(&schema, r, c, &v.to_string()));
                }
                let u = rounded as i128;
                Self::check_range(&schema, r, c, u, &v.to_string())?;
                units.push(u);
            }
            out.push(units);
        }
        Ok(Self { schema, rows: out })
    }

    fn check_len(schema: &Schema, r: usize, found: usize) -> Result<(), DataError> {
        if found != schema.columns.len() {
            return Err(DataError::RowLength { row: r + 1, expected: schema.columns.len(), found });
        }
        Ok(())
    }

    fn range_error(schema: &Schema, r: usize, c: usize, value: &str) -> DataError {
        let col = &schema.columns[c];
        DataError::OutOfRange { row: r + 1, column: col.name.clone(), value: value.into(), min: col.min, max: col.max }
    }

    fn check_range(schema: &Schema, r: usize, c: usize, u: i128, value: &str) -> Result<(), DataError> {
        let col = &schema.columns[c];
        let inside = matches!((col.min_units(), col.max_units()), (Some(lo), Some(hi)) if lo <= u && u <= hi);
        if inside { Ok(()) } else { Err(Self::range_error(schema, r, c, value)) }
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The exact value at a row and column.
    pub fn value(&self, row: usize, column: ColumnId) -> Decimal {
        Decimal { units: self.rows[row][column.0], scale: self.schema.columns[column.0].decimals }
    }

    fn row_f64(&self, row: usize) -> Vec<f64> {
        (0..self.schema.columns.len()).map(|c| self.value(row, ColumnId(c)).to_f64()).collect()
    }
}

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The bucket number under GROUP BY, `None` without.
    pub bucket: Option<usize>,
    /// Rows that passed the filter into this group.
    pub rows: usize,
    /// One value per output column (`None` is NULL).
    pub values: Vec<Option<f64>>,
}

/// A query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Output labels.
    pub columns: Vec<String>,
    /// Without GROUP BY one group; with it one per bucket, `0..=edges.len()`, empty buckets included.
    pub groups: Vec<Group>,
}

impl Table {
    /// The buckets (or the single group) with fewer than `min_cohort` rows: the MPC refuses the whole
    /// query when this is not empty.
    pub fn below_cohort(&self, min_cohort: u64) -> Vec<Option<usize>> {
        self.groups.iter().filter(|g| (g.rows as u64) < min_cohort).map(|g| g.bucket).collect()
    }
}

/// Evaluates a checked query over a dataset.
pub fn evaluate(query: &Query, data: &Dataset) -> Result<Table, DataError> {
    if query.dataset != data.schema.dataset {
        return Err(DataError::WrongDataset { query: query.dataset.clone(), data: data.schema.dataset.clone() });
    }
    let width = data.schema.columns.len();
    let used = query.aggregates.iter().flat_map(Aggregate::columns).chain(query.group_by.as_ref().map(|b| b.column));
    if used.into_iter().any(|c| c.0 >= width) || query.filter.as_ref().is_some_and(|p| !pred_columns_within(p, width)) {
        return Err(DataError::WrongDataset { query: query.dataset.clone(), data: data.schema.dataset.clone() });
    }
    let n_groups = query.group_by.as_ref().map_or(1, |b| b.buckets());
    let mut members: Vec<Vec<Vec<f64>>> = vec![Vec::new(); n_groups];
    for r in 0..data.len() {
        if let Some(p) = &query.filter
            && !pred(p, data, r).ok_or(DataError::Overflow { row: r + 1 })?
        {
            continue;
        }
        let g = query.group_by.as_ref().map_or(0, |b| b.bucket_of(data.value(r, b.column)));
        members[g].push(data.row_f64(r));
    }
    let groups = members
        .iter()
        .enumerate()
        .map(|(g, rows)| {
            let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
            let aggs: Vec<Option<f64>> = query.aggregates.iter().map(|a| aggregate(a, &refs)).collect();
            let values = query
                .outputs
                .iter()
                .map(|o| match o.value {
                    OutputValue::Bucket => Some(g as f64),
                    OutputValue::Aggregate(i) => aggs.get(i).copied().flatten(),
                })
                .collect();
            Group { bucket: query.group_by.as_ref().map(|_| g), rows: rows.len(), values }
        })
        .collect();
    Ok(Table { columns: query.outputs.iter().map(|o| o.label.clone()).collect(), groups })
}

fn expr_columns_within(e: &Expr, width: usize) -> bool {
    match e {
        Expr::Column(c) => c.0 < width,
        Expr::Const(_) => true,
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) => {
            expr_columns_within(a, width) && expr_columns_within(b, width)
        }
        Expr::Neg(a) | Expr::Div(a, _) => expr_columns_within(a, width),
    }
}

fn pred_columns_within(p: &Predicate, width: usize) -> bool {
    match p {
        Predicate::Const(_) => true,
        Predicate::Not(a) => pred_columns_within(a, width),
        Predicate::And(a, b) | Predicate::Or(a, b) => pred_columns_within(a, width) && pred_columns_within(b, width),
        Predicate::Compare(a, _, b) => expr_columns_within(a, width) && expr_columns_within(b, width),
    }
}

/// An exact rational `n / d`, `d > 0`.
#[derive(Clone, Copy, Debug)]
struct Q {
    n: i128,
    d: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs().max(1)
}

impl Q {
    fn new(n: i128, d: i128) -> Option<Q> {
        let (n, d) = if d < 0 { (n.checked_neg()?, d.checked_neg()?) } else { (n, d) };
        let g = gcd(n, d);
        Some(Q { n: n / g, d: d / g })
    }
    fn dec(v: Decimal) -> Option<Q> {
        Q::new(v.units, 10i128.checked_pow(v.scale)?)
    }
    fn add(self, o: Q) -> Option<Q> {
        Q::new(self.n.checked_mul(o.d)?.checked_add(o.n.checked_mul(self.d)?)?, self.d.checked_mul(o.d)?)
    }
    fn neg(self) -> Option<Q> {
        Some(Q { n: self.n.checked_neg()?, d: self.d })
    }
    fn mul(self, o: Q) -> Option<Q> {
        Q::new(self.n.checked_mul(o.n)?, self.d.checked_mul(o.d)?)
    }
    fn div(self, o: Q) -> Option<Q> {
        Q::new(self.n.checked_mul(o.d)?, self.d.checked_mul(o.n)?)
    }
    fn cmp(self, o: Q) -> Option<std::cmp::Ordering> {
        Some(self.n.checked_mul(o.d)?.cmp(&o.n.checked_mul(self.d)?))
    }
}

fn expr(e: &Expr, data: &Dataset, r: usize) -> Option<Q> {
    match e {
        Expr::Column(c) => Q::dec(data.value(r, *c)),
        Expr::Const(d) => Q::dec(*d),
        Expr::Add(a, b) => expr(a, data, r)?.add(expr(b, data, r)?),
        Expr::Sub(a, b) => expr(a, data, r)?.add(expr(b, data, r)?.neg()?),
        Expr::Mul(a, b) => expr(a, data, r)?.mul(expr(b, data, r)?),
        Expr::Neg(a) => expr(a, data, r)?.neg(),
        Expr::Div(a, c) => expr(a, data, r)?.div(Q::dec(*c)?),
    }
}

fn pred(p: &Predicate, data: &Dataset, r: usize) -> Option<bool> {
    use std::cmp::Ordering::*;
    Some(match p {
        Predicate::Const(b) => *b,
        Predicate::Not(a) => !pred(a, data, r)?,
        Predicate::And(a, b) => pred(a, data, r)? & pred(b, data, r)?,
        Predicate::Or(a, b) => pred(a, data, r)? | pred(b, data, r)?,
        Predicate::Compare(a, op, b) => {
            let o = expr(a, data, r)?.cmp(expr(b, data, r)?)?;
            match op {
                CmpOp::Eq => o == Equal,
                CmpOp::Ne => o != Equal,
                CmpOp::Lt => o == Less,
                CmpOp::Le => o != Greater,
                CmpOp::Gt => o == Greater,
                CmpOp::Ge => o != Less,
            }
        }
    })
}

/// Neumaier's compensated sum.
fn fsum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for x in xs {
        let t = s + x;
        c += if s.abs() >= x.abs() { (s - t) + x } else { (x - t) + s };
        s = t;
    }
    s + c
}

fn all_equal(xs: &[f64]) -> bool {
    xs.windows(2).all(|w| w[0] == w[1])
}

/// Σ (x - mean)², exactly 0 when all values are equal.
fn sum_sq_dev(xs: &[f64]) -> f64 {
    if all_equal(xs) {
        return 0.0;
    }
    let m = fsum(xs.iter().copied()) / xs.len() as f64;
    fsum(xs.iter().map(|x| (x - m) * (x - m)))
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// One aggregate over the rows of one group (each row a full row of the dataset, as `f64`).
/// `None` is SQL's NULL (and the answer for rows too short for the aggregate's columns).
pub fn aggregate(agg: &Aggregate, rows: &[&[f64]]) -> Option<f64> {
    let n = rows.len();
    if agg.columns().iter().any(|c| rows.iter().any(|r| r.len() <= c.0)) {
        return None;
    }
    let col = |c: ColumnId| -> Vec<f64> { rows.iter().map(|r| r[c.0]).collect() };
    let nf = n as f64;
    match agg {
        Aggregate::Count => Some(nf),
        Aggregate::Binary(BinaryAgg::RegrCount, _, _) => Some(nf),
        _ if n == 0 => None,
        Aggregate::Unary(op, c) => {
            let xs = col(*c);
            match op {
                UnaryAgg::Sum => Some(fsum(xs)),
                UnaryAgg::Avg => Some(fsum(xs) / nf),
                UnaryAgg::Min => xs.into_iter().reduce(f64::min),
                UnaryAgg::Max => xs.into_iter().reduce(f64::max),
                UnaryAgg::VarPop => Some(sum_sq_dev(&xs) / nf),
                UnaryAgg::VarSamp => (n >= 2).then(|| sum_sq_dev(&xs) / (nf - 1.0)),
                UnaryAgg::StddevPop => Some((sum_sq_dev(&xs) / nf).sqrt()),
                UnaryAgg::StddevSamp => (n >= 2).then(|| (sum_sq_dev(&xs) / (nf - 1.0)).sqrt()),
                UnaryAgg::GeometricMean => Some((fsum(xs.iter().map(|x| x.ln())) / nf).exp()),
                UnaryAgg::HarmonicMean => Some(nf / fsum(xs.iter().map(|x| 1.0 / x))),
                UnaryAgg::Gini => {
                    let s = sorted(&xs);
                    let total = fsum(s.iter().copied());
                    if total == 0.0 {
                        return None;
                    }
                    let weighted = fsum(s.iter().enumerate().map(|(i, x)| (2.0 * (i as f64 + 1.0) - nf - 1.0) * x));
                    Some(weighted / (nf * total))
                }
            }
        }
        Aggregate::Percentile { kind, p, column } => {
            let s = sorted(&col(*column));
            // Ranks from the exact decimal p (PostgreSQL multiplies in float8, which can round
            // p·n past an integer, e.g. 0.28·25 = 7.000000000000001, and then picks one row later).
            match kind {
                PercentileKind::Cont => {
                    let pos = cont_position(*p, n)?;
                    let (a, b) = (*s.get(pos.lo)?, *s.get(pos.hi)?);
                    Some(a + (b - a) * (pos.num as f64 / pos.den as f64))
                }
                PercentileKind::Disc => s.get(disc_rank(*p, n)?).copied(),
            }
        }
        Aggregate::Mode(c) => {
            // PostgreSQL's mode_final: scan in ascending order, replace only on a strictly larger frequency,
            // so among equally frequent values the smallest wins.
            let s = sorted(&col(*c));
            let (mut best, mut best_freq, mut i) = (s[0], 0usize, 0usize);
            while i < s.len() {
                let j = s[i..].iter().take_while(|x| **x == s[i]).count();
                if j > best_freq {
                    (best, best_freq) = (s[i], j);
                }
                i += j;
            }
            Some(best)
        }
        Aggregate::Binary(op, yc, xc) => {
            let (ys, xs) = (col(*yc), col(*xc));
            let (sxx, syy) = (sum_sq_dev(&xs), sum_sq_dev(&ys));
            let sxy = if all_equal(&xs) || all_equal(&ys) {
                0.0
            } else {
                let (mx, my) = (fsum(xs.iter().copied()) / nf, fsum(ys.iter().copied()) / nf);
                fsum(xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)))
            };
            let (mx, my) = (fsum(xs.iter().copied()) / nf, fsum(ys.iter().copied()) / nf);
            match op {
                BinaryAgg::CovarPop => Some(sxy / nf),
                BinaryAgg::CovarSamp => (n >= 2).then(|| sxy / (nf - 1.0)),
                BinaryAgg::Corr => (sxx != 0.0 && syy != 0.0).then(|| (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0)),
                BinaryAgg::RegrSlope => (sxx != 0.0).then(|| sxy / sxx),
                BinaryAgg::RegrIntercept => (sxx != 0.0).then(|| my - mx * sxy / sxx),
                BinaryAgg::RegrR2 => match (sxx != 0.0, syy != 0.0) {
                    (false, _) => None,
                    (true, false) => Some(1.0),
                    (true, true) => Some(sxy * sxy / (sxx * syy)),
                },
                BinaryAgg::RegrCount => Some(nf),
            }
        }
    }
}
