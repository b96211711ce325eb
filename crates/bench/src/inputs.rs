//! `triad bench inputs`: the commitment check of client inputs (`triad-input-check`) as
//! three OS processes over localhost TLS, like `bench engine` (whose key, port and file
//! helpers it uses): per case, a batch of honest contributions is dealt (outside the
//! clock), then checked: the hash of `value || blinder` on boolean shares against the
//! commitment, the decimal grammar, the parsed number against the arithmetic share, every
//! gate proven, three bits per contribution opened. After the clock every party checks that
//! each honest contribution was accepted, and that a small control batch of dishonest ones
//! (one per kind of fault) gets the right rejections; a failure ends the party non-zero.

use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use triad_input_check::deal::{Plain, bench_data_rng, deal};
use triad_input_check::{ContributionShares, HashAlg, ValueShape, Verdict, check_batch_with_cost, plaintext_hash};
use triad_mpc::NetParty;
use triad_mpc::core::ArithShare;

use crate::{Host, cpu};
use triad_procs::{ChildCommand, ChildOptions};

/// The shape of the benchmarked values: up to 6 integer digits and 2 decimals ("1234.56").
pub(crate) const SHAPE: ValueShape = ValueShape { max_integer_digits: 6, max_decimals: 2 };

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
    pub(crate) fn alg(self) -> HashAlg {
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
    #[command(flatten)]
    checked: crate::CheckedFlags,
}

#[derive(Serialize, Deserialize)]
struct Plan {
    cases: Vec<(Case, usize)>,
    /// `--corrupt-result`.
    #[serde(default)]
    corrupt: bool,
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
    /// Every verdict was checked ([`check_verdicts`]), the control batch's too.
    #[serde(default)]
    checked: bool,
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
    /// Always true: a batch whose verdicts are wrong prints no line.
    checked: bool,
    /// The build and the machine.
    #[serde(flatten)]
    host: Host,
}

pub async fn run(args: Args) -> Result<()> {
    let mut cases = Vec::new();
    for &case in &args.cases {
        for &n in &args.n {
            ensure!(n > 0, "--n values must be positive");
            cases.push((case, n));
        }
    }
    let plan = Plan { cases, corrupt: args.checked.corrupt_result };
    let per_party: [Vec<Measured>; 3] = triad_procs::parent(
        "bench-inputs",
        &ChildCommand::current_exe(&["bench", "inputs-party"])?,
        &plan,
        args.timeout_secs,
    )?;
    let lines = summarize(&plan, &per_party)?;
    if !args.checked.json {
        println!(
            "{:<8} {:>7} {:>9} {:>14} {:>12} {:>8} {:>10} {:>8}",
            "case", "n", "secs", "bytes/party", "bytes/contr", "rounds", "ANDs/contr", "mul/contr"
        );
    }
    for l in &lines {
        if args.checked.json {
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
        ensure!(runs.iter().all(|m| m.checked), "{case:?} n={n}: a party did not check the verdicts");
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
            checked: true,
            host: Host::current(),
        });
    }
    Ok(lines)
}

/// The hidden subcommand: one party's process.
pub async fn party(args: crate::PartyArgs) -> Result<()> {
    triad_procs::child(args.party, args.dir, ChildOptions::default(), run_cases)
}

fn run_cases(party: &mut NetParty, plan: Plan) -> Result<Vec<Measured>> {
    plan.cases
        .iter()
        .map(|&(case, n)| measure(party, case, n, plan.corrupt).with_context(|| format!("{case:?} n={n}")))
        .collect()
}

/// This party's shares of `n` honest contributions (every party deals the same batch from
/// the same seed and keeps its own shares; outside the clock).
pub(crate) fn batch(me: usize, alg: HashAlg, n: usize) -> Result<Vec<ContributionShares>> {
    let mut rand = bench_data_rng(n as u64);
    (0..n).map(|_| share_of(me, &honest(alg, &mut rand)?, &mut rand)).collect()
}

/// An honest contribution: a decimal of [`SHAPE`], its blinder and commitment.
fn honest(alg: HashAlg, rand: &mut impl FnMut() -> u64) -> Result<Plain> {
    let v = rand() % 100_000_000;
    let text = format!("{}.{:02}", v / 100, v % 100).into_bytes();
    let blinder: [u8; 16] = std::array::from_fn(|_| rand() as u8);
    let commitment = plaintext_hash(alg, &text, &blinder).context("value too long for one block")?;
    Ok(Plain { value_bytes: text, blinder, commitment, value: v })
}

/// Party `me`'s shares of `plain`.
fn share_of(me: usize, plain: &Plain, rand: &mut impl FnMut() -> u64) -> Result<ContributionShares> {
    let [a, b, c] = deal(&SHAPE, plain, rand);
    [a, b, c].into_iter().nth(me).context("party index")
}

