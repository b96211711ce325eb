//! `triad bench net`: the data plane (`triad-mpc-net`) between three OS processes, as
//! deployed: one process per party ([`triad_procs::child_mesh`]), the mesh on the party's own
//! thread (`BlockingMesh::connect`, as `NetParty` runs it), TLS 1.3 on 127.0.0.1. The cases:
//!
//! - `one-way-1k`, `one-way-64k`, `one-way-8m`: P0 sends 256 MiB, 2 GiB, 4 GiB in messages of
//!   1 KiB, 64 KiB, 8 MiB to P1, which acknowledges the last one; throughput and the CPU
//!   seconds per GB of the sending and the receiving process.
//! - `ping-pong`: 20,000 round trips of 64 bytes between P0 and P1; p50 and p99.
//! - `round-8`, `round-1m`, `round-8m`: MPC-style rounds (every party sends to both peers,
//!   then receives from both) of 8 B, 1 MiB, 8 MiB to each peer; 20,000, 400, 80 rounds.
//!
//! `--scale-down N` divides every volume and count by N (at least one message). A one-byte
//! exchange between all three lines them up before every case. `--backend memory` runs the same
//! cases on three threads of this process over the in-memory transport (`Mesh::in_memory`:
//! the same queues, budgets and counters without TLS or sockets), for comparison.

use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use triad_mpc::net::{BlockingMesh, NetConfig, NetStats, PartyId, SessionId};
use triad_procs::{ChildCommand, ChildOptions};

use crate::{Host, cpu};

const P0: PartyId = PartyId::ALL[0];
const P1: PartyId = PartyId::ALL[1];

/// A measured pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
pub enum Case {
    /// P0 to P1, 1 KiB messages, 256 MiB.
    #[value(name = "one-way-1k")]
    #[serde(rename = "one-way-1k")]
    OneWay1k,
    /// P0 to P1, 64 KiB messages, 2 GiB.
    #[value(name = "one-way-64k")]
    #[serde(rename = "one-way-64k")]
    OneWay64k,
    /// P0 to P1, 8 MiB messages, 4 GiB.
    #[value(name = "one-way-8m")]
    #[serde(rename = "one-way-8m")]
    OneWay8m,
    /// 64-byte round trips P0 -> P1 -> P0.
    #[value(name = "ping-pong")]
    #[serde(rename = "ping-pong")]
    PingPong,
    /// 3-party rounds, 8 B to each peer.
    #[value(name = "round-8")]
    #[serde(rename = "round-8")]
    Round8,
    /// 3-party rounds, 1 MiB to each peer.
    #[value(name = "round-1m")]
    #[serde(rename = "round-1m")]
    Round1m,
    /// 3-party rounds, 8 MiB to each peer.
    #[value(name = "round-8m")]
    #[serde(rename = "round-8m")]
    Round8m,
}

const ALL: [Case; 7] =
    [Case::OneWay1k, Case::OneWay64k, Case::OneWay8m, Case::PingPong, Case::Round8, Case::Round1m, Case::Round8m];

/// What a case does.
enum Pattern {
    /// `count` messages of `len` bytes P0 -> P1, then a one-byte acknowledgement.
    OneWay { len: usize, count: usize },
    /// `rounds` round trips of `len` bytes P0 -> P1 -> P0.
    PingPong { len: usize, rounds: usize },
    /// `rounds` rounds: every party sends `len` bytes to both peers, then receives both.
    Rounds { len: usize, rounds: usize },
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::OneWay1k => "one-way-1k",
            Case::OneWay64k => "one-way-64k",
            Case::OneWay8m => "one-way-8m",
            Case::PingPong => "ping-pong",
            Case::Round8 => "round-8",
            Case::Round1m => "round-1m",
            Case::Round8m => "round-8m",
        }
    }

    /// The pattern at full volume divided by `scale` (at least one message).
    fn pattern(self, scale: usize) -> Pattern {
        let div = |v: usize| (v / scale.max(1)).max(1);
        let one_way = |len: usize, total: usize| Pattern::OneWay { len, count: div(total / len) };
        match self {
            Case::OneWay1k => one_way(1 << 10, 256 << 20),
            Case::OneWay64k => one_way(64 << 10, 2 << 30),
            Case::OneWay8m => one_way(8 << 20, 4 << 30),
            Case::PingPong => Pattern::PingPong { len: 64, rounds: div(20_000) },
            Case::Round8 => Pattern::Rounds { len: 8, rounds: div(20_000) },
            Case::Round1m => Pattern::Rounds { len: 1 << 20, rounds: div(400) },
            Case::Round8m => Pattern::Rounds { len: 8 << 20, rounds: div(80) },
        }
    }
}

