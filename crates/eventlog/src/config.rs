//! The event log section of a service's configuration, and the one place
//! that turns it into a store and a bus.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::bus::{BusNames, EventBus};
use crate::embedded::InProcessBus;
use crate::error::{BusError, StoreError};
use crate::jetstream::{JetStreamBus, JetStreamConfig};
use crate::postgres::PgEventStore;
use crate::sqlite::SqliteEventStore;
use crate::store::EventStore;

/// Which engines hold and carry events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// SQLite files and the in-process bus: one process, no servers.
    #[default]
    Embedded,
    /// PostgreSQL and NATS JetStream.
    Distributed,
}

/// Settings of the event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventLogConfig {
    /// `embedded` or `distributed`.
    pub backend: BackendKind,
    /// Distributed: the PostgreSQL URL of this service's database.
    pub database_url: String,
    /// Embedded: directory of the SQLite files (`<service>.sqlite`).
    pub data_dir: PathBuf,
    /// Distributed: the NATS server.
    pub nats_url: String,
    /// First token of every subject.
    pub subject_prefix: String,
    /// JetStream's de-duplication window for republished events, seconds.
    pub duplicate_window_secs: u64,
}

impl Default for EventLogConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::Embedded,
            database_url: "postgres://postgres@127.0.0.1:5432/triad".into(),
            data_dir: PathBuf::from(".triad"),
            nats_url: "nats://127.0.0.1:4222".into(),
            subject_prefix: "triad".into(),
            duplicate_window_secs: 600,
        }
    }
}

/// Why the event log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store failed to open.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// The bus failed to open.
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    /// The data directory could not be made.
    #[error("cannot create {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl EventLogConfig {
    /// The bus names these settings describe.
    pub fn names(&self) -> BusNames {
        BusNames::prefixed(&self.subject_prefix)
    }

    /// Opens the bus: NATS for `distributed`; for `embedded`, `shared` (the
    /// process's one in-process bus).
    pub async fn open_bus(&self, shared: &InProcessBus) -> Result<Arc<dyn EventBus>, OpenError> {
        Ok(match self.backend {
            BackendKind::Embedded => Arc::new(shared.clone()),
            BackendKind::Distributed => Arc::new(
                JetStreamBus::connect(JetStreamConfig {
                    url: self.nats_url.clone(),
                    names: self.names(),
                    duplicate_window: Duration::from_secs(self.duplicate_window_secs),
                    replicas: 1,
                })
                .await?,
            ),
        })
    }

    /// Opens `service`'s store; an embedded store is registered on `shared`.
    pub async fn open_store(&self, service: &str, shared: &InProcessBus) -> Result<Arc<dyn EventStore>, OpenError> {
        Ok(match self.backend {
            BackendKind::Embedded => {
                std::fs::create_dir_all(&self.data_dir)
                    .map_err(|source| OpenError::DataDir { path: self.data_dir.display().to_string(), source })?;
                let store = SqliteEventStore::open(&self.data_dir.join(format!("{service}.sqlite")), service).await?;
                shared.register(store.clone()).await?;
                Arc::new(store)
            }
            BackendKind::Distributed => Arc::new(PgEventStore::connect(&self.database_url, service).await?),
        })
    }
}
