//! `EXPLAIN`: the plan's costs, measured by running it on the in-memory three-party harness over
//! placeholder data (every value the column's declared minimum) through the engine's counting
//! adapter, and what the plan reveals. The counts do not depend on the data except for the
//! quicksort's comparisons (a random permutation's), so they are an estimate there.

use std::fmt;

use triad_mpc_core::ArithShare;
use triad_mpc_core::counted::{Cost, Counted};
use triad_mpc_core::harness::run3_stats;

use super::{Columns, ExecError, column_infos, error_bound_rows};
use crate::plan::{Aggregate, OutputValue, Query, UnaryAgg};
use crate::schema::Schema;

/// A query's plan as EXPLAIN prints it.
#[derive(Clone, Debug)]
pub struct Explain {
    /// Rows the estimate is for.
    pub rows: usize,
    /// Gates, layers and opens through the engine (per party).
    pub cost: Cost,
    /// Bytes each party sent, on average over the three (gates, proofs, opens, shuffles).
    pub bytes_per_party: u64,
    /// Messages each party sent, on average (an exchange sends one or two).
    pub messages_per_party: u64,
    /// What the parties learn beyond nothing, one item per line.
    pub reveals: Vec<String>,
    /// The documented error bound of each output, in select-list order (`label`, bound at 0).
    pub bounds: Vec<(String, String)>,
}

/// Plans `query` over `rows` rows of `schema` and measures its cost on placeholder data.
pub fn explain(schema: &Schema, query: &Query, rows: usize) -> Result<Explain, ExecError> {
    let infos = column_infos(schema)?;
    let cols: Vec<Vec<u64>> = infos.iter().map(|c| vec![c.lo as i64 as u64; rows]).collect();
    let runs = run3_stats(None, |p| {
        let shares = cols.iter().map(|c| p.share_public_input(c)).collect::<Result<Vec<ArithShare>, _>>()?;
        let mut counted = Counted::new(p);
        let cols = Columns { n: rows, shares: &shares, info: infos.clone() };
        let out = super::aggregate::run(&mut counted, schema, query, &cols, false);
        Ok((out.map(|_| ()), counted.cost()))
    });
    let mut cost = Cost::default();
    let (mut bytes, mut messages) = (0u64, 0u64);
    for (r, stats) in runs {
        let (out, c) = r?;
        out?;
        cost = c;
        bytes += stats.bytes;
        messages += stats.messages;
    }
    let selection = query.filter.is_some() || query.group_by.is_some();
    let mut reveals = vec![format!(
        "the answer: {} value(s) per group, {} group(s)",
        query.outputs.len(),
        query.group_by.as_ref().map_or(1, |b| b.buckets())
    )];
    if selection {
        reveals.push(format!(
            "one bit, opened first: whether every group has at least min_cohort = {} rows",
            schema.min_cohort
        ));
    } else {
        reveals
            .push(format!("nothing before the answer: the row count {rows} is public and checked against min_cohort"));
    }
    let sorts = query.sorted_columns();
    if !sorts.is_empty() {
        reveals.push(
            "the comparison pattern of quicksort/quickselect on a uniformly shuffled column (simulatable: \
             ties broken by a secret index)"
                .into(),
        );
    }
    if query.aggregates.iter().any(|a| {
        matches!(
            a,
            Aggregate::Binary(..) | Aggregate::Unary(UnaryAgg::VarSamp | UnaryAgg::StddevSamp | UnaryAgg::Gini, _)
        )
    }) {
        reveals.push("per NULL-able aggregate and group, whether it is NULL (as PostgreSQL prints it)".into());
    }
    reveals.push("not which rows passed WHERE, nor any group's row count unless count(*) is asked".into());
    let bounds = query
        .outputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let b = match o.value {
                OutputValue::Bucket => "exact".to_owned(),
                OutputValue::Aggregate(_) => match error_bound_rows(schema, query, rows, i, 0.0) {
                    b if b <= 1e-9 => "exact".to_owned(),
                    b => format!("±{b:.3e} (+ relative terms, docs/protocols/stats.md §5.4)"),
                },
            };
            (o.label.clone(), b)
        })
        .collect();
    Ok(Explain { rows, cost, bytes_per_party: bytes / 3, messages_per_party: messages / 3, reveals, bounds })
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan over {} rows (three parties, malicious security)", self.rows)?;
        writeln!(
            f,
            "  multiplications {} in {} layers, ANDs {} in {} layers, opens {}",
            self.cost.mults, self.cost.mul_layers, self.cost.ands, self.cost.and_layers, self.cost.opens
        )?;
        writeln!(f, "  per party: {} bytes in {} messages", self.bytes_per_party, self.messages_per_party)?;
        writeln!(f, "reveals:")?;
        for r in &self.reveals {
            writeln!(f, "  - {r}")?;
        }
        writeln!(f, "error bounds:")?;
        for (l, b) in &self.bounds {
            writeln!(f, "  {l}: {b}")?;
        }
        Ok(())
    }
}
