//! The party as a service over the event log (docs/protocols/network.md): it folds the
//! coordinator's stream and the other parties' `PartyJoined` into its private state
//! ([`crate::state`]), and a runner takes the sessions the coordinator opens, one at a time,
//! runs them on the data plane and appends its report (`SharesAccepted`, `SessionAborted`,
//! `QueryStarted`, `ResultComputed`, `QueryAborted`) to its own store, whose outbox publishes
//! them. It announces itself with `PartyJoined` at every start and a `PartyHeartbeat` every
//! [`triad_network::HEARTBEAT_INTERVAL`].

mod lists;
mod run;
mod signer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};
use triad_eventlog::{
    Append, ConsumerSpec, EventBus, EventStore, ExpectedVersion, Handler, HandlerError, RecordedEvent, Relay,
    StoreError, Subscriber,
};
use triad_mpc::core::SessionId;
use triad_mpc::net::PartyId;
use triad_network::{COORDINATOR, PARTIES, PURPOSE_INPUT_CHECK, PURPOSE_QUERY, event, streams};
use triad_proto::events::v1::{self as ev, event::Kind};

use crate::identity::Keys;
use crate::state::{Fold, SessionState, State, StateError};

/// A party service's settings (`[party]` of its configuration file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartySettings {
    /// Which party: 0, 1 or 2.
    pub index: u32,
    /// The operator's name, shown to providers and consumers.
    pub operator_name: String,
    /// Keys and the private state database (created with owner-only permissions).
    pub data_dir: PathBuf,
    /// The data plane's listening address (port 0: any free port).
    pub listen: SocketAddr,
    /// The address the other parties dial, if not the bound one (behind NAT, in containers).
    pub advertise: Option<String>,
    /// The network's id (in `ResultComputed`).
    pub network_id: String,
    /// How long a session's mesh may take to connect, seconds.
    pub connect_timeout_secs: u64,
    /// How long a session waits for one peer message, seconds.
    pub recv_timeout_secs: u64,
}

impl Default for PartySettings {
    fn default() -> Self {
        Self {
            index: 0,
            operator_name: "party".into(),
            data_dir: PathBuf::from(".triad/party0"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            network_id: "triad-devnet".into(),
            connect_timeout_secs: 20,
            recv_timeout_secs: 60,
        }
    }
}

/// Why the party service failed.
#[derive(Debug, thiserror::Error)]
pub enum PartyError {
    /// The settings are unusable.
    #[error("party settings: {0}")]
    Settings(String),
    /// The keys could not be loaded or made.
    #[error("party keys: {0}")]
    Keys(String),
    /// The private state failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The event log failed.
    #[error("event store: {0}")]
    Store(#[from] triad_eventlog::StoreError),
    /// Subscribing failed.
    #[error("subscriber: {0}")]
    Subscriber(#[from] triad_eventlog::subscriber::SubscriberError),
    /// The data plane's listener.
    #[error("data plane listener on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A session thread could not start or died.
    #[error("session thread: {0}")]
    Thread(String),
}

struct Inner {
    settings: PartySettings,
    me: PartyId,
    keys: Keys,
    state: State,
    store: Arc<dyn EventStore>,
    listener: std::net::TcpListener,
    address: String,
    wake: Arc<Notify>,
    /// Carries the threshold-signing sessions.
    signing: triad_signing_bus::SigningBus,
    /// Wakes the signer (a request folded, a peer's statement folded).
    signing_wake: Arc<Notify>,
    /// Sessions the coordinator closed, as folded: a session still connecting gives up.
    closed: Arc<ClosedSessions>,
    stop: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// A running party service (a cheap handle).
#[derive(Clone)]
pub struct Party {
    inner: Arc<Inner>,
    bus: Arc<dyn EventBus>,
}

impl std::fmt::Debug for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Party")
            .field("party", &self.inner.me)
            .field("address", &self.inner.address)
            .finish_non_exhaustive()
    }
}

impl Party {
    /// Loads (or makes) the keys, opens the private state, binds the data plane, aborts what
    /// a previous run left half-done, announces itself and starts its relay, subscribers,
    /// heartbeat, session runner and signer. `store` is this party's event store (service
    /// `party<index>`); `signing` carries threshold-signing sessions among the parties.
    pub async fn start(
        settings: PartySettings,
        store: Arc<dyn EventStore>,
        bus: Arc<dyn EventBus>,
        signing: triad_signing_bus::SigningBus,
    ) -> Result<Party, PartyError> {
        let index = settings.index;
        let me = PartyId::new(index as u8)
            .filter(|_| index < 3)
            .ok_or_else(|| PartyError::Settings(format!("index {index}: a party is 0, 1 or 2")))?;
        if store.service() != PARTIES[me.index()] {
            return Err(PartyError::Settings(format!(
                "party {index} must write the store of service {}, not {}",
                PARTIES[me.index()],
                store.service()
            )));
        }
        let keys = Keys::load_or_create(&settings.data_dir, me)?;
        let state = State::open(&settings.data_dir.join("state.sqlite")).await?;
        let listener = std::net::TcpListener::bind(settings.listen)
            .map_err(|source| PartyError::Listen { addr: settings.listen.to_string(), source })?;
        let bound =
            listener.local_addr().map_err(|source| PartyError::Listen { addr: settings.listen.to_string(), source })?;
        let address = settings.advertise.clone().unwrap_or_else(|| bound.to_string());
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            settings,
            me,
            keys,
            state,
            store: store.clone(),
            listener,
            address,
            wake: Arc::new(Notify::new()),
            signing,
            signing_wake: Arc::new(Notify::new()),
            closed: Arc::new(ClosedSessions::default()),
            stop,
            tasks: std::sync::Mutex::new(Vec::new()),
        });
        let party = Party { inner, bus: bus.clone() };
        party.abort_unfinished().await?;
        party.abort_unfinished_signing().await?;
        party.join().await?;