/// Which transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Three processes over localhost TLS.
    Tls,
    /// Three threads of this process over the in-memory transport.
    Memory,
    /// Both, TLS first.
    Both,
}

#[derive(clap::Args)]
pub struct Args {
    /// Cases to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = ALL.to_vec())]
    cases: Vec<Case>,
    /// Divide every case's volume and count by this (8: an eighth, the old examples' --quick).
    #[arg(long, default_value_t = 1)]
    scale_down: usize,
    /// Transports to measure.
    #[arg(long, value_enum, default_value = "tls")]
    backend: Backend,
    /// Give up if the parties have not finished after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// What the parent tells every child.
#[derive(Serialize, Deserialize)]
struct Plan {
    cases: Vec<Case>,
    scale_down: usize,
}

/// One party's measurement of one case.
#[derive(Serialize, Deserialize)]
struct Measured {
    case: Case,
    /// Messages (one-way) or rounds.
    n: u64,
    /// Payload bytes of one message.
    len: u64,
    /// This party's wall time for the case (P0's includes P1's acknowledgement).
    secs: f64,
    /// CPU seconds over the case: the process (TLS) or the party's thread (memory); `None`
    /// where unknown.
    cpu_secs: Option<f64>,
    /// Payload and wire bytes sent, and the rounds marked, during the case.
    bytes_sent: u64,
    wire_bytes_sent: u64,
    rounds: u64,
    /// `ping-pong` at P0: the median and 99th percentile round trip, in seconds.
    #[serde(default)]
    p50_secs: Option<f64>,
    #[serde(default)]
    p99_secs: Option<f64>,
}

/// A result line.
#[derive(Serialize)]
struct Line {
    suite: &'static str,
    case: &'static str,
    backend: &'static str,
    /// Messages (one-way, ping-pong round trips) or 3-party rounds.
    n: u64,
    /// Wall time: P0's for one-way (until P1's acknowledgement) and ping-pong, the slowest
    /// party's for rounds.
    secs: f64,
    /// Messages, round trips or rounds per second.
    per_sec: f64,
    /// Payload bytes of one message.
    bytes_per_message: u64,
    /// One-way: payload MB/s from P0 to P1. Rounds: MB/s sent plus received per party.
    #[serde(skip_serializing_if = "Option::is_none")]
    mb_per_sec: Option<f64>,
    /// One-way: CPU seconds per GB of payload, sending and receiving process.
    #[serde(skip_serializing_if = "Option::is_none")]
    sender_cpu_per_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receiver_cpu_per_gb: Option<f64>,
    /// Ping-pong: round-trip percentiles.
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99_ms: Option<f64>,
    /// Rounds: microseconds per round.
    #[serde(skip_serializing_if = "Option::is_none")]
    us_per_round: Option<f64>,
    /// Payload bytes sent by the busiest party during the case.
    bytes_per_party: u64,
    /// The same on the wire (TLS records and framing; payload plus 4-byte headers in memory).
    wire_bytes_per_party: u64,
    /// Rounds marked by the party with the most (the 3-party rounds; 0 elsewhere).
    rounds: u64,
    /// The build and the machine.
    #[serde(flatten)]
    host: Host,
}

pub fn run(args: Args) -> Result<()> {
    ensure!(args.scale_down >= 1, "--scale-down must be at least 1");
    ensure!(!args.cases.is_empty(), "--cases must name at least one case");
    let plan = Plan { cases: args.cases.clone(), scale_down: args.scale_down };
    let backends: &[Backend] = match args.backend {
        Backend::Both => &[Backend::Tls, Backend::Memory],
        Backend::Tls => &[Backend::Tls],
        Backend::Memory => &[Backend::Memory],
    };
    let mut lines = Vec::new();
    for &backend in backends {
        let (name, per_party) = match backend {
            Backend::Memory => ("memory", in_memory(&plan)?),
            _ => {
                let command = ChildCommand::current_exe(&["bench", "net-party"])?;
                ("tls-3proc", triad_procs::parent("bench-net", &command, &plan, args.timeout_secs)?)
            }
        };
        lines.extend(summarize(name, &plan, &per_party)?);
    }
    if !args.json {
        println!(
            "{:<10} {:<12} {:>7} {:>8} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>12}",
            "backend",
            "case",
            "n",
            "secs",
            "per sec",
            "MB/s",
            "p50 ms",
            "p99 ms",
            "us/round",
            "send s/GB",
            "recv s/GB",
            "bytes/party"
        );
    }
    let opt = |v: Option<f64>, prec: usize| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.prec$}"));
    for l in &lines {
        if args.json {
            println!("{}", serde_json::to_string(l)?);
        } else {
            println!(
                "{:<10} {:<12} {:>7} {:>8.3} {:>10.0} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>12}",
                l.backend,
                l.case,
                l.n,
                l.secs,
                l.per_sec,
                opt(l.mb_per_sec, 0),
                opt(l.p50_ms, 3),
                opt(l.p99_ms, 3),
                opt(l.us_per_round, 1),
                opt(l.sender_cpu_per_gb, 2),
                opt(l.receiver_cpu_per_gb, 2),
                l.bytes_per_party
            );
        }
    }
    Ok(())
}

