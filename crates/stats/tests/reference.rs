//! The plaintext reference against hand-computed values, and properties.

use proptest::prelude::*;
use triad_stats::reference::aggregate;
use triad_stats::{
    Aggregate, BinaryAgg, Column, ColumnId, DataError, Dataset, Decimal, PercentileKind, Schema, UnaryAgg, evaluate,
    plan,
};

fn d(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

const X: ColumnId = ColumnId(0);
const Y: ColumnId = ColumnId(1);

fn agg1(a: &Aggregate, xs: &[f64]) -> Option<f64> {
    let rows: Vec<Vec<f64>> = xs.iter().map(|x| vec![*x]).collect();
    let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
    aggregate(a, &refs)
}

fn agg2(a: &Aggregate, ys: &[f64], xs: &[f64]) -> Option<f64> {
    let rows: Vec<Vec<f64>> = xs.iter().zip(ys).map(|(x, y)| vec![*x, *y]).collect();
    let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
    aggregate(a, &refs)
}

fn close(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{what}: got {g}, want {w}"),
        _ => assert_eq!(got, want, "{what}"),
    }
}

fn u(op: UnaryAgg) -> Aggregate {
    Aggregate::Unary(op, X)
}

fn pct(kind: PercentileKind, p: &str) -> Aggregate {
    Aggregate::Percentile { kind, p: d(p), column: X }
}

#[test]
fn unary_hand_computed() {
    use PercentileKind::{Cont, Disc};
    let xs = [3.0, -1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]; // sorted: -1 1 2 3 4 5 6 9; sum 29
    let cases: Vec<(Aggregate, &[f64], Option<f64>)> = vec![
        (Aggregate::Count, &xs, Some(8.0)),
        (Aggregate::Count, &[], Some(0.0)),
        (u(UnaryAgg::Sum), &xs, Some(29.0)),
        (u(UnaryAgg::Sum), &[], None),
        (u(UnaryAgg::Avg), &xs, Some(3.625)),
        (u(UnaryAgg::Min), &xs, Some(-1.0)),
        (u(UnaryAgg::Max), &xs, Some(9.0)),
        // Σx² = 9+1+16+1+25+81+4+36 = 173; Σ(x-m)² = 173 - 29²/8 = 67.875
        (u(UnaryAgg::VarPop), &xs, Some(67.875 / 8.0)),
        (u(UnaryAgg::VarSamp), &xs, Some(67.875 / 7.0)),
        (u(UnaryAgg::StddevPop), &xs, Some((67.875f64 / 8.0).sqrt())),
        (u(UnaryAgg::StddevSamp), &xs, Some((67.875f64 / 7.0).sqrt())),
        // single row: population variance 0, sample variance NULL
        (u(UnaryAgg::VarPop), &[7.0], Some(0.0)),
        (u(UnaryAgg::VarSamp), &[7.0], None),
        (u(UnaryAgg::StddevSamp), &[7.0], None),
        (u(UnaryAgg::VarSamp), &[0.1, 0.1, 0.1], Some(0.0)),
        // percentile_cont: position p·(n−1) = 0.5·7 = 3.5 → 3 + 0.5·(4−3)
        (pct(Cont, "0.5"), &xs, Some(3.5)),
        (pct(Cont, "0"), &xs, Some(-1.0)),
        (pct(Cont, "1"), &xs, Some(9.0)),
        // 0.9·7 = 6.3 → 6 + 0.3·(9−6)
        (pct(Cont, "0.9"), &xs, Some(6.9)),
        (pct(Cont, "0.5"), &[4.0], Some(4.0)),
        (pct(Cont, "0.5"), &[], None),
        // percentile_disc: row ceil(p·n): 0.5·8 = 4 → 3; 0.51·8 = 4.08 → row 5 → 4; p = 0 → first
        (pct(Disc, "0.5"), &xs, Some(3.0)),
        (pct(Disc, "0.51"), &xs, Some(4.0)),
        (pct(Disc, "0"), &xs, Some(-1.0)),
        (pct(Disc, "1"), &xs, Some(9.0)),
        (pct(Disc, "0.125"), &xs, Some(-1.0)),
        (pct(Disc, "0.126"), &xs, Some(1.0)),
        // mode: ties go to the smallest value
        (Aggregate::Mode(X), &[3.0, 1.0, 3.0, 1.0, 2.0], Some(1.0)),
        (Aggregate::Mode(X), &[5.0, 2.0, 5.0, 1.0, 2.0, 5.0], Some(5.0)),
        (Aggregate::Mode(X), &[-4.0], Some(-4.0)),
        (Aggregate::Mode(X), &[], None),
        // geometric mean of 1, 4, 16 = 4; harmonic mean of 1, 2, 4 = 3 / (1.75) = 12/7
        (u(UnaryAgg::GeometricMean), &[1.0, 4.0, 16.0], Some(4.0)),
        (u(UnaryAgg::HarmonicMean), &[1.0, 2.0, 4.0], Some(12.0 / 7.0)),
        // gini: Σ(2i−n−1)x/(n Σx); 0,0,0,10 → (3·10)/(4·10) = 0.75; equal values → 0; all zero → NULL
        (u(UnaryAgg::Gini), &[0.0, 10.0, 0.0, 0.0], Some(0.75)),
        (u(UnaryAgg::Gini), &[2.0, 2.0, 2.0], Some(0.0)),
        (u(UnaryAgg::Gini), &[1.0, 2.0, 3.0], Some((-2.0 + 0.0 + 6.0) / 18.0)),
        (u(UnaryAgg::Gini), &[0.0, 0.0], None),
        (u(UnaryAgg::Gini), &[5.0], Some(0.0)),
    ];
    for (a, xs, want) in cases {
        close(agg1(&a, xs), want, &format!("{a:?} over {xs:?}"));
    }
    // Exact ranks: 7 of 25 values are −1, so the cumulative distribution reaches 0.28 at −1
    // (float8's 0.28·25 = 7.000000000000001 would pick the 8th row, 0).
    let mut v = vec![-1.0; 7];
    v.extend([0.0; 18]);
    assert_eq!(agg1(&pct(Disc, "0.28"), &v), Some(-1.0));
    assert_eq!(agg1(&pct(Disc, "0.2801"), &v), Some(0.0));
    // 0.28·24 = 6.72 → rows 6 and 7 (0-based): −1 + 0.72·(0 − (−1))
    close(agg1(&pct(Cont, "0.28"), &v), Some(-0.28), "cont 0.28");
}

