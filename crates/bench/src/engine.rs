//! `triad bench engine`: the MPC engine as three OS processes over localhost TLS
//! ([`triad_procs`]). The children run the cases with malicious security (every gate is
//! proven before the clock stops); the parent reports, per case, the wall time of the
//! slowest party and the largest byte and round counts.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use triad_input_check::deal::bench_data_rng;
use triad_mpc::NetParty;
use triad_mpc::core::stock::StockKind;
use triad_mpc::core::{ArithShare, BoolShare, circuits, edabit, masked, sort};

use crate::{Report, Row, cpu};
use triad_procs::{ChildCommand, ChildOptions};

/// A benchmarked operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    /// Multiplications over Z_2^64, then their proof.
    Mult,
    /// ANDs (bit-sliced), then their proof.
    And,
    /// Signed less-than-zero (A2B: 125 ANDs per element, 63 rounds), then the proof.
    Ltz,
    /// Probabilistic truncation TruncPr(x, 40, 16): masks from edaBits (80 ANDs, 10
    /// multiplications per element, proven), then one open. Preprocessing included; the
    /// offline/online split goes to stderr.
    Trunc,
    /// Sort signed 64-bit keys: A2B, malicious shuffle, quicksort with a sorted pivot sample;
    /// the sorted keys stay XOR-shared.
    Sort,
    /// Lower median of signed 64-bit keys: A2B, malicious shuffle, quickselect, B2A of the result.
    Median,
    /// LTZ on stocked 64-bit edaBits: refill the stock (125 ANDs per edaBit, proven), then open
    /// x + r and a 62-AND borrow chain. Preprocessing included; split on stderr.
    #[value(name = "ltz-stock")]
    #[serde(rename = "ltz-stock")]
    LtzStock,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Mult => "mult",
            Case::And => "and",
            Case::Ltz => "ltz",
            Case::Trunc => "trunc",
            Case::Sort => "sort",
            Case::Median => "median",
            Case::LtzStock => "ltz-stock",
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Element counts (gates for mult/and, elements for ltz/trunc).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1_000usize, 10_000, 100_000, 1_000_000])]
    n: Vec<usize>,
    /// Cases to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Case::Mult, Case::And, Case::Ltz, Case::LtzStock, Case::Trunc, Case::Sort, Case::Median])]
    cases: Vec<Case>,
    /// Skip ltz, ltz-stock, trunc, sort and median above this n (125 / 187 ANDs, or 80 ANDs
    /// and 10 multiplications per element; sort about 16 comparisons of 81 ANDs per element
    /// at 10^5); 0: no cap.
    #[arg(long, default_value_t = 100_000)]
    max_n_nonlinear: usize,
    /// Runs per case; the fastest is reported (its bytes and rounds are the same every run).
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// Give up if the parties have not finished after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    #[command(flatten)]
    checked: crate::CheckedFlags,
}

/// What the parent tells every child.
#[derive(Serialize, Deserialize)]
struct Plan {
    cases: Vec<(Case, usize)>,
    reps: usize,
    /// `--corrupt-result`.
    #[serde(default)]
    corrupt: bool,
}

/// One party's measurement of one run of one case.
#[derive(Serialize, Deserialize)]
struct Measured {
    case: Case,
    n: usize,
    rep: usize,
    secs: f64,
    bytes_sent: u64,
    wire_bytes_sent: u64,
    rounds: u64,
    /// CPU time of the party's thread (it also drives its sockets); 0 where unknown.
    cpu_secs: f64,
    /// Of `secs`, the preprocessing (mask production and its proof); 0 for cases without.
    #[serde(default)]
    offline_secs: f64,
    /// The result was opened and matched the plaintext computation ([`check`]).
    #[serde(default)]
    checked: bool,
}

/// One run's figures over the three parties: the slowest party's time, the largest counts.
#[derive(Clone, Copy, Default)]
struct Worst {
    secs: f64,
    bytes: u64,
    rounds: u64,
    cpu: f64,
    offline: f64,
}

