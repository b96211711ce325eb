//! A whole Triad network in one process: the development notary and its mock exchange, the
//! coordinator and the projector served over gRPC on loopback, and three parties with their
//! own keys, stores and TLS data plane, on the embedded event log (SQLite files and the
//! in-process bus) or the distributed one (a fresh PostgreSQL database per service and a
//! fresh JetStream subject prefix, removed at [`LocalNet::stop`]). `triad devnet`, `triad
//! bench network` and the network's tests drive it through the services' real APIs.
#![deny(missing_docs)]

mod accounts;
mod log;
pub mod provider;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tokio::sync::watch;
use tonic::transport::Channel;
use triad_coordinator::{Coordinator, CoordinatorConfig};
use triad_dev_notary::{Account, DevNotary, DevNotaryConfig};
use triad_eventlog::EventStore;
use triad_party::{Party, PartySettings};
use triad_projector::{Projector, ProjectorConfig};
use triad_proto::api::v1::{self as api, coordinator_client::CoordinatorClient};
use triad_proto::events::v1::{self as ev, event::Kind};
use triad_provider::{DecimalFormat, PublicKey};

pub use accounts::heavy_tailed_balances;
pub use log::Backend;
use log::Log;
pub use provider::Provider;

/// What went wrong, with the step it happened in.
#[derive(Debug, thiserror::Error)]
pub enum LocalNetError {
    /// A step failed.
    #[error("{step}: {reason}")]
    Step {
        /// What was being done.
        step: String,
        /// Why it failed.
        reason: String,
    },
    /// A wait ran out.
    #[error("{what} did not happen within {secs} s")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        secs: u64,
    },
}

/// The values the notary hides: `balance`, then the first account's other values (every
/// account carries the same ones; the notary refuses one that lacks any).
pub fn value_fields(accounts: &[Account]) -> Vec<String> {
    let extra = accounts.first().map(|a| a.values.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>());
    std::iter::once("balance".to_owned()).chain(extra.unwrap_or_default()).collect()
}

/// Maps any displayable error of `step`.
trait Context<T> {
    fn step(self, step: &str) -> Result<T, LocalNetError>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn step(self, step: &str) -> Result<T, LocalNetError> {
        self.map_err(|e| LocalNetError::Step { step: step.to_owned(), reason: e.to_string() })
    }
}

/// A dataset with the development notary's template: one proven column per value the
/// notary hides, in its order (`balance` first).
#[derive(Clone, Debug)]
pub struct DatasetSpec {
    /// Its id (`[a-z0-9_]`).
    pub id: String,
    /// Its columns (`triad_network::proven_column_schema`: `min` 0, `max` all nines), each
    /// with the JSON path of its value in the notary's response.
    pub columns: Vec<ev::ColumnSchema>,
    /// The smallest cohort a query may open.
    pub min_cohort: u64,
}

impl DatasetSpec {
    /// One column, `balance`, of `integer_digits` digits and `decimals` decimals.
    pub fn balances(id: &str, integer_digits: u32, decimals: u32, min_cohort: u64) -> Self {
        Self::new(id, &[("balance", integer_digits, decimals)], min_cohort)
    }

    /// Columns `(name = JSON path, integer digits, decimals)`, in the notary's value order.
    pub fn new(id: &str, columns: &[(&str, u32, u32)], min_cohort: u64) -> Self {
        let columns = columns
            .iter()
            .map(|(name, digits, decimals)| triad_network::proven_column_schema(name, name, *digits, *decimals))
            .collect();
        Self { id: id.to_owned(), columns, min_cohort }
    }

    /// The providers' value formats, one per column.
    pub fn formats(&self) -> Result<Vec<DecimalFormat>, LocalNetError> {
        let created =
            ev::DatasetCreated { dataset_id: self.id.clone(), columns: self.columns.clone(), ..Default::default() };
        triad_network::proven_columns(&created)
            .step("the dataset's columns")?
            .iter()
            .map(|c| DecimalFormat::from_proto(&c.format).step(&format!("column `{}`'s format", c.name)))
            .collect()
    }
}

/// Timeouts of the services (the defaults are the services' own).
#[derive(Clone, Debug)]
pub struct Tuning {
    /// How long a party waits for a session's mesh, seconds.
    pub party_connect_timeout_secs: u64,
    /// How long a party waits for one peer message, seconds.
    pub party_recv_timeout_secs: u64,
    /// How long the coordinator waits for a session's verdict, seconds.
    pub session_timeout_secs: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        let party = PartySettings::default();
        Tuning {
            party_connect_timeout_secs: party.connect_timeout_secs,
            party_recv_timeout_secs: party.recv_timeout_secs,
            session_timeout_secs: CoordinatorConfig::default().session_timeout_secs,
        }
    }
}

