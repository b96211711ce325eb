//! `triad devnet`, the main job, on a small network: the whole flow through the real services
//! (coordinator and projector over gRPC, three parties over TLS, the development notary), in
//! one process on the embedded backend. Honest providers are accepted, cheaters are rejected
//! inside MPC, a second contribution of one account is refused at the door, published results
//! equal the plaintext reference over the honest balances, and a query over too few rows is
//! refused. The event logs stay in `--dir` and are read back.

use std::process::{Command, Output};

fn devnet(extra: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["devnet", "--providers", "12", "--cheaters", "2", "--min-cohort", "5", "--json", "--dir"])
        .arg(dir)
        .args(extra)
        .args(["--sql", "SELECT count(*), sum(balance), median(balance), max(balance) FROM eth_balance"])
        .args(["--sql", "SELECT count(*) FROM eth_balance WHERE balance >= 5000"])
        .args(["--sql", "SELECT sum(trades), max(trades), corr(balance, trades) FROM eth_balance"])
        .output()
        .expect("runs")
}

#[test]
fn devnet_runs_the_whole_flow() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = devnet(&[], dir.path());
    check_flow(&out);

    // The services' logs stay in --dir: the coordinator's holds the published result.
    let dump = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["events", "dump", "--service", "coordinator", "--sqlite"])
        .arg(dir.path().join("coordinator.sqlite"))
        .output()
        .expect("runs");
    let dumped = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    // Two of the three queries are answered; the third asks about too few rows.
    assert_eq!(dumped.matches("ResultPublished").count(), 2, "{dumped}");
    // A session's acceptances are one event, listing them.
    let accepted: usize = dumped
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event_type"] == "ContributionsAccepted")
        .map(|v| v["payload"]["contributionsAccepted"]["contributionIds"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(accepted, 12, "{dumped}");
    assert_eq!(dumped.matches("ContributionRejected").count(), 2, "{dumped}");
}

/// The same flow on PostgreSQL and NATS JetStream (a database per service and streams of a
/// fresh prefix, removed afterwards).
#[tokio::test]
async fn devnet_runs_on_postgres_and_jetstream() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = devnet(&["--backend", "distributed"], dir.path());
    check_flow(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let prefix = stderr
        .split("PostgreSQL databases ")
        .nth(1)
        .and_then(|rest| rest.split('_').next())
        .unwrap_or_else(|| panic!("no database prefix in {stderr}"));
    assert!(prefix.starts_with("devnet"), "{prefix}");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE $1")
        .bind(format!("{prefix}\\_%"))
        .fetch_one(&mut conn)
        .await
        .expect("counts");
    assert_eq!(left, 0, "the run's databases are dropped");
}

/// The same flow with one OS process per service (`triad-coordinator`, three `triad-party`,
/// `triad-projector`, which `cargo test --workspace` builds) on PostgreSQL + JetStream.
#[tokio::test]
async fn devnet_runs_as_processes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = devnet(&["--processes"], dir.path());
    check_flow(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("one process per service"), "{stderr}");
    let prefix = stderr
        .split("databases and streams of prefix ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no prefix in {stderr}"));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE $1")
        .bind(format!("%{prefix}%"))
        .fetch_one(&mut conn)
        .await
        .expect("counts");
    assert_eq!(left, 0, "the run's databases are dropped");
}

fn check_flow(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Progress on stderr: the cheaters (the last two accounts) rejected by the check in MPC.
    assert!(stderr.contains("intake in MPC: 12 accepted, 2 rejected"), "{stderr}");
    assert!(stderr.contains("rejected u-00012: value_mismatch"), "{stderr}");
    assert!(stderr.contains("rejected u-00013: value_mismatch"), "{stderr}");
    assert!(stderr.contains("1 duplicate account refused at the door"), "{stderr}");

    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");

    let stats = &lines[0];
    assert_eq!(stats["rows_in_snapshot"], 12, "{stats}");
    let row = stats["rows"][0].as_array().expect("one row");
    let reference = stats["reference"][0].as_array().expect("the reference row");
    // count, sum, median and max are exact in MPC (integer units, an exact selection).
    for (k, what) in ["count", "sum", "median", "max"].iter().enumerate() {
        let (got, want) = (row[k].as_f64().expect("a value"), reference[k].as_f64().expect("a value"));
        assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{what}: {got} vs {want} in {stats}");
    }
    assert_eq!(row[0].as_f64(), Some(12.0), "{stats}");

    let refused = &lines[1];
    assert_eq!(refused["aborted"], "below_min_cohort", "{refused}");

    // The second value of each contribution (its trade count) is a column of its own.
    close_to_reference(&lines[2], &[1e-9, 1e-9, 1e-6]);
}

/// Asserts each value of a one-row JSON answer is within `tolerance[k]` (relative, at least 1)
/// of the plaintext reference beside it.
fn close_to_reference(answer: &serde_json::Value, tolerance: &[f64]) {
    let row = answer["rows"][0].as_array().unwrap_or_else(|| panic!("one row: {answer}"));
    let reference = answer["reference"][0].as_array().unwrap_or_else(|| panic!("a reference: {answer}"));
    assert_eq!(row.len(), tolerance.len(), "{answer}");
    for (k, t) in tolerance.iter().enumerate() {
        let (got, want) = (row[k].as_f64().expect("a value"), reference[k].as_f64().expect("a value"));
        assert!((got - want).abs() <= t * want.abs().max(1.0), "column {k}: {got} vs {want} in {answer}");
    }
}

/// `--data FILE.csv`: one provider per row, a proven value per column; the dataset is named
/// after the file, the cheaters lie about their last value, the results match the plaintext.
#[test]
fn devnet_takes_its_providers_from_a_csv_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let csv = dir.path().join("incomes.csv");
    let mut text = String::from("income,age\n");
    for i in 0..11u64 {
        text.push_str(&format!("{}.{:02},{}\n", 20_000 + i * 7_919 % 50_000, i * 37 % 100, 20 + i * 3));
    }
    std::fs::write(&csv, text).expect("writes");
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["devnet", "--cheaters", "1", "--min-cohort", "5", "--json", "--data"])
        .arg(&csv)
        .args(["--sql", "SELECT count(*), sum(income), median(income), avg(age), corr(income, age) FROM incomes"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("dataset incomes: columns `income` (0 to 99999.99), `age` (0 to 99)"), "{stderr}");
    assert!(stderr.contains("intake in MPC: 11 accepted, 1 rejected"), "{stderr}");
    assert!(stderr.contains("rejected u-00011: value_mismatch"), "{stderr}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["rows"][0][0].as_f64(), Some(11.0), "{}", lines[0]);
    close_to_reference(&lines[0], &[0.0, 1e-9, 1e-9, 1e-9, 1e-6]);

    // A value no provider can prove (a sign) is refused before anything starts, with its place.
    std::fs::write(&csv, "income,age\n100,30\n-5,40\n").expect("writes");
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["devnet", "--json", "--data"])
        .arg(&csv)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("row 2 (line 3), column `income`: -5 is negative"), "{stderr}");
}
