//! The projector: consumes the coordinator's and the three parties' streams through durable
//! consumers, folds them into a read model (SQLite embedded, PostgreSQL distributed) and serves
//! the consumers' gRPC query API (`triad.api.v1.QueryApi`), with grpc.health.v1 and server
//! reflection (`docs/protocols/network.md` §6).
//!
//! Each batch of a source's events is folded in one transaction together with that source's
//! checkpoint (the highest position folded), strictly in position order: a redelivered event
//! is a no-op, and a read model wiped and started with fresh consumers rebuilds the same.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api;
mod consume;
mod db;
mod fold;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use triad_eventlog::{BusError, EventBus};
use triad_proto::api::v1::query_api_server::{QueryApi, QueryApiServer};
use triad_proto::events::v1::ResultPublished;

pub use api::QueryService;

use crate::db::ReadDb;
use crate::fold::state;

/// Results buffered for `StreamResults` callers; one that falls further behind is ended.
const STREAM_BUFFER: usize = 1_024;

/// The projector's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectorConfig {
    /// The read model: `sqlite://<path>` (created if missing) or `postgres://...`.
    pub database_url: String,
    /// Appended to the durable consumers' names (`projector_<source>_<suffix>`): a rebuilt
    /// read model needs consumers that start again at position 0. `[a-z0-9_]`, may be empty.
    /// Used when the read model is created; it keeps that suffix afterwards.
    pub consumer_suffix: String,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self { database_url: "sqlite://.triad/projector.sqlite".into(), consumer_suffix: String::new() }
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// The read model's database.
    #[error("read model: {0}")]
    Db(#[from] sqlx::Error),
    /// A database URL of neither kind.
    #[error("unsupported read model URL {0:?}: expected sqlite://<path> or postgres://...")]
    DatabaseUrl(String),
    /// A consumer name the bus refuses.
    #[error("invalid consumer suffix {0:?}: use at most 40 of [a-z0-9_]")]
    ConsumerSuffix(String),
    /// The bus.
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    /// A stored value that does not decode.
    #[error("corrupt {what}: {source}")]
    Corrupt {
        /// The column.
        what: &'static str,
        /// Why.
        source: prost::DecodeError,
    },
    /// A number out of the database's range.
    #[error("{what} {value} is out of range")]
    Range {
        /// What it is.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// The coordinator gave up on the query.
    #[error("query {query} aborted: {reason}")]
    Aborted {
        /// The query id, hex.
        query: String,
        /// The coordinator's reason.
        reason: String,
    },
    /// The query did not end in time.
    #[error("query {query} not settled after {timeout:?} (state: {state})")]
    Timeout {
        /// The query id, hex.
        query: String,
        /// The wait.
        timeout: Duration,
        /// Its state at the deadline (`unknown` if never seen).
        state: String,
    },
    /// The projector was shut down while waiting.
    #[error("the projector is shut down")]
    Closed,
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The reflection service could not be built.
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Shared by the consumers, the gRPC service and the handles.
pub(crate) struct Inner {
    pub(crate) db: ReadDb,
    /// Every result newly folded, after its commit.
    pub(crate) results: broadcast::Sender<ResultPublished>,
    /// Bumped after each commit (waiters re-read the model).
    pub(crate) progress: watch::Sender<u64>,
    /// Stops the consumers.
    stop: watch::Sender<bool>,
    /// Ends open `StreamResults` calls (server shutdown).
    pub(crate) closing: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A running projector. Clones share it.
#[derive(Clone)]
pub struct Projector {
    inner: Arc<Inner>,
}

/// The sources folded: the coordinator's stream and the three parties'.
pub fn sources() -> Vec<&'static str> {
    std::iter::once(triad_network::COORDINATOR).chain(triad_network::PARTIES).collect()
}

impl Projector {
    /// Opens (creating) the read model and starts one consumer per source stream, each
    /// resuming after its checkpoint.
    pub async fn start(config: ProjectorConfig, bus: Arc<dyn EventBus>) -> Result<Projector, ProjectorError> {
        let suffix = &config.consumer_suffix;
        if suffix.len() > 40 || !suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(ProjectorError::ConsumerSuffix(suffix.clone()));
        }
        let db = ReadDb::open(&config.database_url).await?;
        let suffix = db.consumer_suffix(suffix).await?;
        if suffix != config.consumer_suffix {
            tracing::info!(
                configured = %config.consumer_suffix,
                %suffix,
                "the read model keeps the consumer suffix it was built with (wipe it to rebuild)"
            );
        }
        let inner = Arc::new(Inner {
            db,
            results: broadcast::channel(STREAM_BUFFER).0,
            progress: watch::channel(0).0,
            stop: watch::channel(false).0,
            closing: watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
        });
        let mut tasks = Vec::new();
        for source in sources() {
            let durable = consume::durable(source, &suffix);
            tasks.push(tokio::spawn(consume::run(
                inner.clone(),
                bus.clone(),
                source.to_owned(),
                durable,
                inner.stop.subscribe(),
            )));
        }
        *inner.tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
        Ok(Projector { inner })
    }

    /// Drops every table of the read model at `database_url`: the next [`Projector::start`]
    /// (with a fresh `consumer_suffix`) rebuilds it from position 0.
    pub async fn wipe(database_url: &str) -> Result<(), ProjectorError> {
        ReadDb::wipe(database_url).await
    }

    /// Serves the query API, grpc.health.v1 and reflection on `listener` until `shutdown`;
    /// open `StreamResults` calls then end with `UNAVAILABLE`.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ProjectorError> {
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter.set_serving::<QueryApiServer<QueryService>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(triad_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let inner = self.inner.clone();
        let shutdown = async move {
            shutdown.await;
            reporter.set_not_serving::<QueryApiServer<QueryService>>().await;
            inner.closing.send_replace(true);
        };
        tonic::transport::Server::builder()
            .add_service(health)
            .add_service(reflection)
            .add_service(QueryApiServer::new(QueryService::new(self.inner.clone())))
            .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), shutdown)
            .await?;
        Ok(())
    }

    /// The query API alone, to mount on another server.
    pub fn service(&self) -> QueryApiServer<impl QueryApi> {
        QueryApiServer::new(QueryService::new(self.inner.clone()))
    }

    /// Waits until the query is published (its result) or finally aborted (an error with the
    /// reason), at most `timeout`.
    pub async fn wait_query(&self, query_id: &[u8], timeout: Duration) -> Result<ResultPublished, ProjectorError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut progress = self.inner.progress.subscribe();
        let mut stop = self.inner.stop.subscribe();
        loop {
            progress.borrow_and_update();
            let status = self.inner.db.query(query_id).await?;
            match status.as_ref().map(|s| s.state.as_str()) {
                Some(state::PUBLISHED) => {
                    if let Some(r) = self.inner.db.result(query_id).await? {
                        return Ok(r);
                    }
                }
                Some(state::ABORTED) => {
                    return Err(ProjectorError::Aborted {
                        query: hex::encode(query_id),
                        reason: status.map(|s| s.reason).unwrap_or_default(),
                    });
                }
                _ => {}
            }
            tokio::select! {
                changed = progress.changed() => {
                    if changed.is_err() {
                        return Err(ProjectorError::Closed);
                    }
                }
                () = consume::stopped(&mut stop) => return Err(ProjectorError::Closed),
                () = tokio::time::sleep_until(deadline) => {
                    return Err(ProjectorError::Timeout {
                        query: hex::encode(query_id),
                        timeout,
                        state: status.map_or_else(|| "unknown".to_owned(), |s| s.state),
                    });
                }
            }
        }
    }

    /// The highest position of `source`'s stream folded into the read model (0: none yet).
    pub async fn position(&self, source: &str) -> Result<u64, ProjectorError> {
        self.inner.db.position(source).await
    }

    /// Stops the consumers (a batch in flight is left unacknowledged and comes again), ends
    /// open result streams and closes the read model.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        self.inner.closing.send_replace(true);
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for t in tasks {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "a consumer task failed");
            }
        }
        self.inner.db.close().await;
    }
}
