//! The MPC executor against the plaintext reference, on the in-memory three-party harness.

use proptest::prelude::*;
use triad_mpc_core::harness::{Tamper, run3};
use triad_mpc_core::{Message, PartyId, Payload, Step};
use triad_stats::exec::{Answer, ExecError, error_bound, error_bound_rows, execute};
use triad_stats::{Column, ColumnId, Dataset, Decimal, Schema, evaluate, plan};

fn d(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

fn schema() -> Schema {
    Schema::new(
        "t",
        vec![
            Column::new("x", d("-50"), d("1000"), 2),
            Column::new("y", d("0"), d("10"), 1),
            Column::new("k", d("1"), d("6"), 0),
        ],
    )
    .unwrap()
    .with_min_cohort(3)
    .unwrap()
}

/// Deterministic rows: x heavy-ish tailed with ties and negatives, y correlated, k small domain.
fn rows(n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n)
        .map(|_| {
            let r = next();
            let x = match r % 7 {
                0 => 1000.0,
                1 => -50.0,
                2 => 0.0,
                _ => ((next() % 30000) as f64 / 100.0).powf(1.2).min(1000.0),
            };
            let x = (x * 100.0).round() / 100.0;
            let y = ((x.max(0.0) / 100.0 + (next() % 20) as f64 / 10.0).min(10.0) * 10.0).round() / 10.0;
            let k = (1 + next() % 6) as f64;
            vec![x, y, k]
        })
        .collect()
}

fn run(sql: &str, n: usize, seed: u64) -> (Result<Answer, String>, Answer) {
    run_with(sql, n, seed, None)
}

fn run_with(sql: &str, n: usize, seed: u64, tamper: Option<(PartyId, Tamper)>) -> (Result<Answer, String>, Answer) {
    run_rows(sql, &rows(n, seed), tamper)
}

fn run_rows(sql: &str, rows: &[Vec<f64>], tamper: Option<(PartyId, Tamper)>) -> (Result<Answer, String>, Answer) {
    run_in(&schema(), sql, rows, tamper)
}

fn run_in(
    schema: &Schema,
    sql: &str,
    rows: &[Vec<f64>],
    tamper: Option<(PartyId, Tamper)>,
) -> (Result<Answer, String>, Answer) {
    let schema = schema.clone();
    let q = plan(&schema, sql).unwrap();
    let data = Dataset::from_f64(schema.clone(), rows).unwrap();
    let reference = Answer::of_reference(&evaluate(&q, &data).unwrap());
    let cols: Vec<Vec<u64>> = (0..schema.columns.len())
        .map(|c| (0..data.len()).map(|r| data.value(r, ColumnId(c)).units as i64 as u64).collect())
        .collect();
    let cheating = tamper.as_ref().map(|(who, _)| who.index());
    let out = run3(tamper, |p| {
        let shares = cols.iter().map(|c| p.share_public_input(c)).collect::<Result<Vec<_>, _>>()?;
        Ok(execute(p, &schema, &q, &shares).map_err(|e: ExecError| e.to_string()))
    });
    if let Some(cheater) = cheating {
        // Every honest party aborts, with an error naming the step; none returns a value.
        let mut first = None;
        for (i, r) in out.into_iter().enumerate() {
            if i == cheater {
                continue;
            }
            let r = match r {
                Ok(inner) => inner,
                Err(e) => Err(e.to_string()),
            };
            assert!(r.is_err(), "honest P{i} returned a value despite a cheater: {r:?}");
            first.get_or_insert(r);
        }
        return (first.unwrap_or_else(|| Err("no honest party".into())), reference);
    }
    let mut answers = out.into_iter().map(|r| r.unwrap());
    let first = answers.next().unwrap();
    for a in answers {
        assert_eq!(a, first, "the parties disagree");
    }
    (first, reference)
}

fn assert_close(sql: &str, got: &Answer, want: &Answer) {
    let q = plan(&schema(), sql).unwrap();
    let tol = |c: usize, v: f64| error_bound(&schema(), &q, c, v);
    assert_eq!(got.columns, want.columns);
    assert_eq!(got.rows.len(), want.rows.len(), "{sql}");
    for (r, (g, w)) in got.rows.iter().zip(&want.rows).enumerate() {
        for (c, (gv, wv)) in g.iter().zip(w).enumerate() {
            match (gv, wv) {
                (Some(a), Some(b)) => {
                    assert!((a - b).abs() <= tol(c, *b), "{sql}: row {r} `{}`: mpc {a}, reference {b}", got.columns[c])
                }
                _ => assert_eq!(gv, wv, "{sql}: row {r} `{}`", got.columns[c]),
            }
        }
    }
}

