//! The typed logical plan a checked query becomes.

use crate::decimal::Decimal;

/// A column of the dataset, by index into [`crate::Schema::columns`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ColumnId(pub usize);

/// A checked `SELECT`.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The dataset (`FROM`).
    pub dataset: String,
    /// The distinct aggregates, in order of first appearance.
    pub aggregates: Vec<Aggregate>,
    /// The result columns, in select-list order.
    pub outputs: Vec<Output>,
    /// `WHERE`.
    pub filter: Option<Predicate>,
    /// `GROUP BY width_bucket(...)`.
    pub group_by: Option<Bucketing>,
}

/// One result column.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The alias, or the item's SQL text.
    pub label: String,
    /// What the column holds.
    pub value: OutputValue,
}

/// What a result column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputValue {
    /// The group's bucket number (`width_bucket(...)` in the select list).
    Bucket,
    /// `Query::aggregates[i]`.
    Aggregate(usize),
}

/// An aggregate over the rows that pass the filter (per group).
#[derive(Clone, Debug, PartialEq)]
pub enum Aggregate {
    /// `count(*)` (and `count(col)`: columns have no NULLs).
    Count,
    /// One column.
    Unary(UnaryAgg, ColumnId),
    /// Two columns, in SQL argument order `(Y, X)`.
    Binary(BinaryAgg, ColumnId, ColumnId),
    /// `percentile_cont(p)` / `percentile_disc(p) WITHIN GROUP (ORDER BY col)`; `median(col)` is `Cont` at 0.5.
    Percentile {
        /// Interpolated or discrete.
        kind: PercentileKind,
        /// The fraction, in `[0, 1]`.
        p: Decimal,
        /// The column.
        column: ColumnId,
    },
    /// `mode() WITHIN GROUP (ORDER BY col)`.
    Mode(ColumnId),
}

/// Aggregates over one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryAgg {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `var_pop`
    VarPop,
    /// `var_samp`, `variance`
    VarSamp,
    /// `stddev_pop`
    StddevPop,
    /// `stddev_samp`, `stddev`
    StddevSamp,
    /// `geometric_mean` (declared min > 0)
    GeometricMean,
    /// `harmonic_mean` (declared min > 0)
    HarmonicMean,
    /// `gini` (declared min ≥ 0)
    Gini,
}

/// Aggregates over two columns `(Y, X)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinaryAgg {
    /// `covar_pop`
    CovarPop,
    /// `covar_samp`
    CovarSamp,
    /// `corr`
    Corr,
    /// `regr_slope`
    RegrSlope,
    /// `regr_intercept`
    RegrIntercept,
    /// `regr_r2`
    RegrR2,
    /// `regr_count`
    RegrCount,
}

/// `percentile_cont` or `percentile_disc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PercentileKind {
    /// Linear interpolation between the two nearest ranks.
    Cont,
    /// The first value whose cumulative distribution reaches `p`.
    Disc,
}

/// A boolean condition over one row.
#[derive(Clone, Debug, PartialEq)]
pub enum Predicate {
    /// `left op right`.
    Compare(Expr, CmpOp, Expr),
    /// `a AND b`.
    And(Box<Predicate>, Box<Predicate>),
    /// `a OR b`.
    Or(Box<Predicate>, Box<Predicate>),
    /// `NOT a`.
    Not(Box<Predicate>),
    /// `TRUE` / `FALSE`.
    Const(bool),
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`, `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A numeric expression over one row.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A column's value.
    Column(ColumnId),
    /// A public constant.
    Const(Decimal),
    /// `a + b`
    Add(Box<Expr>, Box<Expr>),
    /// `a - b`
    Sub(Box<Expr>, Box<Expr>),
    /// `a * b`
    Mul(Box<Expr>, Box<Expr>),
    /// `-a`
    Neg(Box<Expr>),
    /// `a / c` for a nonzero public constant `c` (exact: no integer division).
    Div(Box<Expr>, Decimal),
}

