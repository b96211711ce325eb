//! `triad bench eventlog` on the embedded backend (SQLite and the in-process bus, no
//! servers), tiny counts: every JSON row names its suite and carries the build's git
//! revision and the core count.

use std::process::Command;

#[test]
fn bench_eventlog_rows_carry_git_rev_and_cores() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["bench", "eventlog", "--backend", "embedded", "--n", "200", "--n-single", "10"])
        .args(["--n-latency", "20", "--rate", "1000", "--json"])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert!(lines.len() >= 3, "{lines:?}");
    for l in &lines {
        assert_eq!(l["suite"], "eventlog", "{l}");
        let rev = l["git_rev"].as_str().expect("git_rev is a string");
        assert!(rev == "unknown" || (rev.len() >= 4 && rev.chars().all(|c| c.is_ascii_hexdigit())), "{l}");
        assert!(l["cores"].as_u64().expect("cores is a number") >= 1, "{l}");
        assert!(l.get("checked").is_none(), "eventlog rows make no result check: {l}");
    }
}
