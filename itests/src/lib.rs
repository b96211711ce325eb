//! Helpers for Triad's integration tests. Tests use the real services on
//! 127.0.0.1 (PostgreSQL 5432, NATS JetStream 4222), each test with its own
//! databases (`triad_t<uuid>_<service>`) and its own subject and stream
//! prefix, so tests run in parallel on one server; the embedded backend runs
//! the same tests on SQLite files in a temporary directory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use triad_eventlog::{BusNames, EventBus, EventStore, InProcessBus, JetStreamBus, JetStreamConfig, PgEventStore, SqliteEventStore};

/// PostgreSQL server for tests (`TRIAD_TEST_PG` overrides).
pub fn pg_admin_url() -> String {
    std::env::var("TRIAD_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// NATS server for tests (`TRIAD_TEST_NATS` overrides).
pub fn nats_url() -> String {
    std::env::var("TRIAD_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Which event log a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL stores and NATS JetStream.
    Distributed,
    /// SQLite stores and the in-process bus.
    Embedded,
}

enum Bus {
    JetStream(Box<JetStreamBus>),
    InProcess(InProcessBus),
}

/// One test's private event log world.
pub struct Harness {
    /// The backend under test.
    pub backend: Backend,
    /// This test's unique prefix.
    pub prefix: String,
    bus: Bus,
    dir: tempfile::TempDir,
    databases: std::sync::Mutex<Vec<String>>,
}

impl Harness {
    /// A fresh world: unique names, nothing shared with other tests.
    pub async fn new(backend: Backend) -> anyhow::Result<Self> {
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        let bus = match backend {
            Backend::Distributed => Bus::JetStream(Box::new(
                JetStreamBus::connect(JetStreamConfig { url: nats_url(), names: BusNames::prefixed(&prefix), ..Default::default() })
                    .await?,
            )),
            Backend::Embedded => Bus::InProcess(InProcessBus::new()),
        };
        Ok(Self { backend, prefix, bus, dir: tempfile::tempdir()?, databases: Default::default() })
    }

    /// The bus.
    pub fn bus(&self) -> Arc<dyn EventBus> {
        match &self.bus {
            Bus::JetStream(b) => Arc::new(b.as_ref().clone()),
            Bus::InProcess(b) => Arc::new(b.clone()),
        }
    }

    /// A store for `service` (a new database or file), its bus stream declared.
    pub async fn store(&self, service: &str) -> anyhow::Result<Arc<dyn EventStore>> {
        let store: Arc<dyn EventStore> = match &self.bus {
            Bus::JetStream(_) => {
                let db = format!("triad_{}_{service}", self.prefix);
                let admin = pg_admin_url();
                PgEventStore::create_database(&admin, &db).await?;
                self.databases.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(db.clone());
                Arc::new(PgEventStore::connect(&database_url(&admin, &db), service).await?)
            }
            Bus::InProcess(bus) => {
                let s = SqliteEventStore::open(&self.dir.path().join(format!("{service}.sqlite")), service).await?;
                bus.register(s.clone()).await?;
                Arc::new(s)
            }
        };
        self.bus().ensure_stream(service).await?;
        Ok(store)
    }

    /// Reopens `service`'s store as a restarted process would.
    pub async fn reopen(&self, service: &str) -> anyhow::Result<Arc<dyn EventStore>> {
        match &self.bus {
            Bus::JetStream(_) => {
                let db = format!("triad_{}_{service}", self.prefix);
                Ok(Arc::new(PgEventStore::connect(&database_url(&pg_admin_url(), &db), service).await?))
            }
            Bus::InProcess(bus) => {
                let s = SqliteEventStore::open(&self.dir.path().join(format!("{service}.sqlite")), service).await?;
                bus.register(s.clone()).await?;
                Ok(Arc::new(s))
            }
        }
    }

    /// Messages the bus holds for `service`, where the bus keeps its own copy.
    pub async fn bus_message_count(&self, service: &str) -> anyhow::Result<Option<u64>> {
        match &self.bus {
            Bus::JetStream(b) => {
                let mut s = b.context().get_stream(b.names().stream(service)).await?;
                Ok(Some(s.info().await?.state.messages))
            }
            Bus::InProcess(_) => Ok(None),
        }
    }

    /// Drops this test's databases and streams.
    pub async fn cleanup(self) {
        let dbs = std::mem::take(&mut *self.databases.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for db in dbs {
            let _ = PgEventStore::drop_database(&pg_admin_url(), &db).await;
            if let Bus::JetStream(b) = &self.bus {
                let service = db.rsplit_once(&format!("{}_", self.prefix)).map(|(_, s)| s.to_owned()).unwrap_or_default();
                let _ = b.delete_stream(&service).await;
            }
        }
    }
}

/// `admin` with its database replaced by `db`.
pub fn database_url(admin: &str, db: &str) -> String {
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => format!("{admin}/{db}"),
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes. For waiting on
/// an effect another task produces; each try is a real observation.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