#[test]
fn every_moment_aggregate_matches() {
    let sql = "SELECT count(*), sum(x), avg(x), var_pop(x), var_samp(x), stddev_pop(y), stddev(y), \
               covar_pop(y, x), covar_samp(y, x), corr(y, x), regr_slope(y, x), regr_intercept(y, x), \
               regr_r2(y, x), regr_count(y, x) FROM t";
    let (got, want) = run(sql, 200, 1);
    let got = got.unwrap();
    assert_close(sql, &got, &want);
}

#[test]
fn order_statistics_match() {
    let sql = "SELECT min(x), max(x), median(x), percentile_cont(0.9) WITHIN GROUP (ORDER BY x), \
               percentile_disc(0.25) WITHIN GROUP (ORDER BY y), mode() WITHIN GROUP (ORDER BY k), gini(y) FROM t";
    let (got, want) = run(sql, 150, 2);
    assert_close(sql, &got.unwrap(), &want);
}

#[test]
fn where_and_group_by_match() {
    let sql = "SELECT width_bucket(y, ARRAY[2, 5]) AS b, count(*), sum(x), avg(x), median(x), max(y), \
               var_samp(x), gini(y), mode() WITHIN GROUP (ORDER BY k) FROM t WHERE x + 2 * y >= 10 AND NOT k = 3 \
               GROUP BY width_bucket(y, ARRAY[2, 5])";
    let (got, want) = run(sql, 300, 3);
    assert_close(sql, &got.unwrap(), &want);
}

#[test]
fn a_small_group_is_refused_and_nothing_else_is_opened() {
    let sql = "SELECT count(*) FROM t WHERE x >= 1000";
    let (got, want) = run(sql, 12, 4);
    let rows = want.rows[0][0].unwrap();
    assert!(rows < 3.0, "the data should leave fewer than min_cohort rows: {rows}");
    let err = got.unwrap_err();
    assert!(err.contains("fewer than 3 contributing rows"), "{err}");
}

#[test]
fn harmonic_mean_matches() {
    let sql = "SELECT harmonic_mean(k), harmonic_mean(k) AS h FROM t WHERE x > 0";
    let (got, want) = run(sql, 120, 5);
    assert_close(sql, &got.unwrap(), &want);
}

#[test]
fn geometric_mean_matches() {
    for sql in [
        "SELECT geometric_mean(k), harmonic_mean(k), avg(k) FROM t",
        "SELECT width_bucket(y, ARRAY[5]) AS b, geometric_mean(k) FROM t WHERE x >= 0 GROUP BY width_bucket(y, ARRAY[5])",
    ] {
        let (got, want) = run(sql, 150, 6);
        assert_close(sql, &got.unwrap(), &want);
    }
}

/// Flip one bit of the first message of `step` that `P1` sends.
fn flip_first(step: Step) -> Tamper {
    let mut done = false;
    Box::new(move |m: &mut Message| {
        if !done
            && m.step == step
            && let Payload::Words(w) = &mut m.payload
            && let Some(x) = w.first_mut()
        {
            *x ^= 1 << 5;
            done = true;
        }
    })
}

#[test]
fn a_cheating_party_aborts_the_query_naming_the_step() {
    let sql = "SELECT avg(x), median(x), var_pop(y) FROM t WHERE k <= 4";
    for (step, name) in [(Step::Mul, "Mul"), (Step::And, "And"), (Step::Open, "Open")] {
        let cheater = PartyId::new(1).unwrap();
        let (got, _) = run_with(sql, 60, 7, Some((cheater, flip_first(step))));
        let err = got.unwrap_err();
        // A wrong share in a gate is caught by the proof of that layer; a wrong open by the
        // compare-view check.
        assert!(err.contains("aborted at step"), "{name}: {err}");
    }
}

