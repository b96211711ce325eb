//! The services' stores and bus for one run, on either backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use triad_eventlog::{
    BackendKind, BusNames, EventBus, EventLogConfig, EventStore, InProcessBus, JetStreamBus, JetStreamConfig,
    PgEventStore,
};

use triad_signing_bus::{BusConfig, SigningBus};

use crate::{Context as _, LocalNetError};

/// Where the services' stores and bus live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite files in the run's directory and the in-process bus: no servers.
    Embedded,
    /// A fresh PostgreSQL database per service (`<prefix>_<service>`) and NATS JetStream
    /// streams of a fresh subject prefix (`devnet<random>`).
    Distributed {
        /// A PostgreSQL URL whose user may create databases.
        database_url: String,
        /// The NATS server (with JetStream).
        nats_url: String,
    },
}

pub(crate) enum Log {
    Embedded {
        dir: PathBuf,
        bus: InProcessBus,
        signing: SigningBus,
    },
    Distributed {
        admin_url: String,
        prefix: String,
        bus: Arc<JetStreamBus>,
        databases: Vec<String>,
        signing: SigningBus,
        nats: async_nats::Client,
    },
}

impl Log {
    pub(crate) async fn open(backend: Backend, dir: &Path) -> Result<Log, LocalNetError> {
        Ok(match backend {
            Backend::Embedded => Log::Embedded {
                dir: dir.to_owned(),
                bus: InProcessBus::new(),
                signing: SigningBus::memory(BusConfig::new("triad.sign")),
            },
            Backend::Distributed { database_url, nats_url } => {
                let mut run = [0u8; 4];
                getrandom::fill(&mut run).step("operating-system randomness")?;
                let prefix = format!("devnet{}", hex::encode(run));
                let bus = JetStreamBus::connect(JetStreamConfig {
                    url: nats_url.clone(),
                    names: BusNames::prefixed(&prefix),
                    duplicate_window: Duration::from_secs(600),
                    replicas: 1,
                })
                .await
                .step(&format!("connecting to NATS at {nats_url} (is nats-server -js running?)"))?;
                let nats = async_nats::connect(nats_url.as_str())
                    .await
                    .step(&format!("connecting to NATS at {nats_url} (is nats-server -js running?)"))?;
                let signing = SigningBus::new(nats.clone(), BusConfig::new(&format!("{prefix}.sign")))
                    .await
                    .step("declaring the signing stream")?;
                Log::Distributed {
                    admin_url: database_url,
                    prefix,
                    bus: Arc::new(bus),
                    databases: Vec::new(),
                    signing,
                    nats,
                }
            }
        })
    }

    pub(crate) fn bus(&self) -> Arc<dyn EventBus> {
        match self {
            Log::Embedded { bus, .. } => Arc::new(bus.clone()),
            Log::Distributed { bus, .. } => bus.clone(),
        }
    }

    /// The transport of the parties' threshold-signing sessions.
    pub(crate) fn signing(&self) -> SigningBus {
        match self {
            Log::Embedded { signing, .. } | Log::Distributed { signing, .. } => signing.clone(),
        }
    }

    /// A fresh database of the run: its URL.
    async fn database(
        admin_url: &str,
        prefix: &str,
        databases: &mut Vec<String>,
        service: &str,
    ) -> Result<String, LocalNetError> {
        let name = format!("{prefix}_{service}");
        PgEventStore::create_database(admin_url, &name)
            .await
            .step(&format!("creating database {name} (is PostgreSQL running at {admin_url}?)"))?;
        databases.push(name.clone());
        with_database(admin_url, &name).step(&format!("the database URL {admin_url}"))
    }

    pub(crate) async fn store(&mut self, service: &str) -> Result<Arc<dyn EventStore>, LocalNetError> {
        let store: Arc<dyn EventStore> = match self {
            Log::Embedded { dir, bus, .. } => {
                let log =
                    EventLogConfig { backend: BackendKind::Embedded, data_dir: dir.clone(), ..Default::default() };
                log.open_store(service, bus).await.step(&format!("opening {service}'s store"))?
            }
            Log::Distributed { admin_url, prefix, databases, .. } => {
                let url = Self::database(admin_url, prefix, databases, service).await?;
                Arc::new(PgEventStore::connect(&url, service).await.step(&format!("opening {service}'s store"))?)
            }
        };
        self.bus().ensure_stream(service).await.step(&format!("declaring {service}'s stream"))?;
        Ok(store)
    }

    pub(crate) async fn projector_url(&mut self) -> Result<String, LocalNetError> {
        match self {
            Log::Embedded { dir, .. } => Ok(format!("sqlite://{}", dir.join("projector.sqlite").display())),
            Log::Distributed { admin_url, prefix, databases, .. } => {
                Self::database(admin_url, prefix, databases, "projector").await
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Log::Embedded { dir, .. } => format!("embedded: SQLite stores in {}, the in-process bus", dir.display()),
            Log::Distributed { prefix, .. } => {
                format!("distributed: PostgreSQL databases {prefix}_<service>, JetStream streams of prefix {prefix}")
            }
        }
    }

    pub(crate) async fn cleanup(&self, keep: bool) {
        let Log::Distributed { admin_url, bus, databases, prefix, signing, nats } = self else { return };
        if keep {
            eprintln!("kept the databases and streams of prefix {prefix}");
            return;
        }
        for db in databases {
            if let Err(e) = PgEventStore::drop_database(admin_url, db).await {
                eprintln!("could not drop database {db}: {e}");
            }
        }
        for service in triad_network::PARTIES.iter().chain([&triad_network::COORDINATOR]) {
            if let Err(e) = bus.delete_stream(service).await {
                eprintln!("could not delete the stream of {service}: {e}");
            }
        }
        let stream = &signing.config().stream;
        if let Err(e) = async_nats::jetstream::new(nats.clone()).delete_stream(stream).await {
            eprintln!("could not delete the signing stream {stream}: {e}");
        }
    }
}

/// `url` naming database `name` instead of its own; its query (`?host=/var/run/postgresql`
/// for a Unix socket, `sslmode`, ...) kept.
fn with_database(url: &str, name: &str) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(url)?;
    url.set_path(name);
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_database_url_names_the_new_database_and_keeps_its_query() {
        let cases = [
            ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/run_x"),
            ("postgres://postgres@127.0.0.1:5432", "postgres://postgres@127.0.0.1:5432/run_x"),
            ("postgres://postgres@127.0.0.1/", "postgres://postgres@127.0.0.1/run_x"),
            (
                "postgres://postgres@localhost/postgres?host=/var/run/postgresql",
                "postgres://postgres@localhost/run_x?host=/var/run/postgresql",
            ),
            (
                "postgres://u@h/db?sslmode=disable&application_name=a/b",
                "postgres://u@h/run_x?sslmode=disable&application_name=a/b",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(with_database(url, "run_x").unwrap(), want, "{url}");
        }
    }
}
