//! `triad-projector`: folds the network's streams into the read model and serves the query API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};
use triad_eventlog::{EventBus, EventLogConfig, EventStore, InProcessBus};
use triad_projector::{Projector, ProjectorConfig};
use triad_telemetry::TelemetryConfig;

/// Embedded: how often the sources' outbox cursors are read.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

#[derive(Parser)]
#[command(name = "triad-projector", about = "Folds the network's streams into read models and serves QueryApi")]
struct Args {
    /// TOML settings (`[projector]`, `[eventlog]`, `[telemetry]`, `listen`); `TRIAD_*`
    /// variables override.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Drops the read model and folds every stream again from position 0, with fresh durable
    /// consumers.
    #[arg(long)]
    rebuild: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    projector: ProjectorConfig,
    eventlog: EventLogConfig,
    telemetry: TelemetryConfig,
    listen: SocketAddr,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            projector: ProjectorConfig::default(),
            eventlog: EventLogConfig::default(),
            telemetry: TelemetryConfig::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 50052)),
        }
    }
}

// mimalloc: the services allocate per message and per event on many threads, where glibc's
// allocator spent a tenth of the ingest's CPU (docs/BENCHMARKS.md, network).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let mut settings: Settings = triad_config::load(args.config.as_deref())?;
    triad_telemetry::init("projector", &settings.telemetry)?;

    sqlite_dir(&settings.projector.database_url)?;
    if args.rebuild {
        Projector::wipe(&settings.projector.database_url).await.context("dropping the read model")?;
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let base = settings.projector.consumer_suffix.clone();
        settings.projector.consumer_suffix =
            if base.is_empty() { format!("r{stamp}") } else { format!("{base}_r{stamp}") };
        tracing::info!(suffix = %settings.projector.consumer_suffix, "rebuilding the read model from position 0");
    }

    // Embedded, the in-process bus reads the sources' SQLite files in the shared data directory;
    // their owners publish in other processes, so a follower mirrors each outbox cursor.
    let shared = InProcessBus::new();
    let bus = settings.eventlog.open_bus(&shared).await.context("opening the bus")?;
    let (stop_followers, followers) = tokio::sync::watch::channel(false);
    if settings.eventlog.backend == triad_eventlog::BackendKind::Embedded {
        for source in triad_projector::sources() {
            let store = settings
                .eventlog
                .open_store(source, &shared)
                .await
                .with_context(|| format!("opening {source}'s store"))?;
            tokio::spawn(follow_outbox(store, bus.clone(), followers.clone()));
        }
    }

    let projector = Projector::start(settings.projector, bus).await.context("starting the projector")?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "serving triad.api.v1.QueryApi");
    let served = projector.serve(listener, triad_telemetry::shutdown_signal()).await;
    projector.shutdown().await;
    stop_followers.send_replace(true);
    served.context("serving")?;
    Ok(())
}

/// Creates the directory of a `sqlite://<path>` read model.
fn sqlite_dir(url: &str) -> Result<()> {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Ok(());
    };
    let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Embedded: announces on the in-process bus what `store`'s owner (another process) has
/// published, without touching its outbox cursor.
async fn follow_outbox(
    store: Arc<dyn EventStore>,
    bus: Arc<dyn EventBus>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut announced = 0;
    loop {
        match store.published().await {
            Ok(p) if p > announced => match store.read_all(p - 1, 1).await {
                Ok(events) if !events.is_empty() => match bus.publish(&events).await {
                    Ok(()) => announced = p,
                    Err(e) => tracing::warn!(service = store.service(), error = %e, "cannot announce"),
                },
                Ok(_) => {}
                Err(e) => tracing::warn!(service = store.service(), error = %e, "cannot read the store"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(service = store.service(), error = %e, "cannot read the outbox cursor"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
    }
}