/// Query templates over the test schema: (SQL, whether it has a selection).
const TEMPLATES: &[&str] = &[
    "SELECT count(*), sum(x), avg(x), var_samp(x), stddev_pop(x) FROM t",
    "SELECT avg(y), var_pop(y), covar_samp(y, x), regr_count(y, x) FROM t WHERE k >= 2",
    "SELECT median(x), percentile_disc(0.3) WITHIN GROUP (ORDER BY x), min(y), max(y) FROM t",
    "SELECT median(y), percentile_cont(0.75) WITHIN GROUP (ORDER BY x), min(x) FROM t WHERE x BETWEEN 0 AND 500",
    "SELECT width_bucket(x, ARRAY[0, 100]) AS b, count(*), avg(y), max(x) FROM t GROUP BY width_bucket(x, ARRAY[0, 100])",
    "SELECT mode() WITHIN GROUP (ORDER BY k), gini(y) FROM t WHERE y > 1 OR k = 6",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random datasets of random sizes, around and well above min_cohort: the executor equals the
    /// reference within the documented bound, or refuses exactly when a group is below min_cohort.
    #[test]
    fn the_executor_matches_the_reference(t in 0..TEMPLATES.len(), n in 1usize..90, seed in any::<u64>()) {
        let sql = TEMPLATES[t];
        let (got, want) = run(sql, n, seed);
        let q = plan(&schema(), sql).unwrap();
        let data = Dataset::from_f64(schema(), &rows(n, seed)).unwrap();
        let below = !evaluate(&q, &data).unwrap().below_cohort(3).is_empty();
        match got {
            Err(e) => {
                prop_assert!(below && e.contains("fewer than 3"), "{sql} (n = {n}): {e}");
            }
            Ok(got) => {
                prop_assert!(!below, "{sql} (n = {n}): answered below min_cohort");
                assert_close(sql, &got, &want);
            }
        }
    }
}

/// Constant columns at the ends of the declared ranges: zero variances exactly, the NULLs of
/// corr / regr_* (PostgreSQL's), regr_r2 = 1 for a constant y, and the extremes as values.
#[test]
fn constant_columns_at_the_range_ends() {
    let sql = "SELECT var_pop(x), stddev_samp(x), corr(y, x), regr_slope(y, x), regr_r2(y, x), regr_r2(x, y), \
               min(x), max(y), median(x), avg(x) FROM t";
    for (x, y) in [(1000.0, 10.0), (-50.0, 0.0), (0.0, 10.0)] {
        let rows: Vec<Vec<f64>> = (0..12).map(|i| vec![x, if i % 2 == 0 { y } else { 5.0 }, 1.0]).collect();
        let (got, want) = run_rows(sql, &rows, None);
        let got = got.unwrap();
        assert_close(sql, &got, &want);
        assert_eq!(got.rows[0][2], None, "corr with a constant x is NULL");
        assert_eq!(got.rows[0][3], None, "regr_slope with a constant x is NULL");
        assert_eq!(got.rows[0][5], Some(1.0), "regr_r2 with a constant y is 1");
    }
}

// --- Declared ranges much wider than the data -------------------------------------------------
//
// Regression: the moments were taken around the declared midpoint at 28 fractional bits of the
// declared half-range, so a column declared [0, 999999.99] holding values below 50 got a negative
// var_pop, a zero stddev and an avg off in the third decimal. The answer must be as precise as
// with a tight declaration: the range only bounds what the ring must hold.

/// A schema of two columns `x`, `y` declared `[lo, hi]` with 2 decimals.
fn wide_schema(lo: &str, hi: &str) -> Schema {
    Schema::new("t", vec![Column::new("x", d(lo), d(hi), 2), Column::new("y", d(lo), d(hi), 2)])
        .unwrap()
        .with_min_cohort(2)
        .unwrap()
}

/// `n` rows with `x` in `[lo_x, lo_x + 50)` (2 decimals) and `y` about `0.7 x` plus noise in
/// `[0, 10)`, capped at `lo_x + 50`.
fn small_rows(n: usize, seed: u64, lo_x: f64) -> Vec<Vec<f64>> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n)
        .map(|_| {
            let x = (next() % 5000) as f64 / 100.0;
            let y = (x * 0.7 + (next() % 1000) as f64 / 100.0).min(50.0);
            vec![lo_x + x, ((lo_x + y) * 100.0).round() / 100.0]
        })
        .collect()
}

