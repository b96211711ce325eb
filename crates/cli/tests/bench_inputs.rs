//! `triad bench inputs --n 1 --json`: three party processes over localhost TLS check one
//! contribution per algorithm and print one JSON line per case.

use std::process::Command;

#[test]
fn bench_inputs_prints_a_json_line_per_case() {
    let out = Command::new(env!("CARGO_BIN_EXE_triad"))
        .args(["bench", "inputs", "--n", "1", "--json", "--timeout-secs", "600"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let cases: Vec<&str> = lines.iter().map(|l| l["case"].as_str().expect("case")).collect();
    assert_eq!(cases, ["blake3", "sha256"]);
    for l in &lines {
        assert_eq!(l["suite"], "inputs");
        assert_eq!(l["n"], 1);
        assert!(l["secs"].as_f64().expect("secs") > 0.0);
        assert!(l["bytes_per_party"].as_u64().expect("bytes") > 1000, "{l}");
        assert!(l["rounds"].as_u64().expect("rounds") > 1000, "{l}");
        assert!(l["ands_per_contribution"].as_f64().expect("ANDs") > 5000.0, "{l}");
    }
}
