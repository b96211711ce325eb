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
/// `value` (docs/protocols/stats.md §5.4). Counts, sums, and order statistics are exact (the bound
/// is the f64 rounding of the printed value); moments carry the fixed-point error of `NF = 28`
/// fractional bits of the declared half-range.
pub fn error_bound(schema: &Schema, query: &Query, i: usize, value: f64) -> f64 {
    use crate::plan::{Aggregate, BinaryAgg, OutputValue, UnaryAgg};
    let exact = 1e-9 * value.abs().max(1.0);
    let Some(out) = query.outputs.get(i) else { return exact };
    let OutputValue::Aggregate(a) = out.value else { return 0.0 };
    let Some(agg) = query.aggregates.get(a) else { return exact };
    let Ok(infos) = column_infos(schema) else { return f64::INFINITY };
    let unit = |j: usize| {
        infos.get(j).map_or(f64::INFINITY, |c| (c.half_bits as f64).exp2() * 10f64.powi(-(c.decimals as i32)))
    };
    let ulp = (-(moments::NF as f64)).exp2();
    exact
        + match *agg {
            Aggregate::Count | Aggregate::Mode(_) | Aggregate::Percentile { .. } => 0.0,
            Aggregate::Unary(op, c) => match op {
                UnaryAgg::Sum | UnaryAgg::Min | UnaryAgg::Max => 0.0,
                UnaryAgg::Avg => 16.0 * ulp * unit(c.0),
                UnaryAgg::VarPop => 64.0 * ulp * unit(c.0).powi(2),
                UnaryAgg::VarSamp => 160.0 * ulp * unit(c.0).powi(2),
                // sqrt(v + δ) - sqrt(v) <= min(sqrt δ, δ / (2 sqrt v)), plus the root's own 34 ulps.
                UnaryAgg::StddevPop | UnaryAgg::StddevSamp => {
                    let u = unit(c.0);
                    let delta = 160.0 * ulp;
                    let sd_n = value.abs() / u;
                    u * (delta.sqrt().min(delta / (2.0 * sd_n)) + 34.0 * ulp)
                }
                UnaryAgg::Gini => 1e-6,
                UnaryAgg::HarmonicMean => 2e-4 * value.abs(),
                UnaryAgg::GeometricMean => 1e-6 * value.abs(),
            },
            Aggregate::Binary(op, y, x) => match op {
                BinaryAgg::RegrCount => 0.0,
                BinaryAgg::CovarPop => 64.0 * ulp * unit(y.0) * unit(x.0),
                BinaryAgg::CovarSamp => 160.0 * ulp * unit(y.0) * unit(x.0),
                // Ratios of moments: relative, valid while both normalised variances are at least
                // 2^-14 (a standard deviation of at least 1/128 of the half-range).
                BinaryAgg::Corr | BinaryAgg::RegrR2 => 1e-4,
                BinaryAgg::RegrSlope => 1e-4 * value.abs() + 64.0 * ulp * unit(y.0) / unit(x.0),
                BinaryAgg::RegrIntercept => 1e-4 * value.abs() + 2e-4 * unit(y.0),
            },
        }
}
