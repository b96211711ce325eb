//! Helpers for Triad's integration tests. Tests use the real services on
//! 127.0.0.1 (PostgreSQL 5432, NATS JetStream 4222), each test with its own
//! databases (`triad_t<uuid>_<service>`) and its own subject and stream
//! prefix, so tests run in parallel on one server; the embedded backend runs
//! the same tests on SQLite files in a temporary directory. Dropping the
//! [`Harness`] removes its databases and streams, also when a test panics or
//! returns early.

pub mod network;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use triad_eventlog::{
    BusNames, EventBus, EventStore, InProcessBus, JetStreamBus, JetStreamConfig, PgEventStore, SqliteEventStore,
};

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

/// One test's private event log world. Its databases and bus streams are
/// removed when it is dropped.
pub struct Harness {
    /// The backend under test.
    pub backend: Backend,
    /// This test's unique prefix.
    pub prefix: String,
    bus: Bus,
    dir: tempfile::TempDir,
    created: Cleanup,
}

impl Harness {
    /// A fresh world: unique names, nothing shared with other tests.
    pub async fn new(backend: Backend) -> anyhow::Result<Self> {
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        let bus = match backend {
            Backend::Distributed => Bus::JetStream(Box::new(
                JetStreamBus::connect(JetStreamConfig {
                    url: nats_url(),
                    names: BusNames::prefixed(&prefix),
                    ..Default::default()
                })
                .await?,
            )),
            Backend::Embedded => Bus::InProcess(InProcessBus::new()),
        };
        let created = Cleanup {
            admin: pg_admin_url(),
            prefix: prefix.clone(),
            nats: nats_url(),
            databases: Mutex::default(),
            streams: Mutex::default(),
        };
        Ok(Self { backend, prefix, bus, dir: tempfile::tempdir()?, created })
    }

    /// The PostgreSQL database of `service`'s store (distributed backend only).
    pub fn database_name(&self, service: &str) -> Option<String> {
        matches!(self.bus, Bus::JetStream(_)).then(|| database_name(&self.prefix, service))
    }

    /// The bus stream of `service`.
    pub fn stream_name(&self, service: &str) -> String {
        BusNames::prefixed(&self.prefix).stream(service)
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
                let db = database_name(&self.prefix, service);
                let admin = pg_admin_url();
                // Noted first: a create that fails half-way is still dropped.
                Cleanup::note(&self.created.databases, &db);
                PgEventStore::create_database(&admin, &db).await?;
                Arc::new(PgEventStore::connect(&database_url(&admin, &db), service).await?)
            }
            Bus::InProcess(bus) => {
                let s = SqliteEventStore::open(&self.dir.path().join(format!("{service}.sqlite")), service).await?;
                bus.register(s.clone()).await?;
                Arc::new(s)
            }
        };
        if let Bus::JetStream(_) = self.bus {
            Cleanup::note(&self.created.streams, service);
        }
        self.bus().ensure_stream(service).await?;
        Ok(store)
    }

    /// Reopens `service`'s store as a restarted process would.
    pub async fn reopen(&self, service: &str) -> anyhow::Result<Arc<dyn EventStore>> {
        match &self.bus {
            Bus::JetStream(_) => {
                let db = database_name(&self.prefix, service);
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
}

/// `service`'s database in the world named `prefix`.
fn database_name(prefix: &str, service: &str) -> String {
    format!("triad_{prefix}_{service}")
}

/// What a harness created on the shared servers, removed on drop.
struct Cleanup {
    prefix: String,
    /// The PostgreSQL URL the databases were created with.
    admin: String,
    /// The NATS server the streams were declared on.
    nats: String,
    /// Databases (possibly) created.
    databases: Mutex<Vec<String>>,
    /// Services whose bus stream was (possibly) declared.
    streams: Mutex<Vec<String>>,
}

impl Cleanup {
    fn note(list: &Mutex<Vec<String>>, name: &str) {
        let mut list = list.lock().unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|n| n == name) {
            list.push(name.to_owned());
        }
    }

    /// Drops the databases and deletes the streams over fresh connections:
    /// the test's own clients belong to its runtime, which may be unwinding.
    async fn remove(prefix: &str, admin: &str, nats: String, databases: &[String], streams: &[String]) -> Vec<String> {
        let mut failures = Vec::new();
        for db in databases {
            if let Err(e) = PgEventStore::drop_database(admin, db).await {
                failures.push(format!("database {db}: {e}"));
            }
        }
        if streams.is_empty() {
            return failures;
        }
        // The parties' signing sessions: one stream under `<prefix>.sign` (party/src/main.rs).
        let signing = triad_signing_bus::BusConfig::new(&format!("{prefix}.sign")).stream;
        match async_nats::connect(nats.as_str()).await {
            Ok(client) => {
                let js = async_nats::jetstream::new(client);
                if js.get_stream(&signing).await.is_ok()
                    && let Err(e) = js.delete_stream(&signing).await
                {
                    failures.push(format!("stream {signing}: {e}"));
                }
            }
            Err(e) => failures.push(format!("stream {signing}: {e}")),
        }
        let config = JetStreamConfig { url: nats, names: BusNames::prefixed(prefix), ..Default::default() };
        match JetStreamBus::connect(config).await {
            Ok(bus) => {
                for service in streams {
                    if let Err(e) = bus.delete_stream(service).await {
                        failures.push(format!("stream of {service}: {e}"));
                    }
                }
            }
            Err(e) => failures.push(format!("streams {streams:?}: {e}")),
        }
        failures
    }
}

impl Drop for Cleanup {
    /// Runs on a thread of its own with its own runtime, and waits for it:
    /// `drop` cannot await, and it may run on any runtime flavour, or while
    /// the test's runtime unwinds from a panic. Never panics itself (a panic
    /// during unwinding would abort the test binary): failures are printed.
    fn drop(&mut self) {
        let databases = std::mem::take(&mut *self.databases.lock().unwrap_or_else(PoisonError::into_inner));
        let streams = std::mem::take(&mut *self.streams.lock().unwrap_or_else(PoisonError::into_inner));
        if databases.is_empty() && streams.is_empty() {
            return;
        }
        let (prefix, admin, nats) = (self.prefix.clone(), self.admin.clone(), self.nats.clone());
        let worker = std::thread::Builder::new().name(format!("cleanup-{prefix}")).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(Self::remove(&prefix, &admin, nats, &databases, &streams)),
                Err(e) => vec![format!("no runtime for cleanup: {e}")],
            }
        });
        let failures = match worker.map(std::thread::JoinHandle::join) {
            Ok(Ok(failures)) => failures,
            Ok(Err(_)) => vec!["the cleanup thread panicked".to_owned()],
            Err(e) => vec![format!("no cleanup thread: {e}")],
        };
        for failure in failures {
            eprintln!("harness {}: cleanup failed: {failure}", self.prefix);
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
