//! `triad stats --csv FILE --sql "..."`: bad CSV, bad schema files and bad queries are rejected
//! before any party starts, with the line, field and column (or the query's location) named;
//! EXPLAIN prints the plan; and (once the MPC executor lands) the three parties' answer equals the
//! plaintext reference. `triad bench stats` fails without a row when its checker is fed a spoiled
//! answer (once the executor lands).

use std::path::Path;
use std::process::{Command, Output};

fn triad(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("writes");
}

const BALANCES: &str = "income,age\n\
    1200.50,34\n310.25,51\n8800,29\n45.75,62\n990.10,41\n2300,38\n150.5,23\n610,45\n720.80,57\n3300.3,31\n\
    95,19\n4100,66\n";

/// A rejection: non-zero exit, nothing on stdout, every fragment on stderr, and no party started.
fn rejected(dir: &Path, args: &[&str], fragments: &[&str]) {
    let out = triad(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(out.stdout.is_empty(), "{args:?}: stdout {:?}", String::from_utf8_lossy(&out.stdout));
    for f in fragments {
        assert!(stderr.contains(f), "{args:?}: stderr lacks {f:?}:\n{stderr}");
    }
    assert!(!stderr.contains("party P"), "{args:?}: a party started:\n{stderr}");
}

#[test]
fn bad_csv_is_rejected_with_line_field_and_column_before_any_party_starts() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    let q = |ds: &str| format!("SELECT count(*) FROM {ds}");
    write(d, "notnum.csv", "income,age\n1,20\n2,x\n");
    rejected(
        d,
        &["stats", "--csv", "notnum.csv", "--sql", &q("notnum")],
        &["notnum.csv", "line 3, field 2 (column `age`): `x` is not a number"],
    );
    write(d, "short.csv", "income,age\n1,20\n2\n");
    rejected(d, &["stats", "--csv", "short.csv", "--sql", &q("short")], &["line 3: 1 fields, but the header has 2"]);
    write(
        d,
        "schema.json",
        r#"{"columns": [{"name": "income", "min": "0", "max": "5000", "decimals": 2}, {"name": "age", "min": 18, "max": 120, "decimals": 0}]}"#,
    );
    write(d, "range.csv", "age,income\n20,100\n17,5\n");
    rejected(
        d,
        &["stats", "--csv", "range.csv", "--schema", "schema.json", "--sql", &q("range")],
        &["line 3, field 1 (column `age`): 17 is outside the declared range [18, 120]"],
    );
    write(d, "missing.csv", "income\n20\n");
    rejected(
        d,
        &["stats", "--csv", "missing.csv", "--schema", "schema.json", "--sql", &q("missing")],
        &["no column `age`"],
    );
    write(d, "bad-name.csv", "a\n1\n");
    rejected(d, &["stats", "--csv", "bad-name.csv", "--sql", &q("bad_name")], &["rename the file", "bad_name.csv"]);
    write(d, "broken.json", r#"{"columns": [{"name": "income", "min": "zero", "max": "1", "decimals": 0}]}"#);
    rejected(
        d,
        &["stats", "--csv", "missing.csv", "--schema", "broken.json", "--sql", &q("missing")],
        &["column `income`: min", "`zero` is not a decimal number"],
    );
}

#[test]
fn bad_queries_are_rejected_and_explain_prints_the_plan() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    write(d, "balances.csv", BALANCES);
    rejected(
        d,
        &["stats", "--csv", "balances.csv", "--sql", "SELECT avg(salary) FROM balances"],
        &["unknown column `salary` at line 1, column 12", "has columns: income, age"],
    );
    rejected(
        d,
        &["stats", "--csv", "balances.csv", "--sql", "SELECT count(*) FROM other"],
        &["unknown dataset `other`"],
    );
    let out = triad(
        d,
        &[
            "stats",
            "--csv",
            "balances.csv",
            "--sql",
            "EXPLAIN SELECT median(income) AS m, count(*) FROM balances WHERE age >= 30",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in [
        "dataset balances (12 rows",
        "percentile_cont(0.5) of income",
        "filter: age >= 30",
        "multiplications",
        "reveals:",
        "one bit, opened first",
    ] {
        assert!(stdout.contains(f), "EXPLAIN lacks {f:?}:\n{stdout}");
    }
}

#[test]
fn stats_over_a_csv_matches_the_reference() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    write(d, "balances.csv", BALANCES);
    let sql = "SELECT count(*) AS n, sum(income), avg(income), min(age), max(age) FROM balances";
    let out = triad(d, &["stats", "--csv", "balances.csv", "--sql", sql, "--json", "--check"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("exactly one JSON object on stdout");
    assert_eq!(v["columns"], serde_json::json!(["n", "sum(income)", "avg(income)", "min(age)", "max(age)"]));
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], 12.0);
    for (got, want) in rows[0].as_array().expect("a row").iter().zip(v["reference"][0].as_array().expect("reference")) {
        let (g, w) = (got.as_f64().expect("a number"), want.as_f64().expect("a number"));
        assert!((g - w).abs() <= 1e-3 * w.abs() + 0.05, "{g} vs {w}");
    }
    let table = triad(d, &["stats", "--csv", "balances.csv", "--sql", sql]);
    assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.lines().next().is_some_and(|h| h.starts_with("n ")), "{text}");
    // The checker of `triad bench stats` rejects a spoiled answer: no row, non-zero exit.
    let bench = triad(d, &["bench", "stats", "--n", "1000", "--cases", "mean", "--json", "--corrupt-result"]);
    assert!(!bench.status.success() && bench.stdout.is_empty());
    assert!(String::from_utf8_lossy(&bench.stderr).contains("stats check failed: stats mean n=1000"));
}
