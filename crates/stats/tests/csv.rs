//! CSV datasets: parsing, schema inference, checking against a given schema, and rejections that
//! name the line, the field and the column.

use triad_stats::csv::{CsvError, infer, load};
use triad_stats::{Column, Decimal, Schema};

fn d(s: &str) -> Decimal {
    Decimal::parse(s).expect("a decimal")
}

fn schema() -> Schema {
    Schema::new("balances", vec![Column::new("income", d("0"), d("1000"), 2), Column::new("age", d("18"), d("120"), 0)])
        .expect("a valid schema")
}

fn message(e: &CsvError) -> String {
    e.to_string()
}

#[test]
fn infers_names_precision_and_rounded_ranges() {
    let text = "\u{feff}Income, age ,delta\r\n12.50,34,-0.25\n\n 873.1 ,\"56\",3\n0.034,18,-12\n";
    let l = infer(text, "balances").expect("infers");
    let s = &l.schema;
    assert_eq!(s.dataset, "balances");
    assert_eq!(s.min_cohort, 10);
    let cols: Vec<(&str, String, String, u32)> =
        s.columns.iter().map(|c| (c.name.as_str(), c.min.to_string(), c.max.to_string(), c.decimals)).collect();
    assert_eq!(
        cols,
        vec![
            ("income", "0.03".to_owned(), "900".to_owned(), 3),
            ("age", "10".to_owned(), "60".to_owned(), 0),
            ("delta", "-20".to_owned(), "3".to_owned(), 2),
        ]
    );
    assert_eq!(l.rows.len(), 3);
    assert_eq!(l.rows[1], vec![d("873.1"), d("56"), d("3")]);
    assert_eq!(l.column_units(0), vec![12_500, 873_100, 34]);
    assert_eq!(l.column_units(2), vec![(-25i64) as u64, 300, (-1200i64) as u64]);
    // The rows are private: Debug shows their number only.
    let dbg = format!("{l:?}");
    assert!(dbg.contains("rows: 3") && !dbg.contains("873"), "{dbg}");
}

#[test]
fn loads_against_a_schema_in_schema_order_ignoring_extra_columns() {
    let l = load("id,age,income\n7,30,10.5\n8,40,0\n", schema()).expect("loads");
    assert_eq!(l.rows, vec![vec![d("10.5"), d("30")], vec![d("0"), d("40")]]);
    assert_eq!(l.column_units(0), vec![1050, 0]);
}

#[test]
fn rejections_name_the_line_field_and_column() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("", vec!["empty", "header row"]),
        ("income,age\n", vec!["no data rows"]),
        ("income,ag-e\n1,20\n", vec!["line 1, field 2", "`ag-e`", "SQL identifier"]),
        ("income,Income\n1,2\n", vec!["line 1, field 2", "`income` appears twice"]),
        ("income\n1\n", vec!["line 1", "no column `age`", "header has: income"]),
        ("income,age\n1,20\n2,30,4\n", vec!["line 3", "3 fields", "header has 2"]),
        ("income,age\n1,20\n\n2\n", vec!["line 4", "1 fields", "header has 2"]),
        ("income,age\n1,20\nabc,30\n", vec!["line 3, field 1 (column `income`)", "`abc` is not a number"]),
        ("income,age\n1,20\n5,\n", vec!["line 3, field 2 (column `age`)", "empty value"]),
        (
            "income,age\n1,20\n1000.01,30\n",
            vec!["line 3, field 1 (column `income`)", "outside the declared range [0, 1000]"],
        ),
        ("age,income\n17,1\n", vec!["line 2, field 1 (column `age`)", "17 is outside", "[18, 120]"]),
        ("income,age\n1.005,20\n", vec!["line 2, field 1 (column `income`)", "more than the declared 2 digits"]),
        ("income,age\n\"1,20\n", vec!["line 2, field 1", "quoting"]),
    ];
    for (text, fragments) in cases {
        let e = load(text, schema()).expect_err(text);
        let m = message(&e);
        for f in fragments {
            assert!(m.contains(f), "{text:?}: {m:?} lacks {f:?}");
        }
    }
}

#[test]
fn inference_rejects_non_numbers_and_oversized_values() {
    let e = infer("a,b\n1,2\n3,x1\n", "t").expect_err("not a number");
    assert!(message(&e).contains("line 3, field 2 (column `b`): `x1` is not a number"), "{e}");
    let e = infer("a\n1.5\n99999999999999999999\n", "t").expect_err("too large");
    assert!(message(&e).contains("line 3, field 1 (column `a`)") && message(&e).contains("63 bits"), "{e}");
    let e = infer("a\n1\n", "my-data").expect_err("bad dataset name");
    assert!(message(&e).contains("dataset name `my-data`"), "{e}");
}
