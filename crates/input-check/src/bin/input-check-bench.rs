//! The commitment check on three in-memory parties (threads), for a quick measurement of
//! the computation without sockets: `cargo run --release -p triad-input-check --bin
//! input-check-bench -- [n] [blake3|sha256]`. `triad bench inputs` is the real benchmark
//! (three processes over TLS).

use std::time::Instant;

use triad_input_check::deal::{Plain, deal, bench_data_rng};
use triad_input_check::{CheckError, HashAlg, ValueShape, Verdict, check_batch_with_cost, plaintext_hash};
use triad_mpc_core::harness::run3_stats;

const SHAPE: ValueShape = ValueShape { max_integer_digits: 6, max_decimals: 2 };

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let alg = args.get(2).and_then(|a| HashAlg::from_name(a)).unwrap_or(HashAlg::Blake3);
    let mut rand = bench_data_rng(n as u64);
    let mut parts: [Vec<_>; 3] = Default::default();
    for _ in 0..n {
        let v = rand() % 100_000_000;
        let text = format!("{}.{:02}", v / 100, v % 100).into_bytes();
        let blinder: [u8; 16] = std::array::from_fn(|_| rand() as u8);
        let Some(commitment) = plaintext_hash(alg, &text, &blinder) else { return };
        for (i, s) in
            deal(&SHAPE, &Plain { value_bytes: text, blinder, commitment, value: v }, &mut rand).into_iter().enumerate()
        {
            parts[i].push(s);
        }
    }
    let t0 = Instant::now();
    let out = run3_stats(None, |p| {
        check_batch_with_cost(p, SHAPE, alg, &parts[p.me().index()]).map_err(|e| match e {
            CheckError::Mpc(e) => e,
            _ => triad_mpc_core::Error::InvalidArgument("shape"),
        })
    });
    let secs = t0.elapsed().as_secs_f64();
    for (i, (r, stats)) in out.into_iter().enumerate() {
        match r {
            Ok((v, cost)) => println!(
                "P{i}: {} accepted of {n}, {:.3} s, {} B sent ({:.0} B per contribution), {:.0} ANDs and {:.0} mults per contribution, {} AND layers",
                v.iter().filter(|v| **v == Verdict::Accepted).count(),
                secs,
                stats.bytes,
                stats.bytes as f64 / n as f64,
                cost.ands as f64 / n as f64,
                cost.mults as f64 / n as f64,
                cost.and_layers
            ),
            Err(e) => println!("P{i}: {e}"),
        }
    }
}