/// The cases on three threads over the in-memory transport; CPU is each party's thread's.
fn in_memory(plan: &Plan) -> Result<[Vec<Measured>; 3]> {
    // `BlockingMesh` refuses to run inside a runtime: plain threads (the caller may be async).
    std::thread::scope(|s| {
        let meshes = s
            .spawn(|| BlockingMesh::in_memory(&NetConfig::new(SessionId::from_label("triad-bench-net"))))
            .join()
            .map_err(|_| anyhow::anyhow!("the set-up thread panicked"))??;
        let handles = meshes.map(|m| {
            s.spawn(move || {
                let out = run_cases(&m, plan, cpu::thread_secs)?;
                // As a child process does: the figures stand if a peer has already gone.
                if let Err(e) = m.close() {
                    eprintln!("closing an in-memory mesh: {e}");
                }
                Ok::<_, anyhow::Error>(out)
            })
        });
        let [a, b, c] = handles.map(|h| h.join().map_err(|_| anyhow::anyhow!("a party thread panicked")));
        Ok([a??, b??, c??])
    })
}

/// Per case, the figures the pattern gives; fails if the parties disagree on what ran.
fn summarize(backend: &'static str, plan: &Plan, per_party: &[Vec<Measured>; 3]) -> Result<Vec<Line>> {
    for (p, ms) in per_party.iter().enumerate() {
        ensure!(ms.len() == plan.cases.len(), "P{p} measured {} cases of {}", ms.len(), plan.cases.len());
    }
    let mut lines = Vec::new();
    for (k, &case) in plan.cases.iter().enumerate() {
        let [m0, m1, m2] = [&per_party[0][k], &per_party[1][k], &per_party[2][k]];
        ensure!(
            [m0, m1, m2].iter().all(|m| m.case == case && m.n == m0.n && m.len == m0.len),
            "{}: the parties measured different cases",
            case.name()
        );
        let (n, len) = (m0.n, m0.len);
        let mut line = Line {
            suite: "net",
            case: case.name(),
            backend,
            n,
            secs: m0.secs,
            per_sec: 0.0,
            bytes_per_message: len,
            mb_per_sec: None,
            sender_cpu_per_gb: None,
            receiver_cpu_per_gb: None,
            p50_ms: None,
            p99_ms: None,
            us_per_round: None,
            bytes_per_party: [m0, m1, m2].iter().map(|m| m.bytes_sent).max().unwrap_or(0),
            wire_bytes_per_party: [m0, m1, m2].iter().map(|m| m.wire_bytes_sent).max().unwrap_or(0),
            rounds: [m0, m1, m2].iter().map(|m| m.rounds).max().unwrap_or(0),
            host: Host::current(),
        };
        match case.pattern(plan.scale_down) {
            Pattern::OneWay { .. } => {
                let gb = (n * len) as f64 / 1e9;
                line.mb_per_sec = Some(gb * 1e3 / m0.secs.max(1e-9));
                line.sender_cpu_per_gb = m0.cpu_secs.map(|c| c / gb);
                line.receiver_cpu_per_gb = m1.cpu_secs.map(|c| c / gb);
            }
            Pattern::PingPong { .. } => {
                let (Some(p50), Some(p99)) = (m0.p50_secs, m0.p99_secs) else {
                    bail!("ping-pong: P0 reported no latencies");
                };
                line.p50_ms = Some(p50 * 1e3);
                line.p99_ms = Some(p99 * 1e3);
            }
            Pattern::Rounds { .. } => {
                line.secs = [m0, m1, m2].iter().map(|m| m.secs).fold(0.0, f64::max);
                let us = line.secs * 1e6 / n as f64;
                line.us_per_round = Some(us);
                line.mb_per_sec = Some(4.0 * len as f64 / us.max(1e-9));
            }
        }
        line.per_sec = n as f64 / line.secs.max(1e-9);
        lines.push(line);
    }
    Ok(lines)
}

