//! Parsing and checking: every supported form, and every error class names the problem.

use triad_stats::{
    Aggregate, BinaryAgg, Bucketing, CmpOp, Column, ColumnId, Decimal, Expr, OutputValue, PercentileKind, Predicate,
    QueryError, Schema, SchemaError, UnaryAgg, plan,
};

fn d(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

fn schema() -> Schema {
    Schema::new(
        "balances",
        vec![
            Column::new("income", d("0"), d("1000000"), 2),
            Column::new("age", d("18"), d("120"), 0),
            Column::new("score", d("-10"), d("10"), 1),
            Column::new("rating", d("1"), d("5"), 0),
        ],
    )
    .unwrap()
}

const INCOME: ColumnId = ColumnId(0);
const AGE: ColumnId = ColumnId(1);
const SCORE: ColumnId = ColumnId(2);
const RATING: ColumnId = ColumnId(3);

fn one(sql: &str) -> Aggregate {
    let q = plan(&schema(), sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(q.aggregates.len(), 1, "{sql}");
    q.aggregates[0].clone()
}

#[test]
fn every_aggregate_form() {
    let p = |kind, p: &str, column| Aggregate::Percentile { kind, p: d(p), column };
    let cases: Vec<(&str, Aggregate)> = vec![
        ("SELECT count(*) FROM balances", Aggregate::Count),
        ("SELECT count(age) FROM balances", Aggregate::Count),
        ("SELECT sum(income) FROM balances", Aggregate::Unary(UnaryAgg::Sum, INCOME)),
        ("SELECT avg(age) FROM balances", Aggregate::Unary(UnaryAgg::Avg, AGE)),
        ("SELECT min(score) FROM balances", Aggregate::Unary(UnaryAgg::Min, SCORE)),
        ("SELECT MAX(Score) FROM balances", Aggregate::Unary(UnaryAgg::Max, SCORE)),
        ("SELECT var_pop(age) FROM balances", Aggregate::Unary(UnaryAgg::VarPop, AGE)),
        ("SELECT var_samp(age) FROM balances", Aggregate::Unary(UnaryAgg::VarSamp, AGE)),
        ("SELECT variance(age) FROM balances", Aggregate::Unary(UnaryAgg::VarSamp, AGE)),
        ("SELECT stddev_pop(age) FROM balances", Aggregate::Unary(UnaryAgg::StddevPop, AGE)),
        ("SELECT stddev_samp(age) FROM balances", Aggregate::Unary(UnaryAgg::StddevSamp, AGE)),
        ("SELECT stddev(age) FROM balances", Aggregate::Unary(UnaryAgg::StddevSamp, AGE)),
        ("SELECT geometric_mean(age) FROM balances", Aggregate::Unary(UnaryAgg::GeometricMean, AGE)),
        ("SELECT harmonic_mean(rating) FROM balances", Aggregate::Unary(UnaryAgg::HarmonicMean, RATING)),
        ("SELECT gini(income) FROM balances", Aggregate::Unary(UnaryAgg::Gini, INCOME)),
        ("SELECT median(income) FROM balances", p(PercentileKind::Cont, "0.5", INCOME)),
        (
            "SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY income) FROM balances",
            p(PercentileKind::Cont, "0.9", INCOME),
        ),
        (
            "SELECT percentile_disc(0.25) WITHIN GROUP (ORDER BY age ASC) FROM balances",
            p(PercentileKind::Disc, "0.25", AGE),
        ),
        ("SELECT percentile_disc(1) WITHIN GROUP (ORDER BY age) FROM balances", p(PercentileKind::Disc, "1", AGE)),
        ("SELECT percentile_cont(0) WITHIN GROUP (ORDER BY age) FROM balances", p(PercentileKind::Cont, "0", AGE)),
        ("SELECT mode() WITHIN GROUP (ORDER BY rating) FROM balances", Aggregate::Mode(RATING)),
        ("SELECT covar_pop(income, age) FROM balances", Aggregate::Binary(BinaryAgg::CovarPop, INCOME, AGE)),
        ("SELECT covar_samp(income, age) FROM balances", Aggregate::Binary(BinaryAgg::CovarSamp, INCOME, AGE)),
        ("SELECT corr(income, age) FROM balances", Aggregate::Binary(BinaryAgg::Corr, INCOME, AGE)),
        ("SELECT regr_slope(income, age) FROM balances", Aggregate::Binary(BinaryAgg::RegrSlope, INCOME, AGE)),
        ("SELECT regr_intercept(age, income) FROM balances", Aggregate::Binary(BinaryAgg::RegrIntercept, AGE, INCOME)),
        ("SELECT regr_r2(income, age) FROM balances", Aggregate::Binary(BinaryAgg::RegrR2, INCOME, AGE)),
        ("SELECT regr_count(income, age) FROM balances", Aggregate::Binary(BinaryAgg::RegrCount, INCOME, AGE)),
        ("SELECT sum(balances.income) FROM balances", Aggregate::Unary(UnaryAgg::Sum, INCOME)),
        ("SELECT sum(b.income) FROM balances AS b", Aggregate::Unary(UnaryAgg::Sum, INCOME)),
        ("SELECT sum(\"income\") FROM \"balances\";", Aggregate::Unary(UnaryAgg::Sum, INCOME)),
    ];
    for (sql, want) in cases {
        assert_eq!(one(sql), want, "{sql}");
    }
}

#[test]
fn labels_aliases_and_shared_aggregates() {
    let q = plan(&schema(), "SELECT count(*) AS n, avg(age), count(*) AS n2, Median(income) m FROM balances").unwrap();
    let labels: Vec<&str> = q.outputs.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, ["n", "avg(age)", "n2", "m"]);
    // count(*) twice is one aggregate.
    assert_eq!(q.aggregates.len(), 3);
    assert_eq!(q.outputs[2].value, OutputValue::Aggregate(0));
    assert!(q.filter.is_none() && q.group_by.is_none());
    assert_eq!(q.dataset, "balances");
}

#[test]
fn where_forms() {
    let col = |c| Expr::Column(c);
    let k = |s| Expr::Const(d(s));
    let cmp = |a, op, b| Predicate::Compare(a, op, b);
    let cases: Vec<(&str, Predicate)> = vec![
        ("age > 30", cmp(col(AGE), CmpOp::Gt, k("30"))),
        ("30 <= age", cmp(k("30"), CmpOp::Le, col(AGE))),
        ("age = 30", cmp(col(AGE), CmpOp::Eq, k("30"))),
        ("age <> 30", cmp(col(AGE), CmpOp::Ne, k("30"))),
        ("age != 30", cmp(col(AGE), CmpOp::Ne, k("30"))),
        ("age < rating", cmp(col(AGE), CmpOp::Lt, col(RATING))),
        ("score >= -1.5", cmp(col(SCORE), CmpOp::Ge, k("-1.5"))),
        (
            "age BETWEEN 20 AND 30",
            Predicate::And(Box::new(cmp(col(AGE), CmpOp::Ge, k("20"))), Box::new(cmp(col(AGE), CmpOp::Le, k("30")))),
        ),
        (
            "age NOT BETWEEN 20 AND 30",
            Predicate::Not(Box::new(Predicate::And(
                Box::new(cmp(col(AGE), CmpOp::Ge, k("20"))),
                Box::new(cmp(col(AGE), CmpOp::Le, k("30"))),
            ))),
        ),
        (
            "age > 1 AND (rating < 2 OR NOT score = 0)",
            Predicate::And(
                Box::new(cmp(col(AGE), CmpOp::Gt, k("1"))),
                Box::new(Predicate::Or(
                    Box::new(cmp(col(RATING), CmpOp::Lt, k("2"))),
                    Box::new(Predicate::Not(Box::new(cmp(col(SCORE), CmpOp::Eq, k("0"))))),
                )),
            ),
        ),
        (
            "income / 12 - age * 2 + -score > 0",
            cmp(
                Expr::Add(
                    Box::new(Expr::Sub(
                        Box::new(Expr::Div(Box::new(col(INCOME)), d("12"))),
                        Box::new(Expr::Mul(Box::new(col(AGE)), Box::new(k("2")))),
                    )),
                    Box::new(Expr::Neg(Box::new(col(SCORE)))),
                ),
                CmpOp::Gt,
                k("0"),
            ),
        ),
        ("TRUE", Predicate::Const(true)),
    ];
    for (w, want) in cases {
        let sql = format!("SELECT count(*) FROM balances WHERE {w}");
        let q = plan(&schema(), &sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(q.filter, Some(want), "{sql}");
    }
}

#[test]
fn group_by_width_bucket() {
    let q = plan(
        &schema(),
        "SELECT width_bucket(age, ARRAY[30, 40, 50.5]) AS bucket, count(*) FROM balances \
         GROUP BY width_bucket(age, ARRAY[30, 40, 50.5])",
    )
    .unwrap();
    let b = Bucketing { column: AGE, edges: vec![d("30"), d("40"), d("50.5")] };
    assert_eq!(q.group_by, Some(b.clone()));
    assert_eq!(q.outputs[0].value, OutputValue::Bucket);
    assert_eq!(q.outputs[0].label, "bucket");
    assert_eq!(b.buckets(), 4);
    // PostgreSQL: 0 below the first edge, i for edges[i-1] <= v < edges[i], len at or above the last.
    for (v, want) in [("17", 0), ("29.9", 0), ("30", 1), ("39", 1), ("40", 2), ("50.4", 2), ("50.5", 3), ("99", 3)] {
        assert_eq!(b.bucket_of(d(v)), want, "{v}");
    }
    // Without the label, and with negative edges.
    let q = plan(&schema(), "SELECT avg(age) FROM balances GROUP BY width_bucket(score, ARRAY[-5, 0])").unwrap();
    assert_eq!(q.group_by.unwrap().edges, vec![d("-5"), d("0")]);
}

/// Checks that planning fails with the expected variant and a message containing every fragment.
fn fails(sql: &str, matches: fn(&QueryError) -> bool, fragments: &[&str]) {
    let e = match plan(&schema(), sql) {
        Ok(q) => panic!("{sql}: planned {q:?}"),
        Err(e) => e,
    };
    assert!(matches(&e), "{sql}: wrong variant {e:?}");
    let msg = e.to_string();
    for f in fragments {
        assert!(msg.contains(f), "{sql}: message {msg:?} lacks {f:?}");
    }
}

#[test]
fn errors_name_the_problem() {
    use QueryError as E;
    type Case = (&'static str, fn(&QueryError) -> bool, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        ("SELEC count(*) FROM balances", |e| matches!(e, E::Parse(_)), vec!["syntax", "SELEC"]),
        ("", |e| matches!(e, E::StatementCount(0)), vec!["found 0"]),
        ("SELECT count(*) FROM balances; SELECT 1", |e| matches!(e, E::StatementCount(2)), vec!["found 2"]),
        ("DELETE FROM balances", |e| matches!(e, E::Unsupported { .. }), vec!["DELETE", "SELECT"]),
        (
            "SELECT count(*) FROM people",
            |e| matches!(e, E::UnknownDataset { .. }),
            vec!["`people`", "line 1, column 22", "balances"],
        ),
        ("SELECT count(*) FROM public.balances", |e| matches!(e, E::Unsupported { .. }), vec!["public.balances"]),
        (
            "SELECT sum(salary) FROM balances",
            |e| matches!(e, E::UnknownColumn { .. }),
            vec!["`salary`", "line 1, column 12", "income, age, score, rating"],
        ),
        (
            "SELECT count(*) FROM balances\nWHERE  wage > 3",
            |e| matches!(e, E::UnknownColumn { .. }),
            vec!["`wage`", "line 2, column 8"],
        ),
        ("SELECT sum(x.age) FROM balances", |e| matches!(e, E::UnknownDataset { .. }), vec!["`x`"]),
        (
            "SELECT frobnicate(age) FROM balances",
            |e| matches!(e, E::UnknownFunction { .. }),
            vec!["frobnicate", "percentile_cont"],
        ),
        (
            "SELECT count(*) FROM balances WHERE age + 1",
            |e| matches!(e, E::Type { .. }),
            vec!["expected a condition", "age + 1"],
        ),
        ("SELECT count(*) FROM balances WHERE age", |e| matches!(e, E::Type { .. }), vec!["found a number"]),
        (
            "SELECT count(*) FROM balances WHERE (age > 1) + 2 > 0",
            |e| matches!(e, E::Type { .. }),
            vec!["expected a number", "found a condition"],
        ),
        ("SELECT count(*) FROM balances WHERE age > 'x'", |e| matches!(e, E::Type { .. }), vec!["non-numeric"]),
        ("SELECT sum(age > 3) FROM balances", |e| matches!(e, E::Type { .. }), vec!["expected a column", "age > 3"]),
        (
            "SELECT sum(age * 2) FROM balances",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["argument", "age * 2", "column"],
        ),
        ("SELECT sum(age, score) FROM balances", |e| matches!(e, E::Arguments { .. }), vec!["`sum`", "one column"]),
        ("SELECT corr(age) FROM balances", |e| matches!(e, E::Arguments { .. }), vec!["`corr`", "two columns"]),
        ("SELECT count(*) FROM balances JOIN other ON true", |e| matches!(e, E::Unsupported { .. }), vec!["JOIN"]),
        ("SELECT count(*) FROM balances, other", |e| matches!(e, E::Unsupported { .. }), vec!["several tables"]),
        (
            "SELECT count(*) FROM (SELECT * FROM balances) t",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["subquery in FROM"],
        ),
        (
            "SELECT count(*) FROM balances WHERE age > (SELECT 1)",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["subquery"],
        ),
        (
            "SELECT count(*) FROM balances ORDER BY 1",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["ORDER BY", "ORDER BY 1"],
        ),
        ("SELECT count(*) FROM balances LIMIT 5", |e| matches!(e, E::Unsupported { .. }), vec!["LIMIT"]),
        ("WITH t AS (SELECT 1) SELECT count(*) FROM balances", |e| matches!(e, E::Unsupported { .. }), vec!["WITH"]),
        (
            "SELECT count(*) FROM balances UNION SELECT count(*) FROM balances",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["UNION"],
        ),
        ("SELECT DISTINCT count(*) FROM balances", |e| matches!(e, E::Unsupported { .. }), vec!["DISTINCT"]),
        ("SELECT count(DISTINCT age) FROM balances", |e| matches!(e, E::Unsupported { .. }), vec!["DISTINCT inside"]),
        ("SELECT count(*) FROM balances HAVING count(*) > 1", |e| matches!(e, E::Unsupported { .. }), vec!["HAVING"]),
        ("SELECT sum(age) OVER () FROM balances", |e| matches!(e, E::Unsupported { .. }), vec!["window function"]),
        (
            "SELECT sum(age) FILTER (WHERE age > 3) FROM balances",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["FILTER", "WHERE"],
        ),
        ("SELECT * FROM balances", |e| matches!(e, E::Unsupported { .. }), vec!["`*`"]),
        ("SELECT age FROM balances", |e| matches!(e, E::NotAggregated { .. }), vec!["`age`", "sum(age)"]),
        (
            "SELECT sum(age) / 2 FROM balances",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["arithmetic in the select list"],
        ),
        (
            "SELECT count(*) FROM balances WHERE sum(age) > 3",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["aggregate in WHERE"],
        ),
        ("SELECT count(*) FROM balances WHERE abs(age) > 3", |e| matches!(e, E::UnknownFunction { .. }), vec!["`abs`"]),
        ("SELECT count(*) FROM balances WHERE age IN (1, 2)", |e| matches!(e, E::Unsupported { .. }), vec!["IN"]),
        (
            "SELECT count(*) FROM balances WHERE age IS NULL",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["IS [NOT] NULL"],
        ),
        ("SELECT count(*) FROM balances WHERE age % 2 = 0", |e| matches!(e, E::Unsupported { .. }), vec!["%"]),
        (
            "SELECT count(*) FROM balances WHERE income / age > 3",
            |e| matches!(e, E::NonConstantDivisor { .. }),
            vec!["non-constant", "`age`"],
        ),
        (
            "SELECT count(*) FROM balances WHERE income / 0 > 3",
            |e| matches!(e, E::DivisionByZero { .. }),
            vec!["zero", "`0`"],
        ),
        (
            "SELECT percentile_cont(1.5) WITHIN GROUP (ORDER BY age) FROM balances",
            |e| matches!(e, E::PercentileRange { .. }),
            vec!["1.5", "[0, 1]"],
        ),
        (
            "SELECT percentile_disc(-0.1) WITHIN GROUP (ORDER BY age) FROM balances",
            |e| matches!(e, E::PercentileRange { .. }),
            vec!["-0.1"],
        ),
        (
            "SELECT percentile_cont(age) WITHIN GROUP (ORDER BY age) FROM balances",
            |e| matches!(e, E::Arguments { .. }),
            vec!["constant fraction"],
        ),
        ("SELECT percentile_cont(0.5) FROM balances", |e| matches!(e, E::Arguments { .. }), vec!["WITHIN GROUP"]),
        (
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY age DESC) FROM balances",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["DESC", "1 - p"],
        ),
        (
            "SELECT sum(age) WITHIN GROUP (ORDER BY age) FROM balances",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["WITHIN GROUP"],
        ),
        (
            "SELECT mode() WITHIN GROUP (ORDER BY income) FROM balances",
            |e| matches!(e, E::ModeDomain { .. }),
            vec!["income", "100000001 possible values", "4096"],
        ),
        (
            "SELECT geometric_mean(score) FROM balances",
            |e| matches!(e, E::ColumnDomain { .. }),
            vec!["score", "> 0", "-10"],
        ),
        ("SELECT harmonic_mean(income) FROM balances", |e| matches!(e, E::ColumnDomain { .. }), vec!["income", "> 0"]),
        ("SELECT gini(score) FROM balances", |e| matches!(e, E::ColumnDomain { .. }), vec!["gini", ">= 0"]),
        (
            "SELECT count(*) FROM balances GROUP BY age",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["raw column", "width_bucket"],
        ),
        (
            "SELECT count(*) FROM balances GROUP BY width_bucket(age, ARRAY[30, 20])",
            |e| matches!(e, E::BadEdges { .. }),
            vec!["strictly increasing", "`20`"],
        ),
        (
            "SELECT count(*) FROM balances GROUP BY width_bucket(age, ARRAY[30, score])",
            |e| matches!(e, E::BadEdges { .. }),
            vec!["numeric constants", "`score`"],
        ),
        (
            "SELECT count(*) FROM balances GROUP BY width_bucket(age, ARRAY[])",
            |e| matches!(e, E::BadEdges { .. }),
            vec!["at least one"],
        ),
        (
            "SELECT count(*) FROM balances GROUP BY width_bucket(age, 0, 100, 10)",
            |e| matches!(e, E::Arguments { .. }),
            vec!["4-argument"],
        ),
        (
            "SELECT count(*) FROM balances GROUP BY width_bucket(age + 1, ARRAY[3])",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["computed"],
        ),
        (
            "SELECT count(*) FROM balances GROUP BY width_bucket(age, ARRAY[3]), width_bucket(score, ARRAY[3])",
            |e| matches!(e, E::Unsupported { .. }),
            vec!["several"],
        ),
        (
            "SELECT width_bucket(age, ARRAY[4]), count(*) FROM balances GROUP BY width_bucket(age, ARRAY[3])",
            |e| matches!(e, E::BucketMismatch { .. }),
            vec!["GROUP BY", "ARRAY[3]"],
        ),
        (
            "SELECT width_bucket(age, ARRAY[4]), count(*) FROM balances",
            |e| matches!(e, E::BucketMismatch { .. }),
            vec!["add GROUP BY"],
        ),
        (
            "SELECT width_bucket(age, ARRAY[4]) FROM balances GROUP BY width_bucket(age, ARRAY[4])",
            |e| matches!(e, E::NoAggregates),
            vec!["no aggregate"],
        ),
        ("SELECT count(*) AS n, sum(age) AS n FROM balances", |e| matches!(e, E::DuplicateLabel(_)), vec!["`n`"]),
        ("SELECT count(*) FROM balances WHERE age > 1e99", |e| matches!(e, E::BadNumber { .. }), vec!["1e99"]),
        ("SELECT sum(sum(age)) FROM balances", |e| matches!(e, E::Unsupported { .. }), vec!["nested aggregate"]),
    ];
    for (sql, m, fragments) in cases {
        fails(sql, m, &fragments);
    }
}

#[test]
fn schema_validation() {
    let c = |n: &str, lo: &str, hi: &str, dec| Column::new(n, d(lo), d(hi), dec);
    type Case = (&'static str, Vec<Column>, fn(&SchemaError) -> bool, &'static str);
    let cases: Vec<Case> = vec![
        ("Bad-Name", vec![c("a", "0", "1", 0)], |e| matches!(e, SchemaError::BadName { .. }), "Bad-Name"),
        ("ds", vec![], |e| matches!(e, SchemaError::NoColumns(_)), "no columns"),
        ("ds", vec![c("1a", "0", "1", 0)], |e| matches!(e, SchemaError::BadName { .. }), "`1a`"),
        (
            "ds",
            vec![c("a", "0", "1", 0), c("a", "0", "2", 0)],
            |e| matches!(e, SchemaError::DuplicateColumn(_)),
            "twice",
        ),
        (
            "ds",
            vec![c("a", "2", "1", 0)],
            |e| matches!(e, SchemaError::EmptyRange { .. }),
            "min 2 is greater than max 1",
        ),
        ("ds", vec![c("a", "0", "1.25", 1)], |e| matches!(e, SchemaError::BoundPrecision { .. }), "1.25"),
        ("ds", vec![c("a", "0", "1", 19)], |e| matches!(e, SchemaError::TooPrecise { .. }), "19 decimals"),
        ("ds", vec![c("a", "0", "100000000000", 9)], |e| matches!(e, SchemaError::BoundTooLarge { .. }), "63 bits"),
    ];
    for (name, cols, m, frag) in cases {
        let e = Schema::new(name, cols).unwrap_err();
        assert!(m(&e), "{e:?}");
        assert!(e.to_string().contains(frag), "{e} lacks {frag}");
    }
    let s = Schema::new("ds", vec![c("a", "-1.5", "1.5", 1)]).unwrap();
    assert_eq!(s.min_cohort, 10);
    assert_eq!(s.clone().with_min_cohort(0).unwrap_err(), SchemaError::ZeroCohort);
    assert_eq!(s.with_min_cohort(3).unwrap().min_cohort, 3);
}

#[test]
fn decimals_parse_exactly() {
    for (s, units, scale) in
        [("0", 0, 0), ("-1.50", -15, 1), (".5", 5, 1), ("5.", 5, 0), ("1e3", 1000, 0), ("1.5e-3", 15, 4), ("+7", 7, 0)]
    {
        assert_eq!(Decimal::parse(s).unwrap(), Decimal { units, scale }, "{s}");
    }
    for s in ["", "-", "1.2.3", "abc", "1e", "0.0000000000000000001", "1e40"] {
        assert!(Decimal::parse(s).is_err(), "{s}");
    }
    assert_eq!(d("-0.05").to_string(), "-0.05");
    assert!(d("0.1") < d("0.11") && d("-2") < d("-1.99"));
    // by value
    assert_eq!(Decimal { units: 150, scale: 2 }, d("1.5"));
    assert_ne!(Decimal { units: 151, scale: 2 }, d("1.5"));
    assert_eq!(Decimal { units: 150, scale: 2 }.normalized(), Decimal { units: 15, scale: 1 }.normalized());
}

#[test]
fn deep_or_long_queries_are_refused_not_overflowed() {
    // 60 levels pass; a long AND chain or sum is refused by depth, a huge text by length.
    let chain = vec!["age > 1"; 30].join(" AND ");
    assert!(plan(&schema(), &format!("SELECT count(*) FROM balances WHERE {chain}")).is_ok());
    for n in [100usize, 1_300] {
        let chain = vec!["age > 1"; n].join(" AND ");
        let e = plan(&schema(), &format!("SELECT count(*) FROM balances WHERE {chain}")).unwrap_err();
        assert!(matches!(e, QueryError::TooDeep { place: "WHERE", limit: 64 }), "{e:?}");
        let sum = vec!["age"; n].join(" + ");
        let e = plan(&schema(), &format!("SELECT sum(age) FROM balances GROUP BY width_bucket(age, ARRAY[{sum}])"))
            .unwrap_err();
        assert!(e.to_string().contains("GROUP BY is nested deeper than 64"), "{e}");
    }
    let nested = format!("{}age{}", "(".repeat(200), ")".repeat(200));
    assert!(plan(&schema(), &format!("SELECT sum({nested}) FROM balances")).is_err());
    let sum = vec!["age"; 10_000].join("+");
    let e = plan(&schema(), &format!("SELECT count(*) FROM balances WHERE {sum} > 1")).unwrap_err();
    assert!(matches!(e, QueryError::TooLong { limit: 16384, .. }), "{e:?}");
}

proptest::proptest! {
    /// Arbitrary text never panics the planner.
    #[test]
    fn arbitrary_text_never_panics(sql in "[ -~]{0,200}") {
        let _ = plan(&schema(), &sql);
    }

    /// Token soup from the subset's vocabulary never panics the planner.
    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(proptest::sample::select(vec![
        "SELECT", "FROM", "balances", "WHERE", "GROUP", "BY", "AND", "OR", "NOT", "BETWEEN", "(", ")", ",", "*",
        "+", "-", "/", "<", ">=", "=", "age", "income", "sum", "count", "percentile_cont", "WITHIN", "ORDER",
        "width_bucket", "ARRAY", "[", "]", "0.5", "1", "0", "-3", "AS", "x", "mode", "corr", "median",
    ]), 0..40)) {
        let sql = tokens.join(" ");
        let _ = plan(&schema(), &sql);
    }
}