/// The network's services and handles on them.
pub struct LocalNet {
    log: Log,
    dir: std::path::PathBuf,
    tuning: Tuning,
    coordinator_store: Arc<dyn EventStore>,
    coordinator: Coordinator,
    parties: Vec<Option<Party>>,
    party_stores: Vec<Arc<dyn EventStore>>,
    stop: watch::Sender<bool>,
    operator_token: String,
    /// A gRPC client of the coordinator.
    pub client: CoordinatorClient<Channel>,
    /// The projector (its `wait_query` reads results as consumers see them).
    pub projector: Projector,
    /// The development notary (its accounts are the providers').
    pub notary: DevNotary,
    /// Where the coordinator serves.
    pub coordinator_addr: SocketAddr,
    /// Where the projector serves.
    pub projector_addr: SocketAddr,
}

impl LocalNet {
    /// Starts the notary with `accounts`, the coordinator, the three parties and the projector.
    /// `dir` holds the parties' keys and private state, and the embedded backend's stores.
    pub async fn start(dir: &Path, backend: Backend, accounts: Vec<Account>) -> Result<LocalNet, LocalNetError> {
        Self::start_tuned(dir, backend, accounts, Tuning::default()).await
    }

    /// [`LocalNet::start`] with other timeouts.
    pub async fn start_tuned(
        dir: &Path,
        backend: Backend,
        accounts: Vec<Account>,
        tuning: Tuning,
    ) -> Result<LocalNet, LocalNetError> {
        let value_fields = value_fields(&accounts);
        Self::start_with_notary(dir, backend, DevNotaryConfig { accounts, value_fields, ..Default::default() }, tuning)
            .await
    }

    /// [`LocalNet::start_tuned`] with the notary configured as given (its accounts and the values
    /// it hides, in column order).
    pub async fn start_with_notary(
        dir: &Path,
        backend: Backend,
        notary: DevNotaryConfig,
        tuning: Tuning,
    ) -> Result<LocalNet, LocalNetError> {
        let notary = DevNotary::start(notary).await.step("starting the development notary and its mock exchange")?;
        let mut log = Log::open(backend, dir).await?;
        let shared = log.bus();
        let (stop, _) = watch::channel(false);

        // The operator's token: fresh each run; only its hash is configured.
        let mut token = [0u8; 24];
        getrandom::fill(&mut token).step("operating-system randomness")?;
        let operator_token = hex::encode(token);
        let config = CoordinatorConfig {
            network_id: "triad-devnet".into(),
            operator_token_sha256: hex::encode(Sha256::digest(operator_token.as_bytes())),
            session_timeout_secs: tuning.session_timeout_secs,
            ..CoordinatorConfig::default()
        };
        let coordinator_store = log.store(triad_network::COORDINATOR).await?;
        let coordinator =
            Coordinator::start(config, vec![notary.ca_cert_der().to_vec()], coordinator_store.clone(), shared.clone())
                .await
                .step("starting the coordinator")?;
        let (listener, coordinator_addr) = bind("the coordinator").await?;
        let (c, mut rx) = (coordinator.clone(), stop.subscribe());
        tokio::spawn(async move {
            let served = c.serve(listener, async move {
                let _ = rx.wait_for(|s| *s).await;
            });
            if let Err(e) = served.await {
                eprintln!("the coordinator stopped serving: {e}");
            }
        });

        let mut parties = Vec::new();
        let mut party_stores = Vec::new();
        for i in 0..3u32 {
            let store = log.store(triad_network::PARTIES[i as usize]).await?;
            parties.push(Some(start_party(dir, &tuning, i, store.clone(), shared.clone(), log.signing()).await?));
            party_stores.push(store);
        }

        let database_url = log.projector_url().await?;
        let projector =
            Projector::start(ProjectorConfig { database_url, consumer_suffix: String::new() }, shared.clone())
                .await
                .step("starting the projector")?;
        let (listener, projector_addr) = bind("the projector").await?;
        let (p, mut rx) = (projector.clone(), stop.subscribe());
        tokio::spawn(async move {
            let served = p.serve(listener, async move {
                let _ = rx.wait_for(|s| *s).await;
            });
            if let Err(e) = served.await {
                eprintln!("the projector stopped serving: {e}");
            }
        });

        let client = CoordinatorClient::connect(format!("http://{coordinator_addr}"))
            .await
            .step("connecting to the coordinator")?
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        Ok(LocalNet {
            log,
            dir: dir.to_owned(),
            tuning,
            coordinator_store,
            coordinator,
            parties,
            party_stores,
            stop,
            operator_token,
            client,
            projector,
            notary,
            coordinator_addr,
            projector_addr,
        })
    }

    /// Where the event log lives, in words.
    pub fn describe(&self) -> String {
        self.log.describe()
    }