pub async fn run(args: Args) -> Result<()> {
    ensure!(args.reps >= 1, "--reps must be at least 1");
    let mut cases = Vec::new();
    for &case in &args.cases {
        for &n in &args.n {
            ensure!(n > 0, "--n values must be positive");
            let nonlinear = matches!(case, Case::Ltz | Case::Trunc | Case::LtzStock | Case::Sort | Case::Median);
            if nonlinear && args.max_n_nonlinear > 0 && n > args.max_n_nonlinear {
                continue;
            }
            cases.push((case, n));
        }
    }
    let plan = Plan { cases, reps: args.reps, corrupt: args.checked.corrupt_result };
    let per_party: [Vec<Measured>; 3] = triad_procs::parent(
        "bench-engine",
        &ChildCommand::current_exe(&["bench", "engine-party"])?,
        &plan,
        args.timeout_secs,
    )?;
    let rows = summarize(per_party)?;
    let mut report = Report::new(args.checked.json);
    for row in &rows {
        report.row(row)?;
    }
    Ok(())
}

/// Per (case, n): each run's slowest party, then the fastest run. Fails if any party did
/// not check a run's result (a party whose check failed exits non-zero before this).
fn summarize(per_party: [Vec<Measured>; 3]) -> Result<Vec<Row>> {
    let mut runs: BTreeMap<(Case, usize, usize), Worst> = BTreeMap::new();
    for (p, ms) in per_party.into_iter().enumerate() {
        for m in ms {
            ensure!(m.checked, "engine {} n={}: P{p} did not check the result", m.case.name(), m.n);
            let e = runs.entry((m.case, m.n, m.rep)).or_default();
            e.secs = e.secs.max(m.secs);
            e.bytes = e.bytes.max(m.bytes_sent);
            e.rounds = e.rounds.max(m.rounds);
            e.cpu = e.cpu.max(m.cpu_secs);
            e.offline = e.offline.max(m.offline_secs);
        }
    }
    let mut best: BTreeMap<(Case, usize), Worst> = BTreeMap::new();
    for ((case, n, _), v) in runs {
        let e = best.entry((case, n)).or_insert(v);
        if v.secs < e.secs {
            *e = v;
        }
    }
    // Wall time on a loaded machine says little; the busiest party's CPU time goes to stderr
    // (the table and the JSON lines keep the common columns).
    for ((case, n), w) in &best {
        let split = if w.offline > 0.0 {
            format!(" (offline {:.3} s, online {:.3} s)", w.offline, w.secs - w.offline)
        } else {
            String::new()
        };
        eprintln!("engine {} n={n}: wall {:.3} s{split}, busiest party's CPU {:.3} s", case.name(), w.secs, w.cpu);
    }
    Ok(best
        .into_iter()
        .map(|((case, n), Worst { secs, bytes, rounds, .. })| {
            Row::tls_checked("engine", case.name(), n, secs, bytes, rounds)
        })
        .collect())
}

/// The hidden subcommand: one party's process.
pub async fn party(args: crate::PartyArgs) -> Result<()> {
    triad_procs::child(args.party, args.dir, ChildOptions::default(), run_cases)
}

fn run_cases(party: &mut NetParty, plan: Plan) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for &(case, n) in &plan.cases {
        for rep in 0..plan.reps {
            out.push(measure(party, case, n, rep, plan.corrupt).with_context(|| format!("{} n={n}", case.name()))?);
        }
    }
    Ok(out)
}

