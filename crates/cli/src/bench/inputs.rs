//! `triad bench inputs`: the commitment check of client inputs (`triad-input-check`) as
//! three OS processes over localhost TLS, like `bench engine` (whose key, port and file
//! helpers it uses): per case, a batch of honest contributions is dealt (outside the
//! clock), then checked: the hash of `value || blinder` on boolean shares against the
//! commitment, the decimal grammar, the parsed number against the arithmetic share, every
//! gate proven, three bits per contribution opened.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use triad_input_check::deal::{Plain, deal, bench_data_rng};
use triad_input_check::{ContributionShares, HashAlg, ValueShape, Verdict, check_batch_with_cost, plaintext_hash};
use triad_mpc::NetParty;
use triad_mpc::core::ArithShare;

use super::procs::{self, thread_cpu};

/// The shape of the benchmarked values: up to 6 integer digits and 2 decimals ("1234.56").
const SHAPE: ValueShape = ValueShape { max_integer_digits: 6, max_decimals: 2 };

/// The commitment's hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    /// BLAKE3 commitments (one compression).
    Blake3,
    /// SHA-256 commitments (one compression).
    Sha256,
}

impl Case {
    fn alg(self) -> HashAlg {
        match self {
            Case::Blake3 => HashAlg::Blake3,
            Case::Sha256 => HashAlg::Sha256,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Batch sizes (contributions checked together).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 100, 10_000])]
    n: Vec<usize>,
    /// Cases to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Case::Blake3, Case::Sha256])]
    cases: Vec<Case>,
    /// Give up if the parties have not finished after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// The hidden child: one party.