#[test]
fn binary_hand_computed() {
    let b = |op| Aggregate::Binary(op, Y, X);
    // y = 2x + 1 exactly
    let xs = [1.0, 2.0, 3.0, 4.0];
    let ys = [3.0, 5.0, 7.0, 9.0];
    // Sxx = 5, Sxy = 10, Syy = 20
    type Case<'a> = (BinaryAgg, &'a [f64], &'a [f64], Option<f64>);
    let cases: Vec<Case> = vec![
        (BinaryAgg::CovarPop, &ys, &xs, Some(10.0 / 4.0)),
        (BinaryAgg::CovarSamp, &ys, &xs, Some(10.0 / 3.0)),
        (BinaryAgg::Corr, &ys, &xs, Some(1.0)),
        (BinaryAgg::RegrSlope, &ys, &xs, Some(2.0)),
        (BinaryAgg::RegrIntercept, &ys, &xs, Some(1.0)),
        (BinaryAgg::RegrR2, &ys, &xs, Some(1.0)),
        (BinaryAgg::RegrCount, &ys, &xs, Some(4.0)),
        (BinaryAgg::RegrCount, &[], &[], Some(0.0)),
        (BinaryAgg::CovarPop, &[], &[], None),
        // negative correlation: y = -x → corr −1, slope −1
        (BinaryAgg::Corr, &[-1.0, -2.0, -3.0], &[1.0, 2.0, 3.0], Some(-1.0)),
        (BinaryAgg::RegrSlope, &[-1.0, -2.0, -3.0], &[1.0, 2.0, 3.0], Some(-1.0)),
        // x constant: corr, slope, intercept, r2 are NULL
        (BinaryAgg::Corr, &[1.0, 2.0], &[5.0, 5.0], None),
        (BinaryAgg::RegrSlope, &[1.0, 2.0], &[5.0, 5.0], None),
        (BinaryAgg::RegrIntercept, &[1.0, 2.0], &[5.0, 5.0], None),
        (BinaryAgg::RegrR2, &[1.0, 2.0], &[5.0, 5.0], None),
        // y constant: corr NULL, r2 = 1, slope 0, intercept = y
        (BinaryAgg::Corr, &[4.0, 4.0], &[1.0, 2.0], None),
        (BinaryAgg::RegrR2, &[4.0, 4.0], &[1.0, 2.0], Some(1.0)),
        (BinaryAgg::RegrSlope, &[4.0, 4.0], &[1.0, 2.0], Some(0.0)),
        (BinaryAgg::RegrIntercept, &[4.0, 4.0], &[1.0, 2.0], Some(4.0)),
        // single row: covar_pop 0, covar_samp NULL
        (BinaryAgg::CovarPop, &[1.0], &[2.0], Some(0.0)),
        (BinaryAgg::CovarSamp, &[1.0], &[2.0], None),
        // x = 0,1,2; y = 1,0,2: Sxy = (−1)(0) + 0 + (1)(1) = 1, Sxx = 2, Syy = 2 → corr 0.5, r2 0.25
        (BinaryAgg::Corr, &[1.0, 0.0, 2.0], &[0.0, 1.0, 2.0], Some(0.5)),
        (BinaryAgg::RegrR2, &[1.0, 0.0, 2.0], &[0.0, 1.0, 2.0], Some(0.25)),
        (BinaryAgg::RegrIntercept, &[1.0, 0.0, 2.0], &[0.0, 1.0, 2.0], Some(0.5)),
    ];
    for (op, ys, xs, want) in cases {
        close(agg2(&b(op), ys, xs), want, &format!("{op:?} y={ys:?} x={xs:?}"));
    }
}

