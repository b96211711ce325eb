//! Errors of checking a query against a schema. Each names the offending part, says where it is
//! (line and column from the parser's spans where it has them, always the node's SQL text) and what
//! is supported instead.

use std::fmt;

/// Where the offending part of a query is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    /// 1-based line, 0 when the parser had no span for the node.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// The node's SQL text.
    pub sql: String,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "at line {}, column {} (`{}`)", self.line, self.column, self.sql)
        } else {
            write!(f, "in `{}`", self.sql)
        }
    }
}

/// A query that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Not valid SQL (the parser's message, with its line and column).
    #[error("SQL syntax error: {0}")]
    Parse(String),
    /// Zero or several statements.
    #[error("expected exactly one SELECT statement, found {0}")]
    StatementCount(usize),
    /// A construct outside the subset.
    #[error("{construct} is not supported {at}; {instead}")]
    Unsupported {
        /// What was found.
        construct: &'static str,
        /// Where.
        at: At,
        /// What to write instead.
        instead: &'static str,
    },
    /// `FROM` names another dataset.
    #[error("unknown dataset `{name}` {at}; this query runs over dataset `{expected}`")]
    UnknownDataset {
        /// The name used.
        name: String,
        /// Where.
        at: At,
        /// The schema's dataset.
        expected: String,
    },
    /// A column not in the schema.
    #[error("unknown column `{name}` {at}; dataset `{dataset}` has columns: {available}")]
    UnknownColumn {
        /// The name used.
        name: String,
        /// Where.
        at: At,
        /// The dataset.
        dataset: String,
        /// Its columns, comma separated.
        available: String,
    },
    /// A function that is not a supported aggregate.
    #[error("unknown function `{name}` {at}; supported: {}", crate::check::SUPPORTED_FUNCTIONS)]
    UnknownFunction {
        /// The name used.
        name: String,
        /// Where.
        at: At,
    },
    /// A condition where a number is needed or the other way round.
    #[error("type error {at}: expected {expected}, found {found}")]
    Type {
        /// What the context needs.
        expected: &'static str,
        /// What was written.
        found: &'static str,
        /// Where.
        at: At,
    },
    /// A function called with the wrong arguments.
    #[error("`{function}` {at} takes {expected}")]
    Arguments {
        /// The function.
        function: String,
        /// The accepted form.
        expected: &'static str,
        /// Where.
        at: At,
    },
    /// A percentile fraction outside `[0, 1]`.
    #[error("percentile {value} {at} is outside [0, 1]; write a fraction such as 0.9")]
    PercentileRange {
        /// The fraction written.
        value: String,
        /// Where.
        at: At,
    },
    /// Division by something other than a public constant.
    #[error(
        "division by a non-constant {at}; only division by a numeric literal is supported (multiply out instead, e.g. `a > 2 * b` for `a / b > 2` when b > 0)"
    )]
    NonConstantDivisor {
        /// Where.
        at: At,
    },
    /// Division by zero.
    #[error("division by zero {at}")]
    DivisionByZero {
        /// Where.
        at: At,
    },
    /// A literal that is not a usable decimal.
    #[error("bad number {at}: {reason}")]
    BadNumber {
        /// Why.
        reason: String,
        /// Where.
        at: At,
    },
    /// Bucket edges that are not strictly increasing public constants.
    #[error("bad width_bucket edges {at}: {reason}")]
    BadEdges {
        /// Why.
        reason: &'static str,
        /// Where.
        at: At,
    },
    /// An aggregate whose declared column range does not suit it.
    #[error("`{function}` {at} needs column `{column}` declared with min {requirement}, but its declared min is {min}")]
    ColumnDomain {
        /// The aggregate.
        function: &'static str,
        /// The column.
        column: String,
        /// "> 0" or ">= 0".
        requirement: &'static str,
        /// Declared min.
        min: String,
        /// Where.
        at: At,
    },
    /// `mode()` over a column with too many possible values.
    #[error(
        "mode() {at}: column `{column}` has {size} possible values (range and decimals); mode() needs a small declared domain of at most {limit}"
    )]
    ModeDomain {
        /// The column.
        column: String,
        /// Possible values.
        size: u128,
        /// The limit.
        limit: u128,
        /// Where.
        at: At,
    },
    /// A bare column (or other non-aggregate) in the select list.
    #[error(
        "`{sql}` in the select list is not an aggregate; every select item must be an aggregate (e.g. `sum({sql})`) or the GROUP BY expression"
    )]
    NotAggregated {
        /// The item.
        sql: String,
        /// Where.
        at: At,
    },
    /// A `width_bucket` in the select list that is not the GROUP BY expression.
    #[error("`width_bucket` in the select list {at} must repeat the GROUP BY expression exactly{}", match .group_by { Some(g) => format!(" (`{g}`)"), None => String::from("; add GROUP BY with it") })]
    BucketMismatch {
        /// Where.
        at: At,
        /// The GROUP BY expression, if any.
        group_by: Option<String>,
    },
    /// A select list without any aggregate.
    #[error("the select list has no aggregate; add one, e.g. count(*)")]
    NoAggregates,
    /// A query text longer than the limit.
    #[error("the query is {bytes} bytes long; at most {limit} are accepted")]
    TooLong {
        /// Its length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// An expression nested too deeply.
    #[error("an expression in {place} is nested deeper than {limit} levels; simplify it")]
    TooDeep {
        /// "WHERE", "the select list" or "GROUP BY".
        place: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A result label used twice.
    #[error("result column `{0}` appears twice; give one of them another alias with AS")]
    DuplicateLabel(String),
}