/// One run of one case. Inputs are sharings of plaintexts every party derives from the same
/// seed, dealt outside the clock (the cost does not depend on the values); a one-element
/// open first lines the three parties up; the clock stops once every gate is proven. Then,
/// outside the clock, the result is opened and compared with the plaintext computation
/// ([`check`]); a mismatch fails the party, so the run never becomes a figure.
fn measure(p: &mut NetParty, case: Case, n: usize, rep: usize, corrupt: bool) -> Result<Measured> {
    let me = p.me();
    let plain = Plain::new(case, n, rep);
    let x = deal_known(p, &plain.x)?;
    let y = deal_known(p, &plain.y)?;
    let (bx, by) = match case {
        Case::And => (p.random_bits(n), p.random_bits(n)),
        _ => (p.random_bits(0), p.random_bits(0)),
    };
    p.open(&ArithShare::public(me, &[0]))?;
    let before = p.stats();
    let c0 = cpu::thread_secs();
    let t0 = Instant::now();
    let mut offline_secs = 0.0;
    let out = match case {
        Case::Mult => Output::Arith(p.mul(&x, &y)?),
        Case::And => Output::Bits(p.and(&bx, &by)?),
        Case::Ltz => Output::Bits(p.circuit(|e| circuits::ltz(e, &x))?),
        // masked::trunc_pr in two steps, to time the mask production apart.
        Case::Trunc => {
            let mask = p.circuit(|e| edabit::trunc_masks(e, n, TRUNC_K, TRUNC_M))?;
            offline_secs = t0.elapsed().as_secs_f64();
            Output::Arith(p.circuit(|e| masked::trunc_pr_with(e, &x, &mask))?)
        }
        Case::LtzStock => {
            p.stock_mut().set_target(StockKind::EdaBits64, n)?;
            p.refill_stock()?;
            p.stock_mut().set_target(StockKind::EdaBits64, 0)?;
            offline_secs = t0.elapsed().as_secs_f64();
            Output::Bits(p.with_stock(|s, e| s.ltz(e, &x))?)
        }
        Case::Sort => Output::Bits(p.circuit(|e| sort::sort(e, &x, &[]))?.keys),
        Case::Median => Output::Arith(p.circuit(|e| sort::median(e, &x))?),
    };
    p.verify()?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = cpu::thread_secs().zip(c0).map_or(0.0, |(c1, c0)| c1 - c0);
    let spent = p.stats().since(before);

    // The clock has stopped. Opening the result (and, for and, the random inputs) is more
    // than the case would open in production; a benchmark may, to check its answer.
    let mut opened = match &out {
        Output::Arith(z) => p.open(z)?,
        Output::Bits(z) => p.open_bits(z)?,
    };
    let (bits_x, bits_y) = match case {
        Case::And => (p.open_bits(&bx)?, p.open_bits(&by)?),
        _ => (Vec::new(), Vec::new()),
    };
    if corrupt {
        corrupt_first(case, &mut opened);
    }
    check(case, n, &plain, &bits_x, &bits_y, &opened)?;
    Ok(Measured {
        case,
        n,
        rep,
        secs,
        bytes_sent: spent.bytes_sent,
        wire_bytes_sent: spent.wire_bytes_sent,
        rounds: spent.rounds,
        cpu_secs,
        offline_secs,
        checked: true,
    })
}

/// TruncPr's parameters in the trunc case: inputs with `|x| < 2^(K-1)`, `M` bits dropped.
const TRUNC_K: u32 = 40;
const TRUNC_M: u32 = 16;

/// A case's result before it is opened.
enum Output {
    Arith(ArithShare),
    Bits(BoolShare),
}

/// The plaintext arithmetic inputs of one run (empty where the case has none), the same at
/// the three parties: drawn from a generator seeded with the case, n and the run.
struct Plain {
    x: Vec<u64>,
    y: Vec<u64>,
}

impl Plain {
    fn new(case: Case, n: usize, rep: usize) -> Plain {
        let mut rand = bench_data_rng(((case as u64) << 56) ^ ((rep as u64) << 40) ^ (n as u64));
        let mut draw = |len: usize| -> Vec<u64> { (0..len).map(|_| rand()).collect() };
        match case {
            Case::Mult => Plain { x: draw(n), y: draw(n) },
            // Uniform 64-bit keys: about half negative, distinct with overwhelming probability.
            Case::Ltz | Case::LtzStock | Case::Sort | Case::Median => Plain { x: draw(n), y: Vec::new() },
            // TruncPr is defined for |x| < 2^(k-1): uniform on [-(2^39 - 1), 2^39 - 1].
            Case::Trunc => {
                let half = (1u64 << (TRUNC_K - 1)) - 1;
                let x = draw(n).into_iter().map(|r| (r % (2 * half + 1)).wrapping_sub(half)).collect();
                Plain { x, y: Vec::new() }
            }
            Case::And => Plain { x: Vec::new(), y: Vec::new() },
        }
    }
}

