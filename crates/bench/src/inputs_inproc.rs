//! `triad bench inputs-inproc`: the commitment check of `bench inputs` on three threads of
//! one process over the engine's in-memory channels (`triad_mpc_core::harness::run3_stats`):
//! no TLS, no processes, no `NetParty` driver, so the figure is the computation and its
//! proofs alone (formerly `input-check-bench` in `triad-input-check`). The batch is the one
//! `bench inputs` deals; the clock covers the three threads' session set-up and the check.
//! Every contribution must be accepted, else the command fails after printing.

use std::time::Instant;

use anyhow::{Result, bail, ensure};
use serde::Serialize;
use triad_input_check::{CheckError, Verdict, check_batch_with_cost};
use triad_mpc_core::harness::run3_stats;

use crate::Host;
use crate::inputs::{Case, SHAPE, batch};

#[derive(clap::Args)]
pub struct Args {
    /// Batch sizes (contributions checked together).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1_000usize])]
    n: Vec<usize>,
    /// Hash algorithms of the commitments.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Case::Blake3])]
    cases: Vec<Case>,
    /// One JSON object per line instead of a line per party.
    #[arg(long)]
    json: bool,
}

/// A result line: the busiest party's bytes, the gate counts of party 0 (the same at all).
#[derive(Serialize)]
struct Line {
    suite: &'static str,
    case: Case,
    backend: &'static str,
    n: usize,
    secs: f64,
    bytes_per_party: u64,
    bytes_per_contribution: f64,
    ands_per_contribution: f64,
    mults_per_contribution: f64,
    and_layers: u64,
    /// Always true: a batch with a rejected honest contribution prints no line.
    checked: bool,
    #[serde(flatten)]
    host: Host,
}

pub fn run(args: Args) -> Result<()> {
    for &case in &args.cases {
        for &n in &args.n {
            ensure!(n > 0, "--n values must be positive");
            measure(case, n, args.json)?;
        }
    }
    Ok(())
}

fn measure(case: Case, n: usize, json: bool) -> Result<()> {
    let alg = case.alg();
    let parts = [batch(0, alg, n)?, batch(1, alg, n)?, batch(2, alg, n)?];
    let t0 = Instant::now();
    let out = run3_stats(None, |p| {
        check_batch_with_cost(p, SHAPE, alg, &parts[p.me().index()]).map_err(|e| match e {
            CheckError::Mpc(e) => e,
            _ => triad_mpc_core::Error::InvalidArgument("shape"),
        })
    });
    let secs = t0.elapsed().as_secs_f64();
    let mut failed = Vec::new();
    let mut first = None;
    let mut bytes = 0;
    for (i, (r, stats)) in out.into_iter().enumerate() {
        bytes = bytes.max(stats.bytes);
        match r {
            Ok((v, cost)) => {
                let accepted = v.iter().filter(|v| **v == Verdict::Accepted).count();
                if !json {
                    println!(
                        "P{i}: {accepted} accepted of {n}, {secs:.3} s, {} B sent ({:.0} B per contribution), {:.0} ANDs and {:.0} mults per contribution, {} AND layers",
                        stats.bytes,
                        stats.bytes as f64 / n as f64,
                        cost.ands as f64 / n as f64,
                        cost.mults as f64 / n as f64,
                        cost.and_layers
                    );
                }
                if accepted != n {
                    failed.push(format!("P{i} accepted {accepted} of {n} honest contributions"));
                }
                first.get_or_insert(cost);
            }
            Err(e) => {
                if !json {
                    println!("P{i}: {e}");
                }
                failed.push(format!("P{i}: {e}"));
            }
        }
    }
    if !failed.is_empty() {
        bail!("inputs-inproc {case:?} n={n}: {}", failed.join("; "));
    }
    let Some(cost) = first else { bail!("inputs-inproc {case:?} n={n}: no party finished") };
    if json {
        let line = Line {
            suite: "inputs-inproc",
            case,
            backend: "memory-threads",
            n,
            secs,
            bytes_per_party: bytes,
            bytes_per_contribution: bytes as f64 / n as f64,
            ands_per_contribution: cost.ands as f64 / n as f64,
            mults_per_contribution: cost.mults as f64 / n as f64,
            and_layers: cost.and_layers,
            checked: true,
            host: Host::current(),
        };
        println!("{}", serde_json::to_string(&line)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_honest_batch_is_accepted_by_the_three_threads() {
        measure(Case::Blake3, 2, true).expect("every honest contribution accepted");
    }
}