/// Asserts every value within `rel * |reference|` and within the documented bound for `rows` rows,
/// NULLs equal.
fn assert_rel(schema: &Schema, sql: &str, rows: usize, got: &Answer, want: &Answer, rel: f64) {
    let q = plan(schema, sql).unwrap();
    assert_eq!(got.columns, want.columns);
    assert_eq!(got.rows.len(), want.rows.len(), "{sql}");
    for (r, (g, w)) in got.rows.iter().zip(&want.rows).enumerate() {
        for (c, (gv, wv)) in g.iter().zip(w).enumerate() {
            match (gv, wv) {
                (Some(a), Some(b)) => {
                    let bound = error_bound_rows(schema, &q, rows, c, *b);
                    assert!(
                        (a - b).abs() <= rel * b.abs() + 1e-12 && (a - b).abs() <= bound,
                        "{sql}: row {r} `{}`: mpc {a}, reference {b} (relative error {:.2e}, documented bound {bound:.2e})",
                        got.columns[c],
                        (a - b).abs() / b.abs()
                    )
                }
                _ => assert_eq!(gv, wv, "{sql}: row {r} `{}`", got.columns[c]),
            }
        }
    }
}

/// The report's data (12 balances up to 30.50) under [0, 999999.99] and [0, 99999.99]: the
/// executor used to print stddev 0 and var_pop -1475.76 (reference 9.89 and 89.71).
#[test]
fn moments_of_small_values_under_a_wide_declared_range() {
    let balances = [23.56, 30.50, 3.34, 0.88, 0.52, 3.15, 0.58, 0.30, 4.13, 3.71, 7.19, 0.70];
    let rows: Vec<Vec<f64>> = balances.iter().map(|&b| vec![b, b]).collect();
    let sql = "SELECT stddev(x), avg(x), var_pop(x), var_samp(x), stddev_pop(x), sum(x) FROM t";
    for hi in ["999999.99", "99999.99", "50"] {
        let schema = wide_schema("0", hi);
        let (got, want) = run_in(&schema, sql, &rows, None);
        let got = got.unwrap();
        assert_rel(&schema, sql, rows.len(), &got, &want, 1e-6);
        let var_pop = got.rows[0][2].unwrap();
        assert!((var_pop - 89.714489).abs() < 1e-5, "[0, {hi}]: var_pop {var_pop}");
    }
}

/// avg, var_pop, var_samp, stddev_pop, stddev_samp over values below 50 under wide and narrow
/// declarations, with a public count, a secret one (WHERE) and per group: within 1e-6 relative.
#[test]
fn unary_moments_do_not_depend_on_the_declared_range() {
    let aggs = "avg(x), var_pop(x), var_samp(x), stddev_pop(x), stddev_samp(x), avg(y), var_samp(y)";
    let queries = [
        format!("SELECT {aggs} FROM t"),
        format!("SELECT {aggs} FROM t WHERE x >= 1"),
        format!("SELECT width_bucket(x, ARRAY[25]) AS b, {aggs} FROM t GROUP BY width_bucket(x, ARRAY[25])"),
    ];
    for (lo, hi, n) in [("0", "999999.99", 12), ("0", "999999.99", 150), ("0", "99999.99", 60), ("0", "50", 60)] {
        let schema = wide_schema(lo, hi);
        let rows = small_rows(n, n as u64, 0.0);
        for sql in &queries {
            let (got, want) = run_in(&schema, sql, &rows, None);
            let got = got.unwrap_or_else(|e| panic!("[{lo}, {hi}], n = {n}, {sql}: {e}"));
            assert_rel(&schema, sql, n, &got, &want, 1e-6);
        }
    }
}

/// A range symmetric around 0, and one far from 0 holding values near its bottom.
#[test]
fn unary_moments_far_from_the_midpoint() {
    let sql = "SELECT avg(x), var_pop(x), var_samp(x), stddev_pop(x), stddev_samp(x) FROM t";
    let sql_where = "SELECT avg(x), var_pop(x), var_samp(x), stddev_pop(x), stddev_samp(x) FROM t WHERE y >= 0";
    for (lo, hi, lo_x) in [("-999999.99", "999999.99", -25.0), ("100000", "999999.99", 100000.0)] {
        let schema = wide_schema(lo, hi);
        let rows = small_rows(40, 7, lo_x);
        for q in [sql, sql_where] {
            let (got, want) = run_in(&schema, q, &rows, None);
            assert_rel(&schema, q, rows.len(), &got.unwrap(), &want, 1e-6);
        }
    }
}