/// `GROUP BY width_bucket(column, ARRAY[edges])`.
///
/// PostgreSQL's `width_bucket(operand, thresholds)`: the number of edges `<=` operand, so 0 below the
/// first edge, `i` for `edges[i-1] <= operand < edges[i]`, and `edges.len()` at or above the last edge.
/// There are `edges.len() + 1` buckets. Edges are strictly increasing here (PostgreSQL only requires
/// them sorted and gives "unexpected results" otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucketing {
    /// The bucketed column.
    pub column: ColumnId,
    /// Public, strictly increasing edges.
    pub edges: Vec<Decimal>,
}

impl Bucketing {
    /// Number of groups (`edges.len() + 1`).
    pub fn buckets(&self) -> usize {
        self.edges.len() + 1
    }

    /// PostgreSQL's bucket number of `v`.
    pub fn bucket_of(&self, v: Decimal) -> usize {
        self.edges.partition_point(|e| *e <= v)
    }
}

impl Aggregate {
    /// The columns the aggregate reads.
    pub fn columns(&self) -> Vec<ColumnId> {
        match self {
            Aggregate::Count => vec![],
            Aggregate::Unary(_, c) | Aggregate::Mode(c) | Aggregate::Percentile { column: c, .. } => vec![*c],
            Aggregate::Binary(_, y, x) => vec![*y, *x],
        }
    }
}

/// Where `percentile_cont(p)` reads `n` sorted values: interpolate `lo + (hi - lo)·num/den` between
/// 0-based ranks `lo` and `hi` (`hi = lo + 1` unless the position is an integer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContPosition {
    /// Lower 0-based rank, `floor(p·(n−1))`.
    pub lo: usize,
    /// Upper 0-based rank, `ceil(p·(n−1))`.
    pub hi: usize,
    /// Interpolation weight numerator, `p·(n−1) − lo` times `den`.
    pub num: i128,
    /// Interpolation weight denominator, `10^scale of p`.
    pub den: i128,
}

/// PostgreSQL's `percentile_cont` position from the exact decimal `p` (`None` for `n = 0` or `p ∉ [0, 1]`).
pub fn cont_position(p: Decimal, n: usize) -> Option<ContPosition> {
    if n == 0 || p < Decimal::int(0) || p > Decimal::int(1) {
        return None;
    }
    let den = 10i128.checked_pow(p.scale)?;
    let pos = p.units.checked_mul(i128::try_from(n - 1).ok()?)?;
    let (lo, num) = (usize::try_from(pos / den).ok()?, pos % den);
    Some(ContPosition { lo, hi: if num == 0 { lo } else { lo + 1 }, num, den })
}

/// `percentile_disc`'s 0-based rank: the first value whose cumulative distribution `i/n` reaches `p`, i.e.
/// 1-based row `ceil(p·n)`, the first row when that is 0 (`None` for `n = 0` or `p ∉ [0, 1]`).
pub fn disc_rank(p: Decimal, n: usize) -> Option<usize> {
    if n == 0 || p < Decimal::int(0) || p > Decimal::int(1) {
        return None;
    }
    let den = 10i128.checked_pow(p.scale)?;
    let num = p.units.checked_mul(i128::try_from(n).ok()?)?;
    let rownum = usize::try_from((num + den - 1) / den).ok()?;
    Some(rownum.clamp(1, n) - 1)
}

impl Query {
    /// The columns an order statistic needs sorted (percentiles, median, min, max, mode, gini): the MPC
    /// executor sorts each once, whatever the number of aggregates over it.
    pub fn sorted_columns(&self) -> Vec<ColumnId> {
        let mut v: Vec<ColumnId> = self
            .aggregates
            .iter()
            .filter_map(|a| match a {
                Aggregate::Percentile { column, .. } | Aggregate::Mode(column) => Some(*column),
                Aggregate::Unary(UnaryAgg::Min | UnaryAgg::Max | UnaryAgg::Gini, c) => Some(*c),
                _ => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
