//! `triad-coordinator`: the coordinator service as a process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};
use triad_coordinator::{Coordinator, CoordinatorConfig};
use triad_eventlog::{EventLogConfig, InProcessBus};
use triad_telemetry::TelemetryConfig;

#[derive(Parser)]
#[command(name = "triad-coordinator", about = "The Triad network's coordinator")]
struct Args {
    /// TOML configuration file (settings also come from `TRIAD_*` variables).
    #[arg(long, env = "TRIAD_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    coordinator: CoordinatorConfig,
    eventlog: EventLogConfig,
    telemetry: TelemetryConfig,
    listen: SocketAddr,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            coordinator: CoordinatorConfig::default(),
            eventlog: EventLogConfig::default(),
            telemetry: TelemetryConfig::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
        }
    }
}

// mimalloc: the services allocate per message and per event on many threads, where glibc's
// allocator spent a tenth of the ingest's CPU (docs/BENCHMARKS.md, network).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings: Settings = triad_config::load(args.config.as_deref()).context("loading the configuration")?;
    triad_telemetry::init(triad_network::COORDINATOR, &settings.telemetry).context("starting telemetry")?;

    let anchors = settings
        .coordinator
        .trust_anchor_files
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading trust anchor {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Embedded: this process's own in-process bus (the parties' stores must be registered on
    // it to be heard, as `triad devnet` does in one process).
    let shared = InProcessBus::new();
    let bus = settings.eventlog.open_bus(&shared).await.context("opening the bus")?;
    let store = settings
        .eventlog
        .open_store(triad_network::COORDINATOR, &shared)
        .await
        .context("opening the coordinator's store")?;
    let coordinator = Coordinator::start(settings.coordinator, anchors, store, Arc::clone(&bus))
        .await
        .context("starting the coordinator")?;
    let listener =
        tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let served = coordinator.serve(listener, triad_telemetry::shutdown_signal()).await;
    coordinator.shutdown().await;
    served.context("serving")?;
    Ok(())
}
