//! Statistics in SQL over a three-party MPC network: dataset schemas, a PostgreSQL-dialect subset of
//! aggregate queries checked into a typed plan, and the plaintext reference evaluator the MPC executor
//! is checked against. Sans-IO: no sockets, no event log, no async runtime.
//!
//! See `docs/protocols/stats.md`.

pub mod check;
pub mod csv;
pub mod decimal;
pub mod error;
pub mod exec;
pub mod format;
pub mod plan;
pub mod reference;
pub mod schema;

pub use check::{dataset_of, plan};
pub use decimal::Decimal;
pub use error::{At, QueryError};
pub use plan::{
    Aggregate, BinaryAgg, Bucketing, CmpOp, ColumnId, ContPosition, Expr, Output, OutputValue, PercentileKind,
    Predicate, Query, UnaryAgg, cont_position, disc_rank,
};
pub use reference::{DataError, Dataset, Group, Table, evaluate};
pub use schema::{Column, DEFAULT_MIN_COHORT, Schema, SchemaError};
