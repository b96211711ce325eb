//! In-process benchmark: three parties on three threads over in-memory
//! channels; 10^6 (or `--n N`) multiplications and ANDs including their
//! verification. Prints a table of time and bytes sent per party.
//!
//! `cargo run --release --bin mpc-core-bench -- [--n 1000000]`

use std::time::Instant;

use triad_mpc_core::harness::run3_stats;
use triad_mpc_core::{Error, Result};

#[derive(Clone, Copy, Default)]
struct Row {
    gate_s: f64,
    verify_s: f64,
    gate_bytes: u64,
    verify_bytes: u64,
}

fn max_row(rows: Vec<Result<Row>>) -> std::result::Result<Row, Error> {
    let mut m = Row::default();
    for r in rows {
        let r = r?;
        m.gate_s = m.gate_s.max(r.gate_s);
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
        "| {case:<10} | {n:>9} | {:>9.1} | {:>10.1} | {:>9.1} | {:>12} | {:>8.3} | {:>9.1} |",
        r.gate_s * 1e3,
        r.verify_s * 1e3,
        total * 1e3,
        bytes,
        bytes as f64 / n as f64,
        total * 1e9 / n as f64
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
    println!("| case       |         n | gates ms  | verify ms  | total ms  | bytes/party  | B/gate   | ns/gate   |");
    println!("|------------|-----------|-----------|------------|-----------|--------------|----------|-----------|");
    for _ in 0..2 {
        let rows = run3_stats(None, move |p| {
            let x = p.session.random(n);
            let y = p.session.random(n);
            let b0 = p.net.stats.bytes;
            let t0 = Instant::now();
            let z = p.mul(&x, &y)?;
            let t1 = Instant::now();
            let b1 = p.net.stats.bytes;
            p.verify()?;
            let t2 = Instant::now();
            let b2 = p.net.stats.bytes;
            std::hint::black_box(z);
            Ok(Row {
                gate_s: (t1 - t0).as_secs_f64(),
                verify_s: (t2 - t1).as_secs_f64(),
                gate_bytes: b1 - b0,
                verify_bytes: b2 - b1,
            })
        });
        print("mult", n, max_row(rows.into_iter().map(|(r, _)| r).collect())?);
    }
    for _ in 0..2 {
        let rows = run3_stats(None, move |p| {
            let x = p.session.random_bits(n);
            let y = p.session.random_bits(n);
            let b0 = p.net.stats.bytes;
            let t0 = Instant::now();
            let z = p.and(&x, &y)?;
            let t1 = Instant::now();
            let b1 = p.net.stats.bytes;
            p.verify()?;
            let t2 = Instant::now();
            let b2 = p.net.stats.bytes;
            std::hint::black_box(z);
            Ok(Row {
                gate_s: (t1 - t0).as_secs_f64(),
                verify_s: (t2 - t1).as_secs_f64(),
                gate_bytes: b1 - b0,
                verify_bytes: b2 - b1,
            })
        });
        print("and", n, max_row(rows.into_iter().map(|(r, _)| r).collect())?);
    }
    Ok(())
}
