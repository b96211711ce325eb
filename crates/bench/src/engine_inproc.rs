//! `triad bench engine-inproc`: the engine on three threads of one process over in-memory
//! channels (`triad_mpc_core::harness`): no TLS, no processes, no `NetParty` driver, so the
//! figures are the computation and its proofs alone, split into the gate phase and the
//! verification (wall and CPU per party). Formerly `mpc-core-bench`. Each case's result is
//! opened after the clock and checked against the plaintext (`mult`, `and`, `ltz`, `trunc`);
//! `div` and `sqrt` (opt-in, `--only div,sqrt`) are checked by the engine's own tests.
//! Prints a markdown table.

use std::time::Instant;

use triad_mpc_core::counted::Counted;
use triad_mpc_core::engine::Engine;
use triad_mpc_core::fixed::{self, DivBounds, FixedFormat};
use triad_mpc_core::harness::{Party, run3_stats, run3_with};
use triad_mpc_core::{ArithProofRing, ArithShare, BoolShare, Config};
use triad_mpc_core::{Error, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Multiplications and ANDs per batch.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    /// Run only these cases (comma-separated): mult, ltz, trunc, and, div, sqrt. Default: all
    /// but div and sqrt.
    #[arg(long)]
    only: Option<String>,
    /// Batches per case in one session (the first pays for fresh memory).
    #[arg(long, default_value_t = 2)]
    reps: usize,
    /// Elements of the LTZ case.
    #[arg(long, default_value_t = 100_000)]
    ltz_n: usize,
    /// Elements of the TruncPr case.
    #[arg(long, default_value_t = 10_000)]
    trunc_n: usize,
    /// Elements of the fixed-point cases.
    #[arg(long, default_value_t = 10_000)]
    fixed_n: usize,
}

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

fn thread_cpu() -> f64 {
    crate::cpu::thread_secs().unwrap_or(0.0)
}

/// The check after the clock: `f` computes the expected outputs from the opened inputs.
fn check(case: &str, got: &[u64], want: impl Fn(usize) -> (u64, u64)) -> Result<()> {
    for (i, g) in got.iter().enumerate() {
        let (lo, hi) = want(i);
        if *g != lo && *g != hi {
            eprintln!("engine-inproc check failed: {case}: first wrong index {i}: got {g}, expected {lo}");
            return Err(Error::InvalidArgument("a benchmark result is wrong"));
        }
    }
    Ok(())
}

fn open_arith(p: &mut Party, x: &ArithShare) -> Result<Vec<u64>> {
    Engine::open(p, x)
}

fn open_bool(p: &mut Party, x: &BoolShare) -> Result<Vec<u64>> {
    Engine::open_bits(p, x)
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

pub fn run(args: Args) -> anyhow::Result<()> {
    run_cases(args).map_err(|e| anyhow::anyhow!("engine-inproc: {e}"))
}

fn run_cases(args: Args) -> std::result::Result<(), Error> {
    let (n, only, reps) = (args.n, args.only.clone(), args.reps.max(1));
    println!("three parties, three threads, in-memory channels; max over parties");
    println!("wall: max over parties; cpu: max over parties of the party thread's CPU time");
    println!(
        "| case      |        n | gates ms | verify ms | total ms | gate cpu | verify cpu | bytes/party | B/gate | cpu ns/gate |"
    );
    println!(
        "|-----------|----------|----------|-----------|----------|----------|------------|-------------|--------|-------------|"
    );
    // One session per case; `reps` batches in it (the first pays for fresh
    // memory, later ones reuse the session's buffers as a long-running party
    // would).
    // The weak Z_2^128 ring exists only in the engine's own tests (test-only `deviation`).
    let rings = [("mult", ArithProofRing::Z2_192)];
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
                let mut z = None;
                out.push(measure(p, |p| {
                    z = Some(p.mul(&x, &y)?);
                    Ok(())
                })?);
                let z = z.ok_or(Error::InvalidArgument("no product"))?;
                let (xs, ys, zs) = (open_arith(p, &x)?, open_arith(p, &y)?, open_arith(p, &z)?);
                check("mult", &zs, |i| (xs[i].wrapping_mul(ys[i]), xs[i].wrapping_mul(ys[i])))?;
            }
            Ok(out)
        });
        report(name, n, rows.into_iter().map(|(r, _)| r).collect())?;
    }
    if only.as_deref().is_none_or(|o| o == "ltz") {
        let m = args.ltz_n;
        let rows = run3_stats(None, move |p| {
            let mut out = Vec::new();
            for _ in 0..reps.min(2) {
                let x = p.session.random(m);
                let mut bits = None;
                out.push(measure(p, |p| {
                    bits = Some(triad_mpc_core::circuits::ltz(p, &x)?);
                    Ok(())
                })?);
                let bits = bits.ok_or(Error::InvalidArgument("no bits"))?;
                let (xs, bs) = (open_arith(p, &x)?, open_bool(p, &bits)?);
                let sign: Vec<u64> = (0..m).map(|i| (bs[i / 64] >> (i % 64)) & 1).collect();
                check("ltz", &sign, |i| (u64::from((xs[i] as i64) < 0), u64::from((xs[i] as i64) < 0)))?;
            }
            Ok(out)
        });
        report("ltz", m, rows.into_iter().map(|(r, _)| r).collect())?;
    }
    if only.as_deref().is_none_or(|o| o == "trunc") {
        let m = args.trunc_n;
        let rows = run3_stats(None, move |p| {
            let mut out = Vec::new();
            for _ in 0..reps.min(2) {
                // Preprocessing (mask bits) and online open are both included. Inputs in
                // TruncPr's domain |x| < 2^39: each component of a random sharing shifted right by 27 bits (sum < 3 * 2^37).
                let r = p.session.random(m);
                let (r0, r1) = r.components();
                let x = ArithShare::from_components(
                    r0.iter().map(|v| v >> 27).collect(),
                    r1.iter().map(|v| v >> 27).collect(),
                )?;
                let mut t = None;
                out.push(measure(p, |p| {
                    t = Some(triad_mpc_core::masked::trunc_pr(p, &x, 40, 16)?);
                    Ok(())
                })?);
                let t = t.ok_or(Error::InvalidArgument("no result"))?;
                let (xs, ts) = (open_arith(p, &x)?, open_arith(p, &t)?);
                check("trunc", &ts, |i| {
                    let q = ((xs[i] as i64) >> 16) as u64;
                    (q, q.wrapping_add(1))
                })?;
            }
            Ok(out)
        });
        report("trunc", m, rows.into_iter().map(|(r, _)| r).collect())?;
    }
    let fixed_n = args.fixed_n;
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
                let mut z = None;
                out.push(measure(p, |p| {
                    z = Some(p.and(&x, &y)?);
                    Ok(())
                })?);
                let z = z.ok_or(Error::InvalidArgument("no result"))?;
                let (xs, ys, zs) = (open_bool(p, &x)?, open_bool(p, &y)?, open_bool(p, &z)?);
                check("and", &zs, |i| (xs[i] & ys[i], xs[i] & ys[i]))?;
            }
            Ok(out)
        });
        report("and", n, rows.into_iter().map(|(r, _)| r).collect())?;
    }
    Ok(())
}
