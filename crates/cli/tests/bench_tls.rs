//! The benchmarks that run three party processes over localhost TLS, on tiny inputs:
//! `triad bench inputs` and `triad bench engine` print one JSON line per case with the
//! fields the issue names.

use std::process::Command;

fn json_lines(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_triad")).args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

#[test]
fn bench_engine_prints_a_json_line_per_case() {
    let lines = json_lines(&[
        "bench", "engine", "--cases", "mult,and,ltz,ltz-stock,trunc,sort,median", "--n", "100", "--json",
        "--timeout-secs", "600",
    ]);
    let cases: Vec<&str> = lines.iter().map(|l| l["case"].as_str().expect("case")).collect();
    assert_eq!(cases, ["mult", "and", "ltz", "trunc", "sort", "median", "ltz-stock"]);
    for l in &lines {
        assert_eq!(l["suite"], "engine");
        assert_eq!(l["n"], 100);
        assert!(l["secs"].as_f64().expect("secs") > 0.0);
        assert!(l["bytes_per_party"].as_u64().expect("bytes") > 100, "{l}");
        assert!(l["rounds"].as_u64().expect("rounds") > 1, "{l}");
    }
}

#[test]
fn bench_inputs_prints_a_json_line_per_case() {
    let lines = json_lines(&["bench", "inputs", "--n", "1", "--json", "--timeout-secs", "600"]);
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