/// The hidden subcommand: one party's process. CPU is the whole process's.
pub fn party(args: crate::PartyArgs) -> Result<()> {
    triad_procs::child_mesh(args.party, args.dir, ChildOptions::default(), |m, plan| {
        run_cases(m, &plan, cpu::process_secs)
    })
}

fn run_cases(m: &BlockingMesh, plan: &Plan, cpu: fn() -> Option<f64>) -> Result<Vec<Measured>> {
    plan.cases.iter().map(|&case| measure(m, case, plan.scale_down, cpu).with_context(|| case.name())).collect()
}

/// Every party sends one byte to both peers and receives theirs: no party starts a case
/// before the other two have finished the previous one.
fn line_up(m: &BlockingMesh) -> Result<()> {
    let [a, b] = m.party().others();
    m.send(a, Bytes::from_static(&[0]))?;
    m.send(b, Bytes::from_static(&[0]))?;
    m.recv(a)?;
    m.recv(b)?;
    Ok(())
}

/// Run one case at this party.
fn measure(m: &BlockingMesh, case: Case, scale: usize, cpu: fn() -> Option<f64>) -> Result<Measured> {
    line_up(m)?;
    let me = m.party();
    let before = m.stats();
    let c0 = cpu();
    let t0 = Instant::now();
    let (mut p50_secs, mut p99_secs) = (None, None);
    let (n, len) = match case.pattern(scale) {
        Pattern::OneWay { len, count } => {
            if me == P0 {
                let msg = Bytes::from(vec![0x5a; len]);
                for _ in 0..count {
                    m.send(P1, msg.clone())?;
                }
                m.recv(P1)?;
            } else if me == P1 {
                let mut got = 0usize;
                for _ in 0..count {
                    got += m.recv(P0)?.len();
                }
                ensure!(got == count * len, "received {got} bytes, expected {}", count * len);
                m.send(P0, Bytes::from_static(b"!"))?;
            }
            (count, len)
        }
        Pattern::PingPong { len, rounds } => {
            if me == P0 {
                let msg = Bytes::from(vec![1u8; len]);
                let mut lat = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    let t = Instant::now();
                    m.send(P1, msg.clone())?;
                    m.recv(P1)?;
                    lat.push(t.elapsed().as_secs_f64());
                }
                lat.sort_by(f64::total_cmp);
                p50_secs = lat.get(rounds / 2).copied();
                p99_secs = lat.get(rounds * 99 / 100).copied();
            } else if me == P1 {
                for _ in 0..rounds {
                    let x = m.recv(P0)?;
                    m.send(P0, x)?;
                }
            }
            (rounds, len)
        }
        Pattern::Rounds { len, rounds } => {
            let msg = Bytes::from(vec![7u8; len]);
            let [a, b] = me.others();
            for _ in 0..rounds {
                m.send(a, msg.clone())?;
                m.send(b, msg.clone())?;
                m.mark_round();
                m.recv(a)?;
                m.recv(b)?;
            }
            (rounds, len)
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = cpu().zip(c0).map(|(c1, c0)| c1 - c0);
    let (bytes_sent, wire_bytes_sent, rounds) = spent(&before, &m.stats());
    Ok(Measured {
        case,
        n: n as u64,
        len: len as u64,
        secs,
        cpu_secs,
        bytes_sent,
        wire_bytes_sent,
        rounds,
        p50_secs,
        p99_secs,
    })
}

/// Payload bytes, wire bytes and rounds between two readings of the counters.
fn spent(before: &NetStats, after: &NetStats) -> (u64, u64, u64) {
    (
        after.bytes_sent().saturating_sub(before.bytes_sent()),
        after.wire_bytes_sent().saturating_sub(before.wire_bytes_sent()),
        after.rounds.saturating_sub(before.rounds),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_volumes_are_the_examples_and_scaling_keeps_one_message() {
        match Case::OneWay8m.pattern(1) {
            Pattern::OneWay { len, count } => assert_eq!((len, count), (8 << 20, 512)),
            _ => panic!("one-way"),
        }
        match Case::OneWay1k.pattern(8) {
            Pattern::OneWay { len, count } => assert_eq!((len, count), (1024, 32 * 1024)),
            _ => panic!("one-way"),
        }
        match Case::Round8m.pattern(1_000_000) {
            Pattern::Rounds { len, rounds } => assert_eq!((len, rounds), (8 << 20, 1)),
            _ => panic!("rounds"),
        }
    }

    #[test]
    fn the_in_memory_backend_measures_every_case() {
        let plan = Plan { cases: ALL.to_vec(), scale_down: 10_000 };
        let per_party = in_memory(&plan).expect("runs");
        let lines = summarize("memory", &plan, &per_party).expect("summarizes");
        assert_eq!(lines.iter().map(|l| l.case).collect::<Vec<_>>(), ALL.map(Case::name).to_vec());
        let one_way = &lines[0];
        // 256 MiB / 1 KiB / 10,000 = 26 messages of 1 KiB from P0, nothing back but the ack.
        assert_eq!((one_way.n, one_way.bytes_per_message), (26, 1024));
        assert_eq!(one_way.bytes_per_party, 26 * 1024);
        assert!(one_way.mb_per_sec.is_some_and(|v| v > 0.0));
        let ping = &lines[3];
        assert!(ping.p50_ms.is_some_and(|p50| ping.p99_ms.is_some_and(|p99| p50 <= p99)));
        let round = &lines[6];
        // One round of 8 MiB to each of two peers.
        assert_eq!(round.bytes_per_party, 2 * (8 << 20));
        assert!(round.us_per_round.is_some());
    }

    #[test]
    fn disagreeing_parties_fail_the_summary() {
        let m = |case, n| Measured {
            case,
            n,
            len: 8,
            secs: 1.0,
            cpu_secs: None,
            bytes_sent: 0,
            wire_bytes_sent: 0,
            rounds: 0,
            p50_secs: None,
            p99_secs: None,
        };
        let plan = Plan { cases: vec![Case::Round8], scale_down: 1 };
        let per_party = [vec![m(Case::Round8, 2)], vec![m(Case::Round8, 2)], vec![m(Case::Round8, 3)]];
        assert!(summarize("memory", &plan, &per_party).is_err());
        let per_party = [vec![m(Case::Round8, 2)], vec![m(Case::Round8, 2)], vec![]];
        assert!(summarize("memory", &plan, &per_party).is_err());
    }
}