/// A sharing of the public `v` whose components look random: open a fresh random sharing
/// `r` and add `v - r` as a public constant (outside the clock).
fn deal_known(p: &mut NetParty, v: &[u64]) -> Result<ArithShare> {
    let me = p.me();
    if v.is_empty() {
        return Ok(ArithShare::public(me, &[]));
    }
    let r = p.random(v.len());
    let opened = p.open(&r)?;
    let shift: Vec<u64> = v.iter().zip(&opened).map(|(a, b)| a.wrapping_sub(*b)).collect();
    Ok(r.add_public(me, &shift)?)
}

/// `--corrupt-result`: spoil element 0 of the opened result (lane 0 for bit results; for
/// arithmetic ones by 2^40, beyond TruncPr's error).
fn corrupt_first(case: Case, opened: &mut [u64]) {
    if let Some(v) = opened.first_mut() {
        match case {
            Case::And | Case::Ltz | Case::LtzStock => *v ^= 1,
            Case::Mult | Case::Trunc | Case::Sort | Case::Median => *v = v.wrapping_add(1 << 40),
        }
    }
}

/// Compare an opened result with the plaintext computation: mult `x * y mod 2^64`; and the
/// lanes' `x & y`; ltz and ltz-stock the sign bits; trunc `floor(x / 2^m)` or one more
/// (TruncPr's documented error); sort the keys in ascending signed order; median the lower
/// median. `bits_x`, `bits_y`: the opened inputs of and. The error names the case, n and the
/// first wrong index.
fn check(case: Case, n: usize, plain: &Plain, bits_x: &[u64], bits_y: &[u64], opened: &[u64]) -> Result<()> {
    let lane = |w: &[u64], i: usize| w.get(i / 64).map(|v| (v >> (i % 64)) & 1);
    let expected: Vec<u64> = match case {
        Case::Mult => plain.x.iter().zip(&plain.y).map(|(a, b)| a.wrapping_mul(*b)).collect(),
        Case::And => (0..n)
            .map(|i| match (lane(bits_x, i), lane(bits_y, i)) {
                (Some(a), Some(b)) => Ok(a & b),
                _ => Err(anyhow::anyhow!("engine check failed: and n={n}: the opened inputs are too short")),
            })
            .collect::<Result<_>>()?,
        Case::Ltz | Case::LtzStock => plain.x.iter().map(|&v| v >> 63).collect(),
        Case::Trunc => plain.x.iter().map(|&v| ((v as i64) >> TRUNC_M) as u64).collect(),
        Case::Sort => {
            let mut s = plain.x.clone();
            s.sort_by_key(|&v| v as i64);
            s
        }
        Case::Median => {
            let mut s = plain.x.clone();
            s.sort_by_key(|&v| v as i64);
            s.get(n.saturating_sub(1) / 2).copied().into_iter().collect()
        }
    };
    let got: Vec<u64> = match case {
        Case::And | Case::Ltz | Case::LtzStock => (0..n).map_while(|i| lane(opened, i)).collect(),
        _ => opened.to_vec(),
    };
    let ok = |g: u64, e: u64| match case {
        Case::Trunc => g == e || g == e.wrapping_add(1),
        _ => g == e,
    };
    if let Some(i) = expected.iter().zip(&got).position(|(e, g)| !ok(*g, *e)) {
        bail!(
            "engine check failed: {} n={n}: first wrong index {i}: got {:#x}, expected {:#x}{}",
            case.name(),
            got[i],
            expected[i],
            if case == Case::Trunc { " (or one more)" } else { "" }
        );
    }
    ensure!(
        got.len() == expected.len(),
        "engine check failed: {} n={n}: {} result elements, expected {}",
        case.name(),
        got.len(),
        expected.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plaintext answer of `case` on `plain`, as the opened result would carry it.
    fn right(case: Case, plain: &Plain, bx: &[u64], by: &[u64]) -> Vec<u64> {
        let mut sorted = plain.x.clone();
        sorted.sort_by_key(|&v| v as i64);
        let n = plain.x.len();
        let sign_words = |n: usize| {
            let mut w = vec![0u64; n.div_ceil(64)];
            for (i, v) in plain.x.iter().enumerate() {
                w[i / 64] |= (v >> 63) << (i % 64);
            }
            w
        };
        match case {
            Case::Mult => plain.x.iter().zip(&plain.y).map(|(a, b)| a.wrapping_mul(*b)).collect(),
            Case::And => bx.iter().zip(by).map(|(a, b)| a & b).collect(),
            Case::Ltz | Case::LtzStock => sign_words(n),
            Case::Trunc => plain.x.iter().map(|&v| ((v as i64) >> TRUNC_M) as u64).collect(),
            Case::Sort => sorted,
            Case::Median => vec![sorted[(n - 1) / 2]],
        }
    }

    const ALL: [Case; 7] = [Case::Mult, Case::And, Case::Ltz, Case::LtzStock, Case::Trunc, Case::Sort, Case::Median];

    #[test]
    fn the_right_answer_passes_and_a_corrupted_one_fails_at_index_0() {
        for case in ALL {
            for n in [1usize, 65, 130] {
                let plain = Plain::new(case, n, 0);
                let bx: Vec<u64> = (0..n.div_ceil(64) as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
                let by: Vec<u64> = bx.iter().map(|v| v.rotate_left(17)).collect();
                let good = right(case, &plain, &bx, &by);
                check(case, n, &plain, &bx, &by, &good).unwrap_or_else(|e| panic!("{case:?} n={n}: {e:#}"));
                let mut bad = good.clone();
                corrupt_first(case, &mut bad);
                let err = check(case, n, &plain, &bx, &by, &bad).expect_err("a corrupted result must fail");
                let msg = format!("{err:#}");
                assert!(msg.contains(&format!("{} n={n}: first wrong index 0", case.name())), "{msg}");
            }
        }
    }

    #[test]
    fn trunc_accepts_floor_or_one_more_only() {
        let n = 50;
        let plain = Plain::new(Case::Trunc, n, 3);
        assert!(plain.x.iter().all(|&v| (v as i64).unsigned_abs() < 1 << (TRUNC_K - 1)));
        assert!(plain.x.iter().any(|&v| (v as i64) < 0) && plain.x.iter().any(|&v| (v as i64) > 0));
        let floor = right(Case::Trunc, &plain, &[], &[]);
        let plus_one: Vec<u64> = floor.iter().map(|v| v.wrapping_add(1)).collect();
        check(Case::Trunc, n, &plain, &[], &[], &plus_one).expect("floor + 1 is within TruncPr's error");
        let mut off = floor.clone();
        off[7] = off[7].wrapping_sub(1);
        let msg = format!("{:#}", check(Case::Trunc, n, &plain, &[], &[], &off).expect_err("floor - 1 is not"));
        assert!(msg.contains("first wrong index 7"), "{msg}");
        let mut two = floor;
        two[9] = two[9].wrapping_add(2);
        assert!(check(Case::Trunc, n, &plain, &[], &[], &two).is_err(), "floor + 2 is not");
    }

    #[test]
    fn a_short_or_unsorted_result_fails() {
        let n = 10;
        let plain = Plain::new(Case::Sort, n, 0);
        let good = right(Case::Sort, &plain, &[], &[]);
        assert!(check(Case::Sort, n, &plain, &[], &[], &good[..n - 1]).is_err(), "one key missing");
        let mut swapped = good.clone();
        swapped.swap(3, 4);
        let msg = format!("{:#}", check(Case::Sort, n, &plain, &[], &[], &swapped).expect_err("two keys swapped"));
        assert!(msg.contains("first wrong index 3"), "{msg}");
        // An unsigned sort is wrong for signed keys (about half are negative).
        let mut unsigned = plain.x.clone();
        unsigned.sort_unstable();
        assert!(check(Case::Sort, n, &plain, &[], &[], &unsigned).is_err());
    }
}
