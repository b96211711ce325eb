//! `triad bench stats`: SQL statistics (`triad_stats::exec::execute`) as three OS processes over
//! localhost TLS with malicious security ([`triad_procs`]). Per `n`, the parent generates a
//! dataset deterministically from a seed ([`generate`]) and deals fresh random sharings of its
//! columns to per-party private files (outside the clock); each child reads its components, plans
//! the case's SQL, and times `execute` alone (it opens the answer, so every gate is proven before
//! the clock stops). The parent checks that the three answers agree and match
//! `triad_stats::evaluate` on the plaintext ([`check`], outside the clock); a wrong answer fails
//! the command and prints no row.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use triad_input_check::deal::bench_data_rng;
use triad_mpc::NetParty;
use triad_mpc::core::ArithShare;
use triad_procs::{ChildCommand, ChildOptions};
use triad_stats::exec::Answer;
use triad_stats::{Aggregate, BinaryAgg, Column, Decimal, OutputValue, PercentileKind, Query, Schema, UnaryAgg};

use crate::{Report, Row, cpu};

/// A benchmarked query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// `count(*)`.
    Count,
    /// `sum(x)`.
    Sum,
    /// `avg(x)`.
    Mean,
    /// `var_samp(x)`.
    Variance,
    /// `stddev_samp(x)`.
    Stddev,
    /// `min(x)`.
    Min,
    /// `median(x)`.
    Median,
    /// `percentile_cont(0.9)` of x.
    Percentile,
    /// `mode()` of the small-domain column m.
    Mode,
    /// `count(*)` per `width_bucket(x, 9 edges)`: 10 buckets of about n/10 rows.
    Histogram,
    /// `corr(y, x)`.
    Corr,
    /// `regr_slope`, `regr_intercept`, `regr_r2` of (y, x).
    Regr,
    /// `gini(x)`.
    Gini,
    /// `median(x)` under a WHERE that keeps about half the rows.
    #[value(name = "where_median")]
    WhereMedian,
    /// `harmonic_mean(x)` (not in the default set: a part of `all`).
    Harmonic,
    /// `geometric_mean(x)` (not in the default set: a part of `all`).
    Geometric,
    /// One query with every aggregate over x and y.
    All,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Count => "count",
            Case::Sum => "sum",
            Case::Mean => "mean",
            Case::Variance => "variance",
            Case::Stddev => "stddev",
            Case::Min => "min",
            Case::Median => "median",
            Case::Percentile => "percentile",
            Case::Mode => "mode",
            Case::Histogram => "histogram",
            Case::Corr => "corr",
            Case::Regr => "regr",
            Case::Gini => "gini",
            Case::WhereMedian => "where_median",
            Case::Harmonic => "harmonic",
            Case::Geometric => "geometric",
            Case::All => "all",
        }
    }

    /// The case's query over [`schema`]'s dataset `bench`.
    fn sql(self) -> String {
        let q = |s: &str| format!("SELECT {s} FROM bench");
        match self {
            Case::Count => q("count(*)"),
            Case::Sum => q("sum(x)"),
            Case::Mean => q("avg(x)"),
            Case::Variance => q("var_samp(x)"),
            Case::Stddev => q("stddev_samp(x)"),
            Case::Min => q("min(x)"),
            Case::Median => q("median(x)"),
            Case::Percentile => q("percentile_cont(0.9) WITHIN GROUP (ORDER BY x)"),
            Case::Mode => q("mode() WITHIN GROUP (ORDER BY m)"),
            Case::Histogram => {
                let b = format!("width_bucket(x, ARRAY[{}])", DECILES.join(", "));
                format!("SELECT {b} AS bucket, count(*) FROM bench GROUP BY {b}")
            }
            Case::Corr => q("corr(y, x)"),
            Case::Regr => q("regr_slope(y, x), regr_intercept(y, x), regr_r2(y, x)"),
            Case::Gini => q("gini(x)"),
            Case::WhereMedian => format!("{} WHERE m < 5", q("median(x)")),
            Case::Harmonic => q("harmonic_mean(x)"),
            Case::Geometric => q("geometric_mean(x)"),
            Case::All => q(&[
                "count(*)",
                "sum(x)",
                "avg(x)",
                "min(x)",
                "max(x)",
                "var_pop(x)",
                "var_samp(x)",
                "stddev_pop(x)",
                "stddev_samp(x)",
                "median(x)",
                "percentile_cont(0.9) WITHIN GROUP (ORDER BY x)",
                "percentile_disc(0.9) WITHIN GROUP (ORDER BY x)",
                "geometric_mean(x)",
                "harmonic_mean(x)",
                "gini(x)",
                "sum(y)",
                "avg(y)",
                "min(y)",
                "max(y)",
                "var_samp(y)",
                "stddev_samp(y)",
                "median(y)",
                "covar_pop(y, x)",
                "covar_samp(y, x)",
                "corr(y, x)",
                "regr_slope(y, x)",
                "regr_intercept(y, x)",
                "regr_r2(y, x)",
                "regr_count(y, x)",
            ]
            .join(", ")),
        }
    }
}

