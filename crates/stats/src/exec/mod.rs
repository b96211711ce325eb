//! The MPC executor: a checked [`Query`] run over secret-shared columns on any [`Engine`] (the
//! networked party, the in-memory harness, the counting adapter for EXPLAIN).
//!
//! Inputs: one arithmetic sharing per schema column, in schema order, all of the same length `n`
//! (the public row count); element `i` of column `j` is row `i`'s value times `10^decimals_j`,
//! a signed integer within the column's declared range. See `docs/protocols/stats.md` §5.

mod aggregate;
mod explain;
mod moments;
mod order;
mod select;
mod util;
mod wide;

pub use explain::{Explain, explain};
use triad_mpc_core::ArithShare;
use triad_mpc_core::engine::Engine;

use crate::plan::Query;
use crate::reference::Table;
use crate::schema::Schema;

/// A query's answer as the parties open it: one row per group (one without GROUP BY, one per
/// bucket `0..=edges` with it), one value per output column; `None` is SQL NULL.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The output labels (aliases or SQL text), in select-list order.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Option<f64>>>,
}

impl Answer {
    /// The reference table's values in the same shape (to compare an answer with the plaintext).
    pub fn of_reference(t: &Table) -> Answer {
        Answer { columns: t.columns.clone(), rows: t.groups.iter().map(|g| g.values.clone()).collect() }
    }
}

/// Why a query produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Some group has fewer rows than the dataset's `min_cohort`: the only thing opened is that
    /// fact (one bit), not which group or how many rows.
    #[error(
        "refused: a group has fewer than {min_cohort} contributing rows (the dataset's min_cohort); nothing else was revealed"
    )]
    BelowCohort {
        /// The dataset's policy.
        min_cohort: u64,
    },
    /// The plan's intermediate values cannot be bounded within the ring for these declared
    /// ranges and this row count.
    #[error("cannot guarantee exact evaluation: {0}")]
    Bounds(String),
    /// The inputs do not fit the schema (column count or lengths).
    #[error("bad input: {0}")]
    Input(String),
    /// The MPC failed (a cheating party, a lost link); the engine's error names the step and,
    /// where the protocol can tell, the party to blame. Nothing was returned.
    #[error("the MPC aborted: {0}")]
    Mpc(#[from] triad_mpc_core::Error),
}

/// A column's public facts, in units of `10^-decimals`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ColumnInfo {
    pub(crate) decimals: u32,
    pub(crate) lo: i128,
    pub(crate) hi: i128,
    /// `max(|lo|, |hi|)`.
    pub(crate) abs_max: i128,
    /// The centre the moments are taken around: `lo + (hi - lo) / 2`.
    pub(crate) mid: i128,
    /// `|x - mid| < 2^half_bits` for every declared value.
    pub(crate) half_bits: u32,
}

/// The input columns with their public facts.
pub(crate) struct Columns<'a> {
    pub(crate) n: usize,
    shares: &'a [ArithShare],
    info: Vec<ColumnInfo>,
}

impl Columns<'_> {
    pub(crate) fn share(&self, j: usize) -> Result<&ArithShare, ExecError> {
        self.shares.get(j).ok_or_else(|| ExecError::Input(format!("no input for column {j}")))
    }

    pub(crate) fn info(&self, j: usize) -> Result<ColumnInfo, ExecError> {
        self.info.get(j).copied().ok_or_else(|| ExecError::Input(format!("no schema for column {j}")))
    }
}

fn column_infos(schema: &Schema) -> Result<Vec<ColumnInfo>, ExecError> {
    schema
        .columns
        .iter()
        .map(|c| {
            let (lo, hi) = match (c.min_units(), c.max_units()) {
                (Some(lo), Some(hi)) => (lo, hi),
                _ => return Err(ExecError::Input(format!("column `{}`: bounds do not fit its decimals", c.name))),
            };
            let mid = lo + (hi - lo) / 2;
            let half = (hi - mid).max(mid - lo);
            Ok(ColumnInfo {
                decimals: c.decimals,
                lo,
                hi,
                abs_max: lo.abs().max(hi.abs()),
                mid,
                half_bits: util::bits(half as u128).max(1),
            })
        })
        .collect()
}

/// Runs `query` over `columns` (one sharing per schema column) and opens its answer.
pub fn execute<E: Engine>(
    e: &mut E,
    schema: &Schema,
    query: &Query,
    columns: &[ArithShare],
) -> Result<Answer, ExecError> {
    if query.dataset != schema.dataset {
        return Err(ExecError::Input(format!("the query reads `{}`, the data is `{}`", query.dataset, schema.dataset)));
    }
    if columns.len() != schema.columns.len() {
        return Err(ExecError::Input(format!(
            "{} input columns for a schema of {}",
            columns.len(),
            schema.columns.len()
        )));
    }
    let n = columns.first().map_or(0, ArithShare::len);
    if columns.iter().any(|c| c.len() != n) {
        return Err(ExecError::Input("input columns of different lengths".into()));
    }
    let cols = Columns { n, shares: columns, info: column_infos(schema)? };
    aggregate::run(e, schema, query, &cols, true)
}

/// The documented bound on `|mpc - exact|` for output `i` of `query` whose exact value is near
/// `value` (docs/protocols/stats.md §5.4), for any number of rows (see [`error_bound_rows`]).
/// Counts, sums, order statistics and (without WHERE or GROUP BY) means are exact (the bound is
/// the f64 rounding of the printed value). Moments carry a relative error (the reciprocal of a
/// secret count, the roots) and a fixed-point one of `2^-F`, `F = 56`, of `cov / 2^(H + H')`
/// (`H` the column's half-range bits): the declared range bounds what the ring must hold, not how
/// precise the answer is.
pub fn error_bound(schema: &Schema, query: &Query, i: usize, value: f64) -> f64 {
    bound(schema, query, None, i, value)
}

