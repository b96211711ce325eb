//! The projector over the distributed backend: PostgreSQL stores, NATS JetStream, a PostgreSQL
//! read model. Each test has its own databases and subject/stream prefix, removed at the end
//! (also when it fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Mutex, PoisonError};

use common::{World, scenario, snapshot};
use triad_eventlog::{
    BackendKind, BusNames, EventLogConfig, InProcessBus, JetStreamBus, JetStreamConfig, PgEventStore,
};
use triad_network::{COORDINATOR, PARTIES};
use triad_projector::{Projector, ProjectorConfig};

fn pg_admin_url() -> String {
    std::env::var("TRIAD_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn nats_url() -> String {
    std::env::var("TRIAD_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// `postgres://.../<db>` on the test server.
fn db_url(db: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{db}")
}

/// One test's names on the shared servers; dropping it removes its databases and streams.
struct Names {
    prefix: String,
    databases: Mutex<Vec<String>>,
}

impl Names {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        Self { prefix: format!("tp{nanos}x{}", std::process::id()), databases: Mutex::default() }
    }

    /// Creates the database of `what` (noted first: a half-made one is still dropped).
    async fn database(&self, what: &str) -> String {
        let db = format!("triad_{}_{what}", self.prefix);
        self.databases.lock().unwrap_or_else(PoisonError::into_inner).push(db.clone());
        PgEventStore::create_database(&pg_admin_url(), &db).await.expect("create database");
        db
    }
}

impl Drop for Names {
    /// On a thread with its own runtime: the test's may be unwinding.
    fn drop(&mut self) {
        let databases = std::mem::take(&mut *self.databases.lock().unwrap_or_else(PoisonError::into_inner));
        let prefix = self.prefix.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                eprintln!("cleanup of {prefix}: no runtime");
                return;
            };
            rt.block_on(async {
                for db in &databases {
                    if let Err(e) = PgEventStore::drop_database(&pg_admin_url(), db).await {
                        eprintln!("cleanup: database {db}: {e}");
                    }
                }
                let config =
                    JetStreamConfig { url: nats_url(), names: BusNames::prefixed(&prefix), ..Default::default() };
                match JetStreamBus::connect(config).await {
                    Ok(bus) => {
                        for service in std::iter::once(COORDINATOR).chain(PARTIES) {
                            if let Err(e) = bus.delete_stream(service).await {
                                eprintln!("cleanup: stream of {service}: {e}");
                            }
                        }
                    }
                    Err(e) => eprintln!("cleanup: streams of {prefix}: {e}"),
                }
            });
        });
        let _ = cleanup.join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn folds_postgres_stores_over_jetstream_into_postgres_and_a_rebuild_answers_the_same() {
    let names = Names::new();
    let mut urls = std::collections::BTreeMap::new();
    for service in std::iter::once(COORDINATOR).chain(PARTIES) {
        urls.insert(service.to_owned(), db_url(&names.database(service).await));
    }
    let read_model = db_url(&names.database("projector").await);
    let rebuilt_model = db_url(&names.database("rebuilt").await);
    let config = |service: &str| EventLogConfig {
        backend: BackendKind::Distributed,
        database_url: urls.get(service).cloned().unwrap_or_default(),
        nats_url: nats_url(),
        subject_prefix: names.prefix.clone(),
        ..Default::default()
    };
    let world = World::open(config, &InProcessBus::new()).await;
    let projector = Projector::start(
        ProjectorConfig { database_url: read_model.clone(), consumer_suffix: String::new() },
        world.bus.clone(),
    )
    .await
    .expect("projector");
    scenario(&world, &projector).await;
    world.caught_up(&projector).await;
    let before = snapshot(&projector).await;
    assert_eq!((before.0.len(), before.1.len()), (1, 2));

    // A fresh read model with fresh durable consumers folds the streams from position 0.
    let fresh = common::rebuilt(&world, rebuilt_model, "rebuild1").await;
    assert_eq!(snapshot(&fresh).await, before);
    fresh.shutdown().await;

    // Restarted on the same read model and consumers: resumes, counts nothing twice.
    projector.shutdown().await;
    let restarted = Projector::start(
        ProjectorConfig { database_url: read_model, consumer_suffix: String::new() },
        world.bus.clone(),
    )
    .await
    .expect("restarted");
    world.caught_up(&restarted).await;
    assert_eq!(snapshot(&restarted).await, before);
    restarted.shutdown().await;
    world.stop().await;
}