/// The deciles of x's distribution (`10·((1 − q)^(−2/3) − 1) + 0.01`, q = 0.1 … 0.9), rounded:
/// the histogram's 9 edges, 10 buckets of about n/10 rows each.
const DECILES: [&str; 9] = ["0.73", "1.61", "2.69", "4.04", "5.88", "8.26", "12.20", "19.48", "36.42"];

#[derive(clap::Args)]
pub struct Args {
    /// Row counts (10^3 to 10^6).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1_000usize, 10_000, 100_000, 1_000_000])]
    n: Vec<usize>,
    /// Cases to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Case::Count, Case::Sum, Case::Mean, Case::Variance, Case::Stddev, Case::Min, Case::Median, Case::Percentile, Case::Mode, Case::Histogram, Case::Corr, Case::Regr, Case::Gini, Case::WhereMedian, Case::All])]
    cases: Vec<Case>,
    /// Runs per case; the fastest is reported.
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// The dataset generator's seed.
    #[arg(long, default_value_t = 12)]
    seed: u64,
    /// Give up if the parties have not finished after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout_secs: u64,
    #[command(flatten)]
    checked: crate::CheckedFlags,
}

/// What the parent tells every child (no secret: the shares are in per-party files).
#[derive(Serialize, Deserialize)]
struct Plan {
    /// The row counts; the dataset of `n` rows is the input file `n<n>`.
    ns: Vec<usize>,
    cases: Vec<Case>,
    reps: usize,
    inputs: std::path::PathBuf,
}

/// One party's run of one case.
#[derive(Serialize, Deserialize)]
struct Measured {
    case: Case,
    n: usize,
    rep: usize,
    secs: f64,
    bytes_sent: u64,
    rounds: u64,
    cpu_secs: f64,
    /// The opened answer, or why there is none.
    answer: Result<Opened, String>,
}

/// An opened answer's labels and rows ([`Answer`] has no serde).
type Opened = (Vec<String>, Vec<Vec<Option<f64>>>);

/// The benchmark's schema: `x` heavy-tailed in [0.01, 10000] (2 decimals), `y` ≈ x/2 plus noise
/// in [−100, 10000] (2 decimals), `m` in [0, 20] (integers) for mode and the WHERE.
pub fn schema() -> Result<Schema> {
    let d = |s: &str| Decimal::parse(s).with_context(|| format!("bench schema bound {s}"));
    Ok(Schema::new(
        "bench",
        vec![
            Column::new("x", d("0.01")?, d("10000")?, 2),
            Column::new("y", d("-100")?, d("10000")?, 2),
            Column::new("m", d("0")?, d("20")?, 0),
        ],
    )?)
}