/// [`error_bound`] for a query over `rows` rows (a mean under WHERE or GROUP BY has as many
/// fractional bits as the division by the secret count leaves, fewer for more rows).
pub fn error_bound_rows(schema: &Schema, query: &Query, rows: usize, i: usize, value: f64) -> f64 {
    bound(schema, query, Some(rows), i, value)
}

fn bound(schema: &Schema, query: &Query, rows: Option<usize>, i: usize, value: f64) -> f64 {
    use crate::plan::{Aggregate, BinaryAgg, OutputValue, UnaryAgg};
    let exact = 1e-9 * value.abs().max(1.0);
    let Some(out) = query.outputs.get(i) else { return exact };
    let OutputValue::Aggregate(a) = out.value else { return 0.0 };
    let Some(agg) = query.aggregates.get(a) else { return exact };
    let Ok(infos) = column_infos(schema) else { return f64::INFINITY };
    let public = query.filter.is_none() && query.group_by.is_none();
    let info = |j: usize| infos.get(j).copied();
    let bd = |j: usize| info(j).map_or(64, |c| moments::centre_bits(public, c.half_bits));
    let hw =
        |j: usize| info(j).map_or(64, |c| moments::work_bits(c.half_bits, moments::centre_bits(public, c.half_bits)));
    let dec = |j: usize| info(j).map_or(f64::INFINITY, |c| 10f64.powi(-(c.decimals as i32)));
    // u_j = 2^H_j 10^-d_j: the normalisation of the column's moments.
    let unit = |j: usize| (hw(j) as f64).exp2() * dec(j);
    let ulp = (-(moments::F as f64)).exp2();
    // Relative error of a quotient by a secret count (the reciprocal's 2^-25, its truncations)
    // and of a root.
    let rel = (-22f64).exp2();
    // (Co)variance: relative, a few ulps of F, and the error of the centre's offsets ρ ρ'.
    let cov = |j: usize, k: usize, v: f64| {
        2.0 * (rel * v.abs()
            + 16.0 * ulp * unit(j) * unit(k)
            + ((bd(j) + bd(k)) as f64 - 22.0).exp2() * dec(j) * dec(k))
    };
    exact
        + match *agg {
            Aggregate::Count | Aggregate::Mode(_) | Aggregate::Percentile { .. } => 0.0,
            Aggregate::Unary(op, c) => match op {
                UnaryAgg::Sum | UnaryAgg::Min | UnaryAgg::Max => 0.0,
                UnaryAgg::Avg if public => 0.0,
                // A centred column's mean is centre + ρ; another one's a quotient at fa bits.
                UnaryAgg::Avg => {
                    let nb = rows.map_or(31, moments::row_bits);
                    let Some((_, fa)) = info(c.0).and_then(|ci| moments::mean_format(&ci, nb)) else {
                        return f64::INFINITY;
                    };
                    (((bd(c.0) as f64) - 22.0).exp2() + 4.0 * (-(fa as f64)).exp2()) * dec(c.0) + rel * value.abs()
                }
                UnaryAgg::VarPop | UnaryAgg::VarSamp => cov(c.0, c.0, value),
                // sqrt(v + δ) - sqrt(v) <= min(sqrt δ, δ / (2 sqrt v)), plus the root's own error.
                UnaryAgg::StddevPop | UnaryAgg::StddevSamp => {
                    let delta = cov(c.0, c.0, value * value);
                    let sd = value.abs();
                    let root = if sd > 0.0 { delta.sqrt().min(delta / (2.0 * sd)) } else { delta.sqrt() };
                    root + rel * sd + 8.0 * (-(aggregate::SD_FRAC as f64)).exp2() * unit(c.0)
                }
                UnaryAgg::Gini => 1e-6,
                UnaryAgg::HarmonicMean => 2e-4 * value.abs(),
                UnaryAgg::GeometricMean => 1e-6 * value.abs(),
            },
            Aggregate::Binary(op, y, x) => match op {
                BinaryAgg::RegrCount => 0.0,
                BinaryAgg::CovarPop | BinaryAgg::CovarSamp => cov(y.0, x.0, value),
                // Ratios of moments: while both standard deviations are at least 2^-16 of the
                // half-ranges u (so that the F-bit variances keep 24 significant bits).
                BinaryAgg::Corr | BinaryAgg::RegrR2 => 1e-5,
                // The slope also carries 2^-24 sd_y / sd_x (below the second term unless y spreads
                // over much more of its range than x over its own).
                BinaryAgg::RegrSlope => 1e-5 * value.abs() + (-20f64).exp2() * unit(y.0) / unit(x.0),
                BinaryAgg::RegrIntercept => {
                    let (Some(iy), Some(ix)) = (info(y.0), info(x.0)) else { return f64::INFINITY };
                    let Some(ga) = aggregate::intercept_bits(&iy, &ix, bd(y.0), bd(x.0), hw(y.0), hw(x.0)) else {
                        return f64::INFINITY;
                    };
                    let slope = (-20f64).exp2() * unit(y.0) / unit(x.0);
                    1e-5 * value.abs() + 8.0 * (-(ga as f64)).exp2() * dec(y.0) + slope * ix.abs_max as f64 * dec(x.0)
                }
            },
        }
}