fn people() -> Schema {
    Schema::new("people", vec![Column::new("age", d("0"), d("120"), 0), Column::new("score", d("-10"), d("10"), 1)])
        .unwrap()
        .with_min_cohort(2)
        .unwrap()
}

fn data(rows: &[(f64, f64)]) -> Dataset {
    Dataset::from_f64(people(), &rows.iter().map(|(a, s)| vec![*a, *s]).collect::<Vec<_>>()).unwrap()
}

#[test]
fn where_and_group_by() {
    let ds = data(&[(20.0, 1.5), (25.0, -2.0), (30.0, 0.1), (30.0, 0.2), (45.0, 3.0), (70.0, -10.0)]);
    let q = plan(
        &people(),
        "SELECT width_bucket(age, ARRAY[25, 40]) AS b, count(*) AS n, sum(score) AS s, var_samp(score) AS v \
         FROM people WHERE score <> 3 AND NOT (age = 20 AND score > 1) \
         GROUP BY width_bucket(age, ARRAY[25, 40])",
    )
    .unwrap();
    let t = evaluate(&q, &ds).unwrap();
    assert_eq!(t.columns, ["b", "n", "s", "v"]);
    // bucket 0 (< 25): none pass (age 20 dropped) — empty group kept, sum NULL; bucket 1: 25, 30, 30; bucket 2: 70.
    assert_eq!(t.groups.len(), 3);
    assert_eq!(t.groups[0].values, vec![Some(0.0), Some(0.0), None, None]);
    assert_eq!(t.groups[1].rows, 3);
    close(t.groups[1].values[2], Some(-1.7), "sum bucket 1");
    assert_eq!(t.groups[2].values[..3], [Some(2.0), Some(1.0), Some(-10.0)]);
    assert_eq!(t.groups[2].values[3], None);
    assert_eq!(t.below_cohort(2), vec![Some(0), Some(2)]);

    // Exact WHERE: 0.1 + 0.2 = 0.3 holds exactly (it does not in f64).
    let q = plan(&people(), "SELECT count(*) FROM people WHERE score + 0.2 = 0.3 OR score / 3 * 3 = -2").unwrap();
    let t = evaluate(&q, &ds).unwrap();
    assert_eq!(t.groups.len(), 1);
    assert_eq!(t.groups[0].bucket, None);
    assert_eq!(t.groups[0].values, vec![Some(2.0)]);
    assert!(t.below_cohort(2).is_empty());

    // BETWEEN is inclusive; column against column.
    let q = plan(&people(), "SELECT count(*) FROM people WHERE age BETWEEN 25 AND 30 AND score * 10 < age").unwrap();
    assert_eq!(evaluate(&q, &ds).unwrap().groups[0].values, vec![Some(3.0)]);
}

