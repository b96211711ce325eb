//! In-process benchmark: three parties on three threads over in-memory
//! channels; 10^6 (or `--n N`) multiplications and ANDs including their
//! verification. Prints a table of time and bytes sent per party.
//!
//! `cargo run --release --bin mpc-core-bench -- [--n 1000000]`
//! `cargo run --release --bin mpc-core-bench -- --only div,sqrt [--fixed-n 10000]`
//! (fixed-point division and square root, with gate counts per element).

use std::time::Instant;

use triad_mpc_core::counted::Counted;
use triad_mpc_core::fixed::{self, DivBounds, FixedFormat};
use triad_mpc_core::harness::{Party, run3_stats, run3_with};
use triad_mpc_core::{ArithProofRing, Config};
use triad_mpc_core::{Error, Result};

/// One fixed-point operation (`div` or `sqrt`) on `m` elements: time and
/// bytes as the other cases, then the gate counts per element.
fn fixed_case(name: &str, m: usize, reps: usize) -> std::result::Result<(), Error> {
    let fmt = FixedFormat::default();
    let div_bounds = DivBounds { num_bits: 44, den_bits: 30, den_frac_bits: 16, signed_den: false };
    // Operands of the documented widths: x < 2^44, y < 2^30, both non-zero.
    let xs: Vec<u64> = (1..=m as u64).map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) | 1).collect();
    let ys: Vec<u64> = (1..=m as u64).map(|i| (i.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) >> 34) | 1).collect();
    let rows = run3_stats(None, |p| {
        let mut out = Vec::new();
        let mut counts = (0, 0, 0, 0);
        for _ in 0..reps {
            let x = p.share_public_input(&xs)?;
            let y = p.share_public_input(&ys)?;
            out.push(measure(p, |p| {
                let mut c = Counted::new(p);
                match name {
                    "div" => fixed::div(&mut c, &x, &y, div_bounds).map(drop)?,
                    _ => fixed::sqrt(&mut c, fmt, &x, 46).map(drop)?,
                }
                let k = c.cost();
                counts = (k.mults, k.ands, k.mul_layers + k.and_layers, k.opens);
                Ok(())
            })?);
        }
        Ok((out, counts))
    });
    let mut per_party = Vec::new();
    let mut counts = (0, 0, 0, 0);
    for (r, _) in rows {
        let (rows, c) = r?;
        counts = c;
        per_party.push(Ok(rows));
    }
    report(name, m, per_party)?;
    let per = |v: u64| v as f64 / m as f64;
    println!(
        "  {name}: per element {:.1} multiplications, {:.0} ANDs; {} gate rounds, {} opens (each after a proof)",
        per(counts.0),
        per(counts.1),
        counts.2,
        counts.3
    );
    Ok(())
}

/// CPU time of the calling thread in seconds (Linux schedstat; 0 elsewhere).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .map_or(0.0, |ns| ns as f64 * 1e-9)
}

#[derive(Clone, Copy, Default)]
struct Row {
    cpu_gate: f64,
    cpu_verify: f64,
    gate_s: f64,
    verify_s: f64,
    gate_bytes: u64,
    verify_bytes: u64,
}

fn measure(p: &mut Party, gates: impl FnOnce(&mut Party) -> Result<()>) -> Result<Row> {
    let b0 = p.net.stats.bytes;
    let c0 = thread_cpu();
    let t0 = Instant::now();
    gates(p)?;
    let t1 = Instant::now();
    let c1 = thread_cpu();
    let b1 = p.net.stats.bytes;
    p.verify()?;
    let t2 = Instant::now();
    let c2 = thread_cpu();
    let b2 = p.net.stats.bytes;
    Ok(Row {
        cpu_gate: c1 - c0,
        cpu_verify: c2 - c1,
        gate_s: (t1 - t0).as_secs_f64(),
        verify_s: (t2 - t1).as_secs_f64(),
        gate_bytes: b1 - b0,
        verify_bytes: b2 - b1,
    })
}

fn report(case: &str, n: usize, per_party: Vec<Result<Vec<Row>>>) -> std::result::Result<(), Error> {
    let per_party: Vec<Vec<Row>> = per_party.into_iter().collect::<Result<_>>()?;
    let reps = per_party.iter().map(Vec::len).min().unwrap_or(0);
    for i in 0..reps {
        let row = max_row(per_party.iter().map(|rows| Ok(rows[i])).collect())?;
        print(&format!("{case}#{}", i + 1), n, row);
    }
    Ok(())
}