/// The control batch, checked after the clock: one contribution per kind of fault, with the
/// verdict each must get (a check that accepted everything would pass the honest batch).
fn control(me: usize, alg: HashAlg) -> Result<(Vec<ContributionShares>, Vec<Verdict>)> {
    let mut rand = bench_data_rng(0xC0_47_50_1E);
    // The commitment is of other bytes.
    let mut wrong_commitment = honest(alg, &mut rand)?;
    wrong_commitment.commitment[0] ^= 1;
    // Committed, but not a decimal.
    let mut malformed = honest(alg, &mut rand)?;
    malformed.value_bytes = b"12x.45".to_vec();
    malformed.commitment =
        plaintext_hash(alg, &malformed.value_bytes, &malformed.blinder).context("value too long for one block")?;
    // The arithmetic sharing holds another number.
    let mut wrong_value = honest(alg, &mut rand)?;
    wrong_value.value = wrong_value.value.wrapping_add(1);
    let plains = [wrong_commitment, malformed, wrong_value];
    let shares = plains.iter().map(|c| share_of(me, c, &mut rand)).collect::<Result<Vec<_>>>()?;
    Ok((shares, vec![Verdict::CommitmentMismatch, Verdict::MalformedDecimal, Verdict::ValueMismatch]))
}

/// Compare verdicts with the expected ones; the error names the case, n and the first wrong
/// index.
fn check_verdicts(what: &str, case: Case, n: usize, got: &[Verdict], expected: &[Verdict]) -> Result<()> {
    if let Some(i) = got.iter().zip(expected).position(|(g, e)| g != e) {
        bail!(
            "inputs check failed: {case:?} n={n}: {what}: first wrong index {i}: got {:?}, expected {:?}",
            got[i],
            expected[i]
        );
    }
    ensure!(
        got.len() == expected.len(),
        "inputs check failed: {case:?} n={n}: {what}: {} verdicts, expected {}",
        got.len(),
        expected.len()
    );
    Ok(())
}

/// [`check_batch_with_cost`] inside the party.
fn check_on(
    p: &mut NetParty,
    alg: HashAlg,
    shares: &[ContributionShares],
) -> Result<(Vec<Verdict>, triad_input_check::Cost)> {
    Ok(p.circuit(|e| {
        check_batch_with_cost(e, SHAPE, alg, shares).map_err(|err| match err {
            triad_input_check::CheckError::Mpc(e) => e,
            _ => triad_mpc::core::Error::InvalidArgument("the batch does not fit the shape"),
        })
    })?)
}

/// One case: deal, line the parties up with a one-element open, check, stop the clock.
fn measure(p: &mut NetParty, case: Case, n: usize, corrupt: bool) -> Result<Measured> {
    let shares = batch(p.me().index(), case.alg(), n)?;
    SHAPE.check(case.alg())?;
    let me = p.me();
    p.open(&ArithShare::public(me, &[0]))?;
    let before = p.stats();
    let c0 = cpu::thread_secs();
    let t0 = Instant::now();
    let (mut verdicts, cost) = check_on(p, case.alg(), &shares)?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = cpu::thread_secs().zip(c0).map_or(0.0, |(c1, c0)| c1 - c0);
    let spent = p.stats().since(before);

    // The clock has stopped: the verdicts are public; every honest one must be an
    // acceptance, and the control batch (not in the figures) must be rejected as dealt.
    if corrupt && let Some(v) = verdicts.first_mut() {
        *v = Verdict::CommitmentMismatch;
    }
    check_verdicts("honest batch", case, n, &verdicts, &vec![Verdict::Accepted; n])?;
    let (bad, expected) = control(p.me().index(), case.alg())?;
    let (control_verdicts, _) = check_on(p, case.alg(), &bad)?;
    check_verdicts("control batch of dishonest contributions", case, n, &control_verdicts, &expected)?;
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
        checked: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_must_match_exactly() {
        let ok = vec![Verdict::Accepted; 3];
        check_verdicts("honest batch", Case::Blake3, 3, &ok, &ok).expect("equal verdicts pass");
        let mut bad = ok.clone();
        bad[2] = Verdict::ValueMismatch;
        let msg = format!("{:#}", check_verdicts("honest batch", Case::Blake3, 3, &bad, &ok).expect_err("a rejection"));
        assert!(msg.contains("Blake3 n=3: honest batch: first wrong index 2"), "{msg}");
        assert!(check_verdicts("honest batch", Case::Blake3, 3, &ok[..2], &ok).is_err(), "a missing verdict");
    }

    #[test]
    fn the_control_batch_is_one_fault_of_each_kind() {
        let (shares, expected) = control(0, HashAlg::Sha256).expect("deals");
        assert_eq!(shares.len(), expected.len());
        assert!(!expected.contains(&Verdict::Accepted));
        let distinct: std::collections::HashSet<_> = expected.iter().collect();
        assert_eq!(distinct.len(), 3);
    }
}