#[test]
fn bad_rows_are_rejected() {
    let s = people();
    let e = Dataset::from_f64(s.clone(), &[vec![1.0]]).unwrap_err();
    assert!(matches!(e, DataError::RowLength { row: 1, expected: 2, found: 1 }), "{e:?}");
    let e = Dataset::from_f64(s.clone(), &[vec![1.0, 1.0], vec![121.0, 0.0]]).unwrap_err();
    assert!(e.to_string().contains("row 2, column `age`: 121 is outside the declared range [0, 120]"), "{e}");
    let e = Dataset::from_f64(s.clone(), &[vec![1.0, 0.25]]).unwrap_err();
    assert!(matches!(e, DataError::TooPrecise { .. }) && e.to_string().contains("`score`"), "{e}");
    let e = Dataset::from_f64(s.clone(), &[vec![f64::NAN, 0.0]]).unwrap_err();
    assert!(matches!(e, DataError::NotFinite { .. }), "{e}");
    let e = Dataset::from_decimals(s.clone(), &[vec![d("1"), d("-10.5")]]).unwrap_err();
    assert!(matches!(e, DataError::OutOfRange { .. }), "{e}");
    let other = Schema::new("other", s.columns.clone()).unwrap();
    let q = plan(&other, "SELECT count(*) FROM other").unwrap();
    let e = evaluate(&q, &data(&[(1.0, 1.0)])).unwrap_err();
    assert!(matches!(e, DataError::WrongDataset { .. }), "{e}");
}

#[test]
fn ranks_and_sorted_columns() {
    use triad_stats::{ContPosition, cont_position, disc_rank};
    assert_eq!(disc_rank(d("0.28"), 25), Some(6));
    assert_eq!(disc_rank(d("0"), 5), Some(0));
    assert_eq!(disc_rank(d("1"), 5), Some(4));
    assert_eq!(disc_rank(d("0.5"), 0), None);
    assert_eq!(disc_rank(d("1.01"), 5), None);
    assert_eq!(cont_position(d("0.5"), 4), Some(ContPosition { lo: 1, hi: 2, num: 5, den: 10 }));
    assert_eq!(cont_position(d("0.25"), 5), Some(ContPosition { lo: 1, hi: 1, num: 0, den: 100 }));
    assert_eq!(cont_position(d("-0.1"), 5), None);
    let q = plan(
        &people(),
        "SELECT median(score), max(score), min(age), avg(age), gini(age), \
         percentile_disc(0.1) WITHIN GROUP (ORDER BY score) FROM people",
    )
    .unwrap();
    assert_eq!(q.sorted_columns(), vec![X, Y]);
    let q = plan(&people(), "SELECT avg(age), corr(age, score) FROM people").unwrap();
    assert!(q.sorted_columns().is_empty());
}

proptest! {
    /// percentile_disc returns a member whose cumulative distribution reaches p, and the one before does not.
    #[test]
    fn percentile_disc_is_first_reaching_p(xs in prop::collection::vec(-1000i32..1000, 1..40), pm in 0u32..=1000) {
        let xs: Vec<f64> = xs.into_iter().map(f64::from).collect();
        let p = format!("{}.{:03}", pm / 1000, pm % 1000);
        let got = agg1(&pct(PercentileKind::Disc, &p), &xs).unwrap();
        let pf: f64 = p.parse().unwrap();
        let n = xs.len() as f64;
        let below = xs.iter().filter(|x| **x < got).count() as f64;
        let upto = xs.iter().filter(|x| **x <= got).count() as f64;
        prop_assert!(upto / n >= pf - 1e-12);
        prop_assert!(below / n < pf || below == 0.0);
    }

    /// percentile_cont lies between min and max, is monotone in p and equals percentile_disc at the ends.
    #[test]
    fn percentile_cont_bounds(xs in prop::collection::vec(-1000i32..1000, 1..40), a in 0u32..=100, b in 0u32..=100) {
        let xs: Vec<f64> = xs.into_iter().map(f64::from).collect();
        let (lo, hi) = (a.min(b), a.max(b));
        let at = |p: u32| agg1(&pct(PercentileKind::Cont, &format!("{}", f64::from(p) / 100.0)), &xs).unwrap();
        let (min, max) = (agg1(&u(UnaryAgg::Min), &xs).unwrap(), agg1(&u(UnaryAgg::Max), &xs).unwrap());
        prop_assert!(min <= at(lo) && at(lo) <= at(hi) + 1e-9 && at(hi) <= max);
        prop_assert_eq!(at(0), min);
        prop_assert_eq!(at(100), max);
    }

    /// Moments agree with the textbook one-pass formulas; gini is in [0, 1).
    #[test]
    fn moments(xs in prop::collection::vec(0i32..10_000, 2..50)) {
        let xs: Vec<f64> = xs.into_iter().map(f64::from).collect();
        let n = xs.len() as f64;
        let s: f64 = xs.iter().sum();
        let s2: f64 = xs.iter().map(|x| x * x).sum();
        close(agg1(&u(UnaryAgg::VarPop), &xs), Some((s2 - s * s / n) / n), "var_pop");
        close(agg1(&u(UnaryAgg::VarSamp), &xs), Some((s2 - s * s / n) / (n - 1.0)), "var_samp");
        if let Some(g) = agg1(&u(UnaryAgg::Gini), &xs) {
            prop_assert!((0.0..1.0).contains(&g), "gini {}", g);
        } else {
            prop_assert_eq!(s, 0.0);
        }
        // the bucket of every row, summed over groups, is the whole table
        let ds = Dataset::from_f64(people(), &xs.iter().map(|x| vec![(x / 100.0).floor().min(120.0), 0.0]).collect::<Vec<_>>()).unwrap();
        let q = plan(&people(), "SELECT count(*) FROM people GROUP BY width_bucket(age, ARRAY[10, 50, 90])").unwrap();
        let t = evaluate(&q, &ds).unwrap();
        prop_assert_eq!(t.groups.iter().map(|g| g.rows).sum::<usize>(), xs.len());
    }
}

