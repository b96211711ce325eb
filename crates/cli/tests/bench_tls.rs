//! The benchmarks that run three party processes over localhost TLS, on tiny inputs:
//! `triad bench inputs` and `triad bench engine` print one JSON line per case with the
//! fields the issue names (and `checked: true`: every result is checked outside the clock),
//! and a deliberately corrupted result fails the command without printing a figure.

use std::process::Command;

fn json_lines(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_triad")).args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// Every row says which build and how many cores measured it.
fn assert_host(l: &serde_json::Value) {
    let rev = l["git_rev"].as_str().expect("git_rev is a string");
    assert!(rev == "unknown" || (rev.len() >= 4 && rev.chars().all(|c| c.is_ascii_hexdigit())), "{l}");
    assert!(l["cores"].as_u64().expect("cores is a number") >= 1, "{l}");
}

#[test]
fn bench_engine_prints_a_json_line_per_case() {
    let lines = json_lines(&[
        "bench",
        "engine",
        "--cases",
        "mult,and,ltz,ltz-stock,trunc,sort,median",
        "--n",
        "100",
        "--json",
        "--timeout-secs",
        "600",
    ]);
    let cases: Vec<&str> = lines.iter().map(|l| l["case"].as_str().expect("case")).collect();
    assert_eq!(cases, ["mult", "and", "ltz", "trunc", "sort", "median", "ltz-stock"]);
    for l in &lines {
        assert_eq!(l["suite"], "engine");
        assert_eq!(l["n"], 100);
        assert!(l["secs"].as_f64().expect("secs") > 0.0);
        assert!(l["bytes_per_party"].as_u64().expect("bytes") > 100, "{l}");
        assert!(l["rounds"].as_u64().expect("rounds") > 1, "{l}");
        assert_eq!(l["checked"], true, "{l}");
        assert_host(l);
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
        assert_eq!(l["checked"], true, "{l}");
        assert_host(l);
    }
}

/// Runs `triad` expecting failure: (stdout, stderr).
fn failing(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_triad")).args(args).env("RUST_BACKTRACE", "0").output().expect("runs");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!out.status.success(), "a corrupted result must fail the bench\nstdout: {stdout}\nstderr: {stderr}");
    (stdout, stderr)
}

#[test]
fn bench_engine_fails_without_a_figure_when_a_result_is_wrong() {
    for case in ["mult", "sort"] {
        for json in [true, false] {
            let mut args =
                vec!["bench", "engine", "--cases", case, "--n", "100", "--timeout-secs", "600", "--corrupt-result"];
            if json {
                args.push("--json");
            }
            let (stdout, stderr) = failing(&args);
            // No row, not even a table header.
            assert_eq!(stdout, "", "{case}: a figure was printed");
            assert!(stderr.contains(&format!("engine check failed: {case} n=100: first wrong index 0")), "{stderr}");
        }
    }
}

#[test]
fn bench_inputs_fails_without_a_figure_when_a_verdict_is_wrong() {
    let (stdout, stderr) = failing(&[
        "bench",
        "inputs",
        "--cases",
        "blake3",
        "--n",
        "2",
        "--json",
        "--timeout-secs",
        "600",
        "--corrupt-result",
    ]);
    assert_eq!(stdout, "", "a figure was printed");
    assert!(stderr.contains("inputs check failed: Blake3 n=2: honest batch: first wrong index 0"), "{stderr}");
}
