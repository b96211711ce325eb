//! `triad-bench`: every benchmark of `triad bench <suite>`, in one crate (the `triad` binary
//! only dispatches here). Each suite prints a table, or one JSON object per line (`--json`)
//! with at least "suite", "case", "n" and "secs", and "git_rev" and "cores" ([`Host`]).
//!
//! The suites that run three parties as three OS processes (`engine`, `inputs`, `net`, `stats`) use
//! `triad-procs`; their children are the running executable itself, started as
//! `<exe> bench <suite>-party --party i --dir D` (hidden subcommands of [`Command`]), so the
//! binary that embeds [`Command`] must mount it as `bench`. CPU time comes from [`cpu`].

use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;

pub mod cpu;
mod engine;
mod engine_inproc;
mod eventlog;
mod inputs;
mod inputs_inproc;
mod net;
mod network;
mod signing;
mod stats;

#[derive(Subcommand)]
pub enum Command {
    /// Event store append throughput and append-to-handler latency.
    Eventlog(eventlog::Args),
    /// The MPC engine: three parties as three processes over localhost TLS, malicious
    /// security (every gate proven); mult, and, ltz, trunc.
    Engine(engine::Args),
    /// One party of `bench engine` (started by it).
    #[command(hide = true)]
    EngineParty(PartyArgs),
    /// The engine on three threads of this process over in-memory channels (no TLS, no
    /// processes): gate phase and verification apart, wall and CPU per party.
    EngineInproc(engine_inproc::Args),
    /// The commitment check of client inputs inside MPC (hash of value || blinder on
    /// boolean shares, decimal grammar, equality with the arithmetic share): three processes
    /// over localhost TLS, batches of 1, 100, 10,000; BLAKE3 and SHA-256.
    Inputs(inputs::Args),
    /// One party of `bench inputs` (started by it).
    #[command(hide = true)]
    InputsParty(PartyArgs),
    /// The commitment check of `bench inputs` on three threads of this process over in-memory
    /// channels (no TLS, no processes): the computation's cost alone.
    InputsInproc(inputs_inproc::Args),
    /// The data plane (`triad-mpc-net`): three processes over localhost TLS, one-way
    /// throughput per message size, ping-pong latency, 3-party rounds; optionally the
    /// in-memory transport for comparison.
    Net(net::Args),
    /// One party of `bench net` (started by it).
    #[command(hide = true)]
    NetParty(PartyArgs),
    /// SQL statistics (`triad-stats`' executor): three processes over localhost TLS, malicious
    /// security; one query per case over a generated dataset of n rows, each answer checked
    /// against the plaintext reference outside the clock.
    Stats(stats::Args),
    /// One party of `bench stats` (started by it).
    #[command(hide = true)]
    StatsParty(PartyArgs),
    /// The whole network in one process (coordinator and projector over gRPC, three parties
    /// over TLS), embedded or on PostgreSQL + JetStream: `ingest` (n contributions from
    /// submission to verified by the three parties) and `query_mean_median` (from SubmitQuery
    /// to the result in the projector), both checked outside the clock.
    Network(network::Args),
    /// Threshold ECDSA (DKLs23 2-of-3): dkg, sign, refresh; in memory (embedded) or with
    /// every message sealed and carried by NATS JetStream (distributed).
    Signing(signing::Args),
}

pub async fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Eventlog(args) => eventlog::run(args).await,
        Command::Engine(args) => engine::run(args).await,
        Command::EngineParty(args) => engine::party(args).await,
        Command::EngineInproc(args) => engine_inproc::run(args),
        Command::Inputs(args) => inputs::run(args).await,
        Command::InputsParty(args) => inputs::party(args).await,
        Command::InputsInproc(args) => inputs_inproc::run(args),
        Command::Net(args) => net::run(args),
        Command::NetParty(args) => net::party(args),
        Command::Stats(args) => stats::run(args).await,
        Command::StatsParty(args) => stats::party(args).await,
        Command::Network(args) => network::run(args).await,
        Command::Signing(args) => signing::run(args).await,
    }
}