proptest! {
    /// WHERE, GROUP BY and min_cohort against a direct integer computation, on random datasets with sizes
    /// around min_cohort.
    #[test]
    fn filter_and_buckets_match_integer_arithmetic(
        rows in prop::collection::vec((0i64..=120, -100i64..=100), 0..30),
        c1 in -300i64..300,
        c2 in 0i64..120,
        w in 0i64..60,
        e1 in 0i64..60,
        gap in 1i64..60,
        min_cohort in 1u64..12,
        pick in any::<prop::sample::Index>(),
        on_edge in any::<bool>(),
    ) {
        // Put the constants on a row's value half of the time, so ties at the comparison edges occur.
        let (c1, c2) = match (on_edge, rows.is_empty()) {
            (true, false) => {
                let (a, s) = rows[pick.index(rows.len())];
                (20 * a - s, a)
            }
            _ => (c1, c2),
        };
        let schema = people().with_min_cohort(min_cohort).unwrap();
        let ds = Dataset::from_decimals(
            schema.clone(),
            &rows.iter().map(|(a, s)| vec![Decimal::int(i128::from(*a)), Decimal { units: i128::from(*s), scale: 1 }]).collect::<Vec<_>>(),
        ).unwrap();
        let (c3, e2) = (c2 + w, e1 + gap);
        let sql = format!(
            "SELECT width_bucket(age, ARRAY[{e1}, {e2}]) AS b, count(*) AS n, sum(age) AS s, max(score) AS m \
             FROM people WHERE age * 2 - score * 10 / 10 > {c1} / 10 OR age BETWEEN {c2} AND {c3} \
             GROUP BY width_bucket(age, ARRAY[{e1}, {e2}])"
        );
        let q = plan(&schema, &sql).unwrap();
        let t = evaluate(&q, &ds).unwrap();
        // score tenths s: age*2 - s/10 > c1/10  <=>  20*age - s > c1
        let pass = |a: i64, s: i64| 20 * a - s > c1 || (c2 <= a && a <= c3);
        let bucket = |a: i64| usize::from(a >= e1) + usize::from(a >= e2);
        let mut want = [(0usize, 0i64, None::<i64>); 3];
        for &(a, s) in &rows {
            if pass(a, s) {
                let g = &mut want[bucket(a)];
                g.0 += 1;
                g.1 += a;
                g.2 = Some(g.2.map_or(s, |m| m.max(s)));
            }
        }
        prop_assert_eq!(t.groups.len(), 3);
        for (b, (g, (n, s, m))) in t.groups.iter().zip(want).enumerate() {
            prop_assert_eq!(g.bucket, Some(b));
            prop_assert_eq!(g.rows, n);
            prop_assert_eq!(g.values[0], Some(b as f64));
            prop_assert_eq!(g.values[1], Some(n as f64));
            prop_assert_eq!(g.values[2], (n > 0).then_some(s as f64));
            prop_assert_eq!(g.values[3], m.map(|m| m as f64 / 10.0));
        }
        let below: Vec<Option<usize>> = (0..3).filter(|b| (want[*b].0 as u64) < min_cohort).map(Some).collect();
        prop_assert_eq!(t.below_cohort(min_cohort), below);
    }
}