#[test]
fn the_dataset_of_a_query_is_read_from_its_from_alone() {
    use triad_stats::dataset_of;
    assert_eq!(dataset_of("SELECT avg(x) FROM balances WHERE y > 3").unwrap(), "balances");
    assert_eq!(dataset_of("select count(*) from Balances as b").unwrap(), "balances");
    assert_eq!(dataset_of("SELECT count(*) FROM \"Mixed\"").unwrap(), "Mixed");
    // Whatever the rest says: the planner checks it against the dataset's schema.
    assert_eq!(dataset_of("SELECT no_such_fn(z) FROM other").unwrap(), "other");
    for (sql, says) in [
        ("SELECT 1", "without FROM"),
        ("SELECT count(*) FROM a JOIN b ON true", "JOIN"),
        ("SELECT count(*) FROM a, b", "several tables"),
        ("SELECT count(*) FROM (SELECT 1) AS t", "subquery in FROM"),
        ("SELECT count(*) FROM s.a", "qualified"),
        ("SELECT 1 FROM a UNION SELECT 1 FROM b", "query form"),
        ("INSERT INTO a VALUES (1)", "statement"),
        ("SELECT count(*) FROM a; SELECT count(*) FROM b", "statement"),
        ("SELEC count(*) FROM a", ""),
    ] {
        let err = dataset_of(sql).unwrap_err().to_string();
        assert!(err.contains(says), "{sql}: {err}");
    }
}