/// The hidden child of every three-process suite: one party (`triad_procs` appends these).
#[derive(clap::Args)]
pub struct PartyArgs {
    /// This party's id (0, 1, 2).
    #[arg(long)]
    party: u8,
    /// The directory the parent prepared.
    #[arg(long)]
    dir: std::path::PathBuf,
}

/// The flags of every suite whose results are checked after the clock (`engine`, `inputs`,
/// `stats`).
#[derive(clap::Args)]
pub struct CheckedFlags {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// For the checker's own test: spoil one opened result before the check, which must then
    /// fail (each suite says which value it spoils).
    #[arg(long, hide = true)]
    pub corrupt_result: bool,
}

/// One measured case.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub suite: &'static str,
    pub case: String,
    pub backend: String,
    pub n: u64,
    pub secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Payload bytes sent by the busiest party.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_party: Option<u64>,
    /// Message rounds of the party with the most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u64>,
    /// True where the result was opened and compared with a plaintext computation (outside
    /// the clock); a run whose check fails prints no row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<bool>,
    /// The build and the machine.
    #[serde(flatten)]
    pub host: Host,
}

impl Row {
    /// A checked case of a three-process suite (backend `tls-3proc`): `n` elements in `secs`,
    /// the busiest party's bytes and rounds.
    pub fn tls_checked(suite: &'static str, case: &str, n: usize, secs: f64, bytes: u64, rounds: u64) -> Row {
        Row {
            suite,
            case: case.to_owned(),
            backend: "tls-3proc".to_owned(),
            n: n as u64,
            secs,
            per_sec: Some(n as f64 / secs.max(1e-9)),
            p50_ms: None,
            p99_ms: None,
            bytes_per_party: Some(bytes),
            rounds: Some(rounds),
            checked: Some(true),
            host: Host::current(),
        }
    }
}

/// Where a figure was measured, carried by every JSON row of every suite.
#[derive(Clone, Debug, Serialize)]
pub struct Host {
    /// `git rev-parse --short HEAD` when this crate was built ("unknown" without git
    /// metadata; `TRIAD_GIT_REV` at build time overrides it); see `crates/bench/build.rs`.
    pub git_rev: &'static str,
    /// The cores this process may use (`std::thread::available_parallelism`); null if
    /// unknown.
    pub cores: Option<usize>,
}

impl Host {
    pub fn current() -> Host {
        Host {
            git_rev: env!("TRIAD_GIT_REV"),
            cores: std::thread::available_parallelism().ok().map(std::num::NonZeroUsize::get),
        }
    }
}

/// Prints rows as they come: JSON lines, or an aligned table.
pub struct Report {
    json: bool,
    header_done: bool,
}

impl Report {
    pub fn new(json: bool) -> Self {
        Self { json, header_done: false }
    }

    pub fn row(&mut self, row: &Row) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string(row)?);
            return Ok(());
        }
        if !self.header_done {
            println!(
                "{:<10} {:<28} {:<12} {:>9} {:>9} {:>12} {:>9} {:>9} {:>12} {:>7}",
                "suite", "case", "backend", "n", "secs", "per sec", "p50 ms", "p99 ms", "bytes/party", "rounds"
            );
            self.header_done = true;
        }
        let opt = |v: Option<f64>, prec: usize| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.prec$}"));
        println!(
            "{:<10} {:<28} {:<12} {:>9} {:>9.3} {:>12} {:>9} {:>9} {:>12} {:>7}",
            row.suite,
            row.case,
            row.backend,
            row.n,
            row.secs,
            opt(row.per_sec, 0),
            opt(row.p50_ms, 3),
            opt(row.p99_ms, 3),
            row.bytes_per_party.map_or_else(|| "-".to_owned(), |v| v.to_string()),
            row.rounds.map_or_else(|| "-".to_owned(), |v| v.to_string())
        );
        Ok(())
    }
}