/// `n` rows from `seed`, in units (`value · 10^decimals`), column-major: x = 10·(u^(−2/3) − 1) +
/// 0.01 capped at 10000 (a Pareto tail of index 1.5, median ≈ 5.9, mean ≈ 20); y = x/2 + e, e
/// uniform in [−5, 5]; m = ⌊20·v²⌋ (P(m < 5) = 1/2, mode 0).
pub fn generate(n: usize, seed: u64) -> [Vec<i64>; 3] {
    let mut rand = bench_data_rng(seed ^ ((n as u64) << 20));
    let mut unit = move || ((rand() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let (mut x, mut y, mut m) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let xv = ((10.0 * (unit().powf(-2.0 / 3.0) - 1.0) + 0.01) * 100.0).round().clamp(1.0, 1_000_000.0) as i64;
        let e = ((unit() - 0.5) * 1000.0).round() as i64;
        x.push(xv);
        y.push((xv / 2 + e).clamp(-10_000, 1_000_000));
        m.push(((20.0 * unit().powi(2)).floor() as i64).clamp(0, 20));
    }
    [x, y, m]
}

/// The generated rows as exact decimals, row-major (for the reference).
fn decimals(schema: &Schema, cols: &[Vec<i64>; 3]) -> Vec<Vec<Decimal>> {
    let n = cols[0].len();
    (0..n)
        .map(|r| {
            cols.iter()
                .zip(&schema.columns)
                .map(|(c, col)| Decimal { units: i128::from(c[r]), scale: col.decimals })
                .collect()
        })
        .collect()
}

pub async fn run(args: Args) -> Result<()> {
    ensure!(args.reps >= 1, "--reps must be at least 1");
    ensure!(args.n.iter().all(|&n| n > 0), "--n values must be positive");
    let schema = schema()?;
    let inputs = triad_procs::deal::Inputs::new("bench-stats")?;
    let mut data = BTreeMap::new();
    for &n in &args.n {
        let cols = generate(n, args.seed);
        let units: Vec<Vec<u64>> = cols.iter().map(|c| c.iter().map(|&v| v as u64).collect()).collect();
        inputs.deal(&format!("n{n}"), &units)?;
        data.insert(n, triad_stats::Dataset::from_decimals(schema.clone(), &decimals(&schema, &cols))?);
    }
    let plan = Plan { ns: args.n.clone(), cases: args.cases.clone(), reps: args.reps, inputs: inputs.dir().into() };
    let per_party: [Vec<Measured>; 3] = triad_procs::parent(
        "bench-stats",
        &ChildCommand::current_exe(&["bench", "stats-party"])?,
        &plan,
        args.timeout_secs,
    )?;
    drop(inputs);
    let rows = summarize(&schema, &data, per_party, args.checked.corrupt_result)?;
    let mut report = Report::new(args.checked.json);
    for row in &rows {
        report.row(row)?;
    }
    Ok(())
}

/// Per (case, n): the answers agree and are right, each run's slowest party, the fastest run.
fn summarize(
    schema: &Schema,
    data: &BTreeMap<usize, triad_stats::Dataset>,
    per_party: [Vec<Measured>; 3],
    corrupt: bool,
) -> Result<Vec<Row>> {
    let [p0, p1, p2] = per_party;
    ensure!(p0.len() == p1.len() && p1.len() == p2.len(), "the parties ran different numbers of cases");
    let mut best: BTreeMap<(usize, Case), (f64, u64, u64, f64)> = BTreeMap::new();
    for ((a, b), c) in p0.into_iter().zip(p1).zip(p2) {
        let (case, n) = (a.case, a.n);
        let what = format!("stats {} n={n}", case.name());
        ensure!((b.case, b.n, c.case, c.n) == (case, n, case, n), "{what}: the parties' runs are out of step");
        let answer = match (&a.answer, &b.answer, &c.answer) {
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => bail!("{what}: {e}"),
            (Ok(x), Ok(y), Ok(z)) => {
                ensure!(x == y && y == z, "{what}: the three parties opened different answers");
                Answer { columns: x.0.clone(), rows: x.1.clone() }
            }
        };
        let mut answer = answer;
        if corrupt {
            spoil(&mut answer);
        }
        let dataset = data.get(&n).with_context(|| format!("{what}: no dataset"))?;
        let query = triad_stats::plan(schema, &case.sql())?;
        let reference = Answer::of_reference(&triad_stats::evaluate(&query, dataset)?);
        check(schema, &query, &answer, &reference).with_context(|| format!("stats check failed: {what}"))?;
        let w = [&a, &b, &c];
        let secs = w.iter().map(|m| m.secs).fold(0.0, f64::max);
        let run = (
            secs,
            w.iter().map(|m| m.bytes_sent).max().unwrap_or(0),
            w.iter().map(|m| m.rounds).max().unwrap_or(0),
            w.iter().map(|m| m.cpu_secs).fold(0.0, f64::max),
        );
        let e = best.entry((n, case)).or_insert(run);
        if run.0 < e.0 {
            *e = run;
        }
    }
    for ((n, case), (secs, _, _, cpu)) in &best {
        eprintln!("stats {} n={n}: wall {secs:.3} s, busiest party's CPU {cpu:.3} s", case.name());
    }
    Ok(best
        .into_iter()
        .map(|((n, case), (secs, bytes, rounds, _))| Row::tls_checked("stats", case.name(), n, secs, bytes, rounds))
        .collect())
}

/// `--corrupt-result`: moves the first non-NULL aggregate value well beyond the tolerance.
fn spoil(a: &mut Answer) {
    if let Some(v) = a.rows.iter_mut().flat_map(|r| r.iter_mut()).flatten().next() {
        *v += v.abs() * 0.01 + 1.0;
    }
}

/// The tolerance of one output value against the reference `r`: counts and bucket numbers exactly;
/// min, max, mode and percentile_disc (values of the data) within half a unit of the last decimal,
/// so they must be the right value; correlation, r² and Gini (dimensionless, in [−1, 1]) within `1e-3·|r| + 1e-4`; every other value
/// within `1e-3·|r| + 4·10^−d`, `d` the most decimals of the aggregate's columns (a few units of
/// the last decimal, for the fixed-point roundings of means, divisions and roots).
fn tolerance(schema: &Schema, q: &Query, output: usize, r: f64) -> f64 {
    let agg = match q.outputs.get(output).map(|o| o.value) {
        Some(OutputValue::Aggregate(i)) => q.aggregates.get(i),
        _ => None,
    };
    let units = |a: &Aggregate| {
        let d = a.columns().iter().filter_map(|c| schema.columns.get(c.0)).map(|c| c.decimals).max().unwrap_or(0);
        4.0 * 10f64.powi(-(d as i32))
    };
    match agg {
        None | Some(Aggregate::Count | Aggregate::Binary(BinaryAgg::RegrCount, ..)) => 0.0,
        Some(Aggregate::Binary(BinaryAgg::Corr | BinaryAgg::RegrR2, ..) | Aggregate::Unary(UnaryAgg::Gini, _)) => {
            1e-3 * r.abs() + 1e-4
        }
        Some(
            a @ (Aggregate::Unary(UnaryAgg::Min | UnaryAgg::Max, _)
            | Aggregate::Mode(_)
            | Aggregate::Percentile { kind: PercentileKind::Disc, .. }),
        ) => units(a) / 8.0,
        Some(a) => 1e-3 * r.abs() + units(a),
    }
}

/// The answer against the reference: the same labels and shape, NULL exactly where the reference
/// has NULL, every value within [`tolerance`]. The error names the first wrong group and column.
fn check(schema: &Schema, q: &Query, got: &Answer, want: &Answer) -> Result<()> {
    ensure!(got.columns == want.columns, "columns {:?}, expected {:?}", got.columns, want.columns);
    ensure!(got.rows.len() == want.rows.len(), "{} rows, expected {}", got.rows.len(), want.rows.len());
    for (g, (gr, wr)) in got.rows.iter().zip(&want.rows).enumerate() {
        ensure!(gr.len() == wr.len(), "row {g}: {} values, expected {}", gr.len(), wr.len());
        for (c, (gv, wv)) in gr.iter().zip(wr).enumerate() {
            let label = &want.columns[c];
            match (gv, wv) {
                (None, None) => {}
                (Some(a), Some(b)) => {
                    let tol = tolerance(schema, q, c, *b);
                    ensure!(
                        (a - b).abs() <= tol,
                        "row {g}, `{label}`: got {a}, expected {b} (difference {}, tolerance {tol})",
                        a - b
                    );
                }
                _ => bail!("row {g}, `{label}`: got {gv:?}, expected {wv:?}"),
            }
        }
    }
    Ok(())
}

/// The hidden subcommand: one party's process.
pub async fn party(args: crate::PartyArgs) -> Result<()> {
    triad_procs::child(args.party, args.dir, ChildOptions::default(), run_cases)
}

fn run_cases(p: &mut NetParty, plan: Plan) -> Result<Vec<Measured>> {
    let schema = schema()?;
    let mut out = Vec::new();
    for &n in &plan.ns {
        let columns = triad_procs::deal::read(&plan.inputs, &format!("n{n}"), p.me().index(), 3, n)?;
        for &case in &plan.cases {
            let query = triad_stats::plan(&schema, &case.sql())?;
            for rep in 0..plan.reps {
                let m = measure(p, &schema, &query, &columns, case, n, rep)?;
                let failed = m.answer.is_err();
                out.push(m);
                // An executor error may leave the session unusable: stop here, the parent reports it.
                if failed {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// One run: a one-element open lines the three parties up; the clock covers `execute` (which
/// proves every gate before it opens the answer).
fn measure(
    p: &mut NetParty,
    schema: &Schema,
    query: &Query,
    columns: &[ArithShare],
    case: Case,
    n: usize,
    rep: usize,
) -> Result<Measured> {
    p.open(&ArithShare::public(p.me(), &[0]))?;
    let before = p.stats();
    let c0 = cpu::thread_secs();
    let t0 = Instant::now();
    let answer = triad_stats::exec::execute(p, schema, query, columns);
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = cpu::thread_secs().zip(c0).map_or(0.0, |(c1, c0)| c1 - c0);
    let spent = p.stats().since(before);
    Ok(Measured {
        case,
        n,
        rep,
        secs,
        bytes_sent: spent.bytes_sent,
        rounds: spent.rounds,
        cpu_secs,
        answer: answer.map(|a| (a.columns, a.rows)).map_err(|e| e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Case; 17] = [
        Case::Count,
        Case::Sum,
        Case::Mean,
        Case::Variance,
        Case::Stddev,
        Case::Min,
        Case::Median,
        Case::Percentile,
        Case::Mode,
        Case::Histogram,
        Case::Corr,
        Case::Regr,
        Case::Gini,
        Case::WhereMedian,
        Case::Harmonic,
        Case::Geometric,
        Case::All,
    ];

    fn reference(case: Case, n: usize) -> (Schema, Query, Answer) {
        let schema = schema().expect("schema");
        let cols = generate(n, 7);
        let data = triad_stats::Dataset::from_decimals(schema.clone(), &decimals(&schema, &cols)).expect("in range");
        let q = triad_stats::plan(&schema, &case.sql()).unwrap_or_else(|e| panic!("{case:?}: {e}"));
        let a = Answer::of_reference(&triad_stats::evaluate(&q, &data).expect("evaluates"));
        (schema, q, a)
    }

    #[test]
    fn the_right_answer_passes_and_a_spoiled_one_fails() {
        for case in ALL {
            let (schema, q, good) = reference(case, 1000);
            check(&schema, &q, &good, &good).unwrap_or_else(|e| panic!("{case:?}: {e:#}"));
            let mut bad = good.clone();
            spoil(&mut bad);
            let msg = format!("{:#}", check(&schema, &q, &bad, &good).expect_err("spoiled"));
            assert!(msg.contains("row 0") && msg.contains("expected"), "{case:?}: {msg}");
        }
    }

    #[test]
    fn small_errors_pass_and_nulls_and_shapes_must_match() {
        let (schema, q, good) = reference(Case::All, 1000);
        let mut near = good.clone();
        for (c, v) in near.rows[0].iter_mut().enumerate() {
            if let Some(v) = v {
                *v += tolerance(&schema, &q, c, *v) * 0.5;
            }
        }
        check(&schema, &q, &near, &good).expect("within tolerance");
        let mut null = good.clone();
        null.rows[0][3] = None;
        assert!(check(&schema, &q, &null, &good).is_err());
        let mut short = good.clone();
        short.rows[0].pop();
        assert!(check(&schema, &q, &short, &good).is_err());
        let mut count = good.clone();
        count.rows[0][0] = count.rows[0][0].map(|v| v + 1.0);
        assert!(check(&schema, &q, &count, &good).is_err(), "counts are exact");
    }

    #[test]
    fn the_data_fits_the_schema_and_the_cases_are_balanced() {
        let n = 10_000;
        let (_, _, hist) = reference(Case::Histogram, n);
        assert_eq!(hist.rows.len(), 10);
        for r in &hist.rows {
            let count = r[1].expect("a count");
            assert!((700.0..1300.0).contains(&count), "bucket {:?}: {count}", r[0]);
        }
        let cols = generate(n, 7);
        let kept = cols[2].iter().filter(|&&m| m < 5).count();
        assert!((4500..5500).contains(&kept), "WHERE m < 5 keeps {kept}");
        let (_, _, corr) = reference(Case::Corr, n);
        assert!(corr.rows[0][0].expect("corr") > 0.9, "{corr:?}");
        assert_eq!(generate(100, 3), generate(100, 3), "deterministic");
    }
}
