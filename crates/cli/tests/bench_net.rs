//! `triad bench net`, on tiny volumes: three party processes over localhost TLS (and the
//! in-memory transport) print one JSON line per case with the common fields of every suite
//! (`suite`, `case`, `n`, `secs`, `git_rev`, `cores`) and the case's own figures.

use std::process::Command;

fn json_lines(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_triad")).args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

const CASES: [&str; 7] = ["one-way-1k", "one-way-64k", "one-way-8m", "ping-pong", "round-8", "round-1m", "round-8m"];

#[test]
fn bench_net_prints_a_json_line_per_case_and_backend() {
    // A thousandth of the volume: 262 messages of 1 KiB, 32 of 64 KiB, one of 8 MiB, 20 round
    // trips, 20 rounds of 8 B, one of 1 MiB and one of 8 MiB.
    let lines =
        json_lines(&["bench", "net", "--scale-down", "1000", "--backend", "both", "--json", "--timeout-secs", "600"]);
    let got: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["backend"].as_str().expect("backend"), l["case"].as_str().expect("case"))).collect();
    let expected: Vec<(&str, &str)> =
        ["tls-3proc", "memory"].iter().flat_map(|b| CASES.iter().map(move |c| (*b, *c))).collect();
    assert_eq!(got, expected);
    for l in &lines {
        assert_eq!(l["suite"], "net", "{l}");
        assert!(l["n"].as_u64().expect("n") >= 1, "{l}");
        assert!(l["secs"].as_f64().expect("secs") > 0.0, "{l}");
        assert!(l["per_sec"].as_f64().expect("per_sec") > 0.0, "{l}");
        let rev = l["git_rev"].as_str().expect("git_rev is a string");
        assert!(rev == "unknown" || (rev.len() >= 4 && rev.chars().all(|c| c.is_ascii_hexdigit())), "{l}");
        assert!(l["cores"].as_u64().expect("cores is a number") >= 1, "{l}");
        let case = l["case"].as_str().expect("case");
        let (n, len) = (l["n"].as_u64().expect("n"), l["bytes_per_message"].as_u64().expect("bytes_per_message"));
        let payload = l["bytes_per_party"].as_u64().expect("bytes_per_party");
        let wire = l["wire_bytes_per_party"].as_u64().expect("wire_bytes_per_party");
        assert!(wire > payload, "framing costs something: {l}");
        if case.starts_with("one-way") {
            // P0 sent exactly the case's messages (the line-up byte is outside the case).
            assert_eq!(payload, n * len, "{l}");
            assert!(l["mb_per_sec"].as_f64().expect("MB/s") > 0.0, "{l}");
        } else if case == "ping-pong" {
            assert_eq!((n, len, payload), (20, 64, 20 * 64), "{l}");
            let (p50, p99) = (l["p50_ms"].as_f64().expect("p50"), l["p99_ms"].as_f64().expect("p99"));
            assert!(0.0 < p50 && p50 <= p99, "{l}");
        } else {
            // Every party sends `len` to each of two peers per round.
            assert_eq!(payload, 2 * n * len, "{l}");
            assert_eq!(l["rounds"], n, "{l}");
            assert!(l["us_per_round"].as_f64().expect("us/round") > 0.0, "{l}");
        }
    }
    let one_way_1k = &lines[0];
    assert_eq!((one_way_1k["n"].as_u64(), one_way_1k["bytes_per_message"].as_u64()), (Some(262), Some(1024)));
}