/// covar, corr and the regressions over values below 50 under wide declarations: corr, r2 and
/// the slope within 1e-6 relative, the intercept within its fixed-point resolution (1/8 of a unit
/// of y for [0, 999999.99]: the worst-case slope makes |α| up to 2^57 units).
#[test]
fn binary_moments_do_not_depend_on_the_declared_range() {
    let sql = "SELECT covar_pop(y, x), covar_samp(y, x), corr(y, x), regr_slope(y, x), regr_r2(y, x), \
               regr_intercept(y, x) FROM t";
    let sql_where = sql.replace(" FROM t", " FROM t WHERE x >= 1");
    for (hi, n) in [("999999.99", 12), ("999999.99", 100), ("99999.99", 60), ("50", 60)] {
        let schema = wide_schema("0", hi);
        let rows = small_rows(n, 3 * n as u64, 0.0);
        for q in [sql, sql_where.as_str()] {
            let (got, want) = run_in(&schema, q, &rows, None);
            let got = got.unwrap_or_else(|e| panic!("[0, {hi}], n = {n}, {q}: {e}"));
            let mut head = got.clone();
            let mut head_want = want.clone();
            for a in [&mut head, &mut head_want] {
                a.columns.truncate(5);
                a.rows[0].truncate(5);
            }
            let q5 = q.replace(", regr_intercept(y, x)", "");
            assert_rel(&schema, &q5, n, &head, &head_want, 1e-6);
            let (a, b) = (got.rows[0][5].unwrap(), want.rows[0][5].unwrap());
            assert!((a - b).abs() <= 1e-5 * b.abs() + 0.00125, "[0, {hi}], n = {n}, {q}: intercept {a} vs {b}");
        }
    }
}

/// gini normalised its sums by the declared maximum before dividing (6e-5 off for [0, 999999.99]);
/// the order statistics, sum and the geometric and harmonic means stay within their bounds.
#[test]
fn other_aggregates_under_a_wide_declared_range() {
    let sql = "SELECT gini(x), geometric_mean(x), harmonic_mean(x), sum(x), median(x), max(y) FROM t";
    let sql_where = sql.replace(" FROM t", " FROM t WHERE x >= 1");
    for hi in ["999999.99", "99999.99", "50"] {
        let schema = wide_schema("0.01", hi);
        let rows: Vec<Vec<f64>> =
            small_rows(40, 9, 0.0).into_iter().map(|r| vec![r[0].max(0.01), r[1].max(0.01)]).collect();
        for q in [sql, sql_where.as_str()] {
            let (got, want) = run_in(&schema, q, &rows, None);
            let got = got.unwrap();
            let qp = plan(&schema, q).unwrap();
            for (c, (a, b)) in got.rows[0].iter().zip(&want.rows[0]).enumerate() {
                let (a, b) = (a.unwrap(), b.unwrap());
                let bound = error_bound_rows(&schema, &qp, rows.len(), c, b);
                assert!((a - b).abs() <= bound, "[0.01, {hi}] {q}: `{}` mpc {a}, reference {b}", got.columns[c]);
            }
        }
    }
}

