//! The coordinator: the network's front door (gRPC `triad.api.v1.Coordinator`).
//!
//! It verifies presentations against the dataset's template (pinned notary keys, server name,
//! freshness, request shape), prevents Sybil contributions (the disclosed `uid`, unique by the
//! store's `NoStream` check on a `uid-<h>` stream), rate-limits, sequences input-check sessions
//! and queries, and records every decision as an event in its own store. It never sees a
//! plaintext value. The protocol is `docs/protocols/network.md`.
//!
//! - `state`: the fold of the coordinator's own log (restart == live);
//! - `grpc`: the RPCs (commands that decide events, errors mapped to statuses);
//! - `handler`: the parties' reports, recorded in the session's stream with its verdict;
//! - `scheduler`: opens sessions (one running, one queued behind it) and times them out.

#![forbid(unsafe_code)]

mod grpc;
mod handler;
mod scheduler;
mod signing;
mod state;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};
use triad_eventlog::{ConsumerSpec, EventBus, EventStore, GroupCommit, Relay, StoreError, Subscriber};
use triad_notary::TrustAnchors;
use triad_proto::api::v1::coordinator_server::CoordinatorServer;

pub use grpc::CoordinatorService;

use crate::state::State;

/// Submissions written in one transaction at most (two appends each: the contribution and its
/// uid marker).
const SUBMISSIONS_PER_COMMIT: usize = 256;

/// The coordinator's settings (the `[coordinator]` section of its configuration).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoordinatorConfig {
    /// The network's name, in published results.
    pub network_id: String,
    /// Hex SHA-256 of the operator's bearer token; empty: operator calls are refused.
    pub operator_token_sha256: String,
    /// Extra CA certificates (DER) trusted for presentations' server identity, besides
    /// Mozilla's roots.
    pub trust_anchor_files: Vec<PathBuf>,
    /// Contributions per input-check session at most.
    pub batch_max: usize,
    /// How long after the oldest pending contribution a batch that is not full opens.
    pub batch_linger_ms: u64,
    /// A session without its three reports by then is closed as failed (`timeout`).
    pub session_timeout_secs: u64,
    /// Failed sessions after which a query is finally aborted.
    pub max_query_attempts: u32,
    /// Requests per second per client (peer IP, or `x-client-id`); 0: unlimited.
    pub rate_per_client_per_sec: u32,
    /// Requests per second in all; 0: unlimited.
    pub rate_global_per_sec: u32,
    /// Largest presentation accepted, in bytes.
    pub max_presentation_bytes: usize,
    /// A signing attempt (key generation, signature, refresh) without its outcome by then is
    /// tried again with a new session.
    pub signing_timeout_secs: u64,
    /// Attempts at a signature before it is given up (a result's query is then aborted).
    pub signing_max_attempts: u32,
    /// Refresh the parties' key shares this often; 0: only on request (`RefreshKey`).
    pub key_refresh_secs: u64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            network_id: "triad-devnet".into(),
            operator_token_sha256: String::new(),
            trust_anchor_files: Vec::new(),
            batch_max: 4096,
            batch_linger_ms: 200,
            session_timeout_secs: 300,
            max_query_attempts: 3,
            rate_per_client_per_sec: 0,
            rate_global_per_sec: 0,
            max_presentation_bytes: triad_notary::MAX_PRESENTATION_SIZE,
            signing_timeout_secs: 60,
            signing_max_attempts: 5,
            key_refresh_secs: 0,
        }
    }
}

impl std::fmt::Debug for CoordinatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token's hash is not the token, but there is no reason to print it either.
        f.debug_struct("CoordinatorConfig")
            .field("network_id", &self.network_id)
            .field("operator_token", &if self.operator_token_sha256.is_empty() { "none" } else { "set" })
            .field("trust_anchor_files", &self.trust_anchor_files)
            .field("batch_max", &self.batch_max)
            .field("batch_linger_ms", &self.batch_linger_ms)
            .field("session_timeout_secs", &self.session_timeout_secs)
            .field("max_query_attempts", &self.max_query_attempts)
            .field("rate_per_client_per_sec", &self.rate_per_client_per_sec)
            .field("rate_global_per_sec", &self.rate_global_per_sec)
            .field("max_presentation_bytes", &self.max_presentation_bytes)
            .field("signing_timeout_secs", &self.signing_timeout_secs)
            .field("signing_max_attempts", &self.signing_max_attempts)
            .field("key_refresh_secs", &self.key_refresh_secs)
            .finish()
    }
}