fn max_row(rows: Vec<Result<Row>>) -> std::result::Result<Row, Error> {
    let mut m = Row::default();
    for r in rows {
        let r = r?;
        m.gate_s = m.gate_s.max(r.gate_s);
        m.cpu_gate = m.cpu_gate.max(r.cpu_gate);
        m.cpu_verify = m.cpu_verify.max(r.cpu_verify);
        m.verify_s = m.verify_s.max(r.verify_s);
        m.gate_bytes = m.gate_bytes.max(r.gate_bytes);
        m.verify_bytes = m.verify_bytes.max(r.verify_bytes);
    }
    Ok(m)
}

fn print(case: &str, n: usize, r: Row) {
    let total = r.gate_s + r.verify_s;
    let bytes = r.gate_bytes + r.verify_bytes;
    println!(
        "| {case:<9} | {n:>8} | {:>8.1} | {:>9.1} | {:>8.1} | {:>8.1} | {:>9.1} | {:>10} | {:>6.3} | {:>8.1} |",
        r.gate_s * 1e3,
        r.verify_s * 1e3,
        total * 1e3,
        r.cpu_gate * 1e3,
        r.cpu_verify * 1e3,
        bytes,
        bytes as f64 / n as f64,
        (r.cpu_gate + r.cpu_verify) * 1e9 / n as f64
    );
}

fn main() -> std::result::Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "--n")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!("three parties, three threads, in-memory channels; max over parties");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    println!("wall: max over parties; cpu: max over parties of the party thread's CPU time");
    println!("| case      |        n | gates ms | verify ms | total ms | gate cpu | verify cpu | bytes/party | B/gate | cpu ns/gate |");
    println!("|-----------|----------|----------|-----------|----------|----------|------------|-------------|--------|-------------|");
    // One session per case; `reps` batches in it (the first pays for fresh
    // memory, later ones reuse the session's buffers as a long-running party
    // would).
    // The weak Z_2^128 ring exists only with the test-only `deviation` feature.
    let rings = [
        ("mult", ArithProofRing::Z2_192),
        #[cfg(feature = "deviation")]
        ("mult128", ArithProofRing::Z2_128),
    ];
    for (name, ring) in rings {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let config = Config { arith_ring: ring };
        let rows = run3_with(config, None, move |p| {
            let mut out = Vec::new();
            for _ in 0..reps {
                let x = p.session.random(n);
                let y = p.session.random(n);
                out.push(measure(p, |p| p.mul(&x, &y).map(drop))?);
            }
            Ok(out)
        });
        report(name, n, rows.into_iter().map(|(r, _)| r).collect())?;
    }
    if only.as_deref().is_none_or(|o| o == "ltz") {
        let m: usize = args
            .iter()
            .position(|a| a == "--ltz-n")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let rows = run3_stats(None, move |p| {
            let mut out = Vec::new();
            for _ in 0..reps.min(2) {
                let x = p.session.random(m);
                out.push(measure(p, |p| triad_mpc_core::circuits::ltz(p, &x).map(drop))?);
            }
            Ok(out)
        });
        report("ltz", m, rows.into_iter().map(|(r, _)| r).collect())?;
    }
    if only.as_deref().is_none_or(|o| o == "trunc") {
        let m: usize = args
            .iter()
            .position(|a| a == "--trunc-n")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let rows = run3_stats(None, move |p| {
            let mut out = Vec::new();
            for _ in 0..reps.min(2) {
                // Preprocessing (mask bits) and online open are both included.
                let x = p.session.random(m).scale(1 << 20); // any value works for timing
                out.push(measure(p, |p| triad_mpc_core::masked::trunc_pr(p, &x, 40, 16).map(drop))?);
            }
            Ok(out)
        });
        report("trunc", m, rows.into_iter().map(|(r, _)| r).collect())?;
    }
    let fixed_n: usize = args
        .iter()
        .position(|a| a == "--fixed-n")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    for case in ["div", "sqrt"] {
        // Opt-in (`--only div,sqrt`): a debug build of these takes minutes.
        if only.as_deref().is_some_and(|o| o.split(',').any(|c| c == case)) {
            fixed_case(case, fixed_n, reps.min(2))?;
        }
    }
    if only.as_deref().is_none_or(|o| o == "and") {
        let rows = run3_stats(None, move |p| {
            let mut out = Vec::new();
            for _ in 0..reps {
                let x = p.session.random_bits(n);
                let y = p.session.random_bits(n);
                out.push(measure(p, |p| p.and(&x, &y).map(drop))?);
            }
            Ok(out)
        });
        report("and", n, rows.into_iter().map(|(r, _)| r).collect())?;
    }
    Ok(())
}
