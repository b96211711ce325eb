//! The MPC executor: a checked [`Query`] run over secret-shared columns on any [`Engine`] (the
//! networked party, the in-memory harness, the counting adapter for EXPLAIN).
//!
//! Inputs: one arithmetic sharing per schema column, in schema order, all of the same length `n`
//! (the public row count); element `i` of column `j` is row `i`'s value times `10^decimals_j`,
//! a signed integer within the column's declared range. See `docs/protocols/stats.md` §5.

use triad_mpc_core::engine::Engine;
use triad_mpc_core::ArithShare;

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
    #[error("refused: a group has fewer than {min_cohort} contributing rows (the dataset's min_cohort); nothing else was revealed")]
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
    /// An aggregate the executor cannot compute yet.
    #[error("{0} is not supported by the MPC executor yet")]
    Unsupported(&'static str),
    /// The MPC failed (a cheating party, a lost link); the engine's error names the step and,
    /// where the protocol can tell, the party to blame. Nothing was returned.
    #[error("the MPC aborted: {0}")]
    Mpc(#[from] triad_mpc_core::Error),
}

/// Runs `query` over `columns` (one sharing per schema column) and opens its answer.
pub fn execute<E: Engine>(
    e: &mut E,
    schema: &Schema,
    query: &Query,
    columns: &[ArithShare],
) -> Result<Answer, ExecError> {
    let _ = (e, schema, query, columns);
    Err(ExecError::Unsupported("the MPC executor (under construction)"))
}
