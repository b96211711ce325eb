//! `triad`: run a local network, benchmark, and audit event streams.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod client;
mod demo;
mod devnet;
mod devnet_net;
mod events;
mod malloc;
mod notary;
mod provider;
mod stats;
mod verify;

#[derive(Parser)]
#[command(name = "triad", version, about = "Privacy-preserving statistics over a three-party MPC network")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: a whole network in this process (the coordinator, three parties, the
    /// projector and a development notary; embedded stores and bus, no servers needed):
    /// providers prove and share their balances, cheaters are rejected inside MPC, and the
    /// consumer's queries are computed in MPC and published.
    Devnet(devnet::Args),
    /// The event-log backbone alone: a coordinator's store, its relay and a projector-style
    /// consumer, replayed for audit.
    Demo(demo::Args),
    /// Benchmarks; prints a table, or JSON lines with --json.
    #[command(subcommand)]
    Bench(triad_bench::Command),
    /// Reads event streams for audit and replay.
    #[command(subcommand)]
    Events(events::Command),
    /// TLSNotary presentations.
    #[command(subcommand)]
    Notary(notary::Command),
    /// A data provider's share bundles and the parties' bundle keys.
    #[command(subcommand)]
    Provider(provider::Command),
    /// A SQL query over a CSV file, computed by three local parties over TLS (malicious
    /// security); prints a table, or one JSON object with --json.
    Stats(stats::Args),
    /// One party of `triad stats` (started by it).
    #[command(hide = true)]
    StatsParty(stats::PartyArgs),
    /// Checks a result's threshold signature with the network's public key; exits non-zero
    /// with the reason (malformed, forged, wrong network or dataset, stale snapshot).
    Verify(verify::Args),
    /// A provider's contribution to a running network: reads the parties' keys and the
    /// dataset's format from the coordinator, splits and seals the value proven in a
    /// presentation, submits it, and prints the contribution id and log position.
    Provide(client::ProvideArgs),
    /// A consumer's query to a running network: submits the SQL to the coordinator, waits for
    /// the result at the projector and prints it; a query the parties refuse exits non-zero
    /// with the reason.
    Query(client::QueryArgs),
    /// Prints each result the projector publishes, as it comes, until interrupted.
    Watch(client::WatchArgs),
    /// A running network's parties (up or down, last heartbeat), datasets (contributions
    /// submitted, accepted, rejected, pending) and queued queries.
    Status(client::StatusArgs),
}

// mimalloc: the services allocate per message and per event on many threads, where glibc's
// allocator spent a tenth of the ingest's CPU (docs/BENCHMARKS.md, network).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    malloc::keep_freed_memory();
    // Best effort: a kernel without the setting runs as before, only slower.
    let _ = triad_party::memory::without_transparent_huge_pages();
    let cli = Cli::parse();
    // Quiet by default (the commands print their own progress); `RUST_LOG` turns the services'
    // logs on, to stderr.
    if std::env::var_os("RUST_LOG").is_some_and(|f| !f.is_empty()) {
        triad_telemetry::init("triad", &triad_telemetry::TelemetryConfig::default())?;
    }
    match cli.command {
        Command::Devnet(args) => devnet::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Bench(cmd) => triad_bench::run(cmd).await,
        Command::Events(cmd) => events::run(cmd).await,
        Command::Notary(cmd) => notary::run(cmd),
        Command::Provider(cmd) => provider::run(cmd),
        Command::Stats(args) => stats::run(args),
        Command::StatsParty(args) => stats::party(args),
        Command::Verify(args) => verify::run(args).await,
        Command::Provide(args) => client::provide(args).await,
        Command::Query(args) => client::query(args).await,
        Command::Watch(args) => client::watch(args).await,
        Command::Status(args) => client::status(args).await,
    }
}