#[derive(clap::Args)]
pub struct PartyArgs {
    /// This party's id (0, 1, 2).
    #[arg(long)]
    party: u8,
    /// The directory the parent prepared.
    #[arg(long)]
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Plan {
    cases: Vec<(Case, usize)>,
}

/// One party's measurement of one case.
#[derive(Serialize, Deserialize)]
struct Measured {
    case: Case,
    n: usize,
    secs: f64,
    bytes_sent: u64,
    rounds: u64,
    cpu_secs: f64,
    ands: u64,
    mults: u64,
    accepted: usize,
}

/// A result line.
#[derive(Serialize)]
struct Line {
    suite: &'static str,
    case: Case,
    backend: &'static str,
    n: usize,
    /// Wall time of the slowest party, proofs included.
    secs: f64,
    /// Payload bytes sent by the busiest party (whole batch).
    bytes_per_party: u64,
    /// `bytes_per_party / n`.
    bytes_per_contribution: f64,
    rounds: u64,
    ands_per_contribution: f64,
    mults_per_contribution: f64,
}

pub async fn run(args: Args) -> Result<()> {
    let mut cases = Vec::new();
    for &case in &args.cases {
        for &n in &args.n {
            ensure!(n > 0, "--n values must be positive");
            cases.push((case, n));
        }
    }
    let plan = Plan { cases };
    let per_party: [Vec<Measured>; 3] = procs::parent("inputs", "inputs-party", &plan, args.timeout_secs)?;
    let lines = summarize(&plan, &per_party)?;
    if !args.json {
        println!(
            "{:<8} {:>7} {:>9} {:>14} {:>12} {:>8} {:>10} {:>8}",
            "case", "n", "secs", "bytes/party", "bytes/contr", "rounds", "ANDs/contr", "mul/contr"
        );
    }
    for l in &lines {
        if args.json {
            println!("{}", serde_json::to_string(l)?);
        } else {
            println!(
                "{:<8} {:>7} {:>9.3} {:>14} {:>12.0} {:>8} {:>10.0} {:>8.0}",
                l.case.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default(),
                l.n,
                l.secs,
                l.bytes_per_party,
                l.bytes_per_contribution,
                l.rounds,
                l.ands_per_contribution,
                l.mults_per_contribution
            );
        }
    }
    Ok(())
}

fn summarize(plan: &Plan, per_party: &[Vec<Measured>; 3]) -> Result<Vec<Line>> {
    for (p, ms) in per_party.iter().enumerate() {
        ensure!(ms.len() == plan.cases.len(), "P{p} measured {} cases of {}", ms.len(), plan.cases.len());
    }
    let mut lines = Vec::new();
    for (k, &(case, n)) in plan.cases.iter().enumerate() {
        let runs: Vec<&Measured> = per_party.iter().map(|ms| &ms[k]).collect();
        ensure!(runs.iter().all(|m| m.accepted == n), "{case:?} n={n}: not every honest contribution was accepted");
        let secs = runs.iter().map(|m| m.secs).fold(0.0, f64::max);
        let cpu = runs.iter().map(|m| m.cpu_secs).fold(0.0, f64::max);
        let bytes = runs.iter().map(|m| m.bytes_sent).max().unwrap_or(0);
        let rounds = runs.iter().map(|m| m.rounds).max().unwrap_or(0);
        eprintln!("inputs {case:?} n={n}: wall {secs:.3} s, busiest party's CPU {cpu:.3} s");
        lines.push(Line {
            suite: "inputs",
            case,
            backend: "tls-3proc",
            n,
            secs,
            bytes_per_party: bytes,
            bytes_per_contribution: bytes as f64 / n as f64,
            rounds,
            ands_per_contribution: runs[0].ands as f64 / n as f64,
            mults_per_contribution: runs[0].mults as f64 / n as f64,
        });
    }
    Ok(lines)
}

/// The hidden subcommand: one party's process.
pub async fn party(args: PartyArgs) -> Result<()> {
    procs::child(args.party, args.dir, run_cases)
}

fn run_cases(party: &mut NetParty, plan: Plan) -> Result<Vec<Measured>> {
    plan.cases.iter().map(|&(case, n)| measure(party, case, n).with_context(|| format!("{case:?} n={n}"))).collect()
}

/// This party's shares of `n` honest contributions (every party deals the same batch from
/// the same seed and keeps its own shares; outside the clock).
fn batch(me: usize, alg: HashAlg, n: usize) -> Result<Vec<ContributionShares>> {
    let mut rand = bench_data_rng(n as u64);
    (0..n)
        .map(|_| {
            let v = rand() % 100_000_000;
            let text = format!("{}.{:02}", v / 100, v % 100).into_bytes();
            let blinder: [u8; 16] = std::array::from_fn(|_| rand() as u8);
            let commitment = plaintext_hash(alg, &text, &blinder).context("value too long for one block")?;
            let plain = Plain { value_bytes: text, blinder, commitment, value: v };
            let [a, b, c] = deal(&SHAPE, &plain, &mut rand);
            [a, b, c].into_iter().nth(me).context("party index")
        })
        .collect()
}

/// One case: deal, line the parties up with a one-element open, check, stop the clock.
fn measure(p: &mut NetParty, case: Case, n: usize) -> Result<Measured> {
    let shares = batch(p.me().index(), case.alg(), n)?;
    SHAPE.check(case.alg())?;
    let me = p.me();
    p.open(&ArithShare::public(me, &[0]))?;
    let before = p.stats();
    let c0 = thread_cpu();
    let t0 = Instant::now();
    let (verdicts, cost) = p.circuit(|e| {
        check_batch_with_cost(e, SHAPE, case.alg(), &shares).map_err(|err| match err {
            triad_input_check::CheckError::Mpc(e) => e,
            _ => triad_mpc::core::Error::InvalidArgument("the batch does not fit the shape"),
        })
    })?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = thread_cpu() - c0;
    let spent = p.stats().since(before);
    Ok(Measured {
        case,
        n,
        secs,
        bytes_sent: spent.bytes_sent,
        rounds: spent.rounds,
        cpu_secs,
        ands: cost.ands,
        mults: cost.mults,
        accepted: verdicts.iter().filter(|v| **v == Verdict::Accepted).count(),
    })
}
