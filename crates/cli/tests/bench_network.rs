//! `triad bench network` on a tiny network (embedded backend): both cases print a checked row
//! with the common fields of every suite, and the ingest's CPU on stderr.

use std::process::Command;

#[test]
fn bench_network_rows_are_checked() {
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["bench", "network", "--backend", "embedded", "--n", "40", "--json"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let cases: Vec<&str> = rows.iter().filter_map(|r| r["case"].as_str()).collect();
    assert_eq!(cases, ["ingest", "query_mean_median"], "{rows:?}");
    for r in &rows {
        assert_eq!(r["suite"], "network", "{r}");
        assert_eq!(r["backend"], "embedded", "{r}");
        assert_eq!(r["n"], 40, "{r}");
        assert_eq!(r["checked"], true, "{r}");
        assert!(r["secs"].as_f64().expect("secs") > 0.0, "{r}");
        assert!(r["cores"].as_u64().expect("cores") >= 1, "{r}");
    }
    // The machine's state before the clock, and the CPU the ingest cost (read from /proc).
    assert!(stderr.contains("embedded: the machine before the clock: a thread hand-off round trip takes "), "{stderr}");
    if cfg!(target_os = "linux") {
        assert!(stderr.contains("embedded: the machine's CPU while ingesting: "), "{stderr}");
        assert!(stderr.contains(" ms per contribution"), "{stderr}");
    }
}