/// Why the coordinator could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// Its store failed.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// A setting is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// An extra trust anchor is not a CA certificate.
    #[error("trust anchor: {0}")]
    TrustAnchor(String),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(String),
}

/// What the coordinator knows of a party: in memory only, from its `PartyJoined` and
/// `PartyHeartbeat` events (liveness is never appended).
#[derive(Clone, Default)]
pub(crate) struct PartyLive {
    pub joined: Option<triad_proto::events::v1::PartyJoined>,
    /// The newest heartbeat's `at_unix`.
    pub last_heartbeat_unix: Option<i64>,
    /// The coordinator position the party's newest heartbeat reports folded.
    pub folded_position: u64,
    /// The coordinator's folded position when the party's newest `PartyJoined` was folded. A
    /// restarted party folds the coordinator's log strictly in order, and what its killed
    /// process never acknowledged comes back only after the consumer's `ack_wait`: until it
    /// has folded this far it would not see a new session in time, and would fail it.
    pub joined_at: u64,
}

impl PartyLive {
    pub fn up(&self, now_unix: i64) -> bool {
        let window = i64::try_from(triad_network::PARTY_DOWN_AFTER.as_secs()).unwrap_or(i64::MAX);
        self.joined.is_some() && self.last_heartbeat_unix.is_some_and(|at| now_unix.saturating_sub(at) <= window)
    }

    /// Up, and has folded the coordinator's log up to `position` and to where it (re)joined.
    pub fn ready(&self, now_unix: i64, position: u64) -> bool {
        self.up(now_unix) && self.folded_position >= position.max(self.joined_at)
    }
}

pub(crate) struct Inner {
    pub config: CoordinatorConfig,
    pub store: Arc<dyn EventStore>,
    /// Submissions' appends, grouped: concurrent submissions share a transaction.
    pub submissions: GroupCommit,
    pub bus: Arc<dyn EventBus>,
    /// The operator token's digest (`None`: operator calls refused).
    pub operator_digest: Option<[u8; 32]>,
    /// Extra trust anchors (tried first; Mozilla's roots when a chain is not theirs).
    pub extra_anchors: Option<TrustAnchors>,
    /// Mozilla's roots, made once: the anchors remember the chains they verified.
    pub mozilla_anchors: TrustAnchors,
    pub state: tokio::sync::Mutex<State>,
    pub parties: StdMutex<[PartyLive; 3]>,
    /// Wakes the scheduler.
    pub wake: Notify,
    pub limits: grpc::Limits,
    stop: watch::Sender<bool>,
    tasks: StdMutex<Vec<JoinHandle<()>>>,
}

impl Inner {
    /// The state, caught up with every event the store holds.
    pub async fn caught_up(&self) -> Result<tokio::sync::MutexGuard<'_, State>, StoreError> {
        let mut st = self.state.lock().await;
        loop {
            let events = self.store.read_all(st.applied, 1_000).await?;
            if events.is_empty() {
                break;
            }
            for e in &events {
                st.apply(e);
            }
        }
        metrics::gauge!("triad_coordinator_pending_contributions").set(st.pending_count() as f64);
        Ok(st)
    }

    /// Folds every event the store holds that the state has not seen.
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        self.caught_up().await.map(drop)
    }

    pub fn parties(&self) -> [PartyLive; 3] {
        self.parties.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}

/// A running coordinator: a cheap handle (clones share one coordinator).
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