        let mut tasks = Vec::new();
        let stopped = party.stopped();
        tasks.push(tokio::spawn(Relay::new(store.clone(), bus.clone()).run(stopped)));
        let durable = PARTIES[me.index()];
        let handler = CoordinatorEvents {
            state: party.inner.state.clone(),
            me: me.index(),
            wake: party.inner.wake.clone(),
            signing_wake: party.inner.signing_wake.clone(),
            closed: party.inner.closed.clone(),
        };
        // The coordinator's stream is folded strictly in order (see `CoordinatorEvents`): an
        // event after a gap waits for the missing one, which an unacknowledged delivery of a
        // killed process gets back after `ack_wait`; so a short `ack_wait`, and enough
        // deliveries that the waiting events are never given up on.
        let mut spec = ConsumerSpec::new(durable, COORDINATOR);
        spec.ack_wait = Duration::from_secs(5);
        spec.max_deliver = 10_000;
        tasks.push(tokio::spawn(party.clone().subscribe(spec, Box::new(handler), FOLD_LINGER)));
        for other in me.others() {
            let handler = PeerEvents {
                state: party.inner.state.clone(),
                wake: party.inner.wake.clone(),
                signing_wake: party.inner.signing_wake.clone(),
            };
            let spec = ConsumerSpec::new(durable, PARTIES[other.index()]);
            tasks.push(tokio::spawn(party.clone().subscribe(spec, Box::new(handler), Duration::ZERO)));
        }
        let p = party.clone();
        tasks.push(tokio::spawn(async move { p.heartbeat().await }));
        let p = party.clone();
        tasks.push(tokio::spawn(async move { p.runner().await }));
        let p = party.clone();
        tasks.push(tokio::spawn(async move { p.signer().await }));
        if let Ok(mut t) = party.inner.tasks.lock() {
            t.extend(tasks);
        }
        info!(party = index, address = %party.inner.address, "party started");
        Ok(party)
    }

    /// This party's index.
    pub fn index(&self) -> u32 {
        self.inner.me.index() as u32
    }

    /// The HPKE public key providers seal this party's bundles to.
    pub fn share_public_key(&self) -> triad_provider::PublicKey {
        self.inner.keys.share_public()
    }