/// A constant column under a wide range: variances exactly 0 (within a few ulps), corr NULL.
#[test]
fn constant_column_under_a_wide_declared_range() {
    let schema = wide_schema("0", "999999.99");
    let rows: Vec<Vec<f64>> = (0..20).map(|i| vec![17.25, (i % 7) as f64]).collect();
    let sql = "SELECT var_pop(x), stddev_samp(x), avg(x), corr(y, x), regr_slope(y, x), regr_r2(x, y) FROM t";
    for q in [sql.to_string(), sql.replace(" FROM t", " FROM t WHERE y >= 0")] {
        let (got, want) = run_in(&schema, &q, &rows, None);
        let got = got.unwrap();
        assert!(got.rows[0][0].unwrap().abs() < 1e-9, "{q}: var_pop {:?}", got.rows[0][0]);
        assert!(got.rows[0][1].unwrap().abs() < 1e-4, "{q}: stddev_samp {:?}", got.rows[0][1]);
        assert!((got.rows[0][2].unwrap() - 17.25).abs() < 1e-6, "{q}: avg {:?}", got.rows[0][2]);
        assert_eq!(got.rows[0][3], None, "{q}: corr with a constant x is NULL");
        assert_eq!(got.rows[0][4], None, "{q}: regr_slope with a constant x is NULL");
        assert_eq!(got.rows[0][5], Some(1.0), "{q}: regr_r2 with a constant y is 1");
        assert_eq!(want.rows[0][3], None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random declarations (from tight to 10^7 times wider than the data, around 0 or far from
    /// it) over the same kind of data: the moments stay within their documented bounds.
    #[test]
    fn moments_match_the_reference_whatever_the_declared_range(
        widen in 0u32..8,
        offset in 0u32..3,
        n in 2usize..60,
        seed in any::<u64>(),
        grouped in any::<bool>(),
    ) {
        // Data in [lo_x, lo_x + 50); the declared range covers it and extends 10^widen times as far.
        let lo_x = [0.0, -25.0, 5000.0][offset as usize];
        let span = 50.0 * 10f64.powi(widen as i32);
        let (lo, hi) = (if offset == 1 { -span / 2.0 } else { lo_x }, if offset == 1 { span / 2.0 } else { lo_x + span });
        let schema = wide_schema(&format!("{lo:.2}"), &format!("{hi:.2}"));
        let rows = small_rows(n, seed, lo_x);
        let edge = format!("{:.2}", lo_x + 25.0);
        let sql = if grouped {
            format!(
                "SELECT width_bucket(x, ARRAY[{edge}]) AS b, avg(x), var_samp(x), stddev_pop(x), covar_pop(y, x) \
                 FROM t GROUP BY width_bucket(x, ARRAY[{edge}])"
            )
        } else {
            "SELECT avg(x), var_pop(x), var_samp(y), stddev_samp(x), covar_samp(y, x), corr(y, x), regr_slope(y, x) \
             FROM t"
                .to_string()
        };
        let Ok(q) = plan(&schema, &sql) else { return Ok(()) };
        let data = Dataset::from_f64(schema.clone(), &rows).unwrap();
        let below = !evaluate(&q, &data).unwrap().below_cohort(2).is_empty();
        let (got, want) = run_in(&schema, &sql, &rows, None);
        match got {
            Err(e) => prop_assert!(below || e.contains("cannot guarantee"), "{sql} over [{lo}, {hi}], n = {n}: {e}"),
            Ok(got) => {
                for (r, (g, w)) in got.rows.iter().zip(&want.rows).enumerate() {
                    for (c, (gv, wv)) in g.iter().zip(w).enumerate() {
                        match (gv, wv) {
                            (Some(a), Some(b)) => {
                                let bound = error_bound_rows(&schema, &q, n, c, *b);
                                prop_assert!(
                                    (a - b).abs() <= bound,
                                    "{sql} over [{lo}, {hi}], n = {n}: row {r} `{}`: mpc {a}, reference {b}, bound {bound:e}",
                                    got.columns[c]
                                );
                            }
                            _ => prop_assert_eq!(gv, wv, "{} over [{}, {}]: row {} `{}`", sql, lo, hi, r, &got.columns[c]),
                        }
                    }
                }
            }
        }
    }
}

/// gini at the edge of its bound, `2 log2(rows) + log2(max) <= 61` (here 6 + 6 + 49), with values
/// from 0 to the declared top; one bit wider is refused with a message that says why.
#[test]
fn gini_at_the_edge_of_its_bound() {
    let top = "5000000000000.00"; // 5·10^14 units < 2^49
    let schema = Schema::new("t", vec![Column::new("x", d("0"), d(top), 2)]).unwrap().with_min_cohort(2).unwrap();
    let rows: Vec<Vec<f64>> = (0..40u64)
        .map(|i| match i % 5 {
            0 => vec![5_000_000_000_000.0],
            1 => vec![0.0],
            2 => vec![0.01],
            _ => vec![(i * i * 1_234_567) as f64 / 100.0],
        })
        .collect();
    let sql = "SELECT gini(x) FROM t";
    let (got, want) = run_in(&schema, sql, &rows, None);
    let got = got.unwrap();
    let (a, b) = (got.rows[0][0].unwrap(), want.rows[0][0].unwrap());
    assert!((a - b).abs() <= 1e-6, "gini: mpc {a}, reference {b}");

    let wider =
        Schema::new("t", vec![Column::new("x", d("0"), d("6000000000000.00"), 2)]).unwrap().with_min_cohort(2).unwrap();
    let (got, _) = run_in(&wider, sql, &rows, None);
    let err = got.unwrap_err();
    assert!(err.contains("gini over 40 rows needs 2*log2(rows) + log2(max) <= 61"), "{err}");
}