impl Coordinator {
    /// Folds its own log into its state, then spawns the outbox relay of `store`, the durable
    /// subscribers (`coordinator`) of the three parties' streams, and the scheduler.
    pub async fn start(
        config: CoordinatorConfig,
        extra_trust_anchors_der: Vec<Vec<u8>>,
        store: Arc<dyn EventStore>,
        bus: Arc<dyn EventBus>,
    ) -> Result<Coordinator, CoordinatorError> {
        if config.batch_max == 0 {
            return Err(CoordinatorError::Config("batch_max must be at least 1".into()));
        }
        let operator_digest = if config.operator_token_sha256.is_empty() {
            None
        } else {
            let bytes = hex::decode(config.operator_token_sha256.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    CoordinatorError::Config("operator_token_sha256 must be 64 hex digits (a SHA-256)".into())
                })?;
            Some(bytes)
        };
        let extra_anchors = if extra_trust_anchors_der.is_empty() {
            None
        } else {
            Some(
                TrustAnchors::from_der_certs(extra_trust_anchors_der.iter().map(Vec::as_slice))
                    .map_err(|e| CoordinatorError::TrustAnchor(e.to_string()))?,
            )
        };
        let limits = grpc::Limits::new(&config);
        let inner = Arc::new(Inner {
            config,
            submissions: GroupCommit::new(store.clone(), SUBMISSIONS_PER_COMMIT * 2),
            store,
            bus,
            operator_digest,
            extra_anchors,
            mozilla_anchors: TrustAnchors::mozilla(),
            state: tokio::sync::Mutex::new(State::default()),
            parties: StdMutex::new(Default::default()),
            wake: Notify::new(),
            limits,
            stop: watch::channel(false).0,
            tasks: StdMutex::new(Vec::new()),
        });
        let applied = {
            let st = inner.caught_up().await?;
            // The members it recorded; their liveness comes with their next heartbeats.
            let mut parties = inner.parties.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (live, member) in parties.iter_mut().zip(&st.members) {
                live.joined.clone_from(member);
            }
            st.applied
        };
        info!(position = applied, "coordinator state folded");

        let mut tasks = Vec::new();
        let relay = Relay::new(inner.store.clone(), inner.bus.clone());
        tasks.push(tokio::spawn(relay.run(inner.stopped())));
        for party in triad_network::PARTIES {
            tasks.push(tokio::spawn(run_subscriber(inner.clone(), party)));
        }
        tasks.push(tokio::spawn(scheduler::run(inner.clone())));
        *inner.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = tasks;
        Ok(Coordinator { inner })
    }

    /// Serves the Coordinator service, `grpc.health.v1` and server reflection on `listener`
    /// until `shutdown` resolves.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), CoordinatorError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<CoordinatorServer<CoordinatorService>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(triad_proto::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| CoordinatorError::Serve(e.to_string()))?;
        let addr = listener.local_addr().map_err(|e| CoordinatorError::Serve(e.to_string()))?;
        info!(%addr, "coordinator serving");
        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(self.service())
            .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), shutdown)
            .await
            .map_err(|e| CoordinatorError::Serve(e.to_string()))
    }

    /// The gRPC service, for serving in-process (tests, an embedded network).
    pub fn service(&self) -> CoordinatorServer<CoordinatorService> {
        // A request carries a presentation and three bundles: allow them through the decoder,
        // the limits are checked (with a better message) in the handler.
        let max = self.inner.config.max_presentation_bytes.saturating_add(grpc::MAX_BUNDLE_BYTES * 3 + (256 << 10));
        CoordinatorServer::new(CoordinatorService::new(self.inner.clone())).max_decoding_message_size(max)
    }

    /// Stops the relay, the subscribers and the scheduler, and waits for them.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for t in tasks {
            if let Err(e) = t.await {
                warn!(error = %e, "a coordinator task ended abnormally");
            }
        }
    }

    /// The last position of its own log folded into its state.
    pub async fn applied_position(&self) -> Result<u64, CoordinatorError> {
        Ok(self.inner.caught_up().await?.applied)
    }
}

/// Subscribes (retrying until the party's stream exists on the bus) and runs the handler of
/// one party's reports until shutdown.
async fn run_subscriber(inner: Arc<Inner>, party: &'static str) {
    let mut stop = inner.stop.subscribe();
    let mut spec = ConsumerSpec::new(triad_network::COORDINATOR, party);
    // A version conflict among the three handlers is retried: never give a report up for that.
    spec.max_deliver = 1_000;
    let subscriber = loop {
        match Subscriber::new(inner.bus.as_ref(), spec.clone(), inner.store.clone()).await {
            Ok(s) => break s,
            Err(e) => {
                warn!(party, error = %e, "cannot subscribe to the party's stream yet; retrying");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    };
    let handler = handler::PartyHandler::new(inner.clone(), party);
    if let Err(e) = subscriber.retry_delay(Duration::from_millis(50)).run(&handler, inner.stopped()).await {
        warn!(party, error = %e, "subscriber stopped");
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// 16 random bytes (session and query ids).
pub(crate) fn random_id() -> Result<Vec<u8>, getrandom::Error> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id)?;
    Ok(id.to_vec())
}
