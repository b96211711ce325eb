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
    assert_eq!(dumped.matches("ResultPublished").count(), 1, "{dumped}");
    assert_eq!(dumped.matches("ContributionAccepted").count(), 12, "{dumped}");
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
    assert_eq!(lines.len(), 2, "{lines:?}");

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
}
