//! `triad-party`: one computation party as a process. Run three (indices 0, 1, 2), each with
//! its own operator, store and data directory, next to a coordinator and a projector on the
//! same bus (`eventlog.backend = "distributed"`: PostgreSQL and NATS JetStream). The embedded
//! backend's in-process bus reaches no other process: `triad devnet` runs the whole network in
//! one process instead.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};
use triad_eventlog::{EventLogConfig, InProcessBus};
use triad_party::{Party, PartySettings};
use triad_telemetry::TelemetryConfig;

#[derive(Parser)]
#[command(name = "triad-party", about = "A computation party of the Triad network")]
struct Args {
    /// TOML configuration file (settings also come from `TRIAD_*` variables).
    #[arg(long, env = "TRIAD_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    party: PartySettings,
    eventlog: EventLogConfig,
    telemetry: TelemetryConfig,
}

// mimalloc: the services allocate per message and per event on many threads, where glibc's
// allocator spent a tenth of the ingest's CPU (docs/BENCHMARKS.md, network).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings: Settings = triad_config::load(args.config.as_deref()).context("loading the configuration")?;
    let name = triad_network::PARTIES
        .get(settings.party.index as usize)
        .with_context(|| format!("party.index = {}: a party is 0, 1 or 2", settings.party.index))?;
    triad_telemetry::init(name, &settings.telemetry).context("starting telemetry")?;
    if let Err(e) = triad_party::memory::without_transparent_huge_pages() {
        tracing::warn!(error = %e, "transparent huge pages stay on: sessions fault in more memory");
    }
    let shared = InProcessBus::new();
    let bus = settings.eventlog.open_bus(&shared).await.context("opening the bus")?;
    let store = settings.eventlog.open_store(name, &shared).await.with_context(|| format!("opening {name}'s store"))?;
    // Signing sessions travel on the same NATS server (a stream of their own under the
    // prefix); the embedded backend reaches no other process, so its transport is in memory.
    let signing_config = triad_signing_bus::BusConfig::new(&format!("{}.sign", settings.eventlog.subject_prefix));
    let signing = match settings.eventlog.backend {
        triad_eventlog::BackendKind::Embedded => triad_signing_bus::SigningBus::memory(signing_config),
        triad_eventlog::BackendKind::Distributed => {
            let url = &settings.eventlog.nats_url;
            let client = async_nats::connect(url.as_str())
                .await
                .with_context(|| format!("connecting to NATS at {url} for signing"))?;
            triad_signing_bus::SigningBus::new(client, signing_config).await.context("declaring the signing stream")?
        }
    };
    let party = Party::start(settings.party, store, bus, signing).await.with_context(|| format!("starting {name}"))?;
    triad_telemetry::shutdown_signal().await;
    party.shutdown().await;
    Ok(())
}