    /// The running parties' data-plane addresses.
    pub fn party_addresses(&self) -> Vec<String> {
        self.parties.iter().flatten().map(|p| p.address().to_owned()).collect()
    }

    /// Stops party `i` (its store, keys and private state stay).
    pub async fn stop_party(&mut self, i: usize) {
        if let Some(p) = self.parties.get_mut(i).and_then(Option::take) {
            p.shutdown().await;
        }
    }

    /// Starts party `i` again from its data directory and store.
    pub async fn restart_party(&mut self, i: usize) -> Result<(), LocalNetError> {
        self.stop_party(i).await;
        let store = self.party_stores.get(i).cloned().ok_or_else(|| LocalNetError::Step {
            step: "restarting a party".into(),
            reason: format!("no party {i}"),
        })?;
        let party = start_party(&self.dir, &self.tuning, i as u32, store, self.log.bus(), self.log.signing()).await?;
        self.parties[i] = Some(party);
        Ok(())
    }

    /// The coordinator's store (its log, for audit).
    pub fn coordinator_store(&self) -> &Arc<dyn EventStore> {
        &self.coordinator_store
    }

    /// Waits until the coordinator sees the three parties up; returns the network.
    pub async fn wait_up(&self, timeout: Duration) -> Result<api::Network, LocalNetError> {
        let mut client = self.client.clone();
        let deadline = Instant::now() + timeout;
        loop {
            let network = client.get_network(api::GetNetworkRequest {}).await.step("reading the network")?;
            let network = network.into_inner();
            let up = network.parties.iter().filter(|p| p.up && !p.share_public_key.is_empty()).count();
            if up == 3 {
                return Ok(network);
            }
            if Instant::now() >= deadline {
                return Err(LocalNetError::Timeout {
                    what: format!("three parties up ({up} are)"),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the parties' key generation is done; returns the network key (public key,
    /// chain code, epoch) as the coordinator serves it.
    pub async fn wait_key(&self, timeout: Duration) -> Result<api::NetworkKey, LocalNetError> {
        self.wait_key_epoch(0, timeout).await
    }

    /// Waits until the network key's shares are at `epoch` or later (refreshes done).
    pub async fn wait_key_epoch(&self, epoch: u64, timeout: Duration) -> Result<api::NetworkKey, LocalNetError> {
        let mut client = self.client.clone();
        let deadline = Instant::now() + timeout;
        loop {
            let network = client.get_network(api::GetNetworkRequest {}).await.step("reading the network")?;
            if let Some(key) = network.into_inner().key.filter(|k| k.epoch >= epoch) {
                return Ok(key);
            }
            if Instant::now() >= deadline {
                return Err(LocalNetError::Timeout {
                    what: format!("the network key at epoch {epoch} (the parties' key generation or refresh)"),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request carrying the operator's bearer token.
    pub fn operator_request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = format!("Bearer {}", self.operator_token).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// The parties' share keys, as providers read them from the network.
    pub fn share_keys(network: &api::Network) -> Result<[PublicKey; 3], LocalNetError> {
        provider::share_keys(network)
    }

    /// The operator creates `spec` with the notary's template (one hidden value per column).
    pub async fn create_dataset(&self, spec: &DatasetSpec) -> Result<(), LocalNetError> {
        let create = api::CreateDatasetRequest {
            dataset_id: spec.id.clone(),
            description: "balances on the development notary's mock exchange".into(),
            template: Some(provider::template(&self.notary, 3600)),
            format: None,
            min_cohort: spec.min_cohort,
            columns: spec.columns.clone(),
        };
        let request = self.operator_request(create);
        self.client.clone().create_dataset(request).await.map_err(status("creating the dataset"))?;
        Ok(())
    }

    /// A provider's whole client side against this network's notary
    /// ([`provider::submission`]).
    pub async fn submission(
        &self,
        token: &str,
        spec: &DatasetSpec,
        keys: &[PublicKey; 3],
        behaviour: Provider,
    ) -> Result<api::SubmitContributionRequest, LocalNetError> {
        provider::submission(&self.notary, token, &spec.id, &spec.formats()?, keys, behaviour).await
    }

    /// The dataset's counts at the coordinator.
    pub async fn dataset_status(&self, dataset: &str) -> Result<Option<api::DatasetStatus>, LocalNetError> {
        let network =
            self.client.clone().get_network(api::GetNetworkRequest {}).await.map_err(status("reading the network"))?;
        Ok(network
            .into_inner()
            .datasets
            .into_iter()
            .find(|d| d.dataset.as_ref().is_some_and(|d| d.dataset_id == dataset)))
    }

    /// Waits until `total` contributions of `dataset` are accepted or rejected, calling
    /// `progress(decided)` as the count moves.
    pub async fn wait_decided(
        &self,
        dataset: &str,
        total: u64,
        timeout: Duration,
        mut progress: impl FnMut(u64),
    ) -> Result<api::DatasetStatus, LocalNetError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(d) = self.dataset_status(dataset).await? {
                progress(d.accepted + d.rejected);
                if d.accepted + d.rejected >= total {
                    return Ok(d);
                }
            }
            if Instant::now() > deadline {
                return Err(LocalNetError::Timeout {
                    what: format!("the intake of {total} contributions (see the parties' SessionAborted events)"),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The rejected contributions' uids and reasons, from the coordinator's log.
    pub async fn rejections(&self) -> Result<Vec<(String, String)>, LocalNetError> {
        let events = self.coordinator_store.read_all(0, usize::MAX).await.step("reading the coordinator's log")?;
        let mut uids = std::collections::HashMap::new();
        let mut out = Vec::new();
        for e in &events {
            match triad_network::decode(e).step("decoding the coordinator's log")? {
                Some(Kind::ContributionSubmitted(s)) => {
                    uids.insert(s.contribution_id.clone(), s.uid.clone());
                }
                Some(Kind::ContributionRejected(r)) => {
                    let uid = uids.get(&r.contribution_id).cloned().unwrap_or_else(|| hex::encode(&r.contribution_id));
                    let detail = if r.detail.is_empty() { String::new() } else { format!(" ({})", r.detail) };
                    out.push((uid, format!("{}{detail}", r.reason)));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The position of the coordinator's newest event.
    pub async fn coordinator_head(&self) -> Result<u64, LocalNetError> {
        self.coordinator_store.head().await.step("reading the coordinator's log")
    }

    /// The coordinator's events after `position`, submissions left out, one line each: the
    /// seconds since the first, the event type, its stream, and for a closure or an abort its
    /// outcome and reason. What a slow query went through (sessions, attempts, signatures).
    pub async fn timeline_after(&self, position: u64) -> Result<Vec<String>, LocalNetError> {
        let events =
            self.coordinator_store.read_all(position, usize::MAX).await.step("reading the coordinator's log")?;
        let start = events.first().map_or(0, |e| e.data.occurred_at);
        let mut out = Vec::new();
        for e in &events {
            let Some(kind) = triad_network::decode(e).step("decoding the coordinator's log")? else { continue };
            let detail = match &kind {
                Kind::ContributionSubmitted(_) => continue,
                Kind::SessionClosed(c) => format!(" succeeded={} {}", c.succeeded, c.reason),
                Kind::SessionAborted(a) => format!(" party {} at {}: {}", a.party, a.step, a.reason),
                Kind::QueryAborted(a) => format!(" party {:?} at {}: {}", a.party, a.step, a.reason),
                Kind::SigningAborted(a) => format!(" party {:?}: {}", a.party, a.reason),
                _ => String::new(),
            };
            let secs = (e.data.occurred_at - start) as f64 / 1e6;
            out.push(format!("+{secs:.3}s {} {}{detail}", kind.type_name(), e.stream));
        }
        Ok(out)
    }

    /// Stops every service; on the distributed backend, removes the run's databases and
    /// streams unless `keep`.
    pub async fn stop(self, keep: bool) {
        self.stop.send_replace(true);
        self.projector.shutdown().await;
        for p in self.parties.iter().flatten() {
            p.shutdown().await;
        }
        self.coordinator.shutdown().await;
        self.notary.stop();
        self.log.cleanup(keep).await;
    }
}

async fn start_party(
    dir: &Path,
    tuning: &Tuning,
    i: u32,
    store: Arc<dyn EventStore>,
    bus: Arc<dyn triad_eventlog::EventBus>,
    signing: triad_signing_bus::SigningBus,
) -> Result<Party, LocalNetError> {
    let name = triad_network::PARTIES[i as usize % 3];
    let settings = PartySettings {
        index: i,
        operator_name: format!("devnet operator {i}"),
        data_dir: dir.join(name),
        network_id: "triad-devnet".into(),
        connect_timeout_secs: tuning.party_connect_timeout_secs,
        recv_timeout_secs: tuning.party_recv_timeout_secs,
        ..PartySettings::default()
    };
    Party::start(settings, store, bus, signing).await.step(&format!("starting {name}"))
}

async fn bind(what: &str) -> Result<(tokio::net::TcpListener, SocketAddr), LocalNetError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.step(&format!("binding {what}"))?;
    let addr = listener.local_addr().step(&format!("binding {what}"))?;
    Ok((listener, addr))
}

/// A gRPC status as the step's error, with its code.
pub fn status(step: &str) -> impl FnOnce(tonic::Status) -> LocalNetError + '_ {
    move |s| LocalNetError::Step { step: step.to_owned(), reason: format!("{} ({:?})", s.message(), s.code()) }
}