    /// The data plane's address as announced.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// Stops the tasks (a session thread still running finishes on its own; its report is
    /// appended only if the store is still open).
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let tasks = match self.inner.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => Vec::new(),
        };
        for t in tasks {
            let _ = t.await;
        }
        self.inner.state.close().await;
    }

    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.stop.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// Folds `spec`'s source with `handler` until shutdown; the source's stream may not exist
    /// yet (its service has not started), so subscribing is retried.
    async fn subscribe(self, spec: ConsumerSpec, handler: Box<dyn Handler>, linger: Duration) {
        let mut stop = self.inner.stop.subscribe();
        let subscriber = loop {
            match Subscriber::new(self.bus.as_ref(), spec.clone(), self.inner.store.clone()).await {
                Ok(s) => break s,
                Err(e) => {
                    warn!(source = %spec.source, error = %e, "cannot subscribe yet; retrying");
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return,
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        };
        if let Err(e) = subscriber.linger(linger).run(handler.as_ref(), self.stopped()).await {
            warn!(source = %spec.source, error = %e, "subscriber stopped");
        }
    }

    /// Appends one event, retrying while the store is unreachable (a session's report must not
    /// be dropped: the coordinator would wait for it until its session timeout). Every attempt
    /// carries the same event id, so a retry of an append whose commit happened (its reply lost)
    /// is refused as a duplicate, which is success: never recorded twice.
    async fn append(&self, stream: String, kind: Kind) -> Result<(), PartyError> {
        let batch = vec![Append::new(stream, ExpectedVersion::Any, vec![event(kind)])];
        let mut stop = self.inner.stop.subscribe();
        let mut delay = Duration::from_millis(100);
        loop {
            match self.inner.store.append(batch.clone()).await {
                Ok(_) | Err(StoreError::DuplicateEvent(_)) => return Ok(()),
                Err(e @ (StoreError::Database(_) | StoreError::Group(_))) => {
                    warn!(error = %e, retry_ms = delay.as_millis() as u64, "the store is unreachable; retrying the append");
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return Err(e.into()),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn join(&self) -> Result<(), PartyError> {
        let joined = ev::PartyJoined {
            party: self.index(),
            operator_name: self.inner.settings.operator_name.clone(),
            data_plane_address: self.inner.address.clone(),
            transport_public_key: self.inner.keys.pinned_key()?.as_der().to_vec(),
            share_public_key: self.inner.keys.share_public().to_bytes().to_vec(),
        };
        self.append(streams::party(self.index()), Kind::PartyJoined(joined)).await
    }

    async fn heartbeat(&self) {
        let mut stopped = self.inner.stop.subscribe();
        let mut tick = tokio::time::interval(triad_network::HEARTBEAT_INTERVAL);
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                _ = tick.tick() => {}
            }
            let coordinator_position = match self.inner.state.folded(COORDINATOR).await {
                Ok(p) => p,
                Err(e) => {
                    warn!(error = %e, "reading the folded position");
                    0
                }
            };
            let beat = ev::PartyHeartbeat { party: self.index(), at_unix: now_unix(), coordinator_position };
            if let Err(e) = self.append(streams::party(self.index()), Kind::PartyHeartbeat(beat)).await {
                warn!(error = %e, "heartbeat not recorded");
            }
        }
    }

    /// A session a previous run started and did not finish is aborted, never half-reported.
    async fn abort_unfinished(&self) -> Result<(), PartyError> {
        for s in self.inner.state.running_sessions().await? {
            warn!(session = %hex::encode(&s.session_id), purpose = %s.purpose, "aborting a session interrupted by a restart");
            let failure = run::Failure { reason: "restarted".into(), blamed: None, step: "restart".into() };
            self.report_failure(&s, &failure).await?;
            self.inner.state.set_session(&s.session_id, SessionState::Done).await?;
        }
        Ok(())
    }

    async fn runner(&self) {
        let mut stopped = self.inner.stop.subscribe();
        // At start, let the subscriber fold a while first: replaying after a restart, a
        // session's `SessionOpened` and its `SessionClosed` come close together, and a closed
        // session should not be started (it would hold this party's data plane while the
        // others wait in the next one). Later wake-ups take the session at once (a settling
        // pause on each cost every session 50 ms): open sessions are taken oldest first, and one
        // the coordinator closes while this party connects is given up as soon as its
        // `SessionClosed` is folded (`Link::cancel`).
        tokio::time::sleep(SETTLE).await;
        loop {
            loop {
                match self.inner.state.take_next_session().await {
                    Ok(Some(s)) => {
                        let id = s.session_id.clone();
                        if let Err(e) = self.run_session(&s).await {
                            warn!(session = %hex::encode(&id), error = %e, "session failed locally");
                            let failure = run::Failure { reason: e.to_string(), blamed: None, step: "local".into() };
                            if let Err(e) = self.report_failure(&s, &failure).await {
                                warn!(error = %e, "the abort was not recorded");
                                break;
                            }
                        }
                        if let Err(e) = self.inner.state.set_session(&id, SessionState::Done).await {
                            warn!(error = %e, "session state not recorded");
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        warn!(error = %e, "reading sessions");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    fn link(&self) -> Result<run::Link, PartyError> {
        let listener = self
            .inner
            .listener
            .try_clone()
            .map_err(|source| PartyError::Listen { addr: self.inner.address.clone(), source })?;
        Ok(run::Link {
            me: self.inner.me,
            identity: self.inner.keys.identity()?,
            listener,
            peers: Vec::new(),
            connect_timeout: Duration::from_secs(self.inner.settings.connect_timeout_secs),
            recv_timeout: Duration::from_secs(self.inner.settings.recv_timeout_secs),
            cancel: None,
        })
    }

    async fn run_session(&self, s: &ev::SessionOpened) -> Result<(), PartyError> {
        let sid: [u8; 16] = s
            .session_id
            .as_slice()
            .try_into()
            .map_err(|_| PartyError::Settings(format!("session id of {} bytes", s.session_id.len())))?;
        let sid = SessionId(sid);
        let mut link = self.link()?;
        link.peers = self.inner.state.peers().await?;
        // A peer that never comes (dead, or in no session) holds the mesh up until
        // `connect_timeout`; once the coordinator has closed the session, waiting is pointless
        // and would delay the next one.
        let (closed, id) = (self.inner.closed.clone(), s.session_id.clone());
        link.cancel = Some(Box::pin(async move {
            closed.wait(&id).await;
            "the coordinator closed the session".to_owned()
        }));
        let Some(dataset) = self.inner.state.dataset(&s.dataset_id).await? else {
            return self
                .report_failure(
                    s,
                    &run::Failure {
                        reason: format!("unknown dataset {}", s.dataset_id),
                        blamed: None,
                        step: "load".into(),
                    },
                )
                .await;
        };
        let started = std::time::Instant::now();
        match s.purpose.as_str() {
            PURPOSE_INPUT_CHECK => {
                let subs = self.inner.state.submissions(&s.contribution_ids).await?;
                let mut items = Vec::with_capacity(subs.len());
                for (id, sub) in s.contribution_ids.iter().zip(subs) {
                    let Some(sub) = sub else {
                        let f = run::Failure {
                            reason: format!("contribution {} never seen", hex::encode(id)),
                            blamed: None,
                            step: "load".into(),
                        };
                        return self.report_failure(s, &f).await;
                    };
                    items.push(run::Item { submitted: sub.submitted, sealed: sub.sealed });
                }
                let secret = triad_provider::SecretKey::from_hex(&self.inner.keys.share_secret().to_hex())
                    .map_err(|e| PartyError::Keys(e.to_string()))?;
                let n = items.len();
                let outcome = on_thread(move || run::intake(link, sid, &secret, &dataset, &items)).await?;
                match outcome {
                    Ok(report) => {
                        self.inner.state.put_shares(&report.accepted).await?;
                        let accepted = report.accepted.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
                        info!(session = %hex::encode(&s.session_id), contributions = n, accepted = accepted.len(), secs = started.elapsed().as_secs_f64(), "intake done");
                        metrics::counter!("triad_party_intake_sessions_total", "outcome" => "done").increment(1);
                        let kind = Kind::SharesAccepted(ev::SharesAccepted {
                            session_id: s.session_id.clone(),
                            party: self.index(),
                            contribution_ids: accepted,
                            rejected_ids: Vec::new(),
                            rejections: report.rejections,
                        });
                        self.append(streams::session(&s.session_id), kind).await
                    }
                    Err(f) => self.report_failure(s, &f).await,
                }
            }
            PURPOSE_QUERY => {
                let Some(sql) = self.inner.state.query_sql(&s.query_id).await? else {
                    let f = run::Failure {
                        reason: format!("query {} never seen", hex::encode(&s.query_id)),
                        blamed: None,
                        step: "load".into(),
                    };
                    return self.report_failure(s, &f).await;
                };
                let schema = match triad_network::schema(&dataset) {
                    Ok(schema) => schema,
                    Err(e) => {
                        return self
                            .report_failure(
                                s,
                                &run::Failure { reason: e.to_string(), blamed: None, step: "schema".into() },
                            )
                            .await;
                    }
                };
                let columns = match self.inner.state.rows(&s.dataset_id, s.snapshot, schema.columns.len()).await? {
                    Ok(rows) => rows,
                    Err(missing) => {
                        let f = run::Failure {
                            reason: format!("no shares of accepted contribution {}", hex::encode(missing)),
                            blamed: None,
                            step: "load".into(),
                        };
                        return self.report_failure(s, &f).await;
                    }
                };
                let started_event = ev::QueryStarted {
                    query_id: s.query_id.clone(),
                    session_id: s.session_id.clone(),
                    snapshot: s.snapshot,
                    cohort: columns.first().map_or(0, |c| c.first.len()) as u64,
                    party: self.index(),
                };
                self.append(streams::query(&s.query_id), Kind::QueryStarted(started_event)).await?;
                let query_sql = sql.clone();
                let outcome = on_thread(move || run::query(link, sid, &schema, &query_sql, columns)).await?;
                match outcome {
                    Ok(answer) => {
                        info!(query = %hex::encode(&s.query_id), secs = started.elapsed().as_secs_f64(), "query computed");
                        metrics::counter!("triad_party_queries_total", "outcome" => "computed").increment(1);
                        let values = triad_network::result_values(&answer);
                        // What this party will sign for the result, if the peers agree.
                        let statement = triad_network::result_statement(
                            &self.inner.settings.network_id,
                            &s.dataset_id,
                            s.snapshot,
                            &sql,
                            &values,
                        )
                        .encode();
                        self.inner.state.put_statement(&s.query_id, &s.session_id, self.index(), &statement).await?;
                        let kind = Kind::ResultComputed(ev::ResultComputed {
                            query_id: s.query_id.clone(),
                            party: self.index(),
                            values,
                            signed_message: statement,
                            signature_share: Vec::new(),
                            network_id: self.inner.settings.network_id.clone(),
                            session_id: s.session_id.clone(),
                        });
                        self.append(streams::query(&s.query_id), kind).await
                    }
                    Err(f) => self.report_failure(s, &f).await,
                }
            }
            other => {
                let f = run::Failure {
                    reason: format!("unknown session purpose {other:?}"),
                    blamed: None,
                    step: "load".into(),
                };
                self.report_failure(s, &f).await
            }
        }
    }

    async fn report_failure(&self, s: &ev::SessionOpened, f: &run::Failure) -> Result<(), PartyError> {
        warn!(session = %hex::encode(&s.session_id), purpose = %s.purpose, reason = %f.reason, step = %f.step, blamed = ?f.blamed, "session aborted");
        if s.purpose == PURPOSE_QUERY {
            metrics::counter!("triad_party_queries_total", "outcome" => "aborted").increment(1);
            let kind = Kind::QueryAborted(ev::QueryAborted {
                query_id: s.query_id.clone(),
                reason: f.reason.clone(),
                blamed_party: f.blamed,
                step: f.step.clone(),
                party: Some(self.index()),
                session_id: s.session_id.clone(),
                r#final: false,
            });
            self.append(streams::query(&s.query_id), kind).await
        } else {
            metrics::counter!("triad_party_intake_sessions_total", "outcome" => "aborted").increment(1);
            let kind = Kind::SessionAborted(ev::SessionAborted {
                session_id: s.session_id.clone(),
                party: self.index(),
                reason: f.reason.clone(),
                blamed_party: f.blamed,
                step: f.step.clone(),
            });
            self.append(streams::session(&s.session_id), kind).await
        }
    }
}

/// How long a fold of the coordinator's stream waits for more events after its first: each
/// fold is a SQLite transaction (its WAL pages written at every commit), and a trickle of
/// submissions would otherwise cost one each (under the bench's load the deliveries already
/// came in batches). Sessions are queued one ahead (the coordinator's pipeline), so the wait
/// is off their path.
const FOLD_LINGER: Duration = Duration::from_millis(10);

/// How long the runner lets the subscriber fold at start before it takes a session.
const SETTLE: Duration = Duration::from_millis(50);

/// Runs `f` on a thread of its own (the engine blocks; a tokio blocking thread would refuse
/// the mesh's private runtime).
async fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, PartyError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("triad-session".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| PartyError::Thread(e.to_string()))?;
    rx.await.map_err(|_| PartyError::Thread("the session thread panicked".into()))
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn transient(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Transient(e.to_string())
}

/// The sessions the coordinator closed most recently (in memory: after a restart, a session
/// that was running is aborted anyway).
#[derive(Default)]
struct ClosedSessions {
    ids: std::sync::Mutex<std::collections::VecDeque<Vec<u8>>>,
    changed: Notify,
}

impl ClosedSessions {
    /// How many ids are kept: far more than sessions open at once (two).
    const KEPT: usize = 64;

    fn record(&self, id: &[u8]) {
        let mut ids = self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if ids.len() == Self::KEPT {
            ids.pop_front();
        }
        ids.push_back(id.to_vec());
        drop(ids);
        self.changed.notify_waiters();
    }

    fn contains(&self, id: &[u8]) -> bool {
        self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|x| x == id)
    }

    /// Returns once session `id` is closed. Runtime-agnostic (`Notify`): it may be polled by
    /// the session thread's own runtime.
    async fn wait(&self, id: &[u8]) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a record between the two is not missed.
            changed.as_mut().enable();
            if self.contains(id) {
                return;
            }
            changed.await;
        }
    }
}

/// Folds the coordinator's stream into the party's state.
struct CoordinatorEvents {
    state: State,
    me: usize,
    wake: Arc<Notify>,
    signing_wake: Arc<Notify>,
    closed: Arc<ClosedSessions>,
}

#[async_trait]
impl Handler for CoordinatorEvents {
    async fn handle(&self, e: &RecordedEvent) -> Result<Vec<Append>, HandlerError> {
        match self.handle_batch(&[e]).await {
            (_, Some(err)) => Err(err),
            (_, None) => Ok(Vec::new()),
        }
    }

    async fn handle_batch(&self, events: &[&RecordedEvent]) -> (Vec<Vec<Append>>, Option<HandlerError>) {
        // Strictly in order: a query's rows are the contributions accepted before its snapshot,
        // so a `SessionOpened` folded before an earlier `ContributionAccepted` would run the
        // query over other rows than the other parties'. After a crash, deliveries that were in
        // flight come back only after `ack_wait` while newer ones arrive at once: an event
        // after a gap is refused (and redelivered) until the gap is filled. Positions of a
        // service's stream are gapless and every one is published.
        let folded = match self.state.folded(COORDINATOR).await {
            Ok(f) => f,
            Err(err) => return (Vec::new(), Some(transient(err))),
        };
        let mut next = folded + 1;
        let mut folds = Vec::with_capacity(events.len());
        let mut handled = 0;
        let mut gap = None;
        for e in events {
            if e.position >= next {
                if e.position != next {
                    gap = Some(HandlerError::Transient(format!(
                        "coordinator event at position {} before position {next} was folded",
                        e.position
                    )));
                    break;
                }
                folds.push((e.position, self.fold_of(e)));
                next += 1;
            }
            handled += 1;
        }
        // The whole run in one transaction: a failure folds none of it.
        if let Err(err) = self.state.fold(COORDINATOR, &folds).await {
            return (Vec::new(), Some(transient(err)));
        }
        if folds.iter().any(|(_, f)| matches!(f, Fold::SessionOpened(_))) {
            self.wake.notify_one();
        }
        for (_, fold) in &folds {
            if let Fold::SessionClosed(id) = fold {
                self.closed.record(id);
            }
        }
        if folds.iter().any(|(_, f)| matches!(f, Fold::SigningRequested(_) | Fold::KeyConfirmed { .. })) {
            self.signing_wake.notify_one();
        }
        (vec![Vec::new(); handled], gap)
    }

    /// The fold keeps its position in the party's own database (an event at or below it is
    /// skipped) and never decides effects: no checkpoint per event in the event store.
    fn checkpoints_itself(&self) -> bool {
        true
    }
}

impl CoordinatorEvents {
    /// What the party records of one of the coordinator's events.
    fn fold_of(&self, e: &RecordedEvent) -> Fold {
        // `uid-*`: the Sybil guard's marker in logs written before claims, not a contribution.
        if e.category() == "uid" {
            return Fold::Skip;
        }
        // An event this build cannot read is skipped (and logged), never left as a gap that
        // would hold up every later one.
        let kind = match triad_network::decode(e) {
            Ok(Some(kind)) => kind,
            Ok(None) => return Fold::Skip,
            Err(err) => {
                warn!(error = %err, "skipping an unreadable coordinator event");
                return Fold::Skip;
            }
        };
        match kind {
            Kind::DatasetCreated(d) => Fold::Dataset(d),
            Kind::ContributionSubmitted(mut s) => {
                let sealed =
                    if self.me < s.sealed_bundles.len() { s.sealed_bundles.swap_remove(self.me) } else { Vec::new() };
                s.sealed_bundles.clear();
                Fold::Submission { submitted: s, sealed }
            }
            Kind::ContributionAccepted(a) => Fold::Accepted(a.contribution_id),
            Kind::ContributionsAccepted(a) => Fold::AcceptedAll(a.contribution_ids),
            Kind::ContributionRejected(r) => Fold::Rejected(r.contribution_id),
            Kind::QueryRequested(q) => Fold::Query { query_id: q.query_id, dataset_id: q.dataset_id, sql: q.sql },
            Kind::SessionOpened(s) => Fold::SessionOpened(s),
            Kind::SessionClosed(c) => Fold::SessionClosed(c.session_id),
            Kind::SigningRequested(r) => Fold::SigningRequested(r),
            // The coordinator's record of the key all three parties reported.
            Kind::KeyGenerated(k) if k.party.is_none() && e.stream == streams::NETWORK_KEY => {
                Fold::KeyConfirmed { epoch: 0, public_key: k.public_key }
            }
            Kind::KeyRefreshed(r) if r.party.is_none() && e.stream == streams::NETWORK_KEY => {
                Fold::KeyConfirmed { epoch: r.epoch, public_key: r.public_key }
            }
            _ => Fold::Skip,
        }
    }
}

/// Folds the other parties' announcements and the statements they would sign.
struct PeerEvents {
    state: State,
    wake: Arc<Notify>,
    signing_wake: Arc<Notify>,
}

#[async_trait]
impl Handler for PeerEvents {
    async fn handle(&self, e: &RecordedEvent) -> Result<Vec<Append>, HandlerError> {
        let peer = triad_network::party_index(&e.service);
        match triad_network::decode(e).map_err(|e| HandlerError::Permanent(e.to_string()))? {
            Some(Kind::PartyJoined(j)) if Some(j.party) == peer => {
                self.state
                    .put_peer(j.party, &j.data_plane_address, &j.transport_public_key)
                    .await
                    .map_err(transient)?;
                self.state.put_peer_share_key(j.party, &j.share_public_key).await.map_err(transient)?;
                self.wake.notify_one();
                self.signing_wake.notify_one();
            }
            Some(Kind::ResultComputed(r)) if Some(r.party) == peer => {
                self.state
                    .put_statement(&r.query_id, &r.session_id, r.party, &r.signed_message)
                    .await
                    .map_err(transient)?;
                self.signing_wake.notify_one();
            }
            _ => {}
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `wait` returns for a session closed before it was called and for one closed while it
    /// waits, and not for another session's closure.
    #[tokio::test]
    async fn a_closed_session_ends_the_wait_for_it_only() {
        let closed = Arc::new(ClosedSessions::default());
        closed.record(b"first");
        closed.wait(b"first").await;

        let waiter = {
            let closed = closed.clone();
            tokio::spawn(async move { closed.wait(b"second").await })
        };
        closed.record(b"other");
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "another session's closure ended the wait");
        closed.record(b"second");
        tokio::time::timeout(Duration::from_secs(30), waiter)
            .await
            .expect("the wait ended when its session closed")
            .expect("the waiting task");
        // Only the newest ids are kept.
        for i in 0..ClosedSessions::KEPT {
            closed.record(format!("filler-{i}").as_bytes());
        }
        assert!(!closed.contains(b"first"));
        assert!(closed.contains(format!("filler-{}", ClosedSessions::KEPT - 1).as_bytes()));
    }
}
